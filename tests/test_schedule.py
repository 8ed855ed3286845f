"""Runs on a schedule: each run into the same folder embeds only what is new or changed."""

from __future__ import annotations

import collections
import gzip
import json
import os

import numpy as np
import pytest
import tensorflow as tf
from PIL import Image

from pipeline.index import main as index_main
from tests import models
from tests.job import (
    latest_per_uri,
    read_failures,
    read_parquet_records,
    read_records,
    read_summary,
    run_job,
)
from tests.photos import photos
from transforms import fingerprint
from transforms.fingerprint import stat
from transforms.history import choose, history_files
from transforms.records import MatchedFile

FAST = "--direct_running_mode=in_memory"


def save(folder, name: str, seed: int) -> str:
    """A small photo-like JPEG, different for each seed."""
    pictures = list(photos().values())
    picture = pictures[seed % len(pictures)]
    top = (seed * 17) % (picture.shape[0] - 96)
    path = os.path.join(folder, name)
    Image.fromarray(picture[top : top + 96, :128]).save(path, quality=90)
    return path


def run(folder, output, model, *extra: str) -> int:
    return run_job("--input", f"{folder}/*", "--output", output, "--model_handle", model, *extra)


def summary_counts(output: str) -> tuple[int, int, int, int]:
    summary = read_summary(output)
    assert summary["matched"] == summary["skipped"] + summary["embedded"] + summary["failed"]
    return summary["matched"], summary["skipped"], summary["embedded"], summary["failed"]


def test_second_and_third_runs_embed_only_new_and_changed_images(tiny_tf2, tmp_path, capsys):
    folder, output = tmp_path / "images", str(tmp_path / "out")
    folder.mkdir()
    paths = [save(folder, f"{index}.jpg", index) for index in range(5)]
    assert run(folder, output, tiny_tf2, FAST) == 0
    first = read_records(output)
    assert sorted(record["uri"] for record in first) == sorted(paths)
    assert summary_counts(output) == (5, 0, 5, 0)

    added = [save(folder, f"new-{index}.jpg", 10 + index) for index in range(3)]
    replaced = save(folder, "2.jpg", 99)  # new content under a URI already embedded
    before = sorted(os.listdir(output))
    capsys.readouterr()
    assert run(folder, output, tiny_tf2, FAST) == 2
    assert "--skip_existing" in capsys.readouterr().err
    assert sorted(os.listdir(output)) == before

    assert run(folder, output, tiny_tf2, FAST, "--skip_existing") == 0
    assert summary_counts(output) == (8, 4, 4, 0)
    records = read_records(output)
    assert len(records) == 9
    latest = latest_per_uri(records)
    assert sorted(latest) == sorted([*paths, *added])
    assert collections.Counter(record["uri"] for record in records)[replaced] == 2
    # The latest record of the replaced image is of its new content.
    assert latest[replaced]["fingerprint"] == stat(replaced)
    new_vector = models.tiny_vector(replaced)
    np.testing.assert_allclose(latest[replaced]["embedding"], new_vector, atol=1e-4)
    old = next(r for r in first if r["uri"] == replaced)
    assert not np.allclose(old["embedding"], latest[replaced]["embedding"], atol=1e-3)
    for path in paths + added:
        assert latest[path]["fingerprint"] == stat(path)

    # Third run: one more image and one broken file; failures are tried again every run.
    save(folder, "later.jpg", 42)
    broken = os.path.join(folder, "broken.jpg")
    with open(broken, "wb") as handle:
        handle.write(b"not a jpeg")
    assert run(folder, output, tiny_tf2, FAST, "--skip_existing", "--run_id", "third") == 0
    assert summary_counts(output) == (10, 8, 1, 1)
    assert list(read_failures(output, "third")) == [broken]
    assert len(read_records(output)) == 10
    runs = sorted(name for name in os.listdir(output) if name.startswith("summary-"))
    assert len(runs) == 3 and "summary-third.json" in runs


def sizes(output: str, prefix: str) -> int:
    return sum(os.path.getsize(os.path.join(output, name)) for name in shards(output, prefix))


def shards(output: str, prefix: str) -> list[str]:
    return sorted(name for name in os.listdir(output) if name.startswith(f"{prefix}-"))


