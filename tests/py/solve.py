"""Solve specs against channels with py-rattler and print the solution as JSON.

usage: solve.py [--virtual=NAME=VERSION]... CACHE_DIR SUBDIR CHANNEL_URL[,CHANNEL_URL...] SPEC...
Ends with os._exit(0): py-rattler may crash at interpreter exit (see peer-clients notes).
"""
import asyncio
import json
import os
import pathlib
import sys

from rattler import BuildString, GenericVirtualPackage, Gateway, PackageName, Subdir, Version, solve
from rattler.networking import Client


async def main():
    args = sys.argv[1:]
    virtual = [a.split("=", 1)[1] for a in args if a.startswith("--virtual=")]
    cache, subdir, channels, *specs = [a for a in args if not a.startswith("--virtual=")]
    records = await solve(
        sources=channels.split(","),
        specs=specs,
        # Gateway()'s own client has no S3 middleware: s3:// channels need the standard client
        # (credentials, region and endpoint from the AWS environment).
        gateway=Gateway(
            cache_dir=pathlib.Path(cache),
            client=Client.default_client() if "s3://" in channels else None,
        ),
        platforms=[Subdir(subdir), Subdir("noarch")],
        virtual_packages=[
            GenericVirtualPackage(PackageName(v.split("=")[0]), Version(v.split("=")[1]), BuildString("0")) for v in virtual
        ],
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
