"""Decoding and preprocessing JPEGs with TensorFlow ops instead of Pillow: how close, how fast.

    python benchmarks/tensorflow_decode.py [--threads 1] [--seconds 3]

The TensorFlow recipe follows the job's Pillow path op for op: libjpeg's accurate integer DCT
(Pillow's default) at the scale Pillow's `draft` picks, the centre crop mapped onto the decoded
image with sub-pixel precision, and an antialiased Keys bicubic resize (Pillow's BICUBIC) through
`ScaleAndTranslate`, the op behind `tf.image.resize(..., "bicubic", antialias=True)`; a batch of
files per call, under `tf.map_fn`, in TensorFlow's thread pools. A second variant resizes without
antialiasing (`tf.image.resize(..., "bicubic")`, as EfficientNet's reference preprocessing does)
after an integer crop. Prints, per photo size, the mean absolute difference from the job's
`decode_image` on the [0, 1] scale, and images per second with --threads threads for each.
"""

from __future__ import annotations

import argparse
import io
import os
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402
from PIL import Image  # noqa: E402

from transforms.decode import decode_image, draft_size  # noqa: E402
from transforms.preprocess import DEFAULT_IMAGE_SIZE, Resize, center_crop_box  # noqa: E402

SIZE = DEFAULT_IMAGE_SIZE
BATCH = 32


def jpeg(width: int, height: int) -> bytes:
    from sklearn.datasets import load_sample_images

    photo = Image.fromarray(load_sample_images().images[0]).resize((width, height), Image.BICUBIC)
    buffer = io.BytesIO()
    photo.save(buffer, "JPEG", quality=90)
    return buffer.getvalue()


def dct_scale(width: int, height: int) -> int:
    """The scale Pillow's draft() picks: the largest of 8, 4, 2, 1 that still covers the crop."""
    side = draft_size(SIZE, Resize.CENTER_CROP)[0]
    fits = min(width // side, height // side)
    return next(scale for scale in (8, 4, 2, 1) if fits >= scale or scale == 1)


def recipes(scale: int):
    """(name -> tf.function over a batch of (file, crop box as fractions)) at one DCT scale."""
    import tensorflow as tf

    def decoded(data):
        return tf.io.decode_jpeg(data, 3, ratio=scale, dct_method="INTEGER_ACCURATE")

    def box_of(pixels, box):
        height = tf.cast(tf.shape(pixels)[0], tf.float32)
        width = tf.cast(tf.shape(pixels)[1], tf.float32)
        return box[0] * width, box[1] * height, box[2] * width, box[3] * height

    def antialiased(args):
        pixels = tf.cast(decoded(args[0]), tf.float32)
        left, top, right, bottom = box_of(pixels, args[1])
        scale_x, scale_y = SIZE / (right - left), SIZE / (bottom - top)
        resized = tf.raw_ops.ScaleAndTranslate(
            images=pixels[None],
            size=[SIZE, SIZE],
            scale=tf.stack([scale_y, scale_x]),
            translation=tf.stack([-top * scale_y, -left * scale_x]),
            kernel_type="keyscubic",
            antialias=True,
        )[0]
        return tf.cast(tf.clip_by_value(tf.round(resized), 0, 255), tf.uint8)

    def reference(args):
        pixels = decoded(args[0])
        left, top, right, bottom = (tf.cast(tf.round(v), tf.int32) for v in box_of(pixels, args[1]))
        crop = pixels[top:bottom, left:right]
        resized = tf.image.resize(crop, [SIZE, SIZE], "bicubic")
        return tf.cast(tf.clip_by_value(tf.round(resized), 0, 255), tf.uint8)

    def batched(one):
        @tf.function
        def run(files, boxes):
            return tf.map_fn(
                one,
                (files, boxes),
                fn_output_signature=tf.TensorSpec([SIZE, SIZE, 3], tf.uint8),
                parallel_iterations=BATCH,
            )

        return run

    return {"tf antialiased": batched(antialiased), "tf reference": batched(reference)}


def rate(function, seconds: float) -> float:
    function()
    done, start = 0, time.perf_counter()
    while time.perf_counter() - start < seconds:
        done += function()
    return done / (time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--threads", type=int, default=1, help="TensorFlow's pools, and Pillow's")
    parser.add_argument("--seconds", type=float, default=3.0)
    args = parser.parse_args()

    import concurrent.futures

    import tensorflow as tf

    tf.config.threading.set_intra_op_parallelism_threads(args.threads)
    tf.config.threading.set_inter_op_parallelism_threads(args.threads)
    pool = concurrent.futures.ThreadPoolExecutor(args.threads)
    print(f"{args.threads} thread(s); MAD from Pillow on the [0, 1] scale, and img/s")
    for width, height in ((640, 480), (1000, 750), (1600, 1200), (4000, 3000)):
        data = jpeg(width, height)
        left, top, right, bottom = center_crop_box(width, height, SIZE)
        box = np.array(
            [[left / width, top / height, right / width, bottom / height]] * BATCH, np.float32
        )
        files = np.array([data] * BATCH, dtype=object)
        pillow = decode_image(data, SIZE)

        def with_pillow(data=data):
            list(pool.map(lambda blob: decode_image(blob, SIZE), [data] * BATCH))
            return BATCH

        line = f"{width}x{height} (DCT 1/{dct_scale(width, height)}): pillow "
        line += f"{rate(with_pillow, args.seconds):6.0f}"
        for name, function in recipes(dct_scale(width, height)).items():
            got = function(files[:1], box[:1]).numpy()[0]
            difference = np.abs(got / 255.0 - pillow / 255.0).mean()

            def with_tensorflow(function=function, files=files, boxes=box):
                function(files, boxes)
                return BATCH

            line += f" | {name} {rate(with_tensorflow, args.seconds):6.0f} (MAD {difference:.4f})"
        print(line, flush=True)


if __name__ == "__main__":
    main()
