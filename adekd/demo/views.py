"""Turn records into what the demo shows: per-drug highlights, a pair table, error listings.

Pure functions of records (no gradio, no model), so they are tested directly and the app stays a
thin layer of callbacks. Colours and labels live here so the Extract and Evaluate tabs agree.
Labels are the task's words (:class:`adekd.tasks.words.TaskWords`, from the model's config): "drug"
and "ADE" for the ADE task, "chemical" and "disease" for chemical-disease; the default is ADE.
"""

from __future__ import annotations

import html
from collections.abc import Sequence
from dataclasses import dataclass

from adekd.modeling.processing_adekd import filter_by_score
from adekd.records import Record
from adekd.tasks.words import TaskWords

ANCHOR_COLOR, TARGET_COLOR, OTHER_ANCHOR_COLOR = "#60a5fa", "#f87171", "#d1d5db"
"""HighlightedText colours: the drug a view is about, the ADEs it caused, and the other drugs."""

FOUND, MISSED, SPURIOUS = "found", "missed", "spurious"
ERROR_COLORS = {FOUND: "#86efac", MISSED: "#fdba74", SPURIOUS: "#fca5a5"}
"""Evaluate-tab colours: an ADE of a gold pair the model found, of a gold pair it missed, of a pair
it invented; the drugs of those pairs get :data:`ANCHOR_COLOR`."""

Segment = tuple[str, str | None]
LabelledSpan = tuple[int, int, str]


def other_anchor(words: TaskWords) -> str:
    """The highlight label of the drugs a view is not about: ``other drug``."""
    return f"other {words.anchor}"


def color_map(words: TaskWords) -> dict[str, str]:
    """HighlightedText colours keyed by the task's highlight labels."""
    return {words.anchor: ANCHOR_COLOR, words.target: TARGET_COLOR, other_anchor(words): OTHER_ANCHOR_COLOR}


def table_headers(words: TaskWords) -> list[str]:
    """Columns of the pair table: ``drug, drug offsets, ADE, ADE offsets, score``."""
    return [words.anchor, f"{words.anchor} offsets", words.target, f"{words.target} offsets", "score"]


@dataclass
class DrugView:
    """One highlighted copy of the text about one drug: its mention and the ADEs tied to it."""

    title: str
    segments: list[Segment]


def highlight(text: str, spans: Sequence[LabelledSpan]) -> list[Segment]:
    """Cut ``text`` into ``(piece, label)`` segments; where spans overlap, the earlier one in ``spans`` wins.

    Gold data has overlapping drug and ADE spans ("aspirin-induced asthma" style), so the text is cut
    at every span boundary instead of assuming disjoint spans.
    """
    spans = [(start, end, label) for start, end, label in spans if 0 <= start < end <= len(text)]
    cuts = sorted({0, len(text), *(s for s, _, _ in spans), *(e for _, e, _ in spans)})
    segments: list[Segment] = []
    for start, end in zip(cuts, cuts[1:], strict=False):
        label = next((lab for s, e, lab in spans if s <= start and end <= e), None)
        if label is None and segments and segments[-1][1] is None:
            segments[-1] = (segments[-1][0] + text[start:end], None)
        else:
            segments.append((text[start:end], label))
    return segments


def ades_scoring_at_least(record: Record, threshold: float) -> Record:
    """A copy of ``record`` without the ADEs scored below ``threshold`` (unscored ADEs are kept)."""
    drugs, ades = filter_by_score(record["drugs"], record["ades"], ade_threshold=threshold)
    return {**record, "drugs": drugs, "ades": ades}


def count(number: int, noun: str) -> str:
    """``"1 ADE"``, ``"2 ADEs"``."""
    return f"{number} {noun}" + ("" if number == 1 else "s")


def _offsets(span: dict) -> str:
    return f"{span['start']}:{span['end']}"


def drug_views(record: Record, words: TaskWords | None = None) -> list[DrugView]:
    """One view per drug mention, so a reader sees which ADEs belong to which drug."""
    words = words or TaskWords.of()
    text, drugs = record["text"], record["drugs"]
    views = []
    for index, drug in enumerate(drugs):
        ades = [ade for ade in record["ades"] if ade["drug"] == index]
        others = [d for i, d in enumerate(drugs) if i != index]
        spans = [(drug["start"], drug["end"], words.anchor)]
        spans += [(ade["start"], ade["end"], words.target) for ade in ades]
        spans += [(d["start"], d["end"], other_anchor(words)) for d in others]
        title = f"{drug['text']} ({_offsets(drug)}): {count(len(ades), words.target)}"
        views.append(DrugView(title=title, segments=highlight(text, spans)))
    return views


