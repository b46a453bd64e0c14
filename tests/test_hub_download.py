"""Students loaded from the Hub at a pinned revision.

``adekd extract --revision`` fetches that commit's files and extracts what that student extracts;
a sharded run records the commit its revision pointed to, loads exactly that commit even if the
branch moves while it starts, and refuses to resume once the revision points elsewhere. Training
from a Hub encoder or student (``--model-revision``) loads one commit and records it. The Hub
cannot be reached here, so it is faked at the HTTP transport (``hub_support.ServingHub``); the
students, tokenizers and downloads through huggingface_hub and transformers are real.
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pytest
from hub_support import ServingHub, install_serving_hub
from student_support import tiny_encoder
from training_support import kill_after_first_checkpoint, write_records

from adekd.cli import main
from adekd.modeling import extract, extract_file, init_student, load_pipeline
from adekd.modeling.sharding import SETTINGS_FILE, ShardingError, extract_sharded
from adekd.records import read_jsonl

REPO = "me/ade-student"
V1 = "1" * 40  # the trained student, tagged v1
MAIN = "2" * 40  # an untrained one, pushed after it to main
TEXTS = [
    "Case 0: amoxicillin was followed by a rash",
    "Case 1: cisplatin was followed by renal failure and tremor after some weeks",
    "Case 2: warfarin was followed by bleeding",
]


@pytest.fixture(scope="module")
def untrained_student(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("untrained")
    return init_student(folder / "student", encoder=tiny_encoder(folder / "encoder"))


@pytest.fixture
def hub(monkeypatch, tmp_path, tiny_trained_student, untrained_student):
    served = ServingHub(REPO, {V1: tiny_trained_student, MAIN: untrained_student}, {"v1": V1, "main": MAIN})
    yield from install_serving_hub(monkeypatch, tmp_path, served)


@pytest.fixture
def texts(tmp_path) -> Path:
    path = tmp_path / "texts.txt"
    path.write_text("\n".join(TEXTS) + "\n", encoding="utf-8")
    return path


def local_extraction(student: Path, texts: Path, output: Path) -> list[dict]:
    extract_file(str(student), texts, output)
    return read_jsonl(output)


def test_extract_at_a_revision_runs_the_student_of_that_commit(
    hub, texts, tmp_path, tiny_trained_student, untrained_student
):
    at_v1 = tmp_path / "v1.jsonl"
    assert (
        main(["extract", "--model", REPO, "--revision", "v1", "--input", str(texts), "--output", str(at_v1)])
        == 0
    )
    assert hub.resolved_commits() == {V1}
    assert f"/api/models/{REPO}/revision/v1" in [r.url.path for r in hub.requests]
    expected = local_extraction(tiny_trained_student, texts, tmp_path / "local-v1.jsonl")
    assert read_jsonl(at_v1) == expected
    assert any(record["ades"] for record in expected)  # a student that finds something: outputs can differ
    piped = extract_sharded(load_pipeline(REPO, revision="v1"), texts, tmp_path / "piped", shard_size=2)
    assert [r for e in piped["shards"] for r in read_jsonl(tmp_path / "piped" / e["file"])] == expected
    in_python = extract(TEXTS, REPO, revision="v1")
    assert [(r["drugs"], r["ades"]) for r in in_python] == [(r["drugs"], r["ades"]) for r in expected]

    hub.requests.clear()
    at_main = tmp_path / "main.jsonl"
    assert main(["extract", "--model", REPO, "--input", str(texts), "--output", str(at_main)]) == 0
    assert hub.resolved_commits() == {MAIN}
    assert read_jsonl(at_main) == local_extraction(untrained_student, texts, tmp_path / "local-main.jsonl")
    assert read_jsonl(at_main) != expected


def test_revision_is_refused_where_it_cannot_apply(hub, texts, tmp_path, tiny_trained_student, capsys):
    output = tmp_path / "out.jsonl"
    args = ["extract", "--model", str(tiny_trained_student), "--revision", "v1", "--input", str(texts)]
    assert main([*args, "--output", str(output)]) == 2
    assert (
        f"--revision 'v1' applies to a Hub id; {tiny_trained_student} is a local path"
        in capsys.readouterr().err
    )
    assert not output.exists() and hub.requests == []

    with pytest.raises(ShardingError, match="--revision 'v1' applies to a Hub id"):
        extract_sharded(str(tiny_trained_student), texts, tmp_path / "shards", revision="v1")
    with pytest.raises(ValueError, match="applies to a Hub id, not to a loaded AdeExtractionPipeline"):
        load_pipeline(load_pipeline(tiny_trained_student), revision="v1")


def test_an_unknown_revision_is_named_and_nothing_is_written(hub, texts, tmp_path, capsys):
    output = tmp_path / "out.jsonl"
    assert (
        main(["extract", "--model", REPO, "--revision", "v9", "--input", str(texts), "--output", str(output)])
        == 2
    )
    err = capsys.readouterr().err
    assert f"--model {REPO}: v9 is not a valid git identifier" in err
    assert not output.exists() and not hub.resolved_commits()


class MovingHub(ServingHub):
    """Moves ``ref`` to the MAIN commit once a run has asked where it points: a push landing while a
    run starts."""

    def __init__(self, *args, ref: str, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.ref = ref

    def __call__(self, request):
        response = super().__call__(request)
        asked = self.info_path + ("" if self.ref == "main" else f"/revision/{self.ref}")
        if request.url.path == asked:
            self.refs[self.ref] = MAIN
        return response


@pytest.fixture
def moving_hub(monkeypatch, tmp_path, tiny_trained_student, untrained_student):
    commits = {V1: tiny_trained_student, MAIN: untrained_student}
    served = MovingHub(REPO, commits, {"v1": V1, "main": MAIN}, ref="v1")
    yield from install_serving_hub(monkeypatch, tmp_path, served)


def test_sharded_run_loads_the_commit_it_recorded_and_refuses_a_moved_revision(
    moving_hub, tmp_path, texts, tiny_trained_student
):
    output = tmp_path / "shards"
    manifest = extract_sharded(REPO, texts, output, shard_size=2, revision="v1")
    settings = json.loads((output / SETTINGS_FILE).read_text())
    assert settings["model_state"] == {"revision": V1}
    assert moving_hub.resolved_commits() == {V1}  # the tag moved to MAIN before loading; the run kept V1
    records = [record for entry in manifest["shards"] for record in read_jsonl(output / entry["file"])]
    assert records == local_extraction(tiny_trained_student, texts, tmp_path / "local.jsonl")

    with pytest.raises(
        ShardingError,
        match=f"changed since the shards were written \\(Hub revision {V1}; now Hub revision {MAIN}\\)",
    ):
        extract_sharded(REPO, texts, output, shard_size=2, revision="v1")


def test_a_sharded_run_without_revision_pins_main_and_an_offline_rerun_loads_that_commit(
    hub, monkeypatch, tmp_path, texts, tiny_trained_student
):
    hub.refs["main"] = V1
    output = tmp_path / "shards"
    manifest = extract_sharded(REPO, texts, output, shard_size=2)
    assert json.loads((output / SETTINGS_FILE).read_text())["model_state"] == {"revision": V1}
    records = [record for entry in manifest["shards"] for record in read_jsonl(output / entry["file"])]
    assert records == local_extraction(tiny_trained_student, texts, tmp_path / "local.jsonl")

    # main moves on and this machine's cache follows it; then a shard is lost and the rerun is offline
    hub.refs["main"] = MAIN
    load_pipeline(REPO)
    (output / manifest["shards"][-1]["file"]).unlink()
    monkeypatch.setattr("huggingface_hub.constants.HF_HUB_OFFLINE", True)
    asked = len(hub.requests)
    rerun = extract_sharded(REPO, texts, output, shard_size=2)
    assert len(hub.requests) == asked  # offline: nothing asked of the Hub
    assert [record for entry in rerun["shards"] for record in read_jsonl(output / entry["file"])] == records


ENCODER = "me/tiny-encoder"


@pytest.fixture
def encoder_hub(monkeypatch, tmp_path):
    commits = {V1: tiny_encoder(tmp_path / "encoder-v1"), MAIN: tiny_encoder(tmp_path / "encoder-main")}
    served = ServingHub(ENCODER, commits, {"v1": V1, "main": MAIN})
    yield from install_serving_hub(monkeypatch, tmp_path, served)


def _train(tmp_path: Path, name: str, *flags: str) -> int:
    train = write_records(tmp_path / "train.jsonl", 8)
    return main(["train", "--train", str(train), "--output", str(tmp_path / name), "--epochs", "1",
                 "--batch-size", "8", "--dev-fraction", "0", *flags])  # fmt: skip


def test_training_from_a_hub_encoder_loads_and_records_one_commit(encoder_hub, tmp_path):
    assert _train(tmp_path, "pinned", "--encoder", ENCODER, "--model-revision", "v1") == 0
    assert json.loads((tmp_path / "pinned" / "metrics.json").read_text())["base_commit"] == V1
    assert encoder_hub.fetched_revisions() == {V1}  # every file at the commit, not at "v1"

    encoder_hub.requests.clear()
    assert _train(tmp_path, "main", "--encoder", ENCODER) == 0
    assert json.loads((tmp_path / "main" / "metrics.json").read_text())["base_commit"] == MAIN
    assert encoder_hub.fetched_revisions() == {MAIN}


@pytest.fixture
def moving_encoder_hub(monkeypatch, tmp_path):
    commits = {V1: tiny_encoder(tmp_path / "encoder-v1"), MAIN: tiny_encoder(tmp_path / "encoder-main")}
    served = MovingHub(ENCODER, commits, {"main": V1}, ref="main")
    yield from install_serving_hub(monkeypatch, tmp_path, served)


def test_a_push_while_training_starts_changes_neither_the_run_nor_its_refit(moving_encoder_hub, tmp_path):
    train = write_records(tmp_path / "train.jsonl", 16)
    output = tmp_path / "student"
    argv = ["train", "--train", str(train), "--output", str(output), "--encoder", ENCODER, "--epochs", "1",
            "--batch-size", "8", "--dev-fraction", "0.25", "--refit"]  # fmt: skip
    assert main(argv) == 0
    selection = json.loads((output / "selection" / "metrics.json").read_text())
    refit = json.loads((output / "metrics.json").read_text())
    assert selection["base_commit"] == refit["base_commit"] == V1  # main moved after the first question
    assert moving_encoder_hub.fetched_revisions() == {V1}


def test_a_resumed_training_loads_the_commit_it_started_from(encoder_hub, tmp_path, monkeypatch):
    from adekd.training import TrainingConfig, train

    encoder_hub.refs["main"] = V1
    config = TrainingConfig(
        train=str(write_records(tmp_path / "train.jsonl", 16)),
        output_dir=str(tmp_path / "student"),
        encoder=ENCODER,
        epochs=2,
        batch_size=8,
        dev_fraction=0.0,
        save_steps=1,
    )
    kill_after_first_checkpoint(monkeypatch, config)
    encoder_hub.refs["main"] = MAIN  # pushed while the run was down
    encoder_hub.requests.clear()
    metrics = train(dataclasses.replace(config, resume=True))
    assert metrics["base_commit"] == V1 and metrics["training"]["global_step"] == 4
    assert encoder_hub.fetched_revisions() <= {V1}


def test_training_from_a_hub_student_at_a_revision(hub, tmp_path):
    assert _train(tmp_path, "retrained", "--init", REPO, "--model-revision", "v1") == 0
    assert json.loads((tmp_path / "retrained" / "metrics.json").read_text())["base_commit"] == V1
    assert hub.resolved_commits() == {V1}


def test_model_revision_of_a_local_path_is_refused_before_training(tmp_path, capsys):
    encoder = tiny_encoder(tmp_path / "encoder")
    assert _train(tmp_path, "student", "--encoder", str(encoder), "--model-revision", "v1") == 2
    assert f"--model-revision: revision 'v1' applies to a Hub id; {encoder} is a local path" in (
        capsys.readouterr().err
    )
    assert not (tmp_path / "student").exists()


def test_the_demo_serves_a_hub_student_at_a_revision(hub, monkeypatch, tmp_path, texts, tiny_trained_student):
    from adekd.demo import MODEL_REVISION_ENV, build_demo
    from adekd.demo.app import load_model

    monkeypatch.setenv(MODEL_REVISION_ENV, "v1")  # a Space variable
    build_demo(REPO)
    assert hub.resolved_commits() == {V1}
    extracted = extract(TEXTS, load_model(REPO, revision="v1"))
    local = local_extraction(tiny_trained_student, texts, tmp_path / "local.jsonl")
    assert [r["drugs"] for r in extracted] == [r["drugs"] for r in local]
    assert [r["ades"] for r in extracted] == [r["ades"] for r in local]


def test_the_demo_refuses_a_revision_for_a_local_folder(tiny_trained_student, tmp_path, capsys):
    from adekd.demo import DemoInputError
    from adekd.demo.app import load_model

    with pytest.raises(DemoInputError, match="Revision 'v1' applies to a Hub id"):
        load_model(str(tiny_trained_student), revision="v1")
    assert main(["demo", "--model", str(tiny_trained_student), "--revision", "v1"]) == 2
    assert "--revision 'v1' applies to a Hub id" in capsys.readouterr().err
    space = tmp_path / "space"
    assert main(["demo", "--export-space", str(space), "--model", REPO, "--revision", "v1"]) == 2
    assert "ADEKD_MODEL_REVISION" in capsys.readouterr().err and not space.exists()
