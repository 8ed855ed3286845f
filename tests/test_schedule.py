"""Runs on a schedule: each run into the same folder embeds only what is new or changed."""

from __future__ import annotations

import collections
import os

import numpy as np
import pytest
import tensorflow as tf
from PIL import Image

from tests import models
from tests.job import latest_per_uri, read_failures, read_records, read_summary, run_job
from tests.photos import photos
from transforms.fingerprint import stat
from transforms.history import MatchedFile, choose

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


@pytest.mark.parametrize(
    ("earlier", "once", "expected"),
    [
        ([], True, (["a@1"], 0)),
        (["a@1"], True, ([], 1)),
        (["a@0", "a@2"], True, (["a@1"], 0)),  # changed since every earlier record
        (["a@0", "a@1"], True, ([], 1)),  # an older record of the same version counts
        ([""], True, (["a@1"], 0)),  # a record without fingerprint never matches
    ],
)
def test_choose(earlier, once, expected):
    matched = [MatchedFile("a", "a@1"), MatchedFile("a", "a@1")]
    new, skipped = choose(matched, earlier, once)
    assert ([m.fingerprint for m in new], skipped) == expected


def test_unknown_fingerprint_is_never_skipped():
    new, skipped = choose([MatchedFile("a", "")], [""], once_per_uri=True)
    assert (len(new), skipped) == (1, 0)


def test_several_records_of_one_uri_are_each_kept_or_skipped():
    matched = [MatchedFile("f#k", "v1"), MatchedFile("f#k", "v1")]
    assert choose(matched, ["v0"], once_per_uri=False) == (matched, 0)
    assert choose(matched, ["v1"], once_per_uri=False) == ([], 2)
