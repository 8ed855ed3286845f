"""Each worker process takes its share of the machine: TensorFlow's threads and, where processes
share a GPU, its memory."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
from apache_beam.options.pipeline_options import PipelineOptions

from pipeline.workers import processes_per_machine
from transforms.accelerate import SHARED_GPU_FRACTION, memory_share_mib
from transforms.threads import PER_CORE, threads_per_process, usable_cores


@pytest.mark.parametrize(
    ("flags", "expected"),
    [
        ([], 1),  # DirectRunner's in-memory and multi-threading modes: one process
        (["--direct_running_mode=multi_threading", "--direct_num_workers=2"], 1),
        (["--direct_running_mode=multi_processing", "--direct_num_workers=2"], 2),
        (["--direct_running_mode=multi_processing", "--direct_num_workers=0"], PER_CORE),
        (["--runner=DataflowRunner"], PER_CORE),
        (["--runner=DataflowRunner", "--experiments=no_use_multiple_sdk_containers"], 1),
        (["--runner=FlinkRunner"], None),
    ],
)
def test_processes_per_machine_follow_the_runner(flags, expected):
    assert processes_per_machine(PipelineOptions(flags)) == expected


@pytest.mark.parametrize(
    ("processes", "cores", "threads"),
    [(1, 16, 16), (2, 16, 8), (3, 16, 5), (32, 16, 1), (PER_CORE, 16, 1), (None, 16, None)],
)
def test_processes_times_threads_never_exceed_the_cores(processes, cores, threads):
    assert threads_per_process(processes, cores) == threads


@pytest.mark.skipif(
    not hasattr(os, "sched_setaffinity") or len(os.sched_getaffinity(0)) < 2,
    reason="needs two cores this process may run on, to leave it one",
)
def test_a_process_held_to_some_cores_sizes_itself_to_those():
    """A container's cpuset (here `sched_setaffinity`) leaves a process fewer cores than the
    machine has: the local layout and TensorFlow's pools count only the ones it may use."""
    script = (
        "import os\n"
        "os.sched_setaffinity(0, {min(os.sched_getaffinity(0))})\n"
        "from pipeline.run import local_defaults\n"
        "from transforms.threads import PER_CORE, process_count, threads_per_process\n"
        "print(local_defaults([])[-1], process_count(PER_CORE), threads_per_process(1))\n"
    )
    printed = subprocess.run(
        [sys.executable, "-c", script],
        capture_output=True,
        text=True,
        check=True,
        cwd=os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
    ).stdout.split()
    assert printed[-3:] == ["--direct_num_workers=1", "1", "1"]


@pytest.mark.parametrize(
    ("processes", "gpus", "cores", "share"),
    [
        (PER_CORE, 1, 16, int(81_920 * SHARED_GPU_FRACTION / 16)),  # one per vCPU, under MPS
        (4, 2, 16, int(81_920 * SHARED_GPU_FRACTION / 2)),
        (1, 1, 16, None),  # alone on its GPU: memory as needed
        (2, 2, 16, None),
        (None, 1, 16, None),
        (PER_CORE, 0, 16, None),
    ],
)
def test_processes_that_share_a_gpu_split_its_memory(processes, gpus, cores, share):
    assert memory_share_mib(processes, gpus, 81_920, cores) == share


def test_a_loaded_model_sizes_tensorflow_to_its_share(tiny_tf2):
    """In a fresh process, as a worker starts: two processes per machine, half the cores each."""
    script = (
        "import sys, tensorflow as tf\n"
        "from transforms.model import LoadedEmbedder\n"
        "LoadedEmbedder(sys.argv[1], processes_per_machine=2)\n"
        "print(tf.config.threading.get_intra_op_parallelism_threads(),"
        " tf.config.threading.get_inter_op_parallelism_threads())\n"
    )
    printed = subprocess.run(
        [sys.executable, "-c", script, tiny_tf2],
        capture_output=True,
        text=True,
        check=True,
        cwd=os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
    ).stdout.split()
    share = max(1, usable_cores() // 2)
    assert printed[-2:] == [str(share), str(share)]


def test_local_workers_buffer_by_size_not_by_timer():
    """Beam's timed flush drops elements (pipeline/direct_runner.py); the job turns it off."""
    from apache_beam.runners.portability.fn_api_runner import worker_handlers
    from apache_beam.runners.worker import data_plane

    from pipeline import direct_runner

    saved = worker_handlers.DATA_BUFFER_TIME_LIMIT_MS
    try:
        direct_runner.stop_timed_flushes()
        stream = data_plane.ClosableOutputStream.create(
            None, lambda _: None, worker_handlers.DATA_BUFFER_TIME_LIMIT_MS
        )
        assert type(stream) is data_plane.SizeBasedBufferingClosableOutputStream
    finally:
        worker_handlers.DATA_BUFFER_TIME_LIMIT_MS = saved
