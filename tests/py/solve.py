"""Solve specs against channels with py-rattler and print the solution as JSON.

usage: solve.py CACHE_DIR SUBDIR CHANNEL_URL[,CHANNEL_URL...] SPEC...
Ends with os._exit(0): py-rattler may crash at interpreter exit (see peer-clients notes).
"""
import asyncio
import json
import os
import pathlib
import sys

from rattler import Gateway, Subdir, solve


async def main():
    cache, subdir, channels, *specs = sys.argv[1:]
    records = await solve(
        sources=channels.split(","),
        specs=specs,
        gateway=Gateway(cache_dir=pathlib.Path(cache)),
        platforms=[Subdir(subdir), Subdir("noarch")],
        virtual_packages=[],
    )
    print(json.dumps(sorted(r.file_name for r in records)))


try:
    asyncio.run(main())
    code = 0
except Exception as exc:  # report, then leave without running interpreter teardown
    print(f"solve failed: {exc}", file=sys.stderr)
    code = 1
sys.stdout.flush()
sys.stderr.flush()
os._exit(code)
