"""SpERT split reader: token spans to character spans, relations to drug -> ADE entries."""

from __future__ import annotations

import json

import pytest
from corpora_fixtures import write_spert

from adekd.corpora import CorpusError, read_spert, spert_folds
from adekd.records import pairs


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
