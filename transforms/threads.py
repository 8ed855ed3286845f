"""How many threads TensorFlow may use in one worker process.

TensorFlow sizes its intra-op and inter-op pools to every core of the machine, in each process.
Where a machine runs several worker processes (DirectRunner's multi_processing mode, Dataflow's
default of one SDK process per vCPU), each pool is cut to the process's share of the cores, so
that processes x threads never exceed the machine and no process's model starves the others.
"""

from __future__ import annotations

import contextlib
import logging
import os

logger = logging.getLogger(__name__)

# processes_per_machine: a count; PER_CORE for one worker process per core, however many cores
# the worker machine has; None where it is not known (TensorFlow's own defaults then).
PER_CORE = 0


def usable_cores() -> int:
    """The cores this process may run on: its CPU affinity (a container's cpuset, `taskset`)
    where the system keeps one, else every core of the machine. os.cpu_count() counts the
    machine's cores even where the process may use only some of them."""
    if hasattr(os, "process_cpu_count"):  # Python 3.13
        return os.process_cpu_count() or 1
    if hasattr(os, "sched_getaffinity"):
        return len(os.sched_getaffinity(0)) or 1
    return os.cpu_count() or 1


def process_count(processes_per_machine: int | None, cores: int | None = None) -> int | None:
    """How many worker processes run on this machine (PER_CORE resolved), or None."""
    if processes_per_machine == PER_CORE:
        return cores or usable_cores()
    return processes_per_machine


def threads_per_process(processes_per_machine: int | None, cores: int | None = None) -> int | None:
    """The size of each TensorFlow pool in one of `processes_per_machine` processes."""
    processes = process_count(processes_per_machine, cores)
    if processes is None:
        return None
    return max(1, (cores or usable_cores()) // processes)


def configure_threads(processes_per_machine: int | None) -> None:
    """Sizes TensorFlow's pools for this process; a no-op once TensorFlow has started them."""
    import tensorflow as tf

    threads = threads_per_process(processes_per_machine)
    if threads is None:
        return
    # RuntimeError: an earlier model in this process already started TensorFlow's runtime.
    with contextlib.suppress(RuntimeError):
        tf.config.threading.set_intra_op_parallelism_threads(threads)
        tf.config.threading.set_inter_op_parallelism_threads(threads)
        logger.info("TensorFlow uses %d threads per pool in this worker process", threads)
