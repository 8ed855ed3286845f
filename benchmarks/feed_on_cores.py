"""How fast the command feeds its model on every core of a machine, against what those cores can
decode, with a model that costs nothing and needs no TensorFlow, so that it runs on accelerator
machines that lack TensorFlow.

    python benchmarks/feed_on_cores.py [--small 4000] [--large 16000] [--size 640x480]
        [--repeats 2]
        [--layouts default,processes,shared,decode-only[,tensorflow,one-thread,more-threads,
                  no-decode]]
        [--tree DIR ...]
    python benchmarks/feed_on_cores.py --capacity 640x480,1600x1200,4032x3024 [--repeats 2]

The command runs whole (`pipeline.run.main`: listing, reading, decoding, RunInference with the
job's own handler and batches, the TFRecord, index and failure writers, summary.json) over JPEGs
made from the samples, with two parts replaced where TensorFlow would be needed:
- the launch check that reads the model's signature: the input side is given (380);
- the loaded model: the mean of a 6x6 grid of each image's pixels / 255, 1792 times, computed by
  NumPy: a vector that depends on the image and costs the cores next to nothing, as a model on an
  accelerator does (GridMeanModel says why not every pixel).
Layouts:
  default    the command's local default: one process, a worker thread per core
  processes  a worker process per core (--direct_running_mode=multi_processing), as Dataflow
             runs one SDK process per vCPU, each with a model of its own
  shared     a process per core sharing one model (--model_sharing machine)
  decode-only  the ceiling of the default layout: the job's own ReadImages and DecodeImages
             alone, in one process with a worker thread per core at the command's CPU priority,
             the decoded images dropped (no RunInference, no writers); marginal only
  tensorflow   the default layout with throughput.py --feed's SavedModel in place of the NumPy
             model: the mean of every pixel, computed by TensorFlow on the same cores after the
             job's handler has turned the batch into [0, 1] floats, work that a GPU does in the
             job (only where TensorFlow is installed; not in the default --layouts)
  one-thread   the default layout with one worker thread: no other thread of the job's wants the
             GIL, so against one core's decode it shows what the job costs beyond decoding
             without contention (not in the default --layouts)
  more-threads the default layout with a worker thread more than cores, so that a core whose
             thread waits for the GIL has another to run (not in the default --layouts)
  no-decode    the default layout with `decode_image` replaced by a ready image: everything the
             job does per image but decoding (listing, reading, batching, the model, the
             writers), in the layout's own threads. With cores x one core's decode C and this
             rate N, a job whose parts simply added up would feed 1 / (1 + C / N) of C: the
             ceiling its own work beyond decoding leaves (`no-decode_ceiling` in the medians;
             not in the default --layouts). It runs over NO_DECODE_COPIES times --small and
             --large, each JPEG linked that many times, so that its marginal is seconds long
For each layout: the marginal img/s between a small and a large run (start-up cancels) and the
steady rate within the large run (`throughput.steady`), against cores x one core's decode rate
and against every core decoding at once, a process each (less where cores share physical
cores); and, marginal too, the CPU microseconds and the context switches each image cost the
command's process and the children it waited for (`cpu_us`, `switches`): CPU time moves less
than wall time on a shared machine, and a thread that waits for the GIL gives up its core.
Beside those, every core decoding at once in one process, a thread each, with no Beam around
them (`every_thread`): against the processes, what the GIL between decoding threads costs;
against it, `decode-only` shows what Beam's reading and per-element steps cost. Layouts
alternate with the decode measurements, --repeats times; medians. One core's decode is also
measured after every run, so that each run has a measurement just before it and one just after:
`_ratio_paired` is the median, over repeats, of each run's rate against the mean of those two,
both sides taken from the same minutes of a host whose speed moves (the one-core measurement
lasts about a second, a run of the command ten or more). With --tree (repeatable), each
layout runs once for each checkout of this project named, in turn, with that checkout's code
(`LAYOUT@DIR` in the output): a change measured before and after in one run; the decode
measurements are this checkout's. JSON lines on stdout, also appended to $OUT/feed.jsonl where
OUT is set.

With --capacity, only what the cores decode, by photo size: one core, every core at once a
process each, and every core in threads of one process, over CAPACITY_PER_CORE photos per core
of each size; no layouts run. It says how many vCPUs a GPU needs for photos of a size.

Cores are the ones this process may run on (transforms.threads.usable_cores), as the command
counts them: under `taskset -c 0-3` the benchmark measures a machine of 4 cores, the layouts'
processes and threads and the decode measurements alike.

On a machine without internet access (Python 3.12 there), bring the wheels it lacks in an
ignored folder, e.g.
    pip download --no-deps --only-binary=:all: --python-version 3.12 \
        --platform manylinux2014_x86_64 --platform manylinux_2_28_x86_64 -d .cache/device-wheels \
        apache-beam==2.77.0 pillow==12.3.0 google-crc32c rich markdown-it-py mdurl pygments \
        beartype cffi cryptography dill fastavro fasteners httplib2 jsonpickle objsize \
        proto-plus pycparser pymongo pytz zstandard
install them with `pip install --no-deps --target /tmp/site .cache/device-wheels/*.whl` and run
with PYTHONPATH=/tmp/site: the command's worker processes inherit it (add orjson, as Beam uses
it where installed). How long it takes there: on 16 vCPUs, with `--small 3000 --large 15000`,
one repeat of default, decode-only, shared and processes took about 235 s, the decode
measurements included, and the whole command with 2 repeats more than 480 s. The 16-process
layouts spend 30 to 40 s of each run starting up, so their steady rates are the ones to read.
Under `taskset -c 0-3` (4 vCPUs), making 5,000 photos, the decode measurements and the default
layout at --small 1000 --large 5000 took most of 110 s.
"""

