"""Embeddings as Parquet, for pandas, DuckDB, Spark, FAISS and BigQuery loads: the fields of the
TFRecord output as columns, `embedding` a fixed-size list of float32, built a batch at a time
(the vectors of a batch are one NumPy copy, not a Python float per value)."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator, Sequence
from typing import NamedTuple

import apache_beam as beam
import numpy as np
import pyarrow as pa

PARQUET_SUFFIX = ".parquet"
# Rows per Arrow table handed to the sink; each table becomes at least one row group
# (about 7 MB of B4 vectors at 1000).
MAX_ROWS_PER_TABLE = 1000
MIN_ROWS_PER_TABLE = 100
# Snappy for the text columns; none for the vectors, whose float bits it shrinks by about 1%
# while reading them back takes 1.65x as long (benchmarks/report.py's notes).
UNCOMPRESSED_COLUMNS = frozenset({"embedding"})


class StampedEmbedding(NamedTuple):
    """An embedding with the time it was written, as both output formats record it."""

    uri: str
    vector: np.ndarray
    fingerprint: str
    embedded_at: int  # microseconds since the epoch, UTC


def embeddings_schema(width: int) -> pa.Schema:
    """Columns of `embeddings-RUN-SSSSS-of-NNNNN.parquet`."""
    return pa.schema(
        [
            pa.field("uri", pa.string(), nullable=False),
            pa.field("embedding", pa.list_(pa.float32(), width), nullable=False),
            pa.field("model", pa.string(), nullable=False),
            pa.field("fingerprint", pa.string(), nullable=False),
            pa.field("embedded_at", pa.timestamp("us", tz="UTC"), nullable=False),
            pa.field("run", pa.string(), nullable=False),
        ]
    )


def embeddings_table(
    rows: Sequence[StampedEmbedding], model: str, run: str, schema: pa.Schema
) -> pa.Table:
    """One Arrow table of `rows`; ValueError if a vector is not of the schema's width."""
    width = schema.field("embedding").type.list_size
    vectors = np.stack([np.asarray(row.vector, dtype=np.float32).reshape(-1) for row in rows])
    if vectors.shape[1] != width:
        raise ValueError(f"the model gave {vectors.shape[1]} floats per image, not {width}")
    count = len(rows)
    columns = [
        pa.array([row.uri for row in rows], pa.string()),
        pa.FixedSizeListArray.from_arrays(pa.array(vectors.reshape(-1)), width),
        pa.array([model] * count, pa.string()),
        pa.array([row.fingerprint for row in rows], pa.string()),
        pa.array([row.embedded_at for row in rows], pa.timestamp("us", tz="UTC")),
        pa.array([run] * count, pa.string()),
    ]
    return pa.Table.from_arrays(columns, schema=schema)


def table_rows(table: pa.Table, *names: str) -> Iterator[tuple]:
    """The values of columns `names` of an embeddings table, row by row; `embedded_at` as
    microseconds since the epoch, as the TFRecords and the index hold it."""
    columns = [
        (table.column(name).cast(pa.int64()) if name == "embedded_at" else table.column(name))
        for name in names
    ]
    return zip(*(column.to_pylist() for column in columns), strict=True)


def compression(schema: pa.Schema) -> dict[str, str]:
    """Each column's codec, as pyarrow's ParquetWriter takes them."""
    return {name: "none" if name in UNCOMPRESSED_COLUMNS else "snappy" for name in schema.names}


@dataclasses.dataclass
class WriteParquet(beam.PTransform):
    """StampedEmbedding -> `prefix-SSSSS-of-NNNNN.parquet` through Beam's Parquet sink. Outputs
    the names of the files written."""

    prefix: str
    model: str
    run: str
    width: int

    def __post_init__(self):
        super().__init__()

    def expand(self, rows):
        schema = embeddings_schema(self.width)
        model, run = self.model, self.run
        return (
            rows
            | "BatchRows"
            >> beam.BatchElements(
                min_batch_size=MIN_ROWS_PER_TABLE, max_batch_size=MAX_ROWS_PER_TABLE
            )
            | "ToArrowTables" >> beam.Map(lambda batch: embeddings_table(batch, model, run, schema))
            | "WriteParquetFiles"
            >> beam.io.WriteToParquetBatched(
                self.prefix, schema, codec=compression(schema), file_name_suffix=PARQUET_SUFFIX
            )
        )
