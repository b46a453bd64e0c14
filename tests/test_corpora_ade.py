"""The raw ADE corpus reader: document offsets to sentence offsets, merging, repeated mentions."""

from __future__ import annotations

import pytest
from corpora_fixtures import DOC_1001, SENTENCE_1001, SENTENCE_1002, TITLE_1001, write_ade_corpus

from adekd.corpora import CorpusError, corpus_stats, read_ade_corpus, read_ade_negatives, read_ade_relations
from adekd.records import pairs


@pytest.fixture
def ade_folder(tmp_path):
    return write_ade_corpus(tmp_path / "ade")


def _by_id(records):
    return {record["id"]: record for record in records}


def test_title_and_second_abstract_sentence_get_sentence_offsets(ade_folder):
    records = _by_id(read_ade_relations(ade_folder / "DRUG-AE.rel"))
    assert set(records) == {"1001-s0", "1001-s1", "1002-s0"}
    title = records["1001-s0"]
    assert title["text"] == TITLE_1001
    assert title["doc_start"] == len("1001") + 2
    assert title["drugs"] == [{"text": "Warfarin", "start": 0, "end": 8}]
    abstract = records["1001-s1"]
    assert abstract["text"] == SENTENCE_1001
    assert abstract["doc_start"] == DOC_1001.index(SENTENCE_1001)


def test_relations_of_a_sentence_are_merged_and_the_right_occurrence_is_kept(ade_folder):
    record = _by_id(read_ade_relations(ade_folder / "DRUG-AE.rel"))["1001-s1"]
    second_warfarin = SENTENCE_1001.index("warfarin", SENTENCE_1001.index("warfarin") + 1)
    # both relations of the second "warfarin" share one drug entry; heparin is the other one
    assert record["drugs"] == [
        {"text": "warfarin", "start": second_warfarin, "end": second_warfarin + 8},
        {
            "text": "heparin",
            "start": SENTENCE_1001.index("heparin"),
            "end": SENTENCE_1001.index("heparin") + 7,
        },
    ]
    found = [(drug["text"], drug["start"], ade["text"], ade["start"]) for drug, ade in pairs(record)]
    assert found == [
        ("warfarin", second_warfarin, "hematuria", SENTENCE_1001.index("hematuria")),
        ("warfarin", second_warfarin, "bleeding", SENTENCE_1001.index("bleeding")),
        ("heparin", SENTENCE_1001.index("heparin"), "hematuria", SENTENCE_1001.rindex("hematuria")),
    ]
    for span in (*record["drugs"], *record["ades"]):
        assert record["text"][span["start"] : span["end"]] == span["text"]


def test_repeated_drug_mentions_stay_apart_by_offset(ade_folder):
    record = _by_id(read_ade_relations(ade_folder / "DRUG-AE.rel"))["1002-s0"]
    assert [d["start"] for d in record["drugs"]] == [0, SENTENCE_1002.rindex("aspirin")]
    assert [(a["text"], a["drug"]) for a in record["ades"]] == [("ulcers", 0), ("tinnitus", 1)]


def test_negatives_keep_duplicate_lines_as_their_own_records(ade_folder):
    negatives = read_ade_negatives(ade_folder / "ADE-NEG.txt")
    assert [r["id"] for r in negatives] == ["1001-neg0", "1001-neg1", "1001-neg2", "2002-neg0"]
    assert negatives[1]["text"] == negatives[2]["text"] == "He recovered."
    assert all(r["drugs"] == [] and r["ades"] == [] and r["doc_start"] is None for r in negatives)


def test_whole_folder_counts(ade_folder):
    stats = corpus_stats(read_ade_corpus(ade_folder))
    assert (stats.records, stats.positive_records, stats.negative_records) == (7, 3, 4)
    assert (stats.relations, stats.drug_mentions, stats.ade_mentions, stats.documents) == (6, 5, 6, 3)


def test_malformed_line_names_the_line(tmp_path):
    folder = write_ade_corpus(tmp_path / "ade")
    lines = (folder / "DRUG-AE.rel").read_text().splitlines()
    lines[2] = "1001|a sentence|AE|1|3"
    (folder / "DRUG-AE.rel").write_text("\n".join(lines) + "\n")
    with pytest.raises(CorpusError, match=r"DRUG-AE.rel line 3: expected 8"):
        read_ade_corpus(folder)


def test_spans_that_no_sentence_start_explains_are_an_error(tmp_path):
    folder = tmp_path / "ade"
    folder.mkdir()
    # AE says the sentence starts at 10, the drug says it starts at 20
    (folder / "DRUG-AE.rel").write_text("5|Rash after aspirin.|Rash|10|14|aspirin|31|38\n")
    with pytest.raises(CorpusError, match=r"line.* 1 \(PMID 5\): no sentence start fits"):
        read_ade_corpus(folder, negatives=False)


def test_folder_without_the_corpus_is_an_error(tmp_path):
    with pytest.raises(CorpusError, match="no DRUG-AE.rel"):
        read_ade_corpus(tmp_path)


@pytest.mark.slow
def test_real_ade_corpus_counts_and_spans(shared_data):
    records = read_ade_corpus(shared_data / "ade_corpus")
    stats = corpus_stats(records)
    assert (stats.positive_records, stats.relations, stats.negative_records) == (4272, 6821, 16695)
    assert stats.records == 20967 and stats.documents == 2972
    assert len({r["id"] for r in records}) == 20967
    unique_triples = {(r["text"], d["text"], a["text"]) for r in records for d, a in pairs(r)}
    assert len(unique_triples) == 6632
    for record in records:
        for span in (*record["drugs"], *record["ades"]):
            assert record["text"][span["start"] : span["end"]] == span["text"], record["id"]
