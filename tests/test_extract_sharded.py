"""Corpus-scale extraction: shards equal the one-file output, a killed run resumes, two processes share;
a rerun over a changed input or student, or into a folder of the user's, is refused.

The student is a tiny BERT trained until its spans are clear-cut: batches made up differently (a
shard's texts, another process's thread count) move scores in the last float bits on some CPUs,
which flips the near-ties of an untrained student's spans; predictions are compared with scores to
1e-5. The input is a plain text file; processes are real (``adekd extract`` in subprocesses,
``accelerate launch`` with two CPU processes on gloo).
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from adekd.modeling import extract_file
from adekd.modeling.sharding import MANIFEST_FILE, ShardingError, extract_sharded
from adekd.records import read_jsonl

DRUGS = ("amoxicillin", "cisplatin", "lithium carbonate", "warfarin")
EVENTS = ("a rash", "renal failure and tremor", "bleeding", "hepatitis")
SPAN_KEYS = ("drugs", "ades")


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


def assert_same_predictions(got: list[dict], expected: list[dict]) -> None:
    def scores(records: list[dict]) -> list[float]:
        return [span["score"] for record in records for key in SPAN_KEYS for span in record[key]]

    def without_scores(records: list[dict]) -> list[dict]:
        return [
            {**record, **{key: [{**span, "score": None} for span in record[key]] for key in SPAN_KEYS}}
            for record in records
        ]

    assert without_scores(got) == without_scores(expected)
    assert scores(got) == pytest.approx(scores(expected), abs=1e-5)


@pytest.fixture(scope="module")
def student(tiny_trained_student, tmp_path_factory) -> Path:
    return Path(shutil.copytree(tiny_trained_student, tmp_path_factory.mktemp("student") / "student"))


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
    assert_same_predictions(read_shards(tmp_path / "out"), expected)
    assert manifest["shards"][1]["first_id"] == expected[10]["id"]

    # a rerun finds every shard done and rewrites nothing
    before = {p.name: p.stat().st_mtime_ns for p in (tmp_path / "out").glob("shard-*.jsonl")}
    extract_sharded(str(student), texts, tmp_path / "out", shard_size=10, batch_size=8)
    assert {p.name: p.stat().st_mtime_ns for p in (tmp_path / "out").glob("shard-*.jsonl")} == before

    with pytest.raises(ShardingError, match=r"other settings: shard_size 10, now 7\. To resume"):
        extract_sharded(str(student), texts, tmp_path / "out", shard_size=7)


def test_missing_shard_file_is_redone(tmp_path, student, reference):
    texts, expected = reference
    extract_sharded(str(student), texts, tmp_path / "out", shard_size=20, batch_size=8)
    (tmp_path / "out" / "shard-00001.jsonl").unlink()
    manifest = extract_sharded(str(student), texts, tmp_path / "out", shard_size=20, batch_size=8)
    assert manifest["num_records"] == 53
    assert_same_predictions(read_shards(tmp_path / "out"), expected)


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
    assert_same_predictions(read_shards(tmp_path / "out"), expected)  # no record twice, none missing

    # one process finishes what two started: settings do not depend on the number of processes
    (tmp_path / "out" / "shard-00003.jsonl").unlink()
    alone = [sys.executable, *command[command.index("-m") :]]
    single = subprocess.run(alone, capture_output=True, text=True, env=env, timeout=600)
    assert single.returncode == 0, single.stderr[-3000:]
    assert_same_predictions(read_shards(tmp_path / "out"), expected)


def _save_dataset(folder: Path, count: int, offset: int = 0) -> Path:
    from adekd.records import new_record, records_to_dataset

    records = [
        new_record(f"r{offset + i}", f"Patient {offset + i} took {DRUGS[i % 4]}.") for i in range(count)
    ]
    records_to_dataset(records).save_to_disk(folder)
    return folder


def _shard_times(folder: Path) -> dict[str, int]:
    return {p.name: p.stat().st_mtime_ns for p in folder.glob("shard-*.jsonl")}


def test_a_changed_dataset_folder_is_refused_on_resume(tmp_path, student):
    data = _save_dataset(tmp_path / "ds", 12)
    manifest = extract_sharded(str(student), data, tmp_path / "out", shard_size=5)
    assert manifest["num_records"] == 12 and manifest["input"] == str(data.resolve())
    assert manifest["input_state"]["files"] == 3  # the arrow file, dataset_info.json, state.json
    (data / ".DS_Store").write_bytes(b"x")  # hidden files are no data: the resume goes on
    before = _shard_times(tmp_path / "out")
    extract_sharded(str(student), f"{data}/", tmp_path / "out", shard_size=5)
    assert _shard_times(tmp_path / "out") == before

    _save_dataset(data, 20, offset=100)  # the same folder, other records
    with pytest.raises(
        ShardingError, match=rf"input {data} changed since the shards were written \(3 files, \d+ bytes, last"
    ):
        extract_sharded(str(student), data, tmp_path / "out", shard_size=5)
    assert _shard_times(tmp_path / "out") == before
    assert read_shards(tmp_path / "out")[0]["id"] == "r0"  # the old shards are kept as they were


def test_the_model_is_compared_by_folder_and_weights_not_by_the_path_typed(tmp_path, student, monkeypatch):
    from safetensors.torch import load_file, save_file

    mine = tmp_path / "a" / "student"
    shutil.copytree(student, mine)
    texts = write_texts(tmp_path / "texts.txt", 12)
    monkeypatch.chdir(mine.parent)
    extract_sharded("student", texts, tmp_path / "out", shard_size=5)
    before = _shard_times(tmp_path / "out")
    for same in ("student/", "./student", str(mine)):  # one folder, however it is written
        extract_sharded(same, texts, tmp_path / "out", shard_size=5)
    assert _shard_times(tmp_path / "out") == before

    other = tmp_path / "b" / "student"  # the same relative path in another working directory
    shutil.copytree(student, other)
    monkeypatch.chdir(other.parent)
    with pytest.raises(ShardingError, match=rf"model '{mine}', now '{other}'"):
        extract_sharded("student", texts, tmp_path / "out", shard_size=5)

    weights = load_file(mine / "model.safetensors")  # the student retrained in its folder
    save_file({name: tensor + 0.5 for name, tensor in weights.items()}, mine / "model.safetensors")
    with pytest.raises(ShardingError, match=rf"model {mine} changed since the shards were written"):
        extract_sharded(str(mine), texts, tmp_path / "out", shard_size=5)
    assert _shard_times(tmp_path / "out") == before


@pytest.mark.parametrize(
    ("name", "content"),
    [("manifest.json", '{"my": "important manifest"}\n'), ("settings.json", '{"theme": "dark"}\n'),
     ("notes.txt", "mine\n")],
)  # fmt: skip
def test_a_folder_of_the_users_is_never_written_into(tmp_path, student, name, content):
    texts = write_texts(tmp_path / "texts.txt", 3)
    folder = tmp_path / "userdir"
    folder.mkdir()
    (folder / name).write_text(content)
    with pytest.raises(
        ShardingError, match=rf"^--output {folder} holds files adekd extract did not write \({name}\); "
    ):
        extract_sharded(str(student), texts, folder, shard_size=5)
    assert [p.name for p in folder.iterdir()] == [name] and (folder / name).read_text() == content


def test_an_empty_folder_or_a_run_stopped_before_its_first_shard_takes_new_settings(tmp_path, student):
    texts = write_texts(tmp_path / "texts.txt", 7)
    folder = tmp_path / "out"
    folder.mkdir()
    (folder / ".DS_Store").write_bytes(b"x")  # hidden files do not make a folder the user's
    weightless = tmp_path / "weightless"
    shutil.copytree(student, weightless)
    (weightless / "model.safetensors").unlink()
    with pytest.raises(ShardingError, match=rf"^--model {weightless}: "):
        extract_sharded(str(weightless), texts, folder, shard_size=5)
    manifest = extract_sharded(str(student), texts, folder, shard_size=5)  # the fixed command goes on
    assert manifest["num_records"] == 7 and manifest["model"] == str(student)


def test_shards_of_an_older_format_are_refused_not_mixed(tmp_path, student):
    texts = write_texts(tmp_path / "texts.txt", 3)
    folder = tmp_path / "out"
    folder.mkdir()
    (folder / "settings.json").write_text(
        json.dumps({"format": "adekd-extract-shards/1", "model": "student"})
    )
    (folder / "shard-00000.jsonl").write_text("")
    with pytest.raises(
        ShardingError, match=r"holds shards of another adekd version \(adekd-extract-shards/1, "
    ):
        extract_sharded(str(student), texts, folder, shard_size=2)


def test_an_output_inside_the_input_folder_is_refused(tmp_path, student):
    data = _save_dataset(tmp_path / "ds", 3)
    with pytest.raises(ShardingError, match=rf"^--output {data}/shards is inside --input {data}: "):
        extract_sharded(str(student), data, data / "shards", shard_size=2)
    assert not (data / "shards").exists()


def test_a_hub_dataset_is_compared_by_its_revision(tmp_path, student, monkeypatch):
    import httpx2
    from huggingface_hub.utils import _http

    from adekd.corpora import CorpusError

    revision = {"sha": "a" * 40}
    asked: list[str] = []

    def hub(request: httpx2.Request) -> httpx2.Response:
        if request.url.path != "/api/agent-harnesses":  # huggingface_hub's own telemetry, not ours
            asked.append(f"{request.method} {request.url.path}")
        if request.url.path == "/api/datasets/someone/sentences" and revision["sha"]:
            return httpx2.Response(200, json={"id": "someone/sentences", "sha": revision["sha"]})
        return httpx2.Response(404, json={"error": "Repository not found"})

    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf_home"))
    monkeypatch.delenv("HF_TOKEN", raising=False)
    monkeypatch.setattr("huggingface_hub.constants.HF_HUB_OFFLINE", False)
    monkeypatch.chdir(tmp_path)
    _http.set_client_factory(lambda: httpx2.Client(transport=httpx2.MockTransport(hub)))
    try:
        with pytest.raises(CorpusError):  # the fake Hub serves no data files
            extract_sharded(str(student), "someone/sentences", tmp_path / "out", shard_size=5)
        assert asked[0] == "GET /api/datasets/someone/sentences"
        settings = json.loads((tmp_path / "out" / "settings.json").read_text())
        assert settings["input"] == "someone/sentences" and settings["input_state"] == {"revision": "a" * 40}
        (tmp_path / "out" / "shard-00000.jsonl").write_text("")  # as if the first shard had been written

        revision["sha"] = "b" * 40  # the dataset was updated on the Hub
        with pytest.raises(ShardingError, match=f"revision {'a' * 40}; now Hub revision {'b' * 40}"):
            extract_sharded(str(student), "someone/sentences", tmp_path / "out", shard_size=5)
        revision["sha"] = None  # the Hub cannot say: the id alone is compared, and loading goes on
        with pytest.raises(CorpusError):
            extract_sharded(str(student), "someone/sentences", tmp_path / "out", shard_size=5)
    finally:
        _http.set_client_factory(_http.default_client_factory)
