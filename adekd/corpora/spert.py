"""Reader for the SpERT-format ADE splits (``ade_split_K_{train,test}.json``, ``ade_full.json``).

These files fix the 10-fold split that published ADE numbers use (SpERT, PFN 83.2, REBEL 82.2 strict
relation F1), so reading them is how adekd compares with that work on the same folds. Each item is
``{"tokens", "entities": [{"type", "start", "end"}], "relations": [{"type", "head", "tail"}], "orig_id"}``
with token indices (end exclusive); relation head is the ``Adverse-Effect`` entity, tail the ``Drug``.

The record text is the tokens joined by single spaces (so it differs from the raw corpus sentence
where the tokenizer split punctuation), token spans become character spans into that text, every
``Drug`` entity becomes a drug and every relation an ADE entry. The id ``"spert-<orig_id>"`` is the
item's index in ``ade_full.json``, the same in every fold file.
"""

from __future__ import annotations

import json
import logging
import os
import re
from pathlib import Path
from typing import Literal

from adekd.corpora.textio import CorpusError, decode_utf8
from adekd.records import ADESpan, Record, RecordError, Span, ValidationReport, new_record

logger = logging.getLogger(__name__)

DRUG_TYPE = "Drug"
ADE_TYPE = "Adverse-Effect"
_FOLD_FILE = re.compile(r"ade_split_(\d+)_(train|test)\.json$")


def is_spert_json(data: object) -> bool:
    """Whether parsed JSON looks like a SpERT split: a list of items with tokens and entities."""
    return isinstance(data, list) and (not data or (isinstance(data[0], dict) and "tokens" in data[0]))


def _token_span(record_id: str, index: int, entity: dict, num_tokens: int) -> tuple[int, int]:
    start, end = entity["start"], entity["end"]
    if not (isinstance(start, int) and isinstance(end, int) and 0 <= start < end <= num_tokens):
        raise CorpusError(
            f"{record_id}: entity {index} ({entity['type']!r}) spans tokens {start!r}:{end!r}, "
            f"outside the item's {num_tokens} tokens"
        )
    return start, end


def _related_entity(record_id: str, index: int, role: str, position: object, num_entities: int) -> int:
    if not (isinstance(position, int) and 0 <= position < num_entities):
        raise CorpusError(
            f"{record_id}: relation {index} {role} {position!r} is not one of the item's "
            f"{num_entities} entities"
        )
    return position


def spert_item_to_record(item: dict, record_id: str) -> Record:
    """One SpERT item to a record with character offsets into the space-joined tokens.

    An item that cannot be converted (a span outside the tokens, a relation to a missing entity, a
    relation whose roles are swapped) raises :class:`CorpusError` naming ``record_id`` and the part;
    a missing key or a wrong type surfaces as the ``KeyError``/``TypeError`` it is.
    """
    tokens = item["tokens"]
    starts, position = [], 0
    for token in tokens:
        starts.append(position)
        position += len(token) + 1
    text = " ".join(tokens)
    entities = item["entities"]
    spans: list[Span] = []
    drug_index: dict[int, int] = {}
    drugs: list[Span] = []
    for i, entity in enumerate(entities):
        first, end = _token_span(record_id, i, entity, len(tokens))
        start, stop = starts[first], starts[end - 1] + len(tokens[end - 1])
        spans.append({"text": text[start:stop], "start": start, "end": stop})
        if entity["type"] == DRUG_TYPE:
            drug_index[i] = len(drugs)
            drugs.append(spans[i])
    ades: list[ADESpan] = []
    for k, relation in enumerate(item.get("relations", [])):
        head = _related_entity(record_id, k, "head", relation["head"], len(entities))
        tail = _related_entity(record_id, k, "tail", relation["tail"], len(entities))
        if entities[head]["type"] != ADE_TYPE or entities[tail]["type"] != DRUG_TYPE:
            raise CorpusError(
                f"{record_id}: relation head must be {ADE_TYPE!r} and tail {DRUG_TYPE!r}, "
                f"got {entities[head]['type']!r} -> {entities[tail]['type']!r}"
            )
        ades.append({"drug": drug_index[tail], **spans[head]})
    return new_record(record_id, text, drugs, ades)


def read_spert(
    path: str | os.PathLike,
    on_error: Literal["raise", "skip"] = "raise",
    report: ValidationReport | None = None,
) -> list[Record]:
    """Records of one SpERT JSON file, in file order.

    An item that cannot be converted to a valid record is an invalid record, as a bad line of a
    records JSONL is: ``on_error="raise"`` raises :class:`CorpusError` naming the file, the item's
    index and id; ``"skip"`` drops it and counts it (with that message) in ``report``.
    """
    path = Path(path)
    try:
        data = json.loads(decode_utf8(path.read_bytes(), path))
    except json.JSONDecodeError as err:
        raise CorpusError(f"{path} line {err.lineno}: not valid JSON ({err.msg})") from None
    if not is_spert_json(data):
        raise CorpusError(f"{path}: not a SpERT split (expected a JSON list of items with 'tokens')")
    report = report if report is not None else ValidationReport()
    records = []
    for index, item in enumerate(data):
        record_id = f"spert-{item.get('orig_id', index) if isinstance(item, dict) else index}"
        try:
            if not isinstance(item, dict):
                raise CorpusError(f"{record_id}: expected a JSON object, got {type(item).__name__}")
            records.append(spert_item_to_record(item, record_id))
        except (CorpusError, RecordError) as err:  # both name the record id already
            message = f"{path} item {index}: {err}"
        except KeyError as err:
            message = f"{path} item {index} ({record_id}): malformed SpERT item (no key {err})"
        except TypeError as err:
            message = f"{path} item {index} ({record_id}): malformed SpERT item ({err!r})"
        else:
            continue
        if on_error == "raise":
            raise CorpusError(message)
        report.skipped += 1
        report.errors.append(message)
    return records


def spert_folds(folder: str | os.PathLike) -> dict[int, dict[str, Path]]:
    """The folds in a SpERT splits folder: ``{fold: {"train": path, "test": path}}``, sorted by fold."""
    folds: dict[int, dict[str, Path]] = {}
    for path in sorted(Path(folder).glob("ade_split_*_*.json")):
        match = _FOLD_FILE.search(path.name)
        if match:
            folds.setdefault(int(match.group(1)), {})[match.group(2)] = path
    return dict(sorted(folds.items()))
