"""`adekd publish`: real silver datasets and trained students become Hub repo folders that load back.

The silver set comes from the real labeling run against a local OpenAI-compatible server, the
students from the real training loop (two steps on a tiny BERT); round trips run in a fresh process.
"""

from __future__ import annotations

import json
import os
import re
import stat
import subprocess
import sys
import textwrap

import datasets
import pytest
from hub_support import (
    FAKE_HF_TOKEN,
    FAKE_OPENAI_KEY,
    TEACHER_MODEL,
    build_silver,
    build_student,
    install_fake_hub,
    published_files,
)
from huggingface_hub import DatasetCard, ModelCard
from student_support import tiny_encoder
from training_support import make_records

from adekd.cli import main as cli_main
from adekd.hub import PublishError, publish
from adekd.metrics import score
from adekd.modeling import init_student
from adekd.records import dataset_to_records, write_jsonl

GOLD = make_records(8, seed=3, prefix="g")
STUDENT_FILES = {
    "README.md",
    "config.json",
    "model.safetensors",
    "configuration_adekd.py",
    "modeling_adekd.py",
    "tokenizer.json",
    "tokenizer_config.json",
    "training_config.json",
    "metrics.json",
}


@pytest.fixture(scope="module")
def secrets_in_env():
    """Recognisable fake secrets in the environment while artifacts are built and published."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("HF_TOKEN", FAKE_HF_TOKEN)
        patch.setenv("OPENAI_API_KEY", FAKE_OPENAI_KEY)
        yield


@pytest.fixture(scope="module")
def silver(tmp_path_factory, secrets_in_env):
    return build_silver(tmp_path_factory.mktemp("silver") / "silver", GOLD, unanswered=1)


@pytest.fixture(scope="module")
def gold_file(tmp_path_factory):
    path = tmp_path_factory.mktemp("gold") / "gold.jsonl"
    write_jsonl(GOLD, path)
    return path


@pytest.fixture(scope="module")
def student(tmp_path_factory, secrets_in_env):
    work = tmp_path_factory.mktemp("student")
    return build_student(work / "student", work / "inputs")


@pytest.fixture
def fake_hub(monkeypatch, tmp_path):
    yield from install_fake_hub(monkeypatch, tmp_path)


def run_python(code: str, cwd=None) -> str:
    """Run ``code`` in a fresh interpreter (no state from this process) and return its stdout."""
    result = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)], capture_output=True, text=True, timeout=300, cwd=cwd
    )
    assert result.returncode == 0, result.stderr[-3000:]
    return result.stdout


def card_snippets(repo) -> list[str]:
    """The ```python blocks of a published card, as a reader would copy them."""
    return re.findall(r"```python\n(.*?)```", (repo / "README.md").read_text(), flags=re.DOTALL)


def assert_no_secrets(folder):
    for path, content in published_files(folder).items():
        for secret in (FAKE_HF_TOKEN, FAKE_OPENAI_KEY):
            assert secret.encode() not in content, f"{path} holds a secret"


# --- silver datasets -------------------------------------------------------------------------------


def test_silver_dataset_repo_folder_has_the_card_the_data_and_the_recipe(silver, tmp_path):
    repo = publish(silver, tmp_path / "ade-silver").folder

    assert set(published_files(repo)) == {
        "README.md",
        "data/train-00000-of-00001.parquet",
        "run_summary.json",
        "failures.jsonl",
    }
    summary = json.loads((silver / "run_summary.json").read_text())
    card = DatasetCard.load(repo / "README.md")
    data = card.data.to_dict()
    assert data["annotations_creators"] == ["machine-generated"]
    assert data["size_categories"] == ["n<1K"]
    assert data["configs"] == [
        {"config_name": "default", "data_files": [{"split": "train", "path": "data/train-*"}]}
    ]
    counts = summary["counts"]
    assert (counts["sentences"], counts["failures"]) == (len(GOLD), 1)
    for label, value in [
        ("sentences labelled", counts["sentences"]),
        ("drug mentions", counts["drugs"]),
        ("ADE mentions (drug-ADE pairs)", counts["ades"]),
        ("quotes rejected (not found in the sentence)", counts["rejected_quotes"]),
        ("sentences the teacher failed on (not in the data)", counts["failures"]),
        ("prompt tokens", summary["usage"]["prompt_tokens"]),
        ("completion tokens", summary["usage"]["completion_tokens"]),
    ]:
        assert f"| {label} | {value:,} |" in card.text
    assert f"| model | {TEACHER_MODEL} |" in card.text
    assert f"`{summary['prompt']['sha256']}`" in card.text
    assert summary["prompt"]["text"].strip() in card.text
    assert "Not measured" in card.text
    assert 'load_dataset("ade-silver")' in card.text


def test_teacher_f1_against_gold_is_measured_on_the_sentences_it_was_given(silver, gold_file, tmp_path):
    extra_gold = make_records(3, seed=9, prefix="unseen")
    gold_path = tmp_path / "gold.jsonl"
    write_jsonl([*json.loads(json.dumps(GOLD)), *extra_gold], gold_path)

    repo = publish(silver, tmp_path / "repo", gold=gold_path).folder

    card = DatasetCard.load(repo / "README.md")
    silver_records = dataset_to_records(datasets.load_dataset(str(silver), split="train"), validate=False)
    expected = score(silver_records, GOLD)  # the unseen gold sentences are not the teacher's to answer
    assert expected["strict_f1"] == 1.0
    assert f"on `gold.jsonl` ({len(GOLD)} sentences the teacher was given)" in card.text
    cells = [f"{100 * expected[m]:.2f}" for m in ("strict_precision", "strict_recall", "strict_f1")]
    assert f"| (drug, ADE) pairs | {' | '.join(cells)} |" in card.text


def test_gold_from_another_corpus_is_refused(silver, tmp_path):
    other = [dict(record, text=record["text"] + " ") for record in GOLD]
    write_jsonl(other, tmp_path / "other.jsonl")
    with pytest.raises(PublishError, match="has another text in the gold set"):
        publish(silver, tmp_path / "repo", gold=tmp_path / "other.jsonl")
    assert not (tmp_path / "repo").exists()


def test_a_labeling_run_that_labeled_nothing_is_not_published(tmp_path, secrets_in_env):
    empty = build_silver(tmp_path / "silver", [], unanswered=2)  # every answer failed
    with pytest.raises(PublishError, match="holds no silver records: the labeling run labeled nothing"):
        publish(empty, tmp_path / "repo")
    assert not (tmp_path / "repo").exists()


@pytest.mark.slow
def test_published_silver_dataset_loads_back_in_a_fresh_process(silver, tmp_path):
    repo = publish(silver, tmp_path / "repo").folder
    source = datasets.load_dataset(str(silver), split="train")

    (snippet,) = card_snippets(repo)  # load_dataset("repo"): run it beside the folder, as written
    check = """
import json
print(json.dumps({"splits": list(dataset), "features": dataset["train"].features.to_dict(),
                  "rows": dataset["train"].to_list(), "record": record["id"]}))
"""
    out = run_python(snippet + check, cwd=tmp_path)

    loaded = json.loads(out.strip().splitlines()[-1])
    assert loaded["splits"] == ["train"]
    assert loaded["features"] == source.features.to_dict()
    assert loaded["rows"] == source.to_list()
    assert loaded["record"] == source[0]["id"]


# --- students ----------------------------------------------------------------------------------------


def test_student_repo_folder_holds_weights_code_tokenizer_and_a_card_citing_metrics(student, tmp_path):
    repo = publish(student, tmp_path / "ade-student").folder

    assert set(published_files(repo)) == STUDENT_FILES  # no checkpoints, logs or training runs
    metrics = json.loads((student / "metrics.json").read_text())
    card = ModelCard.load(repo / "README.md")
    data = card.data.to_dict()
    assert data["library_name"] == "transformers" and data["pipeline_tag"] == "token-classification"
    (index,) = data["model-index"]
    (result,) = index["results"]
    assert result["dataset"] == {"name": "test", "type": "test", "split": "test"}
    assert {m["config"]: m["value"] for m in result["metrics"]} == {
        "strict": metrics["test"]["metrics"]["strict_f1"],
        "lenient": metrics["test"]["metrics"]["lenient_f1"],
    }
    assert f"({metrics['test']['num_records']} sentences)" in card.text
    assert f"| optimizer steps | {metrics['training']['global_step']} |" in card.text
    assert "| max_steps | 2 |" in card.text
    assert "Not a clinical decision tool" in card.text


def test_student_trained_without_a_test_set_reports_dev_scores_as_optimistic(tmp_path, secrets_in_env):
    student = build_student(tmp_path / "student", tmp_path / "inputs", test=False)

    card = ModelCard.load(publish(student, tmp_path / "repo").folder / "README.md")

    metrics = json.loads((student / "metrics.json").read_text())
    (result,) = card.data.to_dict()["model-index"][0]["results"]
    assert result["dataset"]["split"] == "dev"
    assert result["metrics"][0]["value"] == metrics["dev"]["metrics"]["strict_f1"]
    assert "so they are optimistic" in card.text


def test_untrained_student_is_published_as_not_evaluated(tmp_path):
    student = init_student(tmp_path / "student", encoder=tiny_encoder(tmp_path / "encoder"))

    repo = publish(student, tmp_path / "repo").folder

    card = ModelCard.load(repo / "README.md")
    assert "model-index" not in card.data.to_dict()
    assert "An **untrained** student" in card.text and "distilled" not in card.text
    assert "Not evaluated" in card.text and "| (drug, ADE) pairs |" not in card.text
    assert "| training time | not recorded |" in card.text
    assert set(published_files(repo)) == STUDENT_FILES - {"training_config.json", "metrics.json"}


def test_lora_student_is_published_merged_with_the_adapter_optional(tmp_path, secrets_in_env):
    student = build_student(tmp_path / "student", tmp_path / "inputs", lora=True)

    merged = publish(student, tmp_path / "merged").folder
    with_adapter = publish(student, tmp_path / "with-adapter", include_adapter=True).folder

    assert set(published_files(merged)) == STUDENT_FILES
    assert {p.split("/")[0] for p in published_files(with_adapter)} == STUDENT_FILES | {"adapter"}
    adapter_files = set(published_files(with_adapter / "adapter"))
    assert adapter_files == {"adapter_config.json", "adapter_model.safetensors"}  # not peft's empty card
    assert "adapters merged into the" in ModelCard.load(merged / "README.md").text
    assert "`adapter/`" in ModelCard.load(with_adapter / "README.md").text


@pytest.mark.slow
def test_published_student_loads_back_in_a_fresh_process(student, tmp_path):
    repo = publish(student, tmp_path / "repo").folder
    sentence = "The patient developed nausea while taking aspirin daily."

    with_adekd, without_adekd = card_snippets(repo)  # model="repo": run them beside the folder, as written
    check = f"""
import json
published = extractor({sentence!r})
original = pipeline("ade-extraction", model={str(student)!r})({sentence!r})
print(json.dumps({{"class": type(model).__name__, "same": published == original, "record": published}}))
"""
    out = run_python(
        without_adekd + 'import sys\nassert "adekd" not in sys.modules\n' + with_adekd + check, cwd=tmp_path
    )

    result = json.loads(out.strip().splitlines()[-1])
    assert result["class"] == "AdeStudentForExtraction"  # loaded through trust_remote_code, without adekd
    assert result["same"] and result["record"]["text"] == sentence


# --- secrets, bad input and the command line ---------------------------------------------------------


def test_no_secret_from_the_environment_reaches_a_published_folder(silver, student, tmp_path):
    assert_no_secrets(publish(silver, tmp_path / "dataset").folder)
    assert_no_secrets(publish(student, tmp_path / "model").folder)


def test_a_secret_in_the_source_stops_publishing_before_anything_is_written(
    student, tmp_path, secrets_in_env
):
    leaky = tmp_path / "leaky"
    leaky.mkdir()
    for path in student.iterdir():
        if path.is_file():
            (leaky / path.name).write_bytes(path.read_bytes())
    config = json.loads((leaky / "training_config.json").read_text())
    (leaky / "training_config.json").write_text(json.dumps({**config, "note": FAKE_OPENAI_KEY}))

    with pytest.raises(PublishError, match="training_config.json holds the value of OPENAI_API_KEY") as err:
        publish(leaky, tmp_path / "repo")
    assert FAKE_OPENAI_KEY not in str(err.value)
    assert not (tmp_path / "repo").exists()
    assert not any(p.name.startswith(".repo.") for p in tmp_path.iterdir())


def test_output_must_not_overlap_the_source_or_clobber_a_folder(student, tmp_path):
    with pytest.raises(PublishError, match="overlaps the folder being published"):
        publish(student, student / "repo")
    (tmp_path / "repo").mkdir()
    (tmp_path / "repo" / "keep.txt").write_text("mine")
    with pytest.raises(PublishError, match="pass --overwrite"):
        publish(student, tmp_path / "repo")
    assert (tmp_path / "repo" / "keep.txt").read_text() == "mine"
    publish(student, tmp_path / "repo", overwrite=True)
    assert not (tmp_path / "repo" / "keep.txt").exists()


def test_published_folder_is_readable_by_others_as_the_umask_allows(student, tmp_path):
    previous = os.umask(0o022)
    try:
        repo = publish(student, tmp_path / "repo").folder
    finally:
        os.umask(previous)
    assert stat.S_IMODE(repo.stat().st_mode) == 0o755  # not the 0700 of a private temporary folder
    assert stat.S_IMODE((student / "model.safetensors").stat().st_mode) == 0o600  # as transformers saves it
    assert {stat.S_IMODE(p.stat().st_mode) for p in repo.iterdir()} == {0o644}


def test_a_model_folder_that_is_not_a_student_is_refused(tmp_path):
    encoder = tiny_encoder(tmp_path / "encoder")  # a plain BERT: config.json and weights

    with pytest.raises(
        PublishError, match=r"encoder: its config.json is a 'bert' model, not an adekd student"
    ):
        publish(encoder, tmp_path / "repo")
    assert not (tmp_path / "repo").exists()


def test_a_student_trained_on_gold_is_not_carded_as_distilled(student, tmp_path):
    card = ModelCard.load(publish(student, tmp_path / "repo").folder / "README.md")

    assert json.loads((student / "metrics.json").read_text())["train"]["teacher_models"] == []
    assert "A small student trained on labeled data with adekd" in card.text
    assert "distilled" not in card.text and "knowledge-distillation" not in card.data.tags


def test_a_student_trained_on_silver_is_carded_as_distilled_from_its_teacher(silver, tmp_path):
    from adekd.training.config import TrainingConfig
    from adekd.training.loop import train

    encoder = tiny_encoder(tmp_path / "encoder")
    config = TrainingConfig(
        train=str(silver),
        output_dir=str(tmp_path / "student"),
        encoder=str(encoder),
        max_steps=1,
        batch_size=4,
    )
    train(config)

    metrics = json.loads((tmp_path / "student" / "metrics.json").read_text())
    assert metrics["train"]["teacher_models"] == [TEACHER_MODEL]
    card = ModelCard.load(publish(tmp_path / "student", tmp_path / "repo").folder / "README.md")
    assert "A small student distilled from LLM labels with adekd" in card.text
    assert f"silver labels\nwritten by the teacher LLM `{TEACHER_MODEL}`" in card.text
    assert "knowledge-distillation" in card.data.tags


def test_a_file_given_as_the_source_is_named_as_a_file(tmp_path):
    records = tmp_path / "records.jsonl"
    records.write_text("{}\n")
    with pytest.raises(PublishError, match=r"records.jsonl is a file; publish takes a folder"):
        publish(records, tmp_path / "repo")


def test_cli_publishes_and_pushes_one_commit_with_every_file(student, fake_hub, tmp_path, capsys):
    repo = tmp_path / "repo"

    code = cli_main(["publish", str(student), "--output", str(repo), "--push-to-hub", "my-org/ade-student"])

    assert code == 0
    assert len(fake_hub.commits) == 1
    assert fake_hub.committed_files() == published_files(repo)
    assert "uploaded: https://huggingface.co/my-org/ade-student/commit/" in capsys.readouterr().out


@pytest.mark.parametrize(
    ("flags", "message"),
    [
        (["--push-to-hub", "bad--id"], "invalid repo id 'bad--id'"),
        (
            ["--push-to-hub", "my-org/x", "--revision", "dev", "--create-pr"],
            "--create-pr opens a pull request",
        ),
        (["--pretty-name", "X"], "--pretty-name: not for a model folder"),
    ],
)
def test_cli_bad_input_fails_before_any_work(student, fake_hub, tmp_path, capsys, flags, message):
    code = cli_main(["publish", str(student), "--output", str(tmp_path / "repo"), *flags])

    assert code == 2
    assert message in capsys.readouterr().err
    assert fake_hub.requests == [] and not (tmp_path / "repo").exists()


def test_cli_missing_token_says_how_to_log_in(student, fake_hub, tmp_path, capsys, monkeypatch):
    monkeypatch.delenv("HF_TOKEN")

    code = cli_main(
        ["publish", str(student), "--output", str(tmp_path / "repo"), "--push-to-hub", "my-org/x"]
    )

    assert code == 2
    assert "hf auth login" in capsys.readouterr().err
    assert fake_hub.requests == [] and not (tmp_path / "repo").exists()


def test_push_of_a_name_without_namespace_cards_the_repo_it_creates(student, fake_hub, tmp_path):
    result = publish(student, tmp_path / "repo", push_to_hub="ade-student")

    assert result.repo_id == "me/ade-student"  # the token's user, as the Hub names the new repo
    assert fake_hub.commits[0]["repo_id"] == "me/ade-student"
    card = (result.folder / "README.md").read_text()
    assert 'model="me/ade-student"' in card and 'from_pretrained("me/ade-student"' in card


def test_republishing_leaves_on_the_hub_only_what_the_folder_holds(student, fake_hub, tmp_path):
    fake_hub.repos["my-org/ade-student"] = [
        "README.md",
        "metrics.json",
        "vocab.txt",
        "model-00001-of-00002.safetensors",
    ]

    publish(student, tmp_path / "repo", push_to_hub="my-org/ade-student")

    assert sorted(fake_hub.deleted_files()) == ["model-00001-of-00002.safetensors", "vocab.txt"]
    assert set(fake_hub.committed_files()) == set(published_files(tmp_path / "repo"))


def test_private_push_to_an_existing_public_repo_is_refused_before_uploading(student, fake_hub, tmp_path):
    fake_hub.repos["my-org/public"] = ["README.md"]

    with pytest.raises(
        PublishError, match=r"'my-org/public' exists and is public: --private does not change"
    ):
        publish(student, tmp_path / "repo", push_to_hub="my-org/public", private=True)
    assert fake_hub.commits == [] and (tmp_path / "repo" / "README.md").is_file()

    publish(student, tmp_path / "new", push_to_hub="my-org/new", private=True)  # created private
    assert fake_hub.commits[0]["repo_id"] == "my-org/new"
