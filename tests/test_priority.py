"""Where the model computes on the workers' own cores, the threads that decode yield them."""

from __future__ import annotations

import os
import subprocess
import sys
import threading

import apache_beam as beam
import pytest
from apache_beam.pipeline import PipelineVisitor

from pipeline.build import build
from pipeline.options import parse
from transforms import priority

pytestmark = pytest.mark.skipif(
    not sys.platform.startswith("linux"), reason="threads have priorities of their own on Linux"
)

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

# Two runs of the job's DecodeImages in DirectRunner's worker threads, without and then with
# yield_cores; each prints the priorities seen by the threads that decoded, beside the process's.
DECODE_IN_WORKER_THREADS = """
import os, sys, threading
import apache_beam as beam
from apache_beam.options.pipeline_options import PipelineOptions
from transforms.decode import DecodeImages
from transforms.records import ImageFile

data = open(sys.argv[1], "rb").read()
files = [ImageFile(f"photo-{i}.jpg", data, "") for i in range(6)]
options = ["--direct_running_mode=multi_threading", "--direct_num_workers=2"]
print("process", os.getpriority(os.PRIO_PROCESS, 0), flush=True)


def nice(_):
    return os.getpriority(os.PRIO_PROCESS, threading.get_native_id())


for yield_cores in (False, True):
    with beam.Pipeline(options=PipelineOptions(options)) as pipeline:
        decoded = pipeline | beam.Create(files) | DecodeImages(380, yield_cores=yield_cores)
        _ = (
            decoded["images"]
            | beam.Map(nice)
            | beam.combiners.ToSet()
            | beam.Map(lambda seen, label=yield_cores: print(label, sorted(seen), flush=True))
        )
"""


def _nice() -> int:
    return os.getpriority(os.PRIO_PROCESS, threading.get_native_id())


def test_yield_cores_lowers_the_calling_worker_thread_only():
    before = _nice()
    if before == priority.LOWEST:
        pytest.skip("this process already runs at the lowest priority")
    seen = []

    def worker():
        priority.yield_cores()
        priority.yield_cores()  # once is enough; a second call changes nothing
        seen.append(_nice())

    thread = threading.Thread(target=worker)
    thread.start()
    thread.join()
    assert seen == [priority.LOWEST]
    priority.yield_cores()  # the main thread, which starts every other, keeps its priority
    assert _nice() == before


def test_decode_images_yields_its_worker_threads_only_when_asked():
    photo = os.path.join(ROOT, "samples", "images", "chelsea.jpg")
    done = subprocess.run(
        [sys.executable, "-c", DECODE_IN_WORKER_THREADS, photo],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    )
    lines = dict(line.split(" ", 1) for line in done.stdout.splitlines())
    process = int(lines["process"])
    if process == priority.LOWEST:
        pytest.skip("this process already runs at the lowest priority")
    assert lines["False"] == f"[{process}]"
    assert lines["True"] == f"[{priority.LOWEST}]"


def _decode_step(pipeline: beam.Pipeline):
    found = []

    class Visitor(PipelineVisitor):
        def enter_composite_transform(self, node):
            if node.full_label == "DecodeImages":
                found.append(node.transform)

    pipeline.visit(Visitor())
    (step,) = found
    return step


@pytest.mark.parametrize(
    ("flags", "yields"),
    [
        ([], True),
        (["--accelerator", "nvidia-l4:1"], False),
        (["--accelerator", "tpu-v5-lite-podslice:1x1"], False),
    ],
)
def test_the_job_yields_the_cores_where_its_model_computes_on_them(tmp_path, flags, yields):
    job, _ = parse(["--input", "photos/*.jpg", "--output", str(tmp_path), *flags])
    pipeline = beam.Pipeline()
    build(pipeline, job, 380)
    assert _decode_step(pipeline).yield_cores is yields
