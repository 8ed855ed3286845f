"""Does DirectRunner deliver every element? Counts what a trivial pipeline writes, per mode.

    python benchmarks/direct_runner_loss.py [--elements 1000000] [--repeats 3]

`Create(range(N)) | Map | Map(str) | WriteToText`, then the lines in the files are counted. With
Beam 2.77 on this project's 2-core machine, `multi_threading` (the job's default local mode)
wrote 539 to 1,731 lines fewer than 1,000,000 elements in 12 of 15 runs (1 or 2 workers), and
lost 851 of 300,000 in 1 of 3 runs; `in_memory` and `multi_processing` wrote all of them every
time. `fixed` is multi_threading as the job runs it, with Beam's timed flushes off
(pipeline/direct_runner.py): none lost in 7 runs. Run it again after a Beam upgrade.
"""

from __future__ import annotations

import argparse
import glob
import os
import shutil
import subprocess
import sys
import tempfile

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

PIPELINE = """
import sys
import apache_beam as beam
from pipeline import direct_runner
elements, mode, workers, prefix = int(sys.argv[1]), sys.argv[2], sys.argv[3], sys.argv[4]
if mode == "fixed":  # multi_threading as the job runs it (pipeline/direct_runner.py)
    direct_runner.stop_timed_flushes()
    mode = "multi_threading"
argv = [f"--direct_running_mode={mode}", f"--direct_num_workers={workers}"]
with beam.Pipeline(runner="DirectRunner", argv=argv) as pipeline:
    _ = (
        pipeline
        | beam.Create(range(elements))
        | beam.Map(lambda x: x)
        | beam.Map(str)
        | beam.io.WriteToText(prefix)
    )
"""

MODES = (
    ("in_memory", 1),
    ("multi_threading", 1),
    ("multi_threading", 2),
    ("multi_processing", 2),
    ("fixed", 1),
    ("fixed", 2),
)


def written(elements: int, mode: str, workers: int) -> int:
    folder = tempfile.mkdtemp(prefix="beam-loss-")
    try:
        prefix = os.path.join(folder, "out")
        subprocess.run(
            [sys.executable, "-c", PIPELINE, str(elements), mode, str(workers), prefix],
            check=True,
            capture_output=True,
            cwd=ROOT,
        )
        lines = 0
        for path in glob.glob(prefix + "*"):
            with open(path, "rb") as handle:
                lines += sum(1 for _ in handle)
        return lines
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--elements", type=int, default=1_000_000)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    import apache_beam

    print(f"apache-beam {apache_beam.__version__}, {args.elements} elements per run")
    for _ in range(args.repeats):
        for mode, workers in MODES:
            lines = written(args.elements, mode, workers)
            lost = args.elements - lines
            print(f"{mode:<17} workers={workers}: wrote {lines} ({lost} lost)", flush=True)


if __name__ == "__main__":
    main()
