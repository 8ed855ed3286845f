"""Bad input never stops a run and nothing is lost: odd-but-valid images embed, broken files are
recorded once each with their reason, transient read errors are retried."""

from __future__ import annotations

import io
import os

import numpy as np
import pytest
from apache_beam.io.filesystem import FileSystem
from google.api_core import exceptions as google_errors
from google.cloud.storage.exceptions import DataCorruption
from PIL import Image

from tests import odd_images
from tests.job import read_embeddings, read_failures, read_summary, run_job
from tests.recipe import reference_eval
from transforms import fs, reasons
from transforms.color import to_rgb
from transforms.decode import decode_image, decode_or_failure
from transforms.fs import is_transient, read_bytes
from transforms.preprocess import Resize
from transforms.reasons import PixelBudgetError
from transforms.records import DecodedImage, Failure


def test_a_bucket_of_odd_and_broken_files_runs_through(tiny_tf2, tmp_path):
    folder = tmp_path / "bucket"
    folder.mkdir()
    valid, broken = odd_images.valid_images(), odd_images.broken_files()
    assert len(valid) >= 25 and len(broken) >= 6
    for name, data in valid.items():
        (folder / name).write_bytes(data)
    for name, (data, _) in broken.items():
        (folder / name).write_bytes(data)
    assert len(broken["bomb-400mp.png"][0]) < 1_000_000

    output = str(tmp_path / "out")
    assert run_job("--input", f"{folder}/*", "--output", output, "--model_handle", tiny_tf2) == 0

    records, failures = read_embeddings(output), read_failures(output)
    assert set(records) == {str(folder / name) for name in valid}
    assert set(failures) == {str(folder / name) for name in broken}
    for name, (_, reason) in broken.items():
        failure = failures[str(folder / name)]
        assert (failure["stage"], failure["reason"]) == ("decode", reason), name
        assert failure["error"]
    summary = read_summary(output)
    assert summary["matched"] == summary["embedded"] + summary["failed"] == len(valid) + len(broken)
    expected_reasons: dict[str, int] = {}
    for _, reason in broken.values():
        expected_reasons[reason] = expected_reasons.get(reason, 0) + 1
    assert summary["failed_by_reason"] == expected_reasons


def test_sixteen_bit_grey_is_scaled_not_clipped():
    values = np.array([[0, 257, 32896, 65535]], np.uint16)  # 0, 1, 128, 255 after scaling
    rgb = np.asarray(to_rgb(Image.fromarray(values)))
    assert rgb.shape == (1, 4, 3)
    assert rgb[0, :, 0].tolist() == [0, 1, 128, 255] and (rgb[..., 0] == rgb[..., 2]).all()


def test_float_images_in_zero_one_are_scaled():
    values = np.array([[0.0, 0.5, 1.0]], np.float32)
    assert np.asarray(to_rgb(Image.fromarray(values)))[0, :, 1].tolist() == [0, 128, 255]


def test_cmyk_and_palette_transparency_become_rgb():
    photo = odd_images._photo(60, 40)
    cmyk = np.asarray(to_rgb(photo.convert("CMYK"))).astype(int)
    assert np.abs(cmyk - np.asarray(photo)).mean() < 2
    palette = Image.new("P", (2, 1))
    palette.putpalette([10, 20, 30, 200, 100, 50])
    palette.putpixel((1, 0), 1)
    palette.info["transparency"] = 0  # colour 0 is transparent: white shows through
    assert np.asarray(to_rgb(palette)).tolist() == [[[255, 255, 255], [200, 100, 50]]]


def test_the_first_frame_of_an_animation_is_used():
    frames = odd_images._frames()
    buffer = io.BytesIO()
    frames[0].save(buffer, "GIF", save_all=True, append_images=frames[1:])
    first = np.asarray(Image.open(io.BytesIO(buffer.getvalue())).convert("RGB"))
    got = decode_image(buffer.getvalue(), 64, Resize.FULL_FRAME)
    assert np.abs(got.astype(float) - reference_eval(first, 64, crop=False)).mean() < 3


def test_the_pixel_budget_is_decided_from_the_header():
    # The start of a 100-megapixel PNG, cut after a few bytes of pixels: decoding it would fail as
    # truncated, so refusing it for its size proves nothing was decoded.
    header_only = odd_images.decompression_bomb(10_000, 10_000)[:200]
    with pytest.raises(PixelBudgetError, match="10000x10000 is 100,000,000 pixels"):
        decode_image(header_only, 380)
    small = odd_images._save(odd_images._photo(300, 200), "PNG")
    assert isinstance(decode_or_failure("a", small, 64, max_pixels=60_000), DecodedImage)
    refused = decode_or_failure("a", small, 64, max_pixels=59_999)
    assert isinstance(refused, Failure) and refused.reason == reasons.TOO_MANY_PIXELS


