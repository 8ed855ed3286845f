"""How many worker processes each machine of the job runs, read from the pipeline options, so
that each process can size its share of the machine (transforms/threads.py)."""

from __future__ import annotations

from apache_beam.options.pipeline_options import (
    DebugOptions,
    DirectOptions,
    PipelineOptions,
    StandardOptions,
)

from pipeline.accelerator import ONE_PROCESS_PER_VM
from pipeline.checks import runs_here
from transforms.threads import PER_CORE


def processes_per_machine(options: PipelineOptions) -> int | None:
    """A count, PER_CORE, or None where the runner does not say (TensorFlow's defaults then)."""
    if runs_here(options):
        direct = options.view_as(DirectOptions)
        if direct.direct_running_mode != "multi_processing":
            return 1  # in_memory and multi_threading: threads of one process
        return direct.direct_num_workers or PER_CORE  # 0 means one per core
    if "Dataflow" in str(options.view_as(StandardOptions).runner):
        experiments = options.view_as(DebugOptions).experiments or []
        # Dataflow runs one SDK process per vCPU unless told to run one per VM.
        return 1 if ONE_PROCESS_PER_VM in experiments else PER_CORE
    return None
