"""Read package archives as conda's and rattler's own tools do.

usage: inspect_package.py ARCHIVE...
Prints one JSON object per archive: its index.json fields as py-rattler reads them, and every
file conda-package-handling extracts, with its sha256.
"""
import hashlib
import json
import os
import pathlib
import sys
import tempfile

from conda_package_handling import api
from rattler.package import IndexJson

for archive in sys.argv[1:]:
    index = IndexJson.from_package_archive(archive)
    with tempfile.TemporaryDirectory() as dest:
        api.extract(archive, dest_dir=dest)
        root = pathlib.Path(dest)
        files = {
            str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(root.rglob("*"))
            if p.is_file() and not p.is_symlink()
        }
        executable = sorted(
            str(p.relative_to(root)) for p in root.rglob("*") if p.is_file() and os.access(p, os.X_OK)
        )
    print(json.dumps({
        "name": index.name.normalized,
        "subdir": index.subdir,
        "platform": index.platform,
        "arch": index.arch,
        "files": files,
        "executable": executable,
    }))
