"""Where the job's CPU goes per image, by library: perf's CPU samples over two run sizes.

    python benchmarks/cpu.py [--small 400] [--large 1600] [--repeats 2] [--tree DIR ...]

Runs the command (zero-cost model, default local mode) under `perf record -e cpu-clock` over
--small and --large JPEGs, and the job's own file reading and `decode_image` alone over the
same files in a worker thread (where the job's workers decode); the marginal samples / the
marginal images are the CPU ms each image costs, so start-up cancels out. Samples are grouped by
the library they fell in (Pillow, libjpeg, TensorFlow, the Python interpreter, libc, the
kernel, ...), every thread of the process tree counted: what the job spends beyond decoding is
the difference of the two rows. Where gil.py shows what one process's GIL allows, this shows
what the cores pay; CPU samples move less than wall time on a shared machine. Each --tree (a
checkout of this project; default: this one) is measured in turn, alternating, --repeats times;
medians are printed.
Needs Linux `perf` (Debian: `apt-get install linux-perf`) allowed to sample its own children.
"""

from __future__ import annotations

import collections
import os
import shutil
import statistics
import subprocess
import sys
import tempfile

from throughput import ROOT, checkouts_parser, command_line, jpeg_folders, zero_cost_model

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


def cpu_samples(command: list[str], cwd: str, work: str) -> collections.Counter:
    """perf's CPU samples of `command` and every thread it starts, by place."""
    data = os.path.join(work, "perf.data")
    subprocess.run(
        ["perf", "record", "-q", "-e", "cpu-clock", "-F", str(RATE), "-o", data, "--", *command],
        cwd=cwd,
        check=True,
        capture_output=True,
    )
    report = subprocess.run(
        ["perf", "report", "-i", data, "--sort", "dso", "--stdio", "-n"],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    places: collections.Counter = collections.Counter()
    for line in report.splitlines():
        fields = line.split(maxsplit=2)  # "  12.34%   1234  libfoo.so"
        if len(fields) == 3 and fields[0].endswith("%") and fields[1].isdigit():
            places[place(fields[2])] += int(fields[1])
    return places


def per_image(counts: list[collections.Counter], images: int) -> dict[str, float]:
    """CPU ms per image by place, from the samples of a small and a large run."""
    small, large = counts
    return {name: (large[name] - small[name]) * 1000 / RATE / images for name in NAMES}


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
                cpu_samples([sys.executable, "-c", DECODE_ALONE, folder], ROOT, work)
                for folder in folders
            ]
            results["decode alone"].append(per_image(counts, marginal))
            for tree in trees:
                counts = []
                for folder in folders:
                    output = tempfile.mkdtemp(prefix="out-", dir=work)
                    command = command_line(folder, output, model, "--quiet")
                    counts.append(cpu_samples(command, tree, work))
                    shutil.rmtree(output)
                results[tree].append(per_image(counts, marginal))
            for label, runs in results.items():
                print(f"  {label}: {sum(runs[-1].values()):.2f} CPU ms per image", flush=True)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    print(f"\nCPU ms per image (marginal over {marginal} JPEGs), medians of {args.repeats}")
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
