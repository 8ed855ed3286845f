"""Throughput and memory of the job on this machine, in one run, as ratios to the model alone.

    python benchmarks/throughput.py [--model DIR] [--small 24] [--large 72] [--repeats 3] [--rss]
    python benchmarks/throughput.py --feed [--small 400] [--large 1600] [--formats tfrecord ...]

Measures, with the command's defaults unless flags say otherwise:
  (a) model alone: img/s of the handler's own loaded model at the pipeline's batch size, over
      as many images as (b)'s marginal, in a fresh process as the command runs in;
  (b) end to end: the command line over N photo-sized JPEGs (640x480, made from real photos),
      marginal img/s = (large - small) / (t_large - t_small), so start-up and model loading
      cancel out; and (b') its steady rate within the large run: the slope of the images'
      `embedded_at` stamps (its index) against their rank, between the 10th and 90th
      percentile, so start-up is not in it either; and (b'') the model's share of (b): the
      seconds the model computed (summary.json's `model_seconds`) between the two runs over
      the difference of their wall times, 1 where the job never lets its model wait;
  (a) and (b) alternate, --repeats times each; the medians and their ratios are reported;
  (c) decode and preprocess: img/s on one core;
  (d) with --rss: peak resident memory (sum over the process tree) of runs with 1 and 2
      workers, as threads and as processes, and as processes sharing one model.
With --feed, the model is one that costs nothing (each image's mean, 1792 times), built here:
the command's marginal and steady rates ((b) and (b')) in its default local mode and with a
worker process per core, against what the cores can decode (cores x (c), and every core
decoding at once, a process each, which is less where cores share physical cores), each measured
--repeats times, alternating;
with --formats, the default layout writing each --output_format instead of the two layouts.
Without --model it exports untrained EfficientNet-B4 to .cache/models/b4-untrained once.
"""

from __future__ import annotations

import argparse
import contextlib
import glob
import gzip
import json
import math
import multiprocessing
import os
import platform
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Sequence
from typing import NamedTuple

import numpy as np
from PIL import Image

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)  # the project, where it is not installed

from transforms.threads import usable_cores  # noqa: E402

ENTRY = ("-m", "pipeline.run")  # how the interpreter starts the command
DEFAULT_MODEL = os.path.join(ROOT, ".cache", "models", "b4-untrained")


def jpeg_folders(
    work: str, small: int, large: int, make: Callable[[str, int], list[str]] | None = None
) -> tuple[str, str, list[str]]:
    """(small folder, large folder, the large folder's JPEGs) under `work`: the small one holds
    the first `small` of the large one's files (hard links), so a marginal rate compares like
    with like. `make(folder, count)` writes the JPEGs; default: make_jpegs."""
    paths = (make or make_jpegs)(os.path.join(work, "large"), large)
    small_folder = os.path.join(work, "small")
    os.makedirs(small_folder)
    for path in paths[:small]:
        os.link(path, os.path.join(small_folder, os.path.basename(path)))
    return small_folder, os.path.join(work, "large"), paths


def ensure_model(path: str) -> str:
    if not os.path.isdir(path):
        subprocess.run(
            [sys.executable, "-m", "pipeline.export_model", "--out", path, "--weights", "none"],
            check=True,
            cwd=ROOT,
        )
    return path


