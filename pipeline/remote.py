"""A job running elsewhere (Dataflow): where to watch it, and following it to the end."""

from __future__ import annotations

from collections.abc import Callable

from apache_beam.options.pipeline_options import GoogleCloudOptions, PipelineOptions
from apache_beam.runners.runner import PipelineResult, PipelineState

from pipeline import summary

# How often --wait reports the job's state and counts.
POLL_SECONDS = 60


def job_id(result: PipelineResult) -> str | None:
    """The runner's id of the job, where it has one (Dataflow)."""
    get = getattr(result, "job_id", None)
    return get() if callable(get) else None


def console_url(job: str, options: PipelineOptions) -> str:
    cloud = options.view_as(GoogleCloudOptions)
    return (
        f"https://console.cloud.google.com/dataflow/jobs/{cloud.region}/{job}"
        f"?project={cloud.project}"
    )


def status_line(state: str, counts: dict[str, int]) -> str:
    done = sum(counts.get(name, 0) for name in summary.DONE)
    return (
        f"{state}: {done} of {counts.get('matched', 0)} matched images done "
        f"({counts.get('embedded', 0)} embedded, {counts.get('skipped', 0)} skipped, "
        f"{counts.get('failed', 0)} failed)"
    )


def follow(
    result: PipelineResult,
    report: Callable[[str], None],
    poll_seconds: float = POLL_SECONDS,
) -> str:
    """Waits for the job to end, reporting its state and counters every `poll_seconds`;
    returns the final state (the runner raises where the job failed)."""
    while True:
        state = result.wait_until_finish(duration=int(poll_seconds * 1000))
        if PipelineState.is_terminal(state):
            return state
        try:
            counts = summary.counters(result)
        except Exception as exc:  # noqa: BLE001 - a metrics hiccup must not end the wait
            report(f"{state}: counters unavailable ({type(exc).__name__}: {exc})")
            continue
        report(status_line(str(state), counts))
