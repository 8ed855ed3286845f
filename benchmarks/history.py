"""What a long history costs a --skip_existing run, in one run on one machine.

    python benchmarks/history.py [--records 200000] [--files 1000] [--model DIR]

Writes --records synthetic embedding records (1792 floats each, as earlier runs of B4 would have
left them, of other URIs) into one output folder, and --files photo-sized JPEGs to embed. Then
runs the command with --skip_existing over the JPEGs twice, each in a fresh process: into an
empty folder (no history) and into the folder with the history. Prints wall time, the job's own
seconds and peak memory of the process tree for both, and their ratios. Both runs embed every
JPEG, so the difference is the history's read and join.
"""

from __future__ import annotations

import argparse
import os
import platform
import shutil
import tempfile
import time

import numpy as np
from throughput import DEFAULT_MODEL, ensure_model, make_jpegs, run_job

from transforms.example import embedding_example

DIM = 1792
SHARDS = 16


def write_history(output: str, records: int) -> int:
    """`records` embedding records in SHARDS files; returns their total size in bytes."""
    import tensorflow as tf

    os.makedirs(output, exist_ok=True)
    vector = np.random.default_rng(0).normal(size=DIM).astype(np.float32)
    size = 0
    for shard in range(SHARDS):
        path = os.path.join(output, f"embeddings-history-{shard:05d}-of-{SHARDS:05d}.tfrecord")
        with tf.io.TFRecordWriter(path) as writer:
            for index in range(shard, records, SHARDS):
                writer.write(
                    embedding_example(
                        f"gs://bucket/earlier/image-{index:07d}.jpg",
                        vector,
                        "b4",
                        fingerprint=f"size={100_000 + index};updated=1795000000.000000",
                        embedded_at=1_795_000_000_000_000 + index,
                        run="history",
                    )
                )
        size += os.path.getsize(path)
    return size


def read_seconds(pattern: str) -> float:
    """(records, seconds) of the job's own history read alone: ReadEarlierRecords on
    DirectRunner with the command's local defaults, counted."""
    import apache_beam as beam
    from apache_beam.options.pipeline_options import PipelineOptions

    from pipeline.run import local_defaults
    from transforms.history import ReadEarlierRecords

    start = time.perf_counter()
    with beam.Pipeline(options=PipelineOptions(local_defaults([]))) as pipeline:
        counted = (
            pipeline
            | "Earlier" >> ReadEarlierRecords(pattern)
            | "Count" >> beam.combiners.Count.Globally()
        )
        counted | beam.Map(lambda n: print(f"    read {n} records", flush=True))
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--records", type=int, default=200_000)
    parser.add_argument("--files", type=int, default=1000)
    parser.add_argument("--model", default=None, help="SavedModel folder (default: untrained B4)")
    args = parser.parse_args()
    model = args.model or ensure_model(DEFAULT_MODEL)

    work = tempfile.mkdtemp(prefix="bench-history-")
    try:
        images = os.path.join(work, "images")
        make_jpegs(images, args.files)
        empty, history = os.path.join(work, "empty"), os.path.join(work, "history")
        start = time.perf_counter()
        size = write_history(history, args.records)
        print(
            f"history: {args.records} records, {size / 2**30:.2f} GiB, written in "
            f"{time.perf_counter() - start:.1f} s"
        )
        # The read alone, over half the shards and over all of them: its time per record.
        half = os.path.join(history, f"embeddings-history-0000[0-{SHARDS // 2 - 1}]-*.tfrecord")
        reads = {
            args.records // 2: read_seconds(half),
            args.records: read_seconds(os.path.join(history, "embeddings-*.tfrecord")),
        }
        for records, seconds in reads.items():
            print(f"history read alone: {records} records in {seconds:.1f} s")
        flags = ["--skip_existing", "--quiet"]
        results = {"no history": run_job(images, model, flags, rss=True, output=empty)}
        results[f"{args.records} records"] = run_job(images, model, flags, rss=True, output=history)
    finally:
        shutil.rmtree(work, ignore_errors=True)

    machine = platform.processor() or platform.machine()
    print(f"{machine}, {os.cpu_count()} cores, {args.files} files")
    print(f"{'run':<18}{'embedded':>9}{'skipped':>9}{'wall s':>9}{'job s':>9}{'peak RSS GiB':>14}")
    for label, result in results.items():
        summary = result["summary"]
        print(
            f"{label:<18}{summary['embedded']:>9}{summary['skipped']:>9}{result['wall']:>9.1f}"
            f"{summary['seconds']:>9.1f}{result['peak_rss'] / 2**30:>14.2f}"
        )
    base, long = results.values()
    print(
        f"ratios, history / none: wall {long['wall'] / base['wall']:.2f}, "
        f"peak RSS {long['peak_rss'] / base['peak_rss']:.2f}; extra time per 100,000 records: "
        f"{(long['wall'] - base['wall']) / args.records * 100_000:.1f} s"
    )


if __name__ == "__main__":
    main()
