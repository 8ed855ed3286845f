"""Runs the job through its command line and reads its outputs back the way README shows."""

from __future__ import annotations

import glob
import json
import os

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import tensorflow as tf

from pipeline.run import main

# Two DirectRunner worker processes: what Dataflow's separate workers look like, locally.
MULTI_PROCESSING = ["--direct_running_mode=multi_processing", "--direct_num_workers=2"]


def run_job(*args: str) -> int:
    """The command line, in this process: `python -m pipeline.run ARGS`."""
    return main(list(args))


SPEC = {
    "uri": tf.io.FixedLenFeature([], tf.string),
    "embedding": tf.io.VarLenFeature(tf.float32),
    "model": tf.io.FixedLenFeature([], tf.string),
    "fingerprint": tf.io.FixedLenFeature([], tf.string),
    "embedded_at": tf.io.FixedLenFeature([], tf.int64),
    "run": tf.io.FixedLenFeature([], tf.string),
}


def read_records(output: str) -> list[dict]:
    """Every embedding record of every run in `output`, read with tf.data as README shows."""
    files = sorted(glob.glob(os.path.join(output, "embeddings-*.tfrecord")))
    assert files, f"no embeddings-*.tfrecord in {output}"
    records = []
    for record in tf.data.TFRecordDataset(files).map(lambda r: tf.io.parse_single_example(r, SPEC)):
        records.append(
            {
                "uri": record["uri"].numpy().decode(),
                "embedding": tf.sparse.to_dense(record["embedding"]).numpy(),
                "model": record["model"].numpy().decode(),
                "fingerprint": record["fingerprint"].numpy().decode(),
                "embedded_at": int(record["embedded_at"].numpy()),
                "run": record["run"].numpy().decode(),
            }
        )
    return records


def read_parquet_records(output: str) -> list[dict]:
    """Every row of every `embeddings-*.parquet` in `output`, read with pyarrow, in the shape
    read_records gives (`embedded_at` as microseconds)."""
    files = sorted(glob.glob(os.path.join(output, "embeddings-*.parquet")))
    assert files, f"no embeddings-*.parquet in {output}"
    table = pa.concat_tables([pq.read_table(path) for path in files])
    stamps = table.column("embedded_at").cast(pa.int64()).to_pylist()
    records = []
    for row, embedded_at in zip(table.to_pylist(), stamps, strict=True):
        row["embedding"] = np.asarray(row["embedding"], dtype=np.float32)
        row["embedded_at"] = embedded_at
        records.append(row)
    return records


def read_embeddings(output: str) -> dict[str, dict]:
    """uri -> its record, where the folder holds one run's records (each URI once)."""
    records: dict[str, dict] = {}
    for record in read_records(output):
        assert record["uri"] not in records, f"{record['uri']} written twice"
        records[record["uri"]] = record
    return records


def latest_per_uri(records: list[dict]) -> dict[str, dict]:
    """uri -> its latest record (by embedded_at), as README reads a folder of several runs."""
    latest: dict[str, dict] = {}
    for record in sorted(records, key=lambda record: record["embedded_at"]):
        latest[record["uri"]] = record
    return latest


def read_failures(output: str, run: str = "*") -> dict[str, dict]:
    """uri -> its failure record, of one run (or of all, where each failed once)."""
    failures: dict[str, dict] = {}
    for path in sorted(glob.glob(os.path.join(output, f"failures-{run}-*.jsonl"))):
        with open(path, encoding="utf-8") as handle:
            for line in handle:
                failure = json.loads(line)
                assert failure["uri"] not in failures, f"{failure['uri']} failed twice"
                failures[failure["uri"]] = failure
    return failures


def read_summary(output: str) -> dict:
    with open(os.path.join(output, "summary.json"), encoding="utf-8") as handle:
        return json.load(handle)
