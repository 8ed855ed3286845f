"""WriteTFRecords: byte strings -> sharded TFRecord files, written a megabyte at a time.

Beam's WriteToTFRecord hands each record to its file as it comes. A local file buffers 4 KiB, so
every embedding (7.2 KB framed) became a write system call of its own, which hands the GIL back
and takes it again while the other worker threads want it. Gathering the framed records and
writing a megabyte at a time gives the same bytes (transforms/tfrecord_format.py) in one call
per 145 embeddings; files, shard names and Beam's commit of them are Beam's own (FileBasedSink).
"""

from __future__ import annotations

import dataclasses
from typing import BinaryIO

import apache_beam as beam
from apache_beam.coders import coders
from apache_beam.io import filebasedsink

from transforms.tfrecord_format import append_framed

FLUSH_BYTES = 2**20


class _PendingFile:
    """A file of the sink's and the framed records not yet written to it."""

    def __init__(self, handle: BinaryIO, flush_bytes: int):
        self._handle = handle
        self._flush_bytes = flush_bytes
        self._pending = bytearray()

    def append(self, record: bytes) -> None:
        append_framed(self._pending, record)
        if len(self._pending) >= self._flush_bytes:
            self._flush()

    def _flush(self) -> None:
        # A new buffer rather than clear(): the handle may still hold a view of the old one.
        pending, self._pending = self._pending, bytearray()
        if pending:
            self._handle.write(pending)

    def close(self) -> None:
        self._flush()
        self._handle.close()


class _TFRecordSink(filebasedsink.FileBasedSink):
    def __init__(self, file_path_prefix: str, file_name_suffix: str, flush_bytes: int):
        super().__init__(
            file_path_prefix,
            coder=coders.BytesCoder(),
            file_name_suffix=file_name_suffix,
            mime_type="application/octet-stream",
        )
        self._flush_bytes = flush_bytes

    def open(self, temp_path: str) -> _PendingFile:
        return _PendingFile(super().open(temp_path), self._flush_bytes)

    def write_encoded_record(self, file_handle: _PendingFile, encoded_value: bytes) -> None:
        file_handle.append(encoded_value)

    def close(self, file_handle: _PendingFile) -> None:
        file_handle.close()


@dataclasses.dataclass
class WriteTFRecords(beam.PTransform):
    """`PREFIX-SSSSS-of-NNNNN SUFFIX` files of the input's byte strings, one record each, as
    WriteToTFRecord writes them (uncompressed unless the suffix names a compression). Outputs
    the files' names."""

    file_path_prefix: str
    file_name_suffix: str = ""
    flush_bytes: int = FLUSH_BYTES

    def __post_init__(self):
        super().__init__()

    def expand(self, records):
        sink = _TFRecordSink(self.file_path_prefix, self.file_name_suffix, self.flush_bytes)
        return records | "Write" >> beam.io.Write(sink)
