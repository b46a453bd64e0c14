"""Training data read from a Hub dataset at a pinned revision (``--train-revision``, ``--dev-revision``,
``--test-revision``).

A run reads one commit of each Hub dataset id and records it in ``metrics.json``; a push landing while
it starts changes neither the run nor its refit, and a resume reads the commit the run started from
even after the branch moved. The Hub cannot be reached here, so it is faked at the HTTP transport
(``hub_support.ServingHub``); ``load_dataset``, the downloads through huggingface_hub, the tokenizer
and the training are real.
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pytest
from hub_support import ServingHub, install_serving_hub
from student_support import tiny_encoder
from test_hub_download import MovingHub
from training_support import kill_after_first_checkpoint, write_records

from adekd.cli import main
from adekd.training import TrainingConfig, train

DATASET = "me/ade-silver"
V1 = "1" * 40  # 12 records, tagged v1
MAIN = "2" * 40  # 20 other records, pushed after it to main


@pytest.fixture(scope="module")
def commits(tmp_path_factory) -> dict[str, Path]:
    """The dataset repository's two commits: a folder with one records file each."""
    root = tmp_path_factory.mktemp("dataset")
    write_records(root / "v1" / "train.jsonl", 12, seed=1, prefix="v1-")
    write_records(root / "main" / "train.jsonl", 20, seed=2, prefix="main-")
    return {V1: root / "v1", MAIN: root / "main"}


@pytest.fixture(scope="module")
def encoder(tmp_path_factory) -> Path:
    return tiny_encoder(tmp_path_factory.mktemp("encoder") / "encoder")


@pytest.fixture
def hub(monkeypatch, tmp_path, commits):
    served = ServingHub(DATASET, commits, {"v1": V1, "main": MAIN}, repo_type="dataset")
    yield from install_serving_hub(monkeypatch, tmp_path, served)


def _train(tmp_path: Path, encoder: Path, name: str, *flags: str) -> int:
    return main(["train", "--train", DATASET, "--output", str(tmp_path / name), "--encoder", str(encoder),
                 "--epochs", "1", "--batch-size", "8", "--dev-fraction", "0", *flags])  # fmt: skip


def _metrics(folder: Path) -> dict:
    return json.loads((folder / "metrics.json").read_text())


def test_training_reads_the_revision_asked_for_and_records_its_commit(hub, tmp_path, encoder):
    assert _train(tmp_path, encoder, "pinned", "--train-revision", "v1") == 0
    train_block = _metrics(tmp_path / "pinned")["train"]
    assert (train_block["commit"], train_block["num_records"]) == (V1, 12)
    assert hub.fetched_revisions() == {V1}  # every file at the commit, not at "v1"

    hub.requests.clear()
    assert _train(tmp_path, encoder, "main", "--test", DATASET) == 0
    metrics = _metrics(tmp_path / "main")
    assert (metrics["train"]["commit"], metrics["train"]["num_records"]) == (MAIN, 20)
    assert metrics["test"]["commit"] == MAIN
    assert hub.fetched_revisions() == {MAIN}


def test_local_data_records_no_commit(tmp_path, encoder):
    train_file = write_records(tmp_path / "train.jsonl", 8)
    argv = ["train", "--train", str(train_file), "--output", str(tmp_path / "student"), "--encoder",
            str(encoder), "--epochs", "1", "--batch-size", "8", "--dev-fraction", "0"]  # fmt: skip
    assert main(argv) == 0
    assert _metrics(tmp_path / "student")["train"]["commit"] is None


@pytest.fixture
def moving_hub(monkeypatch, tmp_path, commits):
    served = MovingHub(DATASET, commits, {"main": V1}, ref="main", repo_type="dataset")
    yield from install_serving_hub(monkeypatch, tmp_path, served)


def test_a_push_while_training_starts_changes_neither_the_run_nor_its_refit(moving_hub, tmp_path, encoder):
    output = tmp_path / "student"
    assert _train(tmp_path, encoder, "student", "--dev-fraction", "0.25", "--refit") == 0
    selection, refit = _metrics(output / "selection"), _metrics(output)
    # main moved after the first question; the refit reads the commit its selection chose on
    assert selection["train"]["commit"] == refit["train"]["commit"] == V1
    assert refit["train"]["num_records"] == 12
    assert moving_hub.fetched_revisions() == {V1}


def test_a_resumed_training_reads_the_commit_it_started_from(hub, tmp_path, encoder, monkeypatch):
    hub.refs["main"] = V1
    config = TrainingConfig(
        train=DATASET,
        output_dir=str(tmp_path / "student"),
        encoder=str(encoder),
        epochs=2,
        batch_size=4,
        dev_fraction=0.0,
        save_steps=1,
    )
    kill_after_first_checkpoint(monkeypatch, config)
    hub.refs["main"] = MAIN  # pushed while the run was down
    hub.requests.clear()
    metrics = train(dataclasses.replace(config, resume=True))
    assert metrics["train"]["commit"] == V1
    assert metrics["training"]["global_step"] == 6  # V1's 12 records in batches of 4, twice
    assert hub.fetched_revisions() == {V1}

    hub.requests.clear()  # finished, and main has moved: nothing to resume, not "other data"
    assert train(dataclasses.replace(config, resume=True))["train"]["commit"] == V1
    assert hub.fetched_revisions() == {V1}


def test_an_unknown_revision_is_named_before_training(hub, tmp_path, encoder, capsys):
    assert _train(tmp_path, encoder, "student", "--train-revision", "v9") == 2
    err = capsys.readouterr().err
    assert "--train me/ade-silver" in err and "at revision 'v9'" in err
    assert not (tmp_path / "student" / "checkpoints").exists()


@pytest.mark.parametrize(
    ("flags", "message"),
    [
        (["--train-revision", "v1"], "--train-revision: revision 'v1' applies to a Hub id; {train} is"),
        (["--test-revision", "v1"], "--test-revision v1 names a revision of --test: give --test"),
        (["--dev-revision", "v1", "--dev", "{train}"], "--dev-revision: revision 'v1' applies to a Hub id"),
    ],
)
def test_a_revision_that_cannot_apply_is_refused_before_training(tmp_path, encoder, capsys, flags, message):
    train_file = write_records(tmp_path / "train.jsonl", 8)
    flags = [flag.format(train=train_file) for flag in flags]
    argv = ["train", "--train", str(train_file), "--output", str(tmp_path / "student"), "--encoder",
            str(encoder), "--epochs", "1", *flags]  # fmt: skip
    assert main(argv) == 2
    assert message.format(train=train_file) in capsys.readouterr().err
    assert not (tmp_path / "student").exists()
