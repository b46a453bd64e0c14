"""The teacher driven by a task spec: a toy gene -> disease task written as a file, end to end.

The toy task exists only in a temporary YAML file: its prompt, answer keys, schema, parsing, a
labeling run against a real HTTP server on 127.0.0.1, the CLI and the simulated teacher all follow
it, while the built-in ADE task keeps its pinned prompt hashes.
"""

from __future__ import annotations

import json

import datasets
import pytest
from teacher_server import FakeOpenAIServer

from adekd.cli import main
from adekd.records import new_record
from adekd.tasks import load_task
from adekd.tasks.spec import task_from_dict
from adekd.teacher import DrugAnswer, LabelConfig, answer_schema, label, load_prompt, parse_answer
from adekd.teacher.parsing import AnswerParseError
from adekd.teacher.simulated import CorruptionRates, SimulatedTeacher

TOY_TASK = """\
name: gene-disease
title: Gene-disease associations
description: Genes and the diseases a sentence associates them with.
anchor: {name: gene, plural: genes, label: GENE}
target: {name: disease, plural: diseases, label: DISEASE}
relation: associated with
answer_keys: {anchors: genes, anchor: gene, targets: diseases}
prompt:
  zero_shot_id: toy-zero-v1
  few_shot_id: toy-few-v1
  user: "Text: {text}"
  system: |-
    List every gene of the text and the diseases the text associates with it.
    Answer in JSON: {schema}
  examples:
    - text: BRCA1 mutations raise the risk of breast cancer.
      answer: {genes: [{gene: BRCA1, diseases: [breast cancer]}]}
    - {id: r1, text: TP53 loss drives sarcoma., drugs: [{text: TP53, start: 0, end: 4}],
       ades: [{drug: 0, text: sarcoma, start: 17, end: 24}]}
"""

APOE = "Carriers of APOE e4 develop Alzheimer disease earlier."
BRCA = "BRCA1 and BRCA2 variants were linked to ovarian cancer."
NONE = "No gene was studied in this cohort."
ANSWERS = {
    APOE: {"genes": [{"gene": "APOE", "diseases": ["Alzheimer disease"]}]},
    BRCA: {"genes": [{"gene": g, "diseases": ["ovarian cancer"]} for g in ("BRCA1", "BRCA2")]},
    NONE: {"genes": []},
}


def gene_teacher(message: str) -> str:
    """The server's stand-in model: the toy answer for the sentence of the last user message."""
    text = message.removeprefix("Text: ")
    return json.dumps(ANSWERS.get(text, {"drugs": [{"drug": "aspirin", "adverse_events": []}]}))


@pytest.fixture
def toy_task(tmp_path):
    path = tmp_path / "gene-disease.yaml"
    path.write_text(TOY_TASK, encoding="utf-8")
    return path


def span(text, quote):
    start = text.index(quote)
    return {"text": quote, "start": start, "end": start + len(quote)}


def test_ade_prompts_are_the_task_spec_and_keep_their_pinned_hashes():
    for name, pinned in (("few-shot", "20e354df91ad6359"), ("zero-shot", "cb1ab42c0fa5423c")):
        prompt = load_prompt(name, task="ade")
        assert prompt.hash == pinned and prompt == load_prompt(name)
        assert prompt.system == load_task("ade").prompt.system


