"""Two processes on CPU (gloo) through ``accelerate launch scripts/train.py``: the DDP code path."""

from __future__ import annotations

import dataclasses
import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import REPO
from student_support import tiny_encoder
from training_support import write_records

from adekd.cli import main as adekd_main
from adekd.training import TrainingConfig, TrainingConfigError, train


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _launch_two_processes(*flags: str) -> subprocess.CompletedProcess:
    """``accelerate launch`` two CPU processes (gloo) on ``scripts/train.py`` with ``flags``."""
    accelerate = Path(sys.executable).with_name("accelerate")
    command = [
        str(accelerate), "launch", "--multi_gpu", "--num_processes", "2", "--num_machines", "1",
        "--mixed_precision", "no", "--dynamo_backend", "no", "--main_process_port", str(_free_port()),
        str(REPO / "scripts" / "train.py"), *flags,
    ]  # fmt: skip
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    return subprocess.run(command, capture_output=True, text=True, env=env, timeout=600)


def _train_on_two_processes(*flags: str) -> None:
    done = _launch_two_processes(*flags)
    assert done.returncode == 0, done.stderr[-4000:]


@pytest.mark.slow
def test_a_checkpoint_of_one_process_is_not_resumed_by_two(tmp_path):
    """Two processes would take twice the sentences per step: another schedule, other batches skipped."""
    encoder = tiny_encoder(tmp_path / "encoder")
    train_path = write_records(tmp_path / "train.jsonl", 12)
    output = tmp_path / "student"
    flags = ["--train", str(train_path), "--output", str(output), "--encoder", str(encoder), "--epochs", "1",
             "--batch-size", "4", "--dev-fraction", "0"]  # fmt: skip
    assert adekd_main(["train", *flags]) == 0
    (output / "metrics.json").unlink()  # as if killed after its last checkpoint
    checkpoint = output / "checkpoints" / "step-00000003"
    assert [p.name for p in checkpoint.glob("random_states_*.pkl")] == ["random_states_0.pkl"]
    log = (output / "training_log.jsonl").read_text()

    done = _launch_two_processes(*flags, "--resume")
    assert done.returncode != 0
    assert f"cannot resume from {checkpoint}: it was written by 1 process and this run has 2" in done.stderr
    assert "resume with 1 process (plain adekd train)" in done.stderr
    assert "training on" not in done.stderr  # refused before the data or the model were loaded
    assert (output / "training_log.jsonl").read_text() == log
    assert not (output / "metrics.json").exists()


@pytest.mark.slow
def test_two_processes_gather_every_dev_record_once_and_only_the_main_one_writes(tmp_path):
    encoder = tiny_encoder(tmp_path / "encoder")
    train_path = write_records(tmp_path / "train.jsonl", 21)
    dev_path = write_records(tmp_path / "dev.jsonl", 7, seed=2, prefix="d")  # 4 batches of 2: uneven shards
    test_path = write_records(tmp_path / "test.jsonl", 5, seed=3, prefix="t")
    output = tmp_path / "student"
    _train_on_two_processes(
        "--train", str(train_path), "--dev", str(dev_path), "--test", str(test_path), "--output", str(output),
        "--encoder", str(encoder), "--epochs", "2", "--batch-size", "4", "--eval-batch-size", "2",
        "--logging-steps", "1", "--save-steps", "2", "--ema-decay", "0.5",
    )  # fmt: skip

    metrics = json.loads((output / "metrics.json").read_text())
    assert metrics["hardware"]["num_processes"] == 2
    assert metrics["hardware"]["distributed_type"] == "MULTI_CPU"
    assert metrics["dev"]["num_records"] == metrics["dev"]["metrics"]["num_records"] == 7
    assert metrics["test"]["metrics"]["num_records"] == 5
    for entry in metrics["dev_history"]:
        assert entry["num_records"] == 7
    # 21 sentences in batches of 4 per process: 6 batches, 3 steps per process and epoch.
    assert metrics["training"]["global_step"] == 6

    log = [json.loads(line) for line in (output / "training_log.jsonl").read_text().splitlines()]
    assert sum(row.get("event") == "config" for row in log) == 1
    assert [row["step"] for row in log if "train/loss" in row] == [1, 2, 3, 4, 5, 6]
    checkpoint = sorted((output / "checkpoints").iterdir())[-1]
    assert {"random_states_0.pkl", "random_states_1.pkl", "custom_checkpoint_1.pkl"} <= {
        p.name for p in checkpoint.iterdir()
    }  # custom_checkpoint_1: the moving average of the weights

    # The gathered dev score is what one process scores with the saved (best, averaged) weights: both
    # processes evaluated the same average.
    import adekd
    from adekd.metrics import score
    from adekd.records import read_jsonl

    dev = read_jsonl(dev_path)
    texts = [{"id": record["id"], "text": record["text"]} for record in dev]  # end to end: no drugs given
    again = score(adekd.extract(texts, model=str(output)), dev)
    best = metrics["dev"]["metrics"]
    for key in ("num_predicted", "strict_tp", "drug_num_predicted", "ade_num_predicted", "num_gold"):
        assert again[key] == best[key], key

    # Its checkpoints are not resumed by one process (half the sentences per step).
    (output / "metrics.json").unlink()  # as if killed after its last checkpoint
    resumed = dataclasses.replace(TrainingConfig.load(output), resume=True)
    with pytest.raises(TrainingConfigError, match="written by 2 processes and this run has 1"):
        train(resumed)


@pytest.mark.slow
def test_a_refit_runs_both_trainings_under_two_processes(tmp_path):
    encoder = tiny_encoder(tmp_path / "encoder")
    train_path = write_records(tmp_path / "train.jsonl", 24)
    output = tmp_path / "student"
    _train_on_two_processes(
        "--train", str(train_path), "--output", str(output), "--encoder", str(encoder), "--epochs", "2",
        "--batch-size", "4", "--eval-batch-size", "2", "--dev-fraction", "0.25", "--refit",
    )  # fmt: skip

    selection = json.loads((output / "selection" / "metrics.json").read_text())
    refit = json.loads((output / "metrics.json").read_text())
    assert refit["hardware"]["num_processes"] == selection["hardware"]["num_processes"] == 2
    assert refit["train"]["num_records"] == 24 and refit["dev"] is None
    assert refit["training"]["epochs_completed"] == selection["best"]["epoch"]
    # 24 sentences in batches of 4 per process: 3 steps per process and epoch.
    assert refit["training"]["global_step"] == 3 * selection["best"]["epoch"]
    assert refit["selection"]["best"] == selection["best"]
