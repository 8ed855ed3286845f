"""TPU workers, as far as a machine without a TPU can show: every batch padded to the fixed size
gives the vectors of the unpadded batch, the model runs under the strategy TensorFlow's TPU entry
points return, and a worker without a TPU fails at model load, saying so."""

from __future__ import annotations

from importlib import metadata

import numpy as np
import pytest
import tensorflow as tf

from pipeline.options import UsageError, parse
from transforms import tpu
from transforms.model import HubImageEmbedder, LoadedEmbedder

BATCH = 8


class RecordingStrategy(tf.distribute.OneDeviceStrategy):
    """The CPU in the TPU strategy's place: it records the shape of every batch it runs."""

    shapes: list[tuple[int, ...]] = []

    def run(self, fn, args=(), kwargs=None, options=None):
        RecordingStrategy.shapes.append(tuple(args[0].shape))
        return super().run(fn, args, kwargs, options)


def built_for_tpus() -> bool:
    """Whether this TensorFlow is tensorflow-tpu (the TPU image's, tools/check-tpu-packages)."""
    try:
        metadata.version("tensorflow-tpu")
    except metadata.PackageNotFoundError:
        return False
    return True


def xla_on_the_cpu() -> bool:
    try:
        tf.function(lambda: tf.constant(1.0) + 1.0, jit_compile=True)()
    except tf.errors.NotFoundError:
        return False
    return True


@pytest.fixture
def tpu_entry_points(monkeypatch):
    """TensorFlow's TPU entry points, replaced at that boundary only: nothing emulates a TPU."""
    if built_for_tpus() and not xla_on_the_cpu():
        pytest.skip(
            "TensorFlow built for TPUs compiles nothing for the CPU with XLA, so the CPU "
            "cannot stand in for the TPU here"
        )
    calls = []
    monkeypatch.setattr(
        tf.distribute.cluster_resolver,
        "TPUClusterResolver",
        lambda tpu: calls.append(("resolve", tpu)) or "resolver",
    )
    monkeypatch.setattr(
        tf.tpu.experimental,
        "initialize_tpu_system",
        lambda resolver: calls.append(("initialize", resolver)),
    )
    monkeypatch.setattr(
        tf.distribute,
        "TPUStrategy",
        lambda resolver: calls.append(("strategy", resolver)) or RecordingStrategy("/cpu:0"),
    )
    RecordingStrategy.shapes = []
    return calls


def test_every_short_batch_is_padded_and_gives_the_unpadded_vectors(probe, tpu_entry_points):
    handler = HubImageEmbedder(probe, batch_size=BATCH, on_tpu=True)
    on_tpu = handler.load_model()
    assert tpu_entry_points == [
        ("resolve", "local"),
        ("initialize", "resolver"),
        ("strategy", "resolver"),
    ]
    images = np.random.default_rng(0).integers(0, 256, (BATCH, 380, 380, 3), np.uint8)
    unpadded = LoadedEmbedder(probe)(images)
    for count in range(1, BATCH + 1):
        vectors = list(handler.run_inference(list(images[:count]), on_tpu))
        assert len(vectors) == count
        np.testing.assert_allclose(np.stack(vectors), unpadded[:count], rtol=1e-5, atol=1e-5)
    assert set(RecordingStrategy.shapes) == {(BATCH, 380, 380, 3)}


def test_a_batch_of_five_comes_back_as_five(probe, tpu_entry_points):
    handler = HubImageEmbedder(probe, batch_size=BATCH, on_tpu=True)
    images = np.random.default_rng(5).integers(0, 256, (5, 380, 380, 3), np.uint8)
    vectors = list(handler.run_inference(list(images), handler.load_model()))
    np.testing.assert_allclose(np.stack(vectors), LoadedEmbedder(probe)(images), atol=1e-5)
    assert RecordingStrategy.shapes == [(BATCH, 380, 380, 3)]


def test_a_worker_without_a_tpu_fails_at_model_load(tiny_tf2):
    with pytest.raises(tpu.TpuUnavailableError, match="no TPU could be initialized"):
        HubImageEmbedder(tiny_tf2, batch_size=BATCH, on_tpu=True).load_model()


def test_the_load_failure_names_the_cause_not_the_graph():
    # What TensorFlow built for TPUs raises on a machine without one (tensorflow-tpu 2.20).
    error = tf.errors.InternalError(
        None,
        None,
        "Graph execution error:\n\nDetected at node disconnect_tpu_host/_1 defined at (most "
        "recent call last):\n<stack traces unavailable>\nRET_CHECK failure "
        "(tpu_node_interfaces.cc:432) *platform \n\t [[{{node disconnect_tpu_host/_1}}]]",
    )
    assert tpu.cause(error) == (
        "InternalError: RET_CHECK failure (tpu_node_interfaces.cc:432) *platform "
        "[[{{node disconnect_tpu_host/_1}}]]"
    )


def test_batches_split_evenly_over_the_replicas():
    assert [tpu.shard_size(8, replicas) for replicas in (1, 2, 4, 8, 3)] == [8, 4, 2, 1, 3]
    padded = tpu.pad(np.ones((3, 2, 2, 3), np.uint8), 5)
    assert padded.shape == (5, 2, 2, 3) and padded[3:].sum() == 0 and padded[:3].all()


def test_a_tpu_takes_bfloat16_and_refuses_float16():
    flags = ["--input", "a", "--output", "o", "--accelerator", "tpu-v5-lite-podslice:1x1"]
    job, _ = parse([*flags, "--precision", "bfloat16"])
    assert job.precision == "bfloat16"
    with pytest.raises(UsageError, match="float16 is for NVIDIA GPUs"):
        parse([*flags, "--precision", "float16"])
