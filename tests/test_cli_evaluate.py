"""``adekd evaluate`` through a real subprocess: JSONL, dataset folders, SpERT gold, errors."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import datasets
import pytest

from adekd.cli import main as adekd_main
from adekd.corpora import load_records
from adekd.records import records_to_dataset, write_jsonl

TEXT_A = "Severe hepatitis after amoxicillin."
TEXT_B = "Rash and fever followed aspirin and ibuprofen."


def _span(text: str, sub: str) -> dict:
    start = text.index(sub)
    return {"text": sub, "start": start, "end": start + len(sub)}


def _record(record_id: str, text: str, drugs: list[str], ades: list[tuple[int, str]], **extra) -> dict:
    return {
        "id": record_id,
        "text": text,
        "drugs": [_span(text, d) for d in drugs],
        "ades": [{"drug": i, **_span(text, a)} for i, a in ades],
        **extra,
    }


GOLD = [
    _record("a", TEXT_A, ["amoxicillin"], [(0, "Severe hepatitis")]),
    _record("b", TEXT_B, ["aspirin", "ibuprofen"], [(0, "Rash"), (1, "fever")]),
    _record("c", "No adverse event here.", [], []),
]
# Silver-style predictions (scores, teacher provenance), in another order: "a" has a boundary
# error (lenient only), "b" one right pair and one wrong drug, "c" is missing.
PREDICTIONS = [
    _record(
        "b",
        TEXT_B,
        ["aspirin", "ibuprofen"],
        [(0, "Rash"), (0, "fever")],
        teacher_model="smollm2",
        prompt_hash="abc123",
    ),
    _record("a", TEXT_A, ["amoxicillin"], [(0, "hepatitis")], teacher_model="smollm2", prompt_hash="abc123"),
]
PREDICTIONS[0]["ades"][0]["score"] = 0.8


def run_cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "adekd.cli", *args], capture_output=True, text=True, timeout=300
    )


@pytest.fixture
def files(tmp_path: Path) -> tuple[Path, Path]:
    gold, pred = tmp_path / "gold.jsonl", tmp_path / "pred.jsonl"
    write_jsonl(GOLD, gold)
    write_jsonl(PREDICTIONS, pred)
    return gold, pred


def test_evaluate_prints_table_and_writes_json(files, tmp_path):
    gold, pred = files
    output = tmp_path / "out" / "metrics.json"
    result = run_cli(
        "evaluate", "--predictions", str(pred), "--references", str(gold), "--output", str(output)
    )
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0].split() == ["micro", "%", "strict", "lenient"]
    # pairs: strict tp 1 of 3 predicted, 3 gold; lenient tp 2 (boundary error on "a")
    assert lines[2].split() == ["pairs", "33.33", "33.33", "33.33", "66.67", "66.67", "66.67", "3", "3"]
    assert lines[3].split()[0] == "drugs" and lines[4].split()[0] == "ADEs"
    assert "1 of 3 reference records have no prediction" in result.stderr
    metrics = json.loads(output.read_text())
    assert metrics["strict_tp"] == 1 and metrics["lenient_tp"] == 2
    assert metrics["drug_strict_f1"] == 1.0
    assert metrics["ade_strict_tp"] == 2 and metrics["ade_num_predicted"] == 3
    assert metrics["num_missing_predictions"] == 1 and metrics["num_records"] == 3
    assert metrics["predictions"] == str(pred) and "per_record" not in metrics


def test_evaluate_per_record_and_silver_dataset_folder(files, tmp_path):
    gold, _ = files
    folder = tmp_path / "silver_dataset"
    provenance = datasets.Features(
        {"teacher_model": datasets.Value("string"), "prompt_hash": datasets.Value("string")}
    )
    records_to_dataset(PREDICTIONS, features=provenance).save_to_disk(str(folder))
    output = tmp_path / "metrics.json"
    result = run_cli(
        "evaluate",
        "--predictions",
        str(folder),
        "--references",
        str(gold),
        "--output",
        str(output),
        "--per-record",
    )
    assert result.returncode == 0, result.stderr
    metrics = json.loads(output.read_text())
    assert metrics["strict_tp"] == 1 and metrics["lenient_tp"] == 2
    per_record = {entry["id"]: entry for entry in metrics["per_record"]}
    assert [p["ade"]["text"] for p in per_record["b"]["pair"]["strict"]["fp"]] == ["fever"]
    assert [p["drug"]["text"] for p in per_record["b"]["pair"]["strict"]["fn"]] == ["ibuprofen"]
    assert per_record["c"]["pair"]["strict"] == {"tp": [], "fp": [], "fn": []}


def test_evaluate_against_spert_gold(tmp_path):
    item = {
        "tokens": ["Lethal", "anuria", "after", "ifosfamide", "."],
        "entities": [
            {"type": "Adverse-Effect", "start": 0, "end": 2},
            {"type": "Drug", "start": 3, "end": 4},
        ],
        "relations": [{"type": "Adverse-Effect", "head": 0, "tail": 1}],
        "orig_id": 5,
    }
    gold = tmp_path / "ade_split_0_test.json"
    gold.write_text(json.dumps([item]))
    text = "Lethal anuria after ifosfamide ."
    pred = tmp_path / "pred.jsonl"
    write_jsonl([_record("spert-5", text, ["ifosfamide"], [(0, "anuria")])], pred)
    output = tmp_path / "metrics.json"
    result = run_cli(
        "evaluate", "--predictions", str(pred), "--references", str(gold), "--output", str(output)
    )
    assert result.returncode == 0, result.stderr
    metrics = json.loads(output.read_text())
    assert (metrics["strict_f1"], metrics["lenient_f1"], metrics["drug_strict_f1"]) == (0.0, 1.0, 1.0)


def test_evaluate_rejects_predictions_for_unknown_ids(files, tmp_path):
    gold, _ = files
    pred = tmp_path / "other.jsonl"
    write_jsonl([_record("zzz", TEXT_A, ["amoxicillin"], [])], pred)
    result = run_cli("evaluate", "--predictions", str(pred), "--references", str(gold))
    assert result.returncode == 2
    assert "not in the references (first: 'zzz')" in result.stderr
    assert str(pred) in result.stderr and "Traceback" not in result.stderr


def test_evaluate_names_the_broken_line(files, tmp_path):
    gold, _ = files
    pred = tmp_path / "broken.jsonl"
    bad = _record("a", TEXT_A, ["amoxicillin"], [])
    bad["drugs"][0]["end"] += 1
    pred.write_text(json.dumps(GOLD[0]) + "\n" + json.dumps(bad) + "\n")
    result = run_cli("evaluate", "--predictions", str(pred), "--references", str(gold))
    assert result.returncode == 2
    assert "line 2" in result.stderr and "'a'" in result.stderr and "Traceback" not in result.stderr


@pytest.mark.parametrize("kind", ["jsonl", "csv", "saved dataset"])
@pytest.mark.parametrize("flag", ["--references", "--predictions"])
def test_evaluate_refuses_texts_without_labels(files, tmp_path, capsys, flag, kind):
    rows = [{"id": r["id"], "text": r["text"]} for r in GOLD]
    texts = tmp_path / {"jsonl": "texts.jsonl", "csv": "texts.csv", "saved dataset": "texts"}[kind]
    if kind == "jsonl":
        write_jsonl(rows, texts)
    elif kind == "csv":
        datasets.Dataset.from_list(rows).to_csv(texts)
    else:
        datasets.Dataset.from_list(rows).save_to_disk(texts)
    given = {"--references": str(files[0]), "--predictions": str(files[1]), flag: str(texts)}
    assert adekd_main(["evaluate", *(item for pair in given.items() for item in pair)]) == 2
    error = capsys.readouterr().err
    assert f'{flag} {texts} holds texts without labels (no record has "drugs" or "ades")' in error


def test_evaluate_help():
    result = run_cli("evaluate", "--help")
    assert result.returncode == 0
    assert "--predictions" in result.stdout and "--per-record" in result.stdout


CDR_TITLE = "Cisplatin induced nephrotoxicity and ototoxicity."
CDR_ABSTRACT = "Rats given cisplatin lost weight."
CDR_MENTIONS = [
    ("Cisplatin", "Chemical", "C1"),
    ("nephrotoxicity", "Disease", "D1"),
    ("ototoxicity", "Disease", "D2"),
    ("cisplatin", "Chemical", "C1"),
]


def _write_cdr(path: Path) -> Path:
    """One BC5CDR-shaped PubTator document: offsets into title + " " + abstract, two CID pairs."""
    text, lines = f"{CDR_TITLE} {CDR_ABSTRACT}", [f"9|t|{CDR_TITLE}", f"9|a|{CDR_ABSTRACT}"]
    for mention, kind, mesh in CDR_MENTIONS:
        start = text.index(mention)
        lines.append(f"9\t{start}\t{start + len(mention)}\t{mention}\t{kind}\t{mesh}")
    path.write_text("\n".join([*lines, "9\tCID\tC1\tD1", "9\tCID\tC1\tD2"]) + "\n\n", encoding="utf-8")
    return path


def _row_names(printed: str) -> list[str]:
    return [line.split()[0] for line in printed.splitlines()[2:]]


def test_evaluate_with_a_task_reads_its_pubtator_gold_and_names_the_rows_in_its_words(tmp_path, capsys):
    gold = _write_cdr(tmp_path / "CDR_TestSet.PubTator.txt")
    predicted = load_records(gold, task="chemical-disease")
    predicted[0] = {**predicted[0], "ades": predicted[0]["ades"][:1]}  # one of the two diseases missed
    pred = tmp_path / "pred.jsonl"
    write_jsonl(predicted, pred)
    output = tmp_path / "metrics.json"
    argv = ["evaluate", "--predictions", str(pred), "--references", str(gold), "--output", str(output)]

    assert adekd_main([*argv, "--task", "chemical-disease"]) == 0

    printed = capsys.readouterr().out
    lines = printed.splitlines()
    assert _row_names(printed) == ["pairs", "chemicals", "diseases"]
    assert lines[3].split()[1:] == ["100.00"] * 6 + ["2", "2"]  # both cisplatin mentions
    assert lines[4].split()[1:] == ["100.00", "50.00", "66.67"] * 2 + ["1", "2"]
    assert len({len(line) for line in lines[2:]}) == 1  # the columns stay aligned under the longer names
    metrics = json.loads(output.read_text())
    assert metrics["task"] == "chemical-disease" and metrics["num_gold"] == 2 and metrics["strict_tp"] == 1

    assert adekd_main(argv) == 2  # without the task the PubTator file is unlabeled text: nothing to score
    assert 'holds texts without labels (no record has "drugs" or "ades"): a task whose spec maps' in (
        capsys.readouterr().err
    )
    assert json.loads(output.read_text()) == metrics  # the earlier result is kept
    assert adekd_main([*argv, "--task", "nope"]) == 2
    assert "--task: task 'nope' is neither a built-in task" in capsys.readouterr().err


def test_evaluate_refuses_an_output_folder_or_a_path_under_a_file_before_scoring(files, tmp_path, capsys):
    gold, pred = files
    taken = tmp_path / "taken"
    taken.mkdir()
    scoring = ["evaluate", "--predictions", str(pred), "--references", str(tmp_path / "missing.jsonl")]
    # the references are missing too: the --output check comes first, before any loading
    assert adekd_main([*scoring, "--output", str(taken)]) == 2
    error = capsys.readouterr().err
    assert error.strip().splitlines() == [
        f"adekd evaluate: error: --output {taken}: {taken} is a folder; give a file name"
    ]
    assert adekd_main([*scoring, "--output", str(gold / "results.json")]) == 2
    error = capsys.readouterr().err
    assert f"--output {gold / 'results.json'}: " in error and f"{gold} is a file, not a folder" in error
    scored = ["evaluate", "--predictions", str(pred), "--references", str(gold)]
    assert adekd_main([*scored, "--output", str(tmp_path / "new" / "results.json")]) == 0
    assert "strict_f1" in json.loads((tmp_path / "new" / "results.json").read_text())
