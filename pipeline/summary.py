"""summary.json: what the latest finished run did, read back from the job's counters; each run's
own stays beside it as summary-RUN.json."""

from __future__ import annotations

import json
from typing import Any

from apache_beam.io.filesystems import FileSystems
from apache_beam.metrics.metric import MetricsFilter
from apache_beam.runners.runner import PipelineResult

from transforms.decode import DECODE_MICROSECONDS
from transforms.model import MODEL_MICROSECONDS
from transforms.reasons import REASONS
from transforms.records import METRICS_NAMESPACE, STAGES
from transforms.write import FAILED_REASON, FAILED_STAGE

SUMMARY_FILE = "summary.json"
SUMMARY_PREFIX = "summary"

# The counters whose sum is the images a run is done with; their sum reaches `matched`.
DONE = ("skipped", "embedded", "failed")


def counters(result: PipelineResult) -> dict[str, int]:
    """The job's counters, committed values where the runner reports them."""
    query = result.metrics().query(MetricsFilter().with_namespace(METRICS_NAMESPACE))
    values: dict[str, int] = {}
    for counter in query["counters"]:
        value = counter.committed if counter.committed is not None else counter.attempted
        values[counter.key.metric.name] = values.get(counter.key.metric.name, 0) + (value or 0)
    return values


def make_summary(counts: dict[str, int], seconds: float, model: str, run: str) -> dict[str, Any]:
    """Invariant of a finished run: matched == skipped + embedded + failed."""
    embedded = counts.get("embedded", 0)
    return {
        "run": run,
        "matched": counts.get("matched", 0),
        "skipped": counts.get("skipped", 0),
        "embedded": embedded,
        "failed": counts.get("failed", 0),
        "failed_by_stage": {stage: counts.get(f"{FAILED_STAGE}{stage}", 0) for stage in STAGES},
        "failed_by_reason": {
            reason: counts[f"{FAILED_REASON}{reason}"]
            for reason in sorted(REASONS)
            if counts.get(f"{FAILED_REASON}{reason}")
        },
        "seconds": round(seconds, 3),
        "images_per_second": round(embedded / seconds, 3) if seconds > 0 else 0.0,
        "model": model,
        # Cloud Storage requests the job tried again (errors 5xx and 429, dropped connections).
        "storage_retries": counts.get("storage_retries", 0),
        # Seconds the model computed, summed over worker processes: beside `seconds`, whether
        # the model or the work that feeds it held the run back. None where no worker counted
        # any: no batch ran, or the model was served from outside the workers
        # (`--model_sharing machine`).
        "model_seconds": counted_seconds(counts, MODEL_MICROSECONDS),
        # CPU seconds the workers spent decoding and preprocessing, summed over their threads
        # and processes: divided by the images decoded, the CPU seconds each took, which is
        # also the cores it takes to decode one image a second. None where nothing was decoded.
        "decode_seconds": counted_seconds(counts, DECODE_MICROSECONDS),
    }


def counted_seconds(counts: dict[str, int], name: str) -> float | None:
    """The counter `name`, in microseconds, as seconds; None where no worker counted it."""
    if name not in counts:
        return None
    return round(counts[name] / 1e6, 3)


def write_summary(output: str, summary: dict[str, Any]) -> str:
    """Writes summary-RUN.json and, as the latest, summary.json; returns the latter's path."""
    text = (json.dumps(summary, indent=2) + "\n").encode()
    for name in (f"{SUMMARY_PREFIX}-{summary['run']}.json", SUMMARY_FILE):
        path = FileSystems.join(output, name)
        with FileSystems.create(path) as handle:
            handle.write(text)
    return path