def test_skip_existing_reads_the_indexes_not_the_vectors(tmp_path):
    # Vectors as wide as B4's, so that the index's share of the bytes is the real one.
    wide = models.save_tiny_tf2(str(tmp_path / "wide"), dim=1792)
    folder, output = tmp_path / "images", str(tmp_path / "out")
    folder.mkdir()
    for index in range(40):
        save(folder, f"photo-with-a-longish-name-{index:05d}.jpg", index)
    assert run(folder, output, wide, FAST, "--run_id", "first") == 0
    assert summary_counts(output) == (40, 0, 40, 0)
    assert shards(output, "index") == ["index-first-00000-of-00001.jsonl.gz"]
    with gzip.open(os.path.join(output, shards(output, "index")[0]), "rt") as handle:
        rows = [json.loads(line) for line in handle]
    records = {record["uri"]: record for record in read_records(output)}
    assert len(rows) == 40 and len(records) == 40
    for row in rows:
        record = records[row["uri"]]
        assert row == {key: record[key] for key in ("uri", "fingerprint", "embedded_at", "run")}
    assert sizes(output, "index") <= 0.05 * sizes(output, "embeddings")

    # Earlier vectors made unreadable: a run that opened them would fail on the first record.
    for name in shards(output, "embeddings"):
        path = os.path.join(output, name)
        with open(path, "r+b") as handle:
            handle.write(b"\xff" * os.path.getsize(path))
    save(folder, "added.jpg", 77)
    assert run(folder, output, wide, FAST, "--skip_existing", "--run_id", "second") == 0
    assert summary_counts(output) == (41, 40, 1, 0)


READERS = {"tfrecord": read_records, "parquet": read_parquet_records}


@pytest.mark.parametrize("output_format", list(READERS))
def test_a_run_without_an_index_is_read_from_its_vectors(output_format, tiny_tf2, tmp_path, capsys):
    # Folders written before indexes existed, or a run stopped between its vectors and its index.
    folder, output = tmp_path / "images", str(tmp_path / "out")
    folder.mkdir()
    for index in range(4):
        save(folder, f"{index}.jpg", index)
    formats = ("--output_format", output_format)
    assert run(folder, output, tiny_tf2, FAST, *formats, "--run_id", "old") == 0
    assert {name.rsplit(".", 1)[-1] for name in shards(output, "embeddings")} == {output_format}
    for name in shards(output, "index"):
        os.remove(os.path.join(output, name))
    save(folder, "4.jpg", 4)
    assert (
        run(folder, output, tiny_tf2, FAST, *formats, "--skip_existing", "--run_id", "indexed") == 0
    )
    assert summary_counts(output) == (5, 4, 1, 0)
    assert shards(output, "index") == ["index-indexed-00000-of-00001.jsonl.gz"]

    # The one-off command indexes the old run from its vectors, once.
    assert index_main(["--output", output]) == 0
    assert "Indexed 1 runs (1 files): old" in capsys.readouterr().err
    assert shards(output, "index")[-1] == "index-old-00000-of-00001.jsonl.gz"
    with gzip.open(os.path.join(output, shards(output, "index")[-1]), "rt") as handle:
        rows = {row["uri"]: row for row in map(json.loads, handle)}
    old = {r["uri"]: r for r in READERS[output_format](output) if r["run"] == "old"}
    assert rows == {
        uri: {key: record[key] for key in ("uri", "fingerprint", "embedded_at", "run")}
        for uri, record in old.items()
    }
    assert index_main(["--output", output]) == 0
    assert "Every run in" in capsys.readouterr().err
    assert [name for name in os.listdir(output) if name.startswith(".")] == []

    for name in shards(output, "embeddings"):  # from here on, no run opens the vectors
        with open(os.path.join(output, name), "wb") as handle:
            handle.write(b"not a record")
    save(folder, "5.jpg", 5)
    assert (
        run(folder, output, tiny_tf2, FAST, *formats, "--skip_existing", "--run_id", "after") == 0
    )
    assert summary_counts(output) == (6, 5, 1, 0)


def test_records_of_tfrecord_inputs_are_skipped_after_their_read(tiny_tf2, tmp_path):
    shard = str(tmp_path / "images.tfrecord")
    with tf.io.TFRecordWriter(shard) as writer:
        for index in range(3):
            with open(save(tmp_path, f"{index}.jpg", index), "rb") as handle:
                data = handle.read()
            feature = {
                "image/filename": tf.train.Feature(
                    bytes_list=tf.train.BytesList(value=[f"{index}.jpg".encode()])
                ),
                "image/encoded": tf.train.Feature(bytes_list=tf.train.BytesList(value=[data])),
            }
            example = tf.train.Example(features=tf.train.Features(feature=feature))
            writer.write(example.SerializeToString())
    output = str(tmp_path / "out")
    args = ("--input_tfrecord", shard, "--output", output, "--model_handle", tiny_tf2, FAST)
    assert run_job(*args) == 0
    assert summary_counts(output) == (3, 0, 3, 0)
    assert run_job(*args, "--skip_existing") == 0
    assert summary_counts(output) == (3, 3, 0, 0)
    assert {record["fingerprint"] for record in read_records(output)} == {stat(shard)}


