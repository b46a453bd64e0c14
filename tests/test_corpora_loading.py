"""load_records: one function for every source kind, including saved and card-described datasets."""

from __future__ import annotations

import datasets
import pytest
from corpora_fixtures import pubtator_text, write_ade_corpus, write_spert

from adekd.corpora import CorpusError, ade_corpus_v2_to_records, detect_source, load_records, read_ade_corpus
from adekd.records import RecordError, ValidationReport, records_to_dataset, write_jsonl


@pytest.fixture
def ade_folder(tmp_path):
    return write_ade_corpus(tmp_path / "ade")


def test_each_file_kind_is_detected_and_read(tmp_path, ade_folder):
    spert = write_spert(tmp_path / "ade_split_0_test.json")
    pubtator = tmp_path / "cdr.PubTator.txt"
    pubtator.write_text(pubtator_text())
    plain = tmp_path / "sentences.txt"
    plain.write_text("Rash after aspirin.\nNo drug here.\n")
    texts = tmp_path / "texts.jsonl"
    texts.write_text('{"id": "a", "text": "Rash after aspirin."}\n')
    records_jsonl = tmp_path / "gold.jsonl"
    write_jsonl(read_ade_corpus(ade_folder)[:3], records_jsonl)
    expected = {
        ade_folder: ("ade_corpus", 7),
        spert: ("spert", 2),
        pubtator: ("pubtator", 4),
        plain: ("text", 2),
        texts: ("jsonl_texts", 1),
        records_jsonl: ("records_jsonl", 3),
    }
    for source, (kind, count) in expected.items():
        assert detect_source(source) == kind, source
        assert len(load_records(source)) == count, source
    assert load_records(records_jsonl) == read_ade_corpus(ade_folder)[:3]
    assert load_records(plain)[0] == {
        "id": "sentences-1",
        "text": "Rash after aspirin.",
        "drugs": [],
        "ades": [],
    }


def test_saved_dataset_folders_round_trip_with_provenance(tmp_path, ade_folder):
    records = read_ade_corpus(ade_folder)
    dataset = records_to_dataset(records)
    assert {"doc_id", "doc_start"} <= set(dataset.column_names)
    dataset.save_to_disk(tmp_path / "saved")
    assert detect_source(tmp_path / "saved") == "dataset"
    assert load_records(tmp_path / "saved") == records

    datasets.DatasetDict(
        {"train": dataset.select(range(5)), "test": dataset.select(range(5, 7))}
    ).save_to_disk(tmp_path / "dict")
    assert [r["id"] for r in load_records(tmp_path / "dict", split="test")] == [r["id"] for r in records[5:7]]
    with pytest.raises(CorpusError, match=r"has splits \['test', 'train'\]; pass a split"):
        load_records(tmp_path / "dict")
    with pytest.raises(CorpusError, match="pass split 'dev', which it lacks"):
        load_records(tmp_path / "dict", split="dev")


def test_folder_of_data_files_with_a_card_and_a_single_parquet_file(tmp_path, ade_folder):
    records = read_ade_corpus(ade_folder)
    folder = tmp_path / "hub_style"
    (folder / "data").mkdir(parents=True)
    records_to_dataset(records).to_parquet(folder / "data" / "train-00000-of-00001.parquet")
    (folder / "README.md").write_text("---\nlicense: cc0-1.0\n---\n# ADE records\n")
    assert load_records(folder) == records
    assert load_records(folder / "data" / "train-00000-of-00001.parquet") == records


def test_invalid_records_raise_or_are_skipped_and_counted(tmp_path):
    path = tmp_path / "gold.jsonl"
    good = {
        "id": "a",
        "text": "Rash after aspirin.",
        "drugs": [{"text": "aspirin", "start": 11, "end": 18}],
        "ades": [],
    }
    bad = {"id": "b", "text": "short", "drugs": [{"text": "aspirin", "start": 11, "end": 18}], "ades": []}
    write_jsonl([good, bad], path)
    with pytest.raises(RecordError, match=r"line 2: record 'b': drug 0 span 11:18 outside text of length 5"):
        load_records(path)
    report = ValidationReport()
    assert load_records(path, on_error="skip", report=report) == [good]
    assert (report.kept, report.skipped) == (1, 1)


def test_bad_sources_are_named(tmp_path, ade_folder):
    with pytest.raises(CorpusError, match="no such file or folder"):
        load_records(tmp_path / "missing.jsonl")
    with pytest.raises(CorpusError, match="split='train' only applies to dataset folders and Hub ids"):
        load_records(ade_folder, split="train")
    (tmp_path / "empty").mkdir()
    with pytest.raises(CorpusError, match="empty: not a corpus adekd reads"):
        load_records(tmp_path / "empty")
    assert detect_source("ade-benchmark-corpus/ade_corpus_v2") == "hub"


def test_hub_ade_corpus_v2_rows_are_merged_by_sentence():
    span = {"start_char": datasets.Value("int32"), "end_char": datasets.Value("int32")}
    features = datasets.Features(
        {
            "text": datasets.Value("string"),
            "drug": datasets.Value("string"),
            "effect": datasets.Value("string"),
            "indexes": {"drug": datasets.Sequence(span), "effect": datasets.Sequence(span)},
        }
    )
    text = "Rash and fever after aspirin and ibuprofen."
    relations = datasets.Dataset.from_list(
        [
            {
                "text": text,
                "drug": drug,
                "effect": effect,
                "indexes": {  # every occurrence, as the Hub's loader found them with re.finditer
                    "drug": {"start_char": [text.index(drug)], "end_char": [text.index(drug) + len(drug)]},
                    "effect": {
                        "start_char": [text.index(effect)],
                        "end_char": [text.index(effect) + len(effect)],
                    },
                },
            }
            for drug, effect in [("aspirin", "Rash"), ("aspirin", "fever"), ("ibuprofen", "Rash")]
        ],
        features=features,
    )
    classification = datasets.Dataset.from_list(
        [{"text": text, "label": 1}, {"text": "Case report.", "label": 0}],
        features=datasets.Features(
            {"text": datasets.Value("string"), "label": datasets.ClassLabel(names=["Not-Related", "Related"])}
        ),
    )
    positive, negative = ade_corpus_v2_to_records(relations, classification)
    assert [d["text"] for d in positive["drugs"]] == ["aspirin", "ibuprofen"]
    assert [(a["text"], a["drug"]) for a in positive["ades"]] == [("Rash", 0), ("fever", 0), ("Rash", 1)]
    assert negative == {"id": "ade_corpus_v2-neg0", "text": "Case report.", "drugs": [], "ades": []}
