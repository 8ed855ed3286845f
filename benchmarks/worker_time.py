"""Where each worker thread of the command spends its time per image: decoding, the job's own
work, and waiting.

    python benchmarks/worker_time.py [--images 1600] [--size 640x480] [--repeats 3]
        [--layouts default,one-thread,bare:0,bare:300]

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
`decoding` is decode_cpu / wall, the share of a worker thread's time that decodes: against one
core's decode rate, the layout feeds about that share of it (less where cores slow each other).
Only layouts whose worker threads live in the command's own process can be stamped: `default`
(a worker thread per core) and `one-thread`. Beside them, `bare:US` has no Beam and no job: a
thread per core in this process, each decoding its share from bytes read beforehand and then
holding the GIL for US microseconds of its own CPU per image, in place of the job's work. Between
`bare:0` and a few hundred microseconds, its `in_decode` shows what each microsecond of GIL-held
work per image costs the other threads in waiting. Layouts alternate, --repeats times; medians
of the threads' means. JSON lines on stdout.
"""

from __future__ import annotations

import argparse
import atexit
import json
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
from throughput import ROOT, read_all  # noqa: E402

STAMPED = ("default", ONE_THREAD)
BARE = "bare:"
DEFAULT_LAYOUTS = ("default", ONE_THREAD, f"{BARE}0", f"{BARE}300")
ENTRY = ("-c", "import worker_time; worker_time.stamped()")
# Where the stamped command writes its stamps.
STAMPS_FILE = "WORKER_TIME_STAMPS"
# A thread with fewer calls ran a leftover bundle, not the steady state.
MIN_CALLS = 50
FIGURES = ("wall", "decode_cpu", "other_cpu", "waiting", "in_decode")


def stamped() -> None:
    """The command with decode_image stamped; run as `python -c 'import worker_time;
    worker_time.stamped()' ARGS` with STAMPS_FILE in the environment."""
    from transforms import decode

    stamps: list[tuple[int, float, float, float, float]] = []
    decode_image = decode.decode_image

    def timed(*args, **kwargs):
        wall, cpu = time.perf_counter(), time.thread_time()
        try:
            return decode_image(*args, **kwargs)
        finally:
            stamp = (threading.get_ident(), wall, time.perf_counter(), cpu, time.thread_time())
            stamps.append(stamp)  # list.append is atomic under the GIL

    def save() -> None:
        with open(os.environ[STAMPS_FILE], "w") as handle:
            json.dump(stamps, handle)

    decode.decode_image = timed
    atexit.register(save)
    command()


def bare(paths: list[str], held_us: float) -> list[tuple[int, float, float, float, float]]:
    """Stamps of decode_image with a thread per core in this process, each decoding its share
    from bytes already read, then holding the GIL for `held_us` microseconds of its CPU."""
    from transforms.decode import decode_image

    cores = os.cpu_count() or 1
    shares = [read_all(paths[i::cores]) for i in range(cores)]
    decode_image(shares[0][0], IMAGE_SIZE)  # first-call costs
    ready = threading.Barrier(cores)
    stamps: list[tuple[int, float, float, float, float]] = []

    def decode_share(blobs: list[bytes]) -> None:
        ready.wait()
        for blob in blobs:
            wall, cpu = time.perf_counter(), time.thread_time()
            decode_image(blob, IMAGE_SIZE)
            end = time.thread_time()
            stamps.append((threading.get_ident(), wall, time.perf_counter(), cpu, end))
            while time.thread_time() < end + held_us / 1e6:  # bytecode: the GIL stays held
                pass

    workers = [threading.Thread(target=decode_share, args=(share,)) for share in shares]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    return stamps


def per_image(calls: list[list[float]]) -> dict[str, float]:
    """One thread's calls, (thread, wall start, wall end, CPU start, CPU end) in order: the
    microseconds per image of each figure over the middle 80% of them."""
    middle = calls[len(calls) // 10 : len(calls) * 9 // 10]
    images = len(middle) - 1  # each call up to the next one's start
    span = middle[-1][1] - middle[0][1]
    cpu = middle[-1][3] - middle[0][3]
    decode_wall = sum(call[2] - call[1] for call in middle[:-1])
    decode_cpu = sum(call[4] - call[3] for call in middle[:-1])
    figures = {
        "wall": span,
        "decode_cpu": decode_cpu,
        "other_cpu": cpu - decode_cpu,
        "waiting": span - cpu,
        "in_decode": decode_wall - decode_cpu,
    }
    return {name: value / images * 1e6 for name, value in figures.items()}


def thread_means(stamps: list[list[float]]) -> dict[str, float]:
    """The mean over the worker threads that decoded at least MIN_CALLS images."""
    threads: dict[int, list[list[float]]] = {}
    for stamp in stamps:
        threads.setdefault(int(stamp[0]), []).append(stamp)
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


def run(layout: str, folder: str, work: str) -> dict[str, float]:
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
    env = dict(os.environ, **{STAMPS_FILE: stamps})
    env["PYTHONPATH"] = os.pathsep.join([ROOT, HERE, *filter(None, [env.get("PYTHONPATH")])])
    done = subprocess.run(argv, cwd=ROOT, env=env, capture_output=True, text=True)
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
    args = parser.parse_args()
    layouts = args.layouts.split(",")
    for layout in layouts:
        if layout not in STAMPED and not held_us(layout) >= 0:
            parser.error(f"layouts are {', '.join(STAMPED)} or {BARE}US, not {layout}")
    width, height = (int(side) for side in args.size.split("x"))
    work = tempfile.mkdtemp(prefix="worker-time-")
    try:
        folder = os.path.join(work, "photos")
        paths = make_photos(folder, args.images, width, height)
        results: dict[str, list[dict[str, float]]] = {layout: [] for layout in layouts}
        for repeat in range(args.repeats):
            for layout in layouts:
                if layout in STAMPED:
                    means = run(layout, folder, work)
                else:
                    means = thread_means(bare(paths, held_us(layout)))
                results[layout].append(means)
                emit(repeat=repeat, layout=layout, **rounded(means))
        for layout, runs in results.items():
            medians = {name: statistics.median(means[name] for means in runs) for name in runs[0]}
            emit(stage="medians", layout=layout, repeats=args.repeats, **rounded(medians))
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
