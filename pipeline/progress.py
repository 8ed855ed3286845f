"""The live progress line of a local run: images done (skipped, embedded or failed) of those
matched so far, the rate, and the time left, drawn on stderr with rich."""

from __future__ import annotations

import threading

from apache_beam.options.pipeline_options import DirectOptions, PipelineOptions
from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    ProgressColumn,
    Task,
    TextColumn,
)
from rich.text import Text

from pipeline.checks import runs_here
from pipeline.summary import DONE


def heard_here(options: PipelineOptions) -> bool:
    """Whether the workers are threads of this process, whose counts a listener hears: Beam's
    DirectRunner in its in_memory and multi_threading modes."""
    mode = options.view_as(DirectOptions).direct_running_mode
    return runs_here(options) and mode in ("in_memory", "multi_threading")


def _rate(task: Task) -> float | None:
    """Images per second since the run started (model loading included)."""
    if not task.elapsed or not task.completed:
        return None
    return task.completed / task.elapsed


class _RateColumn(ProgressColumn):
    def render(self, task: Task) -> Text:
        rate = _rate(task)
        return Text("-- img/s" if rate is None else f"{rate:.2f} img/s")


class _TimeLeftColumn(ProgressColumn):
    def render(self, task: Task) -> Text:
        rate = _rate(task)
        if rate is None or task.total is None:
            return Text("time left --:--")
        seconds = int((task.total - task.completed) / rate)
        return Text(f"time left {seconds // 3600}:{seconds // 60 % 60:02d}:{seconds % 60:02d}")


class ProgressLine:
    """A counters listener (transforms/counters.py) that draws the progress line; use it as a
    context manager around the run."""

    def __init__(self, console: Console | None = None):
        self._progress = Progress(
            TextColumn("Embedding"),
            BarColumn(),
            MofNCompleteColumn(),
            _RateColumn(),
            _TimeLeftColumn(),
            console=console or Console(stderr=True),
        )
        self._task = self._progress.add_task("embedding", total=None)
        self._matched = 0
        self._lock = threading.Lock()

    def __call__(self, name: str, n: int) -> None:
        with self._lock:
            if name == "matched":
                self._matched += n
                self._progress.update(self._task, total=self._matched)
            elif name in DONE:
                self._progress.advance(self._task, n)

    def __enter__(self) -> ProgressLine:
        self._progress.start()
        return self

    def __exit__(self, *exc_info) -> None:
        self._progress.stop()
