"""The report page: reading a results folder, the search behind it, and the page itself rendered
in headless Chromium, as a person would open it."""

from __future__ import annotations

import io
import os

import numpy as np
import pytest
from PIL import Image
from skimage import data

from pipeline import neighbours, results
from pipeline.report import main as report_main
from pipeline.thumbnails import preview_jpeg, thumbnail
from tests.job import run_job
from tests.photos import photos

CHROMIUM = "/usr/bin/chromium"
# What the test machine allows a headless Chromium; the last four keep it off the network.
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
# Planted near-duplicates: a photo re-encoded at a lower quality and slightly resized.
PLANTED = {"china-copy.jpg": ("china", 70, 0.9), "coffee-copy.jpg": ("coffee", 60, 0.85)}
# With the probe model (pixels pooled to a grid) the planted pairs are at cosine >= 0.9999 and
# the other photos here at most 0.972.
DUPLICATE_COSINE = "0.99"


def jpeg(pixels: np.ndarray, quality: int = 92, scale: float = 1.0) -> bytes:
    image = Image.fromarray(pixels)
    if scale != 1.0:
        size = (round(image.width * scale), round(image.height * scale))
        image = image.resize(size, Image.Resampling.BICUBIC)
    out = io.BytesIO()
    image.save(out, "JPEG", quality=quality)
    return out.getvalue()


def distinct_photos() -> dict[str, np.ndarray]:
    pictures = dict(photos())
    for name in ("immunohistochemistry", "hubble_deep_field", "coins", "camera"):
        picture = getattr(data, name)()
        if picture.ndim == 2:
            picture = np.stack([picture] * 3, axis=-1)
        pictures[name] = picture[..., :3]
    rocket = pictures["rocket"]
    pictures["rocket-left"] = np.ascontiguousarray(rocket[:, : rocket.shape[1] // 2])
    return pictures


@pytest.fixture(scope="module")
def results_folder(tmp_path_factory, probe) -> tuple[str, str]:
    """(images folder, results folder): a TFRecord run, then a Parquet run that adds the planted
    near-duplicates and a broken file; one embedded image is deleted afterwards."""
    root = tmp_path_factory.mktemp("report")
    images, output = root / "images", str(root / "out")
    images.mkdir()
    pictures = distinct_photos()
    for name, pixels in pictures.items():
        (images / f"{name}.jpg").write_bytes(jpeg(pixels))
    args = ["--input", str(images), "--output", output, "--model_handle", probe, "--quiet"]
    assert run_job(*args, "--run_id", "first") == 0
    for name, (source, quality, scale) in PLANTED.items():
        (images / name).write_bytes(jpeg(pictures[source], quality, scale))
    (images / "broken.jpg").write_bytes(b"not a picture")
    assert run_job(*args, "--skip_existing", "--output_format", "parquet") == 0
    os.remove(images / "coins.jpg")
    return str(images), output


def test_the_page_in_a_browser(results_folder, tmp_path):
    from playwright.sync_api import sync_playwright

    images, output = results_folder
    assert os.path.exists(CHROMIUM), "headless Chromium is needed: apt-get install -y chromium"
    # Every image a query, so that the deleted one is shown (as a placeholder).
    flags = ["--queries", "100", "--neighbours", "3", "--duplicate_cosine", DUPLICATE_COSINE]
    assert report_main(["--output", output, *flags, "--quiet"]) == 0
    page_path = os.path.join(output, "report.html")

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 1200, "height": 900})
        fetched = []
        page.on("request", lambda request: fetched.append(request.url))
        page.goto(f"file://{page_path}")
        page.wait_for_load_state("load")
        pictures = page.evaluate(
            "Array.from(document.images).map(i => [i.complete, i.naturalWidth, "
            "i.closest('figure').dataset.uri])"
        )
        rows = page.eval_on_selector_all(
            "#neighbours .row.query", "rows => rows.map(r => r.querySelectorAll('figure').length)"
        )
        groups = page.eval_on_selector_all(
            "#duplicates .group",
            "groups => groups.map(g => Array.from(g.querySelectorAll('figure'))"
            ".map(f => f.dataset.uri.split('/').pop()).sort())",
        )
        missing = page.eval_on_selector_all(
            "figure .missing", "cells => cells.map(c => c.closest('figure').dataset.uri)"
        )
        failed = page.eval_on_selector_all(
            "#failed-files td:first-child", "cells => cells.map(c => c.textContent)"
        )
        run = page.text_content("#summary tr:first-child td")
        page.screenshot(path=str(tmp_path / "report.png"), full_page=True)
        browser.close()

    # Offline: nothing but the page itself (thumbnails are inside it).
    assert fetched == [f"file://{page_path}"]
    embedded = len(distinct_photos()) + len(PLANTED)
    assert len(rows) == embedded and set(rows) == {4}
    assert pictures, "no thumbnails"
    broken = [uri for complete, width, uri in pictures if not (complete and width > 0)]
    assert broken == []
    # The deleted image shows a placeholder wherever it appears, never a broken picture.
    coins = os.path.join(images, "coins.jpg")
    assert missing and set(missing) == {coins}
    assert coins not in {uri for _, _, uri in pictures}
    assert groups == [["china-copy.jpg", "china.jpg"], ["coffee-copy.jpg", "coffee.jpg"]]
    assert failed == [os.path.join(images, "broken.jpg")]
    assert run and run != "first"  # the latest run's summary
    assert (tmp_path / "report.png").stat().st_size > 10_000


