"""``adekd distill --task FILE``: a third task, defined by a spec file only, runs end to end.

The teacher is the teacher tests' OpenAI-compatible server on 127.0.0.1, answering in the toy
task's keys; the student is the tiny random BERT of the distillation tests.
"""

from __future__ import annotations

import json
from pathlib import Path

import datasets
import pytest
from student_support import tiny_encoder
from task_support import TOY_WORDS, toy_answer, toy_task_file
from teacher_server import FakeOpenAIServer
from test_distill import labeled

from adekd.cli import main
from adekd.distill import DistillConfig
from adekd.distill.config import DistillConfigError
from adekd.records import read_jsonl, write_jsonl
from adekd.teacher.run import LabelConfig


@pytest.fixture
def inputs(tmp_path) -> tuple[Path, Path]:
    records = [labeled(i) for i in range(40)]
    (tmp_path / "sentences.txt").write_text("".join(r["text"] + "\n" for r in records[:32]), encoding="utf-8")
    write_jsonl(records[32:], tmp_path / "gold.jsonl")
    return tmp_path / "sentences.txt", tmp_path / "gold.jsonl"


def test_distill_a_task_given_as_a_spec_file(tmp_path, inputs, capsys):
    spec = toy_task_file(tmp_path / "tasks")
    run = tmp_path / "run"
    with FakeOpenAIServer(answer=toy_answer) as server:
        code = main(
            ["distill", "--task", str(spec), "--input", str(inputs[0]), "--gold", str(inputs[1]),
             "--output", str(run), "--teacher", "openai", "--model", "teacher", "--base-url", server.url,
             "--encoder", str(tiny_encoder(tmp_path / "encoder")), "--epochs", "2",
             "--min-silver-records", "10"]
        )  # fmt: skip
        systems = {r["body"]["messages"][0]["content"] for r in server.chat_requests()}
    out = capsys.readouterr().out
    assert code == 0, out
    assert out.startswith("task: toy-exposure (Exposure outcomes)")
    assert "32 records, 32 exposures, 32 outcomes" in out

    # the teacher was asked the toy task's question, and its answers in the toy keys became labels
    assert len(systems) == 1 and "List every exposure of the sentence" in systems.pop()
    summary = json.loads((run / "summary.json").read_text())
    assert summary["task"] == {"title": "Exposure outcomes", **TOY_WORDS}
    assert summary["teacher"]["scores"]["strict_f1"] == 1.0
    silver = datasets.load_dataset(str(run / "silver"), split="train")
    assert set(silver["task"]) == {"toy-exposure"}

    # the student carries the task's words, and so do its predictions and both cards
    config = json.loads((run / "student" / "config.json").read_text())
    assert {name: config[name] for name in TOY_WORDS} == TOY_WORDS
    predicted = read_jsonl(run / "eval" / "student_predictions.jsonl")
    labels = {span["label"] for r in predicted for span in r["drugs"] + r["ades"]}
    assert labels <= {"EXPOSURE", "OUTCOME"}
    model_card = (run / "hub" / "run-student" / "README.md").read_text()
    dataset_card = (run / "hub" / "run-silver" / "README.md").read_text()
    for card in (model_card, dataset_card):
        assert "task **Exposure outcomes** (`toy-exposure`)" in card and "exposure-outcomes" in card
    assert "| (exposure, outcome) pairs | 100.00 | 100.00 | 100.00 |" in dataset_card


def test_the_task_is_set_once_for_teacher_and_student(tmp_path):
    spec = str(toy_task_file(tmp_path))
    with pytest.raises(DistillConfigError, match="teacher.task 'chemical-disease' differs from task"):
        DistillConfig(task=spec, teacher=LabelConfig(teacher="openai", task="chemical-disease")).validate()
    config = DistillConfig(task=spec, teacher=LabelConfig(teacher="openai"))
    config.student.task = spec
    with pytest.raises(DistillConfigError, match="student.task is set by adekd distill"):
        config.validate()
    with pytest.raises(DistillConfigError, match="task: task 'nope' is neither a built-in task"):
        DistillConfig(task="nope", teacher=LabelConfig(teacher="openai")).validate()
