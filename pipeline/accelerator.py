"""`--accelerator TYPE:COUNT` (GPUs) or `--accelerator TYPE:TOPOLOGY` (TPUs): one flag that
expands into the Dataflow options a worker with that accelerator needs.

GPUs: `worker_accelerator=type:...;count:...;install-nvidia-driver` as a Dataflow service
option and a machine type that carries that many of that GPU (unless --machine_type is given).
Dataflow keeps its one SDK process per vCPU, so that decoding, which holds the GIL for part of
each image, runs in as many processes as there are cores; one process with many threads fed the
model about a third as fast (README, "GPU workers"). With one GPU per worker, NVIDIA MPS
(`use_nvidia_mps`) lets the processes' models share it. MPS serves one GPU per worker only, so
with several the processes share one model per machine instead (`--model_sharing machine`),
which runs on each of the machine's GPUs (transforms/model.py). TPUs:
`worker_accelerator=type:...;topology:...`, the matching machine type and one SDK process per
VM, since a TPU serves one process; the TPU recipes have not yet been run on hardware.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from apache_beam.options.pipeline_options import (
    PipelineOptions,
    SetupOptions,
    StandardOptions,
    WorkerOptions,
)

# GPU type -> the machine type that carries that many of it, by count. G2, A2 and A3 machines
# come with a fixed number of GPUs; N1 machines take T4s in ones, twos and fours and V100s up to
# eight, here with 8 vCPUs per GPU.
GPU_MACHINES = {
    "nvidia-l4": {
        1: "g2-standard-8",
        2: "g2-standard-24",
        4: "g2-standard-48",
        8: "g2-standard-96",
    },
    "nvidia-tesla-t4": {1: "n1-standard-8", 2: "n1-standard-16", 4: "n1-standard-32"},
    "nvidia-tesla-v100": {
        1: "n1-standard-8",
        2: "n1-standard-16",
        4: "n1-standard-32",
        8: "n1-standard-64",
    },
    "nvidia-tesla-a100": {
        **{count: f"a2-highgpu-{count}g" for count in (1, 2, 4, 8)},
        16: "a2-megagpu-16g",
    },
    "nvidia-a100-80gb": {count: f"a2-ultragpu-{count}g" for count in (1, 2, 4, 8)},
    "nvidia-h100-80gb": {count: f"a3-highgpu-{count}g" for count in (1, 2, 4, 8)},
}
# GPUs that a G2 machine type carries, by its vCPUs; A2 and A3 types name theirs (a2-highgpu-4g).
G2_GPUS = {4: 1, 8: 1, 12: 1, 16: 1, 24: 2, 32: 1, 48: 4, 96: 8}
# TPU type -> machine type of a single-host slice.
TPU_MACHINES = {
    "tpu-v5-lite-podslice": "ct5lp-hightpu-1t",
    "tpu-v6e-slice": "ct6e-standard-1t",
}
ONE_PROCESS_PER_VM = "no_use_multiple_sdk_containers"
NVIDIA_MPS = "use_nvidia_mps"


def is_tpu(spec: str | None) -> bool:
    return bool(spec) and spec.partition(":")[0] in TPU_MACHINES


def several_gpus(spec: str | None) -> bool:
    """Whether each worker has more than one GPU: its processes then share one model per
    machine, which runs on every GPU, since MPS serves one GPU per worker only."""
    if not spec or not spec.startswith("nvidia-"):
        return False
    count = spec.partition(":")[2]
    return count.isdigit() and int(count) > 1


def machine_gpus(machine_type: str) -> int | None:
    """The GPUs that a machine type comes with (G2, A2, A3), or None where it takes any number
    or none (N1 and the rest)."""
    named = re.fullmatch(r"a[23]-(?:high|mega|ultra)gpu-(\d+)g", machine_type)
    if named:
        return int(named[1])
    g2 = re.fullmatch(r"g2-standard-(\d+)", machine_type)
    return G2_GPUS.get(int(g2[1])) if g2 else None


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
        machine = _gpu_machine(spec, kind, int(count), options)
    else:
        raise AcceleratorError(
            f"--accelerator {spec!r}: expected an NVIDIA GPU type (e.g. nvidia-l4:1) or one of "
            f"{sorted(TPU_MACHINES)} with a topology (e.g. tpu-v5-lite-podslice:1x1)"
        )
    flags = [f"--dataflow_service_options={service}"]
    if kind in TPU_MACHINES:
        flags.append(f"--experiments={ONE_PROCESS_PER_VM}")
    if not options.view_as(WorkerOptions).machine_type:
        flags.append(f"--machine_type={machine}")
    return flags


def _gpu_machine(spec: str, kind: str, count: int, options: PipelineOptions) -> str | None:
    """The machine type for `count` GPUs of `kind`, None where --machine_type names one; raises
    where none is known, or where the one named comes with another number of GPUs."""
    given = options.view_as(WorkerOptions).machine_type
    if given:
        carried = machine_gpus(given)
        if carried is not None and carried != count:
            raise AcceleratorError(
                f"--accelerator {spec!r}: --machine_type {given} comes with {carried} GPU"
                f"{'s' if carried > 1 else ''}, not {count}; give a count of {carried}, or a "
                f"machine type with {count}"
            )
        return None
    machines = GPU_MACHINES.get(kind)
    if machines is None:
        raise AcceleratorError(
            f"--accelerator {spec!r}: no default machine type for {kind}; give --machine_type"
        )
    if count not in machines:
        offered = ", ".join(f"{n} ({machine})" for n, machine in machines.items())
        raise AcceleratorError(
            f"--accelerator {spec!r}: machines carry {kind} in counts of {offered}; give one "
            "of those counts, or --machine_type"
        )
    return machines[count]