def make_jpegs(folder: str, count: int) -> list[str]:
    """Photo-sized JPEGs, each a different crop or flip of a real photo."""
    from skimage import data
    from sklearn.datasets import load_sample_images

    photos = [
        *load_sample_images().images,
        data.coffee(),
        data.chelsea(),
        data.astronaut(),
        data.rocket(),
    ]
    os.makedirs(folder, exist_ok=True)
    paths = []
    for index in range(count):
        image = Image.fromarray(photos[index % len(photos)])
        shift = (index // len(photos)) % 5 * 8
        image = image.crop((shift, 0, image.width - shift, image.height)).resize((640, 480))
        if index // len(photos) % 2:
            image = image.transpose(Image.Transpose.FLIP_LEFT_RIGHT)
        path = os.path.join(folder, f"photo-{index:05d}.jpg")
        image.save(path, quality=90)
        paths.append(path)
    return paths


def model_alone(model: str, batch_size: int, images: int, precision: str | None) -> float:
    """img/s of the handler's own model over `images` images, in batches of the pipeline's size,
    in a process of its own, started as the command's is: the two sides differ only in what
    they run."""
    command = [
        sys.executable,
        os.path.abspath(__file__),
        "--alone",
        "--model",
        model,
        "--batch_size",
        str(batch_size),
        "--large",
        str(images),
        *(["--precision", precision] if precision else []),
    ]
    done = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, check=True)
    return float(done.stdout.split()[-1])


def measure_alone(model: str, batch_size: int, images: int, precision: str | None) -> float:
    from transforms.accelerate import Precision
    from transforms.model import LoadedEmbedder

    embedder = LoadedEmbedder(model, Precision(precision or "float32"), processes_per_machine=1)
    batch = np.random.default_rng(0).integers(0, 256, (batch_size, 380, 380, 3), np.uint8)
    for _ in range(2):
        embedder(batch)
    batches = max(images // batch_size, 3)
    start = time.perf_counter()
    for _ in range(batches):
        embedder(batch)
    return batches * batch_size / (time.perf_counter() - start)


def read_all(paths: list[str]) -> list[bytes]:
    """The bytes of every file, read before any decoding is timed."""
    blobs = []
    for path in paths:
        with open(path, "rb") as handle:
            blobs.append(handle.read())
    return blobs


def decode_per_core(paths: list[str]) -> float:
    """img/s of `decode_image` on one core, in a worker thread, where the job's workers decode
    (what a thread's memory costs can differ from the main thread's: benchmarks/decode.py
    --faults)."""
    from transforms.decode import decode_image

    blobs = read_all(paths)
    seconds: list[float] = []

    def decode_all() -> None:
        decode_image(blobs[0], 380)
        start = time.perf_counter()
        for blob in blobs:
            decode_image(blob, 380)
        seconds.append(time.perf_counter() - start)

    worker = threading.Thread(target=decode_all)
    worker.start()
    worker.join()
    return len(blobs) / seconds[0]


def decode_every_core(paths: list[str]) -> float:
    """img/s of `decode_image` on every core at once, a process each decoding its share, from
    bytes already read, as `decode_per_core`: what the machine can decode. Where cores share
    physical cores (a VM's vCPUs), it is less than cores x one core's rate."""
    cores = usable_cores()
    context = multiprocessing.get_context("spawn")  # the parent may have loaded TensorFlow
    ready, ends = context.Barrier(cores + 1), context.Queue()
    workers = [
        context.Process(target=_decode_share, args=(paths[i::cores], ready, ends))
        for i in range(cores)
    ]
    for worker in workers:
        worker.start()
    with contextlib.suppress(threading.BrokenBarrierError):  # a worker failed: see `ends`
        ready.wait()
    start = time.perf_counter()  # CLOCK_MONOTONIC: the same clock in every process
    ends_or_errors = [ends.get(timeout=900) for _ in workers]  # raises if one was killed
    for worker in workers:
        worker.join()
    errors = [result for result in ends_or_errors if isinstance(result, str)]
    errors.sort(key=lambda error: error.startswith("BrokenBarrierError"))  # the cause first
    if errors:
        raise RuntimeError(f"decoding failed in {len(errors)} processes: {errors[0]}")
    return len(paths) / (max(ends_or_errors) - start)


def decode_every_thread(paths: list[str]) -> float:
    """img/s of `decode_image` in this process with a thread per core, each decoding its share
    from bytes already read: beside `decode_every_core`, what the GIL between decoding threads
    costs, with none of Beam's work around them."""
    from transforms.decode import decode_image

    cores = usable_cores()
    shares = [read_all(paths[i::cores]) for i in range(cores)]
    decode_image(shares[0][0], 380)  # first-call costs, before the clock starts
    ready, ends = threading.Barrier(cores + 1), []

    def decode_share(blobs: list[bytes]) -> None:
        ready.wait()
        for blob in blobs:
            decode_image(blob, 380)
        ends.append(time.perf_counter())

    workers = [threading.Thread(target=decode_share, args=(share,)) for share in shares]
    for worker in workers:
        worker.start()
    ready.wait()
    start = time.perf_counter()
    for worker in workers:
        worker.join()
    if len(ends) < cores:
        raise RuntimeError(f"decoding failed in {cores - len(ends)} threads (see above)")
    return len(paths) / (max(ends) - start)


def _decode_share(paths: list[str], ready, ends) -> None:
    """Decodes `paths` once every process is ready; puts its end time in `ends`, or its error
    (and breaks the barrier, so that no one waits for it)."""
    try:
        sys.path.insert(0, ROOT)
        from transforms.decode import decode_image

        blobs = read_all(paths)
        decode_image(blobs[0], 380)  # imports and first-call costs, before the clock starts
        ready.wait()
        for blob in blobs:
            decode_image(blob, 380)
        ends.put(time.perf_counter())
    except Exception as exc:  # noqa: BLE001 - reported by the parent, whatever it is
        ready.abort()
        ends.put(f"{type(exc).__name__}: {exc}")


class PeakRss:
    """Samples the summed RSS of a process and all its descendants."""

    def __init__(self, pid: int):
        import psutil

        self._root = psutil.Process(pid)
        self.peak = 0
        self._done = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self):
        import psutil

        while not self._done.is_set():
            try:
                tree = [self._root, *self._root.children(recursive=True)]
                total = 0
                for process in tree:
                    with contextlib.suppress(psutil.Error):  # a worker that just exited
                        total += process.memory_info().rss
                self.peak = max(self.peak, total)
            except psutil.Error:
                return
            time.sleep(0.1)

    def stop(self) -> int:
        self._done.set()
        self._thread.join()
        return self.peak


