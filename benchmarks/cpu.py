"""Where the job's CPU goes per image, by library: perf's CPU samples in the job's steady state.

    python benchmarks/cpu.py [--small 400] [--large 1600] [--repeats 2] [--tree DIR ...]

Runs the command (zero-cost model, default local mode) over --large JPEGs under
`perf record -e cpu-clock`, stamped with the wall clock, and counts only the samples taken
between the 10th and 90th percentile of the images' `embedded_at` stamps (its index): the CPU
of that window over the images embedded in it (the steady rate, throughput.steady) is what each
image costs, with neither start-up nor the last stragglers in it. Start-up costs seconds of CPU
here, and not the same from run to run: in a marginal between two run sizes, the interpreter's
share for one checkout moved between 0.27 and 0.98 ms per image from one run to the next.
Beside it, the job's own file reading and `decode_image` alone over --small and --large of the
same files in a worker thread (where the job's workers decode), marginal: its start-up is a few
imports. Samples are grouped by the library they fell in (Pillow, libjpeg, TensorFlow, the
Python interpreter, libc, the kernel, ...), every thread of the process tree counted: what the
job spends beyond decoding is the difference of the two rows. Where gil.py shows what one
process's GIL allows, this shows what the cores pay; CPU samples move less than wall time on a
shared machine. Each --tree (a checkout of this project; default: this one) is measured in
turn, alternating, --repeats times; medians are printed.
Needs Linux `perf` (Debian: `apt-get install linux-perf`) allowed to sample its own children.
"""

from __future__ import annotations

import collections
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile

from throughput import ROOT, checkouts_parser, command_line, jpeg_folders, steady, zero_cost_model

RATE = 499  # samples per second of CPU time
# The library a sample fell in, by the first marker found in its shared object's name.
PLACES = (
    ("Pillow", "_imaging"),
    ("libjpeg", "libjpeg"),
    ("TensorFlow", "tensorflow"),
    ("Python", "libpython"),
    ("Python", "python3"),
    ("libc", "libc.so"),
    ("kernel", "[kernel"),
    ("other extensions", ".so"),
)
NAMES = ("Pillow", "libjpeg", "TensorFlow", "Python", "libc", "kernel", "other extensions", "other")

DECODE_ALONE = r"""
import os, sys, threading
from transforms.decode import decode_image

folder = sys.argv[1]
paths = sorted(os.path.join(folder, name) for name in os.listdir(folder))


def decode_all():
    for path in paths:
        with open(path, "rb") as handle:
            decode_image(handle.read(), 380)


worker = threading.Thread(target=decode_all)  # the job decodes in worker threads, not main
worker.start()
worker.join()
"""


def place(shared_object: str) -> str:
    for name, marker in PLACES:
        if marker in shared_object:
            return name
    return "other"


SAMPLE = re.compile(r"^\s*(\d+\.\d+):\s+\S+\s+\((.*)\)\s*$")  # "time:  ip (shared object)"


def cpu_samples(command: list[str], cwd: str, work: str) -> list[tuple[float, str]]:
    """perf's CPU samples of `command` and every thread it starts: (wall-clock time, place)."""
    data = os.path.join(work, "perf.data")
    subprocess.run(
        [
            *("perf", "record", "-q", "-e", "cpu-clock", "-F", str(RATE), "-k", "CLOCK_REALTIME"),
            *("-o", data, "--", *command),
        ],
        cwd=cwd,
        check=True,
        capture_output=True,
    )
    script = subprocess.run(
        ["perf", "script", "-i", data, "-F", "time,ip,dso"],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    samples = []
    for line in script.splitlines():
        match = SAMPLE.match(line)
        if match:
            samples.append((float(match[1]), place(match[2])))
    return samples


def by_place(samples: list[tuple[float, str]], start: float = 0, end: float = float("inf")):
    return collections.Counter(name for time, name in samples if start <= time <= end)


def marginal_per_image(counts: list[collections.Counter], images: int) -> dict[str, float]:
    """CPU ms per image by place, from the samples of a small and a large run."""
    small, large = counts
    return {name: (large[name] - small[name]) * 1000 / RATE / images for name in NAMES}


def steady_per_image(samples: list[tuple[float, str]], output: str) -> dict[str, float]:
    """CPU ms per image by place, from the samples of one run's steady window."""
    window = steady(output)
    images = window.rate * (window.end - window.start)
    counts = by_place(samples, window.start, window.end)
    return {name: counts[name] * 1000 / RATE / images for name in NAMES}


def main() -> None:
    args = checkouts_parser(__doc__.split("\n\n")[0]).parse_args()
    if shutil.which("perf") is None:
        sys.exit("benchmarks/cpu.py needs Linux perf (Debian: apt-get install linux-perf)")
    trees = args.tree or [ROOT]
    model = zero_cost_model(os.path.join(ROOT, ".cache", "models", "zero-cost"))
    work = tempfile.mkdtemp(prefix="bench-cpu-")
    marginal = args.large - args.small
    results: dict[str, list[dict[str, float]]] = {"decode alone": []}
    results.update({tree: [] for tree in trees})
    try:
        folders = jpeg_folders(work, args.small, args.large)[:2]
        for _ in range(args.repeats):
            counts = [
                by_place(cpu_samples([sys.executable, "-c", DECODE_ALONE, folder], ROOT, work))
                for folder in folders
            ]
            results["decode alone"].append(marginal_per_image(counts, marginal))
            for tree in trees:
                output = tempfile.mkdtemp(prefix="out-", dir=work)
                command = command_line(folders[1], output, model, "--quiet")
                samples = cpu_samples(command, tree, work)
                results[tree].append(steady_per_image(samples, output))
                shutil.rmtree(output)
            for label, runs in results.items():
                print(f"  {label}: {sum(runs[-1].values()):.2f} CPU ms per image", flush=True)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    print(
        f"\nCPU ms per image, medians of {args.repeats}: decoding alone marginal over {marginal} "
        f"JPEGs, the command in the steady window of {args.large}"
    )
    columns = ("total", *NAMES)
    print(f"{'':<30}" + "".join(f"{name[:11]:>12}" for name in columns))
    medians = {}
    for label, runs in results.items():
        for run in runs:
            run["total"] = sum(run[name] for name in NAMES)
        medians[label] = {name: statistics.median(run[name] for run in runs) for name in columns}
        print(f"{label[-30:]:<30}" + "".join(f"{medians[label][n]:>12.3f}" for n in columns))
    alone = medians["decode alone"]["total"]
    for tree in trees:
        beyond = medians[tree]["total"] - alone
        print(f"{tree[-30:]}: {beyond:.2f} CPU ms per image beyond decoding ({beyond / alone:.0%})")


if __name__ == "__main__":
    main()
