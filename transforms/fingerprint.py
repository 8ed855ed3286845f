"""The fingerprint of a file version: its size and update time from the filesystem's metadata.

Beam's GCS filesystem does not expose the object generation; every new generation of an object
has a new update time, so size and update time tell versions apart there too.
"""

from __future__ import annotations

from apache_beam.io.filesystem import FileMetadata
from apache_beam.io.filesystems import FileSystems


def fingerprint(metadata: FileMetadata) -> str:
    """`size=BYTES;updated=SECONDS` of one file version."""
    return f"size={metadata.size_in_bytes};updated={metadata.last_updated_in_seconds:.6f}"


def stat(uri: str) -> str:
    """The fingerprint of the file at `uri`, or "" where its metadata cannot be read (the read
    that follows reports why)."""
    try:
        return fingerprint(FileSystems.get_filesystem(uri).metadata(uri))
    except Exception:  # noqa: BLE001 - missing file, no permission: the read stage fails it
        return ""
