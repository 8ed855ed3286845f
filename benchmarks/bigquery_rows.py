"""What writing the job's BigQuery rows into load files costs: Beam's JSON row writer (its
default for file loads) against its Avro row writer (what the job uses), for rows as the job
makes them (`transforms/bigquery.to_row`, 1,792 floats each).

    python benchmarks/bigquery_rows.py [--rows 2000] [--repeats 6]

Each repeat measures both formats in turn (alternating which goes first): the writing thread's
CPU per row (each row written and the file's size asked, as Beam's file loads do), then the
rows written per second by one thread and by a thread per core at once, each to a file of its
own. Where the writer held the GIL throughout, a thread per core writes no
more rows a second than one thread. Also the bytes per row. Medians; JSON lines on stdout.
"""

from __future__ import annotations

import argparse
import datetime
import io
import json
import os
import statistics
import sys
import threading
import time

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(HERE))  # the project, where it is not installed

from apache_beam.io.gcp import bigquery_tools  # noqa: E402

from transforms.bigquery import SCHEMA, Method, to_row  # noqa: E402
from transforms.records import Embedding  # noqa: E402
from transforms.threads import usable_cores  # noqa: E402

WRITERS = {
    "json": (Method.STREAMING_INSERTS, lambda: bigquery_tools.JsonRowWriter(io.BytesIO())),
    "avro": (Method.FILE_LOADS, lambda: bigquery_tools.AvroRowWriter(io.BytesIO(), SCHEMA)),
}


def rows_for(method: Method, count: int) -> list[dict]:
    """Rows as the job makes them for `method`: JSON rows carry the timestamp as text."""
    rng = np.random.default_rng(0)
    stamp = datetime.datetime.now(datetime.UTC)
    model = "https://tfhub.dev/google/efficientnet/b4/feature-vector/1"
    return [
        to_row(
            Embedding(f"gs://bucket/photos/{index:06d}.jpg", rng.random(1792, np.float32)),
            model,
            stamp,
            method,
        )
        for index in range(count)
    ]


def write(writer, row: dict) -> None:
    """As Beam's file loads write a row (WriteRecordsToFile): then ask the file's size, which
    the Avro writer answers by ending its block there."""
    writer.write(row)
    writer.tell()


def cpu_per_row(fmt: str, rows: list[dict]) -> tuple[float, int]:
    """(Microseconds of this thread's CPU per row, bytes per row)."""
    writer = WRITERS[fmt][1]()
    start = time.thread_time()
    for row in rows:
        write(writer, row)
    writer.flush()
    cpu = (time.thread_time() - start) / len(rows) * 1e6
    return cpu, len(writer._file_handle.getvalue()) // len(rows)  # noqa: SLF001


def rows_per_second(fmt: str, rows: list[dict], threads: int) -> float:
    """Rows written a second by `threads` threads at once, each all of `rows`."""

    def write_all() -> None:
        writer = WRITERS[fmt][1]()
        for row in rows:
            write(writer, row)
        writer.flush()

    workers = [threading.Thread(target=write_all) for _ in range(threads)]
    start = time.perf_counter()
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    return threads * len(rows) / (time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=2000)
    parser.add_argument("--repeats", type=int, default=6)
    args = parser.parse_args()
    cores = usable_cores()
    rows = {fmt: rows_for(method, args.rows) for fmt, (method, _) in WRITERS.items()}
    figures: dict[str, list[float]] = {}
    for repeat in range(args.repeats):
        order = list(WRITERS)[:: 1 if repeat % 2 == 0 else -1]
        for fmt in order:
            cpu, size = cpu_per_row(fmt, rows[fmt])
            figures.setdefault(f"{fmt}_cpu_us", []).append(cpu)
            figures[f"{fmt}_bytes"] = [size]
        for fmt in order:
            one = rows_per_second(fmt, rows[fmt], 1)
            every = rows_per_second(fmt, rows[fmt], cores)
            figures.setdefault(f"{fmt}_threads_ratio", []).append(every / one)
        emit(repeat=repeat, **{name: round(values[-1], 3) for name, values in figures.items()})
    medians = {name: statistics.median(values) for name, values in figures.items()}
    emit(
        stage="medians",
        repeats=args.repeats,
        rows=args.rows,
        threads=cores,
        **{name: round(value, 3) for name, value in medians.items()},
        avro_to_json_cpu=round(medians["avro_cpu_us"] / medians["json_cpu_us"], 3),
    )


def emit(**fields) -> None:
    print(json.dumps(fields), flush=True)


if __name__ == "__main__":
    main()
