"""Training without dev (--dev-fraction 0) and the refit: dev chooses, then everything trains."""

from __future__ import annotations

import dataclasses
import json
import shutil
from pathlib import Path

import pytest
from student_support import one_thread, tiny_encoder
from training_support import write_records
from transformers import AutoConfig

import adekd
from adekd.cli import main as adekd_main
from adekd.hub import model_card
from adekd.metrics import score
from adekd.records import read_jsonl, write_jsonl
from adekd.training import TrainingConfig, TrainingConfigError, refit
from adekd.training.refit import refit_config, selection_config


@pytest.fixture(autouse=True, scope="module")
def _one_thread():
    with one_thread():
        yield


@pytest.fixture(scope="module")
def refit_run(tmp_path_factory):
    """One ``adekd train --refit --tune-thresholds`` run on 40 sentences (10 carved out as dev)."""
    root = tmp_path_factory.mktemp("refit")
    encoder = tiny_encoder(root / "encoder")
    train = write_records(root / "train.jsonl", 40)
    test = write_records(root / "test.jsonl", 6, 1, "t")
    output = root / "student"
    argv = ["train", "--train", str(train), "--test", str(test), "--output", str(output), "--encoder",
            str(encoder), "--epochs", "3", "--early-stopping-patience", "1", "--batch-size", "8",
            "--dev-fraction", "0.25", "--tune-thresholds", "--refit"]  # fmt: skip
    assert adekd_main(argv) == 0
    return {"argv": argv, "output": output, "test": test}


def test_the_refit_trains_on_all_records_for_the_epochs_dev_chose(refit_run):
    output = refit_run["output"]
    selection = json.loads((output / "selection" / "metrics.json").read_text())
    refit = json.loads((output / "metrics.json").read_text())
    assert selection["train"]["num_records"] == 30 and selection["dev"]["num_records"] == 10
    assert selection["test"] is None  # only the refit student is tested
    assert refit["train"]["num_records"] == 40 and refit["dev"] is None and refit["best"] is None
    assert refit["training"]["epochs_completed"] == selection["best"]["epoch"]
    assert refit["dev_history"] == []
    assert refit["selection"]["best"] == selection["best"] and refit["selection"]["dev"] == selection["dev"]
    assert refit["selection"]["output_dir"] == "selection"  # relative: the folder may move or be published
    assert TrainingConfig.load(output).refit  # the command that repeats both runs
    refit_run_config = TrainingConfig.load(sorted((output / "checkpoints").iterdir())[-1])
    assert (refit_run_config.dev_fraction, refit_run_config.refit) == (0.0, False)
    assert refit_run_config.epochs == selection["best"]["epoch"]


def test_the_refit_student_decodes_with_the_selections_thresholds_and_its_test_score_is_its_own(refit_run):
    output = refit_run["output"]
    refit = json.loads((output / "metrics.json").read_text())
    selection = json.loads((output / "selection" / "metrics.json").read_text())
    assert refit["thresholds"] == selection["thresholds"] is not None
    config = AutoConfig.from_pretrained(output)
    assert (config.drug_threshold, config.ade_threshold) == (
        selection["thresholds"]["drug_threshold"],
        selection["thresholds"]["ade_threshold"],
    )
    gold = read_jsonl(refit_run["test"])
    extracted = adekd.extract([{"id": r["id"], "text": r["text"]} for r in gold], model=output)
    assert score(extracted, gold)["strict_f1"] == pytest.approx(refit["test"]["metrics"]["strict_f1"])


def test_resuming_a_finished_refit_trains_nothing_and_a_fresh_one_is_refused(refit_run, capsys):
    output = refit_run["output"]
    weights = (output / "model.safetensors").read_bytes()
    assert adekd_main([*refit_run["argv"], "--resume"]) == 0
    assert (output / "model.safetensors").read_bytes() == weights
    capsys.readouterr()
    assert adekd_main(refit_run["argv"]) == 2
    assert "student already holds checkpoints of a run; pass --resume" in capsys.readouterr().err