def pair_rows(record: Record) -> list[list]:
    """Table rows ``[drug, drug offsets, ADE, ADE offsets, score]``; a drug with no ADE gets one empty row."""
    rows = []
    for index, drug in enumerate(record["drugs"]):
        ades = [ade for ade in record["ades"] if ade["drug"] == index]
        for ade in ades:
            score = ade.get("score")
            rows.append(
                [
                    drug["text"],
                    _offsets(drug),
                    ade["text"],
                    _offsets(ade),
                    None if score is None else round(float(score), 3),
                ]
            )
        if not ades:
            rows.append([drug["text"], _offsets(drug), "", "", None])
    return rows


def cap_text(text: str, max_chars: int) -> tuple[str, str | None]:
    """Cut ``text`` to at most ``max_chars`` characters at a whitespace; also return a note saying so."""
    if len(text) <= max_chars:
        return text, None
    cut = text.rfind(" ", 0, max_chars + 1)
    kept = text[: cut if cut > max_chars // 2 else max_chars]
    note = (
        f"The text has {len(text):,} characters; only the first {len(kept):,} were analysed "
        f"(the demo's limit is {max_chars:,})."
    )
    return kept, note


def _marked_html(text: str, spans: Sequence[LabelledSpan], colors: dict[str, str]) -> str:
    parts = []
    for piece, label in highlight(text, spans):
        escaped = html.escape(piece)
        if label is None:
            parts.append(escaped)
        else:
            css, title = "-".join(label.lower().split()), html.escape(label, quote=True)
            style = f"background:{colors[label]}"
            parts.append(f'<mark class="adekd-{css}" style="{style}" title="{title}">{escaped}</mark>')
    return "".join(parts)


def _pair_text(pair: dict) -> str:
    return html.escape(f"{pair['drug']['text']} \u2192 {pair['ade']['text']}")


def error_html(
    per_record: Sequence[dict], matching: str, limit: int, words: TaskWords | None = None
) -> tuple[str, int]:
    """HTML listing the sentences with wrong (drug, ADE) pairs under ``matching``; also their count.

    ``per_record`` is the ade_f1 metric's ``per_record`` breakdown. The ADE spans of found, missed
    and spurious pairs are marked in the sentence (with their drugs), and the wrong pairs are listed
    as ``drug -> ADE`` so a drug with both kinds of error stays readable.
    """
    words = words or TaskWords.of()
    colors = {**ERROR_COLORS, words.anchor: ANCHOR_COLOR}
    wrong = [r for r in per_record if r["pair"][matching]["fp"] or r["pair"][matching]["fn"]]
    if not wrong:
        pair = html.escape(f"({words.anchor}, {words.target})")
        return f"<p>No errors: every {pair} pair matches the gold file.</p>", 0
    legend = " ".join(
        f'<mark style="background:{color}">{html.escape(name)}</mark>' for name, color in colors.items()
    )
    blocks = [f"<p>{count(len(wrong), 'sentence')} with errors ({matching} matching). {legend}</p>"]
    for record in wrong[:limit]:
        result = record["pair"][matching]
        found = [tp.get("reference", tp) for tp in result["tp"]]
        listed = ((SPURIOUS, result["fp"]), (MISSED, result["fn"]), (FOUND, found))
        spans = [(p["ade"]["start"], p["ade"]["end"], label) for label, pairs in listed for p in pairs]
        spans += [(p["drug"]["start"], p["drug"]["end"], words.anchor) for _, pairs in listed for p in pairs]
        missed = "; ".join(_pair_text(p) for p in result["fn"]) or "none"
        spurious = "; ".join(_pair_text(p) for p in result["fp"]) or "none"
        blocks.append(
            f'<div class="adekd-error"><p><b>{html.escape(record["id"])}</b>: '
            f"{_marked_html(record['text'], spans, colors)}</p>"
            f"<p>missed: {missed}<br>spurious: {spurious}</p></div>"
        )
    if len(wrong) > limit:
        blocks.append(f"<p>{len(wrong) - limit} more in the downloadable report.</p>")
    return "\n".join(blocks), len(wrong)
