"""Real photos (shipped inside the scikit-image and scikit-learn wheels) written as test folders,
with the upright pixels each file should decode to, decoded independently of the product."""

from __future__ import annotations

import os

import numpy as np
import tensorflow as tf
from PIL import Image
from skimage import data
from sklearn.datasets import load_sample_images

EXIF_ORIENTATION = 0x0112


def photos() -> dict[str, np.ndarray]:
    """name -> RGB uint8 photo."""
    china, flower = load_sample_images().images
    return {
        "china": china,  # 427 x 640
        "flower": flower,  # 427 x 640
        "coffee": data.coffee(),  # 400 x 600
        "chelsea": data.chelsea(),  # 300 x 451: smaller than 380 on one side, so upscaled
        "astronaut": data.astronaut(),  # 512 x 512
        "rocket": data.rocket(),  # 427 x 640
    }


def _tf_decode(path: str) -> np.ndarray:
    """TensorFlow's decoder, which ignores EXIF: the stored pixels as they are."""
    with open(path, "rb") as handle:
        return tf.io.decode_image(handle.read(), channels=3, expand_animations=False).numpy()


def write_photo_folder(folder: str) -> dict[str, np.ndarray]:
    """Writes PNGs, JPEGs, a grayscale PNG and EXIF-rotated JPEGs; returns file name -> the
    upright RGB pixels a faithful decoder must produce for it."""
    os.makedirs(folder, exist_ok=True)
    pictures = photos()
    expected: dict[str, np.ndarray] = {}

    def save(name: str, pixels: np.ndarray, **kwargs) -> str:
        path = os.path.join(folder, name)
        Image.fromarray(pixels).save(path, **kwargs)
        return path

    for name in ("china", "flower", "rocket"):
        expected[f"{name}.jpg"] = _tf_decode(save(f"{name}.jpg", pictures[name], quality=92))
    for name in ("coffee", "chelsea"):
        save(f"{name}.png", pictures[name])
        expected[f"{name}.png"] = pictures[name]
    gray = data.camera()
    save("camera-gray.png", gray)
    expected["camera-gray.png"] = np.repeat(gray[..., None], 3, axis=2)

    # Orientation 6: stored turned 90 degrees counter-clockwise, shown turned back clockwise.
    # Orientation 3: stored upside down. The upright image is the original photo.
    for orientation, turns, photo in ((6, 1, "astronaut"), (3, 2, "coffee")):
        exif = Image.Exif()
        exif[EXIF_ORIENTATION] = orientation
        name = f"{photo}-exif{orientation}.jpg"
        stored = save(
            name, np.ascontiguousarray(np.rot90(pictures[photo], turns)), quality=92, exif=exif
        )
        expected[name] = np.rot90(_tf_decode(stored), -turns)
    return expected
