"""Loading modules in both formats, choosing their signature, and embedding through the handler."""

from __future__ import annotations

import concurrent.futures
import contextlib
import threading
import time
import traceback

import numpy as np
import pytest
from apache_beam.metrics.execution import MetricsContainer
from apache_beam.metrics.metricbase import MetricName
from apache_beam.runners.worker import statesampler
from apache_beam.utils import counters

from pipeline.checks import model_image_size
from pipeline.options import UsageError
from tests import models
from transforms import signature
from transforms.embed import batch_failures
from transforms.model import MODEL_MICROSECONDS, HubImageEmbedder, LoadedEmbedder
from transforms.records import METRICS_NAMESPACE, Failure
from transforms.signature import Choice, SignatureShape, choose


def images(n: int, size: int = models.TINY_SIZE) -> np.ndarray:
    return np.random.default_rng(n).integers(0, 256, size=(n, size, size, 3), dtype=np.uint8)


@pytest.mark.parametrize("fixture", ["tiny_tf2", "tiny_tf1_hub"])
def test_both_formats_embed_like_the_model_they_hold(fixture, request):
    embedder = LoadedEmbedder(request.getfixturevalue(fixture))
    batch = images(5)
    np.testing.assert_allclose(
        embedder(batch), models.tiny_reference(batch / 255.0), rtol=1e-5, atol=1e-6
    )


def test_signature_choice_per_format(tiny_tf2, tiny_tf1_hub, tmp_path):
    callable_only = models.save_tiny_tf2(str(tmp_path / "callable"), callable_only=True)
    size = (models.TINY_SIZE, models.TINY_SIZE)
    expected = {
        tiny_tf1_hub: Choice("default", "images", "default", size),
        tiny_tf2: Choice("serving_default", "images", "output_0", size),
        callable_only: Choice(None, None, None, None),
    }
    for path, choice in expected.items():
        # The launcher reads the graph definition only; workers look at the loaded module.
        assert signature.of_saved_model(path) == choice
        assert signature.of_loaded(LoadedEmbedder(path).module) == choice
    np.testing.assert_allclose(
        LoadedEmbedder(callable_only)(images(2)),
        models.tiny_reference(images(2) / 255.0),
        rtol=1e-5,
        atol=1e-6,
    )


def test_choice_rules():
    image = ("float32", (None, 380, 380, 3))
    assert choose({"serving_default": SignatureShape({"x": image}, ("out",))}, False) == Choice(
        "serving_default", "x", "out", (380, 380)
    )
    # `default` wins over `serving_default`, `images` over other inputs, `default` over outputs.
    two = SignatureShape(
        {"images": ("float32", (None, None, None, 3)), "k": ("float32", (1,))},
        ("default", "logits"),
    )
    assert choose({"default": two, "serving_default": SignatureShape({}, ())}, False) == Choice(
        "default", "images", "default", None
    )
    with pytest.raises(ValueError, match="expected one image input"):
        choose({"serving_default": SignatureShape({"a": image, "b": image}, ("o",))}, False)
    with pytest.raises(ValueError, match="expected 'default' or a single output"):
        choose({"serving_default": SignatureShape({"x": image}, ("a", "b"))}, False)
    with pytest.raises(ValueError, match="not callable"):
        choose({"predict": SignatureShape({"x": image}, ("o",))}, False)


def test_image_size_comes_from_the_module(tiny_tf1_hub, probe, tmp_path):
    assert model_image_size(tiny_tf1_hub, None) == models.TINY_SIZE
    assert model_image_size(probe, None) == 380
    assert model_image_size(tiny_tf1_hub, 32) == 32
    callable_only = models.save_tiny_tf2(str(tmp_path / "callable"), callable_only=True)
    assert model_image_size(callable_only, None) == 380


def test_missing_model_is_a_usage_error_with_a_way_out(tmp_path):
    with pytest.raises(UsageError, match="export_model"):
        model_image_size(str(tmp_path / "nothing-here"), None)


