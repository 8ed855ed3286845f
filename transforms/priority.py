"""The CPU priority of the threads that feed a model computing on the same cores.

TensorFlow spreads each batch over threads of its own, and each of its operations ends when the
slowest of its shares does. A worker thread that decodes meanwhile takes a core from one share
while the others wait. At the lowest priority (nice 19) the worker thread runs where the model's
threads leave a core free; should it find none, the model soon waits for its next batch and
frees the cores. Only the job's own priorities change: other programs on the machine come
before its feed. Linux gives each thread a priority of its own; elsewhere nothing changes.
"""

from __future__ import annotations

import contextlib
import os
import sys
import threading

LOWEST = 19

_lowered = threading.local()


def yield_cores() -> None:
    """Gives the calling thread the lowest CPU priority, once. Taking it back needs privileges,
    so the thread keeps it for whatever it runs next. The main thread keeps its own: where it
    runs bundles (DirectRunner's in_memory mode) it also starts the model's threads, which would
    inherit the lowest priority with everything else it starts later."""
    if getattr(_lowered, "done", False):
        return
    _lowered.done = True
    if threading.current_thread() is threading.main_thread():
        return
    if not sys.platform.startswith("linux"):
        return
    with contextlib.suppress(OSError):  # not allowed here: the thread keeps its priority
        os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), LOWEST)
