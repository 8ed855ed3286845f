"""The job's own flags. Everything else on the command line goes to Beam untouched."""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import datetime
import difflib
import enum
import logging
import re
from collections.abc import Iterator, Sequence

from apache_beam.options.pipeline_options import PipelineOptions

from pipeline import accelerator
from transforms.accelerate import Precision, UnsupportedPrecisionError, require_tpu_support
from transforms.bigquery import Method, parse_table
from transforms.decode import DEFAULT_MAX_PIXELS
from transforms.image_records import DEFAULT_IMAGE_FEATURE, DEFAULT_KEY_FEATURE
from transforms.manifest import DEFAULT_COLUMN
from transforms.model import DEFAULT_BATCH_SIZE, DEFAULT_MODEL_HANDLE
from transforms.preprocess import Resize
from transforms.write import OutputFormat


class UsageError(ValueError):
    """A flag or value that stops the job before launch; the message says what to fix."""


class Sharing(enum.StrEnum):
    PROCESS = "process"  # one model per worker process (RunInference's default)
    MACHINE = "machine"  # one model per machine, served to all its worker processes


@dataclasses.dataclass(frozen=True)
class JobOptions:
    output: str
    inputs: tuple[str, ...] = ()
    input_manifests: tuple[str, ...] = ()
    manifest_column: str = DEFAULT_COLUMN
    input_tfrecords: tuple[str, ...] = ()
    tfrecord_key_feature: str = DEFAULT_KEY_FEATURE
    tfrecord_image_feature: str = DEFAULT_IMAGE_FEATURE
    output_format: OutputFormat = OutputFormat.TFRECORD
    output_table: str | None = None  # normalized PROJECT:DATASET.TABLE
    bigquery_method: Method = Method.FILE_LOADS
    model_handle: str = DEFAULT_MODEL_HANDLE
    image_size: int | None = None  # None: what the module declares, else 380
    resize: Resize = Resize.CENTER_CROP
    batch_size: int = DEFAULT_BATCH_SIZE
    max_pixels: int = DEFAULT_MAX_PIXELS
    precision: Precision = Precision.FLOAT32
    jit_compile: bool = False
    model_sharing: Sharing = Sharing.PROCESS
    accelerator: str | None = None
    overwrite: bool = False
    skip_existing: bool = False
    run_id: str | None = None  # None: chosen at launch, see new_run_id
    quiet: bool = False
    wait: bool = False


# A run id names files (`embeddings-RUN-SSSSS-of-NNNNN.tfrecord`): letters, digits, `_.-`.
RUN_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}")


def new_run_id() -> str:
    """The launch time, UTC, to the millisecond (20261125T223919.042Z): run ids sort in the
    order the runs started."""
    now = datetime.datetime.now(datetime.UTC)
    return f"{now:%Y%m%dT%H%M%S}.{now.microsecond // 1000:03d}Z"


def _run_id(text: str) -> str:
    if not RUN_ID.fullmatch(text):
        raise argparse.ArgumentTypeError(
            f"{text!r} cannot name files: use up to 64 letters, digits, '_', '.' or '-', "
            "starting with a letter or digit"
        )
    return text


def _boolean(text: str) -> bool:
    """A switch given a value, as Dataflow Flex Templates pass every parameter: --wait=true."""
    value = text.strip().lower()
    if value in ("true", "1", "yes"):
        return True
    if value in ("false", "0", "no", ""):
        return False
    raise argparse.ArgumentTypeError(f"expected true or false, got {text!r}")


def _switch(group: argparse._ArgumentGroup, flag: str, help: str) -> None:
    """`--flag` alone turns it on; `--flag=true|false` says which."""
    group.add_argument(
        flag, nargs="?", const=True, default=False, type=_boolean, metavar="true|false", help=help
    )


def _one_of(group: argparse._ArgumentGroup, flag: str, default: enum.Enum, help: str) -> None:
    """A flag whose value is one of the members of `default`'s enum."""
    kind = type(default)
    group.add_argument(flag, type=kind, choices=list(kind), default=default, help=help)


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}") from None
    if value <= 0:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}")
    return value