from __future__ import annotations

import argparse
import functools
import glob
import json
import math
import multiprocessing
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(HERE))  # the project, where it is not installed

from throughput import (  # noqa: E402
    ROOT,
    Rates,
    decode_every_core,
    decode_every_thread,
    decode_per_core,
    jpeg_folders,
    marginal_rate,
    tree_environment,
    zero_cost_model,
)

from transforms.model import HubImageEmbedder  # noqa: E402
from transforms.shared_batch import SharedBatchTarget  # noqa: E402
from transforms.threads import usable_cores  # noqa: E402

CORES = usable_cores()
ENTRY = ("-c", "import feed_on_cores; feed_on_cores.command()")  # see command()
NO_DECODE_ENTRY = ("-c", "import feed_on_cores; feed_on_cores.command(decoding=False)")
DECODE_ONLY = "decode-only"
TENSORFLOW = "tensorflow"
ONE_THREAD = "one-thread"
MORE_THREADS = "more-threads"
NO_DECODE = "no-decode"
# The no-decode layout runs this many times as many images (hard links of the same JPEGs), so
# that its marginal is seconds long: each image costs it a tenth of what decoding does.
NO_DECODE_COPIES = 10
OPTIONAL = (TENSORFLOW, ONE_THREAD, MORE_THREADS, NO_DECODE)  # not in the default --layouts
IMAGE_SIZE = 380
VECTOR_WIDTH = 1792
LAYOUTS = {
    "default": [],
    "processes": ["--direct_running_mode=multi_processing", f"--direct_num_workers={CORES}"],
    "shared": [
        "--direct_running_mode=multi_processing",
        f"--direct_num_workers={CORES}",
        "--model_sharing",
        "machine",
    ],
    DECODE_ONLY: [],
    TENSORFLOW: [],
    ONE_THREAD: ["--direct_running_mode=multi_threading", "--direct_num_workers=1"],
    MORE_THREADS: ["--direct_running_mode=multi_threading", f"--direct_num_workers={CORES + 1}"],
    NO_DECODE: [],
}


# --capacity: photos of each size per core, and how many of them one core decodes alone.
CAPACITY_PER_CORE = 24
CAPACITY_ONE_CORE = 40

# Every GRID_STEP-th row and column of a 380x380 image: a 6x6 grid.
GRID_STEP = 64


class GridMeanModel(SharedBatchTarget):
    """The mean of a grid of each image's pixels, scaled to [0, 1], VECTOR_WIDTH times: a model
    that takes the job's batches as the loaded model does, gives each image a vector of its own,
    and costs the cores next to nothing (0.4 us per image here). The mean of every pixel cost
    120 us of NumPy per image, 3% of a core's decode, work that on an accelerator worker the
    accelerator does; with it the command's steady rate here was 0.97 and its marginal rate 0.90
    of this model's (medians of 8 repeats, alternating)."""

    def __call__(self, images: np.ndarray) -> np.ndarray:
        grid = images[:, ::GRID_STEP, ::GRID_STEP, :]
        means = grid.mean(axis=(1, 2, 3), dtype=np.float32) / 255
        return np.repeat(means[:, None], VECTOR_WIDTH, axis=1)


