"""What handing a batch to the model costs: NumPy's stack and TensorFlow's conversion (which
copies, twice where the array is not 64-byte aligned) against `stack_aligned` and DLPack.

    python benchmarks/handoff.py [--batches 60] [--repeats 3]

Each side runs in a fresh process, in a worker thread as the job's workers do: 16 decoded
640x480 JPEGs per batch through the handler's loaded model, one that costs nothing (each image's
mean, 1792 times), so that the handoff and the uint8 to [0, 1] conversion are what is measured.
Prints CPU ms and page faults per batch after the first 10 batches, medians of --repeats,
the two sides alternating.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile

from throughput import ROOT, make_jpegs, zero_cost_model

SIDE = r"""
import os, resource, sys, threading
import numpy as np
from transforms.decode import decode_image
from transforms.model import LoadedEmbedder
from transforms.tensors import stack_aligned

side, model, folder, batches = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
embedder = LoadedEmbedder(model)
images = []
for name in sorted(os.listdir(folder)):
    with open(os.path.join(folder, name), "rb") as handle:
        images.append(decode_image(handle.read(), 380))


def call():
    if side == "np.stack":  # what the handler did before: TensorFlow converts the array
        return embedder.replicas[0].embed(np.stack(images)).numpy()
    return embedder(stack_aligned(images))


def run():
    for _ in range(10):
        call()
    before = resource.getrusage(resource.RUSAGE_SELF)
    for _ in range(batches):
        call()
    after = resource.getrusage(resource.RUSAGE_SELF)
    cpu = after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime
    print(cpu * 1000 / batches, (after.ru_minflt - before.ru_minflt) / batches)


worker = threading.Thread(target=run)
worker.start()
worker.join()
"""

SIDES = ("np.stack", "stack_aligned")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--batches", type=int, default=60)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    model = zero_cost_model(os.path.join(ROOT, ".cache", "models", "zero-cost"))
    environment = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3")
    folder = tempfile.mkdtemp(prefix="bench-handoff-")
    make_jpegs(folder, 16)
    results: dict[str, list[tuple[float, float]]] = {side: [] for side in SIDES}
    for _ in range(args.repeats):
        for side in SIDES:
            out = subprocess.run(
                [sys.executable, "-c", SIDE, side, model, folder, str(args.batches)],
                cwd=ROOT,
                env=environment,
                check=True,
                capture_output=True,
                text=True,
            ).stdout.split()
            cpu, faults = float(out[-2]), float(out[-1])
            results[side].append((cpu, faults))
            print(f"  {side}: {cpu:.2f} CPU ms, {faults:.0f} page faults per batch", flush=True)
    shutil.rmtree(folder)
    print(f"\nper batch of 16, medians of {args.repeats}")
    medians = {}
    for side, runs in results.items():
        medians[side] = statistics.median(cpu for cpu, _ in runs)
        faults = statistics.median(faults for _, faults in runs)
        print(f"{side:<15} {medians[side]:8.2f} CPU ms {faults:8.0f} page faults")
    print(f"stack_aligned / np.stack: {medians['stack_aligned'] / medians['np.stack']:.2f}")


if __name__ == "__main__":
    main()
