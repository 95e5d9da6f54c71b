"""The ``hotel-ingest`` command: normalise partner catalogs and run imgpipe over them."""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any, List, Optional, Sequence, Set, Tuple

from . import __version__, adapters

Partner = Tuple[str, Path]


def partner_catalog(text: str) -> Partner:
    name, sep, path = text.partition("=")
    if not sep or not name or not path:
        raise argparse.ArgumentTypeError(f"{text!r}: give PARTNER=FILE")
    return name, Path(path)


def normalise(partners: Sequence[Partner], folder: Path) -> Tuple[List[Partner], List[str]]:
    """Writes one imgpipe catalog per partner into folder; returns [(partner, file)] and the
    hotel groups they list."""
    folder.mkdir(parents=True, exist_ok=True)
    written: List[Partner] = []
    groups: Set[str] = set()
    for name, path in partners:
        catalog = adapters.read(path)
        for problem in catalog.problems:
            print(f"hotel-ingest: skipped {problem}", file=sys.stderr)
        target = folder / f"{name}.csv"
        adapters.write_imgpipe_catalog(catalog.rows, target)
        written.append((name, target))
        groups.update(row["hotel_group_id"] for row in catalog.rows)
    return written, sorted(groups)


def imgpipe(args: argparse.Namespace, state: Path, *rest: str) -> Any:
    binary = args.imgpipe or shutil.which("imgpipe")
    if binary is None:
        raise SystemExit("hotel-ingest: imgpipe is not on PATH (install the imgpipe package or pass --imgpipe)")
    command = [binary, "--db", str(state / "state.db"), "--store", str(state / "store"), "--quiet", "--json", *rest]
    done = subprocess.run(command, stdout=subprocess.PIPE, text=True)
    if done.returncode != 0:
        raise SystemExit(f"hotel-ingest: {' '.join(command[:1] + list(rest[:1]))} failed with exit code {done.returncode}")
    return json.loads(done.stdout)


def run(args: argparse.Namespace) -> None:
    started = time.monotonic()
    state = args.state
    state.mkdir(parents=True, exist_ok=True)
    catalogs, hotels = normalise(args.partner, state / "catalogs")
    flags = [f"--catalog={name}={path}" for name, path in catalogs]
    summary = imgpipe(args, state, "run", *flags, "--out", str(args.out))
    status = imgpipe(args, state, "status")
    ranking = {hotel: imgpipe(args, state, "ranking", "--hotel", hotel) for hotel in hotels}
    report = {
        "partners": {name: str(path) for name, path in catalogs},
        "images_fetched": summary["download"]["stored"],
        "download_failures": status["download_failures"],
        "duplicate_groups": status["duplicate_groups"],
        "duplicates": status["duplicates"],
        "ranking": {hotel: [(row["urls"] or [row["image"]])[0] for row in rows] for hotel, rows in ranking.items()},
        "files_generated": status["outputs"],
        "rendered_now": summary["generate"]["rendered"],
        "out": str(args.out),
        "state": str(state),
        "seconds": round(time.monotonic() - started, 2),
    }
    if args.json:
        print(json.dumps(report, indent=2))
        return
    print(f"images fetched:    {report['images_fetched']} (failures: {report['download_failures'] or 'none'})")
    print(f"duplicate groups:  {report['duplicate_groups']} ({report['duplicates']} duplicates linked)")
    print("images per hotel, in priority order:")
    for hotel, urls in report["ranking"].items():
        print(f"  {hotel}: {len(urls)}")
        for rank, url in enumerate(urls, 1):
            print(f"    {rank:>2}. {url}")
    print(f"files generated:   {report['files_generated']} ({report['rendered_now']} rendered this run)")
    print(f"outputs in {args.out}, state in {state}")


def main(argv: Optional[Sequence[str]] = None) -> None:
    parser = argparse.ArgumentParser(prog="hotel-ingest", description=__doc__)
    parser.add_argument("--version", action="version", version=f"hotel-ingest {__version__}")
    commands = parser.add_subparsers(dest="command", required=True)
    run_parser = commands.add_parser("run", help="normalise partner catalogs and run the whole imgpipe pipeline")
    run_parser.add_argument("--partner", action="append", type=partner_catalog, required=True, metavar="PARTNER=FILE", help="a partner catalog (*.csv, *.jsonl or *.xml); repeatable")
    run_parser.add_argument("--out", type=Path, required=True, help="folder for the rendered images")
    run_parser.add_argument("--state", type=Path, default=Path(os.environ.get("HOTEL_INGEST_STATE", "hotel-ingest-state")), help="imgpipe's state database and store")
    run_parser.add_argument("--imgpipe", help="the imgpipe binary (default: imgpipe on PATH)")
    run_parser.add_argument("--json", action="store_true", help="print the summary as JSON")
    norm_parser = commands.add_parser("normalise", help="only write imgpipe catalogs from partner catalogs")
    norm_parser.add_argument("--partner", action="append", type=partner_catalog, required=True, metavar="PARTNER=FILE")
    norm_parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args(argv)
    try:
        if args.command == "run":
            run(args)
        else:
            for name, path in normalise(args.partner, args.out)[0]:
                print(f"{name}: {path}")
    except adapters.CatalogError as error:
        raise SystemExit(f"hotel-ingest: {error}") from None


if __name__ == "__main__":
    main()
