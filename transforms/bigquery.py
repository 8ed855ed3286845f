"""WriteEmbeddingsToBigQuery: one row per image, in the shape BigQuery VECTOR_SEARCH reads."""

from __future__ import annotations

import dataclasses
import datetime
import enum
import re
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

# PROJECT:DATASET.TABLE or PROJECT.DATASET.TABLE; a project may be domain-scoped (example.com:p).
_TABLE = re.compile(
    r"^(?P<project>(?:[a-z0-9-]+(?:\.[a-z0-9-]+)+:)?[a-z][a-z0-9-]*)"
    r"[:.](?P<dataset>\w+)\.(?P<table>[\w-]+)$"
)


class Method(enum.StrEnum):
    FILE_LOADS = "file_loads"  # load jobs from files under --temp_location (batch default)
    STREAMING_INSERTS = "streaming_inserts"


def parse_table(text: str) -> str:
    """Normalizes a table name to PROJECT:DATASET.TABLE; ValueError says what is wrong."""
    match = _TABLE.match(text)
    if not match:
        raise ValueError(
            f"{text!r} is not a BigQuery table name; write PROJECT:DATASET.TABLE or "
            "PROJECT.DATASET.TABLE (dataset: letters, digits, underscores)"
        )
    return f"{match['project']}:{match['dataset']}.{match['table']}"


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
