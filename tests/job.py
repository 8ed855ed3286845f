"""Runs the job through its command line and reads its outputs back the way README shows."""

from __future__ import annotations

import glob
import json
import os

import tensorflow as tf

from pipeline.run import main

# Two DirectRunner worker processes: what Dataflow's separate workers look like, locally.
MULTI_PROCESSING = ["--direct_running_mode=multi_processing", "--direct_num_workers=2"]


def run_job(*args: str) -> int:
    """The command line, in this process: `python -m pipeline.run ARGS`."""
    return main(list(args))


def read_embeddings(output: str) -> dict[str, dict]:
    """uri -> {'embedding': float32 array, 'model': str}, read with tf.data as README shows."""
    spec = {
        "uri": tf.io.FixedLenFeature([], tf.string),
        "embedding": tf.io.VarLenFeature(tf.float32),
        "model": tf.io.FixedLenFeature([], tf.string),
    }
    files = sorted(glob.glob(os.path.join(output, "embeddings-*.tfrecord")))
    assert files, f"no embeddings-*.tfrecord in {output}"
    records: dict[str, dict] = {}
    for record in tf.data.TFRecordDataset(files).map(lambda r: tf.io.parse_single_example(r, spec)):
        uri = record["uri"].numpy().decode()
        assert uri not in records, f"{uri} written twice"
        records[uri] = {
            "embedding": tf.sparse.to_dense(record["embedding"]).numpy(),
            "model": record["model"].numpy().decode(),
        }
    return records


def read_failures(output: str) -> dict[str, dict]:
    failures: dict[str, dict] = {}
    for path in sorted(glob.glob(os.path.join(output, "failures-*.jsonl"))):
        with open(path, encoding="utf-8") as handle:
            for line in handle:
                failure = json.loads(line)
                assert failure["uri"] not in failures, f"{failure['uri']} failed twice"
                failures[failure["uri"]] = failure
    return failures


def read_summary(output: str) -> dict:
    with open(os.path.join(output, "summary.json"), encoding="utf-8") as handle:
        return json.load(handle)
