"""Cards name the task: its title, description, tags and intended use, and its anchor and target words."""

from __future__ import annotations

import re

import pytest
from task_support import TOY_WORDS, toy_task_file

from adekd.hub import PublishError, dataset_card, model_card
from adekd.modeling import AdeStudentConfig
from adekd.records import new_record, records_to_dataset
from adekd.tasks import load_task

METRICS = {"test": {"name": "gold.jsonl", "num_records": 3, "metrics": {
    f"{unit}{matching}_{measure}": 0.5
    for unit in ("", "drug_", "ade_") for matching in ("strict", "lenient")
    for measure in ("precision", "recall", "f1")
}}}  # fmt: skip


def _ade_words_left(card_text: str) -> list[str]:
    """ADE words in a card's prose (code and the record keys `drugs`/`ades` are the same for every task)."""
    prose = re.sub(r"```.*?```|`[^`]*`", "", card_text.split("## Citation")[0], flags=re.DOTALL)
    return re.findall(r"\b(?:drugs?|ADEs?|adverse)\b", prose)


def test_model_card_of_a_task_student_speaks_the_task(tmp_path):
    import json

    AdeStudentConfig(**TOY_WORDS).save_pretrained(tmp_path)
    (tmp_path / "metrics.json").write_text(json.dumps(METRICS))

    card = model_card(tmp_path, load_id="me/toy-student", task=toy_task_file(tmp_path / "spec"))

    text = " ".join(card.text.split())
    data = card.data.to_dict()
    assert "exposure-outcomes" in data["tags"] and "adverse-drug-events" not in data["tags"]
    assert data["model-index"][0]["results"][0]["task"]["name"] == "Exposure outcomes"
    assert "task **Exposure outcomes** (`toy-exposure`). Exposure outcome extraction" in text
    assert "the outcomes each exposure led to" in text and "It is **exposure-centric**" in text
    assert "| (exposure, outcome) pairs | 50.00 |" in text and "| outcome mentions |" in text
    assert "`label` `EXPOSURE`" in text and "Intended use: Finding sentences that tie" in text
    assert 'extractor("Nausea followed the exposure to benzene.")' in text
    assert _ade_words_left(card.text) == []


def test_model_card_of_a_builtin_task_reads_the_task_from_the_config(tmp_path):
    cid = load_task("chemical-disease")
    AdeStudentConfig(**cid.type_names()).save_pretrained(tmp_path)

    card = model_card(tmp_path, load_id="x")

    text = " ".join(card.text.split())
    assert f"task **{cid.title}** (`chemical-disease`)" in text
    assert set(cid.card.tags) <= set(card.data.to_dict()["tags"])
    assert "the diseases each chemical induced" in text


def test_a_user_task_known_only_by_its_words_gets_a_card_from_the_words(tmp_path):
    AdeStudentConfig(**TOY_WORDS).save_pretrained(tmp_path)

    card = model_card(tmp_path, load_id="x")

    assert "task **toy-exposure** (`toy-exposure`)." in card.text
    assert "Not evaluated" in card.text and "exposure-centric" in card.text


def test_ade_cards_keep_their_words(tmp_path):
    AdeStudentConfig().save_pretrained(tmp_path)
    text = " ".join(model_card(tmp_path, load_id="x").text.split())
    assert "the adverse events each drug caused" in text and "It is **drug-centric**" in text
    assert "adverse-drug-events" in model_card(tmp_path, load_id="x").data.to_dict()["tags"]


def test_dataset_card_names_the_task_the_labeling_run_recorded(tmp_path):
    spec = load_task(toy_task_file(tmp_path))
    record = new_record("r", "Nausea followed benzene.", [{"text": "benzene", "start": 16, "end": 23}],
                        [{"drug": 0, "text": "Nausea", "start": 0, "end": 6}])  # fmt: skip
    data = {"train": records_to_dataset([record], task=spec)}
    summary = {"task": spec.to_dict(), "counts": {"drugs": 1, "ades": 1}}

    card = dataset_card(data, summary, load_id="me/toy-silver")

    text = " ".join(card.text.split())
    assert card.data.to_dict()["pretty_name"] == "Silver labels: Exposure outcomes"
    assert "| exposure mentions | 1 |" in card.text
    assert "| outcome mentions (exposure-outcome pairs) | 1 |" in card.text
    assert "| `drugs` | `list of {text, start, end, score, label}` | exposure mentions:" in card.text
    assert "Each span names its type in `label`: `EXPOSURE` or `OUTCOME`." in text
    assert _ade_words_left(card.text) == []


def test_a_recorded_task_name_that_cannot_be_found_asks_for_the_task(tmp_path):
    record = new_record("r", "text")
    with pytest.raises(PublishError, match=r"no-such-task.*name the task the card is for \(--task\)"):
        dataset_card({"train": records_to_dataset([record])}, {"task": "no-such-task"}, load_id="x")
    # as the message says, naming the task makes the card
    card = dataset_card(
        {"train": records_to_dataset([record])}, {"task": "no-such-task"}, load_id="x", task="ade"
    )
    assert "adverse-drug-events" in card.data.to_dict()["tags"]


def test_a_task_other_than_the_recorded_one_is_refused(tmp_path):
    AdeStudentConfig().save_pretrained(tmp_path)  # an ADE student: DRUG and ADE spans
    with pytest.raises(
        PublishError, match=r"--task chemical-disease does not match .*\(ade\): anchor_type 'drug'"
    ):
        model_card(tmp_path, load_id="x", task="chemical-disease")
    record = new_record("r", "text")
    with pytest.raises(PublishError, match="--task chemical-disease does not match"):
        dataset_card(
            {"train": records_to_dataset([record])}, {"task": "ade"}, load_id="x", task="chemical-disease"
        )
    # the recorded task itself, named again, is fine
    assert "It is **drug-centric**" in model_card(tmp_path, load_id="x", task="ade").text
