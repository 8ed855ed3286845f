"""A results folder read back on one machine: the latest vector of each URI (from the runs'
TFRecords where they wrote them, else their Parquet files), the latest run's summary and its
failures."""

from __future__ import annotations

import functools
import json
from collections.abc import Callable, Sequence
from typing import Any, NamedTuple

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
from apache_beam.io.filesystems import FileSystems

from pipeline.summary import SUMMARY_FILE
from transforms.fs import read_bytes
from transforms.history import embeddings_run
from transforms.image_records import ExampleDecoder, first_values
from transforms.parquet import PARQUET_SUFFIX
from transforms.tfrecord_format import records
from transforms.write import EMBEDDINGS_PREFIX, EMBEDDINGS_SUFFIX, FAILURES_PREFIX

# Records decoded per call of tfx-bsl's columnar decoder.
DECODE_BATCH = 1024


class TooManyVectorsError(ValueError):
    """More distinct URIs than the caller can hold."""


class FileVectors(NamedTuple):
    """The records of one embeddings file, as columns."""

    uris: list[str]
    models: list[str]
    embedded_at: np.ndarray  # int64 microseconds, UTC (0 where a record has none)
    vectors: list[np.ndarray]  # one float32 vector per record


class Vectors(NamedTuple):
    """The latest vector of each URI, of one model."""

    uris: list[str]
    matrix: np.ndarray  # (len(uris), width) float32
    embedded_at: np.ndarray
    model: str
    left_out: int  # URIs whose latest record is of another model (or width), left out
    files: int


def embedding_files(output: str) -> list[str]:
    """Each run's TFRecords where it wrote them, else its Parquet files (files named before runs
    had ids included): every record once. Whole vectors are read faster from TFRecords (packed
    floats) than from Parquet (a list column): benchmarks/report.py."""
    pattern = FileSystems.join(output, f"{EMBEDDINGS_PREFIX}-*")
    paths = sorted(m.path for m in FileSystems.match([pattern])[0].metadata_list)
    tfrecord_runs = {embeddings_run(p) for p in paths if p.endswith(EMBEDDINGS_SUFFIX)}
    return [
        path
        for path in paths
        if path.endswith(EMBEDDINGS_SUFFIX)
        or (path.endswith(PARQUET_SUFFIX) and embeddings_run(path) not in tfrecord_runs)
    ]


def read_file(path: str) -> FileVectors:
    data = read_bytes(path)
    if path.endswith(PARQUET_SUFFIX):
        return _parquet_columns(pq.read_table(pa.BufferReader(data)))
    return _tfrecord_columns(list(records(data)))


def _parquet_columns(table: pa.Table) -> FileVectors:
    embedding = table.column("embedding").combine_chunks()
    width = embedding.type.list_size
    flat = embedding.flatten().to_numpy(zero_copy_only=False).astype(np.float32, copy=False)
    return FileVectors(
        table.column("uri").to_pylist(),
        table.column("model").to_pylist(),
        table.column("embedded_at").cast(pa.int64()).to_numpy(),
        list(flat.reshape(len(table), width)),
    )


@functools.cache
def _decoder() -> ExampleDecoder:
    return ExampleDecoder("uri", "model", ints=("embedded_at",), floats=("embedding",))


def _tfrecord_columns(serialized: Sequence[bytes]) -> FileVectors:
    result = FileVectors([], [], np.zeros(0, np.int64), [])
    stamps = []
    for start in range(0, len(serialized), DECODE_BATCH):
        chunk = serialized[start : start + DECODE_BATCH]
        columns = _decoder().columns(chunk)
        result.uris.extend(_text(first_values(columns.get("uri"), len(chunk))))
        result.models.extend(_text(first_values(columns.get("model"), len(chunk))))
        stamps.extend(stamp or 0 for stamp in first_values(columns.get("embedded_at"), len(chunk)))
        embedding = columns.get("embedding")
        if embedding is None:
            result.vectors.extend(np.zeros(0, np.float32) for _ in chunk)
            continue
        values = embedding.flatten().to_numpy(zero_copy_only=False).astype(np.float32)
        offsets = embedding.offsets.to_numpy()
        result.vectors.extend(values[offsets[i] : offsets[i + 1]] for i in range(len(chunk)))
    return result._replace(embedded_at=np.asarray(stamps, np.int64))


def _text(values: list[bytes | None]) -> list[str]:
    return [value.decode("utf-8") if value else "" for value in values]


def read_vectors(
    output: str,
    max_uris: int | None = None,
    on_file: Callable[[int, int, int], None] = lambda done, total, rows: None,
) -> Vectors:
    """The latest record of each URI in `output`'s embedding files, of the model of the latest
    record of all; `on_file(files done, files, records so far)` after each file. Raises
    TooManyVectorsError as soon as more than `max_uris` URIs are seen."""
    paths = embedding_files(output)
    latest: dict[str, tuple[int, str, np.ndarray]] = {}
    seen = 0
    for done, path in enumerate(paths, start=1):
        columns = read_file(path)
        for uri, model, stamp, vector in zip(
            columns.uris, columns.models, columns.embedded_at, columns.vectors, strict=True
        ):
            if uri and (uri not in latest or stamp >= latest[uri][0]):
                latest[uri] = (int(stamp), model, vector)
        seen += len(columns.uris)
        on_file(done, len(paths), seen)
        if max_uris is not None and len(latest) > max_uris:
            raise TooManyVectorsError(
                f"more than {max_uris:,} images (after {done} of {len(paths)} files)"
            )
    if not latest:
        return Vectors([], np.zeros((0, 0), np.float32), np.zeros(0, np.int64), "", 0, len(paths))
    model = max(latest.values(), key=lambda entry: entry[0])[1]
    uris = sorted(uri for uri, (_, m, _) in latest.items() if m == model)
    width = len(latest[uris[-1]][2])
    uris = [uri for uri in uris if len(latest[uri][2]) == width]
    matrix = np.stack([latest[uri][2] for uri in uris]).astype(np.float32, copy=False)
    stamps = np.asarray([latest[uri][0] for uri in uris], np.int64)
    return Vectors(uris, matrix, stamps, model, len(latest) - len(uris), len(paths))


def read_summary(output: str) -> dict[str, Any] | None:
    """The latest run's summary.json, None if there is none."""
    path = FileSystems.join(output, SUMMARY_FILE)
    if not FileSystems.exists(path):
        return None
    return json.loads(read_bytes(path))


def read_failures(output: str, run: str) -> list[dict[str, str]]:
    """Every failure record of one run."""
    pattern = FileSystems.join(output, f"{FAILURES_PREFIX}-{run}-*")
    failures = []
    for metadata in sorted(FileSystems.match([pattern])[0].metadata_list, key=lambda m: m.path):
        for line in read_bytes(metadata.path).decode("utf-8").splitlines():
            if line.strip():
                failures.append(json.loads(line))
    return failures
