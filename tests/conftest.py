"""Fixtures: the models and photo folders the tests make themselves."""

from __future__ import annotations

import numpy as np
import pytest

from tests import models, photos


@pytest.fixture(scope="session")
def tiny_tf2(tmp_path_factory) -> str:
    return models.save_tiny_tf2(str(tmp_path_factory.mktemp("models") / "tiny_tf2"))


@pytest.fixture(scope="session")
def tiny_tf1_hub(tmp_path_factory) -> str:
    return models.save_tiny_tf1_hub(str(tmp_path_factory.mktemp("models") / "tiny_tf1_hub"))


@pytest.fixture(scope="session")
def probe(tmp_path_factory) -> str:
    return models.save_probe(str(tmp_path_factory.mktemp("models") / "probe"))


@pytest.fixture(scope="session")
def b4_export(tmp_path_factory) -> tuple[str, str]:
    """(SavedModel folder, what the exporter printed)."""
    path = str(tmp_path_factory.mktemp("models") / "b4_tf2")
    return path, models.export_b4_untrained(path)


@pytest.fixture(scope="session")
def b4_tf1_hub(tmp_path_factory) -> str:
    return models.save_b4_tf1_hub(str(tmp_path_factory.mktemp("models") / "b4_tf1_hub"))


@pytest.fixture(scope="session")
def photo_folder(tmp_path_factory) -> tuple[str, dict[str, np.ndarray]]:
    """(folder, file name -> expected upright RGB pixels)."""
    folder = str(tmp_path_factory.mktemp("photos"))
    return folder, photos.write_photo_folder(folder)
