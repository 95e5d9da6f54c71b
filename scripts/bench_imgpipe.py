"""The Python side of scripts/bench-imgpipe (see there): the peers it times (ImageHash + Pillow),
the corpora and servers it makes, and the lines it prints.

Usage (with the test venv's python): bench_imgpipe.py COMMAND ARGS...; each command is one
function below, named with `-` for `_`.
"""
import functools
import glob
import http.server
import json
import os
import pathlib
import socket
import sys
import threading
import time


def free_port():
    """A free TCP port on 127.0.0.1."""
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    print(s.getsockname()[1])


def hash_times(rounds, *files):
    """Seconds for imagehash.dhash(Image.open(f)) over ROUNDS passes, then for Pillow's decoding
    alone (load()) over as many."""
    import imagehash
    from PIL import Image

    rounds = int(rounds)
    start = time.perf_counter()
    for _ in range(rounds):
        for f in files:
            imagehash.dhash(Image.open(f))
    middle = time.perf_counter()
    for _ in range(rounds):
        for f in files:
            Image.open(f).load()
    print(middle - start, time.perf_counter() - middle)


def hash_report(n, rust, decode_only, python_seconds, python_load):
    """The fingerprint section's lines: both sides' throughput, the ratio, and the decoder's floor."""
    n, r, d, p, l = int(n), float(rust), float(decode_only), float(python_seconds), float(python_load)
    print(f"imgpipe hash:    {n/r:8.1f} images/s ({r:.2f} s for {n})")
    print(f"imagehash.dhash: {n/p:8.1f} images/s ({p:.2f} s for {n})")
    print(f"ratio: imgpipe is {p/r:.2f}x faster")
    print(f"decoding alone:  imgpipe {d:.2f} s, Pillow load() {l:.2f} s ({l/p:.0%} of its dhash);"
          f" a 5x hash would have {p/5:.2f} s in all, so the ceiling with this decoder is {p/d:.2f}x")


def skimage_data():
    """scikit-image's sample photo folder."""
    import skimage

    print(os.path.join(os.path.dirname(skimage.__file__), "data"))


def make_big(out, data):
    """Four 12-megapixel JPEGs (upscaled sample photos with noise, so they compress as photos)."""
    import numpy as np
    from PIL import Image

    os.makedirs(out, exist_ok=True)
    rng = np.random.default_rng(12)
    for name in ["astronaut.png", "coffee.png", "chelsea.png", "rocket.jpg"]:
        image = Image.open(os.path.join(data, name)).convert("RGB").resize((4000, 3000), Image.Resampling.BICUBIC)
        noisy = np.clip(np.asarray(image, dtype=np.int16) + rng.normal(0, 6, (3000, 4000, 3)), 0, 255).astype(np.uint8)
        Image.fromarray(noisy).save(os.path.join(out, name.rsplit(".", 1)[0] + ".jpg"), quality=92)


