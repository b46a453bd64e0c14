"""A task: which entity anchors the extraction and which spans it relates, in the task's own words.

adekd extracts "anchor entity -> related spans" from sentences: drugs and the adverse events they
caused (the paper's task), chemicals and the diseases they induced, genes and associated diseases.
The record shape is the same for every task (anchors in ``drugs``, targets in ``ades``, see
:mod:`adekd.records`); a :class:`TaskSpec` carries what differs: the type names shown in pipeline
output, cards and the Space, the keys of the teacher's JSON answer, the teacher's instructions and
few-shot examples, and the card text. A task is a YAML file, so users add one without code.

The keys of a task file are the fields below; ``prompt`` holds ``system`` (with a ``{schema}`` slot
for the answer format), ``user`` (with a ``{text}`` slot), ``zero_shot_id``, ``few_shot_id`` and
``examples`` (each ``{"text", "answer": {<anchors key>: [...]}}`` or a labeled record). The
optional ``pubtator`` section (``anchor_type``, ``target_type``, ``relation``) says how a PubTator
corpus of the task annotates it, so its files load as labeled records.
"""

from __future__ import annotations

import os
import re
from dataclasses import MISSING, asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

import yaml

_NAME = re.compile(r"^[a-z0-9][a-z0-9-]*$")
_KEY = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


class TaskError(ValueError):
    """A task spec is unusable; the message names the file and the field."""


@dataclass(frozen=True)
class EntityType:
    """An entity type in the task's words: ``name`` in prose, ``label`` in tags and tables."""

    name: str
    plural: str
    label: str


@dataclass(frozen=True)
class AnswerKeys:
    """The JSON keys of the teacher's answer: ``{anchors: [{anchor: str, targets: [str]}]}``.

    Words the LLM understands (``drugs`` / ``drug`` / ``adverse_events``) make better answers than
    generic ones, so each task names its own.
    """

    anchors: str
    anchor: str
    targets: str


@dataclass(frozen=True)
class PromptSpec:
    """The teacher's instructions; few-shot examples stay raw dicts until the teacher parses them."""

    system: str
    user: str
    zero_shot_id: str
    few_shot_id: str
    examples: tuple[dict[str, Any], ...] = ()


@dataclass(frozen=True)
class PubTatorTypes:
    """How a PubTator corpus annotates the task: mention types of anchors and targets, relation type.

    With it, :func:`adekd.corpora.load_records` reads a PubTator file of this task as labeled
    sentence records (see :mod:`adekd.corpora.cdr`) instead of unlabeled sentences.
    """

    anchor_type: str
    target_type: str
    relation: str


@dataclass(frozen=True)
class CardText:
    """Task words for model and dataset cards."""

    tags: tuple[str, ...] = ()
    intended_use: str = ""


@dataclass(frozen=True)
class TaskSpec:
    """One extraction task; see the module docstring. Built-in tasks: :data:`BUILTIN_TASKS`."""

    name: str
    title: str
    description: str
    anchor: EntityType
    target: EntityType
    relation: str
    answer_keys: AnswerKeys
    prompt: PromptSpec
    card: CardText = field(default_factory=CardText)
    pubtator: PubTatorTypes | None = None
    """Set for tasks with a PubTator corpus (BC5CDR for ``chemical-disease``)."""

    @property
    def format_hint(self) -> str:
        """The answer format as the prompt shows it (the ``{schema}`` slot of the system message)."""
        keys = self.answer_keys
        return (
            f'{{"{keys.anchors}": [{{"{keys.anchor}": "<{self.anchor.name}, copied from the sentence>", '
            f'"{keys.targets}": ["<{self.target.name}, copied from the sentence>"]}}]}}'
        )

    def type_names(self) -> dict[str, str]:
        """The words a model config, dataset info and pipeline output carry for this task."""
        return {
            "task": self.name,
            "anchor_type": self.anchor.name,
            "anchor_label": self.anchor.label,
            "target_type": self.target.name,
            "target_label": self.target.label,
            "relation": self.relation,
        }

    def to_dict(self) -> dict[str, Any]:
        """The spec as the mapping its YAML file holds (round-trips through :func:`task_from_dict`)."""
        data = asdict(self)
        data["prompt"]["examples"] = list(self.prompt.examples)
        data["card"]["tags"] = list(self.card.tags)
        return data


