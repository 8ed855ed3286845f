"""Decode-and-preprocess speed on one core: photo-sized and 24-megapixel JPEGs, with the job's
scaled JPEG decode against a full-size decode.

    python benchmarks/decode.py [--repeats 20]

Prints milliseconds per image and images per second for each, the ratio, and how far the two
results differ (mean absolute difference on the [0, 1] scale).
"""

from __future__ import annotations

import argparse
import io
import time

import numpy as np
from PIL import Image

from transforms.color import to_rgb
from transforms.decode import decode_image
from transforms.preprocess import DEFAULT_IMAGE_SIZE, Resize, to_model_input


def photo_jpeg(width: int, height: int) -> bytes:
    from sklearn.datasets import load_sample_images

    image = Image.fromarray(load_sample_images().images[0]).resize((width, height), Image.BICUBIC)
    buffer = io.BytesIO()
    image.save(buffer, "JPEG", quality=90)
    return buffer.getvalue()


def full_decode(data: bytes) -> np.ndarray:
    """The same recipe without the scaled decode."""
    with Image.open(io.BytesIO(data)) as image:
        image.load()
        return to_model_input(to_rgb(image), DEFAULT_IMAGE_SIZE, Resize.CENTER_CROP)


def seconds_per_image(function, data: bytes, repeats: int) -> float:
    function(data)
    start = time.perf_counter()
    for _ in range(repeats):
        function(data)
    return (time.perf_counter() - start) / repeats


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeats", type=int, default=20)
    args = parser.parse_args()
    print(f"{'image':<22}{'scaled ms':>10}{'full ms':>10}{'img/s':>8}{'full/scaled':>13}{'MAD':>8}")
    for label, (width, height) in {
        "640x480 JPEG": (640, 480),
        "6000x4000 JPEG": (6000, 4000),
    }.items():
        data = photo_jpeg(width, height)
        scaled = seconds_per_image(
            lambda d: decode_image(d, DEFAULT_IMAGE_SIZE), data, args.repeats
        )
        full = seconds_per_image(full_decode, data, args.repeats)
        difference = np.abs(
            decode_image(data, DEFAULT_IMAGE_SIZE) / 255.0 - full_decode(data) / 255.0
        )
        print(
            f"{label:<22}{scaled * 1e3:>10.1f}{full * 1e3:>10.1f}{1 / scaled:>8.0f}"
            f"{full / scaled:>13.2f}{difference.mean():>8.4f}"
        )


if __name__ == "__main__":
    main()
