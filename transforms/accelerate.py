"""How the loaded model runs on the worker's hardware: precision, GPU memory, XLA, and which
devices hold a copy of it.

Where several worker processes share a GPU (one per vCPU, under NVIDIA MPS), each takes a fixed
share of its memory, so that none can take what the others need; a process alone on its GPUs
takes memory as it needs it, and holds a copy of the model on each of them (replica_devices).

TensorFlow's graph rewrites do the mixed precision: on a CPU with bfloat16 instructions oneDNN
runs the convolutions in bfloat16 (`auto_mixed_precision_onednn_bfloat16`); on an NVIDIA GPU
`auto_mixed_precision` runs them in float16. The saved weights stay float32 and so do the
outputs. These are process-wide settings, made before the model's function is first traced,
which suits a worker process that serves one model.
"""

from __future__ import annotations

import contextlib
import enum
import logging
import math
import subprocess

from transforms.threads import process_count

logger = logging.getLogger(__name__)


class Precision(enum.StrEnum):
    FLOAT32 = "float32"
    BFLOAT16 = "bfloat16"  # CPUs with AVX512_BF16 or AMX, and TPUs
    FLOAT16 = "float16"  # NVIDIA GPUs


class UnsupportedPrecisionError(RuntimeError):
    """The requested precision has no hardware support here."""


def cpu_flags() -> set[str]:
    try:
        with open("/proc/cpuinfo", encoding="ascii", errors="replace") as handle:
            for line in handle:
                if line.startswith("flags"):
                    return set(line.split(":", 1)[1].split())
    except OSError:
        pass
    return set()


def has_bfloat16_cpu() -> bool:
    return bool(cpu_flags() & {"avx512_bf16", "amx_bf16"})


def gpus() -> list:
    import tensorflow as tf

    return tf.config.list_physical_devices("GPU")


# The kind of device that holds the model's copies; tests set "CPU" with logical CPU devices,
# since TensorFlow makes logical GPUs only out of a real one.
REPLICA_DEVICE_TYPE = "GPU"


def replica_devices(processes_per_machine: int | None) -> list[str | None]:
    """The devices that each hold a copy of the model: every GPU where this is the machine's one
    process with a model (its only worker process, or the one that serves a model its processes
    share) and the machine has several; else [None], wherever TensorFlow places it (its first
    GPU). Named from the configuration alone: listing the logical devices would start
    TensorFlow's runtime before the model loads, which cost a CPU worker about 0.5 ms of kernel
    time per image in the command's steady state (benchmarks/cpu.py)."""
    import tensorflow as tf

    if process_count(processes_per_machine) != 1:
        return [None]
    # Logical devices are numbered in order over the physical ones; a physical device given no
    # logical configuration is one logical device.
    count = sum(
        len(tf.config.get_logical_device_configuration(device) or [None])
        for device in tf.config.list_physical_devices(REPLICA_DEVICE_TYPE)
    )
    if count < 2:
        return [None]
    return [f"/device:{REPLICA_DEVICE_TYPE}:{index}" for index in range(count)]


def require_support(precision: Precision) -> None:
    """Raises UnsupportedPrecisionError, saying what to use, where this machine cannot run
    `precision`."""
    if precision is Precision.FLOAT32:
        return
    devices = gpus()
    if precision is Precision.FLOAT16 and not devices:
        raise UnsupportedPrecisionError(
            "--precision float16 needs an NVIDIA GPU and this machine has none; use bfloat16 "
            "on a CPU with AVX512_BF16 or AMX, or float32"
        )
    if precision is Precision.BFLOAT16 and (devices or not has_bfloat16_cpu()):
        where = "has a GPU" if devices else "has a CPU without AVX512_BF16 or AMX"
        raise UnsupportedPrecisionError(
            f"--precision bfloat16 runs on CPUs with AVX512_BF16 or AMX and this machine "
            f"{where}: use float16 on GPUs, or float32"
        )


def require_tpu_support(precision: Precision) -> None:
    """Raises UnsupportedPrecisionError for a precision a TPU does not run."""
    if precision is Precision.FLOAT16:
        raise UnsupportedPrecisionError(
            "--precision float16 is for NVIDIA GPUs; a TPU computes in bfloat16: use "
            "--precision bfloat16 or float32"
        )


# Of a shared GPU's memory, what the processes divide among themselves (the driver, MPS and
# CUDA contexts keep the rest).
SHARED_GPU_FRACTION = 0.9


def gpu_memory_mib() -> list[int]:
    """Total memory of each NVIDIA GPU, from nvidia-smi; empty where it cannot tell."""
    try:
        listed = subprocess.run(
            ["nvidia-smi", "--query-gpu=memory.total", "--format=csv,noheader,nounits"],
            capture_output=True,
            text=True,
            timeout=30,
            check=True,
        ).stdout
        return [int(line) for line in listed.split()]
    except (OSError, subprocess.SubprocessError, ValueError):
        return []


def memory_share_mib(
    processes_per_machine: int | None, gpu_count: int, total_mib: int, cores: int | None = None
) -> int | None:
    """Each process's share of one GPU's memory, or None where it has the GPU to itself."""
    processes = process_count(processes_per_machine, cores)
    if processes is None or gpu_count == 0:
        return None
    per_gpu = math.ceil(processes / gpu_count)
    return None if per_gpu <= 1 else int(total_mib * SHARED_GPU_FRACTION / per_gpu)


def configure(
    precision: Precision, processes_per_machine: int | None = None, on_tpu: bool = False
) -> None:
    """Sets TensorFlow up for this worker; raises UnsupportedPrecisionError with what to use."""
    import tensorflow as tf

    if on_tpu:
        require_tpu_support(precision)
        # XLA on a TPU multiplies float32 convolutions in bfloat16 by default (its matrix units),
        # accumulating in float32: bfloat16 is the TPU's own precision and needs no rewrite.
        return
    require_support(precision)
    devices = gpus()
    totals = gpu_memory_mib() if devices else []
    for index, gpu in enumerate(devices):
        share = None
        if index < len(totals):
            share = memory_share_mib(processes_per_machine, len(devices), totals[index])
        # A RuntimeError means an earlier model in this process already initialized the GPU.
        with contextlib.suppress(RuntimeError):
            # Take GPU memory as needed, not all of it at start; where processes share the GPU,
            # at most this process's share (what Dataflow's MPS guide asks of TensorFlow).
            tf.config.experimental.set_memory_growth(gpu, True)
            if share:
                tf.config.set_logical_device_configuration(
                    gpu, [tf.config.LogicalDeviceConfiguration(memory_limit=share)]
                )
                logger.info("This worker process takes at most %d MiB of %s", share, gpu.name)
    rewrite = {
        Precision.FLOAT16: "auto_mixed_precision",
        Precision.BFLOAT16: "auto_mixed_precision_onednn_bfloat16",
    }.get(precision)
    if rewrite:
        tf.config.optimizer.set_experimental_options({rewrite: True})
        logger.info("Running the model in mixed precision: %s", precision)
