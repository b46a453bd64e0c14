"""Score thresholds: chosen on dev predictions, saved in the student's config, applied by the pipeline."""

from __future__ import annotations

import json
import shutil

import pytest
from student_support import RECORDS, one_thread, tiny_encoder
from training_support import write_records
from transformers import AutoConfig

import adekd
from adekd.cli import main as adekd_main
from adekd.metrics import score
from adekd.records import new_record, read_jsonl
from adekd.training import apply_thresholds, tune_thresholds


@pytest.fixture(autouse=True, scope="module")
def _one_thread():
    with one_thread():
        yield


TEXT = "Rash and nausea after aspirin; tremor with lithium."


def _span(text: str, part: str, score: float, **extra) -> dict:
    start = text.index(part)
    return {"text": part, "start": start, "end": start + len(part), "score": score, **extra}


GOLD = new_record(
    "g",
    TEXT,
    [_span(TEXT, "aspirin", 1.0), _span(TEXT, "lithium", 1.0)],
    [_span(TEXT, "Rash", 1.0, drug=0), _span(TEXT, "tremor", 1.0, drug=1)],
)
for span in (*GOLD["drugs"], *GOLD["ades"]):
    del span["score"]


def test_a_dropped_drug_takes_its_ades_and_the_rest_are_reindexed():
    predicted = {
        "id": "g",
        "text": TEXT,
        "drugs": [_span(TEXT, "aspirin", 0.55), _span(TEXT, "lithium", 0.95)],
        "ades": [_span(TEXT, "Rash", 0.9, drug=0), _span(TEXT, "tremor", 0.45, drug=1),
                 _span(TEXT, "nausea", 0.9, drug=1)],
    }  # fmt: skip
    (kept,) = apply_thresholds([predicted], drug_threshold=0.6, ade_threshold=0.5)
    assert [d["text"] for d in kept["drugs"]] == ["lithium"]
    assert [(a["drug"], a["text"]) for a in kept["ades"]] == [(0, "nausea")]
    assert apply_thresholds([predicted], 0.0, 0.0) == [predicted]


def test_the_pair_that_drops_low_scoring_false_positives_is_chosen_and_ties_stay_at_zero():
    predicted = {
        "id": "g",
        "text": TEXT,
        "drugs": [_span(TEXT, "aspirin", 0.99), _span(TEXT, "lithium", 0.98)],
        "ades": [_span(TEXT, "Rash", 0.9, drug=0), _span(TEXT, "nausea", 0.45, drug=0),
                 _span(TEXT, "tremor", 0.8, drug=1)],
    }  # fmt: skip
    choice = tune_thresholds([predicted], [GOLD])
    assert (choice.drug_threshold, choice.ade_threshold) == (0.0, 0.5)  # the lowest pair that drops "nausea"
    assert choice.dev_without == pytest.approx(0.8) and choice.dev_with == 1.0
    perfect = apply_thresholds([predicted], 0.0, 0.5)
    choice = tune_thresholds(perfect, [GOLD], metric="lenient_f1")
    assert (choice.drug_threshold, choice.ade_threshold, choice.metric) == (0.0, 0.0, "lenient_f1")
    assert choice.dev_with == choice.dev_without == 1.0


def test_the_pipeline_applies_the_students_thresholds_unless_told_otherwise(tiny_trained_student, tmp_path):
    student = tmp_path / "student"
    shutil.copytree(tiny_trained_student, student)
    text = RECORDS[1]["text"]
    config = json.loads((student / "config.json").read_text())
    assert config["drug_threshold"] is None and config["ade_threshold"] is None
    untuned = adekd.extract(text, model=student)  # never tuned: every span kept, as with 0.0
    assert untuned["ades"] and untuned == adekd.extract(
        text, model=student, drug_threshold=0.0, ade_threshold=0.0
    )
    (student / "config.json").write_text(json.dumps({**config, "ade_threshold": 1.01}))
    assert adekd.extract(text, model=student)["ades"] == []
    assert adekd.extract(text, model=student, ade_threshold=0.0)["ades"]
    (student / "config.json").write_text(json.dumps({**config, "drug_threshold": 1.01}))
    assert adekd.extract(text, model=student)["drugs"] == []


def test_train_tune_thresholds_saves_the_choice_and_tests_with_it(tmp_path):
    encoder = tiny_encoder(tmp_path / "encoder")
    train, test = (
        write_records(tmp_path / "train.jsonl", 40),
        write_records(tmp_path / "test.jsonl", 6, 1, "t"),
    )
    output = tmp_path / "student"
    argv = ["train", "--train", str(train), "--test", str(test), "--output", str(output), "--encoder",
            str(encoder), "--epochs", "2", "--batch-size", "8", "--dev-fraction", "0.25",
            "--tune-thresholds"]  # fmt: skip
    assert adekd_main(argv) == 0
    metrics = json.loads((output / "metrics.json").read_text())
    chosen = metrics["thresholds"]
    assert chosen["metric"] == "strict_f1" and chosen["dev_with"] >= chosen["dev_without"]
    assert chosen["dev_without"] == metrics["dev"]["metrics"]["strict_f1"]  # the kept weights, unthresholded
    config = AutoConfig.from_pretrained(output)
    assert (config.drug_threshold, config.ade_threshold) == (
        chosen["drug_threshold"],
        chosen["ade_threshold"],
    )
    gold = read_jsonl(test)
    extracted = adekd.extract([{"id": r["id"], "text": r["text"]} for r in gold], model=output)
    assert score(extracted, gold)["strict_f1"] == pytest.approx(metrics["test"]["metrics"]["strict_f1"])
    untuned = tmp_path / "untuned"
    assert adekd_main([*argv[:6], str(untuned), *argv[7:-1]]) == 0
    assert json.loads((untuned / "metrics.json").read_text())["thresholds"] is None
    assert AutoConfig.from_pretrained(untuned).ade_threshold is None  # never tuned, not tuned to 0.0


def test_given_drugs_come_back_as_given_whatever_their_scores(tiny_trained_student, tmp_path):
    student = tmp_path / "student"
    shutil.copytree(tiny_trained_student, student)
    config = json.loads((student / "config.json").read_text())
    (student / "config.json").write_text(json.dumps({**config, "drug_threshold": 0.9}))
    given = [{**RECORDS[1]["drugs"][0], "score": 0.3}]  # e.g. a drug predicted before, fed back in
    out = adekd.extract({"text": RECORDS[1]["text"], "drugs": given}, model=student)
    assert out["drugs"] == given and out["ades"]


def test_a_student_trained_from_a_tuned_one_starts_without_its_thresholds(tmp_path):
    encoder = tiny_encoder(tmp_path / "encoder")
    train = write_records(tmp_path / "train.jsonl", 24)
    tuned = tmp_path / "tuned"
    common = ["--train", str(train), "--epochs", "1", "--batch-size", "8"]
    assert adekd_main(["train", *common, "--encoder", str(encoder), "--output", str(tuned)]) == 0
    config = json.loads((tuned / "config.json").read_text())
    (tuned / "config.json").write_text(json.dumps({**config, "drug_threshold": 0.9, "ade_threshold": 0.9}))
    assert adekd_main(["train", *common, "--init", str(tuned), "--output", str(tmp_path / "next")]) == 0
    assert AutoConfig.from_pretrained(tmp_path / "next").ade_threshold is None
    assert AutoConfig.from_pretrained(tmp_path / "next").drug_threshold is None
