"""Byte-for-byte file access on any Beam filesystem."""

from __future__ import annotations

from typing import BinaryIO

from apache_beam.io.filesystem import CompressionTypes
from apache_beam.io.filesystems import FileSystems


def open_raw(uri: str) -> BinaryIO:
    """Opens for reading without decompressing by extension (an image named .gz stays bytes)."""
    return FileSystems.open(uri, compression_type=CompressionTypes.UNCOMPRESSED)


def read_bytes(uri: str) -> bytes:
    with open_raw(uri) as handle:
        return handle.read()
