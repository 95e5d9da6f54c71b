"""Build a recipe.yaml with py-rattler-build, offline, in this one Python process.

usage: rattler_build_recipe.py RECIPE_YAML OUTPUT_DIR [REPEAT]
The only channel is an empty local one, so the recipe must need nothing from a channel.
Prints the seconds each build took (REPEAT builds, default 1; the benchmark uses it).
"""
import json
import pathlib
import sys
import tempfile
import time
import warnings

from rattler_build import build_recipes

recipe, output = sys.argv[1], pathlib.Path(sys.argv[2]).resolve()
repeat = int(sys.argv[3]) if len(sys.argv) > 3 else 1
with tempfile.TemporaryDirectory() as channel:
    noarch = pathlib.Path(channel, "noarch")
    noarch.mkdir()
    (noarch / "repodata.json").write_text(json.dumps({"info": {"subdir": "noarch"}, "packages": {}}))
    for _ in range(repeat):
        start = time.perf_counter()
        with warnings.catch_warnings():
            # build_recipes is deprecated in favour of a multi-step API; it is the CLI's path.
            warnings.simplefilter("ignore", DeprecationWarning)
            build_recipes([recipe], channel=[noarch.parent.as_uri()], output_dir=str(output), test="skip")
        print(f"{time.perf_counter() - start:.4f}")
