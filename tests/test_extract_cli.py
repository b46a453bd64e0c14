"""`adekd student init` and `adekd extract`: folders that load, JSONL records out in input order."""

from __future__ import annotations

import argparse
import json
import shutil
from pathlib import Path

import pytest
import torch
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
        (
            '{"text": "fine"}\n',
            ["--max-length", "5000"],
            "--max-length/--stride: max_length=5000 exceeds what this encoder takes",
        ),
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


@pytest.mark.parametrize(
    ("flag", "value", "message"),
    [
        ("--max-length", "2", "argument --max-length: expected a whole number of at least 3"),
        ("--stride", "-1", "argument --stride: expected a whole number of at least 0"),
    ],
)
def test_extract_names_the_window_flag_it_refuses(
    tiny_trained_student, tmp_path, capsys, flag, value, message
):
    source = tmp_path / "in.txt"
    source.write_text("text\n", encoding="utf-8")
    args = ["extract", "--model", str(tiny_trained_student), "--input", str(source)]
    with pytest.raises(SystemExit) as exit_:
        main([*args, "--output", str(tmp_path / "o.jsonl"), flag, value])
    assert exit_.value.code == 2
    error = capsys.readouterr().err
    assert message in error and "--input" not in error.split("error:")[-1]


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


def test_student_init_refuses_a_folder_that_holds_files_or_a_student_as_encoder(tmp_path, capsys):
    encoder = tiny_encoder(tmp_path / "encoder")
    capsys.readouterr()
    trained = tmp_path / "trained"
    trained.mkdir()
    (trained / "metrics.json").write_text('{"strict_f1": 0.8}\n', encoding="utf-8")
    (trained / "model.safetensors").write_bytes(b"trained weights")
    init = ["student", "init", "--encoder", str(encoder), "--output"]
    assert main([*init, str(trained)]) == 2
    error = capsys.readouterr().err
    assert error.strip().splitlines() == [
        f"adekd student: error: --output {trained} already holds a trained student (metrics.json, "
        "model.safetensors); choose a new or empty folder, or remove it first"
    ]
    assert (trained / "model.safetensors").read_bytes() == b"trained weights"
    afile = tmp_path / "afile"
    afile.write_text("x", encoding="utf-8")
    assert main([*init, str(afile)]) == 2
    assert f"error: --output {afile} is a file, not a folder" in capsys.readouterr().err
    assert main([*init, str(afile / "sub")]) == 2
    assert f"error: --output {afile / 'sub'} cannot be created: {afile} is a file" in capsys.readouterr().err
    empty = tmp_path / "empty"
    empty.mkdir()
    (empty / ".DS_Store").write_text("", encoding="utf-8")
    assert main([*init, str(empty)]) == 0  # an empty folder (hidden files aside) is fine
    capsys.readouterr()
    assert main(["student", "init", "--encoder", str(empty), "--output", str(tmp_path / "s2")]) == 2
    error = capsys.readouterr().err
    assert f"--encoder {empty}: {empty} is an adekd student, not an encoder" in error
    assert f"`adekd train --init {empty}`" in error and "Traceback" not in error
    assert not (tmp_path / "s2").exists()


def _extract_args(model, source, output, *extra) -> list[str]:
    return ["extract", "--model", str(model), "--input", str(source), "--output", str(output), *extra]


@pytest.mark.parametrize(
    ("device", "message"),
    [
        ("nonsense", "--device 'nonsense' is not a torch device; use e.g. cpu, cuda, cuda:1 or mps"),
        pytest.param(
            "cuda:0",
            "--device 'cuda:0' cannot be used: no GPU is available to this torch",
            marks=pytest.mark.skipif(torch.cuda.is_available(), reason="a GPU is available"),
        ),
    ],
)
def test_extract_names_a_device_torch_cannot_use(tiny_trained_student, tmp_path, capsys, device, message):
    source = tmp_path / "in.txt"
    source.write_text("text\n", encoding="utf-8")
    for shards in ([], ["--shard-size", "2"]):
        assert (
            main(_extract_args(tiny_trained_student, source, tmp_path / "o", "--device", device, *shards))
            == 2
        )
        lines = capsys.readouterr().err.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith(f"adekd extract: error: {message}")
        assert not (tmp_path / "o").exists()


