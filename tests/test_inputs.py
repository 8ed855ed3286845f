"""Inputs that are not one glob: manifests and TFRecord image datasets; checks before launch."""

from __future__ import annotations

import json
import os

import numpy as np
import pytest
import tensorflow as tf

from tests import models
from tests.job import read_embeddings, read_failures, read_summary, run_job
from transforms.image_records import ExampleDecoder
from transforms.manifest import read_manifest
from transforms.records import Failure, MatchedFile


def write(path, text: str) -> str:
    with open(path, "w", encoding="utf-8") as handle:
        handle.write(text)
    return str(path)


def test_manifest_formats(tmp_path):
    text = write(tmp_path / "list.txt", "# photos\n/a.jpg\n\n gs://b/c.png \n")
    assert list(read_manifest(text)) == [MatchedFile("/a.jpg", ""), MatchedFile("gs://b/c.png", "")]
    table = write(tmp_path / "list.csv", 'id,path\n1,/a.jpg\n2,\n3,"/b, c.jpg"\n')
    entries = list(read_manifest(table, "path"))
    assert entries[0] == MatchedFile("/a.jpg", "") and entries[2] == MatchedFile("/b, c.jpg", "")
    assert entries[1] == Failure(
        f"{table}#3", "read", "bad_manifest_row", "ManifestError: empty 'path'"
    )
    lines = write(tmp_path / "list.jsonl", '{"uri": "/a.jpg"}\n{"url": "/b.jpg"}\nnot json\n')
    entries = list(read_manifest(lines))
    assert entries[0] == MatchedFile("/a.jpg", "")
    assert entries[1] == Failure(
        f"{lines}#2", "read", "bad_manifest_row", "ManifestError: no field 'uri'"
    )
    assert entries[2].uri == f"{lines}#3" and entries[2].error.startswith("JSONDecodeError")
    with pytest.raises(ValueError, match="no column 'uri'"):
        list(read_manifest(table))


def test_manifest_rows_state_their_versions(tmp_path):
    # A Cloud Storage inventory report names objects by bucket and name, with their versions.
    report = write(
        tmp_path / "inventory.csv",
        "bucket,name,size,updated,generation\n"
        "b,photos/a.jpg,120,2026-11-26T05:59:38.123Z,1764136778123456\n"
        "b,photos/,0,2026-11-26T05:59:38.123Z,1\n"  # a folder placeholder: not an image
        "b,photos/b.jpg,130,yesterday,2\n",
    )
    entries = list(read_manifest(report))
    assert entries[0] == MatchedFile(
        "gs://b/photos/a.jpg", "size=120;updated=1795672778.123000;generation=1764136778123456"
    )
    assert len(entries) == 2 and entries[1].uri == f"{report}#4"
    assert entries[1].reason == "bad_manifest_row" and "yesterday" in entries[1].error
    # A BigQuery object table's export: its own time format, no generation needed.
    table = write(
        tmp_path / "objects.jsonl",
        '{"uri": "gs://b/a.jpg", "size": 120, "updated": "2026-11-26 05:59:38.123000 UTC"}\n'
        '{"uri": "gs://b/c.jpg", "size": 7}\n',
    )
    assert list(read_manifest(table)) == [
        MatchedFile("gs://b/a.jpg", "size=120;updated=1795672778.123000"),
        MatchedFile("gs://b/c.jpg", ""),  # a size alone names no version: the store is asked
    ]


def test_manifest_input_end_to_end(photo_folder, tiny_tf2, tmp_path):
    folder, _ = photo_folder
    present = [os.path.join(folder, name) for name in ("china.jpg", "coffee.png", "rocket.jpg")]
    missing = os.path.join(folder, "gone.jpg")
    lines = [{"uri": uri} for uri in (*present, missing, present[0])]  # one listed twice
    manifest = write(tmp_path / "images.jsonl", "\n".join(json.dumps(line) for line in lines))
    output = str(tmp_path / "out")
    assert (
        run_job("--input_manifest", manifest, "--output", output, "--model_handle", tiny_tf2) == 0
    )
    records, failures = read_embeddings(output), read_failures(output)
    assert set(records) == set(present)
    assert set(failures) == {missing} and failures[missing]["stage"] == "read"
    assert read_summary(output)["matched"] == 4
    for uri in present:
        np.testing.assert_allclose(records[uri]["embedding"], models.tiny_vector(uri), atol=1e-4)


