"""Listing a glob over many prefixes on the storage emulator: Beam's MatchAll (one element) against
the job's ListFiles (one element per prefix, transforms/listing.py).

    python benchmarks/listing.py [--objects 20160] [--repeats 2]

The objects are laid out as a dated photo bucket, `photos/YYYY/MM/DD/img-N.jpg`. They are
written straight into the emulator's folder (its metadata file and one file per object) before
it starts, because the emulator rewrites its whole metadata file on every upload. Each way is
run alternately --repeats times, each in a fresh process on DirectRunner, and prints: wall
seconds, the most entries one element held, the number of listing elements, and the process's
peak RSS. The emulator answers a listing in one page and scans every object of the bucket per
request, which real Cloud Storage does not: the times here show the cost of the requests, not
the parallel speed-up a fleet of workers gets.
"""

from __future__ import annotations

import argparse
import copy
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile

from throughput import ROOT

sys.path.insert(0, ROOT)

from tests import emulators  # noqa: E402

BUCKET = "bench"

LIST = """
import json, resource, sys, time
import apache_beam as beam
from apache_beam.io import fileio
from apache_beam.metrics.metric import MetricsFilter
from transforms.listing import ListFiles
from transforms.records import METRICS_NAMESPACE

way, pattern = sys.argv[1:]
pipeline = beam.Pipeline(runner="DirectRunner", argv=["--direct_running_mode=in_memory"])
if way == "MatchAll":
    files = pipeline | beam.Create([pattern]) | fileio.MatchAll()
else:
    files = pipeline | ListFiles([pattern])
_ = files | beam.combiners.Count.Globally() | beam.Map(lambda n: print("files", n))
start = time.perf_counter()
result = pipeline.run()
result.wait_until_finish()
seconds = time.perf_counter() - start
query = result.metrics().query(MetricsFilter().with_namespace(METRICS_NAMESPACE))
elements = sum(m.committed for m in query["counters"] if m.key.metric.name == "listing_elements")
held = max((m.committed.max for m in query["distributions"]), default=None)
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
print(json.dumps({"seconds": seconds, "elements": elements, "held": held, "peak": peak}))
"""


def seed(data_dir: str, objects: int) -> int:
    """Writes `objects` objects into the emulator's folder; returns how many day prefixes."""
    with emulators.storage(data_dir) as url, emulators.environment(STORAGE_EMULATOR_HOST=url):
        from google.auth.credentials import AnonymousCredentials
        from google.cloud import storage

        client = storage.Client(project=emulators.PROJECT, credentials=AnonymousCredentials())
        client.create_bucket(BUCKET).blob("seed").upload_from_string(b"x")
    root = os.path.join(data_dir, ".cloudstorage")
    with open(os.path.join(root, ".meta")) as handle:
        meta = json.load(handle)
    template = meta["objects"][BUCKET].pop("seed")
    os.remove(os.path.join(root, BUCKET, "seed"))
    days = [(y, m, d) for y in range(2020, 2027) for m in range(1, 13) for d in range(1, 29)]
    per_day = -(-objects // len(days))
    for number in range(objects):
        year, month, day = days[number // per_day]
        name = f"photos/{year}/{month:02d}/{day:02d}/img-{number:06d}.jpg"
        entry = copy.deepcopy(template)
        generation = str(int(template["generation"]) + number)
        entry.update(
            name=name,
            id=f"{BUCKET}/{name}/{generation}",
            selfLink=f"/storage/v1/b/{BUCKET}/o/{name}",
            generation=generation,
            size=1,
            mediaLink=template["mediaLink"].replace("/o/seed?", f"/o/{name}?"),
        )
        meta["objects"][BUCKET][name] = entry
        path = os.path.join(root, BUCKET, name)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, "wb") as handle:
            handle.write(b"x")
    with open(os.path.join(root, ".meta"), "w") as handle:
        json.dump(meta, handle)
    return -(-objects // per_day)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--objects", type=int, default=20_160)
    parser.add_argument("--repeats", type=int, default=2)
    args = parser.parse_args()
    work = tempfile.mkdtemp(prefix="bench-listing-")
    try:
        data_dir = os.path.join(work, "gcs")
        credentials = os.path.join(work, "credentials.json")
        with open(credentials, "w") as handle:
            json.dump(emulators.DUMMY_CREDENTIALS, handle)
        days = seed(data_dir, args.objects)
        print(f"{args.objects} objects under {days} day prefixes", flush=True)
        pattern = f"gs://{BUCKET}/photos/**"
        runs: dict[str, list[dict]] = {"MatchAll": [], "ListFiles": []}
        with emulators.storage(data_dir) as url:
            env = dict(
                os.environ,
                STORAGE_EMULATOR_HOST=url,
                GOOGLE_APPLICATION_CREDENTIALS=credentials,
                GOOGLE_CLOUD_PROJECT=emulators.PROJECT,
            )
            for _ in range(args.repeats):
                for way in runs:
                    out = subprocess.run(
                        [sys.executable, "-c", LIST, way, pattern],
                        cwd=ROOT,
                        env=env,
                        check=True,
                        capture_output=True,
                        text=True,
                    ).stdout.splitlines()
                    assert f"files {args.objects}" in out, out
                    result = json.loads(out[-1])
                    if way == "MatchAll":
                        result.update(elements=1, held=args.objects)
                    runs[way].append(result)
                    print(f"  {way}: {result['seconds']:.1f} s", flush=True)
    finally:
        shutil.rmtree(work, ignore_errors=True)

    machine = platform.processor() or platform.machine()
    print(f"\n{machine}, {os.cpu_count()} cores; medians of {args.repeats}, alternating")
    print(f"{'way':<11}{'wall s':>8}{'elements':>10}{'most held':>11}{'peak RSS MiB':>14}")
    medians = {}
    for way, results in runs.items():
        medians[way] = {key: statistics.median(r[key] for r in results) for key in results[0]}
        row = medians[way]
        print(
            f"{way:<11}{row['seconds']:>8.1f}{row['elements']:>10.0f}{row['held']:>11.0f}"
            f"{row['peak'] / 2**20:>14.0f}"
        )
    one, many = medians["MatchAll"], medians["ListFiles"]
    print(
        f"ListFiles / MatchAll: wall {many['seconds'] / one['seconds']:.2f}, most held "
        f"{many['held'] / one['held']:.3f}, peak RSS {many['peak'] / one['peak']:.2f}"
    )


if __name__ == "__main__":
    main()
