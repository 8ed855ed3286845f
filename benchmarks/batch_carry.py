"""How the job's batches are made, measured: the job's stages as they are (one Beam element per
image from the read to the sinks, RunInference batching within each bundle) against the same work
with one element per batch of images between the read and the encoder ("batched"), and against
RunInference batching across bundles ("cross-bundle": Beam's stateful BatchElements, which
`max_batch_duration_secs` turns on).

    python benchmarks/batch_carry.py [--small 400] [--large 1600] [--repeats 3] [--gil]
                                     [--shapes per-image batched cross-bundle]

Every pipeline reads the same JPEGs, decodes them with the job's own `decode_image`, embeds them
with the same zero-cost model through `HubImageEmbedder` and RunInference, and writes TFRecords
and index lines; only the shape of the elements or the batching differs. Each runs in a fresh
process on the job's default local layout (multi_threading, a worker thread per core),
alternately, --repeats times; the marginal img/s between --small and --large images is reported
(medians), with the marginal CPU ms per image of the run's processes (user + system) and the
peak RSS of the large run's process tree. With --gil, py-spy's GIL samples give the GIL-held ms
per image of each shape as well.

The batched shape is a measurement, not the product: its failure accounting (one failure per
image of a batch) is kept to the minimum the comparison needs.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from typing import NamedTuple

from throughput import ROOT, PeakRss, jpeg_folders, zero_cost_model

BATCH = 16
RATE = 100  # py-spy samples per second
SHAPES = ("per-image", "batched", "cross-bundle")
# Cross-bundle batching: the longest a partial batch waits for more images. A batch of 16 fills
# in tens of milliseconds here, so only the last batch of a run waits this long.
BATCH_WAIT_SECONDS = 0.5

PIPELINE = r"""
import json, os, sys, time
import apache_beam as beam
import numpy as np
from apache_beam.ml.inference.base import ModelHandler, RunInference
from apache_beam.options.pipeline_options import PipelineOptions
from pipeline.direct_runner import stop_timed_flushes
from transforms.decode import decode_or_failure
from transforms.embed import EmbedImages
from transforms.decode import DecodeImages
from transforms.model import HubImageEmbedder
from transforms.records import DecodedImage, Embedding, Failure, ImageFile
from transforms.write import WriteEmbeddings

shape, folder, model, output, batch, wait = sys.argv[1:7]
batch, wait = int(batch), float(wait)


def read(path):
    with open(path, "rb") as handle:
        return ImageFile(path, handle.read(), "size=1")


class DecodeBatch(beam.DoFn):
    def process(self, files):
        kept = []
        for f in files:
            result = decode_or_failure(f.uri, f.data, 380, fingerprint=f.fingerprint)
            if isinstance(result, Failure):
                yield beam.pvalue.TaggedOutput("failures", result)
            else:
                kept.append(result)
        if kept:
            yield kept


class BatchHandler(ModelHandler):
    def __init__(self, handle):
        super().__init__()
        self._inner = HubImageEmbedder(handle)

    def load_model(self):
        return self._inner.load_model()

    def run_inference(self, batches, model, inference_args=None):
        out = []
        for images in batches:
            vectors = model(np.stack([image.pixels for image in images]))
            out.append([Embedding(i.uri, v, i.fingerprint) for i, v in zip(images, vectors)])
        return out

    def batch_elements_kwargs(self):
        return {"min_batch_size": 1, "max_batch_size": 1}

    def get_num_bytes(self, batches):
        return sum(image.pixels.nbytes for images in batches for image in images)


# The job's handler, its batches made across bundles (Beam's stateful BatchElements).
class CrossBundle(HubImageEmbedder):
    def batch_elements_kwargs(self):
        return {**super().batch_elements_kwargs(), "max_batch_duration_secs": wait}


stop_timed_flushes()
from pipeline.run import local_defaults
options = PipelineOptions(local_defaults([]))  # the command's own local layout
start = time.perf_counter()
with beam.Pipeline(options=options) as p:
    files = (
        p
        | "Paths" >> beam.Create(sorted(os.path.join(folder, n) for n in os.listdir(folder)))
        | "Spread" >> beam.Reshuffle()
        | "Read" >> beam.Map(read)
    )
    if shape in ("per-image", "cross-bundle"):
        handler = (CrossBundle if shape == "cross-bundle" else HubImageEmbedder)(model)
        images = files | "DecodeImages" >> DecodeImages(380)
        embedded = images["images"] | "EmbedImages" >> EmbedImages(handler)
        vectors = embedded["embeddings"]
    else:
        decoded = (
            files
            | "Batch" >> beam.BatchElements(min_batch_size=batch, max_batch_size=batch)
            | "DecodeBatch" >> beam.ParDo(DecodeBatch()).with_outputs("failures", main="images")
        )
        vectors = (
            decoded.images
            | "EmbedBatches" >> RunInference(BatchHandler(model))
            | "Unbatch" >> beam.FlatMap(lambda embeddings: embeddings)
        )
    _ = vectors | "Write" >> WriteEmbeddings(output, model, "bench")