def test_the_card_says_the_student_is_a_refit_and_reports_its_test(refit_run):
    card = str(model_card(refit_run["output"], load_id="org/refit-student"))
    assert "retrained on train and dev together for as long as a selection run with dev held out" in card
    assert "the learning rate decayed to zero over the refit's own run" in card
    assert "checkpoint kept" not in card


def test_what_would_stop_the_refit_stops_the_command_before_the_selection_trains(refit_run, tmp_path, capsys):
    argv = list(refit_run["argv"])
    stale = tmp_path / "stale"
    (stale / "checkpoints" / "step-00000001").mkdir(parents=True)  # an earlier run's checkpoint
    (stale / "checkpoints" / "step-00000001" / "trainer_state.json").write_text("{}")
    argv[argv.index("--output") + 1] = str(stale)
    assert adekd_main(argv) == 2
    assert "stale already holds checkpoints of a run; pass --resume" in capsys.readouterr().err
    argv[argv.index("--output") + 1] = str(tmp_path / "fresh")
    argv[argv.index("--test") + 1] = str(tmp_path / "missing.jsonl")
    assert adekd_main(argv) == 2
    assert "missing.jsonl" in capsys.readouterr().err
    assert not (stale / "selection").exists() and not (tmp_path / "fresh" / "selection").exists()


def test_without_dev_every_epoch_trains_and_the_last_weights_are_kept(tmp_path):
    encoder = tiny_encoder(tmp_path / "encoder")
    train = write_records(tmp_path / "train.jsonl", 16)
    output = tmp_path / "student"
    argv = ["train", "--train", str(train), "--output", str(output), "--encoder", str(encoder),
            "--epochs", "2", "--batch-size", "8", "--dev-fraction", "0"]  # fmt: skip
    assert adekd_main(argv) == 0
    metrics = json.loads((output / "metrics.json").read_text())
    assert metrics["train"]["num_records"] == 16 and metrics["dev"] is None
    assert metrics["training"]["epochs_completed"] == 2 and metrics["training"]["global_step"] == 4
    assert adekd.extract("Nausea after aspirin.", model=output)["text"] == "Nausea after aspirin."


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"dev_fraction": 0.0, "tune_thresholds": True}, "--tune-thresholds chooses on dev"),
        ({"refit": True, "dev": "dev.jsonl"}, "leave out --dev"),
        ({"refit": True, "dev_fraction": 0.0}, "keep --dev-fraction above 0"),
        ({"dev_fraction": 1.0}, "--dev-fraction must be in [0, 1)"),
    ],
)
def test_settings_that_leave_nothing_to_choose_on_are_refused(changes, message):
    with pytest.raises(TrainingConfigError, match=message.replace("[", r"\[").replace(")", r"\)")):
        TrainingConfig(train="train.jsonl", output_dir="out", **changes).validate()


def test_a_max_steps_refit_makes_as_many_passes_over_the_larger_data():
    selection = {"best": {"epoch": 2, "step": 30}, "train": {"num_records": 90}, "dev": {"num_records": 10}}
    config = TrainingConfig(train="t", output_dir="o", max_steps=40, refit=True)
    refit = refit_config(config, selection)
    assert (refit.max_steps, refit.dev_fraction, refit.refit) == (34, 0.0, False)
    assert refit.early_stopping_patience is None and not refit.tune_thresholds
    assert refit_config(TrainingConfig(train="t", output_dir="o", epochs=9), selection).epochs == 2


def test_a_refit_on_its_selections_schedule_stops_where_dev_chose_on_a_schedule_as_long():
    selection = {"best": {"epoch": 2, "step": 30}, "train": {"num_records": 90}, "dev": {"num_records": 10}}
    epochs = TrainingConfig(train="t", output_dir="o", epochs=9, refit=True, refit_schedule="selection")
    refit = refit_config(epochs, selection)
    assert (refit.epochs, refit.schedule_length, refit.refit_schedule) == (2, 9, "own")
    steps = refit_config(dataclasses.replace(epochs, max_steps=40), selection)
    assert (steps.max_steps, steps.schedule_length) == (34, 45)  # both grow with the data (dev joins)
    assert refit_config(dataclasses.replace(epochs, refit_schedule="own"), selection).schedule_length is None
    refit.validate()  # what train() checks first
    assert selection_config(epochs).refit_schedule == "own"  # the selection is the same either way


