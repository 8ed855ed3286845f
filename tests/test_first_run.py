"""What a newcomer meets first: a folder as --input, a mistyped flag, a refused run that leaves
nothing behind, and the virtual environment made with a supported Python."""

from __future__ import annotations

import logging
import os
import shutil
import subprocess

import pytest

from pipeline.checks import folder_as_glob
from pipeline.options import UsageError, parse
from tests.job import read_embeddings, read_failures, read_summary, run_job

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SAMPLES = os.path.join(ROOT, "samples", "images")


def run_on(source: str, output: str, model: str) -> tuple[set[str], dict[str, str]]:
    assert run_job("--input", source, "--output", output, "--model_handle", model) == 0
    failures = {uri: failure["reason"] for uri, failure in read_failures(output).items()}
    return set(read_embeddings(output)), failures


def test_a_folder_means_every_file_under_it(tiny_tf2, tmp_path):
    images = tmp_path / "images"
    shutil.copytree(SAMPLES, images)
    nested = images / "2026" / "11"
    nested.mkdir(parents=True)
    shutil.copy(images / "china.jpg", nested / "china-again.jpg")

    by_glob = run_on(f"{images}/**", str(tmp_path / "glob"), tiny_tf2)
    assert len(by_glob[0]) == 7 and by_glob[1] == {str(images / "notes.jpg"): "not_an_image"}
    for name, source in (("folder", str(images)), ("slash", f"{images}/")):
        embedded, failed = run_on(source, str(tmp_path / name), tiny_tf2)
        assert (embedded, failed) == by_glob, name
        assert read_summary(str(tmp_path / name))["matched"] == 8


def test_the_readme_folder_command_embeds_the_samples(tiny_tf2, tmp_path):
    embedded, failed = run_on("samples/images", str(tmp_path / "out"), tiny_tf2)
    by_glob = run_on("samples/images/*", str(tmp_path / "glob"), tiny_tf2)
    assert len(embedded) == 6 and (embedded, failed) == by_glob
    assert failed == {"samples/images/notes.jpg": "not_an_image"}


@pytest.mark.parametrize("pattern", ["{tmp}/only-folders/*", "{tmp}/empty"])
def test_a_pattern_that_matches_only_folders_is_refused(pattern, tiny_tf2, tmp_path, capsys):
    (tmp_path / "only-folders" / "sub").mkdir(parents=True)
    (tmp_path / "only-folders" / "sub" / "a.jpg").write_bytes(b"x")
    (tmp_path / "empty").mkdir()
    source = pattern.format(tmp=tmp_path)
    assert run_job("--input", source, "--output", str(tmp_path / "o"), "--model_handle", tiny_tf2)
    assert "matches no file" in capsys.readouterr().err


def test_globs_and_files_are_left_as_they_are(tmp_path):
    (tmp_path / "a.jpg").write_bytes(b"x")
    assert folder_as_glob(f"{tmp_path}/*.jpg") == f"{tmp_path}/*.jpg"
    assert folder_as_glob(f"{tmp_path}/a.jpg") == f"{tmp_path}/a.jpg"
    assert folder_as_glob(str(tmp_path)) == f"{tmp_path}/**"


def test_a_mistyped_flag_names_the_flag_meant_and_nothing_comes_before(caplog):
    with caplog.at_level(logging.WARNING), pytest.raises(UsageError) as refused:
        parse(["--input", "a", "--output", "o", "--batchsize", "8"])
    assert "--batchsize (did you mean --batch_size?)" in str(refused.value)
    assert not [record for record in caplog.records if "Discarding" in record.getMessage()]


def test_a_refused_run_leaves_no_folder_behind(tmp_path, capsys):
    output = tmp_path / "new" / "out"
    assert run_job("--input", SAMPLES, "--output", str(output), "--model_handle", "nowhere") == 2
    assert "--model_handle 'nowhere' cannot be used" in capsys.readouterr().err
    assert not (tmp_path / "new").exists()


def fake_python(folder, version: str) -> str:
    """An interpreter that reports `version`, as the virtual-environment script asks it."""
    major, minor = (int(part) for part in version.split(".")[:2])
    path = folder / f"python{major}.{minor}"
    supported = (3, 11) <= (major, minor) <= (3, 13)
    path.write_text(
        f'#!/bin/sh\ncase "$2" in *sys.exit*) exit {0 if supported else 1};; esac\necho {version}\n'
    )
    path.chmod(0o755)
    return str(path)


def test_an_unsupported_python_is_refused_and_touches_nothing(tmp_path):
    venv = tmp_path / "venv"
    venv.mkdir()
    (venv / "half-made").write_text("left by an earlier attempt")
    refused = subprocess.run(
        [os.path.join(ROOT, "tools", "ensure-venv"), fake_python(tmp_path, "3.10.13"), str(venv)],
        capture_output=True,
        text=True,
        cwd=ROOT,
    )
    assert refused.returncode == 1
    assert refused.stderr == (
        f"error: {tmp_path}/python3.10 is Python 3.10.13; this project needs Python 3.11, 3.12 "
        "or 3.13: pass PYTHON=/path/to/python3.12 to make\n"
    )
    assert (venv / "half-made").exists()


def test_a_half_made_environment_is_made_again(tmp_path):
    """An environment without its completion marker (an install that was interrupted) is
    removed before anything else; the new one is made with the Python asked for."""
    venv = tmp_path / "venv"
    (venv / "bin").mkdir(parents=True)
    (venv / "left-over").write_text("from an interrupted install")
    failing = fake_python(tmp_path, "3.12.1")  # supported, but it cannot make environments
    made = subprocess.run(
        [os.path.join(ROOT, "tools", "ensure-venv"), failing, str(venv)],
        capture_output=True,
        text=True,
        cwd=ROOT,
    )
    assert f"Removing {venv}: an earlier attempt left it unfinished" in made.stdout
    assert f"Making {venv} with {failing} (Python 3.12.1)" in made.stdout
    assert not (venv / "left-over").exists()
