"""The job's own flags. Everything else on the command line goes to Beam untouched."""

from __future__ import annotations

import argparse
import dataclasses
from collections.abc import Sequence

from apache_beam.options.pipeline_options import PipelineOptions

from transforms.model import DEFAULT_BATCH_SIZE, DEFAULT_MODEL_HANDLE
from transforms.preprocess import Resize


class UsageError(ValueError):
    """A flag or value that stops the job before launch; the message says what to fix."""


@dataclasses.dataclass(frozen=True)
class JobOptions:
    inputs: tuple[str, ...]
    output: str
    model_handle: str = DEFAULT_MODEL_HANDLE
    image_size: int | None = None  # None: what the module declares, else 380
    resize: Resize = Resize.CENTER_CROP
    batch_size: int = DEFAULT_BATCH_SIZE


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
            "Embed every image matched by --input with EfficientNet-B4 (or another TF-Hub image "
            "feature module) and write the vectors under --output. Flags not listed here are "
            "Apache Beam pipeline options (--runner, --project, --temp_location, ...)."
        ),
        allow_abbrev=False,
    )
    parser.add_argument(
        "--input",
        dest="inputs",
        action="append",
        required=True,
        metavar="GLOB",
        help="images to embed: a file pattern on any Beam filesystem (local, gs://); repeatable",
    )
    parser.add_argument(
        "--output",
        required=True,
        metavar="DIR",
        help="folder for embeddings-*.tfrecord, failures-*.jsonl and summary.json",
    )
    parser.add_argument(
        "--model_handle",
        default=DEFAULT_MODEL_HANDLE,
        metavar="HANDLE",
        help="TF-Hub or Kaggle URL, or a local or gs:// SavedModel folder (TF2 or TF1 Hub "
        "format); default: %(default)s",
    )
    parser.add_argument(
        "--image_size",
        type=_positive_int,
        default=None,
        metavar="PIXELS",
        help="side of the square model input (default: what the module declares, else 380)",
    )
    parser.add_argument(
        "--resize",
        type=Resize,
        choices=list(Resize),
        default=Resize.CENTER_CROP,
        help="center_crop: EfficientNet's evaluation crop; full_frame: whole image, no crop; "
        "default: %(default)s",
    )
    parser.add_argument(
        "--batch_size",
        type=_positive_int,
        default=DEFAULT_BATCH_SIZE,
        help="images per model call; default: %(default)s",
    )
    return parser


def parse(argv: Sequence[str]) -> tuple[JobOptions, list[str]]:
    """Splits the command line into our options and Beam's; rejects flags that neither knows."""
    args, beam_args = make_parser().parse_known_args(list(argv))
    unknown = unknown_beam_flags(beam_args)
    if unknown:
        raise UsageError(
            f"unknown flag(s) {', '.join(unknown)}: neither this job's (see --help) nor an "
            "Apache Beam pipeline option"
        )
    job = JobOptions(
        inputs=tuple(args.inputs),
        output=args.output.rstrip("/") or "/",
        model_handle=args.model_handle,
        image_size=args.image_size,
        resize=args.resize,
        batch_size=args.batch_size,
    )
    return job, beam_args


def unknown_beam_flags(beam_args: Sequence[str]) -> list[str]:
    options = PipelineOptions(list(beam_args))
    known = options.get_all_options(retain_unknown_options=False)
    every = options.get_all_options(retain_unknown_options=True)
    return sorted(f"--{name}" for name in set(every) - set(known))