def test_a_refit_cut_short_resumes_only_on_the_schedule_it_started_with(refit_run, tmp_path, capsys):
    interrupted = tmp_path / "interrupted"
    shutil.copytree(refit_run["output"], interrupted)
    (interrupted / "metrics.json").unlink()  # cut short: the refit run's own config, no metrics yet
    shutil.copy(sorted((interrupted / "checkpoints").iterdir())[-1] / "training_config.json", interrupted)
    argv = list(refit_run["argv"])
    argv[argv.index("--output") + 1] = str(interrupted)
    assert adekd_main([*argv, "--resume", "--refit-schedule", "selection"]) == 2
    err = capsys.readouterr().err
    assert "started with --refit-schedule own, now selection; resume with --refit-schedule own" in err


def test_the_cli_refit_on_its_selections_schedule_records_the_schedule_it_followed(tmp_path):
    encoder = tiny_encoder(tmp_path / "encoder")
    train = write_records(tmp_path / "train.jsonl", 24)
    output = tmp_path / "student"
    argv = ["train", "--train", str(train), "--output", str(output), "--encoder", str(encoder),
            "--epochs", "3", "--batch-size", "8", "--dev-fraction", "0.25",
            "--refit", "--refit-schedule", "selection"]  # fmt: skip
    assert adekd_main(argv) == 0
    selection = json.loads((output / "selection" / "metrics.json").read_text())
    refit_run_config = TrainingConfig.load(sorted((output / "checkpoints").iterdir())[-1])
    assert (refit_run_config.epochs, refit_run_config.schedule_length) == (selection["best"]["epoch"], 3)
    assert TrainingConfig.load(output).refit_schedule == "selection"  # the command that repeats both runs
    assert TrainingConfig.load(output / "selection").refit_schedule == "own"
    card = str(model_card(output, load_id="org/refit-student"))
    assert "the learning rate followed the selection's schedule and stopped at the selected epoch" in card


def test_resuming_a_finished_refit_over_edited_data_is_refused(refit_run, capsys):
    train_file = Path(refit_run["argv"][refit_run["argv"].index("--train") + 1])
    records = read_jsonl(train_file)
    write_jsonl([{**records[0], "text": records[0]["text"] + " "}, *records[1:]], train_file)
    try:
        capsys.readouterr()
        assert adekd_main([*refit_run["argv"], "--resume"]) == 2
        assert f"holds a finished run of other data: --train {train_file} now holds other records" in (
            capsys.readouterr().err
        )
    finally:
        write_jsonl(records, train_file)


def test_a_refit_resumed_after_its_selection_refuses_data_that_changed_since(tmp_path, monkeypatch, capsys):
    encoder = tiny_encoder(tmp_path / "encoder")
    train_file = write_records(tmp_path / "train.jsonl", 24)
    output = tmp_path / "student"
    argv = ["train", "--train", str(train_file), "--output", str(output), "--encoder", str(encoder),
            "--epochs", "1", "--batch-size", "8", "--dev-fraction", "0.25", "--refit"]  # fmt: skip

    def killed(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(refit, "refit_config", killed)  # the selection finished, the refit never started
    assert adekd_main(argv) == 130  # Ctrl-C
    monkeypatch.undo()
    assert (output / "selection" / "metrics.json").is_file() and not (output / "metrics.json").exists()

    records = read_jsonl(train_file)
    write_jsonl([*records, {**records[0], "id": "added"}], train_file)  # one more sentence
    capsys.readouterr()
    assert adekd_main([*argv, "--resume"]) == 2
    err = capsys.readouterr().err
    assert f"{output / 'selection'} holds a finished run of other data" in err
    assert not (output / "metrics.json").exists()  # its epoch count was chosen on the old data

    write_jsonl(records, train_file)
    assert adekd_main([*argv, "--resume"]) == 0
    assert json.loads((output / "metrics.json").read_text())["train"]["num_records"] == 24
