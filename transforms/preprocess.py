"""EfficientNet's evaluation preprocessing on a decoded Pillow image.

The recipe (tensorflow/tpu `models/official/efficientnet/preprocessing.py`,
`_decode_and_center_crop`) takes a centred square whose side is `image_size / (image_size + 32)`
of the shorter edge, resizes it bicubically to `image_size` and scales to [0, 1]. The last step
happens on the model side, so that images travel between stages as uint8.
"""

from __future__ import annotations

import enum

import numpy as np
from PIL import Image

CROP_PADDING = 32
DEFAULT_IMAGE_SIZE = 380


class Resize(enum.StrEnum):
    CENTER_CROP = "center_crop"  # the evaluation recipe (default)
    FULL_FRAME = "full_frame"  # the whole image squeezed to a square, nothing cut off


def center_crop_box(width: int, height: int, image_size: int) -> tuple[int, int, int, int]:
    """The (left, top, right, bottom) box of the evaluation crop, as the reference computes it."""
    side = int(image_size / (image_size + CROP_PADDING) * min(width, height))
    side = max(side, 1)
    top = (height - side + 1) // 2
    left = (width - side + 1) // 2
    return left, top, left + side, top + side


def resize_box(
    width: int, height: int, image_size: int, resize: Resize
) -> tuple[int, int, int, int]:
    if resize is Resize.CENTER_CROP:
        return center_crop_box(width, height, image_size)
    return 0, 0, width, height


def to_model_input(
    image: Image.Image,
    image_size: int,
    resize: Resize,
    full_size: tuple[int, int] | None = None,
) -> np.ndarray:
    """Crops (or not) and resizes an RGB image; returns uint8 of shape (image_size, image_size, 3).

    `full_size` is the (width, height) of the image before a JPEG was decoded scaled down: the
    crop is computed there, as the reference does, and mapped onto the smaller image with
    sub-pixel precision, so that a scaled decode crops exactly the same region.
    """
    full_width, full_height = full_size or image.size
    box = resize_box(full_width, full_height, image_size, resize)
    scale_x, scale_y = image.width / full_width, image.height / full_height
    box = (box[0] * scale_x, box[1] * scale_y, box[2] * scale_x, box[3] * scale_y)
    resized = image.resize((image_size, image_size), Image.Resampling.BICUBIC, box=box)
    return np.asarray(resized, dtype=np.uint8)
