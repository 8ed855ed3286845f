"""Decoding and preprocessing, against expectations computed without the product's code path."""

from __future__ import annotations

import io

import numpy as np
import pytest
import tensorflow as tf
from PIL import Image, ImageFile

from tests import photos
from tests.photos import EXIF_ORIENTATION
from tests.recipe import reference_eval
from transforms.decode import decode_image, draft_size
from transforms.preprocess import Resize, center_crop_box


def encode(pixels: np.ndarray, fmt: str = "PNG", **kwargs) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, format=fmt, **kwargs)
    return buffer.getvalue()


@pytest.mark.parametrize(
    ("width", "height", "size", "box"),
    [
        (640, 427, 380, (124, 17, 517, 410)),  # side int(380/412*427) = 393
        (427, 640, 380, (17, 124, 410, 517)),
        (412, 412, 380, (16, 16, 396, 396)),
        (451, 300, 380, (88, 12, 364, 288)),  # side 276: smaller than the target, upscaled
        (1, 1, 380, (0, 0, 1, 1)),
    ],
)
def test_center_crop_box_follows_the_reference(width, height, size, box):
    assert center_crop_box(width, height, size) == box


@pytest.mark.parametrize("name", ["china", "chelsea", "astronaut"])
@pytest.mark.parametrize("resize", list(Resize))
def test_decode_matches_the_evaluation_recipe(name, resize):
    photo = photos.photos()[name]
    got = decode_image(encode(photo), 380, resize)
    assert got.dtype == np.uint8 and got.shape == (380, 380, 3)
    expected = reference_eval(photo, 380, crop=resize is Resize.CENTER_CROP)
    assert np.abs(got / 255.0 - expected / 255.0).mean() < 0.01
    # The other recipe is visibly different, so the comparison above can fail.
    other = reference_eval(photo, 380, crop=resize is not Resize.CENTER_CROP)
    if photo.shape[0] != photo.shape[1]:
        assert np.abs(got / 255.0 - other / 255.0).mean() > 0.02


# (orientation, how the stored pixels are made from the upright ones)
ORIENTATIONS = [
    (1, lambda a: a),
    (2, lambda a: a[:, ::-1]),
    (3, lambda a: np.rot90(a, 2)),
    (4, lambda a: a[::-1]),
    (5, lambda a: np.rot90(a, 1)[::-1]),
    (6, lambda a: np.rot90(a, 1)),
    (7, lambda a: np.rot90(a, -1)[::-1]),
    (8, lambda a: np.rot90(a, -1)),
]


@pytest.mark.parametrize(("orientation", "store"), ORIENTATIONS)
def test_exif_orientation_is_applied(orientation, store):
    # Four flat quadrants of distinct colours on a 2:1 canvas: any wrong turn or flip shows.
    upright = np.zeros((200, 400, 3), np.uint8)
    upright[:100, :200] = (255, 0, 0)
    upright[:100, 200:] = (0, 255, 0)
    upright[100:, :200] = (0, 0, 255)
    upright[100:, 200:] = (255, 255, 0)
    exif = Image.Exif()
    exif[EXIF_ORIENTATION] = orientation
    data = encode(np.ascontiguousarray(store(upright)), exif=exif)
    got = decode_image(data, 64, Resize.FULL_FRAME)
    expected = reference_eval(upright, 64, crop=False)
    assert np.abs(got.astype(float) - expected).mean() < 3


def test_grayscale_becomes_three_equal_channels():
    gray = photos.photos()["astronaut"].mean(axis=2).astype(np.uint8)
    got = decode_image(encode(gray), 96)
    assert np.array_equal(got[..., 0], got[..., 1]) and np.array_equal(got[..., 1], got[..., 2])
    expected = reference_eval(np.repeat(gray[..., None], 3, axis=2), 96)
    assert np.abs(got.astype(float) - expected).mean() < 3


def test_transparent_pixels_are_composited_on_white():
    rgba = np.zeros((50, 50, 4), np.uint8)
    rgba[..., 0] = 200  # red everywhere, but only the left half is opaque
    rgba[:, :25, 3] = 255
    got = decode_image(encode(rgba), 50, Resize.FULL_FRAME)
    assert tuple(got[25, 5]) == (200, 0, 0)
    assert tuple(got[25, 45]) == (255, 255, 255)


def test_channels_stay_in_rgb_order():
    pixels = np.zeros((40, 40, 3), np.uint8)
    pixels[..., 0] = 250
    pixels[..., 2] = 10
    got = decode_image(encode(pixels, "JPEG", quality=95), 32)
    assert abs(int(got[..., 0].mean()) - 250) < 4 and abs(int(got[..., 2].mean()) - 10) < 4


@pytest.mark.parametrize("orientation", [1, 6])
def test_large_jpeg_decodes_scaled_down_but_equal_up_to_resize_noise(orientation):
    big = np.asarray(Image.fromarray(photos.photos()["china"]).resize((2560, 1708), Image.BICUBIC))
    turns = 1 if orientation == 6 else 0
    exif = Image.Exif()
    exif[EXIF_ORIENTATION] = orientation
    data = encode(np.ascontiguousarray(np.rot90(big, turns)), "JPEG", quality=92, exif=exif)
    with Image.open(io.BytesIO(data)) as image:
        image.draft("RGB", draft_size(380, Resize.CENTER_CROP))
        assert min(image.size) == 427  # decoded at 1/4 scale, still >= 412 on the short side
    got = decode_image(data, 380)
    expected = reference_eval(np.rot90(tf.io.decode_jpeg(data).numpy(), -turns), 380)
    assert np.abs(got / 255.0 - expected / 255.0).mean() < 0.01


def test_a_jpeg_reaches_its_decoder_in_one_call(monkeypatch):
    """Pillow hands the GIL back around each decoder call and feeds it 64 KiB a call; a photo
    many times that size still costs one call."""
    calls = []
    make_decoder = Image._getdecoder

    class Counted:
        def __init__(self, decoder):
            self._decoder = decoder

        def decode(self, data: bytes):
            calls.append(len(data))
            return self._decoder.decode(data)

        def __getattr__(self, name: str):
            return getattr(self._decoder, name)

    big = np.asarray(Image.fromarray(photos.photos()["china"]).resize((3000, 2000)))
    data = encode(big, "JPEG", quality=92)
    assert len(data) > 4 * ImageFile.MAXBLOCK
    monkeypatch.setattr(Image, "_getdecoder", lambda *args: Counted(make_decoder(*args)))
    assert decode_image(data, 380).shape == (380, 380, 3)
    assert len(calls) == 1


def test_text_named_jpg_is_an_error_that_says_so():
    with pytest.raises(Exception, match="not an image"):
        decode_image(b"hello, I am not a picture", 380)
