"""Solve specs against channels with py-rattler and install them into a prefix.

usage: install.py CACHE_DIR PREFIX CHANNEL_URL[,CHANNEL_URL...] SPEC...
Ends with os._exit: py-rattler may crash at interpreter exit (see peer-clients notes).
"""
import asyncio
import os
import pathlib
import sys

from rattler import Gateway, Subdir, VirtualPackage, install, solve


async def main():
    cache, prefix, channels, *specs = sys.argv[1:]
    cache = pathlib.Path(cache).resolve()
    records = await solve(
        sources=channels.split(","),
        specs=specs,
        gateway=Gateway(cache_dir=cache / "repodata"),
        platforms=[Subdir("linux-64"), Subdir("noarch")],
        # This machine's (__glibc, __unix, ...), as conda and pixi solve: packages may need them.
        virtual_packages=VirtualPackage.detect(),
    )
    await install(records, target_prefix=pathlib.Path(prefix).resolve(), cache_dir=cache / "pkgs", show_progress=False)
    print(" ".join(sorted(r.file_name for r in records)))


code = 0
try:
    asyncio.run(main())
except Exception as exc:
    print(f"install failed: {exc}", file=sys.stderr)
    code = 1
sys.stdout.flush()
sys.stderr.flush()
os._exit(code)