def pillow_generate(configs, out, *files):
    """Seconds for Pillow to make imgpipe's output configurations from each file."""
    from PIL import Image

    configs = json.load(open(configs))
    extensions = {"jpeg": ".jpg", "png": ".png", "webp": ".webp", "webp-lossless": ".webp"}
    start = time.perf_counter()
    for f in files:
        source = Image.open(f).convert("RGB")
        w, h = source.size
        for c in configs:
            bw, bh = c["width"], c["height"]
            if c["mode"] == "fit":
                s = min(bw / w, bh / h, 1.0)
                image = source.resize((max(1, round(w * s)), max(1, round(h * s))), Image.Resampling.LANCZOS)
            elif c["mode"] == "crop":
                a = bw / bh
                cw, ch = (h * a, h) if w / h > a else (w, w / a)
                box = ((w - cw) / 2, (h - ch) / 2, (w + cw) / 2, (h + ch) / 2)
                image = source.resize((bw, bh), Image.Resampling.LANCZOS, box=box)
            else:
                s = min(bw / w, bh / h)
                inner = source.resize((max(1, round(w * s)), max(1, round(h * s))), Image.Resampling.LANCZOS)
                image = Image.new("RGB", (bw, bh), "white")
                image.paste(inner, ((bw - inner.width) // 2, (bh - inner.height) // 2))
            target = os.path.join(out, os.path.basename(f), c["name"] + extensions[c["format"]])
            os.makedirs(os.path.dirname(target), exist_ok=True)
            if c["format"] == "jpeg":
                image.save(target, "JPEG", quality=c["quality"])
            elif c["format"] == "png":
                image.save(target, "PNG")
            elif c["format"] == "webp":
                image.save(target, "WEBP", quality=c["quality"])
            else:
                image.save(target, "WEBP", lossless=True)
    print(time.perf_counter() - start)


def generate_report(n, rust, python_seconds):
    """The generate section's lines."""
    n, r, p = int(n), float(rust), float(python_seconds)
    print(f"imgpipe generate: {r/n*1000:8.0f} ms per 12 MP image (14 outputs)")
    print(f"Pillow:           {p/n*1000:8.0f} ms per 12 MP image (14 outputs)")
    print(f"ratio: imgpipe is {p/r:.2f}x faster")


def run_report(n, seconds, kilobytes):
    """The end-to-end section's line."""
    n, s, kb = int(n), float(seconds), int(kilobytes)
    print(f"imgpipe run: {n} catalog images in {s:.2f} s = {n/s:.1f} images/s"
          f" (all stages, 14 outputs per kept image, 2 cores); peak RSS {kb/1024:.0f} MiB")


def spread_hosts(folder, base, hosts):
    """Rewrites the catalogs so their image URLs go to the ports base+1 .. base+hosts in turn."""
    folder, hosts = pathlib.Path(folder), int(hosts)
    n = 0
    for catalog in sorted(folder.iterdir()):
        lines = catalog.read_text().splitlines(keepends=True)
        for i, line in enumerate(lines):
            if f"127.0.0.1:{base}/" in line:
                lines[i] = line.replace(f"127.0.0.1:{base}/", f"127.0.0.1:{int(base) + 1 + n % hosts}/")
                n += 1
        catalog.write_text("".join(lines))


def slow_servers(root, base, hosts, latency):
    """Serves ROOT on the ports base+1 .. base+hosts, each request delayed LATENCY seconds."""
    base, hosts, latency = int(base), int(hosts), float(latency)

    class Slow(http.server.SimpleHTTPRequestHandler):
        def do_GET(self):
            time.sleep(latency)
            super().do_GET()

        def log_message(self, *args):
            pass

    for port in range(base + 1, base + 1 + hosts):
        server = http.server.ThreadingHTTPServer(("127.0.0.1", port), functools.partial(Slow, directory=root))
        threading.Thread(target=server.serve_forever, daemon=True).start()
    threading.Event().wait()


def make_bucket(endpoint, bucket):
    """Creates BUCKET on the S3 server at ENDPOINT (moto's test credentials)."""
    import boto3

    boto3.client("s3", endpoint_url=endpoint, region_name="us-east-1", aws_access_key_id="test",
                 aws_secret_access_key="testsecret").create_bucket(Bucket=bucket)


def cpu_line(n, processes, helpers):
    """CPU milliseconds per image: imgpipe's processes (user + system, from /usr/bin/time files)
    and the helpers (a "name=seconds ..." string), so a CPU-bound run shows as one."""
    imgpipe = sum(sum(map(float, open(f).read().split()[-2:])) for f in processes)
    parts = [f"imgpipe {imgpipe / n * 1000:.1f}"]
    for named in helpers.split():
        name, seconds = named.split("=")
        parts.append(f"{name} {float(seconds) / n * 1000:.1f}")
    return "CPU ms per image: " + ", ".join(parts) + f" (2 cores: {2000 / sum_ms(imgpipe, helpers, n):.0f} images/s if CPU-bound)"


def sum_ms(imgpipe, helpers, n):
    return (imgpipe + sum(float(named.split("=")[1]) for named in helpers.split())) / n * 1000


def single_report(n, seconds, summary, cpu, helpers):
    """The fleet section's lines for the one SQLite run."""
    n, s = int(n), float(seconds)
    statements = json.load(open(summary))["statements"]
    print(f"one imgpipe run on SQLite + a folder:    {n/s:7.1f} images/s"
          f" ({n} URLs in {s:.1f} s, {statements/n:.1f} statements per image)")
    print("  " + cpu_line(n, [cpu], helpers))


def workers_report(n, seconds, single, workers, pattern, helpers):
    """The fleet section's lines for WORKERS workers, whose --json summaries match PATTERN (and
    their /usr/bin/time files the same names ending .cpu)."""
    n, s, one = int(n), float(seconds), float(single)
    summaries = sorted(glob.glob(pattern))
    statements = sum(json.load(open(f))["statements"] for f in summaries)
    print(f"{workers} worker(s) on PostgreSQL + S3 (moto): {n/s:7.1f} images/s"
          f" ({s:.1f} s, {statements/n:.1f} statements per image); {one/s:.2f}x the SQLite run")
    print("  " + cpu_line(n, [f[: -len(".json")] + ".cpu" for f in summaries], helpers))
    by_stage = {}
    for f in summaries:
        for stage, count in json.load(open(f)).get("statements_by_stage", {}).items():
            by_stage[stage] = by_stage.get(stage, 0) + count
    if by_stage:
        print("  statements per image by stage: "
              + ", ".join(f"{stage} {count / n:.2f}" for stage, count in by_stage.items()))


def stage_costs(folder):
    """Statements per item of each stage, from the stage commands' --json summaries."""
    for stage, key, unit in [("download", "stored", "URL"), ("fingerprint", "done", "image"),
                             ("dedupe", "hotel_groups", "hotel group"), ("prioritise", "hotel_groups", "hotel group"),
                             ("generate", "rendered", "output")]:
        summary = json.load(open(f"{folder}/stage-{stage}.json"))
        n, statements = summary.get(key) or 0, summary["statements"]
        per = f"{statements / n:.2f} per {unit}" if n else "no items"
        print(f"{stage:<12} {statements:6} statements (the process's start included) for {n:5} items: {per}")


if __name__ == "__main__":
    globals()[sys.argv[1].replace("-", "_")](*sys.argv[2:])
