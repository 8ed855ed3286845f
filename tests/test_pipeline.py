"""The whole job on DirectRunner, through its command line, on real photos."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys

import numpy as np
import pytest
from PIL import Image

from pipeline.run import MISLEADING_BEAM_WARNINGS
from pipeline.summary import make_summary
from tests import models
from tests.job import MULTI_PROCESSING, read_embeddings, read_failures, read_summary, run_job
from tests.recipe import reference_eval
from transforms.decode import DECODE_MICROSECONDS, decode_image
from transforms.model import MODEL_MICROSECONDS
from transforms.threads import usable_cores

MODES = {
    "in_memory": ["--direct_running_mode=in_memory"],
    "default": [],  # the job's own DirectRunner default: one worker thread per core
    "multi_processing": MULTI_PROCESSING,
    # One model for both worker processes: batches reach it through shared memory.
    "shared_model": [*MULTI_PROCESSING, "--model_sharing", "machine"],
}


def broken_files(folder: str) -> list[str]:
    """Files that are not images, whatever their names say; returns their paths."""
    with open(
        os.path.join(os.path.dirname(__file__), "..", "samples", "images", "china.jpg"), "rb"
    ) as handle:
        jpeg = handle.read()
    contents = {
        "notes.jpg": b"plain text with an image's name\n",
        "empty.png": b"",
        "truncated.jpg": jpeg[: len(jpeg) // 3],
        "noise.bin": np.random.default_rng(1).integers(0, 256, 4096, dtype=np.uint8).tobytes(),
        "signature-only.png": b"\x89PNG\r\n\x1a\n",
    }
    paths = []
    for name, data in contents.items():
        path = os.path.join(folder, name)
        with open(path, "wb") as handle:
            handle.write(data)
        paths.append(path)
    return paths


def assert_accounted(output: str, embedded: set[str], failed: set[str]) -> None:
    """Each matched URI exactly once, in the sink its fate says; the summary agrees."""
    records, failures = read_embeddings(output), read_failures(output)
    assert set(records) == embedded
    assert set(failures) == failed
    summary = read_summary(output)
    assert summary["matched"] == len(embedded) + len(failed)
    assert (summary["embedded"], summary["failed"]) == (len(embedded), len(failed))
    assert summary["skipped"] == 0
    assert summary["matched"] == summary["skipped"] + summary["embedded"] + summary["failed"]
    assert summary["seconds"] > 0 and summary["images_per_second"] > 0


@pytest.mark.parametrize("mode", sorted(MODES))
def test_probe_sees_the_evaluation_recipe(photo_folder, probe, tmp_path, mode):
    folder, expected = photo_folder
    output = str(tmp_path / "out")
    extra = MODES[mode]
    assert (
        run_job(
            "--input",
            f"{folder}/*",
            "--output",
            output,
            "--model_handle",
            probe,
            "--batch_size",
            "3",
            *extra,
        )
        == 0
    )

    uris = {os.path.join(folder, name) for name in expected}
    assert_accounted(output, uris, set())
    # Every worker's model time reaches the summary; each process's calls run one at a time.
    # A model shared by the processes runs outside Beam's workers: its time is not counted.
    summary = read_summary(output)
    if mode == "shared_model":
        assert summary["model_seconds"] is None
    else:
        processes = 2 if mode == "multi_processing" else 1
        assert 0 < summary["model_seconds"] < summary["seconds"] * processes
    # Every worker thread's CPU time in decoding reaches the summary, whatever the layout; a
    # thread's CPU time cannot pass the run's wall time, and no layout has more threads
    # decoding than the processes or the cores.
    assert 0 < summary["decode_seconds"] < summary["seconds"] * max(2, usable_cores())
    records = read_embeddings(output)
    for name, upright in expected.items():
        got = records[os.path.join(folder, name)]
        assert got["model"] == probe
        want = models.pool_grid(reference_eval(upright, 380)[None] / 255.0)[0]
        assert got["embedding"].shape == want.shape
        assert np.abs(got["embedding"] - want).mean() < 0.01, name
    # A missed EXIF turn would be seen: the stored, unturned pixels give another picture.
    sideways = np.rot90(expected["astronaut-exif6.jpg"], 1)
    unturned = models.pool_grid(reference_eval(sideways, 380)[None] / 255.0)[0]
    got = records[os.path.join(folder, "astronaut-exif6.jpg")]["embedding"]
    assert np.abs(got - unturned).mean() > 0.03


@pytest.mark.parametrize("mode", sorted(MODES))
def test_bad_files_become_failures_and_the_rest_embeds(photo_folder, tiny_tf1_hub, tmp_path, mode):
    folder = str(tmp_path / "mixed")
    shutil.copytree(photo_folder[0], folder)
    broken = broken_files(folder)
    output = str(tmp_path / "out")
    extra = MODES[mode]
    assert (
        run_job(
            "--input", f"{folder}/*", "--output", output, "--model_handle", tiny_tf1_hub, *extra
        )
        == 0
    )

    good = {os.path.join(folder, name) for name in photo_folder[1]}
    assert_accounted(output, good, set(broken))
    for failure in read_failures(output).values():
        assert failure["stage"] == "decode" and failure["error"]
    # Each vector is the model applied directly to the same preprocessed pixels.
    for uri, record in read_embeddings(output).items():
        with open(uri, "rb") as handle:
            pixels = decode_image(handle.read(), models.TINY_SIZE)
        want = models.tiny_reference(pixels[None] / 255.0)[0]
        np.testing.assert_allclose(record["embedding"], want, rtol=1e-4, atol=1e-4)
    assert read_summary(output)["failed_by_stage"] == {"read": 0, "decode": 5, "embed": 0}


def test_the_summary_says_how_long_the_model_computed_and_decoding_took():
    counts = {"embedded": 3, MODEL_MICROSECONDS: 1_234_567, DECODE_MICROSECONDS: 45_678}
    computed = make_summary(counts, 2.0, "m", "r")
    assert computed["model_seconds"] == 1.235
    assert computed["decode_seconds"] == 0.046
    # No worker counted any: no batch ran, or a model served from outside the workers; no image
    # was decoded.
    nothing = make_summary({"embedded": 0}, 2.0, "m", "r")
    assert nothing["model_seconds"] is None and nothing["decode_seconds"] is None


def test_a_batch_the_model_refuses_is_recorded_as_embed_failures(tmp_path):
    folder = tmp_path / "images"
    folder.mkdir()
    Image.new("RGB", (80, 60), (255, 255, 255)).save(folder / "white.png")
    Image.new("RGB", (80, 60), (10, 120, 200)).save(folder / "blue.png")
    model = models.save_picky(str(tmp_path / "picky"))
    output = str(tmp_path / "out")
    assert (
        run_job(
            "--input",
            str(folder / "*.png"),
            "--output",
            output,
            "--model_handle",
            model,
            "--batch_size",
            "1",
        )
        == 0
    )
    assert_accounted(output, {str(folder / "blue.png")}, {str(folder / "white.png")})
    failure = read_failures(output)[str(folder / "white.png")]
    assert failure["stage"] == "embed" and "refuses all-white batches" in failure["error"]


def test_overlapping_patterns_embed_each_file_once(photo_folder, tiny_tf2, tmp_path):
    folder, expected = photo_folder
    output = str(tmp_path / "out")
    assert (
        run_job(
            "--input",
            f"{folder}/*.jpg",
            "--input",
            f"{folder}/*",
            "--input",
            f"{folder}/china.jpg",
            "--output",
            output,
            "--model_handle",
            tiny_tf2,
        )
        == 0
    )
    assert_accounted(output, {os.path.join(folder, name) for name in expected}, set())


def test_input_that_matches_nothing_stops_before_launch(tiny_tf2, tmp_path, capsys):
    output = tmp_path / "out"
    assert (
        run_job(
            "--input",
            str(tmp_path / "none" / "*.jpg"),
            "--output",
            str(output),
            "--model_handle",
            tiny_tf2,
        )
        == 2
    )
    assert "matches no file" in capsys.readouterr().err
    assert not output.exists()


def run_module(folder: str, output: str, model: str, *flags: str) -> subprocess.CompletedProcess:
    """`python -m pipeline.run` over the PNGs of `folder`, in a process of its own."""
    command = [sys.executable, "-m", "pipeline.run", "--input", f"{folder}/*.png"]
    command += ["--output", output, "--model_handle", model, *flags]
    return subprocess.run(command, capture_output=True, text=True, timeout=300)


def test_the_module_entry_point(photo_folder, tiny_tf2, tmp_path):
    folder, expected = photo_folder
    output = str(tmp_path / "out")
    done = run_module(folder, output, tiny_tf2, "--runner", "DirectRunner")
    assert done.returncode == 0, done.stderr[-3000:]
    pngs = {os.path.join(folder, name) for name in expected if name.endswith(".png")}
    assert_accounted(output, pngs, set())
    assert f"{len(pngs)} embedded, 0 skipped (embedded before), 0 failed, of {len(pngs)}" in (
        done.stdout
    )
    decoding = read_summary(output)["decode_seconds"]
    each = decoding / len(pngs) * 1000
    assert f"decoding {decoding:.1f} s of CPU, {each:.1f} ms an image" in done.stdout


def test_worker_processes_log_nothing_misleading(photo_folder, tiny_tf2, tmp_path):
    """Each multi_processing worker warned of a folder only Dataflow gives, of DirectRunner's own
    flags, of reading memory use and of pkg_resources: four lines per worker that leave nothing
    to fix (pipeline/run.py)."""
    folder, _ = photo_folder
    done = run_module(folder, str(tmp_path / "out"), tiny_tf2, *MULTI_PROCESSING)
    assert done.returncode == 0, done.stderr[-3000:]
    assert "INFO pipeline.run: Decoding with " in done.stderr
    for noise in (*MISLEADING_BEAM_WARNINGS, "pkg_resources is deprecated"):
        assert noise not in done.stderr


def test_a_folder_with_results_is_refused_or_overwritten(photo_folder, tiny_tf2, tmp_path, capsys):
    folder, expected = photo_folder
    output = str(tmp_path / "out")
    everything = {os.path.join(folder, name) for name in expected}
    assert (
        run_job(
            "--input",
            f"{folder}/*",
            "--output",
            output,
            "--model_handle",
            tiny_tf2,
            "--direct_running_mode=in_memory",
        )
        == 0
    )
    before = sorted(os.listdir(output))

    pngs = f"{folder}/*.png"
    assert run_job("--input", pngs, "--output", output, "--model_handle", tiny_tf2) == 2
    assert "already holds the results of an earlier run" in capsys.readouterr().err
    assert sorted(os.listdir(output)) == before
    assert_accounted(output, everything, set())

    # Two worker threads write two shards where the first run wrote one: nothing of the first
    # run may remain beside them.
    assert (
        run_job("--input", pngs, "--output", output, "--model_handle", tiny_tf2, "--overwrite") == 0
    )
    assert_accounted(output, {uri for uri in everything if uri.endswith(".png")}, set())
