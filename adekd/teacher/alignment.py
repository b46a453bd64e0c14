"""Turn the teacher's quoted strings into character spans of the sentence.

A quote is first trimmed of the punctuation, quote marks and brackets around it (no
annotated span ends on them), then looked up in three steps, stopping at the first that finds it:

1. ``exact``: the quote occurs as written (not inside a longer word);
2. ``normalized``: it occurs once case, runs of whitespace, dash and quote-mark variants, accents
   and compatibility forms (ligatures) are ignored;
3. ``fuzzy``: the most similar run of words of about the same length scores at least
   ``fuzzy_threshold`` (difflib ratio), which absorbs typos and small inflections.

A quote found nowhere is a hallucination: it is rejected and reported, never kept. When a string
occurs more than once, the drug takes the occurrence closest to its adverse events and each
adverse event the occurrence closest to its drug.
"""

from __future__ import annotations

import difflib
import re
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Literal

from adekd.records import ADESpan, Span
from adekd.teacher.schema import DrugAnswer

DEFAULT_FUZZY_THRESHOLD = 0.85
MAX_QUOTE_CHARS = 300
"""Longer quotes are rejected unread: no real drug or adverse event is that long."""

MatchStatus = Literal["exact", "normalized", "fuzzy"]

_WORD = re.compile(r"\w+")
_EDGE = " \t\n\r.,;:!?\"'`“”‘’"
_BRACKETS = ("()", "[]", "{}")
_CHAR_VARIANTS = str.maketrans(
    {"‐": "-", "‑": "-", "‒": "-", "–": "-", "—": "-", "−": "-", "’": "'", "‘": "'", "“": '"', "”": '"'}
)


@dataclass(frozen=True)
class Match:
    """Where a quote was found and how: ``similarity`` is 1.0 unless the match is fuzzy."""

    start: int
    end: int
    status: MatchStatus
    similarity: float = 1.0


@dataclass(frozen=True)
class RejectedQuote:
    """A quote that matched nowhere in the text (``drug`` names the drug an event was given for)."""

    kind: Literal["drug", "ade"]
    quote: str
    drug: str
    reason: str


@dataclass
class Alignment:
    """Spans in the record data model plus how each was matched and what was rejected."""

    drugs: list[Span] = field(default_factory=list)
    ades: list[ADESpan] = field(default_factory=list)
    drug_matches: list[Match] = field(default_factory=list)
    ade_matches: list[Match] = field(default_factory=list)
    rejected: list[RejectedQuote] = field(default_factory=list)


def find_quote(text: str, quote: str, fuzzy_threshold: float = DEFAULT_FUZZY_THRESHOLD) -> list[Match]:
    """Every equally good match of ``quote`` in ``text`` at the first step that finds any."""
    if len(quote) > MAX_QUOTE_CHARS:
        return []
    quote = _core(quote)
    if not quote:
        return []
    exact = [
        Match(s, s + len(quote), "exact")
        for s in _occurrences(text, quote)
        if _on_word_edges(text, s, s + len(quote))
    ]
    if exact:
        return exact
    norm_text, index = _normalize(text)
    norm_quote, _ = _normalize(quote)
    normalized = []
    for pos in _occurrences(norm_text, norm_quote):
        start, end = index[pos], index[pos + len(norm_quote) - 1] + 1
        while end < len(text) and unicodedata.combining(text[end]):  # the accents of the last letter
            end += 1
        if _on_word_edges(text, start, end):
            normalized.append(Match(start, end, "normalized"))
    if normalized:
        return normalized
    return _fuzzy(text, norm_quote, fuzzy_threshold)


def align_answer(
    text: str, answer: Sequence[DrugAnswer], fuzzy_threshold: float = DEFAULT_FUZZY_THRESHOLD
) -> Alignment:
    """Align every drug and adverse-event quote of ``answer`` to spans of ``text``."""
    result = Alignment()
    drug_index: dict[tuple[int, int], int] = {}
    seen_ades: set[tuple[int, int, int]] = set()
    for item in answer:
        drug_candidates = find_quote(text, item.drug, fuzzy_threshold)
        if not drug_candidates:
            result.rejected.append(RejectedQuote("drug", item.drug, item.drug, "not found in the text"))
            result.rejected.extend(
                RejectedQuote("ade", event, item.drug, "its drug was not found in the text")
                for event in item.adverse_events
            )
            continue
        event_candidates = [
            (event, find_quote(text, event, fuzzy_threshold)) for event in item.adverse_events
        ]
        drug = min(
            drug_candidates,
            key=lambda d: (
                sum(min(_gap(d, e) for e in found) for _, found in event_candidates if found),
                d.start,
            ),
        )
        key = (drug.start, drug.end)
        if key not in drug_index:
            drug_index[key] = len(result.drugs)
            result.drugs.append({"text": text[drug.start : drug.end], "start": drug.start, "end": drug.end})
            result.drug_matches.append(drug)
        index = drug_index[key]
        for event, found in event_candidates:
            if not found:
                result.rejected.append(RejectedQuote("ade", event, item.drug, "not found in the text"))
                continue
            ade = min(found, key=lambda e: (_gap(drug, e), e.start))
            if (index, ade.start, ade.end) in seen_ades:
                continue
            seen_ades.add((index, ade.start, ade.end))
            result.ades.append(
                {"drug": index, "text": text[ade.start : ade.end], "start": ade.start, "end": ade.end}
            )
            result.ade_matches.append(ade)
    return result


