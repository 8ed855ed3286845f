"""Exports EfficientNet-B4 (Keras application, no top, average pooling) as a SavedModel that
takes float images in [0, 1] and returns 1792 floats, like the TF-Hub module.

    python -m pipeline.export_model --out DIR [--weights imagenet|none|PATH.h5]

`--weights none` gives the real architecture with untrained weights: for tests and trial runs
without network access. Its vectors have the right shape and no meaning.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from transforms.preprocess import DEFAULT_IMAGE_SIZE  # noqa: E402

UNTRAINED_WARNING = """\
*****************************************************************************************
 UNTRAINED MODEL: {out} holds EfficientNet-B4 with random weights. Its embeddings have the
 right shape (1792 floats) and no meaning. Use it to try the pipeline offline, never for
 results. For real vectors use the default TF-Hub handle or --weights imagenet.
*****************************************************************************************"""


def build_b4(weights: str, image_size: int = DEFAULT_IMAGE_SIZE):
    """The Keras EfficientNet-B4 feature extractor (inputs 0-255, normalized inside)."""
    import keras

    return keras.applications.EfficientNetB4(
        weights=None if weights == "none" else weights,
        include_top=False,
        pooling="avg",
        input_shape=(image_size, image_size, 3),
    )


def export(network, out: str, image_size: int = DEFAULT_IMAGE_SIZE) -> None:
    """Saves `network` behind a `serving_default` signature: `images` in [0, 1] -> `default`."""
    import tensorflow as tf

    class ImageFeatures(tf.Module):
        def __init__(self):
            super().__init__()
            self.network = network

        @tf.function(input_signature=[tf.TensorSpec([None, image_size, image_size, 3], tf.float32)])
        def __call__(self, images):
            # Keras' EfficientNet rescales 0-255 input itself; the TF-Hub module takes [0, 1].
            return {"default": self.network(images * 255.0, training=False)}

    module = ImageFeatures()
    tf.saved_model.save(
        module, out, signatures={"serving_default": module.__call__.get_concrete_function()}
    )


def mark_untrained(out: str) -> None:
    """Leaves a file that the job finds at launch, so every run on this model warns."""
    from pipeline.checks import UNTRAINED_MARKER

    path = os.path.join(out, UNTRAINED_MARKER)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w") as handle:
        handle.write("EfficientNet-B4 with random weights: embeddings have no meaning.\n")


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m pipeline.export_model",
        description=__doc__.split("\n\n")[0],
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    parser.add_argument("--out", required=True, help="folder to write the SavedModel to")
    parser.add_argument(
        "--weights",
        default="imagenet",
        help="imagenet (Keras' ImageNet weights, needs network), none (untrained), or a .h5 file",
    )
    parser.add_argument("--image_size", type=int, default=DEFAULT_IMAGE_SIZE)
    args = parser.parse_args(argv)
    if args.weights not in ("imagenet", "none") and not os.path.isfile(args.weights):
        parser.error(f"--weights {args.weights!r}: expected imagenet, none or an existing .h5 file")
    try:
        network = build_b4(args.weights, args.image_size)
    except Exception as exc:  # noqa: BLE001 - most often: no network to fetch the weights
        print(
            f"error: could not build EfficientNet-B4 with --weights {args.weights}: {exc}\n"
            "Without network access use --weights none (untrained) or a local .h5 file.",
            file=sys.stderr,
        )
        return 1
    export(network, args.out, args.image_size)
    if args.weights == "none":
        mark_untrained(args.out)
        print(UNTRAINED_WARNING.format(out=args.out), file=sys.stderr)
    print(f"Exported EfficientNet-B4 ({args.weights} weights) to {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
