"""The fingerprint of a file version: `size=BYTES;updated=SECONDS`, plus `;generation=N` where
the store numbers its versions (Cloud Storage listed through its client).

Beam's filesystems give size and update time; a Cloud Storage listing or a manifest may also
give the generation. Two fingerprints name the same version when they agree on every field they
both carry and share at least one that identifies a version (update time or generation), so a
record written before generations were known still matches the same version listed now.
"""

from __future__ import annotations

import datetime
from collections.abc import Mapping

from apache_beam.io.filesystem import FileMetadata
from apache_beam.io.filesystems import FileSystems

# Fields that tell one version of a file from another; size alone does not.
_IDENTIFYING = frozenset({"updated", "generation"})
# Cloud Storage keeps update times to the millisecond; printed seconds may differ below that.
_UPDATED_TOLERANCE_SECONDS = 0.0005


def make(size: int | None, updated: float | None, generation: int | str | None = None) -> str:
    """The fingerprint of the given fields ("" if none identifies a version)."""
    if generation == "":
        generation = None
    if updated is None and generation is None:
        return ""
    fields = []
    if size is not None:
        fields.append(f"size={int(size)}")
    if updated is not None:
        fields.append(f"updated={updated:.6f}")
    if generation is not None:
        fields.append(f"generation={int(generation)}")
    return ";".join(fields)


def fingerprint(metadata: FileMetadata) -> str:
    """`size=BYTES;updated=SECONDS` of one file version, from Beam's filesystem metadata."""
    return make(metadata.size_in_bytes, metadata.last_updated_in_seconds)


def stat(uri: str) -> str:
    """The fingerprint of the file at `uri`, or "" where its metadata cannot be read (the read
    that follows reports why)."""
    try:
        return fingerprint(FileSystems.get_filesystem(uri).metadata(uri))
    except Exception:  # noqa: BLE001 - missing file, no permission: the read stage fails it
        return ""


def fields(value: str) -> dict[str, str]:
    """`a=1;b=2` -> {'a': '1', 'b': '2'}; "" -> {}."""
    parsed = {}
    for part in value.split(";"):
        name, sep, field = part.partition("=")
        if sep:
            parsed[name.strip()] = field.strip()
    return parsed


def same_version(a: str, b: str) -> bool:
    """Whether fingerprints `a` and `b` name the same file version."""
    first, second = fields(a), fields(b)
    shared = first.keys() & second.keys()
    if not shared & _IDENTIFYING:
        return False
    try:
        for name in shared:
            if name == "updated":
                if abs(float(first[name]) - float(second[name])) > _UPDATED_TOLERANCE_SECONDS:
                    return False
            elif int(first[name]) != int(second[name]):
                return False
    except ValueError:
        return False
    return True


def seconds(value: str | float | datetime.datetime) -> float:
    """Seconds since the epoch of a time as listings and inventories write it: a number, RFC 3339
    (`2026-11-26T05:59:38.123Z`), or BigQuery's `2026-11-26 05:59:38.123000 UTC`. A time without
    a zone is UTC. Raises ValueError for anything else."""
    if isinstance(value, datetime.datetime):
        moment = value
    elif isinstance(value, int | float):
        return float(value)
    else:
        text = value.strip()
        try:
            return float(text)
        except ValueError:
            pass
        text = text.removesuffix(" UTC").replace("Z", "+00:00").replace(" ", "T", 1)
        moment = datetime.datetime.fromisoformat(text)
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=datetime.UTC)
    return moment.timestamp()


def from_columns(row: Mapping[str, object]) -> str:
    """The fingerprint a manifest row states in its `size`, `updated` and `generation` columns
    (the names Cloud Storage inventory reports and BigQuery object tables use); "" where it names
    no version (the job then asks the store). Raises ValueError for a value that is present but
    unreadable."""
    size, updated, generation = (_column(row, name) for name in ("size", "updated", "generation"))
    return make(
        int(size) if size is not None else None,
        seconds(updated) if updated is not None else None,
        generation,
    )


def _column(row: Mapping[str, object], name: str) -> object | None:
    """The row's value for `name`; None where it is missing or blank."""
    value = row.get(name)
    if value is None or str(value).strip() == "":
        return None
    return value if isinstance(value, int | float) else str(value).strip()
