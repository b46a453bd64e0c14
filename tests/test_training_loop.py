"""The training loop end to end on a tiny random BERT: CLI, student folder, resume, bad input."""

from __future__ import annotations

import dataclasses
import json
import shutil
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file
from student_support import tiny_encoder
from training_support import average_state, make_records, write_records

import adekd.training.loop as loop
from adekd.cli import main as adekd_main
from adekd.hub import model_card
from adekd.modeling import AdeStudentForExtraction
from adekd.records import read_jsonl, short_hash, write_jsonl
from adekd.training import TrainingConfig, TrainingConfigError, train
from adekd.training.checkpoints import list_checkpoints
from adekd.training.config import config_differences
from adekd.training.data import carve_dev_split
from adekd.training.metrics_file import finished_fingerprints


@pytest.fixture(scope="module")
def encoder(tmp_path_factory) -> Path:
    return tiny_encoder(tmp_path_factory.mktemp("encoder"))


@pytest.fixture(scope="module")
def data(tmp_path_factory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("data")
    return {
        "train": write_records(folder / "train.jsonl", 22),
        "test": write_records(folder / "test.jsonl", 6, seed=1, prefix="t"),
    }


def _config(encoder: Path, data: dict[str, Path], output: Path, **changes) -> TrainingConfig:
    base = TrainingConfig(
        train=str(data["train"]),
        output_dir=str(output),
        encoder=str(encoder),
        epochs=3,
        batch_size=4,
        early_stopping_patience=None,
        logging_steps=2,
    )
    return dataclasses.replace(base, **changes)


def test_cli_train_writes_a_loadable_student_folder(encoder, data, tmp_path):
    output = tmp_path / "student"
    argv = ["train", "--train", str(data["train"]), "--test", str(data["test"]), "--output", str(output),
            "--encoder", str(encoder), "--epochs", "2", "--batch-size", "4",
            "--logging-steps", "1"]  # fmt: skip
    assert adekd_main(argv) == 0

    names = {p.name for p in output.iterdir()}
    assert {"config.json", "model.safetensors", "tokenizer.json", "training_config.json", "metrics.json",
            "training_log.jsonl", "training_log.csv", "checkpoints"} <= names  # fmt: skip
    assert "best" not in names
    config = TrainingConfig.load(output)
    assert config.epochs == 2 and config.train == str(data["train"]) and config.encoder == str(encoder)

    metrics = json.loads((output / "metrics.json").read_text())
    assert metrics["format"] == "adekd-training-metrics/1"
    assert metrics["encoder"] == str(encoder) and metrics["architecture"] == "drug_centric"
    assert metrics["train"]["num_records"] + metrics["dev"]["num_records"] == 22
    assert metrics["dev"]["carved_from_train"] is True and metrics["dev"]["split"] == "dev"
    assert metrics["test"]["num_records"] == 6 and metrics["test"]["name"] == "test"
    # fingerprints of the records each split held: what a repeat of the run compares
    assert metrics["test"]["records_fingerprint"] == short_hash(read_jsonl(data["test"]))
    assert len({metrics[split]["records_fingerprint"] for split in ("train", "dev", "test")}) == 3
    for split in ("dev", "test"):
        scores = metrics[split]["metrics"]
        assert {"strict_f1", "lenient_f1", "drug_strict_f1", "ade_strict_f1"} <= set(scores)
        assert scores["num_records"] == metrics[split]["num_records"]
    assert metrics["training"]["global_step"] == 2 * 5 and metrics["training"]["epochs_completed"] == 2
    assert metrics["best"]["metric"] == "strict_f1" and metrics["best"]["step"] in (5, 10)
    assert len(metrics["dev_history"]) == 2
    assert metrics["parameters"]["trainable"] == metrics["parameters"]["total"] > 0
    assert metrics["hardware"]["num_processes"] == 1 and metrics["versions"]["torch"]

    log = [json.loads(line) for line in (output / "training_log.jsonl").read_text().splitlines()]
    assert [row["step"] for row in log if "train/loss" in row] == list(range(1, 11))
    assert sum("dev/strict_f1" in row for row in log) == 2

    from transformers import AutoModel

    import adekd

    model = AutoModel.from_pretrained(output)
    assert isinstance(model, adekd.AdeStudentForExtraction)
    record = adekd.extract("Rash after aspirin.", model=str(output))
    assert record["text"] == "Rash after aspirin."


@pytest.mark.parametrize("ema_decay", [None, 0.9])
def test_resume_mid_epoch_reaches_the_same_weights(encoder, data, tmp_path, monkeypatch, ema_decay):
    changes = {"save_steps": 4, "ema_decay": ema_decay}
    full = _config(encoder, data, tmp_path / "full", **changes)
    last_step = train(full)["training"]["global_step"]  # 20 training sentences / 4 = 5 steps per epoch

    class Crash(Exception):
        pass

    rotate = loop.rotate_checkpoints

    def crash_after_step_8(output_dir: str, keep: int) -> None:
        rotate(output_dir, keep)
        if any(path.endswith("step-00000008") for path in list_checkpoints(output_dir)):
            raise Crash

    interrupted = _config(encoder, data, tmp_path / "resumed", **changes)
    monkeypatch.setattr(loop, "rotate_checkpoints", crash_after_step_8)
    with pytest.raises(Crash):
        train(interrupted)
    monkeypatch.undo()
    assert list_checkpoints(interrupted.output_dir)[-1].endswith("step-00000008")  # mid-epoch 2
    assert not (tmp_path / "resumed" / "metrics.json").exists()

    resumed = train(dataclasses.replace(interrupted, resume=True))
    assert train(dataclasses.replace(interrupted, resume=True)) == resumed  # finished: nothing left to do

    for name in (f"checkpoints/step-{last_step:08d}/model.safetensors", "model.safetensors"):
        expected, resumed = load_file(tmp_path / "full" / name), load_file(tmp_path / "resumed" / name)
        assert expected.keys() == resumed.keys()
        for key in expected:
            assert torch.equal(expected[key], resumed[key]), f"{name}: {key} differs"
    history = [
        json.loads((tmp_path / run / "metrics.json").read_text())["dev_history"]
        for run in ("full", "resumed")
    ]
    assert history[0] == history[1]
    if ema_decay:  # the average went on from where the checkpoint left it
        last = f"checkpoints/step-{last_step:08d}"
        averages = [average_state(tmp_path / run / last) for run in ("full", "resumed")]
        assert averages[0]["updates"] == averages[1]["updates"] == last_step
        for key, value in averages[0]["shadow"].items():
            assert torch.equal(value, averages[1]["shadow"][key]), f"average of {key} differs"


def test_a_checkpoint_torn_while_saving_is_passed_over_and_saved_again(
    encoder, data, tmp_path, monkeypatch, caplog
):
    changes = {"save_steps": 4, "save_total_limit": 1}
    full = _config(encoder, data, tmp_path / "full", **changes)
    last_step = train(full)["training"]["global_step"]

    class Crash(Exception):
        pass

    save_json = loop.TrainerState.save_json

    def crash_saving_step_8(state, folder: str) -> None:
        if state.global_step == 8:  # Ctrl-C after the weights, before the state file written last
            raise Crash
        save_json(state, folder)

    interrupted = _config(encoder, data, tmp_path / "resumed", **changes)
    monkeypatch.setattr(loop.TrainerState, "save_json", crash_saving_step_8)
    with pytest.raises(Crash):
        train(interrupted)
    monkeypatch.undo()
    torn = tmp_path / "resumed" / "checkpoints" / "step-00000008"
    assert (torn / "model.safetensors").is_file() and list_checkpoints(interrupted.output_dir) == [
        str(tmp_path / "resumed" / "checkpoints" / "step-00000005")  # the end of epoch 1
    ]

    with caplog.at_level("WARNING", logger="adekd.training.checkpoints"):
        train(dataclasses.replace(interrupted, resume=True))
    assert f"ignoring {torn}, whose saving was cut short" in caplog.text
    assert "resuming from step-00000005" in caplog.text
    assert [Path(path).name for path in list_checkpoints(interrupted.output_dir)] == [f"step-{last_step:08d}"]
    assert list_checkpoints(interrupted.output_dir, complete=False) == []  # step 8 saved again in full
    expected, resumed = (
        load_file(tmp_path / "full" / "model.safetensors"),
        load_file(torn.parent.parent / "model.safetensors"),
    )
    assert all(torch.equal(expected[key], resumed[key]) for key in expected)


def test_with_ema_the_student_holds_the_average_and_the_raw_weights_keep_training(encoder, data, tmp_path):
    config = _config(encoder, data, tmp_path / "run", dev_fraction=0.0, ema_decay=0.5)
    last_step = train(config)["training"]["global_step"]
    checkpoint = tmp_path / "run" / f"checkpoints/step-{last_step:08d}"
    average, raw = average_state(checkpoint)["shadow"], load_file(checkpoint / "model.safetensors")
    student = load_file(tmp_path / "run" / "model.safetensors")
    assert average.keys() == raw.keys() == student.keys()  # every weight of a full fine-tune is trained
    assert all(torch.equal(student[key], average[key]) for key in average)
    assert not all(torch.equal(raw[key], average[key]) for key in average)
    card = str(model_card(tmp_path / "run", load_id="org/student"))
    assert "| ema_decay | 0.5 |" in card


def test_resume_from_another_configuration_is_refused_before_training(encoder, data, tmp_path):
    config = _config(encoder, data, tmp_path / "run", epochs=1)
    train(config)
    (tmp_path / "run" / "metrics.json").unlink()  # as if killed after its last checkpoint
    before = list_checkpoints(config.output_dir)
    changed = dataclasses.replace(config, learning_rate=1e-3, resume=True)
    with pytest.raises(
        TrainingConfigError,
        match=r"cannot resume from .*step-00000005: .*--learning-rate: checkpoint 5e-05, now 0\.001",
    ):
        train(changed)
    assert list_checkpoints(config.output_dir) == before


def test_fresh_run_refuses_a_folder_with_checkpoints(encoder, data, tmp_path):
    config = _config(encoder, data, tmp_path / "run", max_steps=2)
    train(config)
    with pytest.raises(TrainingConfigError, match="pass --resume"):
        train(config)


def test_a_finished_student_without_its_checkpoints_is_never_trained_over(encoder, data, tmp_path, capsys):
    output = tmp_path / "run"
    config = _config(encoder, data, output, max_steps=1)
    finished = train(config)
    shutil.rmtree(output / "checkpoints")  # as `adekd distill` leaves a student, or a user freeing space
    kept = {name: (output / name).read_bytes() for name in ("model.safetensors", "training_log.jsonl")}

    argv = ["train", "--train", str(data["train"]), "--output", str(output), "--encoder", str(encoder),
            "--max-steps", "2"]  # fmt: skip
    assert adekd_main(argv) == 2
    assert f"{output} already holds a finished student (metrics.json); choose another --output" in (
        capsys.readouterr().err
    )
    with pytest.raises(
        TrainingConfigError, match=r"trained with other flags \(--max-steps: trained 1, now 2\)"
    ):
        train(dataclasses.replace(config, max_steps=2, resume=True))
    assert train(dataclasses.replace(config, resume=True)) == finished  # same flags: nothing left to do
    assert kept == {name: (output / name).read_bytes() for name in kept}
    assert not (output / "checkpoints").exists()


def test_a_fresh_run_takes_an_empty_folder_but_no_folder_with_other_files(encoder, data, tmp_path):
    busy = tmp_path / "busy"
    busy.mkdir()
    (busy / "notes.txt").write_text("mine")
    for resume in (False, True):  # --resume with nothing to resume does not train over them either
        with pytest.raises(
            TrainingConfigError, match=r"busy is not empty \(notes\.txt\); choose another --output"
        ):
            train(_config(encoder, data, busy, max_steps=1, resume=resume))
    assert [p.name for p in busy.iterdir()] == ["notes.txt"]

    empty = tmp_path / "empty"
    empty.mkdir()
    assert train(_config(encoder, data, empty, max_steps=1))["training"]["global_step"] == 1


def test_a_run_cut_short_before_its_first_checkpoint_restarts_without_mixing_or_losing_weights(
    encoder, data, tmp_path, monkeypatch
):
    class Crash(Exception):
        pass

    def crash(*args):
        raise Crash

    config = _config(encoder, data, tmp_path / "run", max_steps=1)
    monkeypatch.setattr(loop, "checkpoint_dir", crash)
    with pytest.raises(Crash):
        train(config)
    monkeypatch.undo()
    assert (tmp_path / "run" / "training_config.json").is_file() and not list_checkpoints(config.output_dir)

    with pytest.raises(TrainingConfigError, match=r"--learning-rate: cut-short run 5e-05, now 0\.001"):
        train(dataclasses.replace(config, learning_rate=1e-3, resume=True))
    assert train(dataclasses.replace(config, resume=True))["training"]["global_step"] == 1
    events = [json.loads(line).get("event") for line in (tmp_path / "run" / "training_log.jsonl").open()]
    assert events.count("config") == 1  # the cut-short start was cleared, not appended to

    # a fresh run may restart one cut short before it kept any weights, with other flags
    monkeypatch.setattr(loop, "evaluate", crash)  # before the first dev score kept best weights
    with pytest.raises(Crash):
        train(dataclasses.replace(config, output_dir=str(tmp_path / "again")))
    monkeypatch.undo()
    restarted = train(dataclasses.replace(config, output_dir=str(tmp_path / "again"), learning_rate=1e-3))
    assert restarted["training"]["global_step"] == 1
    # but not one that kept best dev weights: those go only with --resume (the same run again)
    monkeypatch.setattr(loop, "checkpoint_dir", crash)
    with pytest.raises(Crash):
        train(dataclasses.replace(config, output_dir=str(tmp_path / "kept")))
    monkeypatch.undo()
    with pytest.raises(TrainingConfigError, match="cut short before its first checkpoint, with its best dev"):
        train(dataclasses.replace(config, output_dir=str(tmp_path / "kept"), learning_rate=1e-3))


def test_resume_compares_local_paths_resolved_and_hub_ids_as_written(encoder, data, tmp_path, monkeypatch):
    monkeypatch.chdir(data["train"].parent)
    config = _config(encoder, data, tmp_path / "run", max_steps=1, train=data["train"].name)
    finished = train(config)
    for same in (f"./{data['train'].name}", str(data["train"])):
        assert train(dataclasses.replace(config, train=same, resume=True)) == finished
    hub = TrainingConfig(train="org/ade-silver", output_dir="o")
    assert config_differences(hub, dataclasses.replace(hub, train="./org/ade-silver")) == [
        "--train: checkpoint 'org/ade-silver', now './org/ade-silver'"
    ]


def test_max_steps_and_gradient_accumulation_from_an_init_folder(encoder, data, tmp_path):
    from adekd.modeling import init_student

    start = init_student(tmp_path / "init", encoder, fusion="product")
    config = _config(encoder, data, tmp_path / "run", max_steps=4, gradient_accumulation_steps=2)
    config = dataclasses.replace(config, encoder=None, init=str(start))
    metrics = train(config)
    assert metrics["training"]["global_step"] == 4
    # 20 sentences in 5 batches of 4: an epoch is 3 optimizer steps (2 + 2 + 1 batches), so step 4 is
    # the first two batches of epoch 2.
    assert metrics["training"]["sentences_seen"] == 20 + 8
    assert [(h["epoch"], h["step"]) for h in metrics["dev_history"]] == [(1, 3), (1, 4)]
    assert json.loads((tmp_path / "run" / "config.json").read_text())["fusion"] == "product"
    assert metrics["encoder"] == str(encoder)


@pytest.mark.parametrize(
    ("cut", "whole"),
    [
        ({"epochs": 1, "schedule_length": 2}, {"epochs": 2}),
        ({"max_steps": 3, "schedule_length": 6}, {"max_steps": 6}),
    ],
)
def test_a_run_stopped_partway_along_a_longer_schedule_retraces_its_learning_rates(
    encoder, data, tmp_path, cut, whole
):
    def learning_rates(output: Path, **changes) -> list[float]:
        train(_config(encoder, data, output, logging_steps=1, **changes))
        log = [json.loads(line) for line in (output / "training_log.jsonl").read_text().splitlines()]
        return [row["train/learning_rate"] for row in log if "train/learning_rate" in row]

    stopped = learning_rates(tmp_path / "cut", **cut)
    assert len(stopped) == (5 if "epochs" in cut else 3)  # 20 sentences, batches of 4: 5 steps an epoch
    assert stopped == learning_rates(tmp_path / "whole", **whole)[: len(stopped)]
    assert stopped[-1] > 0.4 * max(stopped)  # halfway along the schedule, not decayed to zero
    own = {name: value for name, value in cut.items() if name != "schedule_length"}
    assert learning_rates(tmp_path / "own", **own)[-1] == 0


def test_trainings_in_one_process_each_take_their_own_mixed_precision(
    encoder, data, tmp_path, monkeypatch, caplog
):
    # Accelerate keeps one state per process: a bf16 run used to make the next fp32 run fail
    monkeypatch.setattr("adekd.hardware.cpu_has_native_bf16", lambda: False)  # CPU flags are fixed here
    with caplog.at_level("WARNING", logger="adekd.hardware"):
        for precision in ("bf16", "no"):
            train(_config(encoder, data, tmp_path / precision, max_steps=2, mixed_precision=precision))
            saved = json.loads((tmp_path / precision / "training_config.json").read_text())
            assert saved["mixed_precision"] == precision
    warnings = [r.getMessage() for r in caplog.records if r.name == "adekd.hardware"]
    assert len(warnings) == 1 and warnings[0].startswith(
        "--mixed-precision bf16 on a CPU without native bfloat16"
    )


def test_reencode_per_drug_trains_a_student_that_marks_each_drug(encoder, data, tmp_path):
    metrics = train(_config(encoder, data, tmp_path / "run", max_steps=2, reencode_per_drug=True))
    assert metrics["training"]["global_step"] == 2
    student = AdeStudentForExtraction.from_pretrained(tmp_path / "run")
    assert student.config.reencode_per_drug and student.config.drug_marker_ids is not None
    again = dataclasses.replace(
        _config(encoder, data, tmp_path / "again", max_steps=1), encoder=None, init=str(tmp_path / "run")
    )
    with pytest.raises(TrainingConfigError, match="--reencode-per-drug apply to a new student"):
        train(dataclasses.replace(again, reencode_per_drug=True))


def test_not_an_encoder_is_refused_before_training(data, tmp_path, capsys):
    from transformers import GPT2Config

    decoder = tmp_path / "gpt2"
    GPT2Config(n_layer=1, n_embd=16, n_head=2).save_pretrained(decoder)
    output = tmp_path / "out"
    code = adekd_main(
        ["train", "--train", str(data["train"]), "--output", str(output), "--encoder", str(decoder)]
    )
    assert code == 2
    assert "'gpt2' model, not a BERT-family encoder" in capsys.readouterr().err
    assert list_checkpoints(str(output)) == []


def test_invalid_records_are_reported_before_training(encoder, tmp_path, capsys):
    records = make_records(8)
    records[4]["ades"][0]["drug"] = 3
    path = tmp_path / "bad.jsonl"
    write_jsonl(records, path)
    output = tmp_path / "out"
    code = adekd_main(["train", "--train", str(path), "--output", str(output), "--encoder", str(encoder)])
    err = capsys.readouterr().err
    assert code == 2
    assert "1 of 8 records are invalid" in err and "'r4'" in err and "--on-invalid skip" in err
    assert list_checkpoints(str(output)) == []


def test_resume_over_data_that_changed_under_the_same_flags_is_refused(encoder, data, tmp_path, monkeypatch):
    train_file = Path(shutil.copy(data["train"], tmp_path / "train.jsonl"))
    config = _config(encoder, {"train": train_file}, tmp_path / "run", epochs=2, save_steps=3)

    class Crash(Exception):
        pass

    def crash(output_dir: str, keep: int) -> None:
        raise Crash

    monkeypatch.setattr(loop, "rotate_checkpoints", crash)  # killed right after its first checkpoint
    with pytest.raises(Crash):
        train(config)
    monkeypatch.undo()
    records = read_jsonl(train_file)
    write_jsonl([{**records[0], "text": records[0]["text"] + " "}, *records[1:]], train_file)  # one edit
    with pytest.raises(
        TrainingConfigError,
        match=rf"cannot resume from .*step-00000003: --train {train_file} now holds other records than "
        "the run read",
    ):
        train(dataclasses.replace(config, resume=True))

    write_jsonl(records, train_file)  # the data restored: the run resumes and finishes
    finished = train(dataclasses.replace(config, resume=True))
    assert finished["training"]["global_step"] == 10

    # a finished run is not handed back as the student of data that changed since
    dev_ids = {r["id"] for r in carve_dev_split(records, config.dev_fraction, config.seed)[1]}
    edited = [{**r, "text": r["text"] + " "} if r["id"] in dev_ids else r for r in records]
    write_jsonl(edited, train_file)
    with pytest.raises(
        TrainingConfigError,
        match=rf"run holds a finished run of other data: the dev carved from --train {train_file} now holds",
    ):
        train(dataclasses.replace(config, resume=True))
    write_jsonl(records, train_file)
    assert train(dataclasses.replace(config, resume=True)) == finished


def test_fingerprints_of_a_finished_run_are_read_under_both_names_or_not_at_all():
    """metrics.json named them records_sha256 in the version that introduced them; earlier ones have none."""
    metrics = {"train": {"records_sha256": "a1"}, "dev": None, "test": {"records_fingerprint": "b2"}}
    assert finished_fingerprints(metrics) == {"--train": "a1", "--test": "b2"}
    assert finished_fingerprints({"train": {"num_records": 3}, "dev": None, "test": None}) == {}
