"""Small previews of images named by URI, as `data:` URIs a page embeds: read on any Beam
filesystem, many at a time (reads wait on storage, decoding releases the GIL in Pillow's C code),
upright by EXIF, fitted into a square. A file that cannot be read or decoded gets no preview and
a reason instead, never a broken picture."""

from __future__ import annotations

import base64
import concurrent.futures
import io
from collections.abc import Callable, Iterable
from typing import NamedTuple

from PIL import Image

from transforms.color import to_rgb
from transforms.decode import DEFAULT_MAX_PIXELS, EXIF_ORIENTATION, upright
from transforms.fs import read_bytes
from transforms.reasons import PixelBudgetError

SIDE = 160  # pixels; the page shows them at half that on high-density screens
READERS = 16
JPEG_QUALITY = 80


class Thumbnail(NamedTuple):
    uri: str
    src: str | None  # a data: URI, None where there is no preview
    problem: str = ""  # why there is none


def preview_jpeg(data: bytes, side: int = SIDE, max_pixels: int = DEFAULT_MAX_PIXELS) -> bytes:
    """The first frame of an image, upright, fitted into side x side, as JPEG bytes."""
    with Image.open(io.BytesIO(data)) as image:
        width, height = image.size
        if width * height > max_pixels:
            raise PixelBudgetError(f"{width}x{height} is over {max_pixels:,} pixels")
        image.draft("RGB", (side, side))  # JPEGs decode at 1/2 to 1/8 scale
        orientation = image.getexif().get(EXIF_ORIENTATION, 1)
        picture = to_rgb(upright(image, orientation))
        picture.thumbnail((side, side), Image.Resampling.BICUBIC)
        out = io.BytesIO()
        picture.save(out, "JPEG", quality=JPEG_QUALITY)
        return out.getvalue()


def thumbnail(uri: str, side: int = SIDE) -> Thumbnail:
    try:
        jpeg = preview_jpeg(read_bytes(uri), side)
    except Exception as exc:  # noqa: BLE001 - missing file, no permission, not an image
        return Thumbnail(uri, None, f"{type(exc).__name__}: {exc}"[:300])
    return Thumbnail(uri, "data:image/jpeg;base64," + base64.b64encode(jpeg).decode("ascii"))


def thumbnails(
    uris: Iterable[str],
    side: int = SIDE,
    on_done: Callable[[int, int], None] = lambda done, total: None,
) -> dict[str, Thumbnail]:
    """uri -> its Thumbnail, for each distinct URI; `on_done(done, total)` as they come."""
    wanted = sorted(set(uris))
    made: dict[str, Thumbnail] = {}
    with concurrent.futures.ThreadPoolExecutor(READERS) as pool:
        futures = [pool.submit(thumbnail, uri, side) for uri in wanted]
        for future in concurrent.futures.as_completed(futures):
            result = future.result()
            made[result.uri] = result
            on_done(len(made), len(wanted))
    return made