def test_toy_task_prompt_speaks_its_own_words(toy_task, tmp_path):
    task = load_task(toy_task)
    prompt = load_prompt("few-shot", task=toy_task)
    assert prompt.id == "toy-few-v1" and len(prompt.examples) == 2
    messages = prompt.messages("X")
    assert messages[0]["content"] == (
        "List every gene of the text and the diseases the text associates with it.\nAnswer in JSON: "
        '{"genes": [{"gene": "<gene, copied from the sentence>", '
        '"diseases": ["<disease, copied from the sentence>"]}]}'
    )
    assert messages[1]["content"] == "Text: BRCA1 mutations raise the risk of breast cancer."
    assert json.loads(messages[2]["content"]) == {"genes": [{"gene": "BRCA1", "diseases": ["breast cancer"]}]}
    assert json.loads(messages[4]["content"]) == {"genes": [{"gene": "TP53", "diseases": ["sarcoma"]}]}
    assert messages[-1] == {"role": "user", "content": "Text: X"}
    assert "drug" not in json.dumps(messages) and "adverse" not in json.dumps(messages)
    # the answer format is part of the hash: one template file, two tasks, two hashes
    template = tmp_path / "template.yaml"
    template.write_text("id: mine\nsystem: 'Extract. Format: {schema}'\nuser: '{text}'\n")
    under_toy, under_ade = load_prompt(template, task=task), load_prompt(template)
    assert under_toy.system == under_ade.system and under_toy.hash != under_ade.hash
    assert load_prompt("zero-shot", task=task).hash != load_prompt("zero-shot").hash


def test_toy_task_schema_and_parser_use_its_keys(toy_task):
    task = load_task(toy_task)
    schema = answer_schema(keys=task.answer_keys)
    assert schema["required"] == ["genes"]
    item = schema["properties"]["genes"]["items"]
    assert item["required"] == ["gene", "diseases"] and set(item["properties"]) == {"gene", "diseases"}
    clean = parse_answer(json.dumps(ANSWERS[BRCA]), task)
    assert clean.drugs == [DrugAnswer("BRCA1", ("ovarian cancer",)), DrugAnswer("BRCA2", ("ovarian cancer",))]
    assert clean.status == "ok"
    renamed = parse_answer('{"genes": [{"name": "APOE", "disease": [{"text": "Alzheimer disease"}]}]}', task)
    assert renamed.drugs == [DrugAnswer("APOE", ("Alzheimer disease",))]
    assert renamed.repairs == ("renamed keys",)
    single = parse_answer('{"gene": "APOE", "diseases": ["dementia"]}', task)
    assert single.repairs == ("single gene object",)
    with pytest.raises(AnswerParseError, match="no 'genes' list"):
        parse_answer('{"drugs": [{"drug": "aspirin", "adverse_events": ["rash"]}]}', task)


def test_label_runs_the_toy_task_against_a_server_and_never_shares_the_ade_cache(toy_task, tmp_path):
    task = load_task(toy_task)
    inputs = [{"id": "a", "text": APOE}, {"id": "b", "text": BRCA}, {"id": "c", "text": NONE}]
    with FakeOpenAIServer(answer=gene_teacher) as server:
        settings = {"teacher": "openai", "model": "teacher", "base_url": server.url, "progress": False,
                    "cache": str(tmp_path / "cache.sqlite")}  # fmt: skip
        result = label(inputs, LabelConfig(**settings, task=str(toy_task)))
        body = server.chat_requests(f"Text: {APOE}")[0]["body"]  # the server strips only "Sentence: "
        assert body["messages"][0]["content"].startswith("List every gene of the text")
        assert body["messages"][-1]["content"] == f"Text: {APOE}"
        response_format = body["response_format"]["json_schema"]
        assert response_format["name"] == "gene-disease_answer"
        assert response_format["schema"]["required"] == ["genes"]

        again = label(inputs, LabelConfig(**settings, task=task))
        assert again.summary["counts"]["cached"] == 3 and len(server.chat_requests()) == 3
        ade = label(inputs, LabelConfig(**settings))  # same texts, model and cache: other prompt hash
        assert ade.summary["counts"]["requested"] == 3 and len(server.chat_requests()) == 6

    first, second, empty = result.records
    assert first["drugs"] == [span(APOE, "APOE")]
    assert first["ades"] == [{"drug": 0, **span(APOE, "Alzheimer disease")}]
    assert second["drugs"] == [span(BRCA, "BRCA1"), span(BRCA, "BRCA2")]
    assert [(a["drug"], a["text"]) for a in second["ades"]] == [(0, "ovarian cancer"), (1, "ovarian cancer")]
    assert empty["drugs"] == [] and empty["ades"] == []
    assert {r["task"] for r in result.records} == {"gene-disease"}
    assert {r["parse_status"] for r in result.records} == {"ok"}
    assert task_from_dict(result.summary["task"]) == task
    assert result.summary["prompt"]["id"] == "toy-few-v1"
    # the ADE parser reads "drugs", so the server's "genes" answers are failures, not empty labels
    assert ade.records == [] and len(ade.failures) == 3
    assert all(f["error"].startswith("unusable answer: answer has no 'drugs' list") for f in ade.failures)

    result.save(tmp_path / "silver")
    silver = datasets.load_dataset(str(tmp_path / "silver"), split="train")
    assert silver["task"] == ["gene-disease"] * 3 and silver[0]["drugs"][0]["text"] == "APOE"
    card = (tmp_path / "silver" / "README.md").read_text()
    assert "Silver labels: Gene-disease associations" in card


