"""The stages as a library: README's example of a user's own pipeline runs as it is written."""

from __future__ import annotations

import os
import re
import subprocess
import sys

import transforms

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
MARKER = "<!-- library example"


def readme_example() -> str:
    with open(os.path.join(ROOT, "README.md"), encoding="utf-8") as handle:
        text = handle.read()
    after = text[text.index(MARKER) :]
    return re.search(r"```python\n(.*?)```", after, re.DOTALL).group(1)


def test_the_readme_example_gives_one_vector_or_one_failure_per_input(probe):
    # The probe takes 380x380 images, as B4 does, and returns 300 floats.
    shown = subprocess.run(
        [sys.executable, "-c", readme_example()],
        capture_output=True,
        text=True,
        check=True,
        cwd=ROOT,
        env={**os.environ, "MODEL": probe},
    ).stdout.split("\n")
    lines = sorted(line for line in shown if line)
    samples = sorted(os.listdir(os.path.join(ROOT, "samples", "images")))
    assert [line.split()[0] for line in lines] == samples
    assert [line for line in lines if not line.endswith("(300,)")] == ["notes.jpg not_an_image"]


def test_the_public_names_are_the_stages_and_their_records():
    from transforms.decode import DecodeImages
    from transforms.model import HubImageEmbedder

    assert transforms.DecodeImages is DecodeImages
    assert transforms.HubImageEmbedder is HubImageEmbedder
    assert {"ReadImages", "EmbedImages", "WriteEmbeddings", "Failure"} <= set(transforms.__all__)
    for name in transforms.__all__:
        assert getattr(transforms, name) is not None
