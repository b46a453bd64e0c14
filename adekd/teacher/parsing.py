"""Read a teacher's answer even when it is not clean JSON.

Servers without constrained decoding (and small models with it) wrap the JSON in code fences, add
prose after it, use Python's single quotes, stop in the middle of a list, or rename keys. Each fix
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

from adekd.teacher.schema import DrugAnswer

_FENCE = re.compile(r"```[A-Za-z0-9_-]*[ \t]*\n?(.*?)(?:```|$)", re.DOTALL)
_DRUG_KEYS = ("drug", "name", "drug_name", "text", "entity")
_EVENT_KEYS = ("adverse_events", "ades", "adverse_effects", "events", "effects", "adverse_event", "ade")
_QUOTE_KEYS = ("text", "event", "adverse_event", "name", "quote")


class AnswerParseError(ValueError):
    """The answer holds no readable ``drugs`` list; the message says what was wrong."""


@dataclass(frozen=True)
class ParsedAnswer:
    """The drugs of an answer and the repairs (if any) needed to read it."""

    drugs: list[DrugAnswer]
    repairs: tuple[str, ...] = ()

    @property
    def status(self) -> str:
        """``"ok"`` for clean JSON in the expected shape, else ``"repaired: <fixes>"``."""
        return "ok" if not self.repairs else "repaired: " + ", ".join(self.repairs)


def parse_answer(content: str | None) -> ParsedAnswer:
    """Parse a teacher answer; raise :class:`AnswerParseError` when nothing usable is in it."""
    if content is None or not content.strip():
        raise AnswerParseError("empty answer")
    repairs: list[str] = []
    text = content.strip()
    fence = _FENCE.search(text)
    if fence:
        text = fence.group(1).strip()
        repairs.append("code fence")
    value = _load_json(text, repairs)
    return ParsedAnswer(_normalize(value, repairs), tuple(repairs))


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


def _normalize(value: Any, repairs: list[str]) -> list[DrugAnswer]:
    if isinstance(value, dict) and isinstance(value.get("drugs"), list):
        items = value["drugs"]
    elif isinstance(value, list):
        items = value
        repairs.append("bare list")
    elif isinstance(value, dict) and any(key in value for key in _DRUG_KEYS):
        items = [value]
        repairs.append("single drug object")
    else:
        raise AnswerParseError(
            f"answer has no 'drugs' list: {_preview(json.dumps(value, ensure_ascii=False))}"
        )
    merged: dict[str, list[str]] = {}
    for item in items:
        drug, events = _read_item(item, repairs)
        if not drug:
            continue
        known = merged.setdefault(drug, [])
        known.extend(event for event in events if event not in known)
    return [DrugAnswer(drug, tuple(events)) for drug, events in merged.items()]


def _read_item(item: Any, repairs: list[str]) -> tuple[str, list[str]]:
    if isinstance(item, str):
        return item.strip(), []
    if not isinstance(item, dict):
        return "", []
    if set(item) - {"drug", "adverse_events"} and "renamed keys" not in repairs:
        repairs.append("renamed keys")
    drug = next((item[key] for key in _DRUG_KEYS if isinstance(item.get(key), str)), "")
    raw_events = next((item[key] for key in _EVENT_KEYS if key in item), [])
    if isinstance(raw_events, str | dict):
        raw_events = [raw_events]
    events = []
    for event in raw_events if isinstance(raw_events, list) else []:
        if isinstance(event, dict):
            event = next((event[key] for key in _QUOTE_KEYS if isinstance(event.get(key), str)), "")
        if isinstance(event, str) and event.strip():
            events.append(event.strip())
    return drug.strip(), events


def _preview(text: str, limit: int = 80) -> str:
    return repr(text if len(text) <= limit else text[:limit] + "...")
