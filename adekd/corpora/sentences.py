"""A small rule-based sentence splitter for biomedical abstracts that keeps character offsets.

Distillation labels sentences, so abstracts (PubTator, plain documents) must be cut into sentences
whose offsets still point into the source document: the spans returned here index the text given.
A boundary is sentence-final punctuation (``.``, ``!``, ``?``, optionally followed by closing quotes
or brackets), then whitespace, then something that can start a sentence (an upper-case letter, a
digit, an opening quote or bracket). It is not a boundary after abbreviations common in abstracts
("e.g.", "i.v.", "et al.", "Fig.", "vs.", "approx."), after dotted letter groups ("b.i.d.") or after a
single capital letter ("E. coli", initials), after a list marker ("1. Patients...") or inside a
decimal broken by a space ("3. 6"). Decimals ("0.5 mg") never split because no space follows the
dot. A blank line always ends a sentence. Pure Python, no model download.
"""

from __future__ import annotations

import re

_ABBREVIATION_WORDS = """
    al approx ca cf dr e.g eg esp etc fig figs i.e ie incl jr mr mrs ms no nos pp prof ref refs resp
    sr st vol vs viz wt sp spp var inc ltd co corp dept univ eq eqs
"""
ABBREVIATIONS = frozenset(_ABBREVIATION_WORDS.split())
"""Lower-cased words (without their final dot) after which a dot does not end a sentence. Units
("min.", "h.", "wk.") are left out on purpose: in abstracts they end sentences more often than not."""

_CANDIDATE = re.compile(r"[.!?]+[\"'\u201d\u2019)\]]*(?=\s)")
_SENTENCE_START = re.compile(r"\s+[\"'\u201c\u2018(\[]*[A-Z0-9]")
_DOTTED_LETTERS = re.compile(r"(?:[A-Za-z]\.)+[A-Za-z]?$")
_BLANK_LINE = re.compile(r"\n[ \t]*\n")


def _dot_ends_sentence(text: str, dot: int, sentence_start: int, next_char: str) -> bool:
    """Whether the dot at ``text[dot]`` ends a sentence rather than an abbreviation or a number."""
    word_start = max(text.rfind(" ", 0, dot), text.rfind("\n", 0, dot), text.rfind("\t", 0, dot)) + 1
    word = text[word_start:dot].lstrip("(\"'[")
    if not word:
        return True
    if len(word) == 1 and word.isupper():  # initials, "E. coli"; lower-case "h." (hours) still ends one
        return False
    if word.isdigit() and (next_char.isdigit() or not text[sentence_start:word_start].strip()):
        return False  # "3. 6 courses" (a broken decimal), or a list marker "1. Patients ..."
    return not (word.lower() in ABBREVIATIONS or ("." in word and _DOTTED_LETTERS.fullmatch(word)))


def _split_block(text: str, start: int, end: int, spans: list[tuple[int, int]]) -> None:
    sentence_start = start
    for match in _CANDIDATE.finditer(text, start, end):
        punctuation_end = match.end()
        next_start = _SENTENCE_START.match(text, punctuation_end, end)
        if not next_start:
            continue
        if match.group() == "." and not _dot_ends_sentence(
            text, match.start(), sentence_start, text[next_start.end() - 1]
        ):
            continue
        spans.append((sentence_start, punctuation_end))
        sentence_start = punctuation_end
    spans.append((sentence_start, end))


def split_sentences(text: str) -> list[tuple[int, int]]:
    """Character spans ``(start, end)`` of the sentences in ``text``, whitespace trimmed, end exclusive."""
    raw: list[tuple[int, int]] = []
    block_start = 0
    for blank in _BLANK_LINE.finditer(text):
        _split_block(text, block_start, blank.start(), raw)
        block_start = blank.end()
    _split_block(text, block_start, len(text), raw)
    spans = []
    for start, end in raw:
        stripped = text[start:end]
        left = len(stripped) - len(stripped.lstrip())
        right = len(stripped.rstrip())
        if right > left:
            spans.append((start + left, start + right))
    return spans
