"""Where each worker thread of the command spends its time per image: decoding, the job's own
work, and waiting.

    python benchmarks/worker_time.py [--images 1600] [--size 640x480] [--repeats 3]
        [--layouts default,one-thread,bare:0,bare:300] [--tree DIR ...]

The command runs whole, as feed_on_cores.py runs it (listing, reading, decoding, RunInference
with the job's handler and the zero-cost NumPy model, the writers), over JPEGs made from the
samples, with `decode_image` stamped at every call with the wall clock and the calling thread's
CPU clock. For each worker thread, over the middle 80% of its calls (start-up and the last
stragglers left out), per image:
  wall        the wall time from one call's start to the next
  decode_cpu  the thread's CPU inside decode_image
  other_cpu   the thread's CPU outside it: reading, Beam's per-element steps, batching, the
              model, the writers
  waiting     wall time in which the thread did not run, and of it `in_decode`, the part inside
              decode_image: Pillow hands back the GIL around its C calls and must take it again
              after each, while another thread may hold it
  core_wait   of `waiting`, the time the thread was ready to run but had no core (the kernel's
              run-queue wait, /proc/thread-self/schedstat; NaN where there is none), and
              `core_wait_in_decode` the same inside decode_image. The rest of `waiting` is the
              thread asleep: waiting for the GIL (the job's local files are read from memory)
`decoding` is decode_cpu / wall, the share of a worker thread's time that decodes: against one
core's decode rate, the layout feeds about that share of it (less where cores slow each other).
Only layouts whose worker threads live in the command's own process can be stamped: `default`
(a worker thread per core) and `one-thread`. Beside them, `bare:US` has no Beam and no job: a
thread per core in this process, each decoding its share from bytes read beforehand and then
holding the GIL for US microseconds of its own CPU per image, in place of the job's work. Between
`bare:0` and a few hundred microseconds, its `in_decode` shows what each microsecond of GIL-held
work per image costs the other threads in waiting. Layouts alternate, --repeats times; medians
of the threads' means. Each --tree (a checkout of this project; default: this one) runs the
stamped layouts with its own code, in turn, this benchmark included: copy this file into an
older checkout so that both stamp alike. JSON lines on stdout.
"""

from __future__ import annotations

import argparse
import atexit
import json
import math
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(HERE))  # the project, where it is not installed

from feed_on_cores import IMAGE_SIZE, LAYOUTS, ONE_THREAD, command, make_photos  # noqa: E402
from throughput import ROOT, read_all, tree_environment, usable_cores  # noqa: E402

STAMPED = ("default", ONE_THREAD)
BARE = "bare:"
DEFAULT_LAYOUTS = ("default", ONE_THREAD, f"{BARE}0", f"{BARE}300")
ENTRY = ("-c", "import worker_time; worker_time.stamped()")
# Where the stamped command writes its stamps.
STAMPS_FILE = "WORKER_TIME_STAMPS"
# A thread with fewer calls ran a leftover bundle, not the steady state.
MIN_CALLS = 50
FIGURES = (
    "wall",
    "decode_cpu",
    "other_cpu",
    "waiting",
    "in_decode",
    "core_wait",
    "core_wait_in_decode",
)
SCHEDSTAT = "/proc/thread-self/schedstat"
_local = threading.local()


def core_wait() -> float:
    """Seconds this thread has been ready to run without a core; NaN where the kernel does not
    say. The file stays open per thread: it names the thread that opened it."""
    if not hasattr(_local, "schedstat"):
        _local.schedstat = os.open(SCHEDSTAT, os.O_RDONLY) if os.path.exists(SCHEDSTAT) else None
    if _local.schedstat is None:
        return math.nan
    return int(os.pread(_local.schedstat, 128, 0).split()[1]) / 1e9


def stamp(thread: int, wall: float, cpu: float, waited: float) -> tuple[float, ...]:
    """(thread, wall, CPU and core wait at a call's start, then at its end)."""
    return (thread, wall, time.perf_counter(), cpu, time.thread_time(), waited, core_wait())


def stamped() -> None:
    """The command with decode_image stamped; run as `python -c 'import worker_time;
    worker_time.stamped()' ARGS` with STAMPS_FILE in the environment."""
    from transforms import decode

    stamps: list[tuple[float, ...]] = []
    decode_image = decode.decode_image

    def timed(*args, **kwargs):
        wall, cpu, waited = time.perf_counter(), time.thread_time(), core_wait()
        try:
            return decode_image(*args, **kwargs)
        finally:
            # list.append is atomic under the GIL
            stamps.append(stamp(threading.get_ident(), wall, cpu, waited))

    def save() -> None:
        with open(os.environ[STAMPS_FILE], "w") as handle:
            json.dump(stamps, handle)

    decode.decode_image = timed
    atexit.register(save)
    command()


def bare(paths: list[str], held_us: float) -> list[tuple[float, ...]]:
    """Stamps of decode_image with a thread per core in this process, each decoding its share
    from bytes already read, then holding the GIL for `held_us` microseconds of its CPU."""
    from transforms.decode import decode_image

    cores = usable_cores()
    shares = [read_all(paths[i::cores]) for i in range(cores)]
    decode_image(shares[0][0], IMAGE_SIZE)  # first-call costs
    ready = threading.Barrier(cores)
    stamps: list[tuple[float, ...]] = []

    def decode_share(blobs: list[bytes]) -> None:
        ready.wait()
        for blob in blobs:
            wall, cpu, waited = time.perf_counter(), time.thread_time(), core_wait()
            decode_image(blob, IMAGE_SIZE)
            call = stamp(threading.get_ident(), wall, cpu, waited)
            stamps.append(call)
            end = call[4]
            while time.thread_time() < end + held_us / 1e6:  # bytecode: the GIL stays held
                pass

    workers = [threading.Thread(target=decode_share, args=(share,)) for share in shares]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    return stamps


