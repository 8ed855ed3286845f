"""WriteEmbeddings and WriteFailures: the job's file outputs, one record per image."""

from __future__ import annotations

import dataclasses

import apache_beam as beam
from apache_beam.io.filesystems import FileSystems
from apache_beam.metrics import Metrics

from transforms.example import embedding_example
from transforms.reasons import REASONS
from transforms.records import METRICS_NAMESPACE, STAGES, Embedding, Failure

# Counter name prefixes, read back by the run summary.
FAILED_STAGE = "failed_stage_"
FAILED_REASON = "failed_reason_"

EMBEDDINGS_PREFIX = "embeddings"
FAILURES_PREFIX = "failures"


class _EncodeFn(beam.DoFn):
    def __init__(self, model: str):
        self._model = model
        self._embedded = Metrics.counter(METRICS_NAMESPACE, "embedded")

    def process(self, embedding: Embedding):
        self._embedded.inc()
        yield embedding_example(embedding.uri, embedding.vector, self._model)


class _FailureJsonFn(beam.DoFn):
    def __init__(self):
        self._failed = Metrics.counter(METRICS_NAMESPACE, "failed")
        self._by_stage = {
            stage: Metrics.counter(METRICS_NAMESPACE, f"{FAILED_STAGE}{stage}") for stage in STAGES
        }
        self._by_reason = {
            reason: Metrics.counter(METRICS_NAMESPACE, f"{FAILED_REASON}{reason}")
            for reason in REASONS
        }

    def process(self, failure: Failure):
        self._failed.inc()
        self._by_stage[failure.stage].inc()
        self._by_reason[failure.reason].inc()
        yield failure.to_json()


@dataclasses.dataclass
class WriteEmbeddings(beam.PTransform):
    """`embeddings-SSSSS-of-NNNNN.tfrecord` under `output`, one tf.train.Example per image."""

    output: str
    model: str

    def __post_init__(self):
        super().__init__()

    def expand(self, embeddings):
        return (
            embeddings
            | "EncodeExamples" >> beam.ParDo(_EncodeFn(self.model))
            | "WriteTFRecords"
            >> beam.io.WriteToTFRecord(
                FileSystems.join(self.output, EMBEDDINGS_PREFIX), file_name_suffix=".tfrecord"
            )
        )


@dataclasses.dataclass
class WriteFailures(beam.PTransform):
    """`failures-SSSSS-of-NNNNN.jsonl` under `output`, one JSON object per failed image."""

    output: str

    def __post_init__(self):
        super().__init__()

    def expand(self, failures):
        return (
            failures
            | "FailuresToJson" >> beam.ParDo(_FailureJsonFn())
            | "WriteJsonLines"
            >> beam.io.WriteToText(
                FileSystems.join(self.output, FAILURES_PREFIX), file_name_suffix=".jsonl"
            )
        )