def _core(quote: str) -> str:
    """The quote without the punctuation, quote marks and brackets around it.

    A teacher copies "encephalopathy." from the end of a sentence or "rash," from a list, but an
    annotated span never ends on them; a bracket stays when its pair is inside ("rash (grade 3)").
    """
    while True:
        core = quote.strip(_EDGE)
        for pair in _BRACKETS:
            if _wrapped(core, pair):
                core = core[1:-1]
            if core.startswith(pair[0]) and pair[1] not in core:
                core = core[1:]
            if core.endswith(pair[1]) and pair[0] not in core:
                core = core[:-1]
        if core == quote:
            return core
        quote = core


def _wrapped(quote: str, pair: str) -> bool:
    """Whether the bracket opening ``quote`` is the one closing it: "(hypotension)", not "(a) or (b)"."""
    if not (quote.startswith(pair[0]) and quote.endswith(pair[1])):
        return False
    depth = 0
    for position, char in enumerate(quote):
        depth += (char == pair[0]) - (char == pair[1])
        if depth == 0:
            return position == len(quote) - 1
    return False


def _occurrences(haystack: str, needle: str) -> list[int]:
    found, pos = [], haystack.find(needle)
    while pos >= 0:
        found.append(pos)
        pos = haystack.find(needle, pos + 1)
    return found


def _on_word_edges(text: str, start: int, end: int) -> bool:
    """False when the span cuts a word (``"rash"`` inside ``"rashes"``)."""
    before_ok = start == 0 or not (text[start - 1].isalnum() and text[start].isalnum())
    after_ok = end == len(text) or not (
        text[end - 1].isalnum() and (text[end].isalnum() or unicodedata.combining(text[end]))
    )
    return before_ok and after_ok


def _normalize(text: str) -> tuple[str, list[int]]:
    """Lower-cased text with whitespace runs collapsed, and each character's index in the original."""
    chars: list[str] = []
    index: list[int] = []
    for i, char in enumerate(text.translate(_CHAR_VARIANTS)):
        if char.isspace():
            if chars and chars[-1] != " ":
                chars.append(" ")
                index.append(i)
            continue
        for folded in char.lower() if char.isascii() else _fold(char):
            chars.append(folded)
            index.append(i)
    while chars and chars[-1] == " ":
        chars.pop()
        index.pop()
    return "".join(chars), index


def _fold(char: str) -> str:
    """A non-ASCII character lower-cased, its compatibility form spelled out and its accents dropped:
    a ligature ("ﬂ" -> "fl") or an accent composed in one string and decomposed in the other
    ("é" or "e" + U+0301) must not hide a quote the teacher copied right."""
    return "".join(c for c in unicodedata.normalize("NFKD", char.lower()) if not unicodedata.combining(c))


def _fuzzy(text: str, norm_quote: str, threshold: float) -> list[Match]:
    """Runs of words about as long as the quote whose similarity reaches ``threshold``; best ones only."""
    words = [m.span() for m in _WORD.finditer(text)]
    size = len(_WORD.findall(norm_quote))
    if not size:
        return []
    best, matches = threshold, []
    matcher = difflib.SequenceMatcher(autojunk=False)
    matcher.set_seq2(norm_quote)
    for i in range(len(words)):
        for j in range(i + max(0, size - 3), min(len(words), i + size + 2)):
            start, end = words[i][0], words[j][1]
            matcher.set_seq1(_normalize(text[start:end])[0])
            if matcher.real_quick_ratio() < best or matcher.quick_ratio() < best:
                continue
            ratio = matcher.ratio()
            if ratio > best + 1e-9:
                best, matches = ratio, [Match(start, end, "fuzzy", round(ratio, 4))]
            elif ratio >= best - 1e-9:
                matches.append(Match(start, end, "fuzzy", round(ratio, 4)))
    return matches


def _gap(a: Match, b: Match) -> int:
    return max(0, b.start - a.end, a.start - b.end)
