"""The command line: our flags, Beam's flags passed through, and bad flags stopped early."""

from __future__ import annotations

import pytest

from pipeline.options import JobOptions, UsageError, make_parser, parse
from transforms.model import DEFAULT_MODEL_HANDLE
from transforms.preprocess import Resize


def test_defaults_and_beam_flags_pass_through():
    job, beam_args = parse(
        [
            "--input",
            "gs://b/a/*.jpg",
            "--output",
            "gs://b/out/",
            "--runner",
            "DirectRunner",
            "--direct_num_workers=2",
        ]
    )
    assert job == JobOptions(inputs=("gs://b/a/*.jpg",), output="gs://b/out")
    assert job.model_handle == DEFAULT_MODEL_HANDLE
    assert job.resize is Resize.CENTER_CROP and job.image_size is None
    assert beam_args == ["--runner", "DirectRunner", "--direct_num_workers=2"]


def test_input_is_repeatable_and_options_are_read():
    job, _ = parse(
        [
            "--input",
            "a/*",
            "--input",
            "b/*.png",
            "--output",
            "o",
            "--model_handle",
            "m",
            "--image_size",
            "224",
            "--resize",
            "full_frame",
            "--batch_size",
            "8",
        ]
    )
    assert job.inputs == ("a/*", "b/*.png")
    assert (job.model_handle, job.image_size, job.resize, job.batch_size) == (
        "m",
        224,
        Resize.FULL_FRAME,
        8,
    )


def test_unknown_flag_is_refused_with_its_name():
    with pytest.raises(UsageError, match="--outptu"):
        parse(["--input", "a", "--output", "o", "--outptu", "x"])


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--output", "o"], "--input"),
        (["--input", "a"], "--output"),
        (["--input", "a", "--output", "o", "--batch_size", "0"], "positive integer"),
        (["--input", "a", "--output", "o", "--resize", "stretch"], "invalid Resize value"),
    ],
)
def test_bad_values_stop_with_a_message(argv, message, capsys):
    with pytest.raises(SystemExit) as stopped:
        parse(argv)
    assert stopped.value.code == 2
    assert message in capsys.readouterr().err


def test_help_lists_our_flags_with_defaults():
    text = make_parser().format_help()
    for flag in (
        "--input",
        "--output",
        "--model_handle",
        "--image_size",
        "--resize",
        "--batch_size",
    ):
        assert flag in text
    assert DEFAULT_MODEL_HANDLE in text.replace("\n", "").replace(" ", "")
    assert "default: center_crop" in text and "default: 16" in text