def test_handler_batches_and_keeps_order(tiny_tf2):
    handler = HubImageEmbedder(tiny_tf2, batch_size=4)
    assert handler.batch_elements_kwargs() == {"min_batch_size": 4, "max_batch_size": 4}
    model = handler.load_model()
    batch = list(images(3))
    vectors = list(handler.run_inference(batch, model))
    assert len(vectors) == 3 and vectors[0].shape == (models.TINY_DIM,)
    np.testing.assert_allclose(
        np.stack(vectors), models.tiny_reference(np.stack(batch) / 255.0), rtol=1e-5, atol=1e-6
    )
    assert handler.get_num_bytes(batch) == 3 * models.TINY_SIZE**2 * 3


def test_a_failed_batch_becomes_one_failure_per_image(tiny_tf2):
    handler = HubImageEmbedder(tiny_tf2)
    model = handler.load_model()
    with pytest.raises(Exception) as raised:  # noqa: B017 - whatever TensorFlow raises
        handler.run_inference([np.zeros((10, 10, 4), np.uint8)], model)  # 4 channels
    exc = raised.value
    # The dead letter RunInference emits for a batch: (batch, (type, repr, formatted traceback)).
    dead = (
        [(("a.jpg", "size=1;updated=2.000000"), None), (("b.png", ""), None)],
        (type(exc), repr(exc), traceback.format_exception(exc)),
    )
    failures = list(batch_failures(dead))
    assert [f.uri for f in failures] == ["a.jpg", "b.png"]
    assert all(isinstance(f, Failure) and f.stage == "embed" for f in failures)
    assert failures[0].error.startswith(type(exc).__name__ + ":")


def test_concurrent_calls_on_one_model_run_one_at_a_time(tiny_tf2):
    model = HubImageEmbedder(tiny_tf2).load_model()
    (replica,) = model.replicas  # no GPUs here: one copy of the model
    embed, running, most = replica.embed, [0], [0]
    guard = threading.Lock()

    def watched(images):
        with guard:
            running[0] += 1
            most[0] = max(most[0], running[0])
        time.sleep(0.05)
        try:
            return embed(images)
        finally:
            with guard:
                running[0] -= 1

    replica.embed = watched
    batch = np.zeros((2, models.TINY_SIZE, models.TINY_SIZE, 3), np.uint8)
    with concurrent.futures.ThreadPoolExecutor(4) as pool:
        results = list(pool.map(lambda _: model(batch), range(8)))
    assert most[0] == 1
    assert all(result.shape == results[0].shape for result in results)


@contextlib.contextmanager
def counted_in_this_thread():
    """Beam's metrics for the calling thread, as a worker's bundle has them; yields a function
    that reads one of the job's counters."""
    sampler = statesampler.StateSampler("", counters.CounterFactory())
    statesampler.set_current_tracker(sampler)
    container = MetricsContainer("EmbedImages")
    sampler.start()
    try:
        with sampler.scoped_state("EmbedImages", "process", metrics_container=container):
            yield lambda name: container.get_counter(
                MetricName(METRICS_NAMESPACE, name)
            ).get_cumulative()
    finally:
        sampler.stop()
        statesampler.set_current_tracker(None)


def test_the_model_counts_its_own_time_not_the_waits_for_it(tiny_tf2):
    model = HubImageEmbedder(tiny_tf2).load_model()
    (replica,) = model.replicas
    embed = replica.embed

    def slow(images):
        time.sleep(0.05)
        return embed(images)

    replica.embed = slow
    batch = np.zeros((2, models.TINY_SIZE, models.TINY_SIZE, 3), np.uint8)
    busy: list[float] = []

    def two_calls(_):
        with counted_in_this_thread() as counter:
            model(batch)
            model(batch)
            busy.append(counter(MODEL_MICROSECONDS) / 1e6)

    start = time.perf_counter()
    with concurrent.futures.ThreadPoolExecutor(4) as pool:
        list(pool.map(two_calls, range(4)))
    elapsed = time.perf_counter() - start
    # Each thread counted its two calls of at least 50 ms; the calls ran one at a time, so all
    # eight fit in the elapsed time, which the threads' waits for each other would not.
    assert len(busy) == 4 and min(busy) >= 0.1
    assert sum(busy) <= elapsed
