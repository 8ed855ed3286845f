"""How big a results folder `python -m pipeline.report` handles on one machine.

    python benchmarks/report.py [--vectors 20000 50000] [--repeats 2]

For each size, writes one synthetic run of B4-wide vectors (1792 floats; clusters, with 1% of
the images planted as near-copies of others) twice, as TFRecord and as Parquet files, then:
- reads each folder's vectors alone (pipeline.results.read_vectors), alternately;
- times the exact search alone (12 queries' neighbours and the near-duplicate pair search);
- runs the command over each folder in a fresh process, alternately, for wall time and peak RSS
  (the URIs name no file, so thumbnails are placeholders and cost next to nothing).
Prints medians over --repeats. The pair search grows with the square of the count: the last
line extrapolates seconds to --max_vectors' default from the largest size.
"""

from __future__ import annotations

import argparse
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

import numpy as np
import pyarrow.parquet as pq
from throughput import ROOT, PeakRss

from pipeline import neighbours, results
from pipeline.report import DEFAULT_MAX_VECTORS
from transforms.example import embedding_example
from transforms.parquet import (
    StampedEmbedding,
    compression,
    embeddings_schema,
    embeddings_table,
)

DIM = 1792
SHARDS = 8
RUN = "bench"
MODEL = "synthetic"


def synthetic_vectors(count: int) -> np.ndarray:
    """Positive floats with full mantissas, as B4's average-pooled features are (so that no
    codec gets the compression zeros would give it)."""
    rng = np.random.default_rng(0)
    centres = rng.normal(size=(max(1, count // 50), DIM)).astype(np.float32)
    vectors = centres[rng.integers(0, len(centres), count)] + rng.normal(
        scale=1.0, size=(count, DIM)
    ).astype(np.float32)
    planted = count // 100
    vectors[-planted:] = vectors[:planted] + rng.normal(scale=0.02, size=(planted, DIM))
    return np.abs(vectors)


def write_folders(root: str, vectors: np.ndarray) -> dict[str, str]:
    import tensorflow as tf

    folders = {"tfrecord": os.path.join(root, "tfrecord"), "parquet": os.path.join(root, "parquet")}
    for folder in folders.values():
        os.makedirs(folder)
    schema = embeddings_schema(DIM)
    for shard in range(SHARDS):
        name = f"embeddings-{RUN}-{shard:05d}-of-{SHARDS:05d}"
        rows = [
            StampedEmbedding(f"/nonexistent/images/{i:07d}.jpg", vectors[i], "size=1", 1_000 + i)
            for i in range(shard, len(vectors), SHARDS)
        ]
        pq.write_table(
            embeddings_table(rows, MODEL, RUN, schema),
            os.path.join(folders["parquet"], f"{name}.parquet"),
            compression=compression(schema),
        )
        with tf.io.TFRecordWriter(os.path.join(folders["tfrecord"], f"{name}.tfrecord")) as out:
            for row in rows:
                out.write(
                    embedding_example(
                        row.uri,
                        row.vector,
                        MODEL,
                        fingerprint=row.fingerprint,
                        embedded_at=row.embedded_at,
                        run=RUN,
                    )
                )
    return folders


def folder_bytes(folder: str) -> int:
    return sum(os.path.getsize(os.path.join(folder, name)) for name in os.listdir(folder))


def command(folder: str) -> tuple[float, int]:
    start = time.perf_counter()
    process = subprocess.Popen(
        [sys.executable, "-m", "pipeline.report", "--output", folder, "--quiet"],
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
    )
    peak = PeakRss(process.pid)
    assert process.wait() == 0
    return time.perf_counter() - start, peak.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--vectors", type=int, nargs="+", default=[20_000, 50_000])
    parser.add_argument("--repeats", type=int, default=2)
    args = parser.parse_args()
    print(f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores")
    last = None
    for count in args.vectors:
        root = tempfile.mkdtemp(prefix="report-bench-")
        try:
            vectors = synthetic_vectors(count)
            folders = write_folders(root, vectors)
            reads: dict[str, list[float]] = {name: [] for name in folders}
            walls: dict[str, list[float]] = {name: [] for name in folders}
            peaks: dict[str, list[int]] = {name: [] for name in folders}
            searches, groups = [], 0
            for _ in range(args.repeats):
                for name, folder in folders.items():
                    start = time.perf_counter()
                    read = results.read_vectors(folder)
                    reads[name].append(time.perf_counter() - start)
                    assert len(read.uris) == count
                start = time.perf_counter()
                unit = neighbours.unit_rows(read.matrix)
                neighbours.nearest(unit, list(range(0, count, count // 12))[:12], 5)
                groups = len(neighbours.duplicate_groups(unit, 0.95))
                searches.append(time.perf_counter() - start)
                for name, folder in folders.items():
                    wall, peak = command(folder)
                    walls[name].append(wall)
                    peaks[name].append(peak)
            print(f"\n{count:,} vectors x {DIM} floats ({groups} near-duplicate groups found)")
            print(f"{'':10}{'MiB on disk':>12}{'read s':>9}{'command s':>11}{'peak RSS MiB':>14}")
            for name, folder in folders.items():
                print(
                    f"{name:10}{folder_bytes(folder) / 2**20:12.0f}"
                    f"{statistics.median(reads[name]):9.2f}{statistics.median(walls[name]):11.2f}"
                    f"{statistics.median(peaks[name]) / 2**20:14.0f}"
                )
            search = statistics.median(searches)
            print(f"search alone (neighbours + pairs): {search:.2f} s")
            ratio = statistics.median(reads["parquet"]) / statistics.median(reads["tfrecord"])
            print(f"read parquet / tfrecord: {ratio:.2f}")
            last = (count, search)
        finally:
            shutil.rmtree(root)
    if last:
        count, search = last
        scaled = search * (DEFAULT_MAX_VECTORS / count) ** 2
        print(
            f"\npair search at --max_vectors {DEFAULT_MAX_VECTORS:,}, extrapolated as n^2 from "
            f"{count:,}: about {scaled / 60:.0f} min on these {os.cpu_count()} cores"
        )


if __name__ == "__main__":
    main()
