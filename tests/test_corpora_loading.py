"""load_records: one function for every source kind, including saved and card-described datasets."""

from __future__ import annotations

import gzip
import json

import datasets
import numpy as np
import pytest
from corpora_fixtures import SPERT_ITEMS, pubtator_text, write_ade_corpus, write_spert

from adekd.corpora import CorpusError, ade_corpus_v2_to_records, detect_source, load_records, read_ade_corpus
from adekd.modeling.student import iter_input_records
from adekd.records import RecordError, ValidationReport, records_to_dataset, write_jsonl
from adekd.teacher.silver import write_silver

GOOD = {
    "id": "a",
    "text": "Rash after aspirin.",
    "drugs": [{"text": "aspirin", "start": 11, "end": 18}],
    "ades": [{"drug": 0, "text": "Rash", "start": 0, "end": 4}],
}


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
        "doc_id": "sentences-1",
        "doc_start": 0,
    }
    gzipped = tmp_path / "gold.jsonl.gz"
    with gzip.open(gzipped, "wb") as handle:
        handle.write(records_jsonl.read_bytes())
    assert detect_source(gzipped) == "records_jsonl" and load_records(gzipped) == load_records(records_jsonl)


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


def _write_model_folder(folder):
    """The files `adekd train` leaves in a student folder: a config beside weights, JSON logs."""
    from safetensors.numpy import save_file

    folder.mkdir(parents=True)
    (folder / "config.json").write_text('{"model_type": "adekd", "hidden_size": 8}\n')
    (folder / "tokenizer_config.json").write_text('{"do_lower_case": true}\n')
    (folder / "training_log.jsonl").write_text('{"step": 1, "loss": 0.5}\n')
    save_file({"weight": np.zeros((2, 2), dtype=np.float32)}, folder / "model.safetensors")
    return folder


def test_folders_adekd_writes_that_are_no_dataset_are_named_before_load_dataset(tmp_path):
    failures = [{"id": "s1", "text": "Rash after aspirin.", "error": "timeout"}]
    empty_silver = write_silver(
        tmp_path / "silver_empty", [], failures, {"teacher": {"model": "m"}, "counts": {"records": 0}}
    )
    assert sorted(p.name for p in empty_silver.iterdir()) == ["failures.jsonl", "run_summary.json"]
    with pytest.raises(CorpusError, match=r"silver_empty holds no records: .*only failures.jsonl / run_"):
        load_records(empty_silver)
    with pytest.raises(CorpusError, match=r"1 failed input\(s\) are in .*failures.jsonl, a valid --input"):
        load_records(empty_silver)

    student = _write_model_folder(tmp_path / "student")
    with pytest.raises(CorpusError, match=r"student is a model folder \(config.json, model.safetensors\)"):
        load_records(student)
    cv = tmp_path / "cv"
    for fold in (0, 1):
        _write_model_folder(cv / f"fold-{fold}")
    (cv / "cv_results.json").write_text('{"folds": 2}\n')
    with pytest.raises(CorpusError, match=r"cv holds model folders \(fold-0, fold-1: a cross-validation"):
        load_records(cv)

    silver = write_silver(tmp_path / "silver", [GOOD], failures, {"counts": {"records": 1}})
    assert [record["id"] for record in load_records(silver)] == ["a"]


def test_data_files_of_different_schemas_are_a_corpus_error_not_a_generation_error(tmp_path):
    folder = tmp_path / "mixed"
    folder.mkdir()
    (folder / "a.jsonl").write_text('{"x": 1}\n')
    (folder / "b.jsonl").write_text('{"y": {"z": [1]}}\n')
    with pytest.raises(CorpusError, match=r"mixed: not a corpus adekd reads .*with one schema\): \S") as err:
        load_records(folder)
    assert "\n" not in str(err.value)  # the Arrow schema dump is cut to one line (its wording varies)


