"""Read a lockfile (pixi.lock or conda-lock.yml) with py-rattler; print its default
environment's conda packages per platform as JSON: {"linux-64": [["name", "url"], ...], ...}.

usage: read_lock.py LOCKFILE
Ends with os._exit: py-rattler may crash at interpreter exit (see peer-clients notes).
"""
import json
import os
import pathlib
import sys

from rattler import LockFile

code = 0
try:
    lock = LockFile.from_path(pathlib.Path(sys.argv[1]))
    environment = lock.default_environment()
    print(json.dumps({
        str(platform): sorted(
            [record.name.normalized, str(record.url)]
            for record in environment.conda_repodata_records_for_platform(platform) or []
        )
        for platform in environment.platforms()
    }))
except Exception as exc:
    print(f"reading the lockfile failed: {exc}", file=sys.stderr)
    code = 1
sys.stdout.flush()
sys.stderr.flush()
os._exit(code)
