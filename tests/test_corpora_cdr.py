"""BC5CDR -> chemical-induced disease sentence records: spans, pairs, what is lost, the CLI and the task."""

from __future__ import annotations

import json
import subprocess

import pytest
import yaml
from conftest import REPO

from adekd.corpora import (
    ConversionStats,
    CorpusError,
    conversion_stats,
    corpus_stats,
    load_records,
    read_relation_records,
)
from adekd.tasks import PubTatorTypes, TaskError, load_task, read_task_file
from adekd.tasks.spec import task_from_dict

ADEKD = str(REPO / ".venv" / "bin" / "adekd")

TITLE = "Cisplatin-induced nephrotoxicity in rats."
ABSTRACT = (
    "Rats given cisplatin and then cisplatin again developed renal failure and auditory or ocular toxicity. "
    "Furosemide did not prevent renal failure. Hearing loss was common. "
    "Mannitol and GYKI-1 were given to all."
)
# (mention, occurrence, type, MeSH id): offsets are found in the document text
MENTIONS = [
    ("Cisplatin", 0, "Chemical", "C1"),
    ("nephrotoxicity", 0, "Disease", "D1"),
    ("cisplatin", 0, "Chemical", "C1"),
    ("cisplatin", 1, "Chemical", "C1"),
    ("renal failure", 0, "Disease", "D2"),
    ("auditory or ocular toxicity", 0, "Disease", "D3|D4"),  # composite mention
    ("Furosemide", 0, "Chemical", "C2"),
    ("renal failure", 1, "Disease", "D2"),
    ("Hearing loss", 0, "Disease", "D5"),
    ("Mannitol", 0, "Chemical", "C3"),
    ("GYKI-1", 0, "Chemical", "-1"),  # no MeSH id
]
RELATIONS = [("C1", "D1"), ("C1", "D2"), ("C1", "D4"), ("C3", "D5"), ("C1", "D9")]
# C3 (Mannitol) and D5 (Hearing loss) never share a sentence; D9 has no mention at all

NESTED_TITLE = "Lithium caused acute kidney injury."
NESTED_ABSTRACT = "It resolved. Nothing else happened."


def _document(pmid: str, title: str, abstract: str, mentions, relations) -> str:
    text = f"{title} {abstract}"
    lines = [f"{pmid}|t|{title}", f"{pmid}|a|{abstract}"]
    for mention, occurrence, kind, mesh in mentions:
        start = -1
        for _ in range(occurrence + 1):
            start = text.index(mention, start + 1)
        lines.append(f"{pmid}\t{start}\t{start + len(mention)}\t{mention}\t{kind}\t{mesh}")
    lines += [f"{pmid}\tCID\t{chemical}\t{disease}" for chemical, disease in relations]
    return "\n".join(lines) + "\n\n"


def write_cdr(path):
    nested = [
        ("Lithium", 0, "Chemical", "C1"),
        ("acute kidney injury", 0, "Disease", "D2"),
        ("kidney injury", 0, "Disease", "D2"),  # nested in the mention above
        ("injury. It", 0, "Chemical", "C9"),  # crosses the sentence boundary
    ]
    path.write_text(
        _document("100", TITLE, ABSTRACT, MENTIONS, RELATIONS)
        + _document("200", NESTED_TITLE, NESTED_ABSTRACT, nested, [("C1", "D2")]),
        encoding="utf-8",
    )
    return path


def spans(record, key):
    return [
        (span["text"], span["start"], span["end"]) + ((span["drug"],) if "drug" in span else ())
        for span in record[key]
    ]


def test_sentence_records_carry_chemicals_and_their_induced_diseases(tmp_path):
    records = read_relation_records(write_cdr(tmp_path / "cdr.txt"))
    assert [r["id"] for r in records] == [f"100-s{k}" for k in range(5)] + [f"200-s{k}" for k in range(3)]
    title, both, furosemide, hearing, mannitol = records[:5]
    assert spans(title, "drugs") == [("Cisplatin", 0, 9)]
    assert spans(title, "ades") == [("nephrotoxicity", 18, 32, 0)]
    assert both["text"].startswith("Rats given cisplatin") and both["doc_start"] == len(TITLE) + 1
    # both mentions of cisplatin get every induced disease; the composite mention matches through D4
    assert spans(both, "drugs") == [("cisplatin", 11, 20), ("cisplatin", 30, 39)]
    assert spans(both, "ades") == [
        ("renal failure", 56, 69, 0),
        ("auditory or ocular toxicity", 74, 101, 0),
        ("renal failure", 56, 69, 1),
        ("auditory or ocular toxicity", 74, 101, 1),
    ]
    assert spans(furosemide, "drugs") == [("Furosemide", 0, 10)] and furosemide["ades"] == []
    assert hearing["drugs"] == [] and hearing["ades"] == []
    assert [d["text"] for d in mannitol["drugs"]] == ["Mannitol", "GYKI-1"] and mannitol["ades"] == []
    for record in records:
        assert record["doc_id"] == record["id"].split("-")[0]
        for span in record["drugs"] + record["ades"]:
            assert record["text"][span["start"] : span["end"]] == span["text"]
    # the same sentences, ids and offsets as the unlabeled PubTator reading
    unlabeled = load_records(tmp_path / "cdr.txt")
    assert [(r["id"], r["text"], r["doc_start"]) for r in unlabeled] == [
        (r["id"], r["text"], r["doc_start"]) for r in records
    ]
    assert all(r["drugs"] == [] for r in unlabeled)


