"""WriteEmbeddingsToBigQuery: one row per image, in the shape BigQuery VECTOR_SEARCH reads."""

from __future__ import annotations

import dataclasses
import datetime
import enum
from typing import Any

import apache_beam as beam
from apache_beam.io.gcp.bigquery import BigQueryDisposition, WriteToBigQuery

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


def to_row(embedding: Embedding, model: str, embedded_at: str) -> dict[str, Any]:
    return {
        "uri": embedding.uri,
        "embedding": embedding.vector.astype(float).tolist(),
        "model": model,
        "embedded_at": embedded_at,
    }


def now() -> str:
    return datetime.datetime.now(datetime.UTC).isoformat()


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
            | "ToRows" >> beam.Map(lambda e, model: to_row(e, model, now()), self.model)
            | "WriteToBigQuery"
            >> WriteToBigQuery(
                parse_table(self.table),
                schema=SCHEMA,
                create_disposition=BigQueryDisposition.CREATE_IF_NEEDED,
                write_disposition=BigQueryDisposition.WRITE_APPEND,
                method=self.method.upper(),
            )
        )