def make_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m pipeline.run",
        description=(
            "Embed every image matched by --input (or listed by --input_manifest, or stored in "
            "--input_tfrecord files) with EfficientNet-B4 or another TF-Hub image feature module, "
            "and write the vectors under --output and to --output_table. Flags not listed here "
            "are Apache Beam pipeline options (--runner, --project, --temp_location, ...)."
        ),
        allow_abbrev=False,
    )
    inputs = parser.add_argument_group("inputs (at least one)")
    inputs.add_argument(
        "--input",
        dest="inputs",
        action="append",
        default=[],
        metavar="GLOB",
        help="image files: a file pattern on any Beam filesystem (local, gs://); repeatable",
    )
    inputs.add_argument(
        "--input_manifest",
        dest="input_manifests",
        action="append",
        default=[],
        metavar="URI",
        help="a file listing image URIs: .csv (with a header), .jsonl, or text with one URI a "
        "line; repeatable",
    )
    inputs.add_argument(
        "--manifest_column",
        default=DEFAULT_COLUMN,
        metavar="NAME",
        help="the CSV column or JSON field holding the URI; default: %(default)s",
    )
    inputs.add_argument(
        "--input_tfrecord",
        dest="input_tfrecords",
        action="append",
        default=[],
        metavar="GLOB",
        help="TFRecord files of tf.train.Examples holding encoded images; repeatable",
    )
    inputs.add_argument(
        "--tfrecord_key_feature",
        default=DEFAULT_KEY_FEATURE,
        metavar="NAME",
        help="the feature naming each image (its URI is FILE#NAME); default: %(default)s",
    )
    inputs.add_argument(
        "--tfrecord_image_feature",
        default=DEFAULT_IMAGE_FEATURE,
        metavar="NAME",
        help="the feature holding the encoded image; default: %(default)s",
    )
    outputs = parser.add_argument_group("outputs")
    outputs.add_argument(
        "--output",
        required=True,
        metavar="DIR",
        help="folder for embeddings-*.tfrecord (or .parquet), failures-*.jsonl and summary.json",
    )
    _one_of(
        outputs,
        "--output_format",
        OutputFormat.TFRECORD,
        "the embedding files: tfrecord (tf.train.Example), parquet (columns, the vector a "
        "fixed-size list of float32) or both, with the same records; default: %(default)s",
    )
    _switch(
        outputs,
        "--overwrite",
        "delete the results of earlier runs in --output before this one starts (without it or "
        "--skip_existing, a run into a folder that holds results stops before launch)",
    )
    _switch(
        outputs,
        "--skip_existing",
        "add to the results of earlier runs in --output: embed only images whose URI and "
        "fingerprint (size and update time) no earlier record holds",
    )
    outputs.add_argument(
        "--run_id",
        type=_run_id,
        metavar="ID",
        help="names this run's files (embeddings-ID-*, failures-ID-*, summary-ID.json); "
        "default: the launch time, UTC, e.g. 20261125T223919.042Z",
    )
    outputs.add_argument(
        "--output_table",
        metavar="TABLE",
        help="also append the embeddings to this BigQuery table (PROJECT:DATASET.TABLE or "
        "PROJECT.DATASET.TABLE), created if needed",
    )
    _one_of(
        outputs,
        "--bigquery_method",
        Method.FILE_LOADS,
        "file_loads (load jobs from files under --temp_location) or streaming_inserts; "
        "default: %(default)s",
    )
    model = parser.add_argument_group("model")
    model.add_argument(
        "--model_handle",
        default=DEFAULT_MODEL_HANDLE,
        metavar="HANDLE",
        help="TF-Hub or Kaggle URL, or a local or gs:// SavedModel folder (TF2 or TF1 Hub "
        "format); default: %(default)s",
    )
    model.add_argument(
        "--image_size",
        type=_positive_int,
        default=None,
        metavar="PIXELS",
        help="side of the square model input (default: what the module declares, else 380)",
    )
    _one_of(
        model,
        "--resize",
        Resize.CENTER_CROP,
        "center_crop: EfficientNet's evaluation crop; full_frame: whole image, no crop; "
        "default: %(default)s",
    )
    model.add_argument(
        "--max_pixels",
        type=_positive_int,
        default=DEFAULT_MAX_PIXELS,
        metavar="N",
        help="images whose header declares more pixels are refused undecoded (a failure with "
        "reason too_many_pixels); default: %(default)s",
    )
    _one_of(
        model,
        "--precision",
        Precision.FLOAT32,
        "float32; bfloat16 (CPUs with AVX512_BF16 or AMX, and TPUs); float16 (mixed "
        "precision on NVIDIA GPUs); default: %(default)s",
    )
    _switch(model, "--jit_compile", "compile the model with XLA (often faster on GPUs and TPUs)")
    model.add_argument(
        "--model_sharing",
        type=Sharing,
        choices=list(Sharing),
        help="process: one model per worker process; machine: one per machine, shared by its "
        "worker processes (RunInference's large_model); default: process, and machine where "
        "each worker has several GPUs (--accelerator nvidia-...:2 and more)",
    )
    model.add_argument(
        "--batch_size",
        type=_positive_int,
        default=DEFAULT_BATCH_SIZE,
        help="images per model call; default: %(default)s",
    )
    run = parser.add_argument_group("reporting")
    _switch(run, "--quiet", "no progress line and no progress messages; errors still show")
    _switch(
        run,
        "--wait",
        "on Dataflow, wait for the job to finish, reporting its progress, and write "
        "summary.json (without it the command returns once the job is submitted)",
    )
    workers = parser.add_argument_group("Dataflow workers")
    workers.add_argument(
        "--accelerator",
        metavar="TYPE:COUNT",
        help="GPU (nvidia-l4:1, nvidia-tesla-t4:1, ...) or TPU (tpu-v5-lite-podslice:1x1, "
        "tpu-v6e-slice:1x1) for each worker; expands into the Dataflow options it needs "
        "(see pipeline/accelerator.py)",
    )
    return parser