def test_both_formats_read_back_the_same(tiny_tf2, tmp_path):
    samples = os.path.join(os.path.dirname(__file__), "..", "samples", "images")
    output = str(tmp_path / "out")
    args = ["--input", samples, "--output", output, "--model_handle", tiny_tf2, "--quiet"]
    assert run_job(*args, "--output_format", "both") == 0
    from_tfrecords = results.read_vectors(output)
    assert {os.path.basename(p).rsplit(".", 1)[1] for p in results.embedding_files(output)} == {
        "tfrecord"
    }
    for name in os.listdir(output):
        if name.endswith(".tfrecord"):
            os.remove(os.path.join(output, name))
    from_parquet = results.read_vectors(output)
    assert from_parquet.uris == from_tfrecords.uris and len(from_parquet.uris) == 6
    np.testing.assert_array_equal(from_parquet.matrix, from_tfrecords.matrix)
    np.testing.assert_array_equal(from_parquet.embedded_at, from_tfrecords.embedded_at)
    assert from_parquet.model == tiny_tf2


def test_the_latest_vector_of_each_uri_of_the_latest_model(tiny_tf2, tiny_tf1_hub, tmp_path):
    images, output = tmp_path / "images", str(tmp_path / "out")
    images.mkdir()
    pictures = list(photos().values())
    for index in range(3):
        (images / f"{index}.jpg").write_bytes(jpeg(pictures[index]))
    args = ["--input", str(images), "--output", output, "--quiet"]
    assert run_job(*args, "--model_handle", tiny_tf1_hub, "--run_id", "a") == 0
    (images / "0.jpg").write_bytes(jpeg(pictures[4]))  # changed: embedded again
    assert run_job(*args, "--model_handle", tiny_tf2, "--run_id", "b", "--skip_existing") == 0
    vectors = results.read_vectors(output)
    assert vectors.uris == [str(images / "0.jpg")]
    assert vectors.model == tiny_tf2 and vectors.left_out == 2
    with pytest.raises(results.TooManyVectorsError, match="more than 2 images"):
        results.read_vectors(output, max_uris=2)


def test_the_command_says_what_to_do(tiny_tf2, tmp_path, capsys):
    empty = tmp_path / "empty"
    empty.mkdir()
    assert report_main(["--output", str(empty), "--quiet"]) == 2
    assert "run `python -m pipeline.run" in capsys.readouterr().err
    samples = os.path.join(os.path.dirname(__file__), "..", "samples", "images")
    output = str(tmp_path / "out")
    assert run_job("--input", samples, "--output", output, "--model_handle", tiny_tf2) == 0
    assert report_main(["--output", output, "--max_vectors", "3", "--quiet"]) == 2
    error = capsys.readouterr().err
    assert "VECTOR_SEARCH" in error and "--max_vectors" in error
    assert not os.path.exists(os.path.join(output, "report.html"))
    with pytest.raises(SystemExit) as stopped:
        report_main(["--output", output, "--duplicate_cosine", "1.5"])
    assert stopped.value.code == 2
    assert "cosine similarity in (0, 1]" in capsys.readouterr().err


def brute_force(unit: np.ndarray, query: int, k: int) -> list[int]:
    scores = unit @ unit[query]
    scores[query] = -np.inf
    return np.argsort(-scores, kind="stable")[:k].tolist()


def test_nearest_and_groups_match_brute_force_across_blocks(monkeypatch):
    rng = np.random.default_rng(3)
    base = rng.normal(size=(40, 16)).astype(np.float32)
    copies = base[[0, 0, 5, 9]] + rng.normal(scale=0.01, size=(4, 16)).astype(np.float32)
    vectors = np.concatenate([base, copies, np.zeros((1, 16), np.float32)])
    unit = neighbours.unit_rows(vectors)
    for cells in (neighbours.BLOCK_CELLS, 7 * len(vectors), 1):  # one block, several, a row each
        monkeypatch.setattr(neighbours, "BLOCK_CELLS", cells)
        found = neighbours.nearest(unit, [0, 5, 44], 3)
        assert [f.query for f in found] == [0, 5, 44]
        for f in found:
            assert f.indices == brute_force(unit, f.query, 3)
            assert f.scores == sorted(f.scores, reverse=True)
        # 0, 40 and 41 (two copies of 0) form one group through their pairs; 5 and 42; 9 and 43.
        groups = neighbours.duplicate_groups(unit, 0.99)
        assert groups == [[0, 40, 41], [5, 42], [9, 43]]


def test_thumbnails_are_upright_and_failures_are_placeholders(photo_folder, tmp_path):
    folder, expected = photo_folder
    for name in ("astronaut-exif6.jpg", "coffee-exif3.jpg"):
        with open(os.path.join(folder, name), "rb") as handle:
            preview = np.asarray(Image.open(io.BytesIO(preview_jpeg(handle.read()))))
        assert max(preview.shape[:2]) == 160
        upright = Image.fromarray(expected[name]).resize(preview.shape[1::-1], Image.BICUBIC)
        # Upright as the EXIF says: a preview left as stored differs by 40 or more.
        assert np.abs(preview.astype(int) - np.asarray(upright).astype(int)).mean() < 8, name
    (tmp_path / "text.jpg").write_bytes(b"hello")
    for uri in (str(tmp_path / "text.jpg"), str(tmp_path / "absent.jpg")):
        made = thumbnail(uri)
        assert made.src is None and made.problem
