"""Checks made before launch, so that a job with a bad flag never starts."""

from __future__ import annotations

import logging
import os
from collections.abc import Sequence

from apache_beam.io.filesystems import FileSystems

from pipeline.options import UsageError
from transforms import signature
from transforms.preprocess import DEFAULT_IMAGE_SIZE

logger = logging.getLogger(__name__)

# Written by `pipeline.export_model --weights none` into the SavedModel folder.
UNTRAINED_MARKER = os.path.join("assets.extra", "UNTRAINED")

EXPORT_HINT = (
    "Without network access, export EfficientNet-B4 locally and pass its folder: "
    "python -m pipeline.export_model --out models/b4 --weights none (untrained, for trials) "
    "and then --model_handle models/b4"
)


def check_inputs(patterns: Sequence[str]) -> None:
    """Every --input must match at least one file (one listed object is enough to know)."""
    for pattern in patterns:
        try:
            result = FileSystems.match([pattern], limits=[1])[0]
        except Exception as exc:  # noqa: BLE001 - any filesystem error is reported the same way
            raise UsageError(f"--input {pattern!r} cannot be listed: {exc}") from exc
        if not result.metadata_list:
            raise UsageError(f"--input {pattern!r} matches no file; check the path and the glob")


def model_image_size(handle: str, override: int | None) -> int:
    """The model's input side: --image_size, else what the module declares, else 380.

    Resolving the handle here (downloading it where it is a URL) also proves it loads before any
    worker starts; only the graph definition is read, not the weights.
    """
    import tensorflow as tf
    import tensorflow_hub as hub

    try:
        path = hub.resolve(handle)
        choice = signature.of_saved_model(path)
    except Exception as exc:  # noqa: BLE001 - unreachable URL, missing folder, not a SavedModel
        raise UsageError(
            f"--model_handle {handle!r} cannot be used: {type(exc).__name__}: {exc}. {EXPORT_HINT}"
        ) from exc
    if tf.io.gfile.exists(os.path.join(path, UNTRAINED_MARKER)):
        logger.warning("%s holds UNTRAINED weights: its vectors have no meaning", handle)
    if override is not None:
        return override
    if choice.image_size is None:
        return DEFAULT_IMAGE_SIZE
    height, width = choice.image_size
    if height != width:
        raise UsageError(
            f"--model_handle {handle!r} takes {height}x{width} images; only square "
            "inputs are supported"
        )
    return height
