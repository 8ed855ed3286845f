"""The real EfficientNet-B4 architecture (untrained weights) in both module formats."""

from __future__ import annotations

import functools
import os

import numpy as np
import pytest
import tensorflow as tf
import tensorflow_hub as hub

from pipeline import export_model
from pipeline.checks import UNTRAINED_MARKER
from tests.job import (
    read_embeddings,
    read_failures,
    read_parquet_records,
    read_summary,
    run_job,
)
from transforms.decode import decode_image

pytestmark = pytest.mark.b4

B4_DIM = 1792
PHOTOS = ("china.jpg", "coffee.png", "astronaut-exif6.jpg")


@functools.cache
def load(handle: str):
    return hub.load(handle)


def direct_call(handle: str, pixels: np.ndarray) -> np.ndarray:
    """The module called by hand, outside the product: [0, 1] floats in, vector out."""
    module = load(handle)
    name = "default" if "default" in module.signatures else "serving_default"
    images = tf.constant(pixels[None].astype(np.float32) / 255.0)
    return module.signatures[name](images=images)["default"].numpy()[0]


def cosine(a: np.ndarray, b: np.ndarray) -> float:
    return float(a @ b / (np.linalg.norm(a) * np.linalg.norm(b)))


def test_exporter_writes_b4_and_says_it_is_untrained(b4_export):
    path, printed = b4_export
    assert os.path.isfile(os.path.join(path, "saved_model.pb"))
    assert os.path.isfile(os.path.join(path, UNTRAINED_MARKER))
    assert "UNTRAINED MODEL" in printed and "no meaning" in printed


def test_exporter_refuses_weights_it_cannot_use(tmp_path, capsys):
    with pytest.raises(SystemExit):
        export_model.main(["--out", str(tmp_path / "m"), "--weights", str(tmp_path / "no.h5")])
    assert "expected imagenet, none or an existing .h5 file" in capsys.readouterr().err


@pytest.mark.parametrize("fixture", ["b4_export", "b4_tf1_hub"])
def test_one_1792_float_vector_per_image_in_both_formats(
    fixture, request, photo_folder, tmp_path, caplog
):
    handle = request.getfixturevalue(fixture)
    handle = handle[0] if isinstance(handle, tuple) else handle
    folder, _ = photo_folder
    output = str(tmp_path / "out")
    args = ["--output", output, "--model_handle", handle, "--batch_size", "2"]
    args += ["--output_format", "both"]
    for name in PHOTOS:
        args += ["--input", os.path.join(folder, name)]
    assert run_job(*args) == 0

    records = read_embeddings(output)
    assert set(records) == {os.path.join(folder, name) for name in PHOTOS}
    assert read_failures(output) == {}
    assert read_summary(output)["embedded"] == len(PHOTOS)
    # The exporter's untrained model is announced at every launch; the TF1 module has no marker.
    assert ("UNTRAINED weights" in caplog.text) == (fixture == "b4_export")
    rows = {row["uri"]: row for row in read_parquet_records(output)}
    assert set(rows) == set(records)
    for uri, row in rows.items():
        np.testing.assert_array_equal(row["embedding"], records[uri]["embedding"])
    for uri, record in records.items():
        assert record["embedding"].shape == (B4_DIM,)
        with open(uri, "rb") as handle_:
            want = direct_call(handle, decode_image(handle_.read(), 380))
        assert cosine(record["embedding"], want) > 0.9999, uri
        np.testing.assert_allclose(
            record["embedding"], want, rtol=1e-3, atol=1e-3 * np.abs(want).max()
        )
