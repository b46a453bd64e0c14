"""``adekd train --task``: the student gets the task's type names, and data of another task is refused."""

from __future__ import annotations

import pytest
from student_support import RECORDS, tiny_encoder
from task_support import TOY_WORDS, toy_task_file

from adekd.modeling import init_student
from adekd.training import TrainingConfig, TrainingConfigError
from adekd.training.student import build, check_task_labels


def test_task_words_go_into_a_new_student_and_retarget_an_init_student(tmp_path):
    encoder, spec = str(tiny_encoder(tmp_path / "encoder")), str(toy_task_file(tmp_path))
    model, _ = build(TrainingConfig(encoder=encoder, task=spec))
    assert model.config.type_names() == TOY_WORDS
    assert build(TrainingConfig(encoder=encoder))[0].config.task == "ade"
    ade_student = str(init_student(tmp_path / "ade", encoder))
    assert build(TrainingConfig(init=ade_student))[0].config.task == "ade"  # keeps its own task
    assert build(TrainingConfig(init=ade_student, task=spec))[0].config.type_names() == TOY_WORDS


def test_a_task_that_cannot_be_found_is_a_flag_error():
    with pytest.raises(TrainingConfigError, match="--task: task 'nope' is neither a built-in task"):
        TrainingConfig(train="x", output_dir="y", task="nope").validate()


def test_data_labeled_for_another_task_is_refused(tmp_path):
    model, _ = build(TrainingConfig(encoder=str(tiny_encoder(tmp_path / "encoder"))))
    check_task_labels(RECORDS, model, "--train gold.jsonl")  # unlabeled records of no task pass
    ade_labeled = [{**RECORDS[0], "task": "ade", "drugs": [{**RECORDS[0]["drugs"][0], "label": "DRUG"}]}]
    check_task_labels(ade_labeled, model, "--train silver")
    silver = [{**RECORDS[0], "task": "chemical-disease"}]
    with pytest.raises(TrainingConfigError, match=r"--train silver: records of task \['chemical-disease'\]"):
        check_task_labels(silver, model, "--train silver")
    relabeled = [{**RECORDS[0], "ades": [{**RECORDS[0]["ades"][0], "label": "DISEASE"}]}]
    with pytest.raises(TrainingConfigError, match=r"ades spans are labeled \['DISEASE'\], not 'ADE'.*--task"):
        check_task_labels(relabeled, model, "--train x")
