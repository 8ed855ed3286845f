"""Entry point: `python -m pipeline.run --input GLOB --output DIR [Beam options]`."""

from __future__ import annotations

import logging
import os
import sys
import time
import warnings
from collections.abc import Sequence

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
# tensorflow-hub 0.16 imports pkg_resources; setuptools<81 is pinned and the warning is noise.
warnings.filterwarnings("ignore", message="pkg_resources is deprecated")

import apache_beam as beam  # noqa: E402
from apache_beam.options.pipeline_options import PipelineOptions  # noqa: E402

from pipeline import checks, earlier_results, summary  # noqa: E402
from pipeline.build import build  # noqa: E402
from pipeline.options import UsageError, parse  # noqa: E402

# Named, not __name__: run as `python -m pipeline.run` this module is __main__.
logger = logging.getLogger("pipeline.run")


class _MisleadingBeamWarning(logging.Filter):
    """Beam 2.77's RunInference cannot read memory use unless PyTorch is installed (its import of
    `resource` sits in the same try block as a torch import) and then blames the platform."""

    def filter(self, record: logging.LogRecord) -> bool:
        return "Resource module is not available" not in record.getMessage()


def local_defaults(beam_args: Sequence[str]) -> list[str]:
    """On DirectRunner, unless told otherwise, one worker thread per core: while one thread
    decodes, another runs the model (TensorFlow releases the GIL), and the model is loaded once
    for the process. benchmarks/throughput.py measures the difference."""
    chosen = any(
        arg.startswith(("--direct_running_mode", "--direct_num_workers")) for arg in beam_args
    )
    if chosen or not checks.runs_here(PipelineOptions(list(beam_args))):
        return list(beam_args)
    return [
        *beam_args,
        "--direct_running_mode=multi_threading",
        f"--direct_num_workers={os.cpu_count() or 1}",
    ]


def main(argv: Sequence[str] | None = None) -> int:
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    for handler in logging.getLogger().handlers:
        handler.addFilter(_MisleadingBeamWarning())
    logging.getLogger("pipeline").setLevel(logging.INFO)
    try:
        job, beam_args = parse(sys.argv[1:] if argv is None else argv)
        image_size = checks.check_job(job, beam_args)
    except UsageError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2

    if job.overwrite:
        earlier = earlier_results.find(job.output)
        logger.info("Deleting %d files of an earlier run in %s", len(earlier), job.output)
        earlier_results.delete(earlier)
    logger.info("Embedding with %s at %dx%d", job.model_handle, image_size, image_size)
    pipeline = beam.Pipeline(options=PipelineOptions(local_defaults(beam_args)))
    build(pipeline, job, image_size)
    start = time.perf_counter()
    result = pipeline.run()
    result.wait_until_finish()
    seconds = time.perf_counter() - start

    report = summary.make_summary(summary.counters(result), seconds, job.model_handle)
    path = summary.write_summary(job.output, report)
    print(
        f"Embedded {report['embedded']} of {report['matched']} images, {report['failed']} failed, "
        f"in {report['seconds']:.1f} s ({report['images_per_second']:.2f} images/s). "
        f"Summary: {path}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
