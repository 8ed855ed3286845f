"""The TFRecord format both ways, checked against TensorFlow's own writer and reader, and the
job's TFRecord sink against Beam's."""

from __future__ import annotations

import glob
import os
import pathlib

import apache_beam as beam
import pytest
import tensorflow as tf

from transforms.tfrecord_format import CorruptRecordError, append_framed, records
from transforms.tfrecord_sink import WriteTFRecords

# Empty, short, and longer than the smallest flush size below; the 7,000-byte one is about an
# embedding's size.
PAYLOADS = [b"", b"one", b"three" * 100, bytes(range(256)) * 4, b"\x00" * 7000]
MANY = [payload + str(i).encode() for i in range(40) for payload in PAYLOADS]


def tensorflow_file(path: str, payloads: list[bytes]) -> bytes:
    with tf.io.TFRecordWriter(path) as writer:
        for payload in payloads:
            writer.write(payload)
    with open(path, "rb") as handle:
        return handle.read()


def read_with_tensorflow(paths: list[str]) -> list[bytes]:
    return [record.numpy() for record in tf.data.TFRecordDataset(paths)]


def test_framing_is_tensorflows(tmp_path):
    framed = bytearray()
    for payload in PAYLOADS:
        append_framed(framed, payload)
    assert bytes(framed) == tensorflow_file(str(tmp_path / "r.tfrecord"), PAYLOADS)


def test_tfrecord_framing_is_checked(tmp_path):
    whole = tensorflow_file(str(tmp_path / "r.tfrecord"), [b"one", b"", b"three" * 100])
    assert list(records(whole)) == [b"one", b"", b"three" * 100]
    damaged = bytearray(whole)
    damaged[14] ^= 0xFF  # inside the first record's data
    with pytest.raises(CorruptRecordError, match="data checksum"):
        list(records(bytes(damaged)))
    with pytest.raises(CorruptRecordError, match="truncated"):
        list(records(whole[:-3]))


def write(records_in: list[bytes], transform: beam.PTransform) -> list[str]:
    with beam.Pipeline() as pipeline:
        _ = pipeline | beam.Create(records_in) | transform
    return sorted(glob.glob(f"{transform.file_path_prefix}*"))


@pytest.mark.parametrize("flush_bytes", [1, 10_000, 2**20])
def test_sink_writes_what_beams_writes(tmp_path, flush_bytes):
    """Whether each record is written at once, a few at a time or all at close, the files hold
    every record, framed as TensorFlow frames them, as Beam's WriteToTFRecord writes them."""
    ours = write(MANY, WriteTFRecords(str(tmp_path / "ours"), ".tfrecord", flush_bytes))
    beams = str(tmp_path / "beams")
    with beam.Pipeline() as pipeline:
        _ = (
            pipeline
            | beam.Create(MANY)
            | beam.io.WriteToTFRecord(beams, file_name_suffix=".tfrecord")
        )
    assert ours and all(path.endswith(".tfrecord") and "-of-" in path for path in ours)
    assert sorted(read_with_tensorflow(ours)) == sorted(MANY)
    theirs = sorted(glob.glob(f"{beams}*"))
    assert sorted(read_with_tensorflow(theirs)) == sorted(MANY)
    framed = [pathlib.Path(path).read_bytes() for path in ours]
    assert sorted(record for data in framed for record in records(data)) == sorted(MANY)
    assert not glob.glob(str(tmp_path / "beam-temp-*")), "temporary files left behind"


def test_sink_outputs_the_files_it_wrote(tmp_path):
    prefix = str(tmp_path / "out")
    with beam.Pipeline() as pipeline:
        written = pipeline | beam.Create(MANY) | WriteTFRecords(prefix, ".tfrecord", 100)
        _ = written | beam.Map(lambda path: pathlib.Path(f"{path}.seen").touch())
    files = sorted(glob.glob(f"{prefix}*.tfrecord"))
    assert files and all(os.path.exists(f"{path}.seen") for path in files)


def test_an_empty_input_writes_an_empty_file(tmp_path):
    files = write([], WriteTFRecords(str(tmp_path / "none"), ".tfrecord"))
    assert [os.path.getsize(path) for path in files] == [0]
