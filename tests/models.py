"""Models the tests build themselves: tiny ones, a pixel probe, and the real B4 architecture
with untrained weights, in TF2 SavedModel and TF1 Hub formats."""

from __future__ import annotations

import os

import numpy as np
import tensorflow as tf

PROBE_GRID = 10  # the probe returns the input area-pooled to PROBE_GRID x PROBE_GRID x 3
TINY_SIZE = 64
TINY_DIM = 8
# tensorflow_hub recognises the TF1 Hub format by this file: a ModuleDef proto with
# format = FORMAT_V3 (field 1, varint 3).
HUB_MODULE_DEF = b"\x08\x03"


def pool_grid(images: np.ndarray, grid: int = PROBE_GRID) -> np.ndarray:
    """(N, S, S, 3) -> (N, grid*grid*3): the mean of each cell, as the probe computes it."""
    n, size = images.shape[0], images.shape[1]
    cell = size // grid
    cells = images.reshape(n, grid, cell, grid, cell, 3)
    return cells.mean(axis=(2, 4)).reshape(n, -1)


def save_probe(path: str, size: int = 380) -> str:
    """A TF2 SavedModel whose 'embedding' is its input image pooled to a coarse grid."""

    class Probe(tf.Module):
        @tf.function(input_signature=[tf.TensorSpec([None, size, size, 3], tf.float32)])
        def __call__(self, images):
            cell = size // PROBE_GRID
            cells = tf.reshape(images, [-1, PROBE_GRID, cell, PROBE_GRID, cell, 3])
            return {
                "default": tf.reshape(tf.reduce_mean(cells, axis=[2, 4]), [-1, PROBE_GRID**2 * 3])
            }

    probe = Probe()
    tf.saved_model.save(
        probe, path, signatures={"serving_default": probe.__call__.get_concrete_function()}
    )
    return path


def tiny_weights(dim: int = TINY_DIM) -> np.ndarray:
    return np.random.default_rng(0).normal(size=(3, dim)).astype(np.float32)


def save_tiny_tf2(
    path: str, size: int = TINY_SIZE, callable_only: bool = False, dim: int = TINY_DIM
) -> str:
    """A TF2 SavedModel with a variable: tanh(mean colour @ a fixed 3 x `dim` matrix)."""

    class Tiny(tf.Module):
        def __init__(self):
            super().__init__()
            self.kernel = tf.Variable(tiny_weights(dim))

        @tf.function(input_signature=[tf.TensorSpec([None, size, size, 3], tf.float32)])
        def __call__(self, images):
            return tf.tanh(tf.matmul(tf.reduce_mean(images, axis=[1, 2]), self.kernel))

    tiny = Tiny()
    function = tiny.__call__.get_concrete_function()
    signatures = {} if callable_only else {"serving_default": function}
    tf.saved_model.save(tiny, path, signatures=signatures)
    return path


def tiny_reference(images01: np.ndarray) -> np.ndarray:
    """What the tiny models compute, in numpy, on float images in [0, 1]."""
    return np.tanh(images01.mean(axis=(1, 2)) @ tiny_weights())


def tiny_vector(path_or_bytes: str | bytes) -> np.ndarray:
    """What the tiny model must give for one image file, through the job's own decoding."""
    from transforms.decode import decode_image

    data = path_or_bytes
    if isinstance(path_or_bytes, str):
        with open(path_or_bytes, "rb") as handle:
            data = handle.read()
    return tiny_reference(decode_image(data, TINY_SIZE)[None] / 255.0)[0]


def _save_tf1_hub(path: str, graph: tf.Graph, images, features) -> str:
    with tf.compat.v1.Session(graph=graph) as session:
        session.run(tf.compat.v1.global_variables_initializer())
        signature = tf.compat.v1.saved_model.signature_def_utils.build_signature_def(
            inputs={"images": tf.compat.v1.saved_model.utils.build_tensor_info(images)},
            outputs={"default": tf.compat.v1.saved_model.utils.build_tensor_info(features)},
        )
        builder = tf.compat.v1.saved_model.Builder(path)
        # The TF1 Hub format: one graph with an empty tag set, signature `default`.
        builder.add_meta_graph_and_variables(session, [], signature_def_map={"default": signature})
        builder.save()
    with open(os.path.join(path, "tfhub_module.pb"), "wb") as handle:
        handle.write(HUB_MODULE_DEF)
    return path


def save_tiny_tf1_hub(path: str, size: int = TINY_SIZE) -> str:
    """The tiny model in the legacy TF1 Hub format, the format of the seed B4 module."""
    graph = tf.Graph()
    with graph.as_default():
        images = tf.compat.v1.placeholder(tf.float32, [None, size, size, 3], name="images")
        kernel = tf.compat.v1.get_variable("kernel", initializer=tiny_weights())
        features = tf.tanh(tf.matmul(tf.reduce_mean(images, axis=[1, 2]), kernel))
    return _save_tf1_hub(path, graph, images, features)


def save_b4_tf1_hub(path: str, size: int = 380) -> str:
    """Untrained EfficientNet-B4 (tf_keras, graph mode) as a TF1 Hub module taking [0, 1]."""
    import tf_keras

    graph = tf.Graph()
    with graph.as_default():
        images = tf.compat.v1.placeholder(tf.float32, [None, size, size, 3], name="images")
        network = tf_keras.applications.EfficientNetB4(
            weights=None, include_top=False, pooling="avg", input_tensor=images * 255.0
        )
        features = network.output
    return _save_tf1_hub(path, graph, images, features)


def export_b4_untrained(path: str) -> str:
    """Untrained EfficientNet-B4 through the exporter's command line; returns what it printed."""
    import contextlib
    import io

    from pipeline import export_model

    printed = io.StringIO()
    with contextlib.redirect_stdout(printed), contextlib.redirect_stderr(printed):
        assert export_model.main(["--out", path, "--weights", "none"]) == 0
    return printed.getvalue()


def save_picky(path: str, size: int = TINY_SIZE) -> str:
    """The tiny model, except that it raises on an all-white batch: an embed-stage failure."""

    class Picky(tf.Module):
        def __init__(self):
            super().__init__()
            self.kernel = tf.Variable(tiny_weights())

        @tf.function(input_signature=[tf.TensorSpec([None, size, size, 3], tf.float32)])
        def __call__(self, images):
            check = tf.debugging.assert_less(
                tf.reduce_min(images), 1.0, message="refuses all-white batches"
            )
            with tf.control_dependencies([check]):
                return tf.tanh(tf.matmul(tf.reduce_mean(images, axis=[1, 2]), self.kernel))

    picky = Picky()
    tf.saved_model.save(
        picky, path, signatures={"serving_default": picky.__call__.get_concrete_function()}
    )
    return path
