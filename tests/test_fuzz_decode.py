"""Property-based fuzzing of the decode step over mutated real images: it returns an image or a
failure, never raises, never hangs, never decodes past the pixel budget. Bounded for CI:
FUZZ_EXAMPLES examples (default 1000), each under a 2-second deadline, derandomized."""

from __future__ import annotations

import io
import os
from datetime import timedelta

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image

from tests import odd_images
from transforms import reasons
from transforms.decode import decode_or_failure
from transforms.records import DecodedImage, Failure

SIZE = 32
BUDGET = 96 * 96  # a tiny budget, so that inflated headers must be refused


def _seeds() -> list[bytes]:
    photo = odd_images._photo(48, 32)
    grey16 = Image.fromarray((np.asarray(photo.convert("L"), np.uint16) * 257).astype(np.uint16))
    frames = [photo, photo.rotate(90)]
    return [
        odd_images._save(photo, "JPEG", quality=80),
        odd_images._save(photo, "JPEG", quality=80, progressive=True),
        odd_images._save(photo, "PNG"),
        odd_images._save(photo.convert("P"), "PNG", transparency=0),
        odd_images._save(grey16, "PNG"),
        odd_images._save(frames[0], "GIF", save_all=True, append_images=frames[1:]),
        odd_images._save(photo, "TIFF", compression="tiff_lzw"),
        odd_images._save(photo, "WEBP", quality=70),
        odd_images._save(photo, "BMP"),
    ]


SEEDS = _seeds()


@st.composite
def mutated_images(draw) -> bytes:
    data = bytearray(draw(st.sampled_from(SEEDS)))
    for _ in range(draw(st.integers(1, 4))):
        kind = draw(st.sampled_from(["flip", "overwrite", "truncate", "insert", "inflate"]))
        at = draw(st.integers(0, max(len(data) - 1, 0)))
        if kind == "flip" and data:
            data[at] ^= 1 << draw(st.integers(0, 7))
        elif kind == "overwrite":
            data[at : at + 8] = draw(st.binary(min_size=1, max_size=8))
        elif kind == "truncate":
            del data[at:]
        elif kind == "insert":
            data[at:at] = draw(st.binary(min_size=1, max_size=64))
        else:  # a big 16- or 32-bit number, where headers keep width and height
            width = draw(st.sampled_from([2, 4]))
            data[at : at + width] = b"\x7f" + b"\xff" * (width - 1)
    return bytes(data)


@settings(
    max_examples=int(os.environ.get("FUZZ_EXAMPLES", "1000")),
    deadline=timedelta(seconds=2),
    derandomize=True,
    suppress_health_check=[HealthCheck.too_slow],
)
@given(mutated_images())
def test_decode_returns_an_image_or_a_failure(data):
    result = decode_or_failure("fuzz", data, SIZE, max_pixels=BUDGET)
    if isinstance(result, Failure):
        assert result.stage == "decode" and result.reason in reasons.REASONS and result.error
        return
    assert isinstance(result, DecodedImage)
    assert result.pixels.shape == (SIZE, SIZE, 3) and result.pixels.dtype == np.uint8
    with Image.open(io.BytesIO(data)) as image:
        assert image.width * image.height <= BUDGET
