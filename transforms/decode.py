"""DecodeImages: file bytes -> preprocessed uint8 pixels, or a decode failure."""

from __future__ import annotations

import dataclasses
import io
import os
import time
import warnings

import apache_beam as beam
import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from transforms import priority
from transforms.color import to_rgb
from transforms.counters import count
from transforms.pillow_build import log_pillow_build
from transforms.preprocess import CROP_PADDING, Resize, to_model_input
from transforms.reasons import EmptyFileError, PixelBudgetError
from transforms.records import FAILURES, DecodedImage, Failure, ImageFile

# CPU time the worker threads spent decoding, summed: summary.json's `decode_seconds`.
DECODE_MICROSECONDS = "decode_microseconds"

# Refused from the header: 80 megapixels is 240 MB as 8-bit RGB, the size of the largest
# common camera sensors. Pillow itself refuses more than 2 * Image.MAX_IMAGE_PIXELS (179 M).
DEFAULT_MAX_PIXELS = 80_000_000

# Pillow warns from 89 M pixels up; the budget above is this job's guard, and a refused image
# is a failure record, not a warning.
warnings.filterwarnings("ignore", category=Image.DecompressionBombWarning)

# Pillow hands every image's memory back to the C allocator, which in a process that has not
# yet freed anything larger gives it back to the system and faults it in again for the next
# image: 680 page faults per 640x480 JPEG, decoding at about 0.75x the speed of a process that kept
# it (benchmarks/decode.py --faults). Pillow keeps up to KEPT_BLOCKS freed blocks of at most
# BLOCK_SIZE instead, so decoding costs the same in every process; at most 64 MiB is kept.
# PILLOW_BLOCKS_MAX and PILLOW_BLOCK_SIZE in the environment still decide where they are set.
KEPT_BLOCKS = 16
BLOCK_SIZE = 4 * 2**20


def keep_freed_blocks() -> None:
    """Makes Pillow reuse the memory of decoded images, unless the environment says otherwise."""
    if "PILLOW_BLOCK_SIZE" not in os.environ:
        Image.core.set_block_size(BLOCK_SIZE)
    if "PILLOW_BLOCKS_MAX" not in os.environ:
        Image.core.set_blocks_max(KEPT_BLOCKS)


keep_freed_blocks()

EXIF_ORIENTATION = 0x0112
# Orientations whose upright image swaps width and height.
TRANSPOSED = frozenset({5, 6, 7, 8})


def draft_size(image_size: int, resize: Resize) -> tuple[int, int]:
    """The smallest decode size that still leaves the crop at least `image_size` wide."""
    side = image_size + CROP_PADDING if resize is Resize.CENTER_CROP else image_size
    return side, side


def upright(image: Image.Image, orientation: int) -> Image.Image:
    """Applies the EXIF orientation; images without one are returned as they are, uncopied."""
    if orientation == 1:
        return image
    return ImageOps.exif_transpose(image)


def decode_image(
    data: bytes,
    image_size: int,
    resize: Resize = Resize.CENTER_CROP,
    max_pixels: int = DEFAULT_MAX_PIXELS,
) -> np.ndarray:
    """Decodes by content (not by file name) and preprocesses for the model; raises on bad input.

    The first frame of an animation or multi-page file is used. An image whose header declares
    more than `max_pixels` is refused before any pixel is decoded."""
    if not data:
        raise EmptyFileError("the file is empty (0 bytes)")
    try:
        image = Image.open(io.BytesIO(data))
    except UnidentifiedImageError:
        # Pillow's own message names an in-memory buffer; say what matters instead.
        raise UnidentifiedImageError(
            f"not an image in any format Pillow reads ({len(data)} bytes)"
        ) from None
    with image:
        # Pillow feeds a decoder 64 KiB a call and hands the GIL back around each call, so a
        # 4 MB photo took it back about 60 times, each time waiting for any thread that held it
        # meanwhile. The whole file in one call instead (its bytes are in memory already): with
        # two worker threads over 3000x2000 JPEGs (570 KB), the wait inside decode_image fell
        # from 341 to 171 us per image (benchmarks/worker_time.py --tree, medians of 6).
        image.decodermaxblock = max(len(data), image.decodermaxblock)
        width, height = image.size
        if width * height > max_pixels:
            raise PixelBudgetError(
                f"{width}x{height} is {width * height:,} pixels, over the budget of "
                f"{max_pixels:,} (--max_pixels)"
            )
        # JPEGs decode at 1/2, 1/4 or 1/8 scale when that still covers the target (DCT scaling).
        image.draft("RGB", draft_size(image_size, resize))
        orientation = image.getexif().get(EXIF_ORIENTATION, 1)
        full_size = (height, width) if orientation in TRANSPOSED else (width, height)
        rgb = to_rgb(upright(image, orientation))
        return to_model_input(rgb, image_size, resize, full_size)


def decode_or_failure(
    uri: str,
    data: bytes,
    image_size: int,
    resize: Resize = Resize.CENTER_CROP,
    max_pixels: int = DEFAULT_MAX_PIXELS,
    fingerprint: str = "",
) -> DecodedImage | Failure:
    """`decode_image` that never raises: any bad file becomes a decode failure."""
    try:
        pixels = decode_image(data, image_size, resize, max_pixels)
        return DecodedImage(uri, pixels, fingerprint)
    except Exception as exc:  # noqa: BLE001 - Pillow raises many kinds on malformed files
        return Failure.from_exception(uri, "decode", exc)


class _DecodeFn(beam.DoFn):
    def __init__(self, image_size: int, resize: Resize, max_pixels: int, yield_cores: bool):
        self._args = (image_size, resize, max_pixels)
        self._yield_cores = yield_cores
        self._cpu_ns = 0

    def setup(self):
        log_pillow_build()

    def start_bundle(self):
        if self._yield_cores:
            priority.yield_cores()  # the thread that runs this bundle
        self._cpu_ns = 0

    def process(self, element: ImageFile):
        # The thread's CPU time, not the wall clock: waiting for the GIL or for a core is not
        # decoding. Downstream steps run inside `yield`, so they are not counted.
        start = time.thread_time_ns()
        result = decode_or_failure(
            element.uri, element.data, *self._args, fingerprint=element.fingerprint
        )
        self._cpu_ns += time.thread_time_ns() - start
        if isinstance(result, Failure):
            yield beam.pvalue.TaggedOutput(FAILURES, result)
        else:
            yield result

    def finish_bundle(self):
        if self._cpu_ns:
            count(DECODE_MICROSECONDS, self._cpu_ns // 1000)


@dataclasses.dataclass
class DecodeImages(beam.PTransform):
    """Outputs {'images': DecodedImage, 'failures': Failure}.

    yield_cores: decode in worker threads of the lowest CPU priority, where a model computes on
    the same cores (transforms/priority.py). A thread keeps that priority for the rest of its
    work."""

    image_size: int
    resize: Resize = Resize.CENTER_CROP
    max_pixels: int = DEFAULT_MAX_PIXELS
    yield_cores: bool = False

    def __post_init__(self):
        super().__init__()

    def expand(self, files):
        outputs = files | "Decode" >> beam.ParDo(
            _DecodeFn(self.image_size, self.resize, self.max_pixels, self.yield_cores)
        ).with_outputs(FAILURES, main="images")
        return {"images": outputs.images, FAILURES: outputs[FAILURES]}
