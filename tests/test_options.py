"""The command line: our flags, Beam's flags passed through, and bad flags stopped early."""

from __future__ import annotations

import pytest

from pipeline.options import JobOptions, UsageError, make_parser, parse
from pipeline.run import local_defaults
from transforms.bigquery import Method
from transforms.model import DEFAULT_MODEL_HANDLE
from transforms.preprocess import Resize
from transforms.threads import usable_cores
from transforms.write import OutputFormat


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
    assert job == JobOptions(inputs=("gs://b/a/*.jpg",), output="gs://b/out", run_id=job.run_id)
    assert job.run_id and not (job.overwrite or job.skip_existing or job.quiet or job.wait)
    assert job.output_table is None and job.bigquery_method is Method.FILE_LOADS
    assert job.model_handle == DEFAULT_MODEL_HANDLE
    assert job.resize is Resize.CENTER_CROP and job.image_size is None
    assert job.output_format is OutputFormat.TFRECORD
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
            "--output_format",
            "both",
        ]
    )
    assert job.inputs == ("a/*", "b/*.png")
    assert job.output_format is OutputFormat.BOTH
    assert (job.model_handle, job.image_size, job.resize, job.batch_size) == (
        "m",
        224,
        Resize.FULL_FRAME,
        8,
    )


def test_nothing_to_embed_is_refused():
    with pytest.raises(UsageError, match="--input, --input_manifest or --input_tfrecord"):
        parse(["--output", "o"])


def test_sources_and_sinks_are_read():
    job, _ = parse(
        [
            "--input_manifest",
            "gs://b/list.csv",
            "--manifest_column",
            "path",
            "--input_tfrecord",
            "gs://b/train-*",
            "--tfrecord_key_feature",
            "image/id",
            "--output",
            "gs://b/out",
            "--output_table",
            "proj.ds.emb",
            "--bigquery_method",
            "streaming_inserts",
        ]
    )
    assert job.inputs == () and job.input_manifests == ("gs://b/list.csv",)
    assert job.manifest_column == "path"
    assert job.input_tfrecords == ("gs://b/train-*",)
    assert (job.tfrecord_key_feature, job.tfrecord_image_feature) == ("image/id", "image/encoded")
    assert job.output_table == "proj:ds.emb"
    assert job.bigquery_method is Method.STREAMING_INSERTS


@pytest.mark.parametrize("table", ["emb", "proj:ds", "proj:ds.e.m.b", "proj:d-s.emb", "Proj:ds.t"])
def test_malformed_table_names_are_refused(table):
    with pytest.raises(UsageError, match="PROJECT:DATASET.TABLE"):
        parse(["--input", "a", "--output", "o", "--output_table", table])


def test_unknown_flag_is_refused_with_its_name():
    with pytest.raises(UsageError, match="--outptu"):
        parse(["--input", "a", "--output", "o", "--outptu", "x"])


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--input", "a"], "--output"),
        (["--input", "a", "--output", "o", "--batch_size", "0"], "positive integer"),
        (["--input", "a", "--output", "o", "--resize", "stretch"], "invalid Resize value"),
        (["--input", "a", "--output", "o", "--output_format", "csv"], "invalid OutputFormat"),
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


def test_many_cores_get_a_hint_for_the_layout_that_feeds_a_gpu(monkeypatch):
    from pipeline import run

    monkeypatch.setattr(run, "usable_cores", lambda: 16)
    hint = run.layout_hint([])
    assert "--direct_running_mode=multi_processing --direct_num_workers=16" in hint
    assert "--model_sharing machine" in hint
    # Not where one process's threads keep up, nor where the layout or the runner is chosen.
    assert run.layout_hint(["--direct_num_workers=4"]) is None
    assert run.layout_hint(["--runner=DataflowRunner"]) is None
    monkeypatch.setattr(run, "usable_cores", lambda: run.THREADS_KEEP_UP_TO)
    assert run.layout_hint([]) is None


def test_local_runs_get_one_worker_thread_per_core():
    assert local_defaults([]) == [
        "--direct_running_mode=multi_threading",
        f"--direct_num_workers={usable_cores()}",
    ]
    chosen = ["--direct_running_mode=in_memory"]
    assert local_defaults(chosen) == chosen
    dataflow = ["--runner=DataflowRunner", "--project=my-project"]
    assert local_defaults(dataflow) == dataflow
