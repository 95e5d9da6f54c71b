"""The body of scripts/bench-build (see there): krait build against py-rattler-build and cph.

Usage: bench_build.py KRAIT WORK RUNS MEGABYTES (with the test venv's python, from the repository root).
"""
import os
import random
import statistics
import sys
from pathlib import Path

from benchlib import krait_env, report, timed

krait, work, runs, megabytes = sys.argv[1], Path(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
python = sys.executable
rattler_build = Path("tests/py/rattler_build_recipe.py").resolve()
cph = Path(python).parent / "cph"
env = krait_env(work / "home", SOURCE_DATE_EPOCH="1700000000")


def krait_build(recipe, out, *extra):
    return [krait, "build", str(recipe), "--override-channels", "--output-folder", str(out),
            "--croot", str(work / "croot"), "--quiet", *extra]


# 1. Overhead.
script = ["mkdir -p $PREFIX/share/bench-one", "echo hello > $PREFIX/share/bench-one/hello.txt"]
steps = "".join(f"    - {s}\n" for s in script)
# The same text is a valid meta.yaml (krait) and recipe.yaml (rattler-build).
recipe_text = (f'package:\n  name: bench-one\n  version: "1.0"\nbuild:\n  number: 0\n  noarch: generic\n'
               f'  script:\n{steps}about:\n  license: MIT\n')
meta = work / "one" / "meta.yaml"
recipe_yaml = work / "one-v1" / "recipe.yaml"
for path in (meta, recipe_yaml):
    path.parent.mkdir()
    path.write_text(recipe_text)
ours, theirs = [], []
for i in range(runs + 1):  # the first round warms caches and is not counted
    a = timed(krait_build(meta.parent, work / f"one-out-krait-{i}"), env)
    b = timed([python, str(rattler_build), str(recipe_yaml), str(work / f"one-out-rb-{i}")])
    if i:
        ours.append(a)
        theirs.append(b)
print(f"== overhead: trivial noarch: generic recipe, one file; median of {runs}")
report("krait build vs py-rattler-build", statistics.median(ours), statistics.median(theirs), 1.0)

# 2. Packaging throughput.
data = work / "data" / "share" / "bench-data"
rng = random.Random(5)
words = [bytes(rng.choice(b"abcdefghijklmnopqrstuvwxyz_") for _ in range(rng.randint(2, 12))) for _ in range(4000)]
lines = []
while sum(map(len, lines)) < 8_000_000:  # an 8 MB text corpus, larger than zstd's window
    lines.append(b"    " * rng.randint(0, 3) + b" ".join(rng.choices(words, k=rng.randint(3, 14))) + b"\n")
corpus = b"".join(lines)
def text(size):
    start = rng.randrange(len(corpus) - size) if size < len(corpus) else 0
    return (corpus * (size // len(corpus) + 1))[start:start + size]
def mixed(size):  # like a binary: random stretches between compressible tables and text
    parts, left = [], size
    while left > 0:
        chunk = min(left, rng.randint(512, 16384))
        parts.append([os.urandom, bytes, text][rng.randrange(3)](chunk))
        left -= chunk
    return b"".join(parts)
total, target, n = 0, megabytes * 1024 * 1024, 0
while total < target:
    kind = n % 3
    size = rng.choice([rng.randint(1_000, 60_000)] * 6 + [rng.randint(2_000_000, 12_000_000)])
    size = min(size, target - total)
    path = data / f"d{n % 40}" / f"f{n}.{['txt', 'bin', 'so'][kind]}"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes([text, os.urandom, mixed][kind](size))
    total += size
    n += 1
print(f"== packaging: {total / 1e6:.0f} MB in {n} files (1/3 text, 1/3 random, 1/3 mixed binary)")
big = work / "big" / "meta.yaml"
big.parent.mkdir()
big.write_text(f'package:\n  name: bench-data\n  version: "1.0"\nbuild:\n  number: 0\n  noarch: generic\n'
               f'  script:\n    - cp -r {work / "data"}/. $PREFIX/\nabout:\n  license: MIT\n')
out = work / "big-out"
ours = timed(krait_build(big.parent, out, "--keep-build-dirs"), env)
archive = out / "noarch" / "bench-data-1.0-0.conda"
staged = work / "croot" / "bench-data-1.0-0" / "pkg_bench-data"
(work / "cph-out").mkdir()
theirs = timed([str(cph), "create", str(staged), "bench-data-1.0-0.conda", "--out-folder", str(work / "cph-out")])
peer_archive = work / "cph-out" / "bench-data-1.0-0.conda"
print(f"archives: krait {archive.stat().st_size / 1e6:.1f} MB (zstd 15, all cores), "
      f"cph {peer_archive.stat().st_size / 1e6:.1f} MB (zstd 19)")
report("krait build (whole) vs cph create (archive only)", ours, theirs, 0.5)
