"""The default input and gold of each task, and task-aware reading of the user's PubTator files."""

from __future__ import annotations

import pytest
from test_corpora_cdr import write_cdr

from adekd.distill.inputs import default_inputs, load_inputs


@pytest.fixture
def shared_cdr(tmp_path, monkeypatch):
    """A shared data folder holding a tiny BC5CDR: test is train with other PMIDs and other words."""
    folder = tmp_path / "shared" / "bc5cdr"
    folder.mkdir(parents=True)
    train = write_cdr(folder / "CDR_TrainingSet.PubTator.txt").read_text()
    test = train.replace("100", "300").replace("200", "400")
    for word, other in [("rats", "mice"), ("Rats", "Mice"), ("given", "added"), ("caused", "led to")]:
        test = test.replace(word, other)  # same length: the mention offsets still hold
    test = test.replace("prevent", "relieve")
    (folder / "CDR_TestSet.PubTator.txt").write_text(test)
    monkeypatch.setenv("ADEKD_SHARED_DATA", str(tmp_path / "shared"))
    return folder


def test_chemical_disease_default_is_bc5cdr_sentences_with_a_chemical(shared_cdr):
    run = default_inputs(None, None, "chemical-disease")
    assert sorted(r["id"] for r in run.sentences) == ["100-s0", "100-s1", "100-s2", "100-s4", "200-s0"]
    assert sorted(r["id"] for r in run.gold) == ["300-s0", "300-s1", "300-s2", "300-s4", "400-s0"]
    assert sum(len(r["ades"]) for r in run.gold) == 7  # gold keeps its labels
    assert "CDR_TrainingSet.PubTator.txt (sentences with a chemical" in run.input_source
    assert len(default_inputs(2, 3, "chemical-disease").gold) == 3


def test_labels_are_hidden_from_the_teacher_unless_a_simulated_teacher_needs_them(shared_cdr):
    hidden = load_inputs(None, None, task="chemical-disease")
    assert all(r["drugs"] == [] and r["ades"] == [] for r in hidden.sentences)
    assert all(r["doc_id"] in ("100", "200") for r in hidden.sentences)
    labeled = load_inputs(None, None, task="chemical-disease", labeled=True)
    assert sum(len(r["ades"]) for r in labeled.sentences) == 7


def test_user_pubtator_files_are_read_with_the_task(tmp_path):
    path = write_cdr(tmp_path / "cdr.txt")
    run = load_inputs(str(path), str(path), task="chemical-disease", max_gold=2, split_sentences=None)
    assert [r["id"] for r in run.gold] == ["100-s0", "100-s1"] and len(run.gold[1]["ades"]) == 4
    assert len(run.sentences) == 6 and all(r["drugs"] == [] for r in run.sentences)
    assert run.excluded_in_gold == 2  # the two gold sentences are not labeled
    labeled = load_inputs(str(path), None, task="chemical-disease", labeled=True)
    assert sum(len(r["ades"]) for r in labeled.sentences) == 7


def test_tasks_without_default_data_say_what_to_pass(tmp_path, monkeypatch):
    monkeypatch.setattr("adekd.distill.inputs.find_shared_data", lambda *marker: None)
    with pytest.raises(ValueError, match="BC5CDR not found .* pass input and gold"):
        load_inputs(None, None, task="chemical-disease")
    spec = tmp_path / "gene.yaml"
    spec.write_text(_gene_task(), encoding="utf-8")
    with pytest.raises(ValueError, match="task 'gene-disease' has no default input: pass input and gold"):
        default_inputs(None, None, spec)


def _gene_task() -> str:
    import yaml

    from adekd.tasks import load_task

    data = load_task("chemical-disease").to_dict()
    data["name"], data["pubtator"] = "gene-disease", None
    return yaml.safe_dump(data)
