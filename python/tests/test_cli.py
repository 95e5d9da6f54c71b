"""`hotel-ingest normalise` end to end through main(): one imgpipe catalog per partner, bad
records reported on stderr, clear exits for bad arguments and unreadable catalogs."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest

from hotel_ingest import cli


def test_normalise_writes_one_catalog_per_partner(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    feeds = tmp_path / "feeds"
    feeds.mkdir()
    (feeds / "a.csv").write_text("hotel_id,group_id,photo_url\nh1,g1,https://x/1.jpg\nh2,,https://x/2.jpg\n")
    (feeds / "b.jsonl").write_text('{"hotel": {"id": "h3", "group": "g2"}, "photos": null}\n')
    out = tmp_path / "out"
    cli.main(["normalise", "--partner", f"alpha={feeds / 'a.csv'}", "--partner", f"beta={feeds / 'b.jsonl'}", "--out", str(out)])
    captured = capsys.readouterr()
    assert captured.out.splitlines() == [f"alpha: {out / 'alpha.csv'}", f"beta: {out / 'beta.csv'}"]
    assert f"hotel-ingest: skipped {feeds / 'a.csv'}:3: missing group" in captured.err
    assert f"hotel-ingest: skipped {feeds / 'b.jsonl'}:1: not a hotel record" in captured.err
    with open(out / "alpha.csv", newline="") as handle:
        assert [row["partner_hotel_id"] for row in csv.DictReader(handle)] == ["h1"]
    with open(out / "beta.csv", newline="") as handle:
        assert list(csv.DictReader(handle)) == []


def test_normalise_groups_are_collected(tmp_path: Path) -> None:
    feed = tmp_path / "a.xml"
    feed.write_text('<feed><hotel id="h" group="g9"><photo url="https://x/1.jpg"/></hotel></feed>')
    written, groups = cli.normalise([("a", feed)], tmp_path / "out")
    assert written == [("a", tmp_path / "out" / "a.csv")]
    assert groups == ["g9"]


def test_unreadable_catalog_exits_with_its_message(tmp_path: Path) -> None:
    with pytest.raises(SystemExit, match=r"hotel-ingest: .*p\.txt: unknown partner format"):
        cli.main(["normalise", "--partner", f"p={tmp_path / 'p.txt'}", "--out", str(tmp_path)])


def test_partner_argument_needs_a_name_and_a_file(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit:
        cli.main(["normalise", "--partner", "nofile", "--out", "x"])
    assert exit.value.code == 2
    assert "'nofile': give PARTNER=FILE" in capsys.readouterr().err


def test_run_without_imgpipe_says_how_to_get_it(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    feed = tmp_path / "a.csv"
    feed.write_text("hotel_id,group_id,photo_url\nh1,g1,https://x/1.jpg\n")
    monkeypatch.setenv("PATH", str(tmp_path / "empty-bin"))
    with pytest.raises(SystemExit, match="imgpipe is not on PATH"):
        cli.main(["run", "--partner", f"a={feed}", "--out", str(tmp_path / "out"), "--state", str(tmp_path / "state")])
