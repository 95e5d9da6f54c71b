"""What the benchmark scripts share: timing a command, krait's isolated environment, and the
ratio line each benchmark prints (scripts/bench.py, bench_build.py, bench_render.py)."""

import os
import subprocess
import time
from pathlib import Path


def timed(cmd, env=None):
    """Wall seconds of one run of `cmd`, which must succeed; its output is discarded."""
    start = time.perf_counter()
    subprocess.run([str(c) for c in cmd], check=True, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return time.perf_counter() - start


def krait_env(home: Path, **extra):
    """The environment for a krait run with its configuration and caches under `home`."""
    env = dict(os.environ, HOME=str(home), KRAIT_PKGS_DIRS=str(home / "pkgs"), KRAIT_ENVS_DIRS=str(home / "envs"), **extra)
    env.pop("CONDARC", None)
    env.pop("KRAIT_CHANNELS", None)
    return env


def report(title, ours, theirs, target):
    """Prints krait's and the peer's time, the ratio and whether it meets `target`."""
    ratio = ours / theirs
    verdict = "meets" if ratio <= target else "MISSES"
    print(f"{title}: krait {ours:.3f} s, peer {theirs:.3f} s, ratio {ratio:.2f}x ({verdict} target <= {target}x)")