def parse(argv: Sequence[str]) -> tuple[JobOptions, list[str]]:
    """Splits the command line into our options and Beam's; rejects flags that neither knows."""
    parser = make_parser()
    args, beam_args = parser.parse_known_args(list(argv))
    unknown = unknown_beam_flags(beam_args)
    if unknown:
        known = [*parser_flags(parser), *beam_flags()]
        named = "; ".join(_with_suggestion(flag, known) for flag in unknown)
        raise UsageError(
            f"unknown flag {named}. Flags must be this job's (see --help) or Apache Beam "
            "pipeline options"
        )
    if args.overwrite and args.skip_existing:
        raise UsageError(
            "--overwrite deletes earlier results and --skip_existing adds to them: choose one"
        )
    if not (args.inputs or args.input_manifests or args.input_tfrecords):
        raise UsageError("nothing to embed: give --input, --input_manifest or --input_tfrecord")
    if accelerator.is_tpu(args.accelerator):
        try:
            require_tpu_support(args.precision)
        except UnsupportedPrecisionError as exc:
            raise UsageError(str(exc)) from None
    if args.accelerator:
        try:
            beam_args = [*beam_args, *accelerator.expand(args.accelerator, beam_args)]
        except accelerator.AcceleratorError as exc:
            raise UsageError(str(exc)) from None
    sharing = model_sharing(args.model_sharing, args.accelerator)
    table = None
    if args.output_table:
        try:
            table = parse_table(args.output_table)
        except ValueError as exc:
            raise UsageError(f"--output_table {exc}") from None
    job = JobOptions(
        output=args.output.rstrip("/") or "/",
        inputs=tuple(args.inputs),
        input_manifests=tuple(args.input_manifests),
        manifest_column=args.manifest_column,
        input_tfrecords=tuple(args.input_tfrecords),
        tfrecord_key_feature=args.tfrecord_key_feature,
        tfrecord_image_feature=args.tfrecord_image_feature,
        output_format=args.output_format,
        output_table=table,
        bigquery_method=args.bigquery_method,
        model_handle=args.model_handle,
        image_size=args.image_size,
        resize=args.resize,
        batch_size=args.batch_size,
        max_pixels=args.max_pixels,
        precision=args.precision,
        jit_compile=args.jit_compile,
        model_sharing=sharing,
        accelerator=args.accelerator,
        overwrite=args.overwrite,
        skip_existing=args.skip_existing,
        run_id=args.run_id or new_run_id(),
        quiet=args.quiet,
        wait=args.wait,
    )
    return job, beam_args


def model_sharing(chosen: Sharing | None, spec: str | None) -> Sharing:
    """One model per worker process unless told otherwise; one per machine, on each of its GPUs,
    where each worker has several, since NVIDIA MPS lets processes share one GPU only."""
    if not accelerator.several_gpus(spec):
        return chosen or Sharing.PROCESS
    if chosen is Sharing.PROCESS:
        raise UsageError(
            f"--accelerator {spec!r}: with several GPUs per worker its processes share one model "
            "per machine, which runs a copy on each GPU (NVIDIA MPS, which would let a model "
            "per process share a GPU, serves one GPU per worker only); leave out "
            "--model_sharing process"
        )
    return Sharing.MACHINE


def unknown_beam_flags(beam_args: Sequence[str]) -> list[str]:
    options = PipelineOptions(list(beam_args))
    with _no_discard_warning():
        known = options.get_all_options(retain_unknown_options=False)
    every = options.get_all_options(retain_unknown_options=True)
    return sorted(f"--{name}" for name in set(every) - set(known))


def parser_flags(parser: argparse.ArgumentParser) -> list[str]:
    return [flag for action in parser._actions for flag in action.option_strings]


def beam_flags() -> list[str]:
    return [f"--{name}" for name in PipelineOptions([]).get_all_options()]


def _with_suggestion(flag: str, known: Sequence[str]) -> str:
    close = difflib.get_close_matches(flag, known, n=2, cutoff=0.75)
    return f"{flag} (did you mean {' or '.join(close)}?)" if close else flag


class _DiscardWarning(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        return "Discarding unparseable args" not in record.getMessage()


@contextlib.contextmanager
def _no_discard_warning() -> Iterator[None]:
    """Beam warns that it discards unknown flags and carries on; here they stop the job, with a
    message of its own, so the warning would only mislead."""
    beam_logger = logging.getLogger("apache_beam.options.pipeline_options")
    quiet = _DiscardWarning()
    beam_logger.addFilter(quiet)
    try:
        yield
    finally:
        beam_logger.removeFilter(quiet)
