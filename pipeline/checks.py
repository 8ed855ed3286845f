"""Checks made before launch, so that a job with a bad flag never starts."""

from __future__ import annotations

import contextlib
import dataclasses
import logging
import os
import re
import uuid
from collections.abc import Sequence
from typing import NamedTuple

from apache_beam.io.filesystems import FileSystems
from apache_beam.io.localfilesystem import LocalFileSystem
from apache_beam.options.pipeline_options import (
    GoogleCloudOptions,
    PipelineOptions,
    StandardOptions,
)

from pipeline import earlier_results
from pipeline.options import JobOptions, UsageError
from transforms import signature
from transforms.accelerate import UnsupportedPrecisionError, require_support
from transforms.bigquery import Method
from transforms.listing import is_folder_placeholder
from transforms.manifest import read_manifest
from transforms.model_files import is_url, local_model_path
from transforms.preprocess import DEFAULT_IMAGE_SIZE

logger = logging.getLogger(__name__)

# Written by `pipeline.export_model --weights none` into the SavedModel folder.
UNTRAINED_MARKER = os.path.join("assets.extra", "UNTRAINED")

EXPORT_HINT = (
    "Without network access, export EfficientNet-B4 locally and pass its folder: "
    "python -m pipeline.export_model --out models/b4 --weights none (untrained, for trials) "
    "and then --model_handle models/b4"
)


# A pattern holding one of these is a glob; anything else names a file or a folder.
GLOB = re.compile(r"[*?\[]")
# Where a check looks for a file among a pattern's first matches.
MATCHES_LOOKED_AT = 100


class ModelShape(NamedTuple):
    image_size: int  # side of the square input
    vector_width: int | None  # floats per vector where the job needs to know it before launch


def check_job(job: JobOptions, beam_args: Sequence[str]) -> ModelShape:
    """Runs every check; returns what the job must know of the model's shapes. Raises
    UsageError on the first problem, after removing the folders the checks themselves created."""
    created = missing_local_folders(job.output)
    try:
        return _check_job(job, beam_args)
    except UsageError:
        remove_empty_folders(created)
        raise


def _check_job(job: JobOptions, beam_args: Sequence[str]) -> ModelShape:
    check_patterns("--input", job.inputs)
    check_patterns("--input_tfrecord", job.input_tfrecords)
    check_manifests(job.input_manifests, job.manifest_column)
    check_output_writable(job.output)
    if job.skip_existing:
        check_run_id_unused(job.output, job.run_id)
    elif not job.overwrite:
        check_no_earlier_results(job.output)
    options = PipelineOptions(list(beam_args))
    if job.output_table:
        check_bigquery(job.bigquery_method, options)
    if runs_here(options):
        try:
            require_support(job.precision)
        except UnsupportedPrecisionError as exc:
            raise UsageError(str(exc)) from None
    image_size = model_image_size(job.model_handle, job.image_size)
    width = model_vector_width(job.model_handle) if job.output_format.parquet else None
    return ModelShape(image_size, width)


def with_folders_as_globs(job: JobOptions) -> JobOptions:
    """--input FOLDER (local or gs://, with or without a trailing slash) means every file under
    it, recursively: FOLDER/**."""
    return dataclasses.replace(job, inputs=tuple(folder_as_glob(p) for p in job.inputs))


def folder_as_glob(pattern: str) -> str:
    if GLOB.search(pattern):
        return pattern
    if pattern.endswith("/"):
        return f"{pattern}**"
    return f"{pattern}/**" if is_folder(pattern) else pattern


def is_local(path: str) -> bool:
    return isinstance(FileSystems.get_filesystem(path), LocalFileSystem)


def is_folder(path: str) -> bool:
    """A local directory, or on an object store a prefix with objects under it and no object of
    its own name."""
    if is_local(path):
        return os.path.isdir(path)
    try:
        if FileSystems.exists(path):
            return False
        return bool(FileSystems.match([f"{path}/**"], limits=[1])[0].metadata_list)
    except Exception:  # noqa: BLE001 - unreachable or refused: check_patterns says why
        return False


def is_file_entry(path: str) -> bool:
    """A listed entry that is a file: not a local folder, nor an object store's placeholder."""
    return not is_folder_placeholder(path) and not (is_local(path) and os.path.isdir(path))


def missing_local_folders(path: str) -> list[str]:
    """The local folders, deepest first, that writing into `path` would create."""
    if not is_local(path):
        return []
    missing, folder = [], os.path.abspath(path)
    while not os.path.exists(folder) and os.path.dirname(folder) != folder:
        missing.append(folder)
        folder = os.path.dirname(folder)
    return missing


def remove_empty_folders(folders: Sequence[str]) -> None:
    for folder in folders:
        with contextlib.suppress(OSError):  # not empty, or already gone
            os.rmdir(folder)


