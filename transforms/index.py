"""The index beside the vectors: `index-RUN-SSSSS-of-NNNNN.jsonl.gz`, one JSON line per embedded
image (`uri`, `fingerprint`, `embedded_at`, `run`), gzip-compressed.

It is all that `--skip_existing` reads of an earlier run: under 210 bytes per image before
compression, where the run's embedding record of a B4 vector is about 7.4 KB. A run writes its
index only after its embeddings are in place, so an index never names a vector that was not
written; a run that stopped in between leaves embeddings without an index, which a later run
reads instead.
"""

from __future__ import annotations

import dataclasses
import json
from typing import NamedTuple

import apache_beam as beam
from apache_beam.io.filesystems import FileSystems

INDEX_PREFIX = "index"
INDEX_SUFFIX = ".jsonl.gz"


class IndexRow(NamedTuple):
    uri: str
    fingerprint: str
    embedded_at: int  # microseconds since the epoch, UTC, as in the embedding record
    run: str

    def to_json(self) -> str:
        return json.dumps(self._asdict(), ensure_ascii=False)


def earlier_version(line: str) -> tuple[str, str]:
    """An index line -> (uri, fingerprint)."""
    row = json.loads(line)
    return row["uri"], row.get("fingerprint") or ""


@dataclasses.dataclass
class WriteIndex(beam.PTransform):
    """Writes index lines (IndexRow.to_json; an element may hold several, joined by newlines)
    to `prefix-SSSSS-of-NNNNN.jsonl.gz` once `written` (the file names a sink finalized) is
    complete."""

    prefix: str
    written: beam.PCollection

    def __post_init__(self):
        super().__init__()

    def expand(self, rows):
        done = self.written | "CountWritten" >> beam.combiners.Count.Globally()
        return (
            rows
            | "AfterVectors" >> beam.Map(lambda line, _: line, beam.pvalue.AsSingleton(done))
            | "WriteIndexLines" >> beam.io.WriteToText(self.prefix, file_name_suffix=INDEX_SUFFIX)
        )


class ReadIndexFiles(beam.PTransform):
    """Index file paths -> (uri, fingerprint) of every row."""

    def expand(self, paths):
        return (
            paths
            | "ReadIndexLines" >> beam.io.ReadAllFromText()
            | "IndexVersions" >> beam.Map(earlier_version)
        )


def index_pattern(output: str) -> str:
    return FileSystems.join(output, f"{INDEX_PREFIX}-*{INDEX_SUFFIX}")
