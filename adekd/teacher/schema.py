"""The one answer a teacher gives: the anchors of a sentence, each with the spans related to it.

The answer travels as JSON in the task's own words (:class:`adekd.tasks.AnswerKeys`); for the ADE
task ``{"drugs": [{"drug": "...", "adverse_events": ["...", ...]}]}``, where every string is meant
to be an exact quote of the sentence. :func:`answer_schema` is its JSON schema, sent to servers
that constrain decoding to it; the bounds (``maxItems``, ``maxLength``) stop small models from
repeating list items until they run out of tokens. With ``choices`` the strings are further
restricted to pieces of the sentence, which removes invented quotes on servers with guided
decoding (see FINDINGS: hallucinated quotes fell from about 50% to 0). Functions taking ``keys``
default to the default task's (ADE's).
"""

from __future__ import annotations

import copy
import json
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from adekd.records import Record
from adekd.tasks import AnswerKeys, load_task

MAX_DRUGS = 8
MAX_EVENTS_PER_DRUG = 8
MAX_QUOTE_CHARS = 200
MAX_CHOICE_WORDS = 8


@dataclass(frozen=True)
class DrugAnswer:
    """One anchor quoted by the teacher and the targets it relates to it.

    The names are the record model's (:mod:`adekd.records`): anchors live in ``drugs`` and targets
    in ``ades`` whatever the task, so ``drug`` is the anchor (a gene, a chemical) and
    ``adverse_events`` its targets (diseases) in tasks other than ADE.
    """

    drug: str
    adverse_events: tuple[str, ...] = field(default_factory=tuple)


def answer_schema(
    choices: Sequence[str] | None = None,
    max_drugs: int = MAX_DRUGS,
    max_events: int = MAX_EVENTS_PER_DRUG,
    max_quote_chars: int = MAX_QUOTE_CHARS,
    keys: AnswerKeys | None = None,
) -> dict[str, Any]:
    """The JSON schema of an answer under ``keys``; with ``choices`` every quote must be one of them."""
    keys = keys or load_task().answer_keys
    quote: dict[str, Any] = {"type": "string"}
    if choices is not None:
        quote["enum"] = list(choices)
    else:
        quote["maxLength"] = max_quote_chars
    anchor = {
        "type": "object",
        "properties": {
            keys.anchor: quote,
            keys.targets: {"type": "array", "items": quote, "maxItems": max_events},
        },
        "required": [keys.anchor, keys.targets],
        "additionalProperties": False,
    }
    return {
        "type": "object",
        "properties": {keys.anchors: {"type": "array", "items": anchor, "maxItems": max_drugs}},
        "required": [keys.anchors],
        "additionalProperties": False,
    }


def openai_strict_schema(schema: dict[str, Any]) -> dict[str, Any]:
    """A copy of ``schema`` without the keywords OpenAI's strict mode rejects (``maxLength``)."""
    schema = copy.deepcopy(schema)

    def strip(node: Any) -> None:
        if isinstance(node, dict):
            node.pop("maxLength", None)
            for value in node.values():
                strip(value)
        elif isinstance(node, list):
            for value in node:
                strip(value)

    strip(schema)
    return schema


_WORD = re.compile(r"\w+(?:[-'’]\w+)*")


def quote_choices(text: str, max_words: int = MAX_CHOICE_WORDS) -> list[str]:
    """Every run of 1..``max_words`` consecutive words of ``text``, as written (deduplicated, in order).

    A run starts at a word and ends at a word, so punctuation inside it (``"5-FU, then"``) is kept
    but a quote never starts or ends on punctuation or space.
    """
    words = [m.span() for m in _WORD.finditer(text)]
    seen: dict[str, None] = {}
    for i, (start, _) in enumerate(words):
        for _, end in words[i : i + max_words]:
            seen.setdefault(text[start:end], None)
    return list(seen)


def answer_to_json(answer: Iterable[DrugAnswer], keys: AnswerKeys | None = None) -> str:
    """The answer as the teacher should write it under ``keys`` (used for few-shot examples)."""
    keys = keys or load_task().answer_keys
    items = [{keys.anchor: item.drug, keys.targets: list(item.adverse_events)} for item in answer]
    return json.dumps({keys.anchors: items}, ensure_ascii=False)


def record_to_answer(record: Record) -> list[DrugAnswer]:
    """A labeled record as the answer a perfect teacher would give (anchors merged by their text)."""
    events: dict[str, list[str]] = {}
    for drug in record["drugs"]:
        events.setdefault(drug["text"], [])
    for ade in record["ades"]:
        drug_events = events.setdefault(record["drugs"][ade["drug"]]["text"], [])
        if ade["text"] not in drug_events:
            drug_events.append(ade["text"])
    return [DrugAnswer(drug, tuple(quotes)) for drug, quotes in events.items()]