def test_progress_line_is_shown_and_silenced(tiny_tf2, tmp_path, capsys):
    folder = tmp_path / "images"
    folder.mkdir()
    for index in range(3):
        save(folder, f"{index}.jpg", index)
    assert run(folder, str(tmp_path / "shown"), tiny_tf2) == 0
    err = capsys.readouterr().err
    assert "Embedding" in err and "3/3" in err and "img/s" in err
    assert run(folder, str(tmp_path / "quiet"), tiny_tf2, "--quiet") == 0
    captured = capsys.readouterr()
    assert "Embedding" not in captured.err and "INFO" not in captured.err
    assert "3 embedded" in captured.out


def test_same_run_id_twice_is_refused(tiny_tf2, tmp_path, capsys):
    folder = tmp_path / "images"
    folder.mkdir()
    save(folder, "a.jpg", 1)
    output = str(tmp_path / "out")
    assert run(folder, output, tiny_tf2, FAST, "--run_id", "nightly-1") == 0
    assert run(folder, output, tiny_tf2, FAST, "--run_id", "nightly-1", "--skip_existing") == 2
    assert "give this run another --run_id" in capsys.readouterr().err


def version(n: int) -> str:
    return fingerprint.make(100 + n, 1_700_000_000.0 + n)


@pytest.mark.parametrize(
    ("earlier", "once", "expected"),
    [
        ([], True, ([version(1)], 0)),
        ([version(1)], True, ([], 1)),
        ([version(0), version(2)], True, ([version(1)], 0)),  # changed since every record
        ([version(0), version(1)], True, ([], 1)),  # an older record of the same version counts
        ([""], True, ([version(1)], 0)),  # a record without fingerprint never matches
    ],
)
def test_choose(earlier, once, expected):
    matched = [MatchedFile("a", version(1)), MatchedFile("a", version(1))]
    new, skipped = choose(matched, earlier, once)
    assert ([m.fingerprint for m in new], skipped) == expected


def test_unknown_fingerprint_is_never_skipped():
    new, skipped = choose([MatchedFile("a", "")], [""], once_per_uri=True)
    assert (len(new), skipped) == (1, 0)


def test_several_records_of_one_uri_are_each_kept_or_skipped():
    matched = [MatchedFile("f#k", version(1)), MatchedFile("f#k", version(1))]
    assert choose(matched, [version(0)], once_per_uri=False) == (matched, 0)
    assert choose(matched, [version(1)], once_per_uri=False) == ([], 2)


@pytest.mark.parametrize(
    ("earlier", "now", "same"),
    [
        ("size=5;updated=10.000000", "size=5;updated=10.000000", True),
        # A record from before generations were known matches the same version listed now.
        ("size=5;updated=10.000000", "size=5;updated=10.000300;generation=7", True),
        ("size=5;updated=10.000000;generation=7", "size=5;updated=11.000000;generation=8", False),
        ("size=5;updated=10.000000", "size=6;updated=10.000000", False),
        ("generation=7", "generation=7", True),
        ("generation=7", "size=5;updated=10.000000", False),  # nothing identifying in common
        ("size=5", "size=5", False),  # a size alone names no version
        ("", "", False),
        ("size=x;updated=10", "size=x;updated=10", False),
    ],
)
def test_same_version(earlier, now, same):
    assert fingerprint.same_version(earlier, now) is same
    assert fingerprint.same_version(now, earlier) is same


def test_which_files_hold_the_history(tmp_path):
    names = [
        "embeddings-00000-of-00001.tfrecord",  # before runs had ids: no fingerprints, left out
        "embeddings-nightly-3-00000-of-00002.tfrecord",  # a run id with a dash, no index
        "embeddings-nightly-3-00001-of-00002.tfrecord",
        "embeddings-20261126T055939.123Z-00000-of-00001.tfrecord",
        "index-20261126T055939.123Z-00000-of-00001.jsonl.gz",
        "failures-nightly-3-00000-of-00001.jsonl",
        "embeddings-p-00000-of-00001.parquet",  # no index, Parquet only
        "embeddings-both-00000-of-00001.parquet",  # no index, both formats: Parquet is read
        "embeddings-both-00000-of-00001.tfrecord",
        "embeddings-20261126T055939.123Z-00000-of-00001.parquet",  # indexed
    ]
    for name in names:
        (tmp_path / name).write_bytes(b"")
    files = history_files(str(tmp_path))
    assert [os.path.basename(path) for path in files.indexes] == [names[4]]
    assert [os.path.basename(path) for path in files.tfrecords] == names[1:3]
    assert sorted(os.path.basename(path) for path in files.parquet) == sorted(names[6:8])
    assert files.unindexed_runs == ["both", "nightly-3", "p"]
