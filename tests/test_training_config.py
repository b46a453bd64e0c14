"""TrainingConfig: validation messages, JSON round trip, flags generated from fields, resume checks."""

from __future__ import annotations

import argparse
import dataclasses
import json

import pytest

from adekd.training.arguments import add_training_arguments, config_from_args, parse_folds
from adekd.training.config import (
    CONFIG_NAME,
    TrainingConfig,
    TrainingConfigError,
    check_resume_compatible,
    flag_name,
)


def _parse(*argv: str) -> argparse.Namespace:
    return add_training_arguments(argparse.ArgumentParser()).parse_args(list(argv))


def test_every_field_has_a_flag_and_defaults_match_the_dataclass():
    config = config_from_args(_parse())
    assert config == TrainingConfig()
    parser = add_training_arguments(argparse.ArgumentParser())
    flags = {option for action in parser._actions for option in action.option_strings}
    for field in dataclasses.fields(TrainingConfig):
        assert flag_name(field.name) in flags, field.name
        assert field.metadata.get("help"), f"{field.name} has no help text"


def test_flags_map_onto_typed_fields():
    config = config_from_args(
        _parse(
            "--train", "t.jsonl", "--output", "out", "--epochs", "3", "--max-steps", "7",
            "--learning-rate", "3e-5", "--head-learning-rate", "none", "--early-stopping-patience", "none",
            "--no-group-by-length", "--lora", "--lora-target-modules", "query", "key", "value",
            "--mixed-precision", "bf16", "--on-invalid", "skip",
        )
    )  # fmt: skip
    assert config.train == "t.jsonl" and config.output_dir == "out"
    assert config.epochs == 3 and config.max_steps == 7 and config.learning_rate == 3e-5
    assert config.head_learning_rate is None and config.early_stopping_patience is None
    assert config.group_by_length is False and config.lora is True
    assert config.lora_target_modules == ["query", "key", "value"]
    assert config.mixed_precision == "bf16" and config.on_invalid == "skip"


def test_bad_choice_is_refused_by_the_parser(capsys):
    with pytest.raises(SystemExit):
        _parse("--mixed-precision", "fp8")
    assert "--mixed-precision" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"train": None}, "--train is required"),
        ({"output_dir": None}, "--output is required"),
        ({"encoder": "x", "init": "y"}, "either --encoder"),
        ({"epochs": 0}, "--epochs must be at least 1"),
        ({"max_steps": 0}, "--max-steps must be at least 1"),
        ({"dev_fraction": 1.5}, "--dev-fraction"),
        ({"warmup_ratio": 1.0}, "--warmup-ratio"),
        ({"ema_decay": 1.0}, "--ema-decay must be in"),
        ({"learning_rate": 0.0}, "learning rates must be positive"),
        ({"max_grad_norm": -1.0}, "--max-grad-norm must be positive"),
        ({"weight_decay": -5.0}, "--weight-decay must not be negative"),
        ({"lora_dropout": 2.0}, r"--lora-dropout must be in \[0, 1\)"),
        ({"lora": True, "lora_target_modules": []}, "--lora needs"),
        ({"reencode_per_drug": True, "architecture": "pairwise"}, "--reencode-per-drug is a drug_centric"),
        ({"metric_for_best_model": "f1"}, "--metric-for-best-model 'f1' is not an ade_f1 value"),
        ({"refit_schedule": "selection"}, "--refit-schedule selection shapes a refit: add --refit"),
        ({"refit_schedule": "warm"}, "--refit-schedule must be 'own' or 'selection'"),
        ({"epochs": 4, "schedule_length": 3}, r"--schedule-length 3 is shorter than the run \(--epochs 4\)"),
        ({"max_steps": 9, "schedule_length": 8}, r"is shorter than the run \(--max-steps 9\)"),
    ],
)
def test_validate_names_the_flag(changes, message):
    config = dataclasses.replace(TrainingConfig(train="t.jsonl", output_dir="out"), **changes)
    with pytest.raises(TrainingConfigError, match=message):
        config.validate()


def test_json_round_trip(tmp_path):
    config = TrainingConfig(
        train="t.jsonl", output_dir="out", lora=True, lora_target_modules=["query"], seed=7
    )
    path = config.save(tmp_path)
    assert path.endswith(CONFIG_NAME)
    assert TrainingConfig.load(tmp_path) == config


def test_a_config_saved_before_later_fields_existed_loads_with_their_defaults_and_resumes(tmp_path):
    config = TrainingConfig(train="t.jsonl", output_dir="out", epochs=4)
    older = {k: v for k, v in config.to_dict().items() if k not in ("schedule_length", "refit_schedule")}
    (tmp_path / CONFIG_NAME).write_text(json.dumps(older))
    loaded = TrainingConfig.load(tmp_path)
    assert (loaded.schedule_length, loaded.refit_schedule) == (None, "own")
    check_resume_compatible(loaded, dataclasses.replace(config, resume=True), "out/checkpoints/step-00000010")


def test_load_rejects_unknown_fields(tmp_path):
    (tmp_path / CONFIG_NAME).write_text('{"train": "t", "warp_speed": 9}')
    with pytest.raises(TrainingConfigError, match="warp_speed"):
        TrainingConfig.load(tmp_path)


def test_resume_with_another_configuration_is_refused_with_the_differences():
    saved = TrainingConfig(train="t.jsonl", output_dir="out", learning_rate=5e-5, batch_size=32)
    current = dataclasses.replace(saved, learning_rate=1e-4, batch_size=16, resume=True)
    with pytest.raises(TrainingConfigError) as err:
        check_resume_compatible(saved, current, "out/checkpoints/step-00000010")
    message = str(err.value)
    assert "--learning-rate: checkpoint 5e-05, now 0.0001" in message
    assert "--batch-size: checkpoint 32, now 16" in message
    assert "step-00000010" in message


def test_resume_may_change_how_but_not_what():
    saved = TrainingConfig(train="t.jsonl", output_dir="out")
    moved = dataclasses.replace(saved, output_dir="moved", resume=True, num_workers=2, logging_steps=1)
    check_resume_compatible(saved, moved, "moved/checkpoints/step-1")


def test_parse_folds():
    assert parse_folds(None) is None
    assert parse_folds("0,1, 3") == [0, 1, 3]
    with pytest.raises(TrainingConfigError, match="--folds"):
        parse_folds("0,a")