class ZeroCostEmbedder(HubImageEmbedder):
    """The job's handler (its batching, stacking and sharing) with GridMeanModel as its model."""

    def load_model(self) -> GridMeanModel:
        return GridMeanModel()


def command(decoding: bool = True) -> None:
    """The command, run as `python -c 'import feed_on_cores; feed_on_cores.command()' ARGS`, so
    that its worker processes import ZeroCostEmbedder from this module. Without `decoding`,
    every image read is taken for the same ready image, already decoded (the no-decode layout).
    """
    from pipeline import build, checks, run

    checks.model_image_size = lambda handle, override: override
    build.HubImageEmbedder = ZeroCostEmbedder
    if not decoding:
        skip_decoding()
    sys.exit(run.main(sys.argv[1:]))


def skip_decoding() -> None:
    """Makes DecodeImages, in this process, take every file for one photo decoded beforehand: the
    job's steps run as they do, each image as big as a decoded one, and cost what they cost."""
    from transforms import decode

    with open(sample_photos()[0], "rb") as handle:
        ready = decode.decode_image(handle.read(), IMAGE_SIZE)
    ready.flags.writeable = False  # shared by every image; nothing downstream writes pixels
    decode.decode_image = lambda data, *args, **kwargs: ready


def decode_only() -> None:
    """The job's read and decode steps alone, over the JPEGs of sys.argv[1], in the command's
    local default layout; run as `python -c 'import feed_on_cores; feed_on_cores.decode_only()'
    FOLDER`. Exits 1 unless every file was decoded."""
    import apache_beam as beam
    from apache_beam.options.pipeline_options import PipelineOptions

    from pipeline import direct_runner, run, summary
    from transforms.counters import count
    from transforms.decode import DecodeImages
    from transforms.read import ReadImages
    from transforms.records import FAILURES

    direct_runner.stop_timed_flushes()
    pattern = os.path.join(sys.argv[1], "*.jpg")
    options = PipelineOptions(run.local_defaults([]))
    with beam.Pipeline(options=options) as pipeline:
        files = pipeline | "ReadImages" >> ReadImages([pattern])
        # At the lowest CPU priority, as the command decodes without --accelerator.
        images = files["files"] | "DecodeImages" >> DecodeImages(IMAGE_SIZE, yield_cores=True)
        _ = images["images"] | "Drop" >> beam.Map(lambda image: count("decoded"))
        _ = (files[FAILURES], images[FAILURES]) | beam.Flatten() | beam.Map(print)
    decoded = summary.counters(pipeline.result).get("decoded", 0)
    sys.exit(0 if decoded == len(glob.glob(pattern)) else 1)


def decode_only_rate(folders: list[str], counts: tuple[int, int], tree: str = ROOT) -> Rates:
    """decode_only()'s marginal img/s between the small and the large folder, each run in a
    process of its own as the command is, with the code of the checkout `tree`; it writes no
    index, so no steady rate."""
    walls = []
    for folder in folders:
        command = [sys.executable, "-c", "import feed_on_cores; feed_on_cores.decode_only()"]
        start = time.perf_counter()
        done = subprocess.run(
            [*command, folder], cwd=tree, env=tree_environment(tree), capture_output=True, text=True
        )
        walls.append(time.perf_counter() - start)
        if done.returncode:
            raise RuntimeError(f"decode-only over {folder} failed:\n{done.stdout[-3000:]}")
    marginal = (counts[1] - counts[0]) / (walls[1] - walls[0])
    return Rates(marginal, math.nan, math.nan, (walls[0], walls[1]))


def layout_capacity(layout: str, one_core: float) -> float:
    """img/s that the cores `layout` can decode on: one thread decodes on one core at most."""
    return one_core if layout == ONE_THREAD else CORES * one_core


def emit_to(name: str, **fields) -> None:
    """`fields` as a JSON line on stdout, also appended to $OUT/`name` where OUT is set."""
    line = json.dumps(fields)
    print(line, flush=True)
    if os.environ.get("OUT"):
        os.makedirs(os.environ["OUT"], exist_ok=True)
        with open(os.path.join(os.environ["OUT"], name), "a") as handle:
            handle.write(line + "\n")


