"""Precision and model sharing: bfloat16 against float32 on real photos, errors where the
hardware has no support, and one model for two worker processes when sharing is on."""

from __future__ import annotations

import os
import subprocess
import sys

import apache_beam as beam
import numpy as np
import pytest
from apache_beam.ml.inference.base import KeyedModelHandler, RunInference
from apache_beam.options.pipeline_options import PipelineOptions

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