print(json.dumps(time.perf_counter() - start))
"""


class Run(NamedTuple):
    wall: float  # seconds
    gil: float  # py-spy's GIL samples (with --gil)
    cpu: float  # CPU seconds of its processes, user + system
    peak_rss: int  # bytes, the process tree's peak (without --gil)


def run(shape: str, folder: str, model: str, work: str, gil: bool) -> Run:
    """One pipeline run in a fresh process."""
    output = tempfile.mkdtemp(prefix="carry-out-", dir=work)
    command = [sys.executable, "-c", PIPELINE, shape, folder, model, output, str(BATCH)]
    command.append(str(BATCH_WAIT_SECONDS))
    raw = os.path.join(work, "gil.txt")
    if gil:
        spy = os.path.join(os.path.dirname(sys.executable), "py-spy")
        command = [spy, "record", "--gil", "--rate", str(RATE), "--format", "raw", "--output",
                   raw, "--", *command]  # fmt: skip
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    process = subprocess.Popen(command, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    sampler = None if gil else PeakRss(process.pid)  # py-spy's own memory is not the job's
    _, err = process.communicate()
    wall = time.perf_counter() - start
    peak = sampler.stop() if sampler else 0
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime
    if process.returncode:
        raise RuntimeError(err.decode()[-3000:])
    assert any(name.startswith("embeddings-") for name in os.listdir(output)), shape
    shutil.rmtree(output)
    samples = 0.0
    if gil:
        with open(raw) as handle:
            samples = sum(int(line.rstrip().rpartition(" ")[2]) for line in handle if line.strip())
    return Run(wall, samples, cpu, peak)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--small", type=int, default=400)
    parser.add_argument("--large", type=int, default=1600)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--gil", action="store_true")
    parser.add_argument("--shapes", nargs="+", choices=SHAPES, default=list(SHAPES))
    args = parser.parse_args()
    model = zero_cost_model(os.path.join(ROOT, ".cache", "models", "zero-cost"))
    work = tempfile.mkdtemp(prefix="bench-carry-")
    try:
        small, large, _ = jpeg_folders(work, args.small, args.large)
        folders = (small, large)
        marginal = args.large - args.small
        rates: dict[str, list[float]] = {shape: [] for shape in args.shapes}
        gil: dict[str, list[float]] = {shape: [] for shape in args.shapes}
        cpu: dict[str, list[float]] = {shape: [] for shape in args.shapes}
        rss: dict[str, list[float]] = {shape: [] for shape in args.shapes}
        for _ in range(args.repeats):
            for shape in args.shapes:
                small_run, large_run = (
                    run(shape, folder, model, work, args.gil) for folder in folders
                )
                rates[shape].append(marginal / (large_run.wall - small_run.wall))
                gil[shape].append((large_run.gil - small_run.gil) * 1000 / RATE / marginal)
                cpu[shape].append((large_run.cpu - small_run.cpu) * 1000 / marginal)
                rss[shape].append(large_run.peak_rss / 2**30)
                print(
                    f"  {shape}: {rates[shape][-1]:.0f} img/s, CPU {cpu[shape][-1]:.2f} ms/img"
                    + (f", GIL {gil[shape][-1]:.2f} ms/img" if args.gil else "")
                    + ("" if args.gil else f", peak RSS {rss[shape][-1]:.2f} GiB"),
                    flush=True,
                )
    finally:
        shutil.rmtree(work, ignore_errors=True)
    print(f"\nzero-cost model, marginal over {marginal} JPEGs, medians of {args.repeats}")
    for shape, values in rates.items():
        spread = ", ".join(f"{value:.0f}" for value in values)
        line = f"{shape:<13}{statistics.median(values):8.0f} img/s  ({spread})"
        line += f"   CPU {statistics.median(cpu[shape]):.2f} ms/img"
        if args.gil:
            line += f"   GIL {statistics.median(gil[shape]):.2f} ms/img"
        else:
            line += f"   peak RSS {statistics.median(rss[shape]):.2f} GiB (run of {args.large})"
        print(line)
    if "per-image" in rates:
        base = statistics.median(rates["per-image"])
        for shape in rates.keys() - {"per-image"}:
            print(f"{shape} / per-image: {statistics.median(rates[shape]) / base:.2f}")
    print(json.dumps({"rates": rates, "gil": gil, "cpu": cpu, "peak_rss_gib": rss}))


if __name__ == "__main__":
    main()
