"""Read a teacher's answer even when it is not clean JSON.

Answers are read in the task's answer keys (:class:`adekd.tasks.AnswerKeys`; ADE's by default).
Servers without constrained decoding (and small models with it) wrap the JSON in code fences, add
prose after it, use Python's single quotes, stop in the middle of a list, or rename keys (to other
words of the task: ``ades`` or ``adverse_event`` for ``adverse_events``, or generic ones such as
``name``). Each fix
applied is named in :attr:`ParsedAnswer.repairs` and kept with the silver record, so a repaired
answer is never mistaken for a clean one. An answer cut by ``max_tokens`` never gets here: the
run engine records it as a failure (or retries it with more tokens) before parsing.
"""

from __future__ import annotations

import ast
import json
import re
from dataclasses import dataclass
from typing import Any

from adekd.tasks import TaskSpec, load_task
from adekd.teacher.schema import DrugAnswer

_FENCE = re.compile(r"```[A-Za-z0-9_-]*[ \t]*\n?(.*?)(?:```|$)", re.DOTALL)


class AnswerParseError(ValueError):
    """The answer holds no readable list of anchors (``drugs``); the message says what was wrong."""


@dataclass(frozen=True)
class _Keys:
    """The keys an answer is read with: the task's own first, then the renamings models make."""

    anchors: str
    anchor: tuple[str, ...]
    targets: tuple[str, ...]
    quote: tuple[str, ...]
    expected: frozenset[str]

    @classmethod
    def of(cls, task: TaskSpec) -> _Keys:
        keys = task.answer_keys
        target_one = _key_forms(task.target.name, task.target.label)
        target_many = _key_forms(task.target.plural, task.target.label + "s")
        return cls(
            anchors=keys.anchors,
            anchor=_unique(keys.anchor, "name", f"{keys.anchor}_name", "text", "entity"),
            targets=_unique(keys.targets, *target_many, *target_one),
            quote=_unique("text", *target_one, "name", "quote"),
            expected=frozenset((keys.anchor, keys.targets)),
        )


def _key_forms(words: str, label: str) -> tuple[str, ...]:
    """``adverse events`` -> ``adverse_events``, ``events`` and the label's (``ades``)."""
    snake = "_".join(words.lower().split())
    return _unique(snake, snake.rsplit("_", 1)[-1], label.lower())


def _unique(*keys: str) -> tuple[str, ...]:
    return tuple(dict.fromkeys(keys))


@dataclass(frozen=True)
class ParsedAnswer:
    """The anchors (``drugs``) of an answer and the repairs (if any) needed to read it."""

    drugs: list[DrugAnswer]
    repairs: tuple[str, ...] = ()

    @property
    def status(self) -> str:
        """``"ok"`` for clean JSON in the expected shape, else ``"repaired: <fixes>"``."""
        return "ok" if not self.repairs else "repaired: " + ", ".join(self.repairs)


def parse_answer(content: str | None, task: str | TaskSpec | None = None) -> ParsedAnswer:
    """Parse a teacher answer for ``task`` (default ADE); raise :class:`AnswerParseError` when
    nothing usable is in it."""
    if content is None or not content.strip():
        raise AnswerParseError("empty answer")
    repairs: list[str] = []
    text = content.strip()
    fence = _FENCE.search(text)
    if fence:
        text = fence.group(1).strip()
        repairs.append("code fence")
    value = _load_json(text, repairs)
    return ParsedAnswer(_normalize(value, repairs, _Keys.of(load_task(task))), tuple(repairs))


def _load_json(text: str, repairs: list[str]) -> Any:
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        pass
    start = min((i for i in (text.find("{"), text.find("[")) if i >= 0), default=-1)
    if start < 0:
        raise AnswerParseError(f"no JSON object in the answer: {_preview(text)}")
    if start > 0:
        repairs.append("leading text")
    try:
        value, end = json.JSONDecoder().raw_decode(text, start)
        if text[end:].strip():
            repairs.append("trailing text")
        return value
    except json.JSONDecodeError:
        pass
    balanced = _balanced_prefix(text[start:])
    if balanced is not None:
        try:
            value = ast.literal_eval(balanced)
            repairs.append("python literal")
            return value
        except (ValueError, SyntaxError, MemoryError, RecursionError):
            pass
    closed = _close_truncated(text[start:])
    if closed is not None:
        try:
            value = json.loads(closed)
            repairs.append("truncated JSON closed")
            return value
        except json.JSONDecodeError:
            pass
    raise AnswerParseError(f"answer is not JSON: {_preview(text)}")


