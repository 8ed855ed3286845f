"""WriteEmbeddings and WriteFailures: the job's file outputs, one record per image."""

from __future__ import annotations

import dataclasses
import enum
import time

import apache_beam as beam
from apache_beam.io.filesystems import FileSystems
from apache_beam.metrics import Metrics
from apache_beam.transforms.window import GlobalWindows

from transforms.counters import count
from transforms.example import ExampleEncoder
from transforms.index import INDEX_PREFIX, IndexRow, WriteIndex
from transforms.parquet import StampedEmbedding, WriteParquet
from transforms.reasons import REASONS
from transforms.records import METRICS_NAMESPACE, STAGES, Embedding, Failure
from transforms.tfrecord_sink import WriteTFRecords

# Counter name prefixes, read back by the run summary.
FAILED_STAGE = "failed_stage_"
FAILED_REASON = "failed_reason_"

EMBEDDINGS_PREFIX = "embeddings"
EMBEDDINGS_SUFFIX = ".tfrecord"
FAILURES_PREFIX = "failures"
# Tags of the encoder's index lines and Parquet rows.
INDEX = "index"
PARQUET_ROWS = "parquet_rows"
# Index lines travel in blocks of up to this many lines, joined by newlines: the index is written
# in a stage of its own once the vectors are (transforms/index.py), and every element that
# crosses to that stage costs about what a line of it does.
INDEX_BLOCK = 1000


class OutputFormat(enum.StrEnum):
    """Which files hold the vectors; every run also writes its index and failures."""

    TFRECORD = "tfrecord"
    PARQUET = "parquet"
    BOTH = "both"

    @property
    def tfrecord(self) -> bool:
        return self is not OutputFormat.PARQUET

    @property
    def parquet(self) -> bool:
        return self is not OutputFormat.TFRECORD


def run_prefix(output: str, kind: str, run: str) -> str:
    """`OUTPUT/KIND-RUN`: every file a run writes carries its run id, so runs never collide."""
    return FileSystems.join(output, f"{kind}-{run}")


class _EncodeFn(beam.DoFn):
    """Stamps each embedding once, so that its TFRecord, its Parquet row and its index line
    carry the same `embedded_at`. Index lines leave in blocks (INDEX_BLOCK), the last of each
    bundle in the global window, where the index is written."""

    def __init__(self, model: str, run: str, output_format: OutputFormat):
        self._run = run
        self._examples = ExampleEncoder(model, run) if output_format.tfrecord else None
        self._parquet = output_format.parquet

    def start_bundle(self):
        self._lines: list[str] = []

    def finish_bundle(self):
        if self._lines:
            yield beam.pvalue.TaggedOutput(INDEX, GlobalWindows.windowed_value(self._block()))

    def _block(self) -> str:
        """The lines gathered so far, as one element; the next block starts empty."""
        block, self._lines = "\n".join(self._lines), []
        return block

    def process(self, embedding: Embedding):
        count("embedded")
        embedded_at = time.time_ns() // 1000
        if self._examples:
            yield self._examples.encode(
                embedding.uri, embedding.vector, embedding.fingerprint, embedded_at
            )
        if self._parquet:
            stamped = StampedEmbedding(
                embedding.uri, embedding.vector, embedding.fingerprint, embedded_at
            )
            yield beam.pvalue.TaggedOutput(PARQUET_ROWS, stamped)
        row = IndexRow(embedding.uri, embedding.fingerprint, embedded_at, self._run)
        self._lines.append(row.to_json())
        if len(self._lines) == INDEX_BLOCK:
            yield beam.pvalue.TaggedOutput(INDEX, self._block())


class _FailureJsonFn(beam.DoFn):
    def __init__(self):
        self._by_stage = {
            stage: Metrics.counter(METRICS_NAMESPACE, f"{FAILED_STAGE}{stage}") for stage in STAGES
        }
        self._by_reason = {
            reason: Metrics.counter(METRICS_NAMESPACE, f"{FAILED_REASON}{reason}")
            for reason in REASONS
        }

    def process(self, failure: Failure):
        count("failed")
        self._by_stage[failure.stage].inc()
        self._by_reason[failure.reason].inc()
        yield failure.to_json()


@dataclasses.dataclass
class WriteEmbeddings(beam.PTransform):
    """`embeddings-RUN-SSSSS-of-NNNNN.tfrecord` (one tf.train.Example per image) and/or
    `embeddings-RUN-SSSSS-of-NNNNN.parquet` (transforms/parquet.py) under `output`, then the
    run's index of them (transforms/index.py). Outputs the embedding files' names.

    vector_width: floats per vector, which the Parquet schema fixes before the first one is made.
    """

    output: str
    model: str
    run: str
    output_format: OutputFormat = OutputFormat.TFRECORD
    vector_width: int | None = None

    def __post_init__(self):
        super().__init__()
        if self.output_format.parquet and not self.vector_width:
            raise ValueError("Parquet output needs the vector width")

    def expand(self, embeddings):
        encoded = embeddings | "EncodeExamples" >> beam.ParDo(
            _EncodeFn(self.model, self.run, self.output_format)
        ).with_outputs(INDEX, PARQUET_ROWS, main="examples")
        prefix = run_prefix(self.output, EMBEDDINGS_PREFIX, self.run)
        written = []
        if self.output_format.tfrecord:
            written.append(
                encoded.examples | "WriteTFRecords" >> WriteTFRecords(prefix, EMBEDDINGS_SUFFIX)
            )
        if self.output_format.parquet:
            written.append(
                encoded[PARQUET_ROWS]
                | "WriteParquet" >> WriteParquet(prefix, self.model, self.run, self.vector_width)
            )
        files = written[0] if len(written) == 1 else written | "AllWritten" >> beam.Flatten()
        _ = encoded[INDEX] | "WriteIndex" >> WriteIndex(
            run_prefix(self.output, INDEX_PREFIX, self.run), files
        )
        return files


@dataclasses.dataclass
class WriteFailures(beam.PTransform):
    """`failures-RUN-SSSSS-of-NNNNN.jsonl` under `output`, one JSON object per failed image."""

    output: str
    run: str

    def __post_init__(self):
        super().__init__()

    def expand(self, failures):
        return (
            failures
            | "FailuresToJson" >> beam.ParDo(_FailureJsonFn())
            | "WriteJsonLines"
            >> beam.io.WriteToText(
                run_prefix(self.output, FAILURES_PREFIX, self.run), file_name_suffix=".jsonl"
            )
        )
