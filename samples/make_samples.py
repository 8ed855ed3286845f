"""Rebuilds samples/images from photos that ship inside the scikit-image and scikit-learn wheels.

    python samples/make_samples.py

The folder is committed, so the quick start needs neither package; this script documents where
each file comes from. It holds ordinary photos in JPEG and PNG, one JPEG whose pixels are stored
sideways with an EXIF orientation tag (viewers and this job show it upright), and one file that
is not an image at all, to show how failures are recorded.
"""

from __future__ import annotations

import os

import numpy as np
from PIL import Image
from skimage import data
from sklearn.datasets import load_sample_images

HERE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "images")
EXIF_ORIENTATION = 0x0112


def main() -> None:
    os.makedirs(HERE, exist_ok=True)
    china, flower = load_sample_images().images
    Image.fromarray(china).save(os.path.join(HERE, "china.jpg"), quality=88)
    Image.fromarray(flower).save(os.path.join(HERE, "flower.jpg"), quality=88)
    Image.fromarray(data.coffee()).save(os.path.join(HERE, "coffee.png"))
    Image.fromarray(data.chelsea()).save(os.path.join(HERE, "chelsea.jpg"), quality=88)
    Image.fromarray(data.camera()).save(os.path.join(HERE, "camera-gray.png"))
    # Stored rotated 90 degrees counter-clockwise; orientation 6 says "turn 90 clockwise to view".
    sideways = Image.fromarray(np.rot90(data.astronaut(), 1))
    exif = Image.Exif()
    exif[EXIF_ORIENTATION] = 6
    sideways.save(os.path.join(HERE, "astronaut-exif-rotated.jpg"), quality=88, exif=exif)
    with open(os.path.join(HERE, "notes.jpg"), "w") as handle:
        handle.write("This is text with an image's name; the job records it as a decode failure.\n")


if __name__ == "__main__":
    main()
