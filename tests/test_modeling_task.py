"""A student speaks its task's words: type names in the config, labels on the pipeline's spans."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap

import pytest
from student_support import RECORDS, one_thread, tiny_encoder
from task_support import TOY_WORDS, retargeted_student, toy_task_file
from transformers import pipeline

import adekd
from adekd.cli import main
from adekd.metrics import score
from adekd.modeling import AdeStudentConfig, init_student
from adekd.records import validate_record
from adekd.tasks import load_task


def test_config_defaults_are_the_ade_task_and_a_task_round_trips(tmp_path):
    assert AdeStudentConfig().type_names() == load_task("ade").type_names()
    AdeStudentConfig(**TOY_WORDS, fusion="product").save_pretrained(tmp_path / "toy")
    saved = json.loads((tmp_path / "toy" / "config.json").read_text())
    assert {name: saved[name] for name in TOY_WORDS} == TOY_WORDS
    loaded = AdeStudentConfig.from_pretrained(tmp_path / "toy")
    assert loaded.type_names() == TOY_WORDS and loaded.fusion == "product"
    with pytest.raises(ValueError, match="anchor_label must be a non-empty string"):
        AdeStudentConfig(anchor_label=" ")


def test_a_config_saved_before_tasks_existed_loads_as_ade(tmp_path):
    AdeStudentConfig().save_pretrained(tmp_path)
    path = tmp_path / "config.json"
    old = {k: v for k, v in json.loads(path.read_text()).items() if k not in TOY_WORDS}
    path.write_text(json.dumps(old))
    assert AdeStudentConfig.from_pretrained(tmp_path).type_names() == load_task("ade").type_names()


REMOTE_CONFIG_SCRIPT = """
import json, sys
from transformers import AutoConfig

config = AutoConfig.from_pretrained(sys.argv[1], trust_remote_code=True)
assert type(config).__module__.startswith("transformers_modules"), type(config).__module__
print(json.dumps(config.type_names()))
"""


def test_the_task_words_load_through_trust_remote_code(tmp_path):
    folder = init_student(
        tmp_path / "student", tiny_encoder(tmp_path / "encoder"), task=toy_task_file(tmp_path)
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTHON", "HF_"))}
    env |= {"HF_HOME": str(tmp_path / "hf"), "HF_HUB_OFFLINE": "1"}
    done = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(REMOTE_CONFIG_SCRIPT), str(folder)],
        cwd=tmp_path, env=env, check=True, timeout=300, capture_output=True, text=True,
    )  # fmt: skip
    assert json.loads(done.stdout.strip().splitlines()[-1]) == TOY_WORDS


@pytest.fixture(scope="module")
def toy_student(tiny_trained_student, tmp_path_factory):
    """The tiny trained student, retargeted to the toy task by its config alone."""
    return retargeted_student(tiny_trained_student, tmp_path_factory.mktemp("toy") / "student")


def test_pipeline_spans_carry_the_task_labels(toy_student, tiny_trained_student):
    with one_thread():
        toy = pipeline("ade-extraction", model=str(toy_student))({"id": "two", "text": RECORDS[1]["text"]})
        ade = adekd.extract(RECORDS[1]["text"], model=tiny_trained_student)
    validate_record(toy)
    assert [(d["text"], d["label"]) for d in toy["drugs"]] == [
        ("Methotrexate", "EXPOSURE"),
        ("cyclophosphamide", "EXPOSURE"),
    ]
    assert {(a["text"], a["label"]) for a in toy["ades"]} == {
        ("pancytopenia", "OUTCOME"),
        ("hemorrhagic cystitis", "OUTCOME"),
    }
    assert {d["label"] for d in ade["drugs"]} == {"DRUG"} and {a["label"] for a in ade["ades"]} == {"ADE"}
    assert score([toy], [RECORDS[1]])["strict_f1"] == 1.0  # the metric reads labeled records


def test_given_drugs_come_back_as_given_and_found_targets_are_labeled(toy_student):
    given = RECORDS[1]["drugs"][:1]
    with one_thread():
        out = adekd.extract({"text": RECORDS[1]["text"], "drugs": given}, model=toy_student)
    assert out["drugs"] == given
    assert [(a["text"], a["label"]) for a in out["ades"]] == [("pancytopenia", "OUTCOME")]


def test_init_student_and_the_cli_write_the_task_into_the_config(tmp_path, capsys):
    encoder = tiny_encoder(tmp_path / "encoder")
    assert AdeStudentConfig.from_pretrained(init_student(tmp_path / "ade", encoder)).task == "ade"
    init = ["student", "init", "--encoder", str(encoder), "--task"]
    assert main([*init, str(toy_task_file(tmp_path)), "--output", str(tmp_path / "toy")]) == 0
    assert AdeStudentConfig.from_pretrained(tmp_path / "toy").type_names() == TOY_WORDS
    assert main([*init, "no-such-task", "--output", str(tmp_path / "x")]) == 2
    assert "--task: task 'no-such-task' is neither a built-in task" in capsys.readouterr().err
    assert not (tmp_path / "x").exists()
