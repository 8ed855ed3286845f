"""TPU workers: the worker's own TPU, found and initialized, and batches of one fixed shape.

A TPU runs the model as XLA compiles it for each input shape. RunInference's batches have a
fixed size except the last of a bundle; that one is padded with black images to the fixed size,
and the padding's vectors are cut off, so the model is compiled once. The batch is split evenly
over the TPU's cores (the strategy's replicas).
"""

from __future__ import annotations

import math

import numpy as np

# Lines of TensorFlow's graph errors that say nothing of the cause.
_BOILERPLATE = ("Graph execution error", "Detected at node", "<stack traces unavailable>")


class TpuUnavailableError(RuntimeError):
    """A worker configured for a TPU on which no TPU can be initialized."""


def cause(exc: BaseException) -> str:
    """What TensorFlow's error says went wrong, on one line: its type, and its message less
    the graph boilerplate, cut at 300 characters."""
    lines = (line.strip() for line in str(exc).splitlines())
    said = " ".join(line for line in lines if line and not line.startswith(_BOILERPLATE))
    return f"{type(exc).__name__}: {said[:300]}"


def connect():
    """The worker's own TPU, initialized, as a tf.distribute.TPUStrategy."""
    import tensorflow as tf

    try:
        resolver = tf.distribute.cluster_resolver.TPUClusterResolver(tpu="local")
        tf.tpu.experimental.initialize_tpu_system(resolver)
        return tf.distribute.TPUStrategy(resolver)
    except Exception as exc:  # noqa: BLE001 - whatever TensorFlow raises, the cause is the same
        raise TpuUnavailableError(
            f"the model was configured for a TPU (--accelerator tpu-...) and no TPU could be "
            f"initialized on this worker ({cause(exc)}); run on a TPU "
            "machine type with TensorFlow built for TPUs, or without --accelerator"
        ) from exc


def shard_size(batch_size: int, replicas: int) -> int:
    """Images per replica: the fixed batch, spread evenly (rounded up) over the replicas."""
    return math.ceil(batch_size / replicas)


def pad(images: np.ndarray, size: int) -> np.ndarray:
    """`images` followed by black images up to `size` of them."""
    missing = size - len(images)
    if missing <= 0:
        return images
    return np.concatenate([images, np.zeros((missing, *images.shape[1:]), images.dtype)])


def run_fixed(strategy, function, images: np.ndarray, batch_size: int) -> np.ndarray:
    """`function` over `images` in batches of exactly `batch_size` (rounded up to a multiple of
    the replicas), each split over the strategy's replicas; one output row per image."""
    replicas = strategy.num_replicas_in_sync
    per_replica = shard_size(batch_size, replicas)
    fixed = per_replica * replicas
    outputs = []
    for start in range(0, len(images), fixed):
        chunk = images[start : start + fixed]
        shards = np.split(pad(chunk, fixed), replicas)
        values = strategy.experimental_distribute_values_from_function(
            lambda context, shards=shards: shards[context.replica_id_in_sync_group]
        )
        result = strategy.run(function, args=(values,))
        rows = np.concatenate([r.numpy() for r in strategy.experimental_local_results(result)])
        outputs.append(rows[: len(chunk)])
    return np.concatenate(outputs)
