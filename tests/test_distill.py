"""adekd distill end to end on a real HTTP teacher (127.0.0.1) and a tiny random BERT student.

The teacher is the OpenAI-compatible test server of the teacher tests, answering like a model that
links every known drug of a sentence to every known adverse event in it; the student is a 2-layer
random BERT with the packaged MiniLM tokenizer. Nothing is mocked inside adekd.
"""

from __future__ import annotations

import dataclasses
import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import datasets
import pytest
from student_support import tiny_encoder
from teacher_server import DRUGS, EVENTS, FakeOpenAIServer, Fault

from adekd.distill import DistillConfig, DistillError, distill
from adekd.distill.config import DistillConfigError, load_config
from adekd.distill.stamps import Stage
from adekd.records import new_record, read_jsonl, write_jsonl
from adekd.teacher.run import LabelConfig
from adekd.training import TrainingConfig

TEMPLATES = (
    "The patient developed {event} after {drug} was started.",
    "{drug} therapy was complicated by {event} in an elderly woman.",
    "We report {event} associated with {drug} in two children.",
    "Severe {event} occurred during treatment with {drug}.",
)


def labeled(i: int) -> dict:
    drug, event = DRUGS[i % len(DRUGS)], EVENTS[(i // len(DRUGS)) % len(EVENTS)]
    text = TEMPLATES[(i + i // 36) % len(TEMPLATES)].format(drug=drug, event=event)  # unique for i < 72
    text = text[0].upper() + text[1:]
    d, e = text.lower().index(drug), text.lower().index(event)
    return new_record(
        f"r{i}", text, [{"text": text[d : d + len(drug)], "start": d, "end": d + len(drug)}],
        [{"drug": 0, "text": text[e : e + len(event)], "start": e, "end": e + len(event)}],
    )  # fmt: skip


@pytest.fixture(scope="module")
def encoder(tmp_path_factory) -> Path:
    return tiny_encoder(tmp_path_factory.mktemp("encoder"))


@pytest.fixture(scope="module")
def corpus(tmp_path_factory) -> tuple[Path, Path]:
    folder = tmp_path_factory.mktemp("corpus")
    records = [labeled(i) for i in range(40)]
    (folder / "sentences.txt").write_text("".join(r["text"] + "\n" for r in records[:32]), encoding="utf-8")
    write_jsonl(records[32:] + [records[0]], folder / "gold.jsonl")  # r0 is also an input sentence
    write_jsonl(records[:32], folder / "labeled.jsonl")
    return folder / "sentences.txt", folder / "gold.jsonl"


@pytest.fixture
def server():
    with FakeOpenAIServer() as running:
        yield running


def run_config(
    output: Path, server_url: str, encoder: Path, corpus: tuple[Path, Path], **extra
) -> DistillConfig:
    sentences, gold = corpus
    teacher = LabelConfig(
        teacher="openai", model="teacher", base_url=server_url, concurrency=4, progress=False, max_retries=0
    )
    student = TrainingConfig(encoder=str(encoder), epochs=2, batch_size=8, eval_batch_size=16, seed=1)
    return DistillConfig(input=str(sentences), gold=str(gold), output_dir=str(output), teacher=teacher,
                         student=student, min_silver_records=10, **extra)  # fmt: skip


def test_distill_end_to_end_then_skips_then_reruns_what_changed(tmp_path, server, encoder, corpus):
    config = run_config(tmp_path / "run", server.url, encoder, corpus)
    result = distill(config)
    run = tmp_path / "run"
    summary = json.loads((run / "summary.json").read_text())
    assert summary == result.summary
    assert set(summary["stages"]) == {"inputs", "label", "train", "evaluate", "publish"}
    assert {info["status"] for info in summary["stages"].values()} == {"ran"}

    # the gold sentence that is also an input was not labeled for training
    assert summary["input"] == {"source": str(corpus[0]), "sentences": 31, "excluded_in_gold": 1}
    silver = datasets.load_dataset(str(run / "silver"), split="train")
    assert silver.num_rows == 31 and summary["labels"]["records"] == 31
    assert "teacher_model" in silver.column_names
    gold_texts = {r["text"] for r in read_jsonl(corpus[1])}
    assert not gold_texts & set(silver["text"])
    # the lexicon teacher is exact on these sentences: F1 1.0 on gold, measured with ade_f1
    assert summary["teacher"]["scores"]["strict_f1"] == 1.0
    assert summary["gold"]["records"] == 9
    teacher_requests = server.request_counts()
    assert sum(teacher_requests.values()) == 31 + 9 and max(teacher_requests.values()) == 1

    # student scored on the same gold records, equal to what training measured on them as --test
    results = json.loads((run / "eval" / "results.json").read_text())
    metrics = json.loads((run / "student" / "metrics.json").read_text())
    assert results["student"]["strict_f1"] == pytest.approx(metrics["test"]["metrics"]["strict_f1"])
    assert summary["student"]["scores"]["strict_f1"] == results["student"]["strict_f1"]
    assert not (run / "student" / "checkpoints").exists()

    # publishable folders with cards; the dataset card cites the teacher's gold F1
    hub_model, hub_dataset = Path(summary["outputs"]["hub_model"]), Path(summary["outputs"]["hub_dataset"])
    assert (hub_model.parent, hub_model.name, hub_dataset.name) == (run / "hub", "run-student", "run-silver")
    assert (hub_model / "README.md").is_file() and (hub_model / "model.safetensors").is_file()
    assert "A small student distilled from LLM labels" in (hub_model / "README.md").read_text()
    assert metrics["train"]["teacher_models"] == ["teacher"]
    dataset_card = (hub_dataset / "README.md").read_text()
    assert "Teacher quality" in dataset_card and "`gold.jsonl` (9 sentences" in dataset_card
    assert "| (drug, ADE) pairs | 100.00 | 100.00 | 100.00 |" in dataset_card
    assert datasets.load_dataset(str(hub_dataset), split="train").num_rows == 31
    assert "adekd demo --model" in summary["demo"]
    table = result.table()
    assert "teacher" in table and "100.0" in table and "31 records" in table

    # second run: every stage skipped, no request sent
    server.reset()
    again = distill(config)
    assert {info["status"] for info in again.summary["stages"].values()} == {"skipped"}
    assert server.request_counts() == {}
    assert again.summary["student"]["scores"] == summary["student"]["scores"]

    # a corrupted student weight file: training reruns (and what depends on it), labeling does not
    (run / "student" / "model.safetensors").write_bytes(b"broken")
    third = distill(config).summary["stages"]
    assert [third[name]["status"] for name in ("inputs", "label", "train", "evaluate", "publish")] == [
        "skipped", "skipped", "ran", "ran", "ran",
    ]  # fmt: skip
    assert server.request_counts() == {}  # the teacher's gold answers came from the cache

    # a deleted silver shard: labeling reruns from the cache (no request), the student is retrained
    shutil.rmtree(run / "silver" / "data")
    fourth = distill(config).summary["stages"]
    assert fourth["label"]["status"] == "ran" and fourth["train"]["status"] == "ran"
    assert server.request_counts() == {}

    # a changed student setting retrains without relabeling
    config.student.epochs = 1
    fifth = distill(config).summary["stages"]
    assert fifth["label"]["status"] == "skipped" and fifth["train"]["status"] == "ran"


@pytest.mark.slow
def test_killed_run_resumes_training_from_its_checkpoint(tmp_path, server, encoder, corpus):
    """Kill `adekd distill` while it trains and rerun it: no relabeling, training resumes."""
    import signal
    import time

    sentences, gold = corpus
    run = tmp_path / "run"
    (tmp_path / "run.yaml").write_text(
        json.dumps(
            {
                "input": str(sentences),
                "gold": str(gold),
                "output_dir": str(run),
                "min_silver_records": 10,
                "teacher": {
                    "teacher": "openai",
                    "model": "teacher",
                    "base_url": server.url,
                    "progress": False,
                },
                "student": {
                    "encoder": str(encoder),
                    "epochs": 8,
                    "batch_size": 8,
                    "save_steps": 2,
                    "early_stopping_patience": None,
                    "seed": 1,
                },
            }
        )
    )  # fmt: skip  (JSON is YAML)
    process = subprocess.Popen(
        [sys.executable, "-m", "adekd.cli", "distill", "--config", str(tmp_path / "run.yaml")],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    checkpoints = run / "student" / "checkpoints"
    deadline = time.time() + 300
    while not (checkpoints.is_dir() and any(p.name.startswith("step-") for p in checkpoints.iterdir())):
        assert process.poll() is None and time.time() < deadline, "training never wrote a checkpoint"
        time.sleep(0.2)
    time.sleep(1.0)
    process.send_signal(signal.SIGKILL)
    process.wait()
    assert Stage(run, "train", ()).read_stamp()["status"] == "running"
    requests = sum(server.request_counts().values())

    summary = distill(load_config(tmp_path / "run.yaml")).summary
    assert summary["stages"]["label"]["status"] == "skipped"
    assert summary["stages"]["train"]["status"] == "resumed"
    assert sum(server.request_counts().values()) == requests + 9  # only the gold sentences, for evaluation
    metrics = json.loads((run / "student" / "metrics.json").read_text())
    assert metrics["training"]["global_step"] == 8 * 4  # as many steps as an uninterrupted run


def test_teacher_failing_every_request_stops_early_and_keeps_answers(tmp_path, server, encoder, corpus):
    sentences = corpus[0].read_text().splitlines()
    for sentence in sentences:
        server.fault(sentence, *[Fault(status=500)] * 3)
    config = run_config(tmp_path / "run", server.url, encoder, corpus)
    with pytest.raises(DistillError, match=r"label: the teacher failed on all 8 sentences .*500"):
        distill(config)
    assert sum(server.request_counts().values()) == 8  # the probe only, no retries (max_retries=0)
    assert not (tmp_path / "run" / "student").exists()
    assert (tmp_path / "run" / "teacher-cache.sqlite").is_file()
    failures = read_jsonl(tmp_path / "run" / "silver" / "failures.jsonl", validate=False)
    assert len(failures) == 8 and all("500" in failure["error"] for failure in failures)


def test_a_damaged_answer_cache_stops_the_run_in_one_line(tmp_path, server, encoder, corpus):
    (tmp_path / "bad.sqlite").write_bytes(b"not a database, not even SQLite" * 200)
    config = run_config(tmp_path / "run", server.url, encoder, corpus)
    config = dataclasses.replace(
        config, teacher=dataclasses.replace(config.teacher, cache=str(tmp_path / "bad.sqlite"))
    )
    with pytest.raises(
        DistillError,
        match=r"^label: answer cache .*bad\.sqlite cannot be used \(file is not a database\); .*\(teacher\.cache\)$",  # noqa: E501,
    ):
        distill(config)
    assert server.chat_requests() == []


def test_too_few_silver_records_names_the_count_needed(tmp_path, server, encoder, corpus):
    config = run_config(tmp_path / "run", server.url, encoder, corpus, max_sentences=5)
    with pytest.raises(
        DistillError, match=r"5 silver records \(5 with an ADE\); training needs at least 10"
    ) as err:
        distill(config)
    assert str(err.value).endswith(
        f"see the teacher's failures in {tmp_path / 'run' / 'silver' / 'failures.jsonl'}"
    )
    assert datasets.load_dataset(str(tmp_path / "run" / "silver"), split="train").num_rows == 5  # labels kept


def test_input_without_sentences(tmp_path, server, encoder, corpus):
    empty = tmp_path / "empty.txt"
    empty.write_text("\n  \n", encoding="utf-8")
    config = run_config(tmp_path / "run", server.url, encoder, (empty, corpus[1]))
    with pytest.raises(DistillError, match="no sentences to label"):
        distill(config)
    assert server.request_counts() == {}


def test_simulated_teacher_runs_through_the_same_stages(tmp_path, encoder, corpus):
    labeled_input = corpus[0].parent / "labeled.jsonl"
    config = run_config(
        tmp_path / "run", "http://unused", encoder, (labeled_input, corpus[1]), simulated_noise=0.5
    )
    summary = distill(config).summary
    assert summary["teacher"]["backend"] == "simulated"
    assert 0.2 < summary["teacher"]["scores"]["lenient_f1"] < 1.0
    unlabeled = run_config(tmp_path / "run2", "http://unused", encoder, corpus, simulated_noise=0.5)
    with pytest.raises(DistillError, match="needs labeled records"):
        distill(unlabeled)


def test_config_file_and_flags(tmp_path):
    path = tmp_path / "run.yaml"
    path.write_text("input: in.txt\nteacher: {teacher: openai, model: gpt-4o-mini}\nstudent: {epochs: 3}\n")
    config = load_config(path, {"output_dir": "out", "teacher": {"concurrency": 4, "model": None},
                                "student": {"epochs": 5}})  # fmt: skip
    assert (config.input, config.output_dir) == ("in.txt", "out")
    assert (config.teacher.teacher, config.teacher.model, config.teacher.concurrency) == (
        "openai",
        "gpt-4o-mini",
        4,
    )
    assert config.teacher.max_tokens == LabelConfig().max_tokens  # openai keeps LabelConfig's defaults
    defaults = load_config()
    assert defaults.teacher.max_tokens == 96  # the tuned local default
    assert (defaults.teacher.teacher, defaults.student.encoder) == ("local", "minilm")  # offline
    assert config.student.epochs == 5
    path.write_text("teacher: {temprature: 0.5}\n")
    with pytest.raises(DistillConfigError, match=r"run.yaml: teacher: unknown setting\(s\) \['temprature'\]"):
        load_config(path)
    with pytest.raises(DistillConfigError, match="student.train is set by adekd distill"):
        load_config(None, {"student": {"train": "x"}}).validate()
    with pytest.raises(DistillConfigError, match="student.train_revision is set by adekd distill"):
        load_config(None, {"student": {"train_revision": "v1"}}).validate()  # silver data is local
    remote = load_config(None, {"teacher": {"teacher": "vllm", "base_url": "http://me:pw@gpu-box:8000/v1"}})
    assert remote.to_dict()["teacher"]["base_url"] == "http://gpu-box:8000/v1"  # the run summary's copy
    assert remote.teacher.base_url == "http://me:pw@gpu-box:8000/v1"  # the one requests go to


@pytest.mark.parametrize(
    ("yaml_text", "message"),
    [
        ("max_sentences: lots", "max_sentences must be int or left out (null), got 'lots'"),
        ("student: {epochs: lots}", "student: epochs must be int, got 'lots'"),
        ('min_silver_records: "5"', "min_silver_records must be int, got '5'"),
        ('split_sentences: "no"', "split_sentences must be bool or left out (null), got 'no'"),
        ("student: {mixed_precision: fp8}", "mixed_precision must be one of 'no', 'bf16', 'fp16', got 'fp8'"),
        ("", "the file holds no settings"),  # not a silent default run of many minutes
    ],
)
def test_config_file_values_of_the_wrong_type_are_named(tmp_path, yaml_text, message):
    path = tmp_path / "run.yaml"
    path.write_text(yaml_text)
    with pytest.raises(DistillConfigError, match=re.escape(message)):
        load_config(path)


def test_output_among_a_users_files_is_refused_before_any_stage(tmp_path, corpus):
    project = tmp_path / "project"
    (project / "student").mkdir(parents=True)
    (project / "student" / "notes.txt").write_text("mine")
    config = DistillConfig(input=str(corpus[0]), gold=str(corpus[1]), output_dir=str(project))
    with pytest.raises(DistillError, match=r"holds files that no adekd distill run wrote \(student\)"):
        distill(config)
    assert [p.name for p in project.rglob("*")] == ["student", "notes.txt"]
    (tmp_path / "afile").write_text("x")
    with pytest.raises(DistillError, match="afile is a file, not a folder"):
        distill(dataclasses.replace(config, output_dir=str(tmp_path / "afile")))


def test_cli_reports_bad_input_in_one_line(tmp_path):
    empty = tmp_path / "empty.txt"
    empty.write_text("", encoding="utf-8")
    done = subprocess.run(
        [sys.executable, "-m", "adekd.cli", "distill", "--input", str(empty), "--output", str(tmp_path / "o"),
         "--teacher", "openai", "--base-url", "http://127.0.0.1:9/v1"],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert done.returncode == 2
    assert done.stderr.strip().splitlines()[-1].startswith("adekd distill: error: inputs: input")
    assert "no sentences to label" in done.stderr


@pytest.mark.slow
def test_embedded_teacher_on_the_embedded_sample(tmp_path, encoder, monkeypatch):
    """The default path without the ADE corpus: packaged SmolLM2 (local transformers) on sample sentences."""
    monkeypatch.setattr("adekd.distill.inputs.find_shared_data", lambda: None)  # as on a fresh machine
    monkeypatch.chdir(tmp_path)  # the default output folder is ./adekd-run
    config = load_config(None, {"max_sentences": 6, "max_gold": 2, "min_silver_records": 4,
                                "student": {"encoder": str(encoder), "epochs": 1}})  # fmt: skip
    summary = distill(config).summary
    assert summary["input"]["source"].startswith("embedded sample")
    assert summary["teacher"]["backend"] == "local" and "SmolLM2" in summary["teacher"]["model"]
    silver = datasets.load_dataset(str(tmp_path / "adekd-run" / "silver"), split="train")
    assert silver.num_rows + summary["labels"]["failures"] == 6
    assert all(row["teacher"] == "local" and row["raw_response"] for row in silver)
    assert summary["gold"]["records"] == 2 and summary["teacher"]["scores"] is not None
    assert (tmp_path / "adekd-run" / "hub" / "adekd-run-student" / "README.md").is_file()


def test_a_refit_student_goes_through_distill_and_its_dev_comes_from_the_selection(tmp_path, encoder, corpus):
    labeled_input = corpus[0].parent / "labeled.jsonl"
    config = run_config(
        tmp_path / "run", "http://unused", encoder, (labeled_input, corpus[1]), simulated_noise=0.5
    )
    config = dataclasses.replace(config, student=dataclasses.replace(config.student, refit=True))
    summary = distill(config).summary
    student = tmp_path / "run" / "student"
    selection = json.loads((student / "selection" / "metrics.json").read_text())
    dev = selection["dev"]["metrics"]
    assert summary["student"]["dev"] == {"strict_f1": dev["strict_f1"], "lenient_f1": dev["lenient_f1"]}
    assert json.loads((student / "metrics.json").read_text())["dev"] is None
    assert not (student / "checkpoints").exists() and not (student / "selection" / "checkpoints").exists()


def test_a_labeled_input_that_is_all_gold_says_so(tmp_path, corpus):
    labeled = corpus[0].parent / "labeled.jsonl"
    config = DistillConfig(
        input=str(labeled), gold=str(labeled), output_dir=str(tmp_path / "o"), simulated_noise=0.1
    )
    with pytest.raises(DistillError, match=r"no sentences to label \(every one is also a gold sentence\)"):
        distill(config)


def test_a_student_stamped_before_later_training_settings_existed_is_still_up_to_date():
    from adekd.distill.pipeline import STUDENT_FIELDS_ADDED_LATER, student_fingerprint_settings
    from adekd.distill.stamps import fingerprint

    student = TrainingConfig(encoder="minilm", epochs=3)
    later = set(STUDENT_FIELDS_ADDED_LATER)
    written_before = {name: value for name, value in dataclasses.asdict(student).items() if name not in later}
    assert fingerprint(student_fingerprint_settings(student)) == fingerprint(written_before)
    changed = dataclasses.replace(student, schedule_length=6)
    assert student_fingerprint_settings(changed)["schedule_length"] == 6  # a setting in use is stamped
