"""SpERT split reader: token spans to character spans, relations to drug -> ADE entries."""

from __future__ import annotations

import json

import pytest
from corpora_fixtures import SPERT_ITEMS, write_spert

from adekd.corpora import CorpusError, read_spert, spert_folds
from adekd.records import ValidationReport, pairs


def test_tokens_join_with_spaces_and_spans_become_characters(tmp_path):
    first, second = read_spert(write_spert(tmp_path / "ade_split_0_test.json"))
    assert first["id"] == "spert-412"
    assert first["text"] == "Fulminant hepatic failure with didanosine ."
    assert first["drugs"] == [{"text": "didanosine", "start": 31, "end": 41}]
    assert first["ades"] == [{"drug": 0, "text": "Fulminant hepatic failure", "start": 0, "end": 25}]
    assert [(d["text"], a["text"]) for d, a in pairs(second)] == [
        ("co - trimoxazole", "Rash"),
        ("dapsone", "fever"),
        ("dapsone", "Rash"),
    ]


def test_relation_with_swapped_roles_is_an_error(tmp_path):
    item = {
        "tokens": ["a", "b"],
        "entities": [
            {"type": "Drug", "start": 0, "end": 1},
            {"type": "Adverse-Effect", "start": 1, "end": 2},
        ],
        "relations": [{"type": "Adverse-Effect", "head": 0, "tail": 1}],
        "orig_id": 3,
    }
    with pytest.raises(CorpusError, match="spert-3: relation head must be 'Adverse-Effect'"):
        read_spert(write_spert(tmp_path / "bad.json", [item]))


def test_items_that_cannot_be_converted_raise_or_are_skipped_and_counted(tmp_path):
    good = SPERT_ITEMS[0]
    items = [
        good,
        {**good, "entities": [{"type": "Drug", "start": 4, "end": 999}], "relations": [], "orig_id": 1},
        {**good, "entities": [{"type": "Drug", "start": -1, "end": 2}], "relations": [], "orig_id": 2},
        {**good, "relations": [{"type": "Adverse-Effect", "head": 0, "tail": 9}], "orig_id": 3},
        {"tokens": ["a"], "orig_id": 4},
        "not an item",
        SPERT_ITEMS[1],
    ]
    path = write_spert(tmp_path / "bad.json", items)
    with pytest.raises(
        CorpusError, match=r"bad.json item 1: spert-1: entity 0 \('Drug'\) spans tokens 4:999, "
    ):
        read_spert(path)
    report = ValidationReport()
    assert [r["id"] for r in read_spert(path, on_error="skip", report=report)] == ["spert-412", "spert-7"]
    assert report.skipped == 5
    assert report.errors == [
        f"{path} item 1: spert-1: entity 0 ('Drug') spans tokens 4:999, outside the item's 6 tokens",
        f"{path} item 2: spert-2: entity 0 ('Drug') spans tokens -1:2, outside the item's 6 tokens",
        f"{path} item 3: spert-3: relation 0 tail 9 is not one of the item's 2 entities",
        f"{path} item 4 (spert-4): malformed SpERT item (no key 'entities')",
        f"{path} item 5: spert-5: expected a JSON object, got str",
    ]


def test_not_a_spert_file(tmp_path):
    path = tmp_path / "x.json"
    path.write_text(json.dumps({"tokens": []}))
    with pytest.raises(CorpusError, match="not a SpERT split"):
        read_spert(path)
    path.write_text("[{")
    with pytest.raises(CorpusError, match="line 1: not valid JSON"):
        read_spert(path)


def test_folds_are_listed_in_order(tmp_path):
    for fold in (10, 2):
        for part in ("train", "test"):
            write_spert(tmp_path / f"ade_split_{fold}_{part}.json")
    write_spert(tmp_path / "ade_full.json")
    folds = spert_folds(tmp_path)
    assert list(folds) == [2, 10]
    assert folds[2] == {
        "train": tmp_path / "ade_split_2_train.json",
        "test": tmp_path / "ade_split_2_test.json",
    }


@pytest.mark.slow
def test_real_fold_0_covers_the_corpus(shared_data):
    fold = spert_folds(shared_data / "ade_corpus" / "splits")[0]
    train, test = read_spert(fold["train"]), read_spert(fold["test"])
    assert (len(train), len(test)) == (3845, 427)
    assert len({r["id"] for r in train + test}) == 4272
    assert sum(len(r["ades"]) for r in train + test) == 6821
