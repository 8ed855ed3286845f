"""tools/tpu_environment.py, the TPU image's check: which of pip check's findings it lets pass,
and that an environment without TensorFlow for TPUs fails it."""

from __future__ import annotations

import importlib.util
import os

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


@pytest.fixture(scope="module")
def check():
    path = os.path.join(ROOT, "tools", "tpu_environment.py")
    spec = importlib.util.spec_from_file_location("tpu_environment", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize(
    ("line", "allowed"),
    [
        ("tfx-bsl 1.21.0 requires tensorflow<2.22,>=2.21, which is not installed.", True),
        ("b4-embeddings 0.1.0 requires tensorflow, which is not installed.", True),
        ("tfx-bsl 1.21.0 requires tensorflow-metadata, which is not installed.", False),
        ("tf-keras 2.20.1 requires tensorflow.io, which is not installed.", False),
        ("x 1.0 has requirement tensorflow<2.21, but you have tensorflow 2.21.0.", False),
    ],
)
def test_only_the_tensorflow_name_may_be_missing(check, line, allowed):
    assert bool(check.UNMET.match(line)) is allowed


def test_an_environment_without_tensorflow_for_tpus_fails(check):
    # This suite's own environment: TensorFlow for CPUs and GPUs.
    assert check.problems() == ["tensorflow-tpu is not installed"]
