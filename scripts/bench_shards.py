"""scripts/bench-shards: solve against a 100,000-record channel, sharded vs plain repodata.

The channel is generated as krait's index cache (`.cache/krait-index/linux-64.json`) next to
empty archive files with the sizes and mtimes it records, so `krait serve` writes repodata.json
and the shards from it at start without reading 100,000 archives (krait's own code writes both).
"""

import asyncio
import json
import os
import pathlib
import subprocess
import sys
import time

from rattler import Gateway, SourceConfig, Subdir, solve

krait, work, records = sys.argv[1], pathlib.Path(sys.argv[2]), int(sys.argv[3])
PER_NAME = 20  # versions per package name: records / 20 names
NAMES = records // PER_NAME
# Each name depends on the name with its last digit dropped (a tree of depth log10), so a
# solve needs a handful of names out of thousands, as a real environment does.
SOLVED = [f"pkg{NAMES // 3}", f"pkg{NAMES // 2 + 42}", f"pkg{NAMES - 1}"]


def generate(channel: pathlib.Path):
    subdir = channel / "linux-64"
    subdir.mkdir(parents=True)
    (channel / "noarch").mkdir()
    cache = {}
    for i in range(records):
        n = i % NAMES
        name, version = f"pkg{n}", f"1.{i // NAMES}"
        file_name = f"{name}-{version}-h0_0.conda"
        path = subdir / file_name
        path.touch()
        depends = [f"pkg{n // 10} >=1.0"] if n >= 10 else []
        cache[file_name] = {
            "size": 0,
            "mtime_ns": path.stat().st_mtime_ns,
            "record": {
                "name": name, "version": version, "build": "h0_0", "build_number": 0,
                "subdir": "linux-64", "depends": depends,
                "license": "MIT", "md5": os.urandom(16).hex(), "sha256": os.urandom(32).hex(),
                "size": 1000 + i,
                "timestamp": 1700000000000,
            },
        }
    index_cache = channel / ".cache" / "krait-index"
    index_cache.mkdir(parents=True)
    (index_cache / "linux-64.json").write_text(json.dumps(cache))


async def solve_once(url: str, cache: pathlib.Path, sharded: bool) -> float:
    gateway = Gateway(cache_dir=cache, default_config=SourceConfig(sharded_enabled=sharded))
    start = time.perf_counter()
    solved = await solve(sources=[url], specs=SOLVED, gateway=gateway,
                         platforms=[Subdir("linux-64"), Subdir("noarch")])
    elapsed = time.perf_counter() - start
    assert {r.name.normalized for r in solved} >= set(SOLVED), solved
    return elapsed


def main():
    channel = work / "channel"
    t0 = time.perf_counter()
    generate(channel)
    print(f"generated {records} records in {time.perf_counter() - t0:.1f} s", flush=True)
    server = subprocess.Popen([krait, "serve", str(channel), "--addr", "127.0.0.1:0"],
                              stdout=subprocess.PIPE, text=True,
                              env=dict(os.environ, KRAIT_LOG="warn"))
    try:
        t0 = time.perf_counter()
        line = server.stdout.readline()
        url = line.strip().rsplit(" on ", 1)[1]
        print(f"krait serve indexed it (repodata + shards) in {time.perf_counter() - t0:.1f} s")
        shards = len(list((channel / "linux-64" / "shards").iterdir()))
        size = (channel / "linux-64" / "repodata.json.zst").stat().st_size
        print(f"{shards} shards; repodata.json.zst {size / 1e6:.1f} MB")
        sharded = asyncio.run(solve_once(url, work / "cache-sharded", True))
        plain = asyncio.run(solve_once(url, work / "cache-plain", False))
        print(f"solve {' '.join(SOLVED)} (py-rattler, cold cache): sharded {sharded:.3f} s, "
              f"plain repodata {plain:.3f} s, ratio plain/sharded {plain / sharded:.1f}x")
    finally:
        server.terminate()
        server.wait()
    sys.stdout.flush()
    os._exit(0)  # py-rattler may crash at interpreter exit (see peer-clients notes)


main()
