"""The model handler: loads an image-feature module with tensorflow_hub once per worker process
(or once per machine, shared by its processes), a copy on each GPU where that process has
several, and embeds batches of uint8 images."""

from __future__ import annotations

import contextlib
import dataclasses
import logging
import queue
import time
from collections.abc import Callable, Iterable, Sequence
from typing import Any

import numpy as np
from apache_beam.metrics import Metrics
from apache_beam.ml.inference.base import ModelHandler

from transforms import shared_batch, signature, tpu
from transforms.accelerate import Precision, configure, replica_devices
from transforms.model_files import local_model_path
from transforms.records import METRICS_NAMESPACE
from transforms.tensors import as_tensor, stack_aligned
from transforms.threads import configure_threads

logger = logging.getLogger(__name__)

DEFAULT_MODEL_HANDLE = "https://tfhub.dev/google/efficientnet/b4/feature-vector/1"
DEFAULT_BATCH_SIZE = 16
# Microseconds the model spent on batches, from the start to the end of each call, waits for the
# model excluded, summed over its copies where it has one on each of several GPUs. Counted in
# the worker process that holds the model; a model served to its machine's processes from
# outside Beam's workers (`large_model`) counts nowhere.
MODEL_MICROSECONDS = "model_microseconds"


@dataclasses.dataclass
class Replica:
    """One copy of the module, on `device` (None: wherever TensorFlow places it), with the
    function of it that maps uint8 images to feature vectors."""

    device: str | None
    module: Any
    embed: Callable


def load_replica(handle: str, device: str | None, jit_compile: bool, scope=None) -> Replica:
    """The module at `handle` (a local path) loaded onto `device`, or within `scope` (a TPU
    strategy's)."""
    import tensorflow as tf
    import tensorflow_hub as hub

    place = (lambda: tf.device(device)) if device else contextlib.nullcontext
    with scope or place():
        module = hub.load(handle)
    choice = signature.of_loaded(module)
    if choice.signature is None:
        features = module
    else:
        function = module.signatures[choice.signature]
        input_name, output_name = choice.input_name, choice.output_name

        def features(images):
            return function(**{input_name: images})[output_name]

    @tf.function(
        input_signature=[tf.TensorSpec([None, None, None, 3], tf.uint8)],
        jit_compile=jit_compile or None,
    )
    def embed(images):
        with place():
            # The module takes float images in [0, 1]; pixels travel as uint8 until here.
            return tf.cast(features(tf.cast(images, tf.float32) / 255.0), tf.float32)

    return Replica(device, module, embed)


class LoadedEmbedder(shared_batch.SharedBatchTarget):
    """A loaded module, one copy per device that runs it, and the one function of it that maps
    uint8 images to feature vectors."""

    def __init__(
        self,
        handle: str,
        precision: Precision = Precision.FLOAT32,
        jit_compile: bool = False,
        processes_per_machine: int | None = None,
        tpu_batch_size: int | None = None,
    ):
        """tpu_batch_size: run on the worker's TPU, in batches of exactly this many images
        (transforms/tpu.py); a TPU that cannot be initialized raises TpuUnavailableError."""
        configure_threads(processes_per_machine)
        on_tpu = tpu_batch_size is not None
        configure(precision, processes_per_machine, on_tpu=on_tpu)
        self._strategy = tpu.connect() if on_tpu else None
        self._tpu_batch_size = tpu_batch_size
        self.handle = handle
        path = local_model_path(handle)
        if on_tpu:
            scope = self._strategy.scope()
            self.replicas = [load_replica(path, None, jit_compile=True, scope=scope)]
        else:
            devices = replica_devices(processes_per_machine)
            self.replicas = [load_replica(path, device, jit_compile) for device in devices]
            if len(devices) > 1:
                logger.info("A copy of the model on each of %s", ", ".join(devices))
        # Each call takes a copy of its own: one call at a time per device. Concurrent calls on
        # one device (the worker threads of a process, or the worker processes a shared model
        # serves) would each hold a batch's activations at once: with two they raised peak
        # memory by 1.4x here, and serialized they ran no slower, since one call already spreads
        # over every core (benchmarks/throughput.py --rss). With a copy on each of several GPUs,
        # as many calls run at once.
        self._free: queue.SimpleQueue[Replica] = queue.SimpleQueue()
        for replica in self.replicas:
            self._free.put(replica)
        self._busy = Metrics.counter(METRICS_NAMESPACE, MODEL_MICROSECONDS)

    @property
    def module(self):
        """The loaded module (its first copy)."""
        return self.replicas[0].module

    def __call__(self, images: np.ndarray) -> np.ndarray:
        """(N, H, W, 3) uint8 -> (N, D) float32."""
        replica = self._free.get()
        start = time.perf_counter_ns()
        try:
            if self._strategy is not None:
                return tpu.run_fixed(self._strategy, replica.embed, images, self._tpu_batch_size)
            return replica.embed(as_tensor(images)).numpy()
        finally:
            self._busy.inc((time.perf_counter_ns() - start) // 1000)
            self._free.put(replica)


class HubImageEmbedder(ModelHandler[np.ndarray, np.ndarray, LoadedEmbedder]):
    """Embeds uint8 images of one size with a TF-Hub module or SavedModel.

    Wrap it in `KeyedModelHandler` to keep each URI beside its vector. Batches have a fixed size
    (the last of a bundle may be smaller) so the model sees few distinct shapes.
    """

    def __init__(
        self,
        handle: str = DEFAULT_MODEL_HANDLE,
        *,
        batch_size: int = DEFAULT_BATCH_SIZE,
        precision: Precision = Precision.FLOAT32,
        jit_compile: bool = False,
        share_across_processes: bool = False,
        processes_per_machine: int | None = None,
        on_tpu: bool = False,
    ):
        """processes_per_machine: worker processes on each machine (transforms/threads.py), so
        that each sizes its TensorFlow threads and GPU memory to its share. on_tpu: run on the
        worker's TPU, every batch padded to `batch_size` (transforms/tpu.py)."""
        # Sharing across processes is RunInference's `large_model`: one copy per machine,
        # served to every worker process of that machine, alone with the machine's cores.
        super().__init__(
            min_batch_size=batch_size,
            max_batch_size=batch_size,
            large_model=share_across_processes,
        )
        self._handle = handle
        self._precision = precision
        self._jit_compile = jit_compile
        self._processes = 1 if share_across_processes else processes_per_machine
        self._tpu_batch_size = batch_size if on_tpu else None

    def load_model(self) -> LoadedEmbedder:
        logger.info("Loading %s (%s)", self._handle, self._precision)
        return LoadedEmbedder(
            self._handle,
            self._precision,
            self._jit_compile,
            processes_per_machine=self._processes,
            tpu_batch_size=self._tpu_batch_size,
        )

    def run_inference(
        self,
        batch: Sequence[np.ndarray],
        model: LoadedEmbedder,
        inference_args: dict[str, Any] | None = None,
    ) -> Iterable[np.ndarray]:
        if self.share_model_across_processes() and not isinstance(
            model, shared_batch.SharedBatchTarget
        ):
            # A proxy of the model that one process of this machine holds: the batch goes there
            # through shared memory (transforms/shared_batch.py).
            return list(shared_batch.embed(model, batch))
        return list(model(stack_aligned(batch)))

    def get_num_bytes(self, batch: Sequence[np.ndarray]) -> int:
        return sum(image.nbytes for image in batch)

    def get_metrics_namespace(self) -> str:
        return METRICS_NAMESPACE

    def __repr__(self) -> str:
        return f"HubImageEmbedder({self._handle!r})"
