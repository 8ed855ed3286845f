"""What reading an image from Cloud Storage costs the worker's CPU, against the storage emulator.

    python benchmarks/storage_read.py [--objects 200] [--size 640x480] [--repeats 6] [--gil]

On Dataflow every image is read from gs://, in the worker thread that decodes it, with the
storage client's credentials and settings (transforms/gcs.py): the read's Python holds the GIL
as decoding's does. This uploads
JPEGs made from the samples to the emulator on 127.0.0.1 and measures the reading thread's own
CPU per object (the emulator runs in a process of its own, so its work is not counted), for:
  job       `gcs.read_object`: one GET through urllib3 with the client's credentials and
            settings (transforms/gcs_read.py)
  client    the same request through the job's storage client, the body read in one piece, as
            the job read it before
  chunked   the same request and client, the body read in the client's 8 KiB chunks, as the job
            read it before that
  as_built  the request as `chunked`, through a client as Beam builds it, whose session reads
            the environment's proxy settings on every request
Alternating, --repeats times; medians. Beside them, for scale: reading the same files from the
local disk (`read_bytes`) and decoding them (`decode_image`), CPU per image. The emulator speaks
HTTP without keeping connections open, so each read here also opens one; Cloud Storage keeps
them open and adds TLS. With --gil, `job` and `client` are also each read in a process of their
own under `py-spy record --gil`, alternating, --repeats times: the GIL-held ms per object are the
samples whose stack is inside the read (so start-up and imports are not counted) over the reads.
py-spy slows what it samples: compare the two, not other figures. JSON lines on stdout.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(HERE))  # the project, where it is not installed

from feed_on_cores import IMAGE_SIZE, make_photos  # noqa: E402

from tests import emulators  # noqa: E402
from tests.buckets import new_bucket, upload_folder  # noqa: E402

ROOT = os.path.dirname(HERE)
GIL_RATE = 250  # py-spy samples per second: each is 4 ms
GIL_READS = 3000  # reads per process, the objects in turn
# A process that reads objects one way; its read functions' names mark the samples to count.
GIL_READER = r"""
import json, sys
from transforms import gcs

def read_job(uri):
    return gcs.read_object(uri)

def read_client(uri):
    return gcs.read_through_client(*gcs.split(uri))

way, reads = sys.argv[1], int(sys.argv[2])
uris = json.load(sys.stdin)
read = read_job if way == "job" else read_client
for index in range(reads):
    read(uris[index % len(uris)])
"""


def cpu_per_call(function: Callable[[str], object], arguments: list[str]) -> float:
    """Microseconds of this thread's CPU per call."""
    start = time.thread_time()
    for argument in arguments:
        function(argument)
    return (time.thread_time() - start) / len(arguments) * 1e6


def gil_ms_per_read(way: str, uris: list[str], work: str) -> float:
    """GIL-held ms per object read `way` ("job" or "client"), in a process of its own."""
    raw = os.path.join(work, "gil.txt")
    spy = os.path.join(os.path.dirname(sys.executable), "py-spy")
    command = [spy, "record", "--gil", "--rate", str(GIL_RATE), "--format", "raw", "--output",
               raw, "--", sys.executable, "-c", GIL_READER, way, str(GIL_READS)]  # fmt: skip
    subprocess.run(command, input=json.dumps(uris).encode(), cwd=ROOT, check=True,
                   capture_output=True)  # fmt: skip
    inside = f"read_{way} "
    samples = 0
    with open(raw) as handle:
        for line in handle:
            stack, _, count = line.rstrip().rpartition(" ")
            if inside in stack:
                samples += int(count)
    return samples * 1000 / GIL_RATE / GIL_READS


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--objects", type=int, default=200)
    parser.add_argument("--size", default="640x480")
    parser.add_argument("--repeats", type=int, default=6)
    parser.add_argument("--gil", action="store_true")
    args = parser.parse_args()
    width, height = (int(side) for side in args.size.split("x"))
    work = tempfile.mkdtemp(prefix="storage-read-")
    try:
        folder = os.path.join(work, "photos")
        paths = sorted(make_photos(folder, args.objects, width, height))
        with emulators.cloud_storage(os.path.join(work, "emulator")):
            from apache_beam.io.gcp.gcsio import GcsIO

            from transforms import gcs
            from transforms.decode import decode_image
            from transforms.fs import read_bytes

            uris = sorted(upload_folder(folder, new_bucket(), "photos"))
            as_built = GcsIO().client

            def read_client(uri: str) -> bytes:
                return gcs.read_through_client(*gcs.split(uri))

            def read_chunked(uri: str, client=None) -> bytes:
                bucket, name = gcs.split(uri)
                blob = (client or gcs.client()).bucket(bucket).blob(name)
                return blob.download_as_bytes(retry=None)

            def read_as_built(uri: str) -> bytes:
                return read_chunked(uri, as_built)

            blobs = [read_bytes(path) for path in paths]
            # The same bytes either way; the first calls' costs stay out of the figures.
            assert gcs.read_object(uris[0]) == read_as_built(uris[0]) == blobs[0]
            assert read_chunked(uris[0]) == read_client(uris[0]) == blobs[0]
            ways = {
                "job": lambda: cpu_per_call(gcs.read_object, uris),
                "client": lambda: cpu_per_call(read_client, uris),
                "chunked": lambda: cpu_per_call(read_chunked, uris),
                "as_built": lambda: cpu_per_call(read_as_built, uris),
                "local_read": lambda: cpu_per_call(read_bytes, paths),
                "decode": lambda: cpu_per_call(lambda blob: decode_image(blob, IMAGE_SIZE), blobs),
            }
            figures: dict[str, list[float]] = {name: [] for name in ways}
            for repeat in range(args.repeats):
                # The reads turn in order every repeat; the references for scale follow.
                reads = ["job", "client", "chunked", "as_built"]
                order = reads[repeat % len(reads) :] + reads[: repeat % len(reads)]
                for name in [*order, "local_read", "decode"]:
                    figures[name].append(ways[name]())
                emit(repeat=repeat, **{name: round(figures[name][-1], 1) for name in ways})
            held: dict[str, list[float]] = {"job": [], "client": []}
            for repeat in range(args.repeats if args.gil else 0):
                for way in ("job", "client")[:: 1 if repeat % 2 == 0 else -1]:
                    held[way].append(gil_ms_per_read(way, uris, work))
                emit(repeat=repeat, **{f"{way}_gil_ms": round(held[way][-1], 3) for way in held})
        if args.gil:
            emit(stage="gil medians", **{f"{way}_gil_ms": round(statistics.median(ms), 3)
                                         for way, ms in held.items()})  # fmt: skip
        medians = {name: statistics.median(values) for name, values in figures.items()}
        emit(
            stage="medians",
            repeats=args.repeats,
            objects=len(uris),
            **{f"{name}_us": round(value, 1) for name, value in medians.items()},
            job_to_client=round(medians["job"] / medians["client"], 3),
            job_to_chunked=round(medians["job"] / medians["chunked"], 3),
            job_to_as_built=round(medians["job"] / medians["as_built"], 3),
            job_to_decode=round(medians["job"] / medians["decode"], 3),
        )
    finally:
        shutil.rmtree(work)


def emit(**fields) -> None:
    print(json.dumps(fields), flush=True)


if __name__ == "__main__":
    main()
