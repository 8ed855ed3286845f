"""WriteEmbeddingsToBigQuery: one row per image, in the shape BigQuery VECTOR_SEARCH reads."""

from __future__ import annotations

import dataclasses
import datetime
import enum
from typing import Any

import apache_beam as beam
from apache_beam.io.gcp.bigquery import BigQueryDisposition, WriteToBigQuery
from apache_beam.io.gcp.bigquery_tools import FileFormat

from transforms.records import Embedding

SCHEMA = {
    "fields": [
        {"name": "uri", "type": "STRING", "mode": "REQUIRED"},
        {"name": "embedding", "type": "FLOAT64", "mode": "REPEATED"},
        {"name": "model", "type": "STRING", "mode": "NULLABLE"},
        {"name": "embedded_at", "type": "TIMESTAMP", "mode": "NULLABLE"},
    ]
}


class Method(enum.StrEnum):
    FILE_LOADS = "file_loads"  # load jobs from files under --temp_location (batch default)
    STREAMING_INSERTS = "streaming_inserts"


def parse_table(text: str) -> str:
    """Normalizes PROJECT:DATASET.TABLE or PROJECT.DATASET.TABLE to the first form, with Beam's
    own parser; ValueError says what is wrong."""
    from apache_beam.io.gcp.bigquery_tools import parse_table_reference

    try:
        reference = parse_table_reference(text)
    except ValueError:
        reference = None
    if reference is None or not reference.projectId:
        raise ValueError(
            f"{text!r} is not a BigQuery table name; write PROJECT:DATASET.TABLE or "
            "PROJECT.DATASET.TABLE (dataset: letters, digits, underscores)"
        )
    return f"{reference.projectId}:{reference.datasetId}.{reference.tableId}"


def to_row(
    embedding: Embedding, model: str, embedded_at: datetime.datetime, method: Method
) -> dict[str, Any]:
    """A table row. Load jobs read it from an Avro file, which holds the timestamp as one; the
    JSON of streaming inserts holds it as text."""
    return {
        "uri": embedding.uri,
        "embedding": embedding.vector.astype(float).tolist(),
        "model": model,
        "embedded_at": embedded_at if method is Method.FILE_LOADS else embedded_at.isoformat(),
    }


def stamped_row(embedding: Embedding, model: str, method: Method) -> dict[str, Any]:
    """The row, stamped now."""
    return to_row(embedding, model, datetime.datetime.now(datetime.UTC), method)


@dataclasses.dataclass
class WriteEmbeddingsToBigQuery(beam.PTransform):
    """Appends to `table` (created if needed) with the schema above."""

    table: str
    model: str
    method: Method = Method.FILE_LOADS

    def __post_init__(self):
        super().__init__()

    def expand(self, embeddings):
        return (
            embeddings
            | "ToRows" >> beam.Map(stamped_row, self.model, self.method)
            | "WriteToBigQuery"
            >> WriteToBigQuery(
                parse_table(self.table),
                schema=SCHEMA,
                create_disposition=BigQueryDisposition.CREATE_IF_NEEDED,
                write_disposition=BigQueryDisposition.WRITE_APPEND,
                method=self.method.upper(),
                # Load files in Avro, not JSON: a row's 1,792 floats cost 0.22 instead of 1.04 ms
                # of CPU to write, the GIL held (benchmarks/bigquery_rows.py), and go as the
                # doubles themselves, in 14 KB instead of 37.
                temp_file_format=FileFormat.AVRO,
            )
        )