emit = functools.partial(emit_to, "feed.jsonl")


def sample_photos() -> list[str]:
    """The sample JPEGs that are photos."""
    sources = sorted(glob.glob(os.path.join(ROOT, "samples", "images", "*.jpg")))
    return [path for path in sources if os.path.getsize(path) > 1000]  # not notes.jpg


def _make(task: tuple[int, int, int, str]) -> str:
    from PIL import Image

    index, width, height, folder = task
    sources = sample_photos()
    with Image.open(sources[index % len(sources)]) as photo:
        image = photo.convert("RGB").resize((width + index % 7, height + index % 5))
    path = os.path.join(folder, f"photo-{index:06d}.jpg")
    image.save(path, quality=90)
    return path


def linked_copies(folder: str, copies: int) -> str:
    """A folder beside `folder` holding each of its JPEGs `copies` times, as hard links."""
    linked = f"{folder}-x{copies}"
    os.makedirs(linked)
    for name in os.listdir(folder):
        for copy in range(copies):
            os.link(os.path.join(folder, name), os.path.join(linked, f"{copy}-{name}"))
    return linked


def make_photos(folder: str, count: int, width: int, height: int) -> list[str]:
    """`count` JPEGs of about width x height in `folder`, made from the samples on every core
    (throughput.make_jpegs needs scikit-image, which accelerator machines may lack)."""
    os.makedirs(folder)
    with multiprocessing.get_context("fork").Pool(CORES) as pool:
        return pool.map(_make, [(i, width, height, folder) for i in range(count)])


