"""WriteEmbeddings and WriteFailures: the job's file outputs, one record per image."""

from __future__ import annotations

import dataclasses
import time

import apache_beam as beam
from apache_beam.io.filesystems import FileSystems
from apache_beam.metrics import Metrics

from transforms.counters import count
from transforms.example import embedding_example
from transforms.index import INDEX_PREFIX, IndexRow, WriteIndex
from transforms.reasons import REASONS
from transforms.records import METRICS_NAMESPACE, STAGES, Embedding, Failure

# Counter name prefixes, read back by the run summary.
FAILED_STAGE = "failed_stage_"
FAILED_REASON = "failed_reason_"

EMBEDDINGS_PREFIX = "embeddings"
EMBEDDINGS_SUFFIX = ".tfrecord"
FAILURES_PREFIX = "failures"
# Tag of the encoder's index rows.
INDEX = "index"


def run_prefix(output: str, kind: str, run: str) -> str:
    """`OUTPUT/KIND-RUN`: every file a run writes carries its run id, so runs never collide."""
    return FileSystems.join(output, f"{kind}-{run}")


class _EncodeFn(beam.DoFn):
    def __init__(self, model: str, run: str):
        self._model = model
        self._run = run

    def process(self, embedding: Embedding):
        count("embedded")
        embedded_at = time.time_ns() // 1000
        yield embedding_example(
            embedding.uri,
            embedding.vector,
            self._model,
            fingerprint=embedding.fingerprint,
            embedded_at=embedded_at,
            run=self._run,
        )
        row = IndexRow(embedding.uri, embedding.fingerprint, embedded_at, self._run)
        yield beam.pvalue.TaggedOutput(INDEX, row.to_json())


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
    """`embeddings-RUN-SSSSS-of-NNNNN.tfrecord` under `output`, one tf.train.Example per image,
    then the run's index of them (transforms/index.py). Outputs the embedding files' names."""

    output: str
    model: str
    run: str

    def __post_init__(self):
        super().__init__()

    def expand(self, embeddings):
        encoded = embeddings | "EncodeExamples" >> beam.ParDo(
            _EncodeFn(self.model, self.run)
        ).with_outputs(INDEX, main="examples")
        written = encoded.examples | "WriteTFRecords" >> beam.io.WriteToTFRecord(
            run_prefix(self.output, EMBEDDINGS_PREFIX, self.run), file_name_suffix=EMBEDDINGS_SUFFIX
        )
        _ = encoded[INDEX] | "WriteIndex" >> WriteIndex(
            run_prefix(self.output, INDEX_PREFIX, self.run), written
        )
        return written


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
