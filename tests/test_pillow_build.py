"""The build a process decodes with is the distribution whose PIL it imported, not the first one
installed: Pillow-SIMD is put first on PYTHONPATH beside an installed Pillow."""

from __future__ import annotations

import os
import subprocess
import sys

import PIL
import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def fake_pil(folder, version: str, distribution: str | None) -> str:
    """A PIL package of `version` in `folder`, installed by `distribution` (None: by no
    distribution, as a folder copied by hand)."""
    package = folder / "PIL"
    package.mkdir(parents=True)
    (package / "__init__.py").write_text(f"__version__ = {version!r}\n")
    if distribution:
        info = folder / f"{distribution.replace('-', '_')}-{version}.dist-info"
        info.mkdir()
        (info / "METADATA").write_text(
            f"Metadata-Version: 2.1\nName: {distribution}\nVersion: {version}\n"
        )
        (info / "RECORD").write_text("PIL/__init__.py,,\n")
    return str(folder)


def build_in(*path: str, last: str = "") -> str:
    """pillow_build() in a fresh interpreter whose PYTHONPATH starts with `path` (then this
    checkout and this process's PYTHONPATH), with `last` at the end of its sys.path (after the
    installed packages)."""
    code = (
        f"import sys; sys.path.extend([{last!r}] if {last!r} else []); "
        "from transforms.pillow_build import pillow_build; print(pillow_build())"
    )
    inherited = [os.environ["PYTHONPATH"]] if os.environ.get("PYTHONPATH") else []
    environment = {**os.environ, "PYTHONPATH": os.pathsep.join([*path, ROOT, *inherited])}
    done = subprocess.run(
        [sys.executable, "-c", code], env=environment, capture_output=True, text=True, check=True
    )
    return done.stdout.strip()


def test_the_installed_pillow():
    from transforms.pillow_build import pillow_build

    assert pillow_build().split(" ")[1] == PIL.__version__
    assert build_in() == pillow_build()


@pytest.mark.parametrize("distribution", ["Pillow-SIMD", "Pillow"])
def test_the_build_first_on_the_path(tmp_path, distribution):
    first = fake_pil(tmp_path, "99.1.0.post7", distribution)
    assert build_in(first) == f"{distribution} 99.1.0.post7"


def test_a_build_installed_but_not_imported(tmp_path):
    from transforms.pillow_build import pillow_build

    later = fake_pil(tmp_path, "99.1.0.post7", "Pillow-SIMD")
    assert build_in(last=later) == pillow_build() != "Pillow-SIMD 99.1.0.post7"


def test_a_pil_no_distribution_installed(tmp_path):
    first = fake_pil(tmp_path, "99.2.0", None)
    assert build_in(first) == f"PIL 99.2.0 from {os.path.realpath(tmp_path / 'PIL')}"


def test_threads_setting_up_at_once_log_it_once():
    # Worker threads set up their decode steps at the same time; the first lookup of the build
    # takes milliseconds, long enough for every thread to ask before it ends.
    script = (
        "import logging, threading\n"
        "logging.basicConfig(level=logging.INFO, format='%(message)s')\n"
        "from transforms.pillow_build import log_pillow_build\n"
        "start = threading.Barrier(8)\n"
        "def set_up():\n"
        "    start.wait()\n"
        "    log_pillow_build()\n"
        "threads = [threading.Thread(target=set_up) for _ in range(8)]\n"
        "[thread.start() for thread in threads]\n"
        "[thread.join() for thread in threads]\n"
        "log_pillow_build()\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", script], cwd=ROOT, capture_output=True, text=True, check=True
    )
    assert done.stderr.count("Decoding with ") == 1, done.stderr