def decode_capacity(sizes: list[str], repeats: int) -> None:
    """What the cores decode, by photo size, with nothing of the job's around the decoding."""
    for size in sizes:
        width, height = (int(side) for side in size.split("x"))
        work = tempfile.mkdtemp(prefix="capacity-")
        paths = make_photos(os.path.join(work, "photos"), CORES * CAPACITY_PER_CORE, width, height)
        rates = {"one_core": [], "every_core": [], "every_thread": []}
        for _ in range(repeats):
            rates["one_core"].append(decode_per_core(paths[:CAPACITY_ONE_CORE]))
            rates["every_core"].append(decode_every_core(paths))
            rates["every_thread"].append(decode_every_thread(paths))
        emit(
            stage="capacity",
            size=size,
            cores=CORES,
            photos=len(paths),
            **{name: [round(rate, 1) for rate in values] for name, values in rates.items()},
        )
        shutil.rmtree(work)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--small", type=int, default=4000)
    parser.add_argument("--large", type=int, default=16000)
    parser.add_argument("--size", default="640x480")
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument(
        "--layouts", default=",".join(layout for layout in LAYOUTS if layout not in OPTIONAL)
    )
    parser.add_argument("--capacity", metavar="SIZES", help="e.g. 640x480,4032x3024")
    parser.add_argument("--tree", action="append", default=None, help="default: this checkout")
    args = parser.parse_args()
    if args.capacity:
        decode_capacity(args.capacity.split(","), args.repeats)
        return
    layouts = args.layouts.split(",")
    width, height = (int(side) for side in args.size.split("x"))
    work = tempfile.mkdtemp(prefix="feed-")
    model = os.path.join(work, "model")  # named in the outputs; never read
    os.makedirs(model)
    if TENSORFLOW in layouts:
        saved_model = zero_cost_model(os.path.join(ROOT, ".cache", "models", "zero-cost"))
    make = functools.partial(make_photos, width=width, height=height)
    *folders, paths = jpeg_folders(work, args.small, args.large, make)
    if NO_DECODE in layouts:
        many = [linked_copies(folder, NO_DECODE_COPIES) for folder in folders]
    emit(stage="photos", small=args.small, large=args.large, size=args.size, cores=CORES)
    one_core, every_core, every_thread = [], [], []
    trees = [os.path.abspath(tree) for tree in args.tree or [ROOT]]
    # Each layout once per checkout, named LAYOUT@CHECKOUT where there are several.
    runs = [(layout, tree) for layout in layouts for tree in trees]
    name = {run: run[0] if len(trees) == 1 else f"{run[0]}@{run[1]}" for run in runs}
    rates: dict[str, list[Rates]] = {name[run]: [] for run in runs}
    # Each run's rate against one core's decode measured just before it and just after it.
    paired: dict[str, dict[str, list[float]]] = {
        name[run]: {"marginal": [], "steady": []} for run in runs
    }
    one_core_paths = paths[: max(200, CORES * 50)]
    for repeat in range(args.repeats):
        one_core.append(decode_per_core(one_core_paths))
        every_core.append(decode_every_core(paths[: CORES * 500]))
        every_thread.append(decode_every_thread(paths[: CORES * 500]))
        emit(
            stage="decode",
            repeat=repeat,
            one_core=round(one_core[-1], 1),
            every_core=round(every_core[-1], 1),
            every_thread=round(every_thread[-1], 1),
        )
        before = one_core[-1]
        for layout, tree in runs:
            counts = (args.small, args.large)
            if layout == DECODE_ONLY:
                rate = decode_only_rate(folders, counts, tree)
            elif layout == TENSORFLOW:
                rate = marginal_rate(*folders, counts, saved_model, ["--quiet"], tree=tree)
            elif layout == NO_DECODE:
                counts = (args.small * NO_DECODE_COPIES, args.large * NO_DECODE_COPIES)
                flags = ["--image_size", str(IMAGE_SIZE), "--quiet"]
                rate = marginal_rate(*many, counts, model, flags, NO_DECODE_ENTRY, tree)
            else:
                flags = ["--image_size", str(IMAGE_SIZE), "--quiet", *LAYOUTS[layout]]
                rate = marginal_rate(*folders, counts, model, flags, ENTRY, tree)
            rates[name[layout, tree]].append(rate)
            after = decode_per_core(one_core_paths)
            around = (before + after) / 2
            before = after
            if layout != NO_DECODE:
                for kind in ("marginal", "steady"):
                    value = getattr(rate, kind)
                    if not math.isnan(value):
                        paired[name[layout, tree]][kind].append(
                            value / layout_capacity(layout, around)
                        )
            emit(
                stage="feed",
                repeat=repeat,
                layout=name[layout, tree],
                wall_small=round(rate.walls[0], 2),
                wall_large=round(rate.walls[1], 2),
                marginal=round(rate.marginal, 1),
                steady=None if math.isnan(rate.steady) else round(rate.steady, 1),
                cpu_us=None if math.isnan(rate.cpu_us) else round(rate.cpu_us, 1),
                switches=None if math.isnan(rate.switches) else round(rate.switches, 2),
                one_core_around=round(around, 1),
            )
    capacity = CORES * statistics.median(one_core)
    together = statistics.median(every_core)
    threads = statistics.median(every_thread)
    summary = {
        "cores_x_one_core": round(capacity, 1),
        "every_core": round(together, 1),
        "every_thread": round(threads, 1),
        "every_thread_ratio": round(threads / capacity, 3),
    }
    for (layout, _), label in name.items():
        values = rates[label]
        if layout != DECODE_ONLY:
            # What each image cost the command's process, marginal: CPU and thread switches.
            summary[f"{label}_cpu_us"] = round(statistics.median(v.cpu_us for v in values), 1)
            summary[f"{label}_switches"] = round(statistics.median(v.switches for v in values), 2)
        for kind in ("marginal", "steady"):
            if layout == DECODE_ONLY and kind == "steady":
                continue
            median = statistics.median(getattr(value, kind) for value in values)
            summary[f"{label}_{kind}"] = round(median, 1)
            if layout == NO_DECODE:
                # The job's own work per image, in microseconds of the layout's wall time.
                summary[f"{label}_{kind}_us"] = round(1e6 / median, 1)
                summary[f"{label}_{kind}_ceiling"] = round(1 / (1 + capacity / median), 3)
                continue
            cores = layout_capacity(layout, statistics.median(one_core))
            summary[f"{label}_{kind}_ratio"] = round(median / cores, 3)
            if paired[label][kind]:
                summary[f"{label}_{kind}_ratio_paired"] = round(
                    statistics.median(paired[label][kind]), 3
                )
            if layout != ONE_THREAD:
                summary[f"{label}_{kind}_ratio_every_core"] = round(median / together, 3)
    emit(stage="medians", repeats=args.repeats, **summary)
    shutil.rmtree(work)


if __name__ == "__main__":
    main()
