"""Index a channel folder with py-rattler's index_fs.

usage: index.py CHANNEL_DIR [--zst]
Ends with os._exit(0): py-rattler may crash at interpreter exit (see peer-clients notes).
"""
import asyncio
import os
import sys

from rattler.index import index_fs

code = 0
try:
    asyncio.run(index_fs(sys.argv[1], write_zst="--zst" in sys.argv, write_shards=False))
except Exception as exc:
    print(f"index failed: {exc}", file=sys.stderr)
    code = 1
sys.stdout.flush()
sys.stderr.flush()
os._exit(code)
