"""Precision, devices and model sharing: bfloat16 against float32 on real photos, errors where
the hardware has no support, a copy of the model on each device of a process that has several,
and one model for two worker processes when sharing is on."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import apache_beam as beam
import numpy as np
import pytest
from apache_beam.ml.inference.base import KeyedModelHandler, RunInference
from apache_beam.options.pipeline_options import PipelineOptions

from tests import models
from tests.job import MULTI_PROCESSING, read_embeddings, run_job
from transforms.accelerate import has_bfloat16_cpu
from transforms.model import HubImageEmbedder


class CountingEmbedder(HubImageEmbedder):
    """Records each model load (with its process id) in the file LOAD_LOG names."""

    def load_model(self):
        with open(os.environ["LOAD_LOG"], "a") as log:
            log.write(f"{os.getpid()}\n")
        return super().load_model()


@pytest.mark.parametrize(("share", "loads"), [(True, 1), (False, 2)])
def test_two_worker_processes_hold_one_model_when_sharing(tiny_tf2, tmp_path, share, loads):
    log = tmp_path / "loads.txt"
    os.environ["LOAD_LOG"] = str(log)
    try:
        handler = CountingEmbedder(tiny_tf2, batch_size=2, share_across_processes=share)
        images = [(f"img{i}", np.full((64, 64, 3), i, np.uint8)) for i in range(40)]
        options = PipelineOptions(MULTI_PROCESSING)
        with beam.Pipeline(options=options) as pipeline:
            _ = (
                pipeline
                | beam.Create(images)
                | beam.Reshuffle()
                | RunInference(KeyedModelHandler(handler))
            )
    finally:
        del os.environ["LOAD_LOG"]
    pids = log.read_text().split()
    assert len(pids) == loads, pids


def test_float16_without_a_gpu_stops_before_launch(photo_folder, tiny_tf2, tmp_path, capsys):
    assert (
        run_job(
            "--input",
            f"{photo_folder[0]}/*",
            "--output",
            str(tmp_path / "out"),
            "--model_handle",
            tiny_tf2,
            "--precision",
            "float16",
        )
        == 2
    )
    assert "needs an NVIDIA GPU" in capsys.readouterr().err


@pytest.mark.b4
@pytest.mark.skipif(not has_bfloat16_cpu(), reason="this CPU has no AVX512_BF16 or AMX")
def test_bfloat16_embeddings_match_float32_on_real_photos(photo_folder, b4_export, tmp_path):
    # Separate processes: the mixed-precision rewrite is process-wide.
    outputs = {}
    for precision in ("float32", "bfloat16"):
        outputs[precision] = str(tmp_path / precision)
        subprocess.run(
            [
                sys.executable,
                "-m",
                "pipeline.run",
                "--input",
                f"{photo_folder[0]}/*",
                "--output",
                outputs[precision],
                "--model_handle",
                b4_export[0],
                "--precision",
                precision,
            ],
            check=True,
            capture_output=True,
            timeout=600,
        )
    full, mixed = (read_embeddings(outputs[p]) for p in ("float32", "bfloat16"))
    assert set(full) == set(mixed) == {os.path.join(photo_folder[0], n) for n in photo_folder[1]}
    for uri, record in full.items():
        a, b = record["embedding"], mixed[uri]["embedding"]
        assert a.shape == (1792,) and not np.array_equal(a, b)  # the rewrite did happen
        assert a @ b / (np.linalg.norm(a) * np.linalg.norm(b)) >= 0.999, uri


# Two logical CPU devices stand in for a worker's GPUs: TensorFlow makes logical devices of a
# GPU only out of a real one. They must be made before TensorFlow starts, so in a process of
# their own. Each copy's function waits at a barrier that only two calls at once pass.
ON_TWO_DEVICES = """
import json, sys, threading
import numpy as np
import tensorflow as tf

from transforms import accelerate
from transforms.model import LoadedEmbedder
from transforms.threads import PER_CORE

# Without GPUs, one copy; and naming the devices must not start TensorFlow's runtime, or the
# logical devices below could no longer be made (RuntimeError).
no_gpus = accelerate.replica_devices(1)
cpu = tf.config.list_physical_devices("CPU")[0]
tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
accelerate.REPLICA_DEVICE_TYPE = "CPU"
model = LoadedEmbedder(sys.argv[1], processes_per_machine=1)
batch = np.random.default_rng(0).integers(0, 256, (3, int(sys.argv[2]), int(sys.argv[2]), 3))
batch = batch.astype(np.uint8)
alone = [replica.embed(batch).numpy() for replica in model.replicas]
variables = [
    sorted({v.device for v in replica.embed.get_concrete_function().variables})
    for replica in model.replicas
]
together, ran_on = threading.Barrier(2, timeout=60), []
for replica in model.replicas:
    def waiting(images, replica=replica, embed=replica.embed):
        ran_on.append(replica.device)
        together.wait()
        return embed(images)
    replica.embed = waiting
results = []
threads = [threading.Thread(target=lambda: results.append(model(batch))) for _ in range(2)]
for thread in threads:
    thread.start()
for thread in threads:
    thread.join()
print(json.dumps({
    "devices": [replica.device for replica in model.replicas],
    "variables": variables,
    "ran_on": sorted(ran_on),
    "copies_differ_by": float(np.abs(alone[0] - alone[1]).max()),
    "calls_differ_by": max(float(np.abs(r - alone[0]).max()) for r in results),
    "calls": len(results),
    "per_process": accelerate.replica_devices(PER_CORE),
    "unknown": accelerate.replica_devices(None),
    "no_gpus": no_gpus,
}))
"""


@pytest.mark.parametrize("fixture", ["tiny_tf2", "tiny_tf1_hub"])
def test_a_process_with_several_devices_runs_a_copy_of_the_model_on_each(fixture, request):
    path = request.getfixturevalue(fixture)
    done = subprocess.run(
        [sys.executable, "-c", ON_TWO_DEVICES, path, str(models.TINY_SIZE)],
        capture_output=True,
        text=True,
        timeout=300,
        check=True,
    )
    found = json.loads(done.stdout.strip().splitlines()[-1])
    devices = ["/device:CPU:0", "/device:CPU:1"]
    assert found["devices"] == devices
    # Each copy's weights live on its own device, not all on the first.
    assert [[v.rsplit("/", 1)[-1] for v in each] for each in found["variables"]] == [
        ["device:CPU:0"],
        ["device:CPU:1"],
    ]
    # Two calls ran at once, one on each copy (with one copy the barrier would have broken).
    assert found["calls"] == 2 and found["ran_on"] == devices
    assert found["copies_differ_by"] == 0 and found["calls_differ_by"] == 0
    # A process among several with a model each keeps one copy, where TensorFlow places it.
    assert found["per_process"] == found["unknown"] == found["no_gpus"] == [None]
