"""Why an image failed, as a short stable word: what `failures-*.jsonl`, the job's counters and
`summary.json` group failures by. The full exception stays in the record's `error`."""

from __future__ import annotations

NOT_FOUND = "not_found"
PERMISSION_DENIED = "permission_denied"
READ_ERROR = "read_error"  # any other read problem, after retries where it was transient
BAD_MANIFEST_ROW = "bad_manifest_row"
NOT_AN_EXAMPLE = "not_an_example"
MISSING_FEATURE = "missing_feature"
EMPTY_FILE = "empty_file"
NOT_AN_IMAGE = "not_an_image"
TRUNCATED = "truncated"
TOO_MANY_PIXELS = "too_many_pixels"
DECODE_ERROR = "decode_error"  # any other decode problem
MODEL_ERROR = "model_error"

REASONS = (
    NOT_FOUND,
    PERMISSION_DENIED,
    READ_ERROR,
    BAD_MANIFEST_ROW,
    NOT_AN_EXAMPLE,
    MISSING_FEATURE,
    EMPTY_FILE,
    NOT_AN_IMAGE,
    TRUNCATED,
    TOO_MANY_PIXELS,
    DECODE_ERROR,
    MODEL_ERROR,
)


class PixelBudgetError(ValueError):
    """An image whose header declares more pixels than the job will decode."""


class EmptyFileError(ValueError):
    """A file of zero bytes."""


def classify(stage: str, exc: BaseException) -> str:
    """The reason for an exception raised at `stage`."""
    from PIL import Image, UnidentifiedImageError

    name = type(exc).__name__
    message = str(exc).lower()
    if stage == "read":
        if isinstance(exc, FileNotFoundError) or name == "NotFound" or "not found" in message:
            return NOT_FOUND
        if isinstance(exc, PermissionError) or name in ("Forbidden", "Unauthorized"):
            return PERMISSION_DENIED
        return READ_ERROR
    if stage == "decode":
        if isinstance(exc, PixelBudgetError | Image.DecompressionBombError):
            return TOO_MANY_PIXELS
        if isinstance(exc, EmptyFileError):
            return EMPTY_FILE
        if isinstance(exc, UnidentifiedImageError):
            return NOT_AN_IMAGE
        if "truncated" in message or "broken data stream" in message:
            return TRUNCATED
        return DECODE_ERROR
    return MODEL_ERROR