def test_labeled_jsonl_is_detected_whatever_its_first_line(tmp_path):
    negative = {"id": "neg", "text": "The patient was discharged home."}  # drugs/ades left out: valid
    path = tmp_path / "neg_first.jsonl"
    path.write_text("\n".join(json.dumps(row) for row in (negative, GOOD)) + "\n")
    assert detect_source(path) == "records_jsonl"
    assert load_records(path) == [{**negative, "drugs": [], "ades": []}, GOOD]
    assert [r["drugs"] for r in iter_input_records(path)] == [[], GOOD["drugs"]]  # adekd extract keeps them

    # the first labeled line deep in the file, past the first scan block, and without a final newline
    many = tmp_path / "many_negatives.jsonl"
    lines = [json.dumps({**negative, "id": f"neg{i}"}) for i in range(20_000)]
    many.write_text("\n".join([*lines, json.dumps({"id": "last", "text": "No ADE.", "ades": []})]))
    assert many.stat().st_size > 1 << 20
    assert detect_source(many) == "records_jsonl"
    assert len(load_records(many)) == 20_001

    # a broken first line decides nothing: the reader names it, or skips and counts it
    broken = tmp_path / "broken_first.jsonl"
    broken.write_text('{"id": "x", "drugs": [\n' + json.dumps(GOOD) + "\n")
    assert detect_source(broken) == "records_jsonl"
    with pytest.raises(RecordError, match="broken_first.jsonl line 1"):
        load_records(broken)
    report = ValidationReport()
    assert load_records(broken, on_error="skip", report=report) == [GOOD]
    assert (report.kept, report.skipped) == (1, 1)


def test_jsonl_of_texts_stays_unlabeled_input(tmp_path):
    with_ids = tmp_path / "with_ids.jsonl"
    rows = [{"id": "p1", "text": "ades"}, {"id": "p2", "text": "x", "meta": {"drugs": []}}]  # no label key
    with_ids.write_text("".join(json.dumps(row) + "\n" for row in rows))
    texts = tmp_path / "texts.jsonl.gz"
    with gzip.open(texts, "wt") as handle:
        handle.write('{"text": "Rash after aspirin."}\n')
    assert detect_source(with_ids) == detect_source(texts) == "jsonl_texts"
    assert [r["id"] for r in iter_input_records(with_ids)] == ["p1", "p2"]
    assert load_records(texts) == [{"id": "texts-1", "text": "Rash after aspirin.", "drugs": [], "ades": []}]


def test_unconvertible_spert_items_are_invalid_records(tmp_path):
    bad = {**SPERT_ITEMS[0], "entities": [{"type": "Adverse-Effect", "start": 0, "end": 999}], "orig_id": 5}
    path = write_spert(tmp_path / "bad.json", [SPERT_ITEMS[0], bad, SPERT_ITEMS[1]])
    with pytest.raises(CorpusError, match=r"bad.json item 1: spert-5: entity 0 .* spans tokens 0:999"):
        load_records(path)
    report = ValidationReport()
    assert [r["id"] for r in load_records(path, on_error="skip", report=report)] == ["spert-412", "spert-7"]
    assert (report.kept, report.skipped) == (2, 1)
    assert report.summary().startswith("2 records kept, 1 invalid skipped (first: ")
    assert "spert-5" in report.errors[0]


def test_a_folder_of_pubtator_files_is_refused_naming_the_files_to_pass(tmp_path):
    from adekd.corpora.loading import reads_labels
    from adekd.teacher import read_inputs

    folder = tmp_path / "bc5cdr"
    folder.mkdir()
    for split in ("Training", "Test"):
        (folder / f"CDR_{split}Set.PubTator.txt").write_text(pubtator_text())
    (folder / "README_CDR_Data.txt").write_text("=====\nPUBLIC DOMAIN NOTICE\n")
    message = (
        r"bc5cdr holds PubTator files \(CDR_TestSet.PubTator.txt, CDR_TrainingSet.PubTator.txt\), not a "
        r"dataset: pass one of them, e.g. .*bc5cdr/CDR_TestSet.PubTator.txt"
    )
    with pytest.raises(CorpusError, match=message):  # adekd corpus stats
        load_records(folder)
    with pytest.raises(CorpusError, match=message):  # adekd extract
        next(iter_input_records(folder))
    with pytest.raises(CorpusError, match=message):  # adekd label
        next(read_inputs(folder))
    with pytest.raises(CorpusError, match=message):  # adekd evaluate
        reads_labels(folder)
    assert len(load_records(folder / "CDR_TestSet.PubTator.txt")) == 4
