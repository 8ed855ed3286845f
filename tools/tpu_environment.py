"""Checks that this Python environment is the TPU worker image's (Dockerfile.tpu): TensorFlow
built for TPUs, every other pin of setup.py as the project asks, and no unmet requirement but
the `tensorflow` distribution's name, which tensorflow-tpu provides under its own name.

    python tools/tpu_environment.py

Exits 1 with what is wrong. Importing TensorFlow for TPUs on a machine that is not a Cloud TPU
VM waits for the metadata server; set TPU_SKIP_MDS_QUERY=1 there (an image build, a laptop).
"""

from __future__ import annotations

import re
import subprocess
import sys
from importlib import metadata

from packaging.requirements import Requirement

TENSORFLOW_TPU = "2.20.0"
# Requirements of the project that the image meets differently, or knowingly leaves unmet.
NOT_PINNED_HERE = {"tensorflow"}
UNMET = re.compile(r"^\S+ \S+ requires tensorflow(?![\w.-]).*, which is not installed\.$")
MODULES = ("tensorflow_hub", "tfx_bsl.coders.example_coder", "pipeline.run", "transforms.model")


def installed(name: str) -> str | None:
    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return None


def problems() -> list[str]:
    tpu = installed("tensorflow-tpu")
    if tpu is None:
        return ["tensorflow-tpu is not installed"]
    found = []
    if tpu != TENSORFLOW_TPU:
        found.append(f"tensorflow-tpu is {tpu}, not {TENSORFLOW_TPU}")
    if second := installed("tensorflow"):
        found.append(f"a second TensorFlow is installed: tensorflow {second}")
    for line in metadata.requires("b4-embeddings") or []:
        requirement = Requirement(line)
        if requirement.marker or requirement.name in NOT_PINNED_HERE:
            continue
        version = installed(requirement.name)
        if version is None:
            found.append(f"{requirement} is not installed")
        elif not requirement.specifier.contains(version, prereleases=True):
            found.append(f"setup.py asks for {requirement}, the image has {version}")
    check = subprocess.run(
        [sys.executable, "-m", "pip", "check"], capture_output=True, text=True, check=False
    )
    for line in check.stdout.splitlines():
        if line.strip() and not line.startswith("No broken") and not UNMET.match(line):
            found.append(f"pip check: {line}")
    return found


def imports() -> list[str]:
    import importlib

    import tensorflow as tf

    found = []
    if tf.__version__ != TENSORFLOW_TPU:
        found.append(f"`import tensorflow` gives {tf.__version__}, not {TENSORFLOW_TPU}")
    for module in MODULES:
        try:
            importlib.import_module(module)
        except Exception as exc:  # noqa: BLE001 - any import failure is the finding
            found.append(f"import {module}: {type(exc).__name__}: {exc}")
    return found


def main() -> int:
    found = problems()
    if not found:
        found = imports()
    for problem in found:
        print(f"error: {problem}", file=sys.stderr)
    if not found:
        print(f"TPU environment: tensorflow-tpu {TENSORFLOW_TPU}; imports {', '.join(MODULES)}")
    return 1 if found else 0


if __name__ == "__main__":
    sys.exit(main())
