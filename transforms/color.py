"""Every Pillow image mode to 8-bit RGB, one documented rule per kind of mode.

| modes | rule |
|---|---|
| RGB | as is |
| L, 1, P, CMYK, YCbCr, LAB, HSV | Pillow's conversion (grey: three equal channels) |
| RGBA, LA, PA, RGBa, La, P/L/RGB with a transparent colour | composited on white |
| I;16 (16-bit grey) | divided by 257, so 0..65535 maps onto 0..255 |
| I (32-bit integer) | as 16-bit values: clipped to 0..65535, divided by 257 |
| F (32-bit float) | [0, 1] scaled to 0..255 when no value exceeds 1, else clipped to 0..255 |
"""

from __future__ import annotations

import numpy as np
from PIL import Image

# Composited under transparent pixels, as a browser shows them on a white page.
BACKGROUND = (255, 255, 255)

ALPHA_MODES = frozenset({"RGBA", "LA", "PA", "RGBa", "La"})
WIDE_MODES = frozenset({"I;16", "I;16L", "I;16B", "I;16N", "I", "F"})


def to_rgb(image: Image.Image) -> Image.Image:
    if image.mode == "RGB":
        return image
    if image.mode in WIDE_MODES:
        return _wide_to_rgb(image)
    if image.mode in ALPHA_MODES or "transparency" in image.info:
        rgba = image.convert("RGBA")
        canvas = Image.new("RGBA", rgba.size, BACKGROUND + (255,))
        return Image.alpha_composite(canvas, rgba).convert("RGB")
    return image.convert("RGB")


def _wide_to_rgb(image: Image.Image) -> Image.Image:
    values = np.asarray(image)
    if image.mode == "F":
        values = np.nan_to_num(values.astype(np.float32), nan=0.0, posinf=255.0, neginf=0.0)
        if values.size and values.max() <= 1.0:
            values = values * 255.0
        grey = np.clip(values, 0, 255)
    else:
        grey = np.clip(values.astype(np.float64), 0, 65535) / 257.0
    grey = np.rint(grey).astype(np.uint8)
    return Image.fromarray(np.repeat(grey[..., None], 3, axis=2), "RGB")
