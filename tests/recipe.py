"""EfficientNet's evaluation preprocessing, written for the tests from the reference alone."""

from __future__ import annotations

import numpy as np
import tensorflow as tf


def reference_eval(upright: np.ndarray, size: int, crop: bool = True) -> np.ndarray:
    """EfficientNet's evaluation crop written from the reference, resized with TensorFlow."""
    height, width = upright.shape[:2]
    if crop:
        side = int((size / (size + 32)) * min(height, width))
        top, left = ((height - side) + 1) // 2, ((width - side) + 1) // 2
        upright = upright[top : top + side, left : left + side]
    resized = tf.image.resize(
        upright[None].astype(np.float32), [size, size], "bicubic", antialias=True
    )
    return np.clip(resized.numpy()[0], 0, 255)
