"""The records that flow between stages, and the failure value every stage can emit."""

from __future__ import annotations

import json
from typing import NamedTuple

import numpy as np

from transforms.reasons import classify

# Every metric of the job lives under this namespace; the run summary reads it back.
METRICS_NAMESPACE = "embeddings"

# Tag of the failure output of every stage that can fail on one element.
FAILURES = "failures"

STAGES = ("read", "decode", "embed")


class MatchedFile(NamedTuple):
    """A file a glob or a manifest names, not read yet, with the fingerprint of its version
    ("" where it is not known)."""

    uri: str
    fingerprint: str


class ImageFile(NamedTuple):
    """The raw bytes of one matched file, and the fingerprint of the version read."""

    uri: str
    data: bytes
    fingerprint: str = ""  # see transforms/history.py; "" where unknown


class DecodedImage(NamedTuple):
    """A preprocessed image, uint8 of shape (size, size, 3); the model side scales to [0, 1]."""

    uri: str
    pixels: np.ndarray
    fingerprint: str = ""


class Embedding(NamedTuple):
    """One feature vector (float32) for one image."""

    uri: str
    vector: np.ndarray
    fingerprint: str = ""


# Long enough for TensorFlow's multi-line errors, short enough for a log line.
MAX_ERROR_CHARS = 2000


def describe_error(exception_name: str, message: str) -> str:
    """'ExceptionClass: message' on one line, whitespace collapsed, at most MAX_ERROR_CHARS."""
    text = " ".join(message.split())
    described = f"{exception_name}: {text}" if text else exception_name
    return described[:MAX_ERROR_CHARS]


class Failure(NamedTuple):
    """An image that could not be embedded, the stage that gave up on it, and why."""

    uri: str
    stage: str  # read | decode | embed
    reason: str  # a word from transforms/reasons.py
    error: str  # "ExceptionClass: message"

    @classmethod
    def from_exception(cls, uri: str, stage: str, exc: BaseException) -> Failure:
        return cls(uri, stage, classify(stage, exc), describe_error(type(exc).__name__, str(exc)))

    def to_json(self) -> str:
        return json.dumps(self._asdict(), ensure_ascii=False)