def test_extract_checks_output_and_model_before_loading_and_names_the_flag(
    tiny_trained_student, tmp_path, capsys
):
    source = tmp_path / "in.txt"
    source.write_text("text\n", encoding="utf-8")
    taken = tmp_path / "taken"
    taken.mkdir()
    assert main(_extract_args(tiny_trained_student, source, taken)) == 2
    assert f"error: --output {taken}: {taken} is a folder; give a file name" in capsys.readouterr().err
    assert not (tmp_path / "taken.tmp").exists()
    assert main(_extract_args(tiny_trained_student, source, source / "o.jsonl")) == 2
    assert f"error: --output {source / 'o.jsonl'}: " in capsys.readouterr().err
    not_a_student = tmp_path / "not-a-student"
    not_a_student.mkdir()
    assert main(_extract_args(not_a_student, source, tmp_path / "o.jsonl")) == 2
    assert capsys.readouterr().err.strip().splitlines() == [
        f"adekd extract: error: --model {not_a_student} is not an adekd student folder: it has no config.json"
    ]
    encoder = tiny_encoder(tmp_path / "encoder")
    assert main(_extract_args(encoder, source, tmp_path / "o.jsonl", "--shard-size", "2")) == 2
    assert f"--model {encoder} is not an adekd student: its config.json has model_type 'bert'" in (
        capsys.readouterr().err
    )
    weightless = tmp_path / "weightless"
    shutil.copytree(tiny_trained_student, weightless)
    (weightless / "model.safetensors").unlink()
    for sharding in ([], ["--shard-size", "2"]):  # the sharded path loads the model later, in its loop
        assert main(_extract_args(weightless, source, tmp_path / f"w{len(sharding)}.jsonl", *sharding)) == 2
        assert f"error: --model {weightless}" in capsys.readouterr().err
    assert main(_extract_args(source, source.with_suffix(".md"), tmp_path / "o.jsonl")) == 2
    assert f"--model {source} is a file, not a student folder" in capsys.readouterr().err
    assert not (tmp_path / "o.jsonl").exists()


class _FolderAtOutput:
    """A drug lexicon that, while the extraction runs, puts a folder where the output will be renamed to:
    the final rename fails although the output was checked at the start."""

    def __init__(self, output: Path):
        self.output = output

    def find(self, text: str) -> list[dict]:
        self.output.mkdir(exist_ok=True)
        return []


def test_a_failed_final_rename_names_output_and_keeps_the_records(tiny_trained_student, tmp_path):
    from adekd.cli import _extract_os_error
    from adekd.modeling import extract_file

    source = tmp_path / "in.txt"
    source.write_text(RECORDS[0]["text"] + "\n", encoding="utf-8")
    output = tmp_path / "out.jsonl"
    with pytest.raises(OSError) as failure:
        extract_file(str(tiny_trained_student), source, output, drug_lexicon=_FolderAtOutput(output))
    kept = tmp_path / "out.jsonl.tmp"
    assert output.is_dir() and len(kept.read_text().splitlines()) == 1  # the finished work is not lost
    assert f"the 1 records written are kept in {kept}" in str(failure.value)
    args = argparse.Namespace(output=str(output), model=str(tiny_trained_student), input=str(source))
    assert str(_extract_os_error(args, failure.value)).startswith(f"--output {output}: ")
    unreadable = OSError(13, "Permission denied", str(source))
    assert str(_extract_os_error(args, unreadable)).startswith(f"--input {source}: ")


def test_a_records_jsonl_streams_and_a_bad_line_keeps_the_records_before_it(tiny_trained_student, tmp_path):
    from adekd.modeling import extract_file
    from adekd.records import RecordError

    source = tmp_path / "in.jsonl"
    rows = [{**record, "ades": []} for record in RECORDS[:2]]
    broken = {"id": "bad", "text": "Short.", "drugs": [{"text": "X", "start": 0, "end": 40}], "ades": []}
    source.write_text("".join(json.dumps(row) + "\n" for row in [*rows, broken]), encoding="utf-8")
    output = tmp_path / "out.jsonl"
    with pytest.raises(RecordError, match=r"in\.jsonl line 3: record 'bad'"):
        extract_file(str(tiny_trained_student), source, output, batch_size=1, chunk_size=1)
    kept = read_jsonl(tmp_path / "out.jsonl.tmp")
    # extracted before line 3 was read (chunks of 1)
    assert [record["id"] for record in kept] == [row["id"] for row in rows]
    assert not output.exists()


@pytest.mark.parametrize(("native", "warned"), [(False, True), (True, False)])
def test_extract_in_bfloat16_warns_where_the_cpu_emulates_it(
    tiny_trained_student, tmp_path, monkeypatch, caplog, native, warned
):
    monkeypatch.setattr("adekd.hardware.cpu_has_native_bf16", lambda: native)  # CPU flags are fixed here
    source = tmp_path / "in.txt"
    source.write_text("Aspirin caused a rash.\n", encoding="utf-8")
    with caplog.at_level("WARNING", logger="adekd.hardware"):
        args = _extract_args(tiny_trained_student, source, tmp_path / "out.jsonl", "--dtype", "bfloat16")
        assert main([*args, "--device", "cpu"]) == 0
    messages = [r.getMessage() for r in caplog.records if r.name == "adekd.hardware"]
    assert [m.split(" on a CPU")[0] for m in messages] == (["--dtype bfloat16"] if warned else [])
    assert len(read_jsonl(tmp_path / "out.jsonl")) == 1
