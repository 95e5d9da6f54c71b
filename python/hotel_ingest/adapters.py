"""Partner catalog adapters: three partner formats normalised into imgpipe's catalog rows.

- CSV (``*.csv``): a header row naming ``hotel_id``, ``group_id``, ``photo_url`` and optionally
  ``title``; comma or semicolon separated.
- JSON Lines (``*.jsonl``): one hotel per line,
  ``{"hotel": {"id": ..., "group": ...}, "photos": [{"url": ..., "title": ...}, ...]}``.
- XML feed (``*.xml``): ``<feed><hotel id=".." group=".."><photo url=".."><title>..</title>
  </photo>...</hotel>...</feed>``.

A bad record is reported as ``file:line: what is wrong`` (for XML: the hotel and photo number) and skipped; the rest is read.
An empty catalog is reported the same way and gives no rows.
"""

from __future__ import annotations

import csv
import json
import os
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Dict, Iterable, List, Tuple, Union

FIELDS = ("partner_hotel_id", "hotel_group_id", "image_url", "caption")
CSV_COLUMNS = {"hotel_id": "partner_hotel_id", "group_id": "hotel_group_id", "photo_url": "image_url", "title": "caption"}

Row = Dict[str, str]
PathLike = Union[str, "os.PathLike[str]"]


class CatalogError(Exception):
    """A catalog that cannot be read at all (unknown format, missing columns, not XML, not UTF-8)."""


@dataclass
class Catalog:
    rows: List[Row] = field(default_factory=list)
    problems: List[str] = field(default_factory=list)


def _row(where: str, hotel: Any, group: Any, url: Any, caption: Any, catalog: Catalog) -> None:
    missing = [name for name, value in (("hotel id", hotel), ("group", group), ("url", url)) if not value]
    if missing:
        catalog.problems.append(f"{where}: missing {', '.join(missing)}")
        return
    if not str(url).startswith(("http://", "https://", "file://")):
        catalog.problems.append(f"{where}: url {url!r} is not http, https or file")
        return
    catalog.rows.append(dict(zip(FIELDS, (str(hotel), str(group), str(url), str(caption or "")))))


def read_csv(path: Path) -> Catalog:
    catalog = Catalog()
    with open(path, newline="", encoding="utf-8") as handle:
        header = handle.readline()
        if not header.strip():
            catalog.problems.append(f"{path}:1: empty catalog (no header row)")
            return catalog
        handle.seek(0)
        delimiter = ";" if header.count(";") > header.count(",") else ","
        reader = csv.DictReader(handle, delimiter=delimiter)
        lacking = [c for c in ("hotel_id", "group_id", "photo_url") if c not in (reader.fieldnames or [])]
        if lacking:
            raise CatalogError(f"{path}:1: the header lacks {', '.join(lacking)} (need hotel_id, group_id, photo_url; title optional)")
        for record in reader:
            _row(f"{path}:{reader.line_num}", record.get("hotel_id"), record.get("group_id"), record.get("photo_url"), record.get("title"), catalog)
    return catalog


def _hotel_record(text: str) -> Tuple[Dict[str, Any], List[Any]]:
    """The hotel and photos of one JSON Lines record; ValueError says what is wrong."""
    record = json.loads(text)
    if not isinstance(record, dict):
        raise ValueError(f"a JSON object is needed, not {type(record).__name__}")
    hotel, photos = record.get("hotel"), record.get("photos")
    if not isinstance(hotel, dict):
        raise ValueError(f"`hotel` must be an object with id and group, not {json.dumps(hotel)}")
    if not isinstance(photos, list):
        raise ValueError(f"`photos` must be a list, not {json.dumps(photos)}")
    return hotel, photos


def read_jsonl(path: Path) -> Catalog:
    catalog = Catalog()
    with open(path, encoding="utf-8") as handle:
        for number, text in enumerate(handle, 1):
            if not text.strip():
                continue
            try:
                hotel, photos = _hotel_record(text)
            except ValueError as error:
                catalog.problems.append(f"{path}:{number}: not a hotel record ({error})")
                continue
            for index, photo in enumerate(photos, 1):
                if not isinstance(photo, dict):
                    catalog.problems.append(f"{path}:{number}: photo {index} is not an object with url and title")
                    continue
                _row(f"{path}:{number}", hotel.get("id"), hotel.get("group"), photo.get("url"), photo.get("title"), catalog)
    if not catalog.rows and not catalog.problems:
        catalog.problems.append(f"{path}:1: empty catalog (no hotel records)")
    return catalog


def read_xml(path: Path) -> Catalog:
    catalog = Catalog()
    try:
        root = ET.parse(path).getroot()
    except ET.ParseError as error:
        raise CatalogError(f"{path}:{error.position[0]}: not well-formed XML ({error})") from None
    for hotel in root.iter("hotel"):
        for number, photo in enumerate(hotel.iter("photo"), 1):
            where = f"{path}: hotel {hotel.get('id')!r}, photo {number}"
            _row(where, hotel.get("id"), hotel.get("group"), photo.get("url"), photo.findtext("title"), catalog)
    return catalog


READERS: Dict[str, Callable[[Path], Catalog]] = {".csv": read_csv, ".jsonl": read_jsonl, ".ndjson": read_jsonl, ".xml": read_xml}


def read(path: PathLike) -> Catalog:
    """Reads a partner catalog in any supported format, chosen by its extension."""
    path = Path(path)
    reader = READERS.get(path.suffix.lower())
    if reader is None:
        raise CatalogError(f"{path}: unknown partner format (name it *.csv, *.jsonl or *.xml)")
    try:
        return reader(path)
    except OSError as error:
        raise CatalogError(f"cannot read catalog {path}: {error.strerror}") from None
    except UnicodeDecodeError as error:
        raise CatalogError(f"{path}: not UTF-8 text (byte {error.start}): save the catalog as UTF-8") from None


def write_imgpipe_catalog(rows: Iterable[Row], path: PathLike) -> None:
    """Writes rows as imgpipe's CSV catalog."""
    with open(path, "w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=FIELDS)
        writer.writeheader()
        writer.writerows(rows)
