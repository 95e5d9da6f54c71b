"""Solve specs with py-rattler and write the solution as a pixi lockfile.

usage: lock.py CACHE_DIR LOCKFILE CHANNEL_URL SPEC...
Ends with os._exit: py-rattler may crash at interpreter exit (see peer-clients notes).
"""
import asyncio
import os
import pathlib
import sys

from rattler import Gateway, LockChannel, LockFile, LockPlatform, Subdir, solve


async def main():
    cache, lockfile, channel, *specs = sys.argv[1:]
    records = await solve(
        sources=[channel],
        specs=specs,
        gateway=Gateway(cache_dir=pathlib.Path(cache)),
        platforms=[Subdir("linux-64"), Subdir("noarch")],
        virtual_packages=[],
    )
    platform = LockPlatform("linux-64")
    lock = LockFile([platform])
    lock.set_channels("default", [LockChannel(channel)])
    for record in records:
        lock.add_conda_package("default", platform, record)
    lock.to_path(pathlib.Path(lockfile))


code = 0
try:
    asyncio.run(main())
except Exception as exc:
    print(f"lock failed: {exc}", file=sys.stderr)
    code = 1
sys.stdout.flush()
sys.stderr.flush()
os._exit(code)