def example(image: bytes | None, key: str | None, key_feature="image/filename") -> bytes:
    feature = {"image/class/label": tf.train.Feature(int64_list=tf.train.Int64List(value=[7]))}
    if image is not None:
        feature["image/encoded"] = tf.train.Feature(bytes_list=tf.train.BytesList(value=[image]))
    if key is not None:
        feature[key_feature] = tf.train.Feature(bytes_list=tf.train.BytesList(value=[key.encode()]))
    return tf.train.Example(features=tf.train.Features(feature=feature)).SerializeToString()


def test_example_decoder_agrees_with_tensorflow():
    records = [example(b"jpeg-bytes", "a.jpg"), example(None, "b.jpg"), example(b"x", None)]
    decoder = ExampleDecoder("image/filename", "image/encoded")
    assert decoder.decode(records) == [(b"a.jpg", b"jpeg-bytes"), (b"b.jpg", None), (None, b"x")]
    with pytest.raises(Exception):  # noqa: B017 - tfx-bsl's own error type
        decoder.decode([b"\xff not a protobuf"])


def test_tfrecord_dataset_input_end_to_end(photo_folder, tiny_tf1_hub, tmp_path):
    folder, _ = photo_folder
    images = {}
    for name in ("china.jpg", "chelsea.png", "astronaut-exif6.jpg"):
        with open(os.path.join(folder, name), "rb") as handle:
            images[name] = handle.read()
    shard = str(tmp_path / "train-00000-of-00001.tfrecord")
    with tf.io.TFRecordWriter(shard) as writer:
        for name, data in images.items():
            writer.write(example(data, name))
        writer.write(example(None, "no-image.jpg"))
        writer.write(example(b"not an image", "broken.jpg"))
        writer.write(b"\xff\xfe not a tf.train.Example")
    output = str(tmp_path / "out")
    assert (
        run_job(
            "--input_tfrecord",
            str(tmp_path / "train-*"),
            "--output",
            output,
            "--model_handle",
            tiny_tf1_hub,
        )
        == 0
    )

    records, failures = read_embeddings(output), read_failures(output)
    assert set(records) == {f"{shard}#{name}" for name in images}
    for name, data in images.items():
        np.testing.assert_allclose(
            records[f"{shard}#{name}"]["embedding"], models.tiny_vector(data), atol=1e-4
        )
    assert failures[f"{shard}#no-image.jpg"]["stage"] == "read"
    assert "image/encoded" in failures[f"{shard}#no-image.jpg"]["error"]
    assert failures[f"{shard}#broken.jpg"]["stage"] == "decode"
    garbage = [uri for uri in failures if uri.startswith(f"{shard}#sha1:")]
    assert len(garbage) == 1 and failures[garbage[0]]["stage"] == "read"
    summary = read_summary(output)
    assert (summary["matched"], summary["embedded"], summary["failed"]) == (6, 3, 3)


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--input_manifest", "{tmp}/missing.csv"], "cannot be read"),
        (["--input_manifest", "{tmp}/bad.csv"], "no column 'uri'"),
        (["--input_tfrecord", "{tmp}/nothing-*.tfrecord"], "matches no file"),
        (["--input", "{tmp}/*.csv", "--output_table", "my-project:ds.emb"], "--temp_location"),
    ],
)
def test_checks_before_launch(extra, message, tiny_tf2, tmp_path, capsys):
    write(tmp_path / "bad.csv", "path\n/a.jpg\n")
    argv = [arg.format(tmp=tmp_path) for arg in extra]
    assert run_job(*argv, "--output", str(tmp_path / "out"), "--model_handle", tiny_tf2) == 2
    assert message in capsys.readouterr().err


def test_output_that_cannot_be_written_is_refused(tiny_tf2, tmp_path, capsys):
    blocker = write(tmp_path / "a-file", "not a folder")
    assert (
        run_job("--input", blocker, "--output", f"{blocker}/out", "--model_handle", tiny_tf2) == 2
    )
    assert "is not writable" in capsys.readouterr().err
