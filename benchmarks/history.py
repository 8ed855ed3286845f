"""What a long history costs a --skip_existing run: read from the indexes, or from the vectors.

    python benchmarks/history.py [--records 1000000] [--files 200] [--repeats 2] [--model DIR]

Writes --records synthetic earlier records (1792 floats each, as runs of B4 would have left
them, of other URIs) as one earlier run: its embeddings and its index. A second folder holds
the same embeddings without an index: a folder written before indexes existed, which is read
the way every --skip_existing run read history before (all its vectors' files).

Then, alternately and --repeats times each, in fresh processes:
- the history read alone (ReadHistory over each folder: the index, or the vectors), on one
  worker thread;
- the command with --skip_existing over --files JPEGs, into an empty folder, the indexed folder
  and the unindexed one (the model costs nothing by default, so the time is the history's).
Prints bytes each way reads, medians of seconds and peak memory, and their ratios.
"""

from __future__ import annotations

import argparse
import gzip
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

import numpy as np
from throughput import ROOT, make_jpegs, run_job, zero_cost_model

from transforms.example import embedding_example
from transforms.index import IndexRow

DIM = 1792
SHARDS = 16
RUN = "history"


def write_history(folder: str, records: int) -> tuple[int, int]:
    """`records` embedding records and their index, SHARDS files each; returns their bytes."""
    import tensorflow as tf

    os.makedirs(folder, exist_ok=True)
    vector = np.random.default_rng(0).normal(size=DIM).astype(np.float32)
    sizes = [0, 0]
    for shard in range(SHARDS):
        name = f"{RUN}-{shard:05d}-of-{SHARDS:05d}"
        vectors = os.path.join(folder, f"embeddings-{name}.tfrecord")
        index = os.path.join(folder, f"index-{name}.jsonl.gz")
        with tf.io.TFRecordWriter(vectors) as writer, gzip.open(index, "wt") as lines:
            for number in range(shard, records, SHARDS):
                row = IndexRow(
                    f"gs://bucket/earlier/2026/11/image-{number:07d}.jpg",
                    f"size={100_000 + number};updated=1795000000.{number % 1000:03d}000",
                    1_795_000_000_000_000 + number,
                    RUN,
                )
                writer.write(
                    embedding_example(
                        row.uri,
                        vector,
                        "b4",
                        fingerprint=row.fingerprint,
                        embedded_at=row.embedded_at,
                        run=row.run,
                    )
                )
                lines.write(row.to_json() + "\n")
        sizes[0] += os.path.getsize(vectors)
        sizes[1] += os.path.getsize(index)
    return sizes[0], sizes[1]


READ_ALONE = """
import sys, time
import apache_beam as beam
from apache_beam.options.pipeline_options import PipelineOptions
from transforms.history import ReadHistory

read = ReadHistory(sys.argv[1])
start = time.perf_counter()
# One worker: Beam 2.77's multi_threading mode drops elements at this scale
# (benchmarks/direct_runner_loss.py).
with beam.Pipeline(options=PipelineOptions(["--direct_running_mode=in_memory"])) as pipeline:
    _ = pipeline | read | beam.combiners.Count.Globally() | beam.Map(print)
print(time.perf_counter() - start)
"""


def read_alone(folder: str) -> tuple[int, float]:
    """(records, seconds) of the job's own history read alone, in a fresh process."""
    out = subprocess.run(
        [sys.executable, "-c", READ_ALONE, folder],
        cwd=ROOT,
        check=True,
        capture_output=True,
        text=True,
    ).stdout.split()
    return int(out[-2]), float(out[-1])


def forget_later_runs(folder: str) -> None:
    """Leaves only the synthetic history, so that every run sees the same folder."""
    for name in os.listdir(folder):
        if f"-{RUN}-" not in name:
            os.remove(os.path.join(folder, name))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--records", type=int, default=1_000_000)
    parser.add_argument("--files", type=int, default=200)
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--model", default=None, help="SavedModel (default: a zero-cost model)")
    args = parser.parse_args()
    model = args.model or zero_cost_model(os.path.join(ROOT, ".cache", "models", "zero-cost"))

    work = tempfile.mkdtemp(prefix="bench-history-")
    try:
        images = os.path.join(work, "images")
        make_jpegs(images, args.files)
        indexed, unindexed = os.path.join(work, "indexed"), os.path.join(work, "unindexed")
        start = time.perf_counter()
        vector_bytes, index_bytes = write_history(indexed, args.records)
        os.makedirs(unindexed)
        for name in os.listdir(indexed):
            if name.startswith("embeddings-"):
                os.link(os.path.join(indexed, name), os.path.join(unindexed, name))
        print(
            f"history: {args.records} records; vectors {vector_bytes / 2**30:.2f} GiB, index "
            f"{index_bytes / 2**20:.1f} MiB ({index_bytes / vector_bytes:.2%}); written in "
            f"{time.perf_counter() - start:.0f} s",
            flush=True,
        )
        sources = {"index": indexed, "vectors": unindexed}
        reads: dict[str, list[float]] = {way: [] for way in sources}
        for _ in range(args.repeats):
            for way, folder in sources.items():
                records, seconds = read_alone(folder)
                assert records == args.records, (way, records)
                reads[way].append(seconds)
                print(f"  read alone from the {way}: {seconds:.1f} s", flush=True)

        folders = {"no history": None, "indexed": indexed, "unindexed": unindexed}
        jobs: dict[str, list[dict]] = {label: [] for label in folders}
        flags = ["--skip_existing", "--quiet"]
        for _ in range(args.repeats):
            for label, folder in folders.items():
                output = folder or tempfile.mkdtemp(prefix="bench-out-", dir=work)
                result = run_job(images, model, flags, rss=True, output=output)
                assert result["summary"]["embedded"] == args.files, result["summary"]
                jobs[label].append(result)
                print(f"  job, {label}: {result['wall']:.1f} s", flush=True)
                if folder:
                    forget_later_runs(folder)
    finally:
        shutil.rmtree(work, ignore_errors=True)

    machine = platform.processor() or platform.machine()
    print(f"\n{machine}, {os.cpu_count()} cores; medians of {args.repeats}, alternating")
    index_s, vectors_s = (statistics.median(reads[way]) for way in sources)
    print(
        f"history read alone, {args.records} records: index {index_s:.1f} s, vectors "
        f"{vectors_s:.1f} s (index / vectors: time {index_s / vectors_s:.2f}, bytes "
        f"{index_bytes / vector_bytes:.3f})"
    )
    print(f"{'job over ' + str(args.files) + ' JPEGs':<24}{'wall s':>9}{'peak RSS GiB':>14}")
    walls, peaks = {}, {}
    for label, results in jobs.items():
        walls[label] = statistics.median(result["wall"] for result in results)
        peaks[label] = statistics.median(result["peak_rss"] for result in results)
        print(f"{label:<24}{walls[label]:>9.1f}{peaks[label] / 2**30:>14.2f}")
    print(
        f"indexed / unindexed: wall {walls['indexed'] / walls['unindexed']:.2f}, peak RSS "
        f"{peaks['indexed'] / peaks['unindexed']:.2f}; history's extra wall, indexed "
        f"{walls['indexed'] - walls['no history']:.1f} s, unindexed "
        f"{walls['unindexed'] - walls['no history']:.1f} s"
    )


if __name__ == "__main__":
    main()
