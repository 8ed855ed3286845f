"""A bucket as real buckets are: odd-but-valid images of many kinds, and files that are broken.

Every valid file is made from a real photo; each broken file is of a distinct kind. The makers
return {file name: bytes}; `expected_reason` says how each broken file must be reported.
"""

from __future__ import annotations

import io
import zlib

import numpy as np
from PIL import Image
from skimage import data

from tests.photos import EXIF_ORIENTATION


def _photo(width: int = 300, height: int = 200) -> Image.Image:
    return Image.fromarray(data.coffee()).resize((width, height), Image.Resampling.BICUBIC)


def _save(image: Image.Image, fmt: str, **kwargs) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format=fmt, **kwargs)
    return buffer.getvalue()


def _with_alpha(image: Image.Image) -> Image.Image:
    rgba = image.convert("RGBA")
    alpha = np.zeros((image.height, image.width), np.uint8)
    alpha[:, : image.width // 2] = 255  # left half opaque, right half transparent
    rgba.putalpha(Image.fromarray(alpha))
    return rgba


def _frames(count: int = 3) -> list[Image.Image]:
    base = _photo(160, 120)
    return [base.rotate(15 * i) for i in range(count)]


def _exif(orientation: int) -> Image.Exif:
    exif = Image.Exif()
    exif[EXIF_ORIENTATION] = orientation
    return exif


def valid_images() -> dict[str, bytes]:
    photo = _photo()
    grey = photo.convert("L")
    wide = (np.asarray(grey, np.uint16) * 257).astype(np.uint16)
    frames = _frames()
    files = {
        "cmyk.jpg": _save(photo.convert("CMYK"), "JPEG", quality=90),
        "progressive.jpg": _save(photo, "JPEG", quality=90, progressive=True),
        "grey.jpg": _save(grey, "JPEG", quality=90),
        "grey.png": _save(grey, "PNG"),
        "grey16.png": _save(Image.fromarray(wide), "PNG"),
        "grey16.tif": _save(Image.fromarray(wide), "TIFF"),
        "bilevel.png": _save(grey.convert("1"), "PNG"),
        "rgba.png": _save(_with_alpha(photo), "PNG"),
        "grey-alpha.png": _save(_with_alpha(photo).convert("LA"), "PNG"),
        "palette.png": _save(photo.convert("P", palette=Image.Palette.ADAPTIVE), "PNG"),
        "palette-transparent.png": _save(
            photo.convert("P", palette=Image.Palette.ADAPTIVE), "PNG", transparency=0
        ),
        "lossy.webp": _save(photo, "WEBP", quality=80),
        "alpha-lossless.webp": _save(_with_alpha(photo), "WEBP", lossless=True),
        "animated.gif": _save(frames[0], "GIF", save_all=True, append_images=frames[1:]),
        "still.gif": _save(photo, "GIF"),
        "multipage.tif": _save(frames[0], "TIFF", save_all=True, append_images=frames[1:]),
        "lzw.tif": _save(photo, "TIFF", compression="tiff_lzw"),
        "cmyk.tif": _save(photo.convert("CMYK"), "TIFF"),
        "float.tif": _save(Image.fromarray(np.asarray(grey, np.float32) / 255.0), "TIFF"),
        "photo.bmp": _save(photo, "BMP"),
        "photo.ppm": _save(photo, "PPM"),
        "icon.ico": _save(_photo(64, 64), "ICO"),
        "photo.jp2": _save(photo, "JPEG2000"),
        "exif-rotated-6.jpg": _save(photo, "JPEG", quality=90, exif=_exif(6)),
        "exif-mirrored-5.jpg": _save(photo, "JPEG", quality=90, exif=_exif(5)),
        "one-pixel.png": _save(Image.new("RGB", (1, 1), (200, 30, 60)), "PNG"),
        "strip-4000x20.jpg": _save(_photo(4000, 20), "JPEG", quality=90),
        "strip-20x4000.png": _save(_photo(20, 4000), "PNG"),
        "24-megapixels.jpg": _save(_photo(6000, 4000), "JPEG", quality=85),
        "png-named.jpg": _save(photo, "PNG"),
        "jpeg-without-extension": _save(photo, "JPEG", quality=90),
        "name with spaces.png": _save(photo, "PNG"),
        "café-ünïcode-猫.jpg": _save(photo, "JPEG", quality=90),
    }
    return files


def decompression_bomb(width: int = 20_000, height: int = 20_000) -> bytes:
    """A valid 1-bit PNG of width x height white pixels, a few hundred KB on disk."""
    from PIL import PngImagePlugin  # noqa: F401 - registers the format the bytes follow

    def chunk(kind: bytes, payload: bytes) -> bytes:
        body = kind + payload
        return len(payload).to_bytes(4, "big") + body + zlib.crc32(body).to_bytes(4, "big")

    header = width.to_bytes(4, "big") + height.to_bytes(4, "big") + bytes([1, 0, 0, 0, 0])
    row = b"\x00" + b"\xff" * ((width + 7) // 8)
    compressor = zlib.compressobj(9)
    pixels = b"".join(compressor.compress(row) for _ in range(height)) + compressor.flush()
    return (
        b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", pixels) + chunk(b"IEND", b"")
    )


# name -> (bytes maker, the reason the job must give)
def broken_files() -> dict[str, tuple[bytes, str]]:
    jpeg = _save(_photo(), "JPEG", quality=90)
    png = _save(_photo(), "PNG")
    # Larger than the blocks Pillow reads at a time: the decoder gets it whole (decode_image).
    large = _save(_photo(3000, 2000), "JPEG", quality=90)
    return {
        "empty.jpg": (b"", "empty_file"),
        "truncated.jpg": (jpeg[: len(jpeg) // 2], "truncated"),
        "truncated.png": (png[: len(png) // 2], "truncated"),
        "truncated-large.jpg": (large[: len(large) // 2], "truncated"),
        "text.jpg": (b"Not a picture, only words in a file named like one.\n", "not_an_image"),
        "random.bin": (
            np.random.default_rng(7).integers(0, 256, 8192, dtype=np.uint8).tobytes(),
            "not_an_image",
        ),
        "signature-only.png": (b"\x89PNG\r\n\x1a\n", "not_an_image"),
        "bomb-400mp.png": (decompression_bomb(), "too_many_pixels"),
        "bomb-100mp.png": (decompression_bomb(10_000, 10_000), "too_many_pixels"),
    }