def runs_here(options: PipelineOptions) -> bool:
    """Whether the workers are this machine (DirectRunner, the default), so that its hardware
    is theirs."""
    runner = options.view_as(StandardOptions).runner
    return runner is None or "Direct" in str(runner) or "Prism" in str(runner)


def check_patterns(flag: str, patterns: Sequence[str]) -> None:
    """Every pattern must match at least one file, not only folders (a few listed entries are
    enough to know)."""
    for pattern in patterns:
        try:
            result = FileSystems.match([pattern], limits=[MATCHES_LOOKED_AT])[0]
        except Exception as exc:  # noqa: BLE001 - any filesystem error is reported the same way
            raise UsageError(f"{flag} {pattern!r} cannot be listed: {exc}") from exc
        if not any(is_file_entry(metadata.path) for metadata in result.metadata_list):
            raise UsageError(f"{flag} {pattern!r} matches no file; check the path and the glob")


def check_manifests(manifests: Sequence[str], column: str) -> None:
    """Each manifest exists and, read up to its first entry, names the URI column."""
    for manifest in manifests:
        try:
            next(iter(read_manifest(manifest, column)), None)
        except ValueError as exc:
            raise UsageError(f"--input_manifest {exc}") from None
        except Exception as exc:  # noqa: BLE001 - missing file, no permission
            raise UsageError(
                f"--input_manifest {manifest!r} cannot be read: {type(exc).__name__}: {exc}"
            ) from None


def check_output_writable(output: str) -> None:
    """Writes and deletes a small file in --output, so a typo or a missing permission shows
    now rather than after hours of inference."""
    probe = FileSystems.join(output, f".write-check-{uuid.uuid4().hex}")
    try:
        with FileSystems.create(probe) as handle:
            handle.write(b"ok")
        FileSystems.delete([probe])
    except Exception as exc:  # noqa: BLE001 - no bucket, no permission, read-only disk
        raise UsageError(
            f"--output {output!r} is not writable: {type(exc).__name__}: {exc}"
        ) from None


def check_no_earlier_results(output: str) -> None:
    found = earlier_results.find(output)
    if found:
        shown = ", ".join(path.rsplit("/", 1)[-1] for path in found[:3])
        more = f" and {len(found) - 3} more" if len(found) > 3 else ""
        raise UsageError(
            f"--output {output!r} already holds the results of an earlier run ({shown}{more}); "
            "pass --skip_existing to embed only new and changed images beside them, --overwrite "
            "to delete them and embed everything again, or choose another --output"
        )


def check_run_id_unused(output: str, run: str | None) -> None:
    found = earlier_results.find(output, run) if run else []
    if found:
        raise UsageError(
            f"--output {output!r} already holds files of run {run!r} "
            f"({found[0].rsplit('/', 1)[-1]}); give this run another --run_id"
        )


def check_bigquery(method: Method, options: PipelineOptions) -> None:
    if method is Method.FILE_LOADS and not options.view_as(GoogleCloudOptions).temp_location:
        raise UsageError(
            "--output_table with --bigquery_method file_loads stages rows as files: give "
            "--temp_location gs://BUCKET/tmp (or use --bigquery_method streaming_inserts)"
        )


def model_image_size(handle: str, override: int | None) -> int:
    """The model's input side: --image_size, else what the module declares, else 380.

    Resolving the handle here (downloading it where it is a URL) also proves it loads before any
    worker starts; only the graph definition is read, not the weights.
    """
    try:
        path = _saved_model_path(handle)
        choice = signature.of_saved_model(path)
    except Exception as exc:  # noqa: BLE001 - unreachable URL, missing folder, not a SavedModel
        raise UsageError(
            f"--model_handle {handle!r} cannot be used: {type(exc).__name__}: {exc}. {EXPORT_HINT}"
        ) from exc
    if FileSystems.exists(FileSystems.join(path, UNTRAINED_MARKER)):
        logger.warning("%s holds UNTRAINED weights: its vectors have no meaning", handle)
    if override is not None:
        return override
    if choice.image_size is None:
        return DEFAULT_IMAGE_SIZE
    height, width = choice.image_size
    if height != width:
        raise UsageError(
            f"--model_handle {handle!r} takes {height}x{width} images; only square "
            "inputs are supported"
        )
    return height


def _saved_model_path(handle: str) -> str:
    # A URL is fetched into tensorflow_hub's cache (once); a gs:// folder is read where it is.
    return local_model_path(handle) if is_url(handle) else handle


def model_vector_width(handle: str) -> int:
    """Floats per vector, as the module declares them: a Parquet schema fixes the width before
    the first vector is made. Called after model_image_size has proved the handle loads."""
    width = signature.declared_width(_saved_model_path(handle))
    if width is None:
        raise UsageError(
            f"--output_format parquet needs the vector width before launch, and "
            f"--model_handle {handle!r} does not declare it (its output shape is not "
            "(batch, width)); export the module with a signature whose output has a fixed "
            "width, or use --output_format tfrecord"
        )
    return width
