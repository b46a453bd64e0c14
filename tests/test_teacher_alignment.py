"""Quote-to-span alignment: exact, normalized, fuzzy, rejected, and repeated strings by proximity."""

from __future__ import annotations

from adekd.records import validate_record
from adekd.teacher.alignment import align_answer, find_quote
from adekd.teacher.schema import DrugAnswer


def spans(matches):
    return [(m.start, m.end, m.status) for m in matches]


def test_exact_match_finds_every_occurrence_but_not_inside_words():
    text = "Rash after aspirin; rashes and rash again."
    assert spans(find_quote(text, "rash")) == [(31, 35, "exact")]
    assert spans(find_quote(text, "aspirin")) == [(11, 18, "exact")]
    assert spans(find_quote("rash, then rash", "rash")) == [(0, 4, "exact"), (11, 15, "exact")]


def test_case_whitespace_dash_and_punctuation_are_normalized():
    text = "Severe  Hepatic\nFailure after 5–FU."
    assert spans(find_quote(text, "severe hepatic failure")) == [(0, 23, "normalized")]
    assert spans(find_quote(text, "5-fu.")) == [(30, 34, "normalized")]
    assert text[30:34] == "5–FU"


def test_punctuation_and_unpaired_brackets_around_a_quote_stay_out_of_its_span():
    text = "Ifosfamide caused encephalopathy. Severe rash, fever (grade 3) and (hypotension)."
    assert spans(find_quote(text, "encephalopathy.")) == [(18, 32, "exact")]
    assert spans(find_quote(text, " Severe rash, ")) == [(34, 45, "exact")]
    assert spans(find_quote(text, "fever (grade 3)")) == [(47, 62, "exact")]
    assert spans(find_quote(text, "(hypotension).")) == [(68, 79, "exact")]
    assert spans(find_quote(text, '"fever"')) == [(47, 52, "exact")]
    assert find_quote(text, " .,( ") == [] and find_quote(text, "()") == []
    assert spans(find_quote("(R)-warfarin, then (a) or (b).", "(R)-warfarin,")) == [(0, 12, "exact")]
    assert spans(find_quote("(R)-warfarin, then (a) or (b).", "(a) or (b).")) == [(19, 29, "exact")]


def test_ligatures_and_accents_written_either_way_are_normalized():
    text = "Severe ﬂushing after ﬂuoxetine; Cafe\u0301 au lait spots after β-blockers."
    (match,) = find_quote(text, "fluoxetine")
    assert (match.status, text[match.start : match.end]) == ("normalized", "ﬂuoxetine")
    (match,) = find_quote(text, "Café au lait spots")
    assert text[match.start : match.end] == "Cafe\u0301 au lait spots"
    (match,) = find_quote(text, "Cafe\u0301")  # as written: exact
    assert (match.status, match.end) == ("exact", text.index(" au"))
    for quote in ("cafe", "Cafe"):  # the accent of the last letter stays in the span
        (match,) = find_quote("Cafe\u0301", quote)
        assert (match.start, match.end) == (0, 5)
    assert [m.status for m in find_quote(text, "Β-BLOCKERS")] == ["normalized"]


def test_fuzzy_match_absorbs_typos_within_the_threshold():
    text = "The patient developed hepatotoxicity and mild nausea."
    (match,) = find_quote(text, "hepatotoxicty")
    assert (match.start, match.end, match.status) == (22, 36, "fuzzy") and 0.9 < match.similarity < 1
    assert spans(find_quote(text, "mild nausaea")) == [(41, 52, "fuzzy")]
    assert find_quote(text, "hepatotoxicty", fuzzy_threshold=0.99) == []


def test_hallucinated_quotes_are_rejected_and_counted():
    text = "Amoxicillin caused a rash."
    alignment = align_answer(
        text,
        [DrugAnswer("amoxicillin", ("rash", "liver failure")), DrugAnswer("penicillin G", ("anaphylaxis",))],
    )
    assert alignment.drugs == [{"text": "Amoxicillin", "start": 0, "end": 11}]
    assert alignment.ades == [{"drug": 0, "text": "rash", "start": 21, "end": 25}]
    assert [(r.kind, r.quote, r.reason) for r in alignment.rejected] == [
        ("ade", "liver failure", "not found in the text"),
        ("drug", "penicillin G", "not found in the text"),
        ("ade", "anaphylaxis", "its drug was not found in the text"),
    ]
    assert [m.status for m in alignment.drug_matches] == ["normalized"]
    validate_record({"id": "x", "text": text, "drugs": alignment.drugs, "ades": alignment.ades})


def test_repeated_strings_resolve_to_the_occurrence_nearest_the_drug():
    text = "Rash on warfarin was mild. Later aspirin caused a rash and bleeding, unlike warfarin."
    alignment = align_answer(text, [DrugAnswer("aspirin", ("rash",)), DrugAnswer("warfarin", ("Rash",))])
    aspirin, warfarin = alignment.drugs
    assert (aspirin["start"], aspirin["text"]) == (33, "aspirin")
    # "rash" exists at 0 (Rash) and 50 (rash): aspirin's is the one right after it
    assert alignment.ades[0] == {"drug": 0, "text": "rash", "start": 50, "end": 54}
    # warfarin occurs twice; the occurrence nearest its event "Rash" (at 0) is chosen
    assert (warfarin["start"], alignment.ades[1]["start"]) == (8, 0)


def test_same_drug_quoted_twice_is_one_drug_and_events_are_not_duplicated():
    text = "Lithium toxicity with tremor."
    alignment = align_answer(
        text, [DrugAnswer("Lithium", ("tremor",)), DrugAnswer("lithium", ("tremor", "tremor"))]
    )
    assert len(alignment.drugs) == 1 and len(alignment.ades) == 1


def test_overlong_and_empty_quotes_are_rejected_unread():
    text = "a " * 400
    assert find_quote(text, "a " * 200) == [] and find_quote(text, "  ") == []
