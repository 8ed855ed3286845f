"""The TFRecord format: each record framed by its length and two CRC-32Cs, masked as TensorFlow
writes them. Records are framed for writing, and read back from a whole file's bytes fetched on
any Beam filesystem, each record's framing checked."""

from __future__ import annotations

import struct
from collections.abc import Iterator

import google_crc32c

_HEADER = struct.Struct("<QI")  # length, masked CRC of the length
_FOOTER = struct.Struct("<I")  # masked CRC of the data
_MASK_DELTA = 0xA282EAD8
_LENGTH = struct.Struct("<Q")


class CorruptRecordError(ValueError):
    """A record whose framing or checksum is wrong: the file is truncated or damaged."""


def masked_crc(data: bytes) -> int:
    crc = google_crc32c.value(data)
    return (((crc >> 15) | (crc << 17)) + _MASK_DELTA) & 0xFFFFFFFF


def append_framed(buffer: bytearray, record: bytes) -> None:
    """Appends `record`, framed, to `buffer`: the bytes TensorFlow's TFRecordWriter writes."""
    buffer += _HEADER.pack(len(record), masked_crc(_LENGTH.pack(len(record))))
    buffer += record
    buffer += _FOOTER.pack(masked_crc(record))


def records(data: bytes) -> Iterator[bytes]:
    """The records of a whole TFRecord file's bytes (uncompressed)."""
    view = memoryview(data)
    position = 0
    while position < len(view):
        if position + _HEADER.size > len(view):
            raise CorruptRecordError(f"truncated record header at byte {position}")
        length, length_crc = _HEADER.unpack_from(view, position)
        if masked_crc(bytes(view[position : position + 8])) != length_crc:
            raise CorruptRecordError(f"bad length checksum at byte {position}")
        start = position + _HEADER.size
        end = start + length
        if end + _FOOTER.size > len(view):
            raise CorruptRecordError(f"truncated record at byte {position}")
        record = bytes(view[start:end])
        if masked_crc(record) != _FOOTER.unpack_from(view, end)[0]:
            raise CorruptRecordError(f"bad data checksum in the record at byte {position}")
        yield record
        position = end + _FOOTER.size
