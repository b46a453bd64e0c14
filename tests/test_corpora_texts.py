"""Streaming unlabeled input (text lines, JSONL, PubTator) and the errors of line readers."""

from __future__ import annotations

import gzip
import itertools
import json
import types

import pytest
from corpora_fixtures import pubtator_text

from adekd.corpora import CorpusError, iter_texts
from adekd.corpora.textio import iter_lines


def test_text_lines_stream_lazily_and_bad_utf8_names_line_and_column(tmp_path):
    path = tmp_path / "notes.txt"
    path.write_bytes(b"Rash after aspirin.\n\n  Fever on day 2.  \nCaf\xe9 au lait spots.\nlast\n")
    records = iter_texts(path)
    assert isinstance(records, types.GeneratorType)
    first_two = list(itertools.islice(records, 2))  # the bad line 4 is not read yet
    assert first_two == [
        {
            "id": "notes-1",
            "text": "Rash after aspirin.",
            "drugs": [],
            "ades": [],
            "doc_id": "notes-1",
            "doc_start": 0,
        },
        {
            "id": "notes-3",
            "text": "Fever on day 2.",
            "drugs": [],
            "ades": [],
            "doc_id": "notes-3",
            "doc_start": 2,
        },
    ]
    with pytest.raises(CorpusError, match=r"notes.txt line 4, column 4: byte 0xe9 is not valid UTF-8"):
        next(records)


def test_gzip_and_crlf_lines(tmp_path):
    path = tmp_path / "big.txt.gz"
    with gzip.open(path, "wb") as handle:
        handle.write(b"one\r\ntwo\r\n")
    assert [(r["id"], r["text"]) for r in iter_texts(path)] == [("big-1", "one"), ("big-2", "two")]
    assert list(iter_lines(path)) == [(1, "one"), (2, "two")]


def test_jsonl_texts_with_ids_and_sentence_splitting(tmp_path):
    path = tmp_path / "abstracts.jsonl"
    rows = [{"id": "pmid1", "text": "Rash after aspirin. Fever followed."}, {"text": "No id here."}]
    path.write_text("\n".join(json.dumps(row) for row in rows) + "\n")
    assert [r["id"] for r in iter_texts(path)] == ["pmid1", "abstracts-2"]
    sentences = list(iter_texts(path, split_sentences=True))
    assert [(r["id"], r["text"], r["doc_id"], r["doc_start"]) for r in sentences] == [
        ("pmid1-s0", "Rash after aspirin.", "pmid1", 0),
        ("pmid1-s1", "Fever followed.", "pmid1", 20),
        ("abstracts-2-s0", "No id here.", "abstracts-2", 0),
    ]


def test_jsonl_without_the_text_field(tmp_path):
    path = tmp_path / "x.jsonl"
    path.write_text('{"text": "ok"}\n{"title": "t", "abstract": "a"}\n')
    with pytest.raises(
        CorpusError, match=r"x.jsonl line 2: no string field 'text' \(fields: \['title', 'abstract'\]\)"
    ):
        list(iter_texts(path))
    path.write_text('{"title": "A title.", "pmid": 7}\n')
    assert [(r["id"], r["text"]) for r in iter_texts(path, text_field="title", id_field="pmid")] == [
        ("7", "A title.")
    ]


def test_pubtator_streams_sentences_or_whole_documents(tmp_path):
    path = tmp_path / "cdr.txt"
    path.write_text(pubtator_text())
    assert len(list(iter_texts(path))) == 4
    (document,) = iter_texts(path, split_sentences=False)
    assert document["id"] == "227508" and document["text"].startswith("Naloxone reverses")


def test_text_line_offsets_index_the_line_as_written(tmp_path):
    lines = ["   First sentence about aspirin. Second one with rash after penicillin.\t", "\tThird line."]
    path = tmp_path / "notes.txt"
    path.write_text("\r\n".join(lines) + "\r\n")
    sentences = list(iter_texts(path, split_sentences=True))
    assert [(r["id"], r["doc_id"], r["doc_start"]) for r in sentences] == [
        ("notes-1-s0", "notes-1", 3),
        ("notes-1-s1", "notes-1", 33),
        ("notes-2-s0", "notes-2", 1),
    ]
    whole = list(iter_texts(path))
    assert [(r["id"], r["text"], r["doc_id"], r["doc_start"]) for r in whole] == [
        ("notes-1", lines[0].strip(), "notes-1", 3),
        ("notes-2", "Third line.", "notes-2", 1),
    ]
    for record in sentences + whole:
        line = lines[int(record["doc_id"].split("-")[1]) - 1]
        start = record["doc_start"]
        assert line[start : start + len(record["text"])] == record["text"]
