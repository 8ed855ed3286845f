"""What holds the GIL per image, and where: py-spy's GIL samples over two run sizes.

    python benchmarks/gil.py [--small 400] [--large 1600] [--repeats 2] [--tree DIR ...]

Runs the command (zero-cost model, default local mode) under `py-spy record --gil --rate 100
--format raw` over --small and --large JPEGs; the marginal samples x 10 ms / the marginal images
is the GIL-held time per image, so start-up cancels out. Each --tree (a checkout of this
project; default: this one) is measured in turn, alternating, --repeats times; medians are
printed, with the part of the marginal each of the job's own files and Beam's steps hold.
py-spy slows what it samples: compare trees measured in one run, not to other figures.
"""

from __future__ import annotations

import collections
import os
import shutil
import statistics
import subprocess
import sys
import tempfile

from throughput import ROOT, checkouts_parser, command_line, make_jpegs, zero_cost_model

RATE = 100  # samples per second: each sample is 10 ms
# Where a sampled stack is, by the first of these found in it (innermost first).
PLACES = (
    ("decode", "transforms/decode.py"),
    ("read", "transforms/read.py"),
    ("write", "transforms/write.py"),
    ("index", "transforms/index.py"),
    ("RunInference", "ml/inference/base.py"),
    ("model", "transforms/model.py"),
    ("Beam", "apache_beam/"),
)


def place(stack: str) -> str:
    frames = stack.split(";")[::-1]  # raw stacks are outermost first
    for frame in frames:
        for name, marker in PLACES:
            if marker in frame:
                return name
    return "other"


def sample(tree: str, images: str, model: str, out: str) -> collections.Counter:
    """GIL samples by place for one run of the command in `tree`."""
    raw = os.path.join(out, "gil.txt")
    output = tempfile.mkdtemp(prefix="gil-out-", dir=out)
    command = [
        *(
            os.path.join(os.path.dirname(sys.executable), "py-spy"),
            "record",
            "--gil",
            "--rate",
            str(RATE),
            "--format",
            "raw",
        ),
        *("--subprocesses", "--output", raw, "--"),
        *command_line(images, output, model, "--quiet"),
    ]
    subprocess.run(command, cwd=tree, check=True, capture_output=True)
    places: collections.Counter = collections.Counter()
    with open(raw) as handle:
        for line in handle:
            stack, _, count = line.rstrip().rpartition(" ")
            places[place(stack)] += int(count)
    shutil.rmtree(output)
    return places


def main() -> None:
    args = checkouts_parser(__doc__.split("\n\n")[0]).parse_args()
    trees = args.tree or [ROOT]
    model = zero_cost_model(os.path.join(ROOT, ".cache", "models", "zero-cost"))
    work = tempfile.mkdtemp(prefix="bench-gil-")
    try:
        small, large = os.path.join(work, "small"), os.path.join(work, "large")
        make_jpegs(small, args.small)
        shutil.copytree(small, large)
        make_jpegs(os.path.join(work, "more"), args.large)
        for name in os.listdir(os.path.join(work, "more")):
            shutil.copy(os.path.join(work, "more", name), os.path.join(large, f"more-{name}"))
        shutil.rmtree(os.path.join(work, "more"))
        extra = args.large  # large holds small's images and `large` more
        results: dict[str, list[dict[str, float]]] = {tree: [] for tree in trees}
        for _ in range(args.repeats):
            for tree in trees:
                counts = [sample(tree, folder, model, work) for folder in (small, large)]
                per_image = {
                    name: (counts[1][name] - counts[0][name]) * 1000 / RATE / extra
                    for name in set(counts[0]) | set(counts[1])
                }
                per_image["total"] = sum(per_image.values())
                results[tree].append(per_image)
                print(f"  {tree}: {per_image['total']:.2f} ms per image", flush=True)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    print(f"\nGIL-held ms per image (marginal over {extra} images), medians of {args.repeats}")
    names = ["total", *(name for name, _ in PLACES), "other"]
    print(f"{'tree':<30}" + "".join(f"{name:>13}" for name in names))
    for tree, runs in results.items():
        medians = [statistics.median(run.get(name, 0.0) for run in runs) for name in names]
        print(f"{tree[-30:]:<30}" + "".join(f"{value:>13.2f}" for value in medians))


if __name__ == "__main__":
    main()
