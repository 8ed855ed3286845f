"""Entry point: `python -m pipeline.run --input GLOB --output DIR [Beam options]`."""

from __future__ import annotations

import contextlib
import logging
import os
import sys
import time
import warnings
from collections.abc import Mapping, Sequence

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
# tensorflow-hub 0.16 imports pkg_resources; setuptools<81 is pinned and the warning is noise.
warnings.filterwarnings("ignore", message="pkg_resources is deprecated")
# The same for the worker processes of DirectRunner's multi_processing mode, which inherit the
# environment, not this process's filters; a PYTHONWARNINGS of the user's own is kept.
os.environ.setdefault("PYTHONWARNINGS", "ignore:pkg_resources is deprecated:UserWarning")

import apache_beam as beam  # noqa: E402
from apache_beam.options.pipeline_options import PipelineOptions  # noqa: E402
from apache_beam.runners.runner import PipelineResult, PipelineState  # noqa: E402

from pipeline import checks, direct_runner, earlier_results, remote, summary  # noqa: E402
from pipeline.build import build  # noqa: E402
from pipeline.options import JobOptions, UsageError, parse  # noqa: E402
from pipeline.progress import ProgressLine, heard_here  # noqa: E402
from transforms.counters import listening  # noqa: E402
from transforms.pillow_build import pillow_build  # noqa: E402
from transforms.threads import usable_cores  # noqa: E402

# Named, not __name__: run as `python -m pipeline.run` this module is __main__.
logger = logging.getLogger("pipeline.run")


# Beam 2.77's warnings that leave nothing to fix. RunInference cannot read memory use unless
# PyTorch is installed (its import of `resource` sits in the same try block as a torch import) and
# then blames the platform. Each worker process of DirectRunner's multi_processing mode (the
# layout README suggests on many cores) also warns of a folder only Dataflow gives it, and of
# DirectRunner's own flags, which it does not read: the command has already refused any flag
# unknown to the job and to Beam before launch. Those reach this process as arguments of
# local_job_service's "Worker: %s" records.
MISLEADING_BEAM_WARNINGS = (
    "Resource module is not available",
    "No semi_persistent_directory found",
    "Discarding unparseable args",
)


class _MisleadingBeamWarning(logging.Filter):
    """Drops records that hold one of MISLEADING_BEAM_WARNINGS, in the format or an argument."""

    def filter(self, record: logging.LogRecord) -> bool:
        # The format string and the arguments, not the message: formatting here would raise for
        # a record whose arguments do not fit it, which logging itself only reports.
        args = record.args.values() if isinstance(record.args, Mapping) else record.args or ()
        try:
            texts = [str(record.msg), *(str(arg) for arg in args)]
        except Exception:  # noqa: BLE001 - an argument that cannot print itself: logging says so
            return True
        return not any(warning in text for warning in MISLEADING_BEAM_WARNINGS for text in texts)


# With a model that costs nothing, one process's threads fed 0.77 to 0.87 of what 4 and 8 vCPUs
# decode at once, and 0.38 on 16 (about 900 images/s), where a process per vCPU sharing one
# model fed 2.7x that (benchmarks/feed_on_cores.py; README, GPU workers).
THREADS_KEEP_UP_TO = 8


def _default_layout(beam_args: Sequence[str]) -> bool:
    """Whether the job chooses the local layout: DirectRunner, and none chosen on the command."""
    chosen = any(
        arg.startswith(("--direct_running_mode", "--direct_num_workers")) for arg in beam_args
    )
    return not chosen and checks.runs_here(PipelineOptions(list(beam_args)))


def local_defaults(beam_args: Sequence[str]) -> list[str]:
    """On DirectRunner, unless told otherwise, one worker thread per core: while one thread
    decodes, another runs the model (TensorFlow releases the GIL), and the model is loaded once
    for the process. benchmarks/throughput.py measures the difference."""
    if not _default_layout(beam_args):
        return list(beam_args)
    return [
        *beam_args,
        "--direct_running_mode=multi_threading",
        f"--direct_num_workers={usable_cores()}",
    ]


def layout_hint(beam_args: Sequence[str]) -> str | None:
    """What to pass instead of the local default where its one process has more cores than its
    threads can keep busy, which matters where a GPU runs the model; None elsewhere."""
    cores = usable_cores()
    if cores <= THREADS_KEEP_UP_TO or not _default_layout(beam_args):
        return None
    return (
        f"{cores} cores: the threads of one process cannot keep them all decoding (on 16 vCPUs "
        "they fed 0.38 of what the cores decode). Where a GPU runs the model, a process per core "
        "sharing one model feeds it faster: --direct_running_mode=multi_processing "
        f"--direct_num_workers={cores} --model_sharing machine (README: GPU workers)"
    )


