"""Dataflow, offline: accelerator flags, the translated job (no submission), the packaging."""

from __future__ import annotations

import tarfile

import apache_beam as beam
import pytest
from apache_beam.options.pipeline_options import DebugOptions, PipelineOptions
from apache_beam.runners.dataflow.internal import apiclient
from apache_beam.runners.portability.stager import Stager

from pipeline import accelerator
from pipeline.build import build
from pipeline.options import Sharing, UsageError, parse
from pipeline.workers import processes_per_machine
from transforms.threads import PER_CORE

PROJECT_FLAGS = [
    "--runner=DataflowRunner",
    "--dry_run=True",
    "--project=my-project",
    "--region=us-central1",
    "--temp_location=gs://my-bucket/tmp",
    "--no_auth",
    "--sdk_location=container",
    "--setup_file=./setup.py",
]
STEPS = {
    "ReadImages",
    "DecodeImages",
    "EmbedImages",
    "WriteEmbeddings",
    "WriteBigQuery",
    "AllFiles",
    "AllFailures",
    "WriteFailures",
}


@pytest.mark.parametrize(
    ("spec", "given", "expected"),
    [
        (
            "nvidia-l4:1",
            [],
            [
                "--dataflow_service_options=worker_accelerator=type:nvidia-l4;count:1;"
                "install-nvidia-driver;use_nvidia_mps",
                "--machine_type=g2-standard-8",
            ],
        ),
        (
            "nvidia-tesla-t4",
            ["--machine_type=n1-highmem-4"],
            [
                "--dataflow_service_options=worker_accelerator=type:nvidia-tesla-t4;count:1;"
                "install-nvidia-driver;use_nvidia_mps",
            ],
        ),
        (
            # MPS serves one GPU per worker: with two, the processes share a model per machine
            # (pipeline.options.model_sharing), still one process per vCPU.
            "nvidia-tesla-t4:2",
            ["--machine_type=n1-highcpu-32"],
            [
                "--dataflow_service_options=worker_accelerator=type:nvidia-tesla-t4;count:2;"
                "install-nvidia-driver",
            ],
        ),
        (
            # G2, A2 and A3 machines come with a fixed number of GPUs.
            "nvidia-l4:2",
            [],
            [
                "--dataflow_service_options=worker_accelerator=type:nvidia-l4;count:2;"
                "install-nvidia-driver",
                "--machine_type=g2-standard-24",
            ],
        ),
        (
            "nvidia-h100-80gb:8",
            [],
            [
                "--dataflow_service_options=worker_accelerator=type:nvidia-h100-80gb;count:8;"
                "install-nvidia-driver",
                "--machine_type=a3-highgpu-8g",
            ],
        ),
        (
            "nvidia-tesla-v100:4",
            [],
            [
                "--dataflow_service_options=worker_accelerator=type:nvidia-tesla-v100;count:4;"
                "install-nvidia-driver",
                "--machine_type=n1-standard-32",
            ],
        ),
        (
            "tpu-v5-lite-podslice:2x2",
            [],
            [
                "--dataflow_service_options=worker_accelerator=type:tpu-v5-lite-podslice;"
                "topology:2x2",
                "--experiments=no_use_multiple_sdk_containers",
                "--machine_type=ct5lp-hightpu-1t",
            ],
        ),
    ],
)
def test_accelerator_expansion(spec, given, expected):
    assert accelerator.expand(spec, given) == expected


@pytest.mark.parametrize(
    ("spec", "given", "message"),
    [
        ("nvidia-l4:zero", [], "positive integer"),
        ("nvidia-b200:1", [], "give --machine_type"),
        ("tpu-v9:1x1", [], "expected an NVIDIA GPU type"),
        (
            "nvidia-l4:3",
            [],
            r"in counts of 1 \(g2-standard-8\), 2 \(g2-standard-24\), 4 \(g2-standard-48\), "
            r"8 \(g2-standard-96\); give one of those counts, or --machine_type",
        ),
        ("nvidia-a100-80gb:16", [], "counts of 1 .a2-ultragpu-1g."),
        ("nvidia-l4:2", ["--machine_type=g2-standard-8"], "g2-standard-8 comes with 1 GPU, not 2"),
        ("nvidia-tesla-a100:1", ["--machine_type=a2-highgpu-4g"], "comes with 4 GPUs, not 1"),
        # Several GPUs per worker: one model per machine, a copy on each GPU.
        ("nvidia-l4:4", ["--model_sharing", "process"], "leave out --model_sharing process"),
    ],
)
def test_bad_accelerators_stop_before_launch(spec, given, message):
    with pytest.raises(UsageError, match=message):
        parse(["--input", "a", "--output", "o", "--accelerator", spec, *given])


