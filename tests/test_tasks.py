"""Task specs: the built-in ADE task, files of the same shape, and clear errors for broken ones."""

from __future__ import annotations

import pytest
import yaml

from adekd.tasks import TaskError, builtin_tasks, load_task, read_task_file
from adekd.tasks.spec import task_from_dict


def test_ade_is_a_builtin_task_with_its_own_words():
    task = load_task("ade")
    assert "ade" in builtin_tasks()
    assert load_task() == task
    assert task.anchor.name == "drug" and task.target.label == "ADE"
    assert task.format_hint == (
        '{"drugs": [{"drug": "<drug, copied from the sentence>", '
        '"adverse_events": ["<adverse event, copied from the sentence>"]}]}'
    )
    assert task.type_names()["target_type"] == "adverse event"


def test_spec_round_trips_through_a_file(tmp_path):
    task = load_task("ade")
    path = tmp_path / "copy.yaml"
    path.write_text(yaml.safe_dump(task.to_dict()), encoding="utf-8")
    assert read_task_file(path) == task
    assert load_task(path) == task


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"name": "Bad Name"}, "lowercase"),
        ({"anchor": {"name": "gene"}}, "'anchor' is missing"),
        ({"answer_keys": {"anchors": "genes", "anchor": "genes", "targets": "diseases"}}, "three different"),
        ({"answer_keys": {"anchors": "gene list", "anchor": "gene", "targets": "ds"}}, "plain JSON key"),
        ({"colour": "blue"}, r"unknown keys \['colour'\]"),
        (
            {"target": {"name": "drug", "plural": "drugs", "label": "drug"}},
            "anchor.label and target.label must differ, both are 'DRUG'",
        ),
    ],
)
def test_broken_specs_name_the_problem(change, message):
    data = {**load_task("ade").to_dict(), **change}
    with pytest.raises(TaskError, match=message):
        task_from_dict(data, "toy.yaml")


def test_a_bad_example_is_named_when_the_spec_is_read():
    data = load_task("ade").to_dict()
    data["prompt"] = {**data["prompt"], "examples": [{"foo": 1}]}
    with pytest.raises(TaskError, match="toy.yaml: task 'ade' example 0: an example needs a 'text' string"):
        task_from_dict(data, "toy.yaml")


def test_prompt_without_text_slot_is_refused():
    data = load_task("ade").to_dict()
    data["prompt"]["user"] = "Sentence:"
    with pytest.raises(TaskError, match=r"\{text\} slot"):
        task_from_dict(data, "toy.yaml")


def test_unknown_task_lists_the_builtin_ones(tmp_path):
    with pytest.raises(TaskError, match="neither a built-in task .*ade"):
        load_task(tmp_path / "missing.yaml")
    broken = tmp_path / "broken.yaml"
    broken.write_text("name: [unclosed", encoding="utf-8")
    with pytest.raises(TaskError, match="broken.yaml"):
        load_task(broken)