def _section(data: dict, key: str, cls: type, where: str) -> Any:
    value = data.get(key)
    if not isinstance(value, dict):
        raise TaskError(f"{where}: {key!r} must be a mapping with {[f.name for f in fields(cls)]}")
    names = {f.name for f in fields(cls)}
    unknown = set(value) - names
    if unknown:
        raise TaskError(f"{where}: unknown keys {sorted(unknown)} in {key!r}")
    missing = _required(cls) - set(value)
    if missing:
        raise TaskError(f"{where}: {key!r} is missing {sorted(missing)}")
    for name, item in value.items():
        if name in ("examples", "tags"):
            continue
        if not isinstance(item, str) or not item.strip():
            raise TaskError(f"{where}: {key}.{name} must be a non-empty string, got {item!r}")
    return value


def _required(cls: type) -> set[str]:
    return {f.name for f in fields(cls) if f.default is MISSING and f.default_factory is MISSING}


def task_from_dict(data: Any, where: str = "task") -> TaskSpec:
    """Build and check a spec from a mapping (a parsed task file); errors name ``where``."""
    if not isinstance(data, dict):
        raise TaskError(f"{where}: a task spec must be a mapping, got {type(data).__name__}")
    unknown = set(data) - {f.name for f in fields(TaskSpec)}
    if unknown:
        raise TaskError(f"{where}: unknown keys {sorted(unknown)}")
    for key in ("name", "title", "description", "relation"):
        if not isinstance(data.get(key), str) or not data[key].strip():
            raise TaskError(f"{where}: {key!r} must be a non-empty string")
    if not _NAME.match(data["name"]):
        raise TaskError(f"{where}: name {data['name']!r} must be lowercase letters, digits and '-'")
    anchor = EntityType(**_section(data, "anchor", EntityType, where))
    target = EntityType(**_section(data, "target", EntityType, where))
    if anchor.label.upper() == target.label.upper():  # the tags and the output spans tell them apart by it
        raise TaskError(f"{where}: anchor.label and target.label must differ, both are {anchor.label!r}")
    keys = AnswerKeys(**_section(data, "answer_keys", AnswerKeys, where))
    for name, key in asdict(keys).items():
        if not _KEY.match(key):
            raise TaskError(f"{where}: answer_keys.{name} {key!r} must be a plain JSON key (letters, _)")
    if len({keys.anchors, keys.anchor, keys.targets}) != 3:
        raise TaskError(f"{where}: answer_keys must be three different keys, got {asdict(keys)}")
    prompt = dict(_section(data, "prompt", PromptSpec, where))
    if "{text}" not in prompt["user"]:
        raise TaskError(f"{where}: prompt.user must contain the {{text}} slot")
    examples = prompt.get("examples") or []
    if not isinstance(examples, list) or not all(isinstance(item, dict) for item in examples):
        raise TaskError(f"{where}: prompt.examples must be a list of mappings")
    prompt["examples"] = tuple(examples)
    card = data.get("card") or {}
    if not isinstance(card, dict) or set(card) - {"tags", "intended_use"}:
        raise TaskError(f"{where}: 'card' may hold only 'tags' and 'intended_use'")
    tags = card.get("tags") or []
    if not isinstance(tags, list) or not all(isinstance(tag, str) for tag in tags):
        raise TaskError(f"{where}: card.tags must be a list of strings")
    pubtator = data.get("pubtator")
    if pubtator is not None:
        pubtator = PubTatorTypes(**_section(data, "pubtator", PubTatorTypes, where))
    spec = TaskSpec(
        name=data["name"],
        title=data["title"],
        description=" ".join(data["description"].split()),
        anchor=anchor,
        target=target,
        relation=data["relation"],
        answer_keys=keys,
        prompt=PromptSpec(**prompt),
        card=CardText(tags=tuple(tags), intended_use=" ".join(str(card.get("intended_use", "")).split())),
        pubtator=pubtator,
    )
    from adekd.teacher.prompts import PromptError, load_prompt  # the prompt reads the examples

    try:  # a bad example must fail here, naming the file, not in the middle of a labeling run
        load_prompt("few-shot", task=spec)
    except PromptError as err:
        raise TaskError(f"{where}: {err}") from None
    return spec


def read_task_file(path: str | os.PathLike) -> TaskSpec:
    """Read a task spec from a YAML (or JSON) file."""
    path = Path(path)
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError, UnicodeDecodeError) as err:
        raise TaskError(f"task file {os.fspath(path)!r}: cannot read it: {err}") from err
    return task_from_dict(data, os.fspath(path))
