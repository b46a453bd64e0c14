"""Sentence splitting of abstracts: offsets into the source and biomedical abbreviations."""

from __future__ import annotations

import pytest

from adekd.corpora import split_sentences


def _sentences(text):
    return [text[start:end] for start, end in split_sentences(text)]


def test_offsets_point_into_the_text_and_whitespace_is_trimmed():
    text = "  First one.   Second one!\tThird?  "
    spans = split_sentences(text)
    assert spans == [(2, 12), (15, 26), (27, 33)]
    assert [text[s:e] for s, e in spans] == ["First one.", "Second one!", "Third?"]


@pytest.mark.parametrize(
    "text",
    [
        "Patients received 0.5 mg i.v. daily for 3 days.",
        "Drugs, e.g. Aspirin, were stopped.",
        "Drugs, i.e. NSAIDs, were stopped.",
        "As Smith et al. Reported in 1990, it recurred.",
        "Hepatitis was seen (Fig. 2) in all cases.",
        "Warfarin vs. Heparin was compared.",
        "Dosing was b.i.d. With food.",
        "E. coli sepsis followed.",
        "The median was 3. 6 courses per patient.",
        "Dr. Jones saw approx. 20 patients.",
    ],
)
def test_abbreviations_decimals_and_initials_do_not_split(text):
    assert _sentences(text) == [text]


def test_sentence_ends_split():
    text = 'Rash developed. "Severe" cases followed. (Two died.) 10 recovered after 24 h. Fever resolved.'
    assert _sentences(text) == [
        "Rash developed.",
        '"Severe" cases followed.',
        "(Two died.)",
        "10 recovered after 24 h.",
        "Fever resolved.",
    ]


def test_list_markers_stay_with_their_sentence_and_blank_lines_split():
    text = (
        "Effects in dogs. 1. Torsades occurred. 2. The potency rose.\n\nA heading without a dot\nthen text."
    )
    assert _sentences(text) == [
        "Effects in dogs.",
        "1. Torsades occurred.",
        "2. The potency rose.",
        "A heading without a dot\nthen text.",
    ]


def test_empty_and_unterminated_text():
    assert split_sentences("   ") == []
    assert _sentences("A title with no dot") == ["A title with no dot"]
