"""The Space folder: its README header is a valid Space config, its requirements match adekd's, and
``export_space`` writes a folder that can be uploaded as it is."""

from __future__ import annotations

import tomllib

import gradio
import pytest
from conftest import REPO
from huggingface_hub import SpaceCard
from packaging.requirements import Requirement

from adekd.cli import main
from adekd.demo import DEFAULT_MODEL, MODEL_ENV, export_space
from adekd.demo.space import space_model

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


def test_space_requirements_are_adekd_dependencies_with_their_minimum_versions():
    wanted = {str(Requirement(dep)) for dep in PROJECT["dependencies"]}
    lines = (SPACE / "requirements.txt").read_text(encoding="utf-8").splitlines()
    listed = {str(Requirement(line)) for line in lines if line.strip() and not line.startswith("#")}
    assert listed == wanted  # a Space must not resolve to versions adekd does not run on


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


def test_an_exported_space_serves_the_model_it_was_given(tiny_trained_student, tmp_path, monkeypatch):
    monkeypatch.delenv(MODEL_ENV, raising=False)
    assert space_model(export_space(tmp_path / "plain")) == DEFAULT_MODEL  # the card's models:

    carried = export_space(tmp_path / "carried", model=tiny_trained_student)  # a folder travels along
    assert (carried / "model" / "config.json").is_file() and (
        carried / "model" / "model.safetensors"
    ).is_file()
    assert not (carried / "model" / "checkpoints").exists()
    assert space_model(carried) == str(carried / "model")
    assert SpaceCard.load(carried / "README.md").data.models is None

    linked = export_space(tmp_path / "linked", model="me/ade-student")  # a Hub id goes into the card
    assert SpaceCard.load(linked / "README.md").data.models == ["me/ade-student"]
    assert space_model(linked) == "me/ade-student"
    monkeypatch.setenv(MODEL_ENV, "other/student")  # a Space variable wins
    assert space_model(linked) == "other/student"


def test_export_space_names_a_model_folder_that_does_not_exist(tmp_path, capsys):
    assert main(["demo", "--export-space", str(tmp_path / "s"), "--model", str(tmp_path / "nope")]) == 2
    assert f"--model {tmp_path / 'nope'}" in capsys.readouterr().err
    assert not (tmp_path / "s").exists()
