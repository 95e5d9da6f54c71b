"""The body of scripts/bench-render (see there): krait render over a 200-variant matrix and the
tests/recipes corpus, with conda-build as the peer when it is installed.

Usage: bench_render.py KRAIT WORK RUNS (from the repository root).
"""
import glob
import os
import shutil
import statistics
import subprocess
import sys

from benchlib import timed

krait, work, runs = sys.argv[1], sys.argv[2], int(sys.argv[3])
platforms = ["linux-64", "osx-arm64", "win-64", "linux-aarch64"]


def median_time(cmd):
    return statistics.median(timed(cmd) for _ in range(runs))


cmd = [krait, "render", os.path.join(work, "matrix"), "--output", "--quiet"]
for p in platforms:
    cmd += ["--platform", p]
matrix_median = median_time(cmd)
packages = subprocess.run(cmd, check=True, capture_output=True, text=True).stdout.splitlines()
python_numpy_outputs = [p for p in packages if "/fastarray-" in p]
print(f"matrix: {len(python_numpy_outputs)} python x numpy variants (+ {len(packages) - len(python_numpy_outputs)} shared lib outputs) over {len(platforms)} platforms")
print(f"krait render, 200-variant matrix: median {matrix_median:.3f} s over {runs} runs (target <= 0.5 s)")

corpus = sorted(os.path.dirname(p) for p in glob.glob("tests/recipes/*/meta.yaml"))
cmd = [krait, "render", *corpus, "-m", "tests/recipes/conda_build_config.yaml", "--json", "--quiet",
       "--platform", "linux-64", "--platform", "osx-arm64", "--platform", "win-64"]
median = median_time(cmd)
renders = len(corpus) * 3
print(f"krait render, corpus: {len(corpus)} recipes x 3 platforms in one process: median {median:.3f} s = {renders / median:.0f} recipe renders/s")

conda = shutil.which("conda")
if conda and subprocess.run([conda, "render", "--help"], capture_output=True).returncode == 0:
    peer = timed([conda, "render", os.path.join(work, "matrix"), "--variants", "{}"])
    print(f"conda render (peer), same matrix, its own platform only: {peer:.3f} s; ratio {peer / matrix_median:.1f}x")
else:
    print("peer: conda-build is not installed (not available from the reachable registries); no ratio")
