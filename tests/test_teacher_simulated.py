"""Simulated teachers: error rates as configured, errors of each kind, silver records like `adekd label`'s."""

from __future__ import annotations

import datasets
import pytest

from adekd.metrics import score
from adekd.records import new_record
from adekd.teacher.silver import SILVER_FEATURES, silver_dataset, write_silver
from adekd.teacher.simulated import CorruptionRates, SimulatedTeacher

DRUGS = ["amoxicillin", "cisplatin", "lithium", "warfarin", "methotrexate", "clozapine"]
EVENTS = [
    "severe rash",
    "renal failure",
    "tremor",
    "gastrointestinal bleeding",
    "hepatic fibrosis",
    "seizures",
]


def gold_record(i: int, two_drugs: bool = False):
    drug, event = DRUGS[i % len(DRUGS)], EVENTS[(i // len(DRUGS)) % len(EVENTS)]
    text = f"A {40 + i % 50}-year-old patient developed {event} during treatment with {drug}"
    drugs = [{"text": drug, "start": text.index(drug), "end": text.index(drug) + len(drug)}]
    if two_drugs:
        text += " and aspirin"
        drugs.append({"text": "aspirin", "start": len(text) - 7, "end": len(text)})
    text += " for months."
    start = text.index(event)
    ades = [{"drug": 0, "text": event, "start": start, "end": start + len(event)}]
    return new_record(f"s{i}", text, drugs, ades, doc_id=f"pmid{i}", doc_start=None)


GOLD = [gold_record(i) for i in range(1500)]


def ade_keys(record):
    return {(record["drugs"][a["drug"]]["text"], a["start"], a["end"]) for a in record["ades"]}


def test_perfect_teacher_returns_gold_with_provenance():
    silver, summary = SimulatedTeacher(CorruptionRates()).label_all(GOLD[:50])
    for gold, labeled in zip(GOLD[:50], silver, strict=True):
        assert (labeled["drugs"], labeled["ades"]) == (gold["drugs"], gold["ades"])
        assert labeled["doc_id"] == gold["doc_id"]
        assert labeled["teacher"] == "simulated" and labeled["rejected_quotes"] == []
        assert labeled["ade_alignment"] == [{"status": "exact", "similarity": 1.0}]
    assert score(silver, GOLD[:50])["strict_f1"] == 1.0
    assert summary["counts"]["corruptions"] == dict.fromkeys(summary["counts"]["corruptions"], 0)


@pytest.mark.parametrize("kind", ["miss", "hallucinate", "boundary", "wrong_drug", "spurious"])
def test_observed_rate_matches_configured_rate(kind):
    rate = 0.3
    silver, summary = SimulatedTeacher(CorruptionRates(**{kind: rate}), seed=7).label_all(GOLD)
    observed = summary["counts"]["corruptions"][kind] / len(GOLD)
    assert abs(observed - rate) < 0.04  # 1,500 draws: 3.4 standard deviations
    others = {name: count for name, count in summary["counts"]["corruptions"].items() if name != kind}
    assert set(others.values()) == {0}
    changed = sum(labeled["ades"] != gold["ades"] or labeled["drugs"] != gold["drugs"]
                  for labeled, gold in zip(silver, GOLD, strict=True))  # fmt: skip
    assert changed == summary["counts"]["corruptions"][kind]


def test_each_error_has_its_shape():
    teacher = SimulatedTeacher(CorruptionRates(miss=1.0))
    assert teacher.label(GOLD[0])[0]["ades"] == []

    hallucinated, _ = SimulatedTeacher(CorruptionRates(hallucinate=1.0)).label(GOLD[1])
    assert hallucinated["ades"] == [] and len(hallucinated["rejected_quotes"]) == 1
    quote = hallucinated["rejected_quotes"][0]
    assert quote["kind"] == "ade" and quote["quote"] not in GOLD[1]["text"]
    assert quote["quote"] in hallucinated["raw_response"]

    gold = GOLD[2]
    shifted, _ = SimulatedTeacher(CorruptionRates(boundary=1.0)).label(gold)
    (ade,), (gold_ade,) = shifted["ades"], gold["ades"]
    assert (ade["start"], ade["end"]) != (gold_ade["start"], gold_ade["end"])
    assert ade["start"] < gold_ade["end"] and gold_ade["start"] < ade["end"]  # still a lenient match
    assert abs(len(ade["text"].split()) - len(gold_ade["text"].split())) == 1

    two = gold_record(3, two_drugs=True)
    moved, _ = SimulatedTeacher(CorruptionRates(wrong_drug=1.0)).label(two)
    assert [moved["drugs"][a["drug"]]["text"] for a in moved["ades"]] == ["aspirin"]
    one = SimulatedTeacher(CorruptionRates(wrong_drug=1.0)).label(GOLD[3])[0]
    assert [one["drugs"][a["drug"]]["text"] for a in one["ades"]] != [GOLD[3]["drugs"][0]["text"]]

    negative = new_record("neg", "The trial enrolled 40 patients at two centres.")
    spurious, counts = SimulatedTeacher(CorruptionRates(spurious=1.0)).label(negative)
    assert counts["spurious"] == 1 and len(spurious["ades"]) == 1 and len(spurious["drugs"]) == 1


def test_errors_nest_as_rates_grow_and_ignore_record_order():
    low = SimulatedTeacher(CorruptionRates.at_level(0.2), seed=3).label_all(GOLD)[0]
    high = SimulatedTeacher(CorruptionRates.at_level(0.6), seed=3).label_all(reversed(GOLD))[0][::-1]
    kept_low = sum(ade_keys(s) == ade_keys(g) for s, g in zip(low, GOLD, strict=True))
    kept_high = sum(ade_keys(s) == ade_keys(g) for s, g in zip(high, GOLD, strict=True))
    missed_low = {g["id"] for s, g in zip(low, GOLD, strict=True) if not ade_keys(g) & ade_keys(s)}
    missed_high = {g["id"] for s, g in zip(high, GOLD, strict=True) if not ade_keys(g) & ade_keys(s)}
    assert kept_high < kept_low and missed_low <= missed_high
    f1 = [score(s, GOLD)["lenient_f1"] for s in (low, high)]
    assert 1.0 > f1[0] > f1[1] > 0.2
    again = SimulatedTeacher(CorruptionRates.at_level(0.2), seed=3).label_all(GOLD)[0]
    assert again == low
    other_seed = SimulatedTeacher(CorruptionRates.at_level(0.2), seed=4).label_all(GOLD)[0]
    assert other_seed != low


def test_bad_rates_are_refused():
    with pytest.raises(ValueError, match="'miss' must be in"):
        CorruptionRates(miss=1.5)
    with pytest.raises(ValueError, match="noise level"):
        CorruptionRates.at_level(-0.1)


def test_silver_folder_loads_with_load_dataset(tmp_path):
    teacher = SimulatedTeacher.at_level(0.5, seed=1)
    silver, summary = teacher.label_all(GOLD[:40])
    write_silver(tmp_path / "silver", silver, [], summary)
    loaded = datasets.load_dataset(str(tmp_path / "silver"), split="train")
    assert loaded.num_rows == 40
    assert set(SILVER_FEATURES) <= set(loaded.column_names)
    assert loaded[0]["teacher_model"] == teacher.model
    assert "simulated" in (tmp_path / "silver" / "README.md").read_text()


def test_silver_spans_carry_the_labels_of_the_task_the_teacher_was_asked(tmp_path):
    silver, summary = SimulatedTeacher.at_level(0.0, seed=1, task="chemical-disease").label_all(GOLD[:12])
    write_silver(tmp_path / "silver", silver, [], summary)
    loaded = datasets.load_dataset(str(tmp_path / "silver"), split="train")

    labels = {(key, span["label"]) for row in loaded for key in ("drugs", "ades") for span in row[key]}
    assert labels == {("drugs", "CHEMICAL"), ("ades", "DISEASE")}
    assert set(loaded["task"]) == {"chemical-disease"}
    assert silver_dataset(silver, "chemical-disease")[0]["ades"][0]["label"] == "DISEASE"
    assert "label" not in silver_dataset(silver).features["drugs"].feature  # no task, no span labels
