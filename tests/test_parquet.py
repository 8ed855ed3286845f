"""Parquet output: the same records as the TFRecords, read back the way README shows."""

from __future__ import annotations

import glob
import os

import duckdb
import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import tensorflow as tf

from tests import models
from tests.job import read_embeddings, read_parquet_records, read_summary, run_job
from transforms import signature
from transforms.parquet import StampedEmbedding, embeddings_schema, embeddings_table

SAMPLES = os.path.join(os.path.dirname(__file__), "..", "samples", "images")


def test_both_formats_hold_the_same_records(tiny_tf2, tmp_path):
    output = str(tmp_path / "out")
    args = ["--input", SAMPLES, "--output", output, "--model_handle", tiny_tf2]
    assert run_job(*args, "--output_format", "both", "--run_id", "both") == 0
    summary = read_summary(output)
    assert (summary["matched"], summary["embedded"], summary["failed"]) == (7, 6, 1)

    from_tfrecords = read_embeddings(output)
    rows = read_parquet_records(output)
    assert len(rows) == summary["embedded"]
    from_parquet = {row["uri"]: row for row in rows}
    assert set(from_parquet) == set(from_tfrecords)
    for uri, record in from_tfrecords.items():
        row = from_parquet[uri]
        np.testing.assert_array_equal(row["embedding"], record["embedding"])
        for field in ("model", "fingerprint", "embedded_at", "run"):
            assert row[field] == record[field], (uri, field)

    files = sorted(glob.glob(os.path.join(output, "embeddings-both-*-of-*.parquet")))
    assert files
    schema = pq.read_schema(files[0])
    assert schema.field("embedding").type == pa.list_(pa.float32(), models.TINY_DIM)
    assert schema.field("embedded_at").type == pa.timestamp("us", tz="UTC")

    # README's DuckDB query.
    found = duckdb.sql(
        f"SELECT uri, embedding FROM '{output}/embeddings-*.parquet' ORDER BY uri"
    ).fetchall()
    assert [uri for uri, _ in found] == sorted(from_tfrecords)
    np.testing.assert_array_equal(found[0][1], from_tfrecords[found[0][0]]["embedding"])


def test_parquet_alone_writes_no_tfrecords(tiny_tf1_hub, tmp_path):
    output = str(tmp_path / "out")
    args = ["--input", f"{SAMPLES}/c*", "--output", output, "--model_handle", tiny_tf1_hub]
    assert run_job(*args, "--output_format", "parquet") == 0
    assert not glob.glob(os.path.join(output, "*.tfrecord"))
    rows = read_parquet_records(output)
    assert sorted(row["uri"] for row in rows) == sorted(glob.glob(f"{SAMPLES}/c*"))
    for row in rows:
        np.testing.assert_allclose(row["embedding"], models.tiny_vector(row["uri"]), atol=1e-4)


def test_a_table_is_checked_against_its_schema():
    schema = embeddings_schema(3)
    rows = [StampedEmbedding("a", np.arange(3, dtype=np.float32), "size=1", 1_700_000_000_000_000)]
    table = embeddings_table(rows, "m", "r", schema)
    assert table.column("embedding").to_pylist() == [[0.0, 1.0, 2.0]]
    assert table.column("embedded_at").cast(pa.int64()).to_pylist() == [1_700_000_000_000_000]
    wide = [rows[0]._replace(vector=np.zeros(4, np.float32))]
    with pytest.raises(ValueError, match="4 floats per image, not 3"):
        embeddings_table(wide, "m", "r", schema)


def save_unknown_width(path: str) -> str:
    """A module whose output width depends on its input: nothing to declare before a run."""

    class Tiled(tf.Module):
        @tf.function(input_signature=[tf.TensorSpec([None, None, None, 3], tf.float32)])
        def __call__(self, images):
            means = tf.reduce_mean(images, axis=[1, 2])
            return tf.tile(means, [1, tf.shape(images)[1]])

    module = Tiled()
    tf.saved_model.save(
        module, path, signatures={"serving_default": module.__call__.get_concrete_function()}
    )
    return path


def test_declared_widths(tiny_tf2, tiny_tf1_hub, probe, tmp_path):
    callable_only = models.save_tiny_tf2(str(tmp_path / "callable"), callable_only=True)
    assert signature.declared_width(tiny_tf2) == models.TINY_DIM
    assert signature.declared_width(tiny_tf1_hub) == models.TINY_DIM
    assert signature.declared_width(callable_only) == models.TINY_DIM
    assert signature.declared_width(probe) == models.PROBE_GRID**2 * 3
    assert signature.declared_width(save_unknown_width(str(tmp_path / "tiled"))) is None


def test_parquet_from_a_module_without_a_declared_width_stops_before_launch(tmp_path, capsys):
    model = save_unknown_width(str(tmp_path / "tiled"))
    output = tmp_path / "out"
    args = ["--input", SAMPLES, "--output", str(output), "--model_handle", model]
    assert run_job(*args, "--output_format", "parquet") == 2
    error = capsys.readouterr().err
    assert "--output_format parquet needs the vector width" in error
    assert "--output_format tfrecord" in error
    assert not output.exists()
    assert run_job(*args, "--output_format", "tfrecord", "--quiet") == 0
