"""Image lists: a text file with one URI per line, a CSV with a header, or JSON lines."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterator

from transforms import reasons
from transforms.fs import open_raw
from transforms.records import Failure, describe_error

DEFAULT_COLUMN = "uri"


def manifest_format(uri: str) -> str:
    """'csv', 'jsonl' or 'text', from the file name."""
    name = uri.lower()
    if name.endswith(".csv"):
        return "csv"
    if name.endswith((".jsonl", ".ndjson", ".json")):
        return "jsonl"
    return "text"


def read_manifest(uri: str, column: str = DEFAULT_COLUMN) -> Iterator[str | Failure]:
    """Yields the image URIs a manifest lists, streaming. Blank lines (and '#' comments in text
    manifests) are skipped; a row without a usable `column` becomes a read failure named
    `MANIFEST#LINE`. Raises ValueError when a CSV header lacks `column`."""
    fmt = manifest_format(uri)
    with open_raw(uri) as raw, io.TextIOWrapper(raw, encoding="utf-8-sig") as text:
        if fmt == "csv":
            yield from _csv_rows(uri, text, column)
            return
        for number, line in enumerate(text, start=1):
            line = line.strip()
            if not line or (fmt == "text" and line.startswith("#")):
                continue
            if fmt == "text":
                yield line
                continue
            try:
                record = json.loads(line)
            except ValueError as exc:
                error = describe_error(type(exc).__name__, str(exc))
                yield Failure(f"{uri}#{number}", "read", reasons.BAD_MANIFEST_ROW, error)
                continue
            value = record.get(column) if isinstance(record, dict) else None
            if isinstance(value, str) and value.strip():
                yield value.strip()
            else:
                error = f"ManifestError: no field {column!r}"
                yield Failure(f"{uri}#{number}", "read", reasons.BAD_MANIFEST_ROW, error)


def _csv_rows(uri: str, text: io.TextIOWrapper, column: str) -> Iterator[str | Failure]:
    reader = csv.DictReader(text)
    if reader.fieldnames is None or column not in reader.fieldnames:
        raise ValueError(
            f"{uri}: no column {column!r} in the header {reader.fieldnames}; name the column "
            "with --manifest_column"
        )
    for row in reader:
        value = row.get(column)
        if value and value.strip():
            yield value.strip()
        else:
            # The header is line 1, so a row's number is its reader line number.
            error = f"ManifestError: empty {column!r}"
            yield Failure(f"{uri}#{reader.line_num}", "read", reasons.BAD_MANIFEST_ROW, error)
