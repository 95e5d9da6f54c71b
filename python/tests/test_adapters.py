"""The partner catalog adapters on real files: good records become imgpipe rows, bad records and
empty catalogs are reported and skipped, unreadable catalogs raise CatalogError."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest

from hotel_ingest import adapters
from hotel_ingest.adapters import CatalogError


def write(tmp_path: Path, name: str, text: str | bytes) -> Path:
    path = tmp_path / name
    if isinstance(text, bytes):
        path.write_bytes(text)
    else:
        path.write_text(text, encoding="utf-8")
    return path


def test_csv_with_semicolons_skips_bad_rows(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "p.csv",
        "hotel_id;group_id;photo_url;title\n"
        "h1;g1;https://x/1.jpg;Lobby\n"
        "h2;;https://x/2.jpg;\n"
        "h3;g1;ftp://x/3.jpg;Pool\n"
        "h4;g2;file:///srv/4.jpg\n",
    )
    catalog = adapters.read(path)
    assert catalog.rows == [
        {"partner_hotel_id": "h1", "hotel_group_id": "g1", "image_url": "https://x/1.jpg", "caption": "Lobby"},
        {"partner_hotel_id": "h4", "hotel_group_id": "g2", "image_url": "file:///srv/4.jpg", "caption": ""},
    ]
    assert catalog.problems == [
        f"{path}:3: missing group",
        f"{path}:4: url 'ftp://x/3.jpg' is not http, https or file",
    ]


def test_empty_csv_is_an_empty_catalog_with_a_problem(tmp_path: Path) -> None:
    for text in ("", "\n\n"):
        path = write(tmp_path, "empty.csv", text)
        catalog = adapters.read(path)
        assert catalog.rows == []
        assert catalog.problems == [f"{path}:1: empty catalog (no header row)"]


def test_csv_without_the_needed_columns_is_an_error(tmp_path: Path) -> None:
    path = write(tmp_path, "p.csv", "hotel,url\nh1,https://x/1.jpg\n")
    with pytest.raises(CatalogError, match=r"p\.csv:1: the header lacks hotel_id, group_id, photo_url"):
        adapters.read(path)


def test_jsonl_skips_records_that_are_not_hotels(tmp_path: Path) -> None:
    lines = [
        {"hotel": {"id": "h1", "group": "g1"}, "photos": [{"url": "https://x/1.jpg", "title": "Bar"}, "not a photo"]},
        {"hotel": {"id": "h2", "group": "g1"}, "photos": None},
        {"hotel": None, "photos": []},
        {"photos": [{"url": "https://x/3.jpg"}]},
        ["a list"],
    ]
    text = "".join(json.dumps(line) + "\n" for line in lines) + "\n{not json\n"
    path = write(tmp_path, "p.jsonl", text)
    catalog = adapters.read(path)
    assert catalog.rows == [
        {"partner_hotel_id": "h1", "hotel_group_id": "g1", "image_url": "https://x/1.jpg", "caption": "Bar"},
    ]
    assert catalog.problems[0] == f"{path}:1: photo 2 is not an object with url and title"
    assert catalog.problems[1] == f"{path}:2: not a hotel record (`photos` must be a list, not null)"
    assert catalog.problems[2] == f"{path}:3: not a hotel record (`hotel` must be an object with id and group, not null)"
    assert catalog.problems[3] == f"{path}:4: not a hotel record (`hotel` must be an object with id and group, not null)"
    assert catalog.problems[4] == f"{path}:5: not a hotel record (a JSON object is needed, not list)"
    assert catalog.problems[5].startswith(f"{path}:7: not a hotel record (Expecting property name")
    assert len(catalog.problems) == 6


def test_empty_jsonl_is_an_empty_catalog_with_a_problem(tmp_path: Path) -> None:
    path = write(tmp_path, "p.jsonl", "\n")
    catalog = adapters.read(path)
    assert (catalog.rows, catalog.problems) == ([], [f"{path}:1: empty catalog (no hotel records)"])


def test_xml_feed(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "p.xml",
        '<feed><hotel id="h1" group="g1"><photo url="https://x/1.jpg"><title>Spa</title></photo>'
        '<photo><title>no url</title></photo></hotel></feed>',
    )
    catalog = adapters.read(path)
    assert catalog.rows == [
        {"partner_hotel_id": "h1", "hotel_group_id": "g1", "image_url": "https://x/1.jpg", "caption": "Spa"},
    ]
    assert catalog.problems == [f"{path}: hotel 'h1', photo 2: missing url"]


def test_malformed_xml_names_the_line(tmp_path: Path) -> None:
    path = write(tmp_path, "p.xml", "<feed>\n<hotel>\n</feed>\n")
    with pytest.raises(CatalogError, match=r"p\.xml:3: not well-formed XML"):
        adapters.read(path)


def test_unknown_format_missing_file_and_bad_encoding(tmp_path: Path) -> None:
    with pytest.raises(CatalogError, match="unknown partner format"):
        adapters.read(tmp_path / "p.txt")
    with pytest.raises(CatalogError, match="cannot read catalog .*missing.csv: No such file or directory"):
        adapters.read(tmp_path / "missing.csv")
    path = write(tmp_path, "latin1.csv", "hotel_id,group_id,photo_url\nh\xe9,g,https://x\n".encode("latin-1"))
    with pytest.raises(CatalogError, match=r"latin1\.csv: not UTF-8 text"):
        adapters.read(path)


def test_imgpipe_catalog_round_trips(tmp_path: Path) -> None:
    rows = [{"partner_hotel_id": "h,1", "hotel_group_id": "g", "image_url": "https://x/1.jpg", "caption": 'a "b"'}]
    target = tmp_path / "out.csv"
    adapters.write_imgpipe_catalog(rows, target)
    with open(target, newline="", encoding="utf-8") as handle:
        assert list(csv.DictReader(handle)) == rows
