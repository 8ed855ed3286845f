"""Decode-and-preprocess speed on one core: photo-sized and 24-megapixel JPEGs (or --sizes), with
the job's scaled JPEG decode against a full-size decode.

    python benchmarks/decode.py [--repeats 20] [--sizes 640x480,6000x4000]
    python benchmarks/decode.py --faults [--repeats 400] [--rounds 3]

Prints milliseconds per image and images per second for each, the ratio, and how far the two
results differ (mean absolute difference on the [0, 1] scale). With --faults: 640x480 JPEGs
decoded in a fresh process (in a worker thread, as the job's workers decode) with Pillow's
default of handing every freed block back (PILLOW_BLOCKS_MAX=0) against the job's (freed blocks
kept, transforms/decode.py), alternately, --rounds times: img/s, page faults and CPU ms per image.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import statistics
import subprocess
import sys
import time

import numpy as np
from PIL import Image

from transforms.color import to_rgb
from transforms.decode import decode_image
from transforms.preprocess import DEFAULT_IMAGE_SIZE, Resize, to_model_input


def photo_jpeg(width: int, height: int) -> bytes:
    from sklearn.datasets import load_sample_images

    image = Image.fromarray(load_sample_images().images[0]).resize((width, height), Image.BICUBIC)
    buffer = io.BytesIO()
    image.save(buffer, "JPEG", quality=90)
    return buffer.getvalue()


def full_decode(data: bytes) -> np.ndarray:
    """The same recipe without the scaled decode."""
    with Image.open(io.BytesIO(data)) as image:
        image.load()
        return to_model_input(to_rgb(image), DEFAULT_IMAGE_SIZE, Resize.CENTER_CROP)


def seconds_per_image(function, data: bytes, repeats: int) -> float:
    function(data)
    start = time.perf_counter()
    for _ in range(repeats):
        function(data)
    return (time.perf_counter() - start) / repeats


FRESH_PROCESS = r"""
import json, resource, sys, threading, time
from transforms.decode import decode_image

data = open(sys.argv[1], "rb").read()
repeats = int(sys.argv[2])
result = {}


def decode_all():
    decode_image(data, 380)
    before, start = resource.getrusage(resource.RUSAGE_SELF), time.perf_counter()
    for _ in range(repeats):
        decode_image(data, 380)
    wall, after = time.perf_counter() - start, resource.getrusage(resource.RUSAGE_SELF)
    cpu = after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime
    result.update(rate=repeats / wall, faults=(after.ru_minflt - before.ru_minflt) / repeats,
                  cpu_ms=cpu * 1000 / repeats)


worker = threading.Thread(target=decode_all)
worker.start()
worker.join()
print(json.dumps(result))
"""


def faults(repeats: int, rounds: int) -> None:
    """Pillow's default allocation against the job's, each in fresh processes, alternately."""
    path = os.path.abspath("decode-faults.jpg")
    with open(path, "wb") as handle:
        handle.write(photo_jpeg(640, 480))
    settings = {"Pillow's default (blocks given back)": "0", "the job's (freed blocks kept)": None}
    results: dict[str, list[dict]] = {label: [] for label in settings}
    try:
        for _ in range(rounds):
            for label, blocks in settings.items():
                env = {k: v for k, v in os.environ.items() if k != "PILLOW_BLOCKS_MAX"}
                if blocks is not None:
                    env["PILLOW_BLOCKS_MAX"] = blocks
                done = subprocess.run(
                    [sys.executable, "-c", FRESH_PROCESS, path, str(repeats)],
                    env=env,
                    cwd=os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
                    capture_output=True,
                    text=True,
                    check=True,
                )
                results[label].append(json.loads(done.stdout))
    finally:
        os.remove(path)
    print(f"640x480 JPEG, {repeats} decodes in a fresh process, medians of {rounds}")
    for label, runs in results.items():
        rate, fault, cpu = (statistics.median(run[key] for run in runs) for key in
                            ("rate", "faults", "cpu_ms"))  # fmt: skip
        rates = ", ".join(f"{run['rate']:.0f}" for run in runs)
        print(f"  {label:<38}{rate:7.0f} img/s ({rates})  {fault:5.0f} page faults  "
              f"{cpu:.2f} CPU ms per image")  # fmt: skip
    kept, given = (statistics.median(run["rate"] for run in results[label]) for label in
                   reversed(settings))  # fmt: skip
    print(f"  kept / given back: {kept / given:.2f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeats", type=int, default=None, help="default: 20, 400 --faults")
    parser.add_argument("--faults", action="store_true")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--sizes", default="640x480,6000x4000", help="JPEGs' WIDTHxHEIGHT")
    args = parser.parse_args()
    if args.faults:
        faults(args.repeats or 400, args.rounds)
        return
    args.repeats = args.repeats or 20
    print(f"{'image':<22}{'scaled ms':>10}{'full ms':>10}{'img/s':>8}{'full/scaled':>13}{'MAD':>8}")
    for size in args.sizes.split(","):
        width, height = (int(side) for side in size.split("x"))
        label = f"{width}x{height} JPEG"
        data = photo_jpeg(width, height)
        scaled = seconds_per_image(
            lambda d: decode_image(d, DEFAULT_IMAGE_SIZE), data, args.repeats
        )
        full = seconds_per_image(full_decode, data, args.repeats)
        difference = np.abs(
            decode_image(data, DEFAULT_IMAGE_SIZE) / 255.0 - full_decode(data) / 255.0
        )
        print(
            f"{label:<22}{scaled * 1e3:>10.1f}{full * 1e3:>10.1f}{1 / scaled:>8.0f}"
            f"{full / scaled:>13.2f}{difference.mean():>8.4f}"
        )


if __name__ == "__main__":
    main()
