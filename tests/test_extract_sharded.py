"""Corpus-scale extraction: shards equal the one-file output, a killed run resumes, two processes share.

The student is an untrained tiny BERT (random heads still give deterministic spans), the input a
plain text file; processes are real (``adekd extract`` in subprocesses, ``accelerate launch`` with
two CPU processes on gloo).
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
from student_support import tiny_encoder

from adekd.modeling import extract_file, init_student
from adekd.modeling.sharding import MANIFEST_FILE, ShardingError, extract_sharded
from adekd.records import read_jsonl

DRUGS = ("amoxicillin", "cisplatin", "lithium carbonate", "warfarin")
EVENTS = ("a rash", "renal failure and tremor", "bleeding", "hepatitis")


def write_texts(path: Path, count: int) -> Path:
    lines = [
        f"Case {i}: {DRUGS[i % 4]} was followed by {EVENTS[(i // 4) % 4]}" + " after some weeks" * (i % 5)
        for i in range(count)
    ]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def read_shards(folder: Path) -> list[dict]:
    manifest = json.loads((folder / MANIFEST_FILE).read_text())
    return [record for entry in manifest["shards"] for record in read_jsonl(folder / entry["file"])]


@pytest.fixture(scope="module")
def student(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("student")
    return init_student(folder / "student", encoder=tiny_encoder(folder / "encoder"))


@pytest.fixture(scope="module")
def reference(student, tmp_path_factory) -> tuple[Path, list[dict]]:
    """53 texts and their one-file extraction, the output every sharded run must reproduce."""
    folder = tmp_path_factory.mktemp("texts")
    texts = write_texts(folder / "texts.txt", 53)
    extract_file(str(student), texts, folder / "reference.jsonl", batch_size=8)
    return texts, read_jsonl(folder / "reference.jsonl")


def test_shards_reproduce_the_single_file_output(tmp_path, student, reference):
    texts, expected = reference
    manifest = extract_sharded(str(student), texts, tmp_path / "out", shard_size=10, batch_size=8)
    assert manifest["num_records"] == 53 and manifest["num_shards"] == 6 and manifest["complete"]
    assert [entry["records"] for entry in manifest["shards"]] == [10] * 5 + [3]
    assert sorted(p.name for p in (tmp_path / "out").glob("shard-*.jsonl")) == [
        f"shard-{i:05d}.jsonl" for i in range(6)
    ]
    assert read_shards(tmp_path / "out") == expected
    assert manifest["shards"][1]["first_id"] == expected[10]["id"]

    # a rerun finds every shard done and rewrites nothing
    before = {p.name: p.stat().st_mtime_ns for p in (tmp_path / "out").glob("shard-*.jsonl")}
    extract_sharded(str(student), texts, tmp_path / "out", shard_size=10, batch_size=8)
    assert {p.name: p.stat().st_mtime_ns for p in (tmp_path / "out").glob("shard-*.jsonl")} == before

    with pytest.raises(ShardingError, match=r"other settings \(shard_size differ\)"):
        extract_sharded(str(student), texts, tmp_path / "out", shard_size=7)


def test_missing_shard_file_is_redone(tmp_path, student, reference):
    texts, expected = reference
    extract_sharded(str(student), texts, tmp_path / "out", shard_size=20, batch_size=8)
    (tmp_path / "out" / "shard-00001.jsonl").unlink()
    manifest = extract_sharded(str(student), texts, tmp_path / "out", shard_size=20, batch_size=8)
    assert manifest["num_records"] == 53 and read_shards(tmp_path / "out") == expected


def test_an_output_under_a_file_is_refused_before_any_shard(tmp_path, student):
    texts = write_texts(tmp_path / "texts.txt", 3)
    with pytest.raises(ShardingError, match=rf"^--output {tmp_path}/texts.txt/out cannot be created: "):
        extract_sharded(str(student), texts, texts / "out", shard_size=2)


@pytest.mark.slow
def test_killed_extraction_resumes_by_shard(tmp_path, student):
    texts = write_texts(tmp_path / "texts.txt", 1500)
    output = tmp_path / "out"
    command = [sys.executable, "-m", "adekd.cli", "extract", "--model", str(student), "--input", str(texts),
               "--output", str(output), "--shard-size", "50"]  # fmt: skip
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    slow = [*command, "--batch-size", "1"]  # one text per forward pass: slow enough to be killed mid-run
    process = subprocess.Popen(slow, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    progress = output / ".progress"
    deadline = time.time() + 300
    while len(list(progress.glob("shard-*.json"))) < 2:
        assert process.poll() is None and time.time() < deadline, "no shard finished before the run ended"
        time.sleep(0.05)
    process.send_signal(signal.SIGKILL)
    process.wait()
    finished = {p.name: p.read_text() for p in progress.glob("shard-*.json")}
    assert 2 <= len(finished) < 30 and not (output / MANIFEST_FILE).exists()

    # the rerun may batch differently: batch size does not change the records, only the speed
    done = subprocess.run(
        [*command, "--batch-size", "32"], env=env, capture_output=True, text=True, timeout=600
    )
    assert done.returncode == 0, done.stderr[-3000:]
    assert {name: (progress / name).read_text() for name in finished} == finished  # not redone
    records = read_shards(output)
    assert [r["id"] for r in records] == [f"texts-{i}" for i in range(1, 1501)]  # each line once, in order
    assert not list(output.glob("*.tmp"))


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.mark.slow
def test_two_processes_share_the_shards_without_overlap(tmp_path, student, reference):
    texts, expected = reference
    accelerate = Path(sys.executable).with_name("accelerate")
    command = [
        str(accelerate), "launch", "--multi_gpu", "--num_processes", "2", "--num_machines", "1",
        "--mixed_precision", "no", "--dynamo_backend", "no", "--main_process_port", str(_free_port()),
        "-m", "adekd.cli", "extract", "--model", str(student), "--input", str(texts),
        "--output", str(tmp_path / "out"), "--shard-size", "7", "--batch-size", "8",
    ]  # fmt: skip
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    done = subprocess.run(command, capture_output=True, text=True, env=env, timeout=600)
    assert done.returncode == 0, done.stderr[-4000:]
    manifest = json.loads((tmp_path / "out" / MANIFEST_FILE).read_text())
    assert [entry["process"] for entry in manifest["shards"]] == [0, 1] * 4  # shard k on rank k % 2
    assert manifest["num_records"] == 53
    assert read_shards(tmp_path / "out") == expected  # no record twice, none missing, same predictions

    # one process finishes what two started: settings do not depend on the number of processes
    (tmp_path / "out" / "shard-00003.jsonl").unlink()
    alone = [sys.executable, *command[command.index("-m") :]]
    single = subprocess.run(alone, capture_output=True, text=True, env=env, timeout=600)
    assert single.returncode == 0, single.stderr[-3000:]
    assert read_shards(tmp_path / "out") == expected
