"""Image lists: a text file with one URI per line, a CSV with a header, or JSON lines.

A CSV or JSON row may also say which version of the file it means: `size` and `updated`, or
`generation`, the names Cloud Storage inventory reports and BigQuery object tables use. Such a
row's fingerprint comes from those columns, so the job asks the store nothing about it before
reading it. An inventory report names objects by `bucket` and `name` instead of a URI; where the
URI column is missing and both are present, the URI is `gs://BUCKET/NAME`.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterator, Mapping

from transforms import reasons
from transforms.fingerprint import from_columns
from transforms.fs import open_raw
from transforms.records import Failure, MatchedFile, describe_error

DEFAULT_COLUMN = "uri"


def manifest_format(uri: str) -> str:
    """'csv', 'jsonl' or 'text', from the file name."""
    name = uri.lower()
    if name.endswith(".csv"):
        return "csv"
    if name.endswith((".jsonl", ".ndjson", ".json")):
        return "jsonl"
    return "text"


def _inventory_style(fields: Mapping[str, object] | list[str], column: str) -> bool:
    names = set(fields)
    return column == DEFAULT_COLUMN and column not in names and {"bucket", "name"} <= names


def _row_entry(row: Mapping[str, object], column: str) -> MatchedFile | None:
    """The row's entry; None where it names no URI. Raises ValueError for unreadable versions."""
    if _inventory_style(row, column):
        bucket, name = row.get("bucket"), row.get("name")
        uri = f"gs://{bucket}/{name}" if isinstance(bucket, str) and isinstance(name, str) else ""
    else:
        value = row.get(column)
        uri = value if isinstance(value, str) else ""
    uri = uri.strip()
    return MatchedFile(uri, from_columns(row)) if uri else None


def read_manifest(uri: str, column: str = DEFAULT_COLUMN) -> Iterator[MatchedFile | Failure]:
    """Yields the files a manifest lists, each with the fingerprint its row states ("" where it
    states none), streaming. Blank lines (and '#' comments in text
    manifests) are skipped; a row without a usable `column` (or with an unreadable size, update
    time or generation) becomes a read failure named `MANIFEST#LINE`. Raises ValueError when a
    CSV header lacks `column`."""
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
                yield MatchedFile(line, "")
                continue
            try:
                record = json.loads(line)
            except ValueError as exc:
                yield _bad_row(uri, number, describe_error(type(exc).__name__, str(exc)))
                continue
            if not isinstance(record, dict):
                yield _bad_row(uri, number, f"ManifestError: no field {column!r}")
                continue
            yield from _entry_or_failure(uri, number, record, column, f"no field {column!r}")


def _csv_rows(uri: str, text: io.TextIOWrapper, column: str) -> Iterator[MatchedFile | Failure]:
    reader = csv.DictReader(text)
    fields = reader.fieldnames or []
    if column not in fields and not _inventory_style(fields, column):
        raise ValueError(
            f"{uri}: no column {column!r} in the header {reader.fieldnames}; name the column "
            "with --manifest_column"
        )
    for row in reader:
        # The header is line 1, so a row's number is its reader line number.
        yield from _entry_or_failure(uri, reader.line_num, row, column, f"empty {column!r}")


def _entry_or_failure(
    uri: str, number: int, row: Mapping[str, object], column: str, missing: str
) -> Iterator[MatchedFile | Failure]:
    """The row's entry or its failure; nothing for an inventory's folder placeholder (`DIR/`)."""
    try:
        entry = _row_entry(row, column)
    except (ValueError, TypeError) as exc:
        yield _bad_row(uri, number, describe_error(type(exc).__name__, str(exc)))
        return
    if entry is None:
        yield _bad_row(uri, number, f"ManifestError: {missing}")
    elif not (entry.uri.endswith("/") and _inventory_style(row, column)):
        yield entry


def _bad_row(uri: str, number: int, error: str) -> Failure:
    return Failure(f"{uri}#{number}", "read", reasons.BAD_MANIFEST_ROW, error)
