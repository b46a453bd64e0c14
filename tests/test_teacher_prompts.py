"""Prompt templates: built-ins, user files, examples from records, and a hash that tracks content."""

from __future__ import annotations

import json

import pytest

from adekd.records import write_jsonl
from adekd.tasks import load_task
from adekd.teacher.prompts import PromptError, PromptTemplate, load_prompt

SENTENCE = "Warfarin caused bleeding."
FORMAT_HINT = load_task("ade").format_hint


def test_builtin_prompts_render_the_sentence_last_and_the_format_in_the_system_message():
    zero, few = load_prompt("zero-shot"), load_prompt("few-shot")
    assert zero.id == "adekd-zero-shot-v1" and few.id == "adekd-few-shot-v1"
    assert not zero.examples and len(few.examples) == 4
    messages = few.messages(SENTENCE)
    assert messages[0]["role"] == "system" and FORMAT_HINT in messages[0]["content"]
    assert "{schema}" not in messages[0]["content"]
    assert [m["role"] for m in messages[1:]] == ["user", "assistant"] * 4 + ["user"]
    assert messages[-1]["content"] == f"Sentence: {SENTENCE}"
    # every built-in example answer quotes its own sentence exactly
    for example in few.examples:
        for drug in example.answer:
            assert drug.drug in example.text
            assert all(event in example.text for event in drug.adverse_events)
    assert json.loads(messages[2]["content"])["drugs"][0]["drug"] == "ketoconazole"


def test_hash_is_pinned_and_changes_with_content():
    few = load_prompt("few-shot")
    # Pinned: the hash keys the cache and is kept with every label, so it must not drift between
    # runs or versions. Editing a built-in template changes it on purpose: bump the template id too.
    assert (few.hash, load_prompt("zero-shot").hash) == ("20e354df91ad6359", "cb1ab42c0fa5423c")
    assert few.hash == few.sha256[:16]
    assert load_prompt("zero-shot").hash != few.hash
    # the id is a name, not content: renaming keeps the hash, editing one character changes it
    assert few.with_examples(few.examples, id="renamed").hash == few.hash
    edited = PromptTemplate(id=few.id, system=few.system + " ", user=few.user, examples=few.examples)
    assert edited.hash != few.hash
    assert few.with_examples(few.examples[:3]).hash != few.hash


def test_user_template_file_yaml_and_json_give_the_same_hash(tmp_path):
    template = {
        "id": "mine",
        "system": "Find drugs and their adverse events. Format: {schema}",
        "user": "Text: {text}",
        "examples": [
            {
                "text": "Aspirin gave me a rash.",
                "answer": {"drugs": [{"drug": "Aspirin", "adverse_events": ["rash"]}]},
            },
            {
                "id": "r1",
                "text": "Lithium tremor.",
                "drugs": [{"text": "Lithium", "start": 0, "end": 7}],
                "ades": [{"drug": 0, "text": "tremor", "start": 8, "end": 14}],
            },
        ],
    }
    (tmp_path / "t.json").write_text(json.dumps(template))
    (tmp_path / "t.yaml").write_text(
        "user: 'Text: {text}'\nid: mine\nsystem: 'Find drugs and their adverse events. Format: {schema}'\n"
        "examples:\n"
        "- text: Aspirin gave me a rash.\n  answer: {drugs: [{drug: Aspirin, adverse_events: [rash]}]}\n"
        "- {id: r1, text: Lithium tremor., drugs: [{text: Lithium, start: 0, end: 7}],\n"
        "   ades: [{drug: 0, text: tremor, start: 8, end: 14}]}\n"
    )
    from_json, from_yaml = load_prompt(tmp_path / "t.json"), load_prompt(tmp_path / "t.yaml")
    assert from_json.hash == from_yaml.hash
    assert from_json.messages("X")[-1] == {"role": "user", "content": "Text: X"}
    assert from_json.examples[1].answer[0].drug == "Lithium"
    assert from_json.examples[1].answer[0].adverse_events == ("tremor",)


def test_examples_from_a_records_file_replace_the_template_examples(tmp_path):
    records = [
        {
            "id": "a",
            "text": "Ibuprofen caused nausea.",
            "drugs": [{"text": "Ibuprofen", "start": 0, "end": 9}],
            "ades": [{"drug": 0, "text": "nausea", "start": 17, "end": 23}],
        },
        {"id": "b", "text": "No drug here.", "drugs": [], "ades": []},
    ]
    write_jsonl(records, tmp_path / "gold.jsonl")
    prompt = load_prompt("few-shot", examples=tmp_path / "gold.jsonl")
    assert prompt.id == "adekd-few-shot-v1+examples:gold.jsonl"
    assert [ex.text for ex in prompt.examples] == ["Ibuprofen caused nausea.", "No drug here."]
    assert json.loads(prompt.messages("x")[2]["content"]) == {
        "drugs": [{"drug": "Ibuprofen", "adverse_events": ["nausea"]}]
    }
    assert len(load_prompt("few-shot", examples=tmp_path / "gold.jsonl", num_examples=1).examples) == 1


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (None, r"examples file .*missing\.jsonl: no such file"),
        (b'{"id": "a", "text": "caf\xe9"}\n', r"examples file .*missing\.jsonl.* line 1, column"),
        (b'{"id": "a"}\n', r"examples file .*missing\.jsonl line 1: .*'text'"),
    ],
    ids=["missing", "not-utf8", "not-a-record"],
)
def test_an_unreadable_examples_file_is_named_as_the_examples_file(tmp_path, content, message):
    path = tmp_path / "missing.jsonl"
    if content is not None:
        path.write_bytes(content)
    with pytest.raises(PromptError, match=message):
        load_prompt("few-shot", examples=path)


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("id: x\nsystem: s\n", "needs string values for ['user']"),
        ("id: x\nsystem: s\nuser: no slot\n", "must contain the {text} slot"),
        ("id: x\nsystem: s\nuser: '{text}'\nextra: 1\n", "unknown template keys ['extra']"),
        (
            "id: x\nsystem: s\nuser: '{text}'\n"
            "examples: [{text: a, answer: {drugs: [{adverse_events: []}]}}]\n",
            "each answer drug needs a 'drug' string",
        ),
        (
            "id: x\nsystem: s\nuser: '{text}'\n"
            "examples: [{text: ab, drugs: [{text: zz, start: 0, end: 2}]}]\n",
            "is 'ab' in the text, not 'zz'",
        ),
    ],
)
def test_bad_template_files_name_the_file_and_the_problem(tmp_path, content, message):
    path = tmp_path / "bad.yaml"
    path.write_text(content)
    with pytest.raises(PromptError, match="bad.yaml") as err:
        load_prompt(path)
    assert message in str(err.value)


def test_unknown_prompt_name_lists_the_builtins():
    with pytest.raises(PromptError, match="not a file nor a built-in prompt \\(zero-shot, few-shot\\)"):
        load_prompt("three-shot")