@pytest.mark.parametrize(
    ("spec", "given", "sharing"),
    [
        (None, [], Sharing.PROCESS),
        ("nvidia-l4:1", [], Sharing.PROCESS),
        ("nvidia-l4:1", ["--model_sharing", "machine"], Sharing.MACHINE),
        ("nvidia-l4:2", [], Sharing.MACHINE),
        ("nvidia-l4:2", ["--model_sharing", "machine"], Sharing.MACHINE),
        ("tpu-v5-lite-podslice:1x1", [], Sharing.PROCESS),
    ],
)
def test_workers_with_several_gpus_share_one_model_per_machine(spec, given, sharing):
    accelerator_flags = ["--accelerator", spec] if spec else []
    job, _ = parse(["--input", "a", "--output", "o", *accelerator_flags, *given])
    assert job.model_sharing is sharing


def test_tpu_workers_on_dataflow_need_the_tpu_image_and_no_setup_file():
    flags = ["--input", "a", "--output", "o", "--accelerator", "tpu-v6e-slice:1x1"]
    image = "--sdk_container_image=r/b4-embeddings-tpu"
    with pytest.raises(UsageError, match="build Dockerfile.tpu .* --sdk_container_image"):
        parse([*flags, *PROJECT_FLAGS])
    # PROJECT_FLAGS stage the package with --setup_file, as README's GPU example does.
    with pytest.raises(UsageError, match="leave out --setup_file"):
        parse([*flags, *PROJECT_FLAGS, image])
    without_setup = [flag for flag in PROJECT_FLAGS if not flag.startswith("--setup_file")]
    _, beam_args = parse([*flags, *without_setup, image])
    assert "--machine_type=ct6e-standard-1t" in beam_args
    parse(flags)  # DirectRunner: the machine it runs on is the user's


def translated(job, beam_args: list[str]):
    """The job built and translated for Dataflow, not submitted (--dry_run), and the worker
    environment Dataflow would get."""
    pipeline = beam.Pipeline(options=PipelineOptions(beam_args))
    build(pipeline, job, 380)
    result = pipeline.run()
    environment = apiclient.Environment(
        packages=[],
        options=result.job.options,
        environment_version="8",
        proto_pipeline_staged_url="gs://my-bucket/staging/pipeline.pb",
        proto_pipeline=result.job.proto_pipeline,
    ).proto
    return result, environment


def test_the_job_translates_for_dataflow_with_gpu_workers():
    job, beam_args = parse(
        [
            "--input",
            "gs://my-bucket/photos/*.jpg",
            "--output",
            "gs://my-bucket/out",
            "--output_table",
            "my-project:images.embeddings",
            "--accelerator",
            "nvidia-l4:1",
            "--skip_existing",
            *PROJECT_FLAGS,
        ]
    )
    result, environment = translated(job, beam_args)
    options = result.job.options
    # A process per vCPU (Dataflow's default) decodes on every core; MPS shares the GPU.
    assert "no_use_multiple_sdk_containers" not in (options.view_as(DebugOptions).experiments or [])
    assert list(environment.service_options) == [
        "worker_accelerator=type:nvidia-l4;count:1;install-nvidia-driver;use_nvidia_mps"
    ]
    assert environment.worker_pools[0].machine_type == "g2-standard-8"
    names = {t.unique_name for t in result.job.proto_pipeline.components.transforms.values()}
    assert names >= STEPS
    assert {
        "EmbedImages/RunInference",
        "DecodeImages/Decode",
        "ReadImages/ReadBytes",
        "ReadImages/KeepNew/JoinEarlier",
        "EarlierRecords/HistoryFiles",
        "EarlierRecords/ReadIndexes/ReadIndexLines",
        "EarlierRecords/ReadUnindexed",
        "WriteEmbeddings/WriteIndex/WriteIndexLines",
    } <= names


def test_workers_with_two_gpus_run_a_process_per_vcpu_sharing_one_model():
    flags = ["--input", "gs://b/p/*.jpg", "--output", "gs://b/out", "--accelerator", "nvidia-l4:2"]
    job, beam_args = parse([*flags, *PROJECT_FLAGS])
    result, environment = translated(job, beam_args)
    options = result.job.options
    assert "no_use_multiple_sdk_containers" not in (options.view_as(DebugOptions).experiments or [])
    assert processes_per_machine(options) == PER_CORE
    assert job.model_sharing is Sharing.MACHINE
    assert list(environment.service_options) == [
        "worker_accelerator=type:nvidia-l4;count:2;install-nvidia-driver"
    ]
    assert environment.worker_pools[0].machine_type == "g2-standard-24"


def test_setup_file_packages_pipeline_and_transforms(tmp_path):
    options = PipelineOptions(["--setup_file=./setup.py"])
    resources = Stager.create_job_resources(options, str(tmp_path))
    assert resources
    archive = next(tmp_path.glob("*.tar.gz"))
    with tarfile.open(archive) as tar:
        names = tar.getnames()
    for module in (
        "pipeline/run.py",
        "pipeline/accelerator.py",
        "transforms/model.py",
        "transforms/decode.py",
        "setup.py",
    ):
        assert any(name.endswith(module) for name in names), module
