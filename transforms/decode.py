"""DecodeImages: file bytes -> preprocessed uint8 pixels, or a decode failure."""

from __future__ import annotations

import dataclasses
import io

import apache_beam as beam
import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from transforms.preprocess import CROP_PADDING, Resize, to_model_input
from transforms.records import FAILURES, DecodedImage, Failure, ImageFile

# Composited under transparent pixels, as a browser shows them on a white page.
BACKGROUND = (255, 255, 255)

EXIF_ORIENTATION = 0x0112
# Orientations whose upright image swaps width and height.
TRANSPOSED = frozenset({5, 6, 7, 8})


def draft_size(image_size: int, resize: Resize) -> tuple[int, int]:
    """The smallest decode size that still leaves the crop at least `image_size` wide."""
    side = image_size + CROP_PADDING if resize is Resize.CENTER_CROP else image_size
    return side, side


def to_rgb(image: Image.Image) -> Image.Image:
    """Converts any mode to RGB; transparency is composited on BACKGROUND."""
    if image.mode == "RGB":
        return image
    has_alpha = image.mode in ("RGBA", "LA", "PA") or "transparency" in image.info
    if not has_alpha:
        return image.convert("RGB")
    rgba = image.convert("RGBA")
    canvas = Image.new("RGBA", rgba.size, BACKGROUND + (255,))
    return Image.alpha_composite(canvas, rgba).convert("RGB")


def upright(image: Image.Image, orientation: int) -> Image.Image:
    """Applies the EXIF orientation; images without one are returned as they are, uncopied."""
    if orientation == 1:
        return image
    return ImageOps.exif_transpose(image)


def decode_image(data: bytes, image_size: int, resize: Resize = Resize.CENTER_CROP) -> np.ndarray:
    """Decodes by content (not by file name) and preprocesses for the model; raises on bad input."""
    try:
        image = Image.open(io.BytesIO(data))
    except UnidentifiedImageError:
        # Pillow's own message names an in-memory buffer; say what matters instead.
        raise UnidentifiedImageError(
            f"not an image in any format Pillow reads ({len(data)} bytes)"
        ) from None
    with image:
        width, height = image.size
        # JPEGs decode at 1/2, 1/4 or 1/8 scale when that still covers the target (DCT scaling).
        image.draft("RGB", draft_size(image_size, resize))
        orientation = image.getexif().get(EXIF_ORIENTATION, 1)
        full_size = (height, width) if orientation in TRANSPOSED else (width, height)
        rgb = to_rgb(upright(image, orientation))
        return to_model_input(rgb, image_size, resize, full_size)


class _DecodeFn(beam.DoFn):
    def __init__(self, image_size: int, resize: Resize):
        self._image_size = image_size
        self._resize = resize

    def process(self, element: ImageFile):
        try:
            pixels = decode_image(element.data, self._image_size, self._resize)
        except Exception as exc:  # noqa: BLE001 - any bad file becomes a failure record
            yield beam.pvalue.TaggedOutput(
                FAILURES, Failure.from_exception(element.uri, "decode", exc)
            )
            return
        yield DecodedImage(element.uri, pixels)


@dataclasses.dataclass
class DecodeImages(beam.PTransform):
    """Outputs {'images': DecodedImage, 'failures': Failure}."""

    image_size: int
    resize: Resize = Resize.CENTER_CROP

    def __post_init__(self):
        super().__init__()

    def expand(self, files):
        outputs = files | "Decode" >> beam.ParDo(
            _DecodeFn(self.image_size, self.resize)
        ).with_outputs(FAILURES, main="images")
        return {"images": outputs.images, FAILURES: outputs[FAILURES]}
