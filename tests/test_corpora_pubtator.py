"""PubTator reader: documents, mentions, CID relations and sentence records with document offsets."""

from __future__ import annotations

import pytest
from corpora_fixtures import PUBTATOR_TITLE, pubtator_text

from adekd.corpora import (
    CorpusError,
    PubTatorMention,
    PubTatorRelation,
    iter_pubtator,
    pubtator_sentence_records,
    read_pubtator,
)


def test_documents_mentions_and_relations(tmp_path):
    path = tmp_path / "cdr.PubTator.txt"
    path.write_text(pubtator_text() + pubtator_text().replace("227508", "999"))
    first, second = read_pubtator(path)
    assert (first.pmid, second.pmid) == ("227508", "999")
    assert first.title == PUBTATOR_TITLE
    assert first.mentions[0] == PubTatorMention(0, 8, "Naloxone", "Chemical", "D009270")
    assert [m.text for m in first.mentions if m.type == "Chemical"] == [
        "Naloxone",
        "clonidine",
        "alpha-methyldopa",
    ]
    assert first.relations == [PubTatorRelation("CID", "D008750", "D007022")]
    for mention in first.mentions:
        assert first.text[mention.start : mention.end] == mention.text


def test_sentence_records_keep_document_offsets(tmp_path):
    path = tmp_path / "cdr.txt"
    path.write_text(pubtator_text())
    (doc,) = iter_pubtator(path)
    records = pubtator_sentence_records(doc)
    assert [r["id"] for r in records] == [f"227508-s{k}" for k in range(4)]
    assert records[0]["text"] == PUBTATOR_TITLE
    assert records[1]["text"] == "Rats received clonidine, 5 to 20 micrograms/kg i.v., e.g. in bolus."
    assert records[3]["text"] == "Smith et al. agreed."
    for record in records:
        assert record["doc_id"] == "227508" and record["drugs"] == []
        assert doc.text[record["doc_start"] : record["doc_start"] + len(record["text"])] == record["text"]
    # every annotated mention lies inside one sentence
    spans = doc.sentence_spans()
    assert all(any(s <= m.start and m.end <= e for s, e in spans) for m in doc.mentions)


def test_mention_offsets_that_miss_the_text_name_the_line(tmp_path):
    path = tmp_path / "bad.txt"
    path.write_text(pubtator_text().replace("\t0\t8\tNaloxone", "\t1\t9\tNaloxone"))
    with pytest.raises(CorpusError, match=r"bad.txt line 3: mention 'Naloxone' at 1:9"):
        read_pubtator(path)


def test_annotation_outside_its_document(tmp_path):
    path = tmp_path / "bad.txt"
    path.write_text("5\t0\t3\tfoo\tChemical\tD1\n")
    with pytest.raises(CorpusError, match="line 1: annotation for '5' outside its document"):
        read_pubtator(path)


@pytest.mark.slow
def test_real_bc5cdr_training_set(shared_data):
    docs = read_pubtator(shared_data / "bc5cdr" / "CDR_TrainingSet.PubTator.txt")
    assert len(docs) == 500
    assert sum(m.type == "Chemical" for d in docs for m in d.mentions) == 5203
    assert sum(m.type == "Disease" for d in docs for m in d.mentions) == 4182
    assert sum(len(d.relations) for d in docs) == 1038
    for doc in docs:  # the splitter never cuts through an annotated mention
        spans = doc.sentence_spans()
        assert all(any(s <= m.start and m.end <= e for s, e in spans) for m in doc.mentions), doc.pmid