def _balanced_prefix(text: str) -> str | None:
    """The text up to the bracket closing the first one, honoring both quote styles."""
    depth, quote, escaped = 0, "", False
    for i, char in enumerate(text):
        if quote:
            if escaped:
                escaped = False
            elif char == "\\":
                escaped = True
            elif char == quote:
                quote = ""
        elif char in "\"'":
            quote = char
        elif char in "{[":
            depth += 1
        elif char in "}]":
            depth -= 1
            if depth == 0:
                return text[: i + 1]
    return None


def _close_truncated(text: str) -> str | None:
    """Cut JSON that stops mid-way back to its last complete value and close the open brackets.

    A half-written string is dropped rather than closed: a truncated quote would align to the
    wrong span.
    """
    stack: list[str] = []
    expect_key: list[bool] = []
    in_string = escaped = False
    string_is_key = False
    last_good: tuple[int, str] | None = None

    def closers() -> str:
        return "".join("}" if opener == "{" else "]" for opener in reversed(stack))

    for i, char in enumerate(text):
        if in_string:
            if escaped:
                escaped = False
            elif char == "\\":
                escaped = True
            elif char == '"':
                in_string = False
                if not string_is_key:
                    last_good = (i + 1, closers())
            continue
        if char == '"':
            in_string = True
            string_is_key = bool(stack) and stack[-1] == "{" and expect_key[-1]
        elif char in "{[":
            stack.append(char)
            expect_key.append(char == "{")
        elif char in "}]":
            if not stack:
                return None
            stack.pop()
            expect_key.pop()
            last_good = (i + 1, closers())
        elif char == ":" and stack and stack[-1] == "{":
            expect_key[-1] = False
        elif char == "," and stack and stack[-1] == "{":
            expect_key[-1] = True
    if last_good is None:
        return None
    cut, close = last_good
    return text[:cut] + close


def _normalize(value: Any, repairs: list[str], keys: _Keys) -> list[DrugAnswer]:
    if isinstance(value, dict) and isinstance(value.get(keys.anchors), list):
        items = value[keys.anchors]
    elif isinstance(value, list):
        items = value
        repairs.append("bare list")
    elif isinstance(value, dict) and any(key in value for key in keys.anchor):
        items = [value]
        repairs.append(f"single {keys.anchor[0]} object")
    else:
        raise AnswerParseError(f"answer has no {keys.anchors!r} list: {_preview(_shown(value))}")
    merged: dict[str, list[str]] = {}
    for item in items:
        anchor, targets = _read_item(item, repairs, keys)
        if not anchor:
            continue
        known = merged.setdefault(anchor, [])
        known.extend(target for target in targets if target not in known)
    return [DrugAnswer(anchor, tuple(targets)) for anchor, targets in merged.items()]


def _read_item(item: Any, repairs: list[str], keys: _Keys) -> tuple[str, list[str]]:
    if isinstance(item, str):
        return item.strip(), []
    if not isinstance(item, dict):
        return "", []
    if set(item) - keys.expected and "renamed keys" not in repairs:
        repairs.append("renamed keys")
    anchor = next((item[key] for key in keys.anchor if isinstance(item.get(key), str)), "")
    raw_targets = next((item[key] for key in keys.targets if key in item), [])
    if isinstance(raw_targets, str | dict):
        raw_targets = [raw_targets]
    targets = []
    for target in raw_targets if isinstance(raw_targets, list) else []:
        if isinstance(target, dict):
            target = next((target[key] for key in keys.quote if isinstance(target.get(key), str)), "")
        if isinstance(target, str) and target.strip():
            targets.append(target.strip())
    return anchor.strip(), targets


def _shown(value: Any) -> str:
    """JSON where it is JSON; what is not (a set, from ``{"a", "b"}``) as Python writes it."""
    try:
        return json.dumps(value, ensure_ascii=False)
    except (TypeError, ValueError):
        return repr(value)


def _preview(text: str, limit: int = 80) -> str:
    return repr(text if len(text) <= limit else text[:limit] + "...")
