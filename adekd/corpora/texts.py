"""Streaming unlabeled input: plain text (one text per line), JSONL with a text field, PubTator.

Corpus-scale labeling and extraction read millions of sentences, so :func:`iter_texts` yields
records one at a time and never holds the file in memory. Each record has no drugs and no ADEs;
with ``split_sentences`` every text is cut into sentences that carry ``doc_id`` and ``doc_start``
(the sentence's offset in the text it came from).

Offsets must lead back to what the user holds. A line of a text file is a document as written
(without its line ending): its records are trimmed of the surrounding whitespace, whole or cut into
sentences, and always carry ``doc_id`` (the line id) and ``doc_start``, so that
``line[doc_start + start:doc_start + end]`` is the span ``start:end`` of a record's text even on an
indented line. JSONL texts are used as given, so whole they need no ``doc_start``.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path

from adekd.corpora.pubtator import (
    document_sentence_records,
    is_pubtator,
    iter_pubtator,
    pubtator_sentence_records,
)
from adekd.corpora.textio import CorpusError, iter_lines
from adekd.records import Record, new_record

JSONL_SUFFIXES = (".jsonl", ".jsonl.gz", ".ndjson")


def source_stem(path: str | os.PathLike) -> str:
    """The file name without any suffix (``"notes.txt.gz"`` -> ``"notes"``): the prefix of line ids."""
    return Path(path).name.split(".", 1)[0]


def _jsonl_texts(path: Path, text_field: str, id_field: str) -> Iterator[tuple[str, str]]:
    for line_no, line in iter_lines(path):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except json.JSONDecodeError as err:
            raise CorpusError(f"{path} line {line_no}: not valid JSON ({err.msg})") from None
        if not isinstance(row, dict):
            raise CorpusError(f"{path} line {line_no}: expected a JSON object, got {type(row).__name__}")
        text = row.get(text_field)
        if not isinstance(text, str):
            raise CorpusError(
                f"{path} line {line_no}: no string field {text_field!r} (fields: {list(row)[:8]})"
            )
        text_id = row.get(id_field)
        yield (str(text_id) if text_id not in (None, "") else f"{source_stem(path)}-{line_no}"), text


def _line_texts(path: Path) -> Iterator[tuple[str, str]]:
    """``(line id, line)`` of each line that is not blank, the line as written: offsets index it."""
    stem = source_stem(path)
    for line_no, line in iter_lines(path):
        if line.strip():
            yield f"{stem}-{line_no}", line


def _whole_line_record(line_id: str, line: str) -> Record:
    """The line trimmed, with ``doc_start`` saying where it starts in the line as written."""
    return new_record(line_id, line.strip(), doc_id=line_id, doc_start=len(line) - len(line.lstrip()))


def iter_texts(
    path: str | os.PathLike,
    split_sentences: bool | None = None,
    text_field: str = "text",
    id_field: str = "id",
) -> Iterator[Record]:
    """Yield unlabeled records lazily from a text, JSONL or PubTator file (``.gz`` allowed).

    ``split_sentences=None`` splits PubTator abstracts into sentences and keeps lines and JSONL
    texts whole. Ids are the JSONL ``id_field`` or ``"<file stem>-<line number>"``, plus
    ``"-s<k>"`` for the k-th sentence when split. Records of text lines carry ``doc_id`` and
    ``doc_start`` into the line as written (see the module docstring). PubTator annotations are not
    used here; read them with :func:`adekd.corpora.iter_pubtator`, or as labeled sentence records
    of a task with :func:`adekd.corpora.read_relation_records` (BC5CDR: chemical -> induced disease).
    """
    path = Path(path)
    if is_pubtator(path):
        for doc in iter_pubtator(path):
            if split_sentences is False:
                yield new_record(doc.pmid, doc.text, doc_id=doc.pmid, doc_start=0)
            else:
                yield from pubtator_sentence_records(doc)
        return
    jsonl = path.name.endswith(JSONL_SUFFIXES)
    for text_id, text in _jsonl_texts(path, text_field, id_field) if jsonl else _line_texts(path):
        if split_sentences:
            yield from document_sentence_records(text_id, text)
        else:
            yield new_record(text_id, text) if jsonl else _whole_line_record(text_id, text)
