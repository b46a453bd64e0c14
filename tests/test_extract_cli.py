"""`adekd student init` and `adekd extract`: folders that load, JSONL records out in input order."""

from __future__ import annotations

import json

import pytest
from student_support import RECORDS, one_thread, tiny_encoder
from transformers import AutoModel, AutoTokenizer

from adekd.cli import main
from adekd.modeling import AdeStudentForExtraction
from adekd.records import read_jsonl


@pytest.fixture(autouse=True, scope="module")
def _one_thread():
    with one_thread():
        yield


def test_student_init_writes_an_untrained_student_folder(tmp_path, capsys):
    encoder = tiny_encoder(tmp_path / "encoder")
    output = tmp_path / "student"
    args = [
        "student",
        "init",
        "--encoder",
        str(encoder),
        "--output",
        str(output),
        "--architecture",
        "pairwise",
    ]
    assert main(args) == 0
    assert capsys.readouterr().out.strip() == str(output)
    model = AutoModel.from_pretrained(output)
    assert isinstance(model, AdeStudentForExtraction) and model.config.architecture == "pairwise"
    assert AutoTokenizer.from_pretrained(output).is_fast
    assert (
        main(["student", "init", "--encoder", str(tmp_path / "missing"), "--output", str(tmp_path / "x")])
        == 2
    )
    assert "--encoder" in capsys.readouterr().err


def test_extract_text_lines_to_records_in_input_order(tiny_trained_student, tmp_path):
    source = tmp_path / "notes.txt"
    source.write_text(
        "\n".join(r["text"] for r in RECORDS) + "\n\n" + RECORDS[0]["text"] + "\n", encoding="utf-8"
    )
    output = tmp_path / "out" / "records.jsonl"
    assert (
        main(
            [
                "extract",
                "--model",
                str(tiny_trained_student),
                "--input",
                str(source),
                "--output",
                str(output),
                "--batch-size",
                "2",
            ]
        )
        == 0
    )
    records = read_jsonl(output)  # validates every record
    assert [r["id"] for r in records] == ["notes-1", "notes-2", "notes-3", "notes-4", "notes-5", "notes-7"]
    assert [r["text"] for r in records] == [*(r["text"] for r in RECORDS), RECORDS[0]["text"]]
    for gold, record in zip(RECORDS, records, strict=False):
        assert {(a["drug"], a["text"]) for a in record["ades"]} == {
            (a["drug"], a["text"]) for a in gold["ades"]
        }
        assert all("score" in span for span in (*record["drugs"], *record["ades"]))


def test_extract_records_use_given_drugs_and_keep_other_fields(tiny_trained_student, tmp_path):
    source = tmp_path / "in.jsonl"
    rows = [
        {"id": "a", "text": RECORDS[1]["text"], "drugs": RECORDS[1]["drugs"][1:], "ades": [], "pmid": "123"},
        {"id": "b", "text": RECORDS[2]["text"], "drugs": [], "ades": []},
        {"id": "c", "text": "", "drugs": [], "ades": []},
    ]
    source.write_text("".join(json.dumps(row) + "\n" for row in rows), encoding="utf-8")
    output = tmp_path / "out.jsonl"
    args = ["extract", "--model", str(tiny_trained_student), "--input", str(source), "--output", str(output)]
    assert main(args) == 0
    first, second, empty = read_jsonl(output)
    assert first["pmid"] == "123" and first["drugs"] == RECORDS[1]["drugs"][1:]
    assert [(a["drug"], a["text"]) for a in first["ades"]] == [(0, "hemorrhagic cystitis")]
    assert second["id"] == "b" and len(second["drugs"]) == 2  # no drugs given: found
    assert empty == {"id": "c", "text": "", "drugs": [], "ades": []}
    # --find-drugs ignores the given ones, to score the student end to end on a gold file
    assert main([*args, "--find-drugs"]) == 0
    assert [d["text"] for d in read_jsonl(output)[0]["drugs"]] == ["Methotrexate", "cyclophosphamide"]


