"""Datasets of records name the task's types: the optional span ``label`` feature."""

from __future__ import annotations

import os
import subprocess
import sys

import datasets
import pytest
from task_support import toy_task_file

from adekd.records import RecordError, dataset_to_records, new_record, records_to_dataset, short_hash

TEXT = "Nausea followed the exposure to benzene."


def _record(record_id: str = "r1", **labels: str) -> dict:
    drug = {"text": "benzene", "start": 32, "end": 39}
    ade = {"drug": 0, "text": "Nausea", "start": 0, "end": 6}
    if labels:
        drug["label"], ade["label"] = labels["anchor"], labels["target"]
    return new_record(record_id, TEXT, [drug], [ade])


def test_a_task_labels_every_span_and_the_features_declare_it(tmp_path):
    records = [_record(), new_record("empty", "No exposure here.")]
    dataset = records_to_dataset(records, task=toy_task_file(tmp_path))
    assert dataset.features["drugs"].feature["label"] == datasets.Value("string")
    assert dataset.features["ades"].feature["label"] == datasets.Value("string")
    first = dataset_to_records(dataset)[0]
    assert first["drugs"][0]["label"] == "EXPOSURE" and first["ades"][0]["label"] == "OUTCOME"
    assert "score" not in first["drugs"][0]  # unset scores still read back as absent
    dataset.save_to_disk(tmp_path / "saved")
    assert dataset_to_records(datasets.load_from_disk(tmp_path / "saved")) == dataset_to_records(dataset)


def test_without_a_task_or_labels_the_features_are_as_before():
    dataset = records_to_dataset([_record()])
    assert "label" not in dataset.features["drugs"].feature
    assert dataset_to_records(dataset) == [_record()]


def test_labeled_spans_declare_the_feature_and_unlabeled_ones_read_back_without_it():
    labeled = _record("a", anchor="DRUG", target="ADE")
    dataset = records_to_dataset([labeled, _record("b")])
    assert "label" in dataset.features["ades"].feature
    assert dataset_to_records(dataset) == [labeled, _record("b")]


def test_spans_labeled_for_another_task_are_refused():
    with pytest.raises(RecordError, match=r"record 'a': drugs spans are labeled \['CHEMICAL'\], not 'DRUG'"):
        records_to_dataset([_record("a", anchor="CHEMICAL", target="DISEASE")], task="ade")


def test_short_hash_of_a_set_is_the_same_in_every_process():
    """Set order follows string hashing, which Python salts per process: a fingerprint that followed it
    would differ between a run and its resume."""
    drugs = "{'aspirin', 'ibuprofen', 'heparin', 'warfarin'}"
    code = f"from adekd.records import short_hash; print(short_hash({{'drugs': {drugs}}}))"
    hashes = {
        subprocess.run(
            [sys.executable, "-c", code],
            env={**os.environ, "PYTHONHASHSEED": seed},
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
        for seed in ("1", "2")
    }
    assert len(hashes) == 1
    assert hashes == {short_hash({"drugs": {"warfarin", "heparin", "ibuprofen", "aspirin"}})}
    assert short_hash({"drugs": {"aspirin"}}) != short_hash({"drugs": {"heparin"}})
