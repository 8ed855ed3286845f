"""How fast the job's read -> DecodeImages -> RunInference path feeds a model on every core of a
machine, with a model that costs nothing, in Beam's two in-machine layouts: one SDK process with
a thread per core (what --experiments=no_use_multiple_sdk_containers gives a Dataflow VM) and a
process per core (Dataflow's default). Needs Beam and Pillow, not TensorFlow, so it runs on
accelerator machines that lack TensorFlow.

    python benchmarks/feed_on_cores.py [--large 24000] [--size 640x480]

Each layout runs a small set (a quarter) and the large one; the marginal rate between them
cancels start-up, which takes 10 to 25 s with a process per core: make the large set big enough
that its run lasts longer than that. Prints JSON lines, also appended to $OUT/feed.jsonl where
OUT is set.
"""

from __future__ import annotations

import argparse
import glob
import json
import multiprocessing
import os
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)
CORES = os.cpu_count() or 1


def emit(**fields) -> None:
    line = json.dumps(fields)
    print(line, flush=True)
    if os.environ.get("OUT"):
        with open(os.path.join(os.environ["OUT"], "feed.jsonl"), "a") as handle:
            handle.write(line + "\n")


def _make(task: tuple[int, int, int, str]) -> str:
    from PIL import Image

    index, width, height, folder = task
    sources = sorted(glob.glob(os.path.join(ROOT, "samples", "images", "*.jpg")))
    sources = [path for path in sources if os.path.getsize(path) > 1000]  # not notes.jpg
    with Image.open(sources[index % len(sources)]) as photo:
        image = photo.convert("RGB").resize((width + index % 7, height + index % 5))
    path = os.path.join(folder, f"photo-{index:06d}.jpg")
    image.save(path, quality=90)
    return path


def photos(count: int, width: int, height: int) -> list[str]:
    folder = f"/tmp/feed-photos-{width}x{height}"
    os.makedirs(folder, exist_ok=True)
    with multiprocessing.get_context("fork").Pool(CORES) as pool:
        return pool.map(_make, [(i, width, height, folder) for i in range(count)])


def run(paths: list[str], mode: str) -> float:
    import apache_beam as beam
    import numpy as np
    from apache_beam.ml.inference.base import ModelHandler, RunInference
    from apache_beam.options.pipeline_options import PipelineOptions

    from transforms.decode import DecodeImages
    from transforms.records import ImageFile

    class Null(ModelHandler):
        def __init__(self):
            super().__init__(min_batch_size=64, max_batch_size=64)

        def load_model(self):
            return None

        def run_inference(self, batch, model, inference_args=None):
            return list(np.stack(batch).mean(axis=(1, 2)))

    def read(path: str) -> ImageFile:
        with open(path, "rb") as handle:
            return ImageFile(path, handle.read(), "")

    options = PipelineOptions(
        ["--runner=DirectRunner", f"--direct_running_mode={mode}", f"--direct_num_workers={CORES}"]
    )
    start = time.perf_counter()
    with beam.Pipeline(options=options) as pipeline:
        images = (
            pipeline | beam.Create(paths) | beam.Reshuffle() | beam.Map(read) | DecodeImages(380)
        )
        _ = images["images"] | beam.Map(lambda image: image.pixels) | RunInference(Null())
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--large", type=int, default=24000)
    parser.add_argument("--size", default="640x480")
    parser.add_argument("--modes", default="multi_threading,multi_processing")
    args = parser.parse_args()
    width, height = (int(side) for side in args.size.split("x"))
    paths = photos(args.large, width, height)
    small = paths[: args.large // 4]
    emit(stage="photos", n=len(paths), size=args.size, cores=CORES)
    for mode in args.modes.split(","):
        walls = (run(small, mode), run(paths, mode))
        emit(
            stage="feed",
            mode=mode,
            workers=CORES,
            size=args.size,
            wall_small=round(walls[0], 2),
            wall_large=round(walls[1], 2),
            marginal_img_s=round((len(paths) - len(small)) / (walls[1] - walls[0]), 1),
        )


if __name__ == "__main__":
    main()
