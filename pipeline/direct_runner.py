"""A fix for Beam 2.77's DirectRunner in `multi_threading` mode, which drops elements.

In that mode each worker thread's output goes through a buffer that a timer thread flushes every
second (`TimeBasedBufferingClosableOutputStream`, 1000 ms by default in `worker_handlers`). The
timer's flush reads the buffer and then clears it without holding the lock a writer would take,
so elements written in between are lost: 539 to 1,731 of 1,000,000 in 12 of 15 runs of
`benchmarks/direct_runner_loss.py`, none in 7 with this fix. A negative limit makes Beam pick the
size-based buffer, which only the writing thread flushes. Dataflow and the other local modes do
not use the timer.
"""

from __future__ import annotations

# Beam reads `config.get(...) or DATA_BUFFER_TIME_LIMIT_MS`, so 0 would mean 1000; any negative
# value turns the timer off.
NO_TIMED_FLUSH = -1


def stop_timed_flushes() -> None:
    """Makes this process's multi_threading DirectRunner workers buffer by size only."""
    from apache_beam.runners.portability.fn_api_runner import worker_handlers

    worker_handlers.DATA_BUFFER_TIME_LIMIT_MS = NO_TIMED_FLUSH
