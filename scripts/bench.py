"""krait against its peers, whole-process wall time, same run; prints ratios.

Called by scripts/bench (which builds release binaries and the venv with py-rattler).
"""
import json
import os
import random
import shutil
import statistics
import subprocess
import sys
from pathlib import Path

from benchlib import krait_env, report, timed

ROOT = Path(__file__).resolve().parent.parent
WORK = ROOT / ".bench"
TARGET = Path(os.environ.get("CARGO_TARGET_DIR", ROOT / "target"))
KRAIT = TARGET / "release/krait"
GEN = TARGET / "release/examples/bench_channel"
PY = Path(sys.executable)
PYDIR = ROOT / "tests/py"


def fresh(path):
    shutil.rmtree(path, ignore_errors=True)
    path.mkdir(parents=True)
    return path


def bench_index():
    print("== index: 2,000 small packages (1,000 .conda + 1,000 .tar.bz2), cold")
    src = fresh(WORK / "index-src")
    subprocess.run([GEN, "index", src, "2000"], check=True)
    ours, theirs = [], []
    for _ in range(3):
        a, b = WORK / "index-krait", WORK / "index-rattler"
        for d in (a, b):
            shutil.rmtree(d, ignore_errors=True)
            shutil.copytree(src, d)
        ours.append(timed([KRAIT, "index", "-q", a], krait_env(fresh(WORK / "home"))))
        theirs.append(timed([PY, PYDIR / "index.py", b, "--zst"]))
    report("index (median of 3)", statistics.median(ours), statistics.median(theirs), 1.0)


def bench_search():
    print("== search: r channel sample (4,211 records), warm")
    env = krait_env(fresh(WORK / "home"))
    cmd = [KRAIT, "search", "--override-channels", "-c", ROOT / "tests/data/repodata/r", "r-base>=3.4", "--platform", "linux-64"]
    timed(cmd, env)
    runs = sorted(timed(cmd, env) for _ in range(20))
    median = statistics.median(runs)
    verdict = "meets" if median <= 0.05 else "MISSES"
    print(f"search: median {median * 1000:.1f} ms over 20 runs ({verdict} target <= 50 ms)")


def bench_env():
    print("== env: 100 packages (~200 MB, a few large) from a local channel")
    channel = WORK / "env-channel"
    if not (channel / "linux-64/repodata.json").exists():
        fresh(channel)
        subprocess.run([GEN, "env", channel], check=True)
        subprocess.run([KRAIT, "index", "-q", channel], check=True)
    url = channel.resolve().as_uri()
    home = fresh(WORK / "env-home")
    env = krait_env(home)

    def krait_create(prefix):
        return timed([KRAIT, "create", "-q", "-y", "--override-channels", "-c", channel, "-p", prefix, "bench-root"], env)

    def rattler_install(prefix, cache):
        return timed([PY, PYDIR / "install.py", cache, prefix, url, "bench-root"])

    ours_cold = krait_create(home / "k1")
    theirs_cold = rattler_install(home / "r1", home / "rattler-cache")
    ours_warm = krait_create(home / "k2")
    theirs_warm = rattler_install(home / "r2", home / "rattler-cache")
    report("create, cold cache", ours_cold, theirs_cold, 0.8)
    report("create, warm cache", ours_warm, theirs_warm, 0.8)
    # du counts a hard-linked file once per run: the second prefix shows only what it adds.
    out = subprocess.run(["du", "-s", "--block-size=1", home / "k1", home / "k2"], capture_output=True, text=True, check=True)
    first, second = (int(line.split()[0]) for line in out.stdout.splitlines())
    print(f"second env adds {second} bytes next to the first's {first} ({100 * second / first:.2f}%; target < 5%)")


def synthetic_repodata(path, names=5000, versions=20):
    rng = random.Random(7)
    packages = {}
    for n in range(names):
        for v in range(versions):
            deps = [f"synth{rng.randrange(names):05d} >={rng.randrange(versions) // 2}" for _ in range(rng.randrange(4))]
            deps = [d for d in deps if not d.startswith(f"synth{n:05d} ")]
            fn = f"synth{n:05d}-{v}.0-h0_0.tar.bz2"
            packages[fn] = {"name": f"synth{n:05d}", "version": f"{v}.0", "build": "h0_0", "build_number": 0,
                            "depends": deps, "subdir": "linux-64", "md5": "0" * 32, "sha256": "0" * 64, "size": 1}
    (path / "linux-64").mkdir(parents=True, exist_ok=True)
    (path / "noarch").mkdir(parents=True, exist_ok=True)
    (path / "linux-64/repodata.json").write_text(json.dumps({"info": {"subdir": "linux-64"}, "packages": packages}))
    (path / "noarch/repodata.json").write_text(json.dumps({"info": {"subdir": "noarch"}, "packages": {}}))


def sanitized_sample(dest):
    """The conda-forge numpy-closure sample with `null` lists made empty: rattler (krait and
    py-rattler alike) refuses records whose `depends`/`constrains` are null."""
    for subdir in ("linux-64", "noarch"):
        data = json.loads((ROOT / "tests/data/repodata/conda-forge" / subdir / "repodata.json").read_text())
        for key in ("packages", "packages.conda"):
            for record in data.get(key, {}).values():
                for field in ("depends", "constrains", "track_features"):
                    if record.get(field) is None:
                        record.pop(field, None)
        (dest / subdir).mkdir(parents=True, exist_ok=True)
        (dest / subdir / "repodata.json").write_text(json.dumps(data))
    return dest


def bench_solve():
    print("== solve")
    cases = [("conda-forge numpy closure", sanitized_sample(WORK / "conda-forge-sample"), ["numpy"])]
    synth = WORK / "synthetic-100k"
    if not (synth / "linux-64/repodata.json").exists():
        synthetic_repodata(synth)
    cases.append(("generated 100,000-record channel", synth, ["synth00001", "synth00002", "synth00003"]))
    for title, channel, specs in cases:
        home = fresh(WORK / "solve-home")
        env = krait_env(home)
        env["CONDA_OVERRIDE_GLIBC"] = "2.28"
        ours = [timed([KRAIT, "create", "--dry-run", "--json", "--override-channels", "-c", channel, "-p", home / "x", *specs], env) for _ in range(3)]
        theirs = [timed([PY, PYDIR / "solve.py", "--virtual=__glibc=2.28", home / "rattler-cache", "linux-64", channel.resolve().as_uri(), *specs]) for _ in range(3)]
        report(f"solve, {title} (median of 3, warm)", statistics.median(ours), statistics.median(theirs), 1.0)


BENCHES = {"index": bench_index, "search": bench_search, "env": bench_env, "solve": bench_solve}

if __name__ == "__main__":
    WORK.mkdir(exist_ok=True)
    for name in sys.argv[1:] or list(BENCHES):
        BENCHES[name]()
