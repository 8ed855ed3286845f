"""Launching: the Flex Template's parameters, switches given values, following a job that runs
elsewhere, and the filter the command puts on its log."""

from __future__ import annotations

import json
import logging
import os

import pytest
from apache_beam.metrics.execution import MetricKey, MetricResult
from apache_beam.metrics.metricbase import MetricName
from apache_beam.options.pipeline_options import PipelineOptions
from apache_beam.runners.runner import PipelineResult, PipelineState

from pipeline import flex_template, remote
from pipeline.options import UsageError, make_parser, parse
from transforms.records import METRICS_NAMESPACE

METADATA = os.path.join(os.path.dirname(__file__), "..", "flex_template", "metadata.json")


def test_metadata_file_is_what_the_command_declares():
    with open(METADATA, encoding="utf-8") as handle:
        assert json.load(handle) == flex_template.metadata()


def test_every_template_parameter_is_an_option_of_the_command_and_back():
    with open(METADATA, encoding="utf-8") as handle:
        names = {parameter["name"] for parameter in json.load(handle)["parameters"]}
    options = {
        option.removeprefix("--")
        for action in make_parser()._actions
        for option in action.option_strings
        if option.startswith("--") and option != "--help"
    }
    assert names == options
    assert {"input", "output", "skip_existing", "model_handle", "output_table"} <= names


def test_a_template_launch_parses_as_the_command_line():
    # Dataflow passes every template parameter as --name=value.
    job, beam_args = parse(
        [
            "--input=gs://b/images/*.jpg",
            "--output=gs://b/out",
            "--skip_existing=true",
            "--quiet=false",
            "--jit_compile=True",
            "--run_id=scheduled-2026-11-25",
            "--temp_location=gs://b/tmp",
        ]
    )
    assert job.skip_existing and job.jit_compile and not job.quiet and not job.overwrite
    assert job.run_id == "scheduled-2026-11-25"
    assert beam_args == ["--temp_location=gs://b/tmp"]


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--overwrite", "--skip_existing"], "choose one"),
        (["--run_id", "a/b"], "cannot name files"),
        (["--wait=perhaps"], "expected true or false"),
    ],
)
def test_bad_mode_flags_are_refused(argv, message, capsys):
    with pytest.raises((UsageError, SystemExit)) as raised:
        parse(["--input", "x", "--output", "o", *argv])
    text = str(raised.value) if raised.type is UsageError else capsys.readouterr().err
    assert message in text


class _RemoteJob(PipelineResult):
    """Stands in for DataflowPipelineResult, which needs the Dataflow service: states in turn,
    counters growing."""

    def __init__(self, states: list[str]):
        super().__init__(states[0])
        self._states = states
        self.waits: list[int | None] = []

    def job_id(self) -> str:
        return "2026-11-25_01_02_03-123"

    def wait_until_finish(self, duration=None):
        self.waits.append(duration)
        self._state = self._states[min(len(self.waits), len(self._states) - 1)]
        return self._state

    def metrics(self):
        counts = {"matched": 10, "embedded": 3 * len(self.waits), "skipped": 1}
        # A running Dataflow job reports attempted values; committed ones come at the end.
        results = [
            MetricResult(MetricKey("ReadImages", MetricName(METRICS_NAMESPACE, name)), None, value)
            for name, value in counts.items()
        ]
        return type("Metrics", (), {"query": lambda _, _filter: {"counters": results}})()


def test_following_a_remote_job_reports_until_it_ends():
    job = _RemoteJob([PipelineState.RUNNING, PipelineState.RUNNING, PipelineState.DONE])
    lines: list[str] = []
    assert remote.follow(job, lines.append, poll_seconds=0.5) == PipelineState.DONE
    assert job.waits == [500, 500]
    assert lines == ["RUNNING: 4 of 10 matched images done (3 embedded, 1 skipped, 0 failed)"]


def test_console_link_names_region_project_and_job():
    options = PipelineOptions(["--project=p", "--region=europe-west4"])
    job_id = remote.job_id(_RemoteJob([PipelineState.RUNNING]))
    assert remote.console_url(job_id, options) == (
        "https://console.cloud.google.com/dataflow/jobs/europe-west4/"
        "2026-11-25_01_02_03-123?project=p"
    )


def test_a_run_whose_counts_do_not_add_up_ends_in_an_error(tmp_path, capsys):
    from pipeline.run import _finish

    job, _ = parse(["--input", "x", "--output", str(tmp_path), "--run_id", "r1"])
    result = _RemoteJob([PipelineState.DONE])
    result.waits = [None, None]  # its counters: 10 matched, 6 embedded, 1 skipped
    assert _finish(result, job, 2.0) == 1
    message = capsys.readouterr().err
    assert "3 of 10 matched images are neither embedded, skipped nor failed" in message
    with open(tmp_path / "summary.json") as handle:
        assert json.load(handle)["matched"] == 10  # the summary is still written


def test_the_last_line_divides_decodings_cpu_by_the_images_that_reached_decoding():
    from pipeline.run import _per_image

    # 10 matched: 2 skipped and 3 unreadable never reached decoding; the 5 others did, failed or
    # not.
    report = {"matched": 10, "skipped": 2, "failed_by_stage": {"read": 3, "decode": 1, "embed": 0}}
    assert _per_image(report, 0.1) == "0.1 s of CPU, 20.0 ms an image"
    report = {"matched": 2, "skipped": 2, "failed_by_stage": {"read": 0, "decode": 0, "embed": 0}}
    assert _per_image(report, 0.0) == "0.0 s of CPU"


def test_the_log_filter_drops_beams_misleading_warning_and_never_raises():
    from pipeline.run import _MisleadingBeamWarning

    keep = _MisleadingBeamWarning()
    beams = "Resource module is not available for current platform, memory usage cannot be fetched."
    assert not keep.filter(logging.LogRecord("root", logging.WARNING, __file__, 1, beams, (), None))
    # Arguments that do not fit their format: logging reports such a record where it writes it,
    # and the filter must not turn it into an exception in the caller.
    unfit = logging.LogRecord("pipeline", logging.INFO, __file__, 1, "%d images", (None,), None)
    assert keep.filter(unfit)


def test_the_log_filter_drops_what_multi_processing_workers_say_of_beams_own_flags():
    from pipeline.run import _MisleadingBeamWarning

    keep = _MisleadingBeamWarning()

    def worker_says(message: str) -> logging.LogRecord:
        # As local_job_service forwards a worker's log entry: the entry is the argument.
        entry = f'severity: WARN timestamp {{ seconds: 1 }} message: "{message}" thread: "x"'
        name = "apache_beam.runners.portability.local_job_service"
        return logging.LogRecord(name, logging.WARNING, __file__, 1, "Worker: %s", (entry,), None)

    for said in (
        "No semi_persistent_directory found:  User registered objects (e.g. schema, logical "
        "type) throughregisteries may not be effective",
        "Discarding unparseable args: [\\'--direct_runner_use_stacked_bundle\\']",
        "Resource module is not available for current platform, memory usage cannot be fetched.",
    ):
        assert not keep.filter(worker_says(said))
    assert keep.filter(worker_says("Error processing instruction bundle_9: OSError: disk full"))
    mapped = logging.LogRecord("x", logging.WARNING, __file__, 1, "%(n)s", ({"n": 1},), None)
    assert keep.filter(mapped)

    class Unprintable:
        def __str__(self):
            raise ValueError("no text")

    odd = logging.LogRecord("x", logging.WARNING, __file__, 1, "%s", (Unprintable(),), None)
    assert keep.filter(odd)
