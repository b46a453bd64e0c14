"""``adekd train --task``: the student gets the task's type names, and data of another task is refused."""

from __future__ import annotations

import json

import pytest
from student_support import RECORDS, tiny_encoder
from task_support import TOY_WORDS, toy_task_file

from adekd.cli import main as adekd_main
from adekd.modeling import init_student
from adekd.training import TrainingConfig, TrainingConfigError
from adekd.training.student import build, check_task_labels

# (chemical, MeSH id, disease, MeSH id) of one BC5CDR-shaped abstract each; the title states the CID pair
CDR_PAIRS = [
    ("Lithium", "D008094", "tremor", "D014202"),
    ("Cisplatin", "D002945", "nephrotoxicity", "D007674"),
    ("Haloperidol", "D006220", "dyskinesia", "D004409"),
    ("Cocaine", "D003042", "seizures", "D012640"),
    ("Doxorubicin", "D004317", "cardiomyopathy", "D009202"),
    ("Amiodarone", "D000638", "hypothyroidism", "D007037"),
]


def _write_cdr(path):
    """PubTator documents shaped like BC5CDR: mentions with offsets into title + " " + abstract, a CID."""
    lines = []
    for number, (chemical, chemical_id, disease, disease_id) in enumerate(CDR_PAIRS):
        pmid, title = str(1000 + number), f"{chemical} induced {disease} in rats."
        abstract = f"Rats given {chemical.lower()} were observed for a week."
        lines += [f"{pmid}|t|{title}", f"{pmid}|a|{abstract}"]
        lines.append(f"{pmid}\t0\t{len(chemical)}\t{chemical}\tChemical\t{chemical_id}")
        start = title.index(disease)
        lines.append(f"{pmid}\t{start}\t{start + len(disease)}\t{disease}\tDisease\t{disease_id}")
        start = len(title) + 1 + abstract.index(chemical.lower())
        lines.append(f"{pmid}\t{start}\t{start + len(chemical)}\t{chemical.lower()}\tChemical\t{chemical_id}")
        lines += [f"{pmid}\tCID\t{chemical_id}\t{disease_id}", ""]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def test_task_words_go_into_a_new_student_and_retarget_an_init_student(tmp_path):
    encoder, spec = str(tiny_encoder(tmp_path / "encoder")), str(toy_task_file(tmp_path))
    model, _ = build(TrainingConfig(encoder=encoder, task=spec))
    assert model.config.type_names() == TOY_WORDS
    assert build(TrainingConfig(encoder=encoder))[0].config.task == "ade"
    ade_student = str(init_student(tmp_path / "ade", encoder))
    assert build(TrainingConfig(init=ade_student))[0].config.task == "ade"  # keeps its own task
    assert build(TrainingConfig(init=ade_student, task=spec))[0].config.type_names() == TOY_WORDS


def test_a_task_that_cannot_be_found_is_a_flag_error():
    with pytest.raises(TrainingConfigError, match="--task: task 'nope' is neither a built-in task"):
        TrainingConfig(train="x", output_dir="y", task="nope").validate()


def test_data_labeled_for_another_task_is_refused(tmp_path):
    model, _ = build(TrainingConfig(encoder=str(tiny_encoder(tmp_path / "encoder"))))
    check_task_labels(RECORDS, model, "--train gold.jsonl")  # unlabeled records of no task pass
    ade_labeled = [{**RECORDS[0], "task": "ade", "drugs": [{**RECORDS[0]["drugs"][0], "label": "DRUG"}]}]
    check_task_labels(ade_labeled, model, "--train silver")
    silver = [{**RECORDS[0], "task": "chemical-disease"}]
    with pytest.raises(TrainingConfigError, match=r"--train silver: records of task \['chemical-disease'\]"):
        check_task_labels(silver, model, "--train silver")
    relabeled = [{**RECORDS[0], "ades": [{**RECORDS[0]["ades"][0], "label": "DISEASE"}]}]
    with pytest.raises(TrainingConfigError, match=r"ades spans are labeled \['DISEASE'\], not 'ADE'.*--task"):
        check_task_labels(relabeled, model, "--train x")


def test_train_reads_a_pubtator_corpus_as_the_tasks_labeled_records(tmp_path):
    cdr = str(_write_cdr(tmp_path / "CDR_TrainingSet.PubTator.txt"))
    output = tmp_path / "student"
    argv = ["train", "--train", cdr, "--dev", cdr, "--test", cdr, "--task", "chemical-disease",
            "--output", str(output), "--encoder", str(tiny_encoder(tmp_path / "encoder")),
            "--max-steps", "2", "--batch-size", "4"]  # fmt: skip
    assert adekd_main(argv) == 0

    metrics = json.loads((output / "metrics.json").read_text())
    assert metrics["train"]["num_records"] == metrics["dev"]["num_records"] == 2 * len(CDR_PAIRS)
    for split in ("dev", "test"):
        scores = metrics[split]["metrics"]
        assert scores["num_gold"] == len(CDR_PAIRS)  # one chemical -> disease pair per title
        assert scores["drug_num_gold"] == 2 * len(CDR_PAIRS)  # both chemical mentions are anchors
    assert json.loads((output / "config.json").read_text())["task"] == "chemical-disease"