def main(argv: Sequence[str] | None = None) -> int:
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    for handler in logging.getLogger().handlers:
        handler.addFilter(_MisleadingBeamWarning())
    try:
        job, beam_args = parse(sys.argv[1:] if argv is None else argv)
        logging.getLogger("pipeline").setLevel(logging.WARNING if job.quiet else logging.INFO)
        job = checks.with_folders_as_globs(job)
        shape = checks.check_job(job, beam_args)
    except UsageError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2

    if job.overwrite:
        earlier = earlier_results.find(job.output)
        logger.info("Deleting %d files of earlier runs in %s", len(earlier), job.output)
        earlier_results.delete(earlier)
    logger.info(
        "Run %s: embedding with %s at %dx%d",
        job.run_id,
        job.model_handle,
        shape.image_size,
        shape.image_size,
    )
    hint = layout_hint(beam_args)
    if hint:
        logger.info(hint)
    options = PipelineOptions(local_defaults(beam_args))
    pipeline = beam.Pipeline(options=options)
    build(pipeline, job, shape.image_size, shape.vector_width)
    if checks.runs_here(options):
        return _run_here(pipeline, job, heard_here(options) and not job.quiet)
    return _run_remote(pipeline, job, options)


def _run_here(pipeline: beam.Pipeline, job: JobOptions, show_progress: bool) -> int:
    direct_runner.stop_timed_flushes()
    logger.info("Decoding with %s", pillow_build())
    start = time.perf_counter()
    with contextlib.ExitStack() as stack:
        if show_progress:
            stack.enter_context(listening(stack.enter_context(ProgressLine())))
        result = pipeline.run()
        result.wait_until_finish()
    return _finish(result, job, time.perf_counter() - start)


def _run_remote(pipeline: beam.Pipeline, job: JobOptions, options: PipelineOptions) -> int:
    start = time.perf_counter()
    result = pipeline.run()
    submitted = remote.job_id(result)
    if submitted:
        print(f"Job {submitted}: {remote.console_url(submitted, options)}")
    if not job.wait:
        print("Submitted. Pass --wait to follow the job here and write summary.json when it ends.")
        return 0
    try:
        state = remote.follow(result, print)
    except Exception as exc:  # noqa: BLE001 - the runner reports a failed job by raising
        print(f"error: the job did not finish: {exc}", file=sys.stderr)
        return 1
    if state != PipelineState.DONE:
        print(f"error: the job ended {state}", file=sys.stderr)
        return 1
    return _finish(result, job, time.perf_counter() - start)


def _per_image(report: dict, decode_seconds: float) -> str:
    """Decoding's CPU time in all and per image decoded: every matched image but those skipped
    and those that could not be read."""
    decoded = report["matched"] - report["skipped"] - report["failed_by_stage"]["read"]
    each = f", {decode_seconds / decoded * 1000:.1f} ms an image" if decoded > 0 else ""
    return f"{decode_seconds:.1f} s of CPU{each}"


def _finish(result: PipelineResult, job: JobOptions, seconds: float) -> int:
    """Writes summary.json (and summary-RUN.json), says what the run did, and returns the exit
    status: 1 where the counts do not add up (an image neither embedded, skipped nor failed)."""
    report = summary.make_summary(
        summary.counters(result), seconds, job.model_handle, job.run_id or ""
    )
    path = summary.write_summary(job.output, report)
    busy, decoding = report["model_seconds"], report["decode_seconds"]
    model = "" if busy is None else f", the model {busy:.1f} s"
    cpu = "" if decoding is None else f", decoding {_per_image(report, decoding)}"
    print(
        f"Run {report['run']}: {report['embedded']} embedded, {report['skipped']} skipped "
        f"(embedded before), {report['failed']} failed, of {report['matched']} images, in "
        f"{report['seconds']:.1f} s ({report['images_per_second']:.2f} images/s{model}{cpu}). "
        f"Summary: {path}"
    )
    missing = report["matched"] - sum(report[name] for name in summary.DONE)
    if missing:
        print(
            f"error: {missing} of {report['matched']} matched images are neither embedded, "
            "skipped nor failed; the runner lost them. Run again with --skip_existing to embed "
            "what is missing.",
            file=sys.stderr,
        )
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
