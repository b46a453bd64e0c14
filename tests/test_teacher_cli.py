"""`adekd label` end to end against a real HTTP server: resume after SIGKILL, bad input, output folder."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time

import datasets
import pytest
from teacher_server import FakeOpenAIServer

from adekd.cli import main
from adekd.records import write_jsonl

KEY = "sk-test-0123456789abcdef"


def label_args(server, tmp_path, input_path, *extra):
    return [
        "label",
        "--input",
        str(input_path),
        "--output",
        str(tmp_path / "silver"),
        "--teacher",
        "openai",
        "--model",
        "teacher",
        "--base-url",
        server.url,
        "--cache",
        str(tmp_path / "cache.sqlite"),
        "--no-progress",
        *extra,
    ]


def cached_answers(path) -> int:
    if not path.exists():
        return 0
    with sqlite3.connect(path) as db:
        try:
            return db.execute("SELECT COUNT(*) FROM answers").fetchone()[0]
        except sqlite3.OperationalError:  # the table is not created yet
            return 0


@pytest.mark.slow
def test_killed_run_resumes_without_lost_or_repeated_requests(tmp_path):
    sentences = [f"Patient {i} developed a rash on aspirin." for i in range(24)]
    input_path = tmp_path / "in.txt"
    input_path.write_text("\n".join(sentences) + "\n")
    env = {**os.environ, "OPENAI_API_KEY": KEY}
    with FakeOpenAIServer() as server:
        command = [
            sys.executable,
            "-m",
            "adekd.cli",
            *label_args(server, tmp_path, input_path, "--concurrency", "4"),
        ]
        server.hold_after = 7  # answer 7 requests, then keep the next ones in flight
        process = subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        deadline = time.monotonic() + 120
        while not (cached_answers(tmp_path / "cache.sqlite") == 7 and len(server.chat_requests()) >= 7 + 4):
            assert process.poll() is None, process.communicate()
            assert time.monotonic() < deadline, "the run never reached the kill point"
            time.sleep(0.05)
        process.send_signal(signal.SIGKILL)
        process.wait()
        answered_before_kill = set(server.answered)
        in_flight_at_kill = {r["sentence"] for r in server.chat_requests()} - answered_before_kill
        assert len(answered_before_kill) == 7 and len(in_flight_at_kill) == 4
        assert not (tmp_path / "silver").exists()

        server.hold_after = None
        server.release.set()
        server.reset()
        resumed = subprocess.run(command, env=env, capture_output=True, text=True, timeout=300)
        assert resumed.returncode == 0, resumed.stderr
        sent_after_resume = server.request_counts()

    assert answered_before_kill.isdisjoint(sent_after_resume)  # zero repeated
    assert set(sent_after_resume.values()) == {1}
    assert answered_before_kill | set(sent_after_resume) == set(sentences)  # zero lost
    silver = datasets.load_dataset(str(tmp_path / "silver"))["train"]
    assert sorted(silver["text"]) == sorted(sentences)
    assert all(len(row["ades"]) == 1 for row in silver)
    summary = json.loads((tmp_path / "silver" / "run_summary.json").read_text())
    assert (summary["counts"]["cached"], summary["counts"]["requested"]) == (7, 17)
    assert "labeled 24 texts (7 from the cache, 17 requested)" in resumed.stdout
    assert "HTTP Request" not in resumed.stderr  # no log line per request under the progress bar


def test_output_folder_empty_lines_duplicates_and_evaluation(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", KEY)
    lines = [
        "Amoxicillin caused a rash.",
        "",
        "   ",
        "Lithium was stopped after tremor.",
        "Amoxicillin caused a rash.",
        "Nothing to see here.",
        "x" * 50,
    ]
    input_path = tmp_path / "notes.txt"
    input_path.write_text("\n".join(lines) + "\n")
    with FakeOpenAIServer() as server:
        assert main(label_args(server, tmp_path, input_path, "--max-input-chars", "40")) == 0
        assert server.request_counts() == {lines[0]: 1, lines[3]: 1, lines[5]: 1}
    silver = datasets.load_dataset(str(tmp_path / "silver"))["train"]
    assert silver["id"] == ["notes-1", "notes-4", "notes-6"]  # ids keep the input's line numbers
    assert silver.features["drug_alignment"] == datasets.List(
        {"status": datasets.Value("string"), "similarity": datasets.Value("float32")}
    )
    tremor = {"drug": 0, "text": "tremor", "start": 26, "end": 32, "score": None, "label": "ADE"}
    assert silver[1]["ades"] == [tremor]  # spans labeled in the words of the task (ade by default)
    summary = json.loads((tmp_path / "silver" / "run_summary.json").read_text())
    counts = summary["counts"]
    assert (counts["inputs"], counts["duplicates"], counts["too_long"], counts["failures"]) == (5, 1, 1, 1)
    assert summary["teacher"]["model"] == "teacher" and summary["prompt"]["id"] == "adekd-few-shot-v1"
    failures = [
        json.loads(line) for line in (tmp_path / "silver" / "failures.jsonl").read_text().splitlines()
    ]
    assert [(f["id"], f["text"]) for f in failures] == [("notes-7", "x" * 50)]
    assert "over the limit of 40" in failures[0]["error"]
    assert "1 failed" in capsys.readouterr().out
    # silver output scores against gold with `adekd evaluate` (the teacher-F1 row)
    gold = [
        {
            "id": "notes-1",
            "text": lines[0],
            "drugs": [{"text": "Amoxicillin", "start": 0, "end": 11}],
            "ades": [{"drug": 0, "text": "rash", "start": 21, "end": 25}],
        },
        {
            "id": "notes-4",
            "text": lines[3],
            "drugs": [{"text": "Lithium", "start": 0, "end": 7}],
            "ades": [{"drug": 0, "text": "tremor", "start": 26, "end": 32}],
        },
        {"id": "notes-6", "text": lines[5], "drugs": [], "ades": []},
    ]
    write_jsonl(gold, tmp_path / "gold.jsonl")
    assert (
        main(
            [
                "evaluate",
                "--predictions",
                str(tmp_path / "silver"),
                "--references",
                str(tmp_path / "gold.jsonl"),
                "--output",
                str(tmp_path / "scores.json"),
            ]
        )
        == 0
    )
    scores = json.loads((tmp_path / "scores.json").read_text())
    assert (scores["strict_f1"], scores["strict_tp"], scores["num_records"]) == (1.0, 2, 3)


def test_failures_file_is_a_valid_input_for_a_retry(tmp_path, monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", KEY)
    (tmp_path / "in.jsonl").write_text(json.dumps({"id": "a", "text": "Warfarin and bleeding."}) + "\n")
    with FakeOpenAIServer() as server:
        from teacher_server import Fault

        server.fault("Warfarin and bleeding.", Fault(content="no idea"))
        assert main(label_args(server, tmp_path, tmp_path / "in.jsonl")) == 2  # its only input failed
        retry_dir = tmp_path / "retry"
        (tmp_path / "silver").rename(retry_dir)
        assert main(label_args(server, tmp_path, retry_dir / "failures.jsonl", "--prompt", "zero-shot")) == 0
    (row,) = datasets.load_dataset(str(tmp_path / "silver"))["train"]
    assert row["id"] == "a" and row["drugs"][0]["text"] == "Warfarin"


def test_non_utf8_input_names_the_line_and_sends_nothing(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", KEY)
    (tmp_path / "in.txt").write_bytes(b"Aspirin and rash.\nok\nbad \xff byte\n")
    with FakeOpenAIServer() as server:
        assert main(label_args(server, tmp_path, tmp_path / "in.txt")) == 2
        assert server.received == []
    error = capsys.readouterr().err
    assert "in.txt line 3" in error and "not valid UTF-8" in error and "Traceback" not in error


def test_missing_api_key_is_reported_before_any_request(tmp_path, capsys, monkeypatch):
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    (tmp_path / "in.txt").write_text("Aspirin and rash.\n")
    code = main(
        [
            "label",
            "--input",
            str(tmp_path / "in.txt"),
            "--output",
            str(tmp_path / "out"),
            "--teacher",
            "openai",
            "--cache",
            str(tmp_path / "c.sqlite"),
        ]
    )
    assert code == 2
    assert "the environment variable OPENAI_API_KEY is not set" in capsys.readouterr().err
    assert not (tmp_path / "out").exists() and not (tmp_path / "c.sqlite").exists()


@pytest.mark.parametrize("list_models", [True, False])
def test_unknown_model_is_a_one_line_error(tmp_path, capsys, monkeypatch, list_models):
    monkeypatch.setenv("OPENAI_API_KEY", KEY)
    (tmp_path / "in.txt").write_text("Aspirin and rash.\n")
    with FakeOpenAIServer(list_models=list_models) as server:
        args = label_args(server, tmp_path, tmp_path / "in.txt")
        args[args.index("teacher")] = "gpt-9"
        assert main(args) == 2
    error = capsys.readouterr().err
    expected = "model 'gpt-9' is not served by" if list_models else "The model `gpt-9` does not exist"
    assert error.startswith("adekd label: error:") and expected in error and "Traceback" not in error


def test_a_run_where_everything_failed_keeps_its_failures_and_exits_2(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", KEY)
    (tmp_path / "in.txt").write_text("Aspirin and rash.\nWarfarin and bleeding.\n")
    with FakeOpenAIServer(answer=lambda sentence: "no JSON here") as server:
        assert main(label_args(server, tmp_path, tmp_path / "in.txt")) == 2
    error = capsys.readouterr().err
    assert "no text was labeled: all 2 failed (first: unusable answer: no JSON object" in error
    assert sorted(path.name for path in (tmp_path / "silver").iterdir()) == [
        ".adekd-run.json",  # which run wrote the folder, so only the same run writes there again
        "failures.jsonl",
        "run_summary.json",
    ]


def test_output_folder_with_user_files_is_refused_before_any_request(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", KEY)
    (tmp_path / "in.txt").write_text("Aspirin and rash.\n")
    project = tmp_path / "silver"  # label_args writes to tmp_path/silver: here a user's project
    (project / "data").mkdir(parents=True)
    (project / "README.md").write_text("# mine\n")
    (project / "data" / "mydata.parquet").write_bytes(b"PAR1 user data")
    with FakeOpenAIServer() as server:
        assert main(label_args(server, tmp_path, tmp_path / "in.txt")) == 2
        assert server.received == []
    error = capsys.readouterr().err
    assert f"output folder {project} holds files adekd label did not write (README.md, data)" in error
    assert "choose a new or empty folder" in error and "Traceback" not in error
    assert (project / "README.md").read_text() == "# mine\n"
    assert (project / "data" / "mydata.parquet").read_bytes() == b"PAR1 user data"
    assert sorted(path.name for path in project.rglob("*")) == ["README.md", "data", "mydata.parquet"]


def test_an_output_folder_holding_only_hidden_files_counts_as_empty(tmp_path, monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", KEY)
    (tmp_path / "in.txt").write_text("Aspirin and rash.\n")
    (tmp_path / "silver").mkdir()
    (tmp_path / "silver" / ".gitkeep").write_text("")
    with FakeOpenAIServer() as server:
        assert main(label_args(server, tmp_path, tmp_path / "in.txt")) == 0
    assert (tmp_path / "silver" / ".gitkeep").is_file()
    assert datasets.load_dataset(str(tmp_path / "silver"))["train"]["text"] == ["Aspirin and rash."]


def test_rerun_rewrites_its_own_silver_folder_and_keeps_files_a_user_added(tmp_path, monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", KEY)
    (tmp_path / "in.txt").write_text("Aspirin and rash.\nWarfarin and bleeding.\n")
    silver = tmp_path / "silver"
    with FakeOpenAIServer() as server:
        assert main(label_args(server, tmp_path, tmp_path / "in.txt")) == 0
        (silver / "notes.txt").write_text("reviewed by me\n")
        (silver / "data" / "extra.parquet").write_bytes(b"PAR1 mine")
        (silver / "data" / "train-00000-of-00001.parquet").rename(
            silver / "data" / "train-00000-of-00002.parquet"
        )
        (tmp_path / "in.txt").write_text("Aspirin and rash.\n")
        assert main(label_args(server, tmp_path, tmp_path / "in.txt")) == 0
        assert server.request_counts() == {"Aspirin and rash.": 1, "Warfarin and bleeding.": 1}  # cached
    assert sorted(path.name for path in (silver / "data").iterdir()) == [
        "extra.parquet",
        "train-00000-of-00001.parquet",  # the stale shard of the first run is gone
    ]
    assert (silver / "notes.txt").read_text() == "reviewed by me\n"
    assert datasets.load_dataset(str(silver))["train"]["text"] == ["Aspirin and rash."]


@pytest.mark.parametrize(
    ("change", "difference"),
    [
        ("input", "input '{tmp}/in.txt', now '{tmp}/other.txt'"),
        ("model", "model 'teacher', now 'teacher-2'"),
    ],
)
def test_another_runs_silver_folder_is_refused_before_any_request(
    tmp_path, capsys, monkeypatch, change, difference
):
    monkeypatch.setenv("OPENAI_API_KEY", KEY)
    for name in ("in.txt", "other.txt"):
        (tmp_path / name).write_text("Aspirin and rash.\n")
    with FakeOpenAIServer() as server:
        assert main(label_args(server, tmp_path, tmp_path / "in.txt")) == 0
        before = {path: path.read_bytes() for path in (tmp_path / "silver").rglob("*") if path.is_file()}
        sent = len(server.received)
        args = label_args(server, tmp_path, tmp_path / ("other.txt" if change == "input" else "in.txt"))
        if change == "model":
            args[args.index("teacher")] = "teacher-2"
        assert main(args) == 2
        assert len(server.received) == sent
    error = capsys.readouterr().err
    assert f"holds the silver labels of another run ({difference.format(tmp=tmp_path)})" in error
    assert "choose another folder, or remove it to label it again" in error and "Traceback" not in error
    assert {path: path.read_bytes() for path in (tmp_path / "silver").rglob("*") if path.is_file()} == before


def test_the_same_input_is_the_same_file_whatever_path_names_it(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", KEY)
    for folder in ("a", "b"):
        (tmp_path / folder).mkdir()
        (tmp_path / folder / "in.txt").write_text(f"Aspirin and rash in {folder}.\n")
    monkeypatch.chdir(tmp_path / "a")
    with FakeOpenAIServer() as server:
        assert main(label_args(server, tmp_path, "in.txt")) == 0
        assert main(label_args(server, tmp_path, "./in.txt")) == 0
        assert main(label_args(server, tmp_path, tmp_path / "a" / "in.txt")) == 0
        monkeypatch.chdir(tmp_path / "b")  # "in.txt" here is another file
        assert main(label_args(server, tmp_path, "in.txt")) == 2
    error = capsys.readouterr().err
    assert f"another run (input '{tmp_path}/a/in.txt', now '{tmp_path}/b/in.txt')" in error
    silver = datasets.load_dataset(str(tmp_path / "silver"))["train"]
    assert silver["text"] == ["Aspirin and rash in a."]
    assert not (tmp_path / "hub").exists() and (tmp_path / "silver" / ".adekd-run.json").is_file()


@pytest.mark.parametrize(
    ("output", "message"),
    [
        ("afile", "output folder {tmp}/afile is a file"),
        ("afile/silver", "output folder {tmp}/afile/silver cannot be created: {tmp}/afile is a file"),
    ],
)
def test_output_that_is_a_file_is_refused_before_any_request(tmp_path, capsys, monkeypatch, output, message):
    monkeypatch.setenv("OPENAI_API_KEY", KEY)
    (tmp_path / "in.txt").write_text("Aspirin and rash.\n")
    (tmp_path / "afile").write_text("keep me\n")
    with FakeOpenAIServer() as server:
        args = label_args(server, tmp_path, tmp_path / "in.txt")
        args[args.index("--output") + 1] = str(tmp_path / output)
        assert main(args) == 2
        assert server.received == []
    error = capsys.readouterr().err
    assert message.format(tmp=tmp_path) in error and "Traceback" not in error
    assert (tmp_path / "afile").read_text() == "keep me\n"


@pytest.mark.parametrize(
    ("make_cache", "message"),
    [
        (lambda path: path.mkdir(), "is a folder; give the path of a cache file"),
        (
            lambda path: path.write_text('{"id": "a"}\n'),
            "cannot be used (file is not a database)",
        ),
        (
            lambda path: sqlite3.connect(path).execute("CREATE TABLE mine (x)").connection.commit(),
            "is an SQLite database that adekd did not write",
        ),
    ],
)
def test_unusable_cache_is_a_one_line_error_before_any_request(
    tmp_path, capsys, monkeypatch, make_cache, message
):
    monkeypatch.setenv("OPENAI_API_KEY", KEY)
    (tmp_path / "in.txt").write_text("Aspirin and rash.\n")
    make_cache(tmp_path / "cache.sqlite")
    with FakeOpenAIServer() as server:
        assert main(label_args(server, tmp_path, tmp_path / "in.txt")) == 2
        assert server.received == []
    error = capsys.readouterr().err
    assert f"answer cache {tmp_path / 'cache.sqlite'}" in error and message in error
    assert "Traceback" not in error and len(error.strip().splitlines()) == 1
    if (tmp_path / "cache.sqlite").is_file() and message.startswith("is an SQLite"):
        with sqlite3.connect(tmp_path / "cache.sqlite") as db:  # no adekd table was added to it
            assert [name for (name,) in db.execute("SELECT name FROM sqlite_master")] == ["mine"]