def test_cli_labels_with_a_task_file_and_names_a_broken_one(toy_task, tmp_path, capsys):
    (tmp_path / "in.txt").write_text(f"{APOE}\n{NONE}\n")
    with FakeOpenAIServer(answer=gene_teacher) as server:
        common = ["label", "--input", str(tmp_path / "in.txt"), "--teacher", "openai", "--model",
                  "teacher", "--base-url", server.url, "--cache", str(tmp_path / "cache.sqlite"),
                  "--no-progress"]  # fmt: skip
        assert main([*common, "--output", str(tmp_path / "silver"), "--task", str(toy_task)]) == 0
        silver = datasets.load_dataset(str(tmp_path / "silver"), split="train")
        assert silver["task"] == ["gene-disease"] * 2 and silver[0]["ades"][0]["text"] == "Alzheimer disease"
        capsys.readouterr()

        broken = tmp_path / "broken.yaml"
        cases = [
            (TOY_TASK.replace(", targets: diseases", ""), "'answer_keys' is missing ['targets']"),
            (TOY_TASK.replace("{genes: [{gene: BRCA1", "{drugs: [{drug: BRCA1"), "must be {'genes': [...]}"),
            (None, "neither a built-in task"),
        ]
        for content, message in cases:
            broken.unlink(missing_ok=True)
            if content is not None:
                broken.write_text(content, encoding="utf-8")
            assert main([*common, "--output", str(tmp_path / "out"), "--task", str(broken)]) == 2
            err = capsys.readouterr().err
            assert err.startswith("adekd label: error: ") and err.count("\n") == 1
            assert message in err and ("broken.yaml" in err or "'gene-disease' example 0" in err)
        assert len(server.chat_requests()) == 2 and not (tmp_path / "out").exists()


def test_simulated_teacher_answers_in_the_task_words_and_copies_its_examples(toy_task):
    text = "Loss of PTEN was associated with glioma."
    gold = new_record("g1", text, [span(text, "PTEN")], [{"drug": 0, **span(text, "glioma")}])
    perfect, _ = SimulatedTeacher(CorruptionRates(), task=toy_task).label(gold)
    assert (perfect["drugs"], perfect["ades"]) == (gold["drugs"], gold["ades"])
    assert json.loads(perfect["raw_response"]) == {"genes": [{"gene": "PTEN", "diseases": ["glioma"]}]}
    assert perfect["task"] == "gene-disease"
    copying, counts = SimulatedTeacher(CorruptionRates(hallucinate=1.0), task=toy_task).label(gold)
    assert counts["hallucinate"] == 1 and copying["ades"] == []
    assert [q["quote"] for q in copying["rejected_quotes"]] in (["breast cancer"], ["sarcoma"])
    ade_copy, _ = SimulatedTeacher(CorruptionRates(hallucinate=1.0)).label(gold)
    ade_examples = load_prompt("few-shot").examples
    quoted = {target for example in ade_examples for item in example.answer for target in item.adverse_events}
    assert ade_copy["rejected_quotes"][0]["quote"] in quoted and ade_copy["task"] == "ade"