def test_a_24_megapixel_jpeg_decodes_scaled_down_equal_up_to_resize_noise():
    data = odd_images.valid_images()["24-megapixels.jpg"]
    with Image.open(io.BytesIO(data)) as image:
        full = np.asarray(image.convert("RGB"))
    got = decode_image(data, 380)
    assert np.abs(got / 255.0 - reference_eval(full, 380) / 255.0).mean() < 0.01


class FlakyFileSystem(FileSystem):
    """A Beam filesystem (`flaky://`) whose reads fail as a cloud store does under load."""

    failures_left: dict[str, int] = {}
    opened: dict[str, int] = {}

    @classmethod
    def scheme(cls):
        return "flaky"

    def open(self, path, mime_type=None, compression_type=None):
        FlakyFileSystem.opened[path] = FlakyFileSystem.opened.get(path, 0) + 1
        if path.endswith("/missing"):
            raise google_errors.NotFound("No such object: missing")
        if FlakyFileSystem.failures_left.get(path, 0) > 0:
            FlakyFileSystem.failures_left[path] -= 1
            raise google_errors.ServiceUnavailable("backend overloaded")
        return io.BytesIO(b"image bytes")

    def _unused(self, *args, **kwargs):
        raise NotImplementedError

    join = split = mkdirs = has_dirs = _list = create = copy = rename = _unused
    exists = size = last_updated = checksum = metadata = delete = match = _unused


def test_transient_read_errors_are_retried_and_permanent_ones_are_not():
    FlakyFileSystem.failures_left["flaky://b/busy"] = 2
    assert read_bytes("flaky://b/busy") == b"image bytes"
    assert FlakyFileSystem.opened["flaky://b/busy"] == 3
    with pytest.raises(google_errors.NotFound):
        read_bytes("flaky://b/missing")
    assert FlakyFileSystem.opened["flaky://b/missing"] == 1


def test_local_files_are_read_whole_whatever_each_read_returns(tmp_path, monkeypatch):
    photo = tmp_path / "photo.jpg"
    photo.write_bytes(os.urandom(300_000))
    empty = tmp_path / "empty.jpg"
    empty.write_bytes(b"")
    assert read_bytes(str(photo)) == photo.read_bytes()
    assert read_bytes(str(empty)) == b""
    with pytest.raises(IsADirectoryError, match=str(tmp_path)):
        fs.read_local(str(tmp_path))
    with pytest.raises(FileNotFoundError, match="gone.jpg"):
        fs.read_local(str(tmp_path / "gone.jpg"))
    if os.path.exists("/proc/self/cmdline"):  # a file whose size says 0
        with open("/proc/self/cmdline", "rb") as handle:
            assert fs.read_local("/proc/self/cmdline") == handle.read()
    # Reads that return less than asked (as network filesystems may) are read on to the end.
    read = os.read
    monkeypatch.setattr(os, "read", lambda fd, size: read(fd, min(size, 7_000)))
    assert fs.read_local(str(photo)) == photo.read_bytes()


@pytest.mark.parametrize(
    ("error", "transient"),
    [
        (google_errors.ServiceUnavailable("503"), True),
        (google_errors.InternalServerError("500"), True),
        (google_errors.TooManyRequests("429"), True),
        (ConnectionResetError("reset by peer"), True),
        (TimeoutError("timed out"), True),
        (DataCorruption(None, "Checksum mismatch while downloading"), True),
        (google_errors.NotFound("404"), False),
        (google_errors.Forbidden("403"), False),
        (FileNotFoundError("gone"), False),
        (PermissionError("denied"), False),
        (ValueError("bad"), False),
    ],
)
def test_which_errors_are_transient(error, transient):
    assert is_transient(error) is transient


def test_missing_files_are_read_failures_with_their_reason(tiny_tf2, tmp_path):
    manifest = tmp_path / "list.txt"
    manifest.write_text(f"{tmp_path}/not-there.jpg\n{os.path.dirname(__file__)}\n")
    output = str(tmp_path / "out")
    assert (
        run_job("--input_manifest", str(manifest), "--output", output, "--model_handle", tiny_tf2)
        == 0
    )
    failures = read_failures(output)
    assert failures[f"{tmp_path}/not-there.jpg"]["reason"] == reasons.NOT_FOUND
    assert failures[os.path.dirname(__file__)]["stage"] == "read"
    assert read_summary(output)["failed_by_stage"]["read"] == 2
