"""`python -m pipeline.index --output DIR [Beam options]`: writes the index of every run in a
results folder that has none (runs written before indexes existed, or stopped between their
vectors and their index), so that later --skip_existing runs read only indexes.

It reads those runs' vectors once. Beam's flags pass through: DirectRunner here, Dataflow for a
folder too big for one machine.
"""

from __future__ import annotations

import argparse
import contextlib
import logging
import sys
import uuid
from collections.abc import Sequence

import apache_beam as beam
from apache_beam.io.filesystems import FileSystems
from apache_beam.options.pipeline_options import PipelineOptions

from pipeline import direct_runner
from transforms.history import history_files
from transforms.reindex import IndexRuns

logger = logging.getLogger("pipeline.index")


def main(argv: Sequence[str] | None = None) -> int:
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    parser = argparse.ArgumentParser(prog="python -m pipeline.index", description=__doc__)
    parser.add_argument("--output", required=True, help="a results folder (local or gs://)")
    args, beam_args = parser.parse_known_args(sys.argv[1:] if argv is None else argv)
    files = history_files(args.output)
    runs = files.unindexed_runs
    if not runs:
        print(f"Every run in {args.output} has an index.", file=sys.stderr)
        return 0
    temp = FileSystems.join(args.output, f".index-temp-{uuid.uuid4().hex}")
    direct_runner.stop_timed_flushes()  # a no-op elsewhere than on DirectRunner
    try:
        with beam.Pipeline(options=PipelineOptions(beam_args)) as pipeline:
            _ = pipeline | "IndexRuns" >> IndexRuns(args.output, files, temp)
    finally:
        # Beam leaves the folder it wrote through: a folder here, a prefix in a bucket.
        for path in (temp, temp + "/"):
            with contextlib.suppress(Exception):
                FileSystems.delete([path])
    read = len(files.tfrecords) + len(files.parquet)
    print(f"Indexed {len(runs)} runs ({read} files): {', '.join(runs)}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