def test_cross_sentence_relations_are_dropped_and_counted(tmp_path):
    stats = ConversionStats()
    records = read_relation_records(write_cdr(tmp_path / "cdr.txt"), "chemical-disease", stats)
    assert stats.as_dict() == {
        "documents": 2,
        "sentences": 8,
        "sentences_with_anchor": 5,
        "positive_sentences": 3,
        "anchor_mentions": 7,  # the mention across sentences is dropped
        "target_mentions": 7,
        "pairs": 7,
        "relations": 6,
        "relations_kept": 4,
        "relations_across_sentences": 1,  # Mannitol -> Hearing loss
        "relations_without_mention": 1,  # D9
        "relation_sentences": 4,
        "mentions_without_id": 1,
        "mentions_cut_by_splitter": 1,
        "overlapping_targets": 1,  # "kidney injury" inside "acute kidney injury"
        "relations_lost": 2,
        "sentences_per_kept_relation": 1.0,
    }
    assert sum(len(r["ades"]) for r in records) == stats.pairs
    assert conversion_stats(tmp_path / "cdr.txt") == stats
    assert corpus_stats(records).relations == stats.pairs


def test_the_task_decides_whether_pubtator_is_labeled(tmp_path):
    path = write_cdr(tmp_path / "cdr.txt")
    labeled = load_records(path, task="chemical-disease")
    assert sum(len(r["ades"]) for r in labeled) == 7
    assert all(r["drugs"] == [] for r in load_records(path, task="ade"))  # ADE has no PubTator section
    custom = load_task("chemical-disease").to_dict()
    custom["name"], custom["pubtator"] = (
        "disease-chemical",
        {
            "anchor_type": "Disease",
            "target_type": "Chemical",
            "relation": "CID",
        },
    )
    (tmp_path / "task.yaml").write_text(yaml.safe_dump(custom), encoding="utf-8")
    with pytest.raises(CorpusError, match="only applies"):
        load_records(path, split="train", task="chemical-disease")
    reversed_records = read_relation_records(path, read_task_file(tmp_path / "task.yaml"))
    assert [d["text"] for d in reversed_records[0]["drugs"]] == ["nephrotoxicity"]
    assert [a["text"] for a in reversed_records[0]["ades"]] == ["Cisplatin"]
    with pytest.raises(ValueError, match="'ade' has no 'pubtator' section"):
        read_relation_records(path, "ade")


def test_corpus_stats_cli_reports_what_the_conversion_loses(tmp_path):
    path = write_cdr(tmp_path / "cdr.txt")
    command = [ADEKD, "corpus", "stats", str(path), "--task", "chemical-disease"]
    done = subprocess.run(
        [*command, "--json", str(tmp_path / "s.json")], capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    assert "chemical mentions  7" in done.stdout and "disease mentions   5" in done.stdout
    assert "relations across sentences   1" in done.stdout
    counts = json.loads((tmp_path / "s.json").read_text())
    assert counts["task"] == "chemical-disease" and counts["relations"] == 7
    assert counts["conversion"]["relations_lost"] == 2
    done = subprocess.run(
        [ADEKD, "corpus", "stats", str(path), "--task", str(tmp_path / "missing.yaml")],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert done.returncode == 2 and "neither a built-in task" in done.stderr


def test_chemical_disease_is_a_builtin_task():
    task = load_task("chemical-disease")
    assert task.anchor.label == "CHEMICAL" and task.target.label == "DISEASE" and task.relation == "induced"
    assert task.pubtator == PubTatorTypes("Chemical", "Disease", "CID")
    assert task.format_hint.startswith('{"chemicals": [{"chemical": "<chemical, copied from the sentence>"')
    assert '"induced_diseases"' in task.format_hint and "{schema}" in task.prompt.system
    assert task.prompt.few_shot_id == "adekd-cid-few-shot-v1"
    assert len(task.prompt.examples) == 4
    for example in task.prompt.examples:  # every quote of an example answer is in its sentence
        for item in example["answer"]["chemicals"]:
            assert item["chemical"] in example["text"]
            assert all(disease in example["text"] for disease in item["induced_diseases"])
    assert read_task_file(REPO / "adekd" / "tasks" / "chemical-disease.yaml") == task


def test_pubtator_section_is_checked():
    data = load_task("chemical-disease").to_dict()
    data["pubtator"] = {"anchor_type": "Chemical", "target_type": "Disease"}
    with pytest.raises(TaskError, match=r"'pubtator' is missing \['relation'\]"):
        task_from_dict(data, "toy.yaml")
    data["pubtator"] = None
    assert task_from_dict(data).pubtator is None


@pytest.mark.slow
def test_real_bc5cdr_splits(shared_data):
    expected = {  # documents, chemical and disease mentions, CID relations: the official counts
        "CDR_TrainingSet": (500, 5203, 4182, 1038),
        "CDR_DevelopmentSet": (500, 5347, 4244, 1012),
        "CDR_TestSet": (500, 5385, 4424, 1066),
    }
    sentence_level = {  # sentences, with a chemical, with a pair, pairs, relations kept (measured here)
        "CDR_TrainingSet": (4532, 2943, 1087, 1798, 756),
        "CDR_DevelopmentSet": (4541, 3010, 1177, 1931, 768),
        "CDR_TestSet": (4767, 3085, 1148, 1885, 749),
    }
    for name, (documents, chemicals, diseases, relations) in expected.items():
        stats = ConversionStats()
        records = read_relation_records(shared_data / "bc5cdr" / f"{name}.PubTator.txt", stats=stats)
        assert (stats.documents, stats.anchor_mentions, stats.target_mentions, stats.relations) == (
            documents, chemicals, diseases, relations,
        ), name  # fmt: skip
        assert stats.mentions_cut_by_splitter == 0 and stats.relations_without_mention == 0, name
        counts = (stats.sentences, stats.sentences_with_anchor, stats.positive_sentences, stats.pairs)
        assert counts + (stats.relations_kept,) == sentence_level[name], name
        assert len(records) == stats.sentences
