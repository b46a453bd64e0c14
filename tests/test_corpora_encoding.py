"""What every text reader does with the bytes of a file: a UTF-8 byte-order mark is dropped (an editor
does not show it, so offsets must not count it) and a non-UTF-8 byte is named by path, line and column,
in records JSONL as in text files."""

from __future__ import annotations

import codecs
import json

import pytest
from corpora_fixtures import pubtator_text

from adekd.corpora import CorpusError, iter_pubtator, iter_texts, load_records
from adekd.corpora.textio import iter_lines, read_text
from adekd.records import read_jsonl

BOM = codecs.BOM_UTF8
RECORD = {
    "id": "r1",
    "text": "Rash after aspirin.",
    "drugs": [{"text": "aspirin", "start": 11, "end": 18}],
    "ades": [{"drug": 0, "text": "Rash", "start": 0, "end": 4}],
}


def test_a_bom_is_not_part_of_the_first_line_of_a_text_file(tmp_path):
    path = tmp_path / "notes.txt"
    path.write_bytes(BOM + b"Acute hepatitis after amoxicillin.\n\xef\xbb\xbfsecond\n")
    assert list(iter_lines(path)) == [(1, "Acute hepatitis after amoxicillin."), (2, "\ufeffsecond")]
    assert read_text(path).startswith("Acute")
    first, _ = iter_texts(path, split_sentences=True)
    assert first["text"] == "Acute hepatitis after amoxicillin." and first["doc_start"] == 0
    assert load_records(path)[0]["text"][:5] == "Acute"


def test_a_bom_does_not_hide_the_first_pubtator_title(tmp_path):
    path = tmp_path / "cdr.pubtator"
    path.write_bytes(BOM + pubtator_text().encode())
    (document,) = iter_pubtator(path)
    assert document.pmid == "227508"
    mention = document.mentions[0]
    assert document.text[mention.start : mention.end] == mention.text
    assert next(iter_texts(path))["id"] == "227508-s0"


def test_a_bom_before_jsonl_records_and_texts(tmp_path):
    records = tmp_path / "records.jsonl"
    records.write_bytes(BOM + (json.dumps(RECORD) + "\n").encode())
    (record,) = read_jsonl(records)
    assert record["text"][record["drugs"][0]["start"] : record["drugs"][0]["end"]] == "aspirin"
    assert load_records(records) == [record]
    texts = tmp_path / "texts.jsonl"
    texts.write_bytes(BOM + b'{"id": "t1", "text": "Fever after ibuprofen."}\n')
    assert [(r["id"], r["text"]) for r in iter_texts(texts)] == [("t1", "Fever after ibuprofen.")]


def test_a_non_utf8_byte_in_records_jsonl_names_path_line_and_column(tmp_path):
    path = tmp_path / "records.jsonl"
    path.write_bytes((json.dumps(RECORD) + "\n").encode() + b'{"id": "r2", "text": "caf\xe9"}\n')
    message = r"records.jsonl line 2, column 26: byte 0xe9 is not valid UTF-8; convert the file to UTF-8"
    with pytest.raises(CorpusError, match=message):
        read_jsonl(path)
    with pytest.raises(CorpusError, match=message):  # a file's encoding is not skipped record by record
        read_jsonl(path, on_error="skip")
    with pytest.raises(CorpusError, match=message):
        load_records(path)
