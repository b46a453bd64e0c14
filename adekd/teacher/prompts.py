"""Prompt templates: what the teacher is asked, with an id and a content hash kept with every label.

A template is a system message, a user message with a ``{text}`` slot and optional few-shot
examples (each a sentence and the answer a perfect teacher gives), for one task
(:mod:`adekd.tasks`), which gives the answer's keys and format. The system message may hold a
``{schema}`` slot for the answer format. Two are built into every task, both from its spec:

- ``zero-shot``: the task's ``prompt.system`` and ``prompt.user``;
- ``few-shot``: the same plus the task's ``prompt.examples``.

A user template is a YAML or JSON file with the keys ``id``, ``system``, ``user`` and optionally
``examples``; each example (in a template or a task file) is either ``{"text", "answer":
{<anchors key>: [...]}}`` in the task's answer keys (ADE: ``{"drugs": [{"drug",
"adverse_events"}]}``) or a labeled record (``id``, ``text``, ``drugs``, ``ades`` with offsets).
``examples=`` replaces a template's examples with labeled records, e.g. a small gold sample of the
user's own domain.

The hash covers everything the model sees (system, user, examples, answer format), not the id,
so two runs share cache entries exactly when they would send the same prompt.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace
from functools import cached_property
from pathlib import Path
from typing import Any

import yaml

from adekd.records import Record, RecordError, validate_record
from adekd.tasks import TaskSpec, load_task
from adekd.teacher.schema import DrugAnswer, answer_to_json, record_to_answer

BUILTIN_PROMPTS = ("zero-shot", "few-shot")
PROMPT_FORMAT_VERSION = 1
"""Bump when the way messages are built from a template changes (it is part of the hash)."""


class PromptError(ValueError):
    """A template or examples file is unusable; the message names the file and the problem."""


@dataclass(frozen=True)
class Example:
    """A few-shot example: a sentence and the answer the teacher should give for it."""

    text: str
    answer: tuple[DrugAnswer, ...] = ()


@dataclass(frozen=True)
class PromptTemplate:
    """A chat prompt for one task (default ADE); :meth:`messages` renders it for one sentence."""

    id: str
    system: str
    user: str = "Sentence: {text}"
    examples: tuple[Example, ...] = field(default_factory=tuple)
    task: TaskSpec = field(default_factory=load_task, repr=False)
    """The task whose answer format (:attr:`~adekd.tasks.TaskSpec.format_hint`) and keys it uses."""

    def __post_init__(self) -> None:
        if "{text}" not in self.user:
            raise PromptError(f"prompt {self.id!r}: the user message must contain the {{text}} slot")

    @cached_property
    def sha256(self) -> str:
        """Content hash of everything the model sees: equal for equal prompts across runs and machines."""
        content = {
            "format_version": PROMPT_FORMAT_VERSION,
            "system": self.system,
            "user": self.user,
            "answer_format": self.task.format_hint,
            "examples": [[ex.text, self._answer_json(ex)] for ex in self.examples],
        }
        blob = json.dumps(content, sort_keys=True, ensure_ascii=False).encode("utf-8")
        return hashlib.sha256(blob).hexdigest()

    @property
    def hash(self) -> str:
        """The first 16 hex digits of :attr:`sha256`, kept with every label and in cache keys."""
        return self.sha256[:16]

    def transcript(self, text: str = "{text}") -> str:
        """The prompt as readable text (for dataset cards and logs)."""
        return "\n\n".join(f"[{m['role']}]\n{m['content']}" for m in self.messages(text))

    def messages(self, text: str) -> list[dict[str, str]]:
        """The chat messages asking the teacher about ``text``."""
        messages = [{"role": "system", "content": self.system.replace("{schema}", self.task.format_hint)}]
        for example in self.examples:
            messages.append({"role": "user", "content": self.user.replace("{text}", example.text)})
            messages.append({"role": "assistant", "content": self._answer_json(example)})
        messages.append({"role": "user", "content": self.user.replace("{text}", text)})
        return messages

    def with_examples(self, examples: Iterable[Example], id: str | None = None) -> PromptTemplate:
        """This template with other few-shot examples (and optionally another id)."""
        return replace(self, id=id or self.id, examples=tuple(examples))

    def _answer_json(self, example: Example) -> str:
        return answer_to_json(example.answer, self.task.answer_keys)


def load_prompt(
    prompt: str | os.PathLike = "few-shot",
    examples: str | os.PathLike | Sequence[Record] | None = None,
    num_examples: int | None = None,
    task: str | os.PathLike | TaskSpec | None = None,
) -> PromptTemplate:
    """Resolve ``--prompt`` (a built-in name or a template file) and ``--examples`` into a template.

    ``task`` (a built-in task name, a task file or a spec; default ADE) gives the built-in prompts
    and the answer keys of every example. ``num_examples`` keeps the first N examples (of the file
    or of the template).
    """
    task = load_task(task)
    name = os.fspath(prompt)
    spec = task.prompt
    if name in BUILTIN_PROMPTS:
        template = PromptTemplate(id=spec.zero_shot_id, system=spec.system, user=spec.user, task=task)
        if name == "few-shot":
            builtin = (
                _example_from_dict(item, f"task {task.name!r} example {i}", task)
                for i, item in enumerate(spec.examples)
            )
            template = template.with_examples(builtin, id=spec.few_shot_id)
    else:
        template = load_template_file(name, task)
    if examples is not None:
        source = examples if isinstance(examples, Sequence) and not isinstance(examples, str) else None
        records = source if source is not None else _read_example_records(examples)  # type: ignore[arg-type]
        label = "records" if source is not None else Path(os.fspath(examples)).name  # type: ignore[arg-type]
        template = template.with_examples(
            examples_from_records(records), id=f"{template.id}+examples:{label}"
        )
    if num_examples is not None:
        if num_examples < 0:
            raise PromptError(f"num_examples must be >= 0, got {num_examples}")
        template = template.with_examples(template.examples[:num_examples])
    return template


def load_template_file(
    path: str | os.PathLike, task: str | os.PathLike | TaskSpec | None = None
) -> PromptTemplate:
    """Read a YAML or JSON template file for ``task`` (see the module docstring for its keys)."""
    path = Path(path)
    if not path.is_file():
        raise PromptError(
            f"prompt {os.fspath(path)!r} is not a file nor a built-in prompt ({', '.join(BUILTIN_PROMPTS)})"
        )
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))  # YAML is a superset of JSON
    except (yaml.YAMLError, UnicodeDecodeError) as err:
        raise PromptError(f"{path}: cannot read the template: {err}") from err
    return _template_from_dict(data, str(path), load_task(task))


def examples_from_records(records: Iterable[Record]) -> tuple[Example, ...]:
    """Few-shot examples from labeled records (the record's spans become the expected answer)."""
    return tuple(Example(record["text"], tuple(record_to_answer(record))) for record in records)


def _template_from_dict(data: Any, where: str, task: TaskSpec) -> PromptTemplate:
    if not isinstance(data, dict):
        raise PromptError(f"{where}: a template must be a mapping with 'id', 'system' and 'user'")
    missing = [key for key in ("id", "system", "user") if not isinstance(data.get(key), str)]
    if missing:
        raise PromptError(f"{where}: the template needs string values for {missing}")
    unknown = set(data) - {"id", "system", "user", "examples", "description"}
    if unknown:
        raise PromptError(f"{where}: unknown template keys {sorted(unknown)}")
    examples = tuple(
        _example_from_dict(item, f"{where} example {i}", task)
        for i, item in enumerate(data.get("examples") or [])
    )
    try:
        return PromptTemplate(
            id=data["id"], system=data["system"], user=data["user"], examples=examples, task=task
        )
    except PromptError as err:
        raise PromptError(f"{where}: {err}") from err


def _example_from_dict(item: Any, where: str, task: TaskSpec) -> Example:
    if not isinstance(item, dict) or not isinstance(item.get("text"), str):
        raise PromptError(f"{where}: an example needs a 'text' string")
    if "answer" in item:
        keys = task.answer_keys
        answer = item["answer"]
        items = answer.get(keys.anchors) if isinstance(answer, dict) else None
        if not isinstance(items, list):
            raise PromptError(f"{where}: 'answer' must be {{{keys.anchors!r}: [...]}}")
        anchors = []
        for anchor in items:
            if not isinstance(anchor, dict) or not isinstance(anchor.get(keys.anchor), str):
                raise PromptError(f"{where}: each answer {task.anchor.name} needs a {keys.anchor!r} string")
            targets = anchor.get(keys.targets) or []
            if not isinstance(targets, list) or not all(isinstance(target, str) for target in targets):
                raise PromptError(f"{where}: {keys.targets!r} of {anchor[keys.anchor]!r} must be strings")
            anchors.append(DrugAnswer(anchor[keys.anchor], tuple(targets)))
        return Example(item["text"], tuple(anchors))
    try:
        record = validate_record({"id": where, **item})
    except RecordError as err:
        raise PromptError(f"{where}: {err}") from err
    return Example(record["text"], tuple(record_to_answer(record)))


def _read_example_records(path: str | os.PathLike) -> list[Record]:
    from adekd.corpora import CorpusError
    from adekd.records import read_jsonl

    try:
        return read_jsonl(path)
    except (RecordError, CorpusError) as err:  # their messages start with the path
        raise PromptError(f"examples file {err}") from err
    except OSError as err:
        raise PromptError(f"examples file {os.fspath(path)!r}: {err}") from err
