"""`--accelerator TYPE:COUNT` (GPUs) or `--accelerator TYPE:TOPOLOGY` (TPUs): one flag that
expands into the Dataflow options a worker with that accelerator needs.

GPUs: `worker_accelerator=type:...;count:...;install-nvidia-driver` as a Dataflow service
option and a machine type that carries that GPU (unless --machine_type is given). With one GPU
per worker, Dataflow keeps its one SDK process per vCPU and NVIDIA MPS (`use_nvidia_mps`) lets
their models share the GPU: decoding, which holds the GIL for part of each image, then runs in
as many processes as there are cores. One process with many threads fed the model about a
third as fast (README, "Speed and memory"). MPS serves one GPU per worker only, so with several
GPUs the worker runs one SDK process (`no_use_multiple_sdk_containers`). TPUs:
`worker_accelerator=type:...;topology:...`, the matching machine type and one SDK process per
VM, since a TPU serves one process; the TPU recipes have not yet been run on hardware.
"""

from __future__ import annotations

from collections.abc import Sequence

from apache_beam.options.pipeline_options import (
    PipelineOptions,
    SetupOptions,
    StandardOptions,
    WorkerOptions,
)

# GPU type -> a machine type that carries one such GPU.
GPU_MACHINES = {
    "nvidia-l4": "g2-standard-8",
    "nvidia-tesla-t4": "n1-standard-8",
    "nvidia-tesla-v100": "n1-standard-8",
    "nvidia-tesla-a100": "a2-highgpu-1g",
    "nvidia-a100-80gb": "a2-ultragpu-1g",
    "nvidia-h100-80gb": "a3-highgpu-1g",
}
# TPU type -> machine type of a single-host slice.
TPU_MACHINES = {
    "tpu-v5-lite-podslice": "ct5lp-hightpu-1t",
    "tpu-v6e-slice": "ct6e-standard-1t",
}
ONE_PROCESS_PER_VM = "no_use_multiple_sdk_containers"
NVIDIA_MPS = "use_nvidia_mps"


def is_tpu(spec: str | None) -> bool:
    return bool(spec) and spec.partition(":")[0] in TPU_MACHINES


class AcceleratorError(ValueError):
    """A malformed or unknown --accelerator value."""


def _require_tpu_container(spec: str, options: PipelineOptions) -> None:
    """TPU workers on Dataflow need the TPU image (Dockerfile.tpu): the default worker image
    holds TensorFlow for CPUs and GPUs, and a --setup_file would install TensorFlow 2.21 again
    beside the image's. Either would fail the workers; say so before launch."""
    if "dataflow" not in (options.view_as(StandardOptions).runner or "").lower():
        return
    worker = options.view_as(WorkerOptions)
    if not (worker.sdk_container_image or worker.worker_harness_container_image):
        raise AcceleratorError(
            f"--accelerator {spec!r}: TPU workers need TensorFlow built for TPUs, which "
            "Dataflow's default worker image lacks; build Dockerfile.tpu and give its image with "
            '--sdk_container_image (README, "TPU workers")'
        )
    if options.view_as(SetupOptions).setup_file:
        raise AcceleratorError(
            f"--accelerator {spec!r}: leave out --setup_file; the TPU image holds this package, "
            "and installing it again on the workers would add TensorFlow 2.21 beside the "
            "image's TensorFlow built for TPUs"
        )


def expand(spec: str, beam_args: Sequence[str]) -> list[str]:
    """The Beam flags that `--accelerator spec` stands for, given the flags already present."""
    kind, _, amount = spec.partition(":")
    options = PipelineOptions(list(beam_args))
    if kind in TPU_MACHINES:
        _require_tpu_container(spec, options)
        topology = amount or "1x1"
        service = f"worker_accelerator=type:{kind};topology:{topology}"
        machine = TPU_MACHINES[kind]
    elif kind.startswith("nvidia-"):
        count = amount or "1"
        if not count.isdigit() or int(count) < 1:
            raise AcceleratorError(
                f"--accelerator {spec!r}: the GPU count must be a positive integer"
            )
        service = f"worker_accelerator=type:{kind};count:{count};install-nvidia-driver"
        if int(count) == 1:
            service += f";{NVIDIA_MPS}"
        machine = GPU_MACHINES.get(kind)
    else:
        raise AcceleratorError(
            f"--accelerator {spec!r}: expected an NVIDIA GPU type (e.g. nvidia-l4:1) or one of "
            f"{sorted(TPU_MACHINES)} with a topology (e.g. tpu-v5-lite-podslice:1x1)"
        )
    flags = [f"--dataflow_service_options={service}"]
    if NVIDIA_MPS not in service:
        flags.append(f"--experiments={ONE_PROCESS_PER_VM}")
    if not options.view_as(WorkerOptions).machine_type:
        if machine is None:
            raise AcceleratorError(
                f"--accelerator {spec!r}: no default machine type for {kind}; give --machine_type"
            )
        flags.append(f"--machine_type={machine}")
    return flags
