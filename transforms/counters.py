"""The job's counters, and one optional listener in the launching process.

Beam reports counters once a runner has aggregated them, which on DirectRunner is after the run.
Where the workers are threads of the launching process (DirectRunner's default modes), a listener
set with `listening` also hears every increment as it happens: the command's progress line.
Elsewhere (other processes, Dataflow) no listener is set and only the Beam counter counts.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator

from apache_beam.metrics import Metrics

from transforms.records import METRICS_NAMESPACE

Listener = Callable[[str, int], None]

_listener: Listener | None = None

# A counter object finds the metrics of the step that runs it when it counts, so one per name
# serves every step and thread; making one costs ten times what counting with it does.
_counters: dict[str, Metrics.DelegatingCounter] = {}


def count(name: str, n: int = 1) -> None:
    """Adds `n` to the job's counter `name`."""
    counter = _counters.get(name)
    if counter is None:
        counter = _counters.setdefault(name, Metrics.counter(METRICS_NAMESPACE, name))
    counter.inc(n)
    listener = _listener
    if listener is not None:
        listener(name, n)


@contextlib.contextmanager
def listening(listener: Listener) -> Iterator[None]:
    """Calls `listener(name, n)` on every `count` made in this process while the block runs."""
    global _listener
    earlier, _listener = _listener, listener
    try:
        yield
    finally:
        _listener = earlier