def per_image(calls: list[list[float]]) -> dict[str, float]:
    """One thread's calls, (thread, wall start, wall end, CPU start, CPU end, core wait start,
    core wait end) in order: the microseconds per image of each figure over the middle 80% of
    them. Stamps of older checkouts lack the core waits: NaN."""
    middle = calls[len(calls) // 10 : len(calls) * 9 // 10]
    images = len(middle) - 1  # each call up to the next one's start
    span = middle[-1][1] - middle[0][1]
    cpu = middle[-1][3] - middle[0][3]
    decode_wall = sum(call[2] - call[1] for call in middle[:-1])
    decode_cpu = sum(call[4] - call[3] for call in middle[:-1])
    timed = len(middle[0]) > 5
    figures = {
        "wall": span,
        "decode_cpu": decode_cpu,
        "other_cpu": cpu - decode_cpu,
        "waiting": span - cpu,
        "in_decode": decode_wall - decode_cpu,
        "core_wait": middle[-1][5] - middle[0][5] if timed else math.nan,
        "core_wait_in_decode": (
            sum(call[6] - call[5] for call in middle[:-1]) if timed else math.nan
        ),
    }
    return {name: value / images * 1e6 for name, value in figures.items()}


def thread_means(stamps: list[list[float]]) -> dict[str, float]:
    """The mean over the worker threads that decoded at least MIN_CALLS images."""
    threads: dict[int, list[list[float]]] = {}
    for call in stamps:
        threads.setdefault(int(call[0]), []).append(call)
    figures = [
        per_image(sorted(calls, key=lambda call: call[1]))
        for calls in threads.values()
        if len(calls) >= MIN_CALLS
    ]
    if not figures:
        raise RuntimeError(f"no worker thread decoded {MIN_CALLS} images")
    means = {name: statistics.mean(figure[name] for figure in figures) for name in FIGURES}
    means["decoding"] = means["decode_cpu"] / means["wall"]
    means["threads"] = len(figures)
    return means


def run(layout: str, folder: str, work: str, tree: str = ROOT) -> dict[str, float]:
    """The stamped command in `layout`, with the code of the checkout `tree`."""
    stamps = os.path.join(work, "stamps.json")
    model = os.path.join(work, "model")  # named in the outputs; never read
    os.makedirs(model, exist_ok=True)
    flags = ["--image_size", str(IMAGE_SIZE), "--quiet", "--overwrite", *LAYOUTS[layout]]
    argv = [
        sys.executable,
        *ENTRY,
        *("--input", os.path.join(folder, "*.jpg")),
        *("--output", os.path.join(work, "out"), "--model_handle", model),
        *flags,
    ]
    env = {**tree_environment(tree), STAMPS_FILE: stamps}
    done = subprocess.run(argv, cwd=tree, env=env, capture_output=True, text=True)
    if done.returncode:
        raise RuntimeError(f"{layout} failed:\n{done.stderr[-3000:]}")
    with open(stamps) as handle:
        return thread_means(json.load(handle))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--images", type=int, default=1600)
    parser.add_argument("--size", default="640x480")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--layouts", default=",".join(DEFAULT_LAYOUTS))
    parser.add_argument("--tree", action="append", default=None, help="default: this checkout")
    args = parser.parse_args()
    trees = [os.path.abspath(tree) for tree in args.tree or [ROOT]]
    layouts = args.layouts.split(",")
    for layout in layouts:
        if layout not in STAMPED and not held_us(layout) >= 0:
            parser.error(f"layouts are {', '.join(STAMPED)} or {BARE}US, not {layout}")
    width, height = (int(side) for side in args.size.split("x"))
    work = tempfile.mkdtemp(prefix="worker-time-")
    try:
        folder = os.path.join(work, "photos")
        paths = make_photos(folder, args.images, width, height)
        # (layout, tree): a stamped layout once per checkout; a bare one has no checkout.
        runs = [
            (layout, tree if layout in STAMPED else "")
            for layout in layouts
            for tree in (trees if layout in STAMPED else [""])
        ]
        results: dict[tuple[str, str], list[dict[str, float]]] = {key: [] for key in runs}
        for repeat in range(args.repeats):
            for layout, tree in runs:
                if tree:
                    means = run(layout, folder, work, tree)
                else:
                    means = thread_means(bare(paths, held_us(layout)))
                results[(layout, tree)].append(means)
                emit(repeat=repeat, layout=layout, tree=tree, **rounded(means))
        for (layout, tree), figures in results.items():
            medians = {
                name: statistics.median(means[name] for means in figures) for name in figures[0]
            }
            emit(
                stage="medians", layout=layout, tree=tree, repeats=args.repeats, **rounded(medians)
            )
    finally:
        shutil.rmtree(work)


def held_us(layout: str) -> float:
    """US of `bare:US`; NaN for any other layout."""
    try:
        return float(layout.removeprefix(BARE)) if layout.startswith(BARE) else float("nan")
    except ValueError:
        return float("nan")


def emit(**fields) -> None:
    print(json.dumps(fields), flush=True)


def rounded(figures: dict[str, float]) -> dict[str, float]:
    return {name: round(value, 3 if name == "decoding" else 1) for name, value in figures.items()}


if __name__ == "__main__":
    main()