def test_extract_jsonl_of_texts_and_spert_json(tiny_trained_student, tmp_path):
    texts = tmp_path / "texts.jsonl"
    texts.write_text(json.dumps({"text": RECORDS[0]["text"], "pmid": "9"}) + "\n", encoding="utf-8")
    output = tmp_path / "out.jsonl"
    assert (
        main(
            ["extract", "--model", str(tiny_trained_student), "--input", str(texts), "--output", str(output)]
        )
        == 0
    )
    (record,) = read_jsonl(output)
    assert record["id"] == "texts-1" and [d["text"] for d in record["drugs"]] == ["amoxicillin"]
    int8 = tmp_path / "int8.jsonl"
    main(["extract", "--model", str(tiny_trained_student), "--input", str(texts), "--output", str(int8)]
         + ["--dtype", "int8"])  # fmt: skip
    assert [d["text"] for d in read_jsonl(int8)[0]["drugs"]] == ["amoxicillin"]
    spert = tmp_path / "split.json"
    tokens = RECORDS[0]["text"][:-1].split() + ["."]
    spert.write_text(json.dumps([{"tokens": tokens, "entities": [], "relations": [], "orig_id": 7}]))
    assert (
        main(
            ["extract", "--model", str(tiny_trained_student), "--input", str(spert), "--output", str(output)]
        )
        == 0
    )
    assert read_jsonl(output)[0]["id"] == "spert-7"


@pytest.mark.parametrize(
    ("content", "extra", "message"),
    [
        ('{"text": "fine"}\n{"text": 5}\n', [], "line 2: no string field 'text'"),
        (
            '{"id": "r", "text": "fine", "drugs": [{"text": "x", "start": 0, "end": 40}], "ades": []}\n',
            [],
            "line 1: record 'r': drug 0 span 0:40 outside text of length 4",
        ),
        ('{"text": "fine"}\n', ["--batch-size", "0"], "--batch-size must be at least 1"),
        ('{"text": "fine"}\n', ["--dtype", "int8", "--device", "cuda:0"], "--dtype int8 runs on CPU only"),
    ],
)
def test_extract_reports_bad_input_as_one_line(
    tiny_trained_student, tmp_path, capsys, content, extra, message
):
    source = tmp_path / "in.jsonl"
    source.write_text(content, encoding="utf-8")
    args = [
        "extract",
        "--model",
        str(tiny_trained_student),
        "--input",
        str(source),
        "--output",
        str(tmp_path / "o.jsonl"),
    ]
    assert main([*args, *extra]) == 2
    error = capsys.readouterr().err
    assert message in error and "Traceback" not in error
    assert not (tmp_path / "o.jsonl").exists()


@pytest.mark.parametrize("value", ["5", "-0.2", "half"])
def test_extract_refuses_a_threshold_that_is_not_a_score(tiny_trained_student, tmp_path, capsys, value):
    source = tmp_path / "in.txt"
    source.write_text("text\n", encoding="utf-8")
    args = ["extract", "--model", str(tiny_trained_student), "--input", str(source)]
    with pytest.raises(SystemExit) as exit_:
        main([*args, "--output", str(tmp_path / "o.jsonl"), "--drug-threshold", value])
    assert exit_.value.code == 2
    assert "argument --drug-threshold: expected a score between 0 and 1" in capsys.readouterr().err
    assert not (tmp_path / "o.jsonl").exists()


def test_extract_names_a_missing_model_or_an_output_over_the_input(tmp_path, tiny_trained_student, capsys):
    source = tmp_path / "in.txt"
    source.write_text("text\n", encoding="utf-8")
    assert (
        main(
            [
                "extract",
                "--model",
                str(tmp_path / "nope"),
                "--input",
                str(source),
                "--output",
                str(tmp_path / "o.jsonl"),
            ]
        )
        == 2
    )
    assert "no such model folder" in capsys.readouterr().err
    assert (
        main(
            ["extract", "--model", str(tiny_trained_student), "--input", str(source), "--output", str(source)]
        )
        == 2
    )
    assert "would overwrite the input" in capsys.readouterr().err
