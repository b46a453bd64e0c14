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

from adekd.corpora.textio import CorpusError, decode_utf8
from adekd.records import ADESpan, Record, Span, new_record

logger = logging.getLogger(__name__)

DRUG_TYPE = "Drug"
ADE_TYPE = "Adverse-Effect"
_FOLD_FILE = re.compile(r"ade_split_(\d+)_(train|test)\.json$")


def is_spert_json(data: object) -> bool:
    """Whether parsed JSON looks like a SpERT split: a list of items with tokens and entities."""
    return isinstance(data, list) and (not data or (isinstance(data[0], dict) and "tokens" in data[0]))


def spert_item_to_record(item: dict, record_id: str) -> Record:
    """One SpERT item to a record with character offsets into the space-joined tokens."""
    tokens = item["tokens"]
    starts, position = [], 0
    for token in tokens:
        starts.append(position)
        position += len(token) + 1
    text = " ".join(tokens)

    def char_span(entity: dict) -> Span:
        start, end = starts[entity["start"]], starts[entity["end"] - 1] + len(tokens[entity["end"] - 1])
        return {"text": text[start:end], "start": start, "end": end}

    entities = item["entities"]
    drug_index: dict[int, int] = {}
    drugs: list[Span] = []
    for i, entity in enumerate(entities):
        if entity["type"] == DRUG_TYPE:
            drug_index[i] = len(drugs)
            drugs.append(char_span(entity))
    ades: list[ADESpan] = []
    for relation in item.get("relations", []):
        head, tail = entities[relation["head"]], entities[relation["tail"]]
        if head["type"] != ADE_TYPE or tail["type"] != DRUG_TYPE:
            raise CorpusError(
                f"{record_id}: relation head must be {ADE_TYPE!r} and tail {DRUG_TYPE!r}, "
                f"got {head['type']!r} -> {tail['type']!r}"
            )
        ades.append({"drug": drug_index[relation["tail"]], **char_span(head)})
    return new_record(record_id, text, drugs, ades)


def read_spert(path: str | os.PathLike) -> list[Record]:
    """Records of one SpERT JSON file, in file order."""
    path = Path(path)
    try:
        data = json.loads(decode_utf8(path.read_bytes(), path))
    except json.JSONDecodeError as err:
        raise CorpusError(f"{path} line {err.lineno}: not valid JSON ({err.msg})") from None
    if not is_spert_json(data):
        raise CorpusError(f"{path}: not a SpERT split (expected a JSON list of items with 'tokens')")
    records = []
    for index, item in enumerate(data):
        record_id = f"spert-{item.get('orig_id', index)}"
        try:
            records.append(spert_item_to_record(item, record_id))
        except (KeyError, IndexError, TypeError) as err:
            raise CorpusError(f"{path} item {index} ({record_id}): malformed SpERT item ({err!r})") from None
    return records


def spert_folds(folder: str | os.PathLike) -> dict[int, dict[str, Path]]:
    """The folds in a SpERT splits folder: ``{fold: {"train": path, "test": path}}``, sorted by fold."""
    folds: dict[int, dict[str, Path]] = {}
    for path in sorted(Path(folder).glob("ade_split_*_*.json")):
        match = _FOLD_FILE.search(path.name)
        if match:
            folds.setdefault(int(match.group(1)), {})[match.group(2)] = path
    return dict(sorted(folds.items()))
