"""decode_seconds: the CPU time of decoding alone, not of the steps that run after it."""

from __future__ import annotations

import os
import time

import apache_beam as beam
from apache_beam.options.pipeline_options import PipelineOptions

from pipeline.summary import counters
from transforms.decode import DECODE_MICROSECONDS, DecodeImages
from transforms.records import ImageFile

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
IMAGES = 4
DOWNSTREAM_CPU_SECONDS = 0.25  # per image, far more than decoding a 640x427 JPEG


def spend_cpu(image):
    """A step after decoding that keeps its thread's CPU busy."""
    start = time.thread_time()
    while time.thread_time() - start < DOWNSTREAM_CPU_SECONDS:
        pass
    return image


def test_decoding_counts_its_own_cpu_time_and_not_the_steps_after_it():
    with open(os.path.join(ROOT, "samples", "images", "china.jpg"), "rb") as handle:
        data = handle.read()
    files = [ImageFile(f"photo-{i}.jpg", data) for i in range(IMAGES)]
    options = PipelineOptions(["--direct_running_mode=in_memory"])
    with beam.Pipeline(options=options) as pipeline:
        decoded = pipeline | beam.Create(files) | DecodeImages(380)
        # Fused with decoding: it runs inside the decode step's `yield`, on the same thread.
        _ = decoded["images"] | beam.Map(spend_cpu)
    seconds = counters(pipeline.result)[DECODE_MICROSECONDS] / 1e6
    # Decoding took some CPU; had the step after it been counted, the total would pass
    # IMAGES * DOWNSTREAM_CPU_SECONDS.
    assert 0 < seconds < IMAGES * DOWNSTREAM_CPU_SECONDS / 4
