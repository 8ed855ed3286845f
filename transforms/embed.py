"""EmbedImages: preprocessed images -> one feature vector each, through Beam's RunInference."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator

import apache_beam as beam
from apache_beam.ml.inference.base import KeyedModelHandler, RunInference

from transforms import reasons
from transforms.model import HubImageEmbedder
from transforms.records import FAILURES, Embedding, Failure, describe_error


def batch_failures(dead_letter: tuple) -> Iterator[Failure]:
    """One embed failure per image of a batch that the model could not run."""
    batch, (exc_type, _, formatted) = dead_letter
    # The last entry of a formatted traceback is "module.ExceptionClass: message".
    last = formatted[-1] if formatted else ""
    message = last.split(": ", 1)[1] if ": " in last else ""
    error = describe_error(exc_type.__name__, message)
    for (uri, _), _ in batch:
        yield Failure(uri, "embed", reasons.MODEL_ERROR, error)


@dataclasses.dataclass
class EmbedImages(beam.PTransform):
    """Outputs {'embeddings': Embedding, 'failures': Failure}; a batch that fails turns every
    image of it into a failure record, and the job goes on."""

    handler: HubImageEmbedder

    def __post_init__(self):
        super().__init__()

    def expand(self, images):
        # RunInference keeps each key beside its image; the key is the URI and its fingerprint.
        vectors, errors = (
            images
            | "Keyed" >> beam.Map(lambda image: ((image.uri, image.fingerprint), image.pixels))
            | "RunInference"
            >> RunInference(KeyedModelHandler(self.handler)).with_exception_handling()
        )
        return {
            "embeddings": vectors
            | "ToEmbedding" >> beam.MapTuple(lambda key, vector: Embedding(key[0], vector, key[1])),
            FAILURES: errors.failed_inferences | "BatchFailures" >> beam.FlatMap(batch_failures),
        }
