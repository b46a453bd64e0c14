"""The Space folder: its README header is a valid Space config, its requirements match adekd's, and
``export_space`` writes a folder that can be uploaded as it is."""

from __future__ import annotations

import tomllib

import gradio
import pytest
from conftest import REPO
from huggingface_hub import SpaceCard
from packaging.requirements import Requirement

from adekd.demo import DEFAULT_MODEL, export_space

SPACE = REPO / "spaces" / "ade-demo"
PROJECT = tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))["project"]


def test_space_readme_header_is_a_valid_space_config():
    card = SpaceCard.load(SPACE / "README.md")
    data = card.data
    assert data.sdk == "gradio" and data.sdk_version == gradio.__version__
    assert data.app_file == "app.py"
    assert data.license == PROJECT["license"].lower()
    assert DEFAULT_MODEL in data.models and data.datasets
    assert data.title and data.emoji and 0 < len(data.short_description) <= 60


def test_space_requirements_list_adekd_dependencies():
    wanted = {Requirement(dep).name for dep in PROJECT["dependencies"]}
    lines = (SPACE / "requirements.txt").read_text(encoding="utf-8").splitlines()
    listed = {Requirement(line).name for line in lines if line.strip() and not line.startswith("#")}
    assert listed == wanted


def test_export_space_writes_a_folder_the_space_runs_from(tmp_path):
    folder = export_space(tmp_path / "space")
    names = {path.name for path in folder.iterdir()}
    assert names == {"app.py", "README.md", "requirements.txt", "adekd"}
    assert (folder / "adekd" / "demo" / "app.py").is_file()
    assert (folder / "adekd" / "metrics" / "ade_f1" / "ade_f1.py").is_file()
    assert (folder / "adekd" / "hub_cards" / "model_card.md").is_file()
    assert not list(folder.rglob("__pycache__"))
    with pytest.raises(FileExistsError, match="not empty"):
        export_space(folder)