def run_job(
    folder: str,
    model: str,
    extra: list[str],
    rss: bool = False,
    output: str | None = None,
    entry: Sequence[str] = ENTRY,
    tree: str = ROOT,
) -> dict:
    """The command over `folder`'s JPEGs in a process of its own, into `output` (default: a new
    temporary folder), with the code of the checkout `tree`: wall seconds, CPU seconds and
    context switches of the process and the children it waited for, peak RSS of its process
    tree (with rss) and summary.json."""
    output = output or tempfile.mkdtemp(prefix="bench-out-")
    command = command_line(folder, output, model, *extra, entry=entry)
    usage = children_usage()
    start = time.perf_counter()
    process = subprocess.Popen(
        command,
        cwd=tree,
        env=tree_environment(tree),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    sampler = PeakRss(process.pid) if rss else None
    _, err = process.communicate()
    wall = time.perf_counter() - start
    cpu, switches = (after - before for after, before in zip(children_usage(), usage, strict=True))
    peak = sampler.stop() if sampler else 0
    if process.returncode:
        raise RuntimeError(f"{' '.join(command)} failed:\n{err.decode()[-3000:]}")
    with open(os.path.join(output, "summary.json")) as handle:
        summary = json.load(handle)
    return {"wall": wall, "cpu": cpu, "switches": switches, "peak_rss": peak, "summary": summary}


def children_usage() -> tuple[float, int]:
    """CPU seconds (user and system) and context switches (voluntary or not) of every thread of
    this process's children that have ended and been waited for, and of theirs, so far. CPU
    time moves less than wall time on a shared machine; a switch is where a thread gave up its
    core, as waiting for the GIL makes it."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime, usage.ru_nvcsw + usage.ru_nivcsw


def tree_environment(tree: str) -> dict[str, str]:
    """This environment, with the checkout `tree` and its benchmarks first on PYTHONPATH: the
    command and the modules its entry imports (feed_on_cores) come from that checkout, and so do
    those its worker processes import (feed_on_cores' ZeroCostEmbedder), since they inherit it."""
    paths = [tree, os.path.join(tree, "benchmarks"), *filter(None, [os.environ.get("PYTHONPATH")])]
    return dict(os.environ, PYTHONPATH=os.pathsep.join(paths))


def checkouts_parser(description: str) -> argparse.ArgumentParser:
    """Flags of a measurement of the command over two run sizes, for one or more checkouts of
    this project, measured alternately (gil.py, cpu.py)."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--small", type=int, default=400)
    parser.add_argument("--large", type=int, default=1600)
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--tree", action="append", default=None, help="default: this checkout")
    return parser


def command_line(
    folder: str, output: str, model: str, *flags: str, entry: Sequence[str] = ENTRY
) -> list[str]:
    """The command over `folder`'s JPEGs into `output` with `model`, and any other `flags`;
    `entry`: the interpreter's arguments that start it."""
    return [
        *(sys.executable, *entry, "--input", f"{folder}/*.jpg"),
        *("--output", output, "--model_handle", model, *flags),
    ]


def zero_cost_model(path: str) -> str:
    """A SavedModel whose vector is each image's mean, 1792 times: it costs nothing."""
    if not os.path.isdir(path):
        import tensorflow as tf

        class ZeroCost(tf.Module):
            @tf.function(input_signature=[tf.TensorSpec([None, 380, 380, 3], tf.float32)])
            def __call__(self, images):
                return tf.tile(tf.reduce_mean(images, axis=[1, 2, 3])[:, None], [1, 1792])

        module = ZeroCost()
        tf.saved_model.save(
            module, path, signatures={"serving_default": module.__call__.get_concrete_function()}
        )
    return path


class Rates(NamedTuple):
    marginal: float  # img/s between a small and a large run
    steady: float  # img/s within the large run, from its own time stamps
    model_share: float  # the model's seconds between the two runs over their wall seconds, or nan
    walls: tuple[float, float]  # wall seconds of the small and the large run
    cpu_us: float = math.nan  # CPU microseconds per image between the two runs (run_job's cpu)
    switches: float = math.nan  # context switches per image between the two runs


class Steady(NamedTuple):
    start: float  # seconds since the epoch: the stamp at the `trim` quantile
    end: float  # the stamp at the `1 - trim` quantile
    rate: float  # img/s between them


def steady(output: str, trim: float = 0.1) -> Steady:
    """The window of a finished run between the `trim` and `1 - trim` quantiles of the
    `embedded_at` stamps its index holds, and its img/s: one run, with neither its start-up nor
    its last stragglers in it. The rate is the slope of a least-squares line through (stamp,
    rank), since a batch's images are stamped together: counting from stamp to stamp would miss
    part of a batch at either end."""
    from transforms.index import index_pattern

    stamps = []
    for path in glob.glob(index_pattern(output)):
        with gzip.open(path, "rt") as handle:
            stamps += [json.loads(line)["embedded_at"] / 1e6 for line in handle]
    stamps.sort()
    first, last = int(len(stamps) * trim), int(len(stamps) * (1 - trim))
    seconds = np.array(stamps[first:last]) - stamps[first]
    rate = float(np.polyfit(seconds, np.arange(first, last), 1)[0])
    return Steady(stamps[first], stamps[last - 1], rate)


def marginal_rate(
    small: str,
    large: str,
    counts: tuple[int, int],
    model: str,
    extra,
    entry: Sequence[str] = ENTRY,
    tree: str = ROOT,
) -> Rates:
    """The command's marginal img/s between a small and a large run, run in that order, and the
    steady rate within the large one, with the code of the checkout `tree`."""
    outputs = [tempfile.mkdtemp(prefix="bench-out-") for _ in (small, large)]
    runs = [
        run_job(folder, model, extra, output=output, entry=entry, tree=tree)
        for folder, output in zip((small, large), outputs, strict=True)
    ]
    for run, count in zip(runs, counts, strict=True):
        assert run["summary"]["embedded"] == count, run["summary"]
    within = steady(outputs[1]).rate
    for output in outputs:
        shutil.rmtree(output)
    wall = runs[1]["wall"] - runs[0]["wall"]
    seconds = [run["summary"]["model_seconds"] for run in runs]
    # None where the model ran outside the workers (--model_sharing machine): not counted.
    share = math.nan if None in seconds else (seconds[1] - seconds[0]) / wall
    walls = (runs[0]["wall"], runs[1]["wall"])
    images = counts[1] - counts[0]
    cpu_us = (runs[1]["cpu"] - runs[0]["cpu"]) / images * 1e6
    switches = (runs[1]["switches"] - runs[0]["switches"]) / images
    return Rates(images / wall, within, share, walls, cpu_us, switches)


def feed(args, folders: tuple[str, str], paths: list[str], extra: list[str]) -> None:
    """(e) the command with a model that costs nothing, against what the cores can decode."""
    model = zero_cost_model(os.path.join(ROOT, ".cache", "models", "zero-cost"))
    cores = usable_cores()
    layouts = {
        "default (a thread per core)": [],
        f"{cores} worker processes": [
            "--direct_running_mode=multi_processing",
            f"--direct_num_workers={cores}",
        ],
    }
    if args.formats:  # the default layout, writing each output format in turn
        layouts = {f"--output_format {name}": ["--output_format", name] for name in args.formats}
    capacity, together = [], []
    rates: dict[str, list[Rates]] = {label: [] for label in layouts}
    for _ in range(args.repeats):
        capacity.append(cores * decode_per_core(paths))
        together.append(decode_every_core(paths))
        for label, flags in layouts.items():
            rates[label].append(
                marginal_rate(*folders, (args.small, args.large), model, [*extra, *flags])
            )
    decodable, every_core = statistics.median(capacity), statistics.median(together)
    print(
        f"(e) zero-cost model, marginal over {args.large - args.small} JPEGs, medians of "
        f"{args.repeats}:"
    )
    print(
        f"    cores x one core's decode   {decodable:8.1f} img/s   "
        f"({', '.join(f'{c:.0f}' for c in capacity)})"
    )
    print(
        f"    every core decoding at once {every_core:8.1f} img/s   "
        f"({', '.join(f'{c:.0f}' for c in together)})"
    )
    for label, values in rates.items():
        for kind in ("marginal", "steady"):
            series = [getattr(value, kind) for value in values]
            median = statistics.median(series)
            print(
                f"    {label + ', ' + kind:<36}{median:8.1f} img/s   ratio to the cores' decode "
                f"{median / decodable:.3f}, to every core's {median / every_core:.3f}   "
                f"({', '.join(f'{v:.0f}' for v in series)})"
            )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", default=None, help="SavedModel folder (default: untrained B4)")
    parser.add_argument("--small", type=int, default=None, help="default: 24, or 400 with --feed")
    parser.add_argument("--large", type=int, default=None, help="default: 72, or 1600 with --feed")
    parser.add_argument("--batch_size", type=int, default=None, help="default: the command's")
    parser.add_argument("--precision", default=None, help="also pass --precision to both")
    parser.add_argument("--job_args", default="", help="extra flags for the command, quoted")
    parser.add_argument("--repeats", type=int, default=3, help="measurements of each side")
    parser.add_argument("--rss", action="store_true", help="also measure peak memory")
    parser.add_argument("--feed", action="store_true", help="(e) only: a model that costs nothing")
    parser.add_argument(
        "--formats",
        nargs="+",
        choices=("tfrecord", "parquet", "both"),
        help="with --feed: compare these --output_format values instead of worker layouts",
    )
    parser.add_argument("--alone", action="store_true", help=argparse.SUPPRESS)  # one (a)
    args = parser.parse_args()
    if args.alone:
        print(measure_alone(args.model, args.batch_size, args.large, args.precision))
        return
    args.small = args.small or (400 if args.feed else 24)
    args.large = args.large or (1600 if args.feed else 72)

    from transforms.model import DEFAULT_BATCH_SIZE

    batch_size = args.batch_size or DEFAULT_BATCH_SIZE
    extra = args.job_args.split()
    if args.batch_size:
        extra += ["--batch_size", str(args.batch_size)]
    if args.precision:
        extra += ["--precision", args.precision]
    work = tempfile.mkdtemp(prefix="bench-")
    small, large, large_paths = jpeg_folders(work, args.small, args.large)
    folders = (small, large)
    print(f"machine: {platform.processor() or platform.machine()}, {usable_cores()} cores")
    if args.feed:
        feed(args, folders, large_paths, extra)
        return

    model = ensure_model(args.model or DEFAULT_MODEL)
    print(f"model: {model}; batch {batch_size}; precision {args.precision or 'default'}")
    marginal_images = args.large - args.small
    alone32 = model_alone(model, batch_size, marginal_images, None)
    # The model alone and the command alternate, the same number of times; each side's median
    # counts, so that neither is one lucky or unlucky measurement of a shared machine.
    alone, marginals, steadies, shares = [], [], [], []
    for _ in range(args.repeats):
        alone.append(model_alone(model, batch_size, marginal_images, args.precision))
        rates = marginal_rate(*folders, (args.small, args.large), model, extra)
        marginals.append(rates.marginal)
        steadies.append(rates.steady)
        shares.append(rates.model_share)
    decode = decode_per_core(large_paths)
    alone_median, marginal_median = statistics.median(alone), statistics.median(marginals)
    steady_median = statistics.median(steadies)
    print(f"(a) model alone, float32       {alone32:8.2f} img/s (once, before the repeats)")
    print(
        f"    model alone, {args.precision or 'float32':<16} {alone_median:8.2f} img/s   "
        f"median of {', '.join(f'{v:.2f}' for v in alone)}"
    )
    print(
        f"(b) end to end, marginal       {marginal_median:8.2f} img/s   "
        f"median of {', '.join(f'{v:.2f}' for v in marginals)}"
    )
    print(f"    (b) / (a), medians          {marginal_median / alone_median:8.3f}")
    print(
        f"(b') end to end, steady        {steady_median:8.2f} img/s   "
        f"median of {', '.join(f'{v:.2f}' for v in steadies)}"
    )
    print(f"    (b') / (a), medians         {steady_median / alone_median:8.3f}")
    print(
        f"(b'') the model's share of (b)   {statistics.median(shares):8.3f}     "
        f"median of {', '.join(f'{v:.3f}' for v in shares)}"
    )
    print(f"(c) decode + preprocess        {decode:8.1f} img/s on one core")
    if args.rss:
        print(f"(d) peak RSS over the process tree, {args.small} images:")
        peaks: dict[str, int] = {}
        for label, flags in (
            ("1 thread", ["--direct_running_mode=multi_threading", "--direct_num_workers=1"]),
            ("2 threads", ["--direct_running_mode=multi_threading", "--direct_num_workers=2"]),
            ("1 process", ["--direct_running_mode=multi_processing", "--direct_num_workers=1"]),
            ("2 processes", ["--direct_running_mode=multi_processing", "--direct_num_workers=2"]),
            (
                "2 processes, shared model",
                [
                    "--direct_running_mode=multi_processing",
                    "--direct_num_workers=2",
                    "--model_sharing=machine",
                ],
            ),
        ):
            peaks[label] = run_job(small, model, [*extra, *flags], rss=True)["peak_rss"]
            base = "1 thread" if "thread" in label else "1 process"
            print(
                f"    {label:<28}{peaks[label] / 2**30:6.2f} GiB   "
                f"ratio to {base} {peaks[label] / peaks[base]:.2f}"
            )


if __name__ == "__main__":
    main()
