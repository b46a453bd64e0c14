"""Between records and the student: subword alignment, windows, labels, padding, character spans.

This is the one place where character offsets meet token indices. Training (the collator),
the pipeline and ``extract`` all go through :class:`AdeStudentProcessor`, so a span the
student was trained on is decoded back exactly the same way.

Texts longer than the encoder window are cut into overlapping windows of tokens. Each window
*owns* the characters around its middle: a drug the tagger finds is kept from the window that
owns its first character, and the ADEs found for that drug in every window where the same drug
span shows up are merged (duplicates keep the higher score). Spans touching a cut edge of a
window are dropped there, because the neighbouring window sees them whole.
"""

from __future__ import annotations

import bisect
import logging
import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import torch
from transformers import AutoTokenizer, PreTrainedTokenizerBase

from .configuration_adekd import AdeStudentConfig
from .modeling_adekd import IGNORE_INDEX, TAG_B, TAG_I, TAG_O

logger = logging.getLogger(__name__)

DEFAULT_STRIDE = 128
"""Tokens shared by consecutive windows of a long text."""


@dataclass
class Window:
    """One encoder input cut from a text, and what maps its token predictions back to characters."""

    input_ids: list[int]
    offsets: list[tuple[int, int]]
    """Character span of each token in the text; ``(0, 0)`` for ``[CLS]`` and ``[SEP]``."""
    owned: tuple[int, int]
    """Characters ``[a, b)`` whose newly found drugs this window reports."""
    cut_before: bool = False
    """The text goes on before this window, so its first token sits at a cut."""
    cut_after: bool = False
    drug_spans: list[tuple[int, int]] = field(default_factory=list)
    """Token spans (window coordinates) of the given drugs conditioned on in this window."""
    drug_indexes: list[int] = field(default_factory=list)
    """Index of each of ``drug_spans`` in the text's drug list."""
    drug_labels: list[int] | None = None
    ade_labels: list[list[int]] | None = None
    mention_labels: list[int] | None = None
    pair_spans: list[tuple[int, int, int, int]] = field(default_factory=list)
    relation_labels: list[int] = field(default_factory=list)
    word_offsets: list[tuple[int, int]] | None = None
    """Character span of the word each token is part of (as ``offsets``); decoded spans are widened
    to whole words. None: each token is its own word."""


@dataclass
class _Tokens:
    """Content tokens of a whole text (no special tokens)."""

    ids: list[int]
    starts: list[int]
    ends: list[int]
    word_starts: list[int] = field(default_factory=list)
    word_ends: list[int] = field(default_factory=list)
    """Character span of each token's word, from the tokenizer's pre-tokenization."""

    def span(self, start: int, end: int) -> tuple[int, int] | None:
        """Tokens ``[first, last)`` overlapping characters ``[start, end)``; None if no token does."""
        first = bisect.bisect_right(self.ends, start)
        last = bisect.bisect_left(self.starts, end)
        return (first, last) if first < last else None

    def aligned(self, start: int, end: int) -> bool:
        """Whether characters ``[start, end)`` begin and end on token boundaries."""
        span = self.span(start, end)
        return span is not None and self.starts[span[0]] == start and self.ends[span[1] - 1] == end


class AdeStudentProcessor:
    """Turns texts and records into student inputs and token predictions back into records.

    Args:
        tokenizer: a fast tokenizer (offset mappings are required) with ``[CLS]``/``[SEP]``-style
            special tokens, as every BERT-family tokenizer has.
        config: the student's config; it decides which labels are built and how many marker
            tokens windows leave room for.
        max_length: tokens per window including ``[CLS]`` and ``[SEP]``; defaults to the encoder's
            limit (minus room for marker tokens). Longer texts are split, never truncated.
        stride: tokens shared by consecutive windows.
    """

    def __init__(
        self,
        tokenizer: PreTrainedTokenizerBase,
        config: AdeStudentConfig,
        max_length: int | None = None,
        stride: int | None = None,
    ):
        if not getattr(tokenizer, "is_fast", False):
            raise ValueError(
                f"{type(tokenizer).__name__} is not a fast tokenizer; character offsets need one "
                "(load it with AutoTokenizer.from_pretrained(..., use_fast=True))"
            )
        if tokenizer.cls_token_id is None or tokenizer.sep_token_id is None:
            raise ValueError(
                "the tokenizer has no [CLS]/[SEP]-style special tokens; use a BERT-family tokenizer"
            )
        self.tokenizer = tokenizer
        self.config = config
        limit = min(tokenizer.model_max_length, config.encoder.max_position_embeddings)
        limit -= config.num_marker_tokens
        if max_length is not None and max_length > limit:
            raise ValueError(f"max_length={max_length} exceeds what this encoder takes ({limit} tokens)")
        self.max_length = max_length or limit
        if self.max_length < 3:
            raise ValueError(f"max_length={self.max_length} leaves no room for text between [CLS] and [SEP]")
        content = self.max_length - 2
        self.stride = min(DEFAULT_STRIDE if stride is None else stride, content // 2)
        if self.stride < 0:
            raise ValueError(f"stride must not be negative, got {stride}")
        self.pad_token_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else 0
        self.use_token_type_ids = "token_type_ids" in tokenizer.model_input_names

    @classmethod
    def from_pretrained(
        cls, name_or_path: str | os.PathLike, config: AdeStudentConfig | None = None, **kwargs: Any
    ) -> AdeStudentProcessor:
        """The processor of a saved student folder: its tokenizer and config (or the ``config`` given)."""
        if config is None:
            config = AdeStudentConfig.from_pretrained(name_or_path)
        return cls(AutoTokenizer.from_pretrained(name_or_path), config, **kwargs)

    # --- tokens and windows -------------------------------------------------------------------

    def _tokenize(self, texts: Sequence[str]) -> list[_Tokens]:
        encoded = self.tokenizer(
            list(texts),
            add_special_tokens=False,
            return_offsets_mapping=True,
            return_attention_mask=False,
            return_token_type_ids=False,
            truncation=False,
            verbose=False,
        )
        result = []
        for i, (ids, offsets) in enumerate(zip(encoded["input_ids"], encoded["offset_mapping"], strict=True)):
            starts, ends = [start for start, _ in offsets], [end for _, end in offsets]
            words = encoded.word_ids(i)
            word_starts, word_ends = dict[int, int](), dict[int, int]()
            for word, start, end in zip(words, starts, ends, strict=True):
                if word is not None:
                    word_starts[word] = min(start, word_starts.get(word, start))
                    word_ends[word] = max(end, word_ends.get(word, end))
            result.append(
                _Tokens(
                    ids,
                    starts,
                    ends,
                    [start if w is None else word_starts[w] for w, start in zip(words, starts, strict=True)],
                    [end if w is None else word_ends[w] for w, end in zip(words, ends, strict=True)],
                )
            )
        return result

    def _windows(self, text: str, tokens: _Tokens) -> list[tuple[int, Window]]:
        """Cut a text's tokens into overlapping windows: ``(first content token, window)`` pairs."""
        content, count = self.max_length - 2, len(tokens.ids)
        if count <= content:
            starts = [0]
        else:
            step = content - self.stride
            starts = [*range(0, count - content, step), count - content]
        bounds = [0]
        for left, right in zip(starts, starts[1:], strict=False):
            middle = (right + left + content) // 2
            bounds.append(tokens.word_starts[middle])  # a word is owned whole: decoded spans cover words
        bounds.append(len(text) + 1)
        windows = []
        for i, first in enumerate(starts):
            last = min(first + content, count)
            windows.append(
                (
                    first,
                    Window(
                        input_ids=[
                            self.tokenizer.cls_token_id,
                            *tokens.ids[first:last],
                            self.tokenizer.sep_token_id,
                        ],
                        offsets=[
                            (0, 0),
                            *zip(tokens.starts[first:last], tokens.ends[first:last], strict=True),
                            (0, 0),
                        ],
                        owned=(bounds[i], bounds[i + 1]),
                        cut_before=first > 0,
                        cut_after=last < count,
                        word_offsets=[
                            (0, 0),
                            *zip(tokens.word_starts[first:last], tokens.word_ends[first:last], strict=True),
                            (0, 0),
                        ],
                    ),
                )
            )
        return windows

    # --- encoding -----------------------------------------------------------------------------

    def encode(
        self,
        text: str,
        drugs: Sequence[dict] | None = None,
        ades: Sequence[dict] | None = None,
        labels: bool = False,
    ) -> list[Window]:
        """Windows of one text; given ``drugs`` are conditioned on in every window holding them whole.

        With ``labels=True`` the windows carry BIO labels of ``drugs`` and ``ades`` (record spans).
        """
        return self.encode_batch([text], [drugs], [ades], labels=labels)[0]

    def encode_records(self, records: Sequence[dict], labels: bool = True) -> list[Window]:
        """All windows of a list of records, in order (a long record gives several)."""
        per_text = self.encode_batch(
            [r["text"] for r in records],
            [r.get("drugs") for r in records],
            [r.get("ades") for r in records],
            labels=labels,
            ids=[r.get("id") for r in records],
        )
        return [window for windows in per_text for window in windows]

    def encode_batch(
        self,
        texts: Sequence[str],
        drugs: Sequence[Sequence[dict] | None],
        ades: Sequence[Sequence[dict] | None] | None = None,
        labels: bool = False,
        ids: Sequence[str | None] | None = None,
    ) -> list[list[Window]]:
        """Windows of several texts at once (one tokenizer call)."""
        ades = ades if ades is not None else [None] * len(texts)
        ids = ids if ids is not None else [None] * len(texts)
        result = []
        misaligned = 0
        for text, tokens, text_drugs, text_ades, record_id in zip(
            texts, self._tokenize(texts), drugs, ades, ids, strict=True
        ):
            windows = self._windows(text, tokens)
            drug_tokens = [tokens.span(d["start"], d["end"]) for d in text_drugs or ()]
            placed = [False] * len(drug_tokens)
            for first, window in windows:
                last = first + len(window.input_ids) - 2
                for index, span in enumerate(drug_tokens):
                    if span is not None and first <= span[0] and span[1] <= last:
                        window.drug_spans.append((span[0] - first + 1, span[1] - first + 1))
                        window.drug_indexes.append(index)
                        placed[index] = True
                if labels:
                    self._label(window, first, tokens, text_drugs or (), text_ades or ())
            for index, was_placed in enumerate(placed):
                if not was_placed:
                    drug = text_drugs[index]
                    logger.warning(
                        "%sdrug %d %r at %d:%d covers no token or does not fit one window; no ADEs are "
                        "extracted for it",
                        f"record {record_id!r}: " if record_id else "",
                        index,
                        drug.get("text"),
                        drug["start"],
                        drug["end"],
                    )
            if labels:
                misaligned += sum(
                    1
                    for span in {(x["start"], x["end"]) for x in (*(text_drugs or ()), *(text_ades or ()))}
                    if not tokens.aligned(*span)
                )
            result.append([window for _, window in windows])
        if misaligned:
            logger.warning(
                "%d labelled spans start or end inside a token; their labels cover the whole tokens",
                misaligned,
            )
        return result

    def _label(
        self, window: Window, first: int, tokens: _Tokens, drugs: Sequence[dict], ades: Sequence[dict]
    ) -> None:
        """Fill the window's BIO labels (drug tagger, per-drug ADEs, ADE mentions, pairwise relations)."""
        size = len(window.input_ids)

        def tag(spans: list[tuple[int, int]]) -> list[int]:
            labels = [IGNORE_INDEX] + [TAG_O] * (size - 2) + [IGNORE_INDEX]
            for start, end in sorted(set(spans), key=lambda s: (s[0], s[0] - s[1])):
                span = tokens.span(start, end)
                if span is None:
                    continue
                left, right = span[0] - first + 1, span[1] - first + 1
                inside = range(max(left, 1), min(right, size - 1))
                if left < 1 or right > size - 1:  # cut by the window: teach no boundary there
                    for position in inside:
                        labels[position] = IGNORE_INDEX
                elif all(labels[position] == TAG_O for position in inside):
                    labels[left] = TAG_B
                    for position in range(left + 1, right):
                        labels[position] = TAG_I
            return labels

        window.drug_labels = tag([(d["start"], d["end"]) for d in drugs])
        window.ade_labels = [
            tag([(a["start"], a["end"]) for a in ades if a["drug"] == index]) for index in window.drug_indexes
        ]
        mentions = sorted({(a["start"], a["end"]) for a in ades})
        window.mention_labels = tag(mentions)
        if self.config.architecture == "pairwise":
            related = {(a["drug"], a["start"], a["end"]) for a in ades}
            for mention in mentions:
                span = tokens.span(*mention)
                if span is None or not (first <= span[0] and span[1] <= first + size - 2):
                    continue
                for drug_span, index in zip(window.drug_spans, window.drug_indexes, strict=True):
                    window.pair_spans.append((*drug_span, span[0] - first + 1, span[1] - first + 1))
                    window.relation_labels.append(int((index, *mention) in related))

    # --- batching -----------------------------------------------------------------------------

    def collate(self, windows: Sequence[Window], labels: bool = False) -> dict[str, torch.Tensor]:
        """Pad windows to the longest one (dynamic padding) as the student's keyword arguments."""
        length = max((len(w.input_ids) for w in windows), default=2)
        num_drugs = max((len(w.drug_spans) for w in windows), default=0)

        def pad(row: Sequence, value, width: int) -> list:
            return [*row, *[value] * (width - len(row))]

        batch = {
            "input_ids": torch.tensor([pad(w.input_ids, self.pad_token_id, length) for w in windows]),
            "attention_mask": torch.tensor([pad([1] * len(w.input_ids), 0, length) for w in windows]),
            "special_tokens_mask": torch.tensor(
                [pad([1] + [0] * (len(w.input_ids) - 2) + [1], 1, length) for w in windows]
            ),
            "drug_spans": torch.tensor(
                [pad(w.drug_spans, (0, 0), num_drugs) for w in windows], dtype=torch.long
            ).reshape(len(windows), num_drugs, 2),
        }
        if self.use_token_type_ids:
            batch["token_type_ids"] = torch.zeros_like(batch["input_ids"])
        if not labels:
            return batch
        if any(w.drug_labels is None for w in windows):
            raise ValueError("labels=True needs windows encoded with labels=True")
        no_labels = [IGNORE_INDEX] * length
        batch["drug_labels"] = torch.tensor([pad(w.drug_labels, IGNORE_INDEX, length) for w in windows])
        batch["mention_labels"] = torch.tensor([pad(w.mention_labels, IGNORE_INDEX, length) for w in windows])
        batch["ade_labels"] = torch.tensor(
            [
                pad([pad(row, IGNORE_INDEX, length) for row in w.ade_labels], no_labels, num_drugs)
                for w in windows
            ],
            dtype=torch.long,
        ).reshape(len(windows), num_drugs, length)
        if self.config.architecture == "pairwise":
            num_pairs = max(len(w.pair_spans) for w in windows)
            batch["pair_spans"] = torch.tensor(
                [pad(w.pair_spans, (0, 0, 0, 0), num_pairs) for w in windows], dtype=torch.long
            ).reshape(len(windows), num_pairs, 4)
            batch["relation_labels"] = torch.tensor(
                [pad(w.relation_labels, IGNORE_INDEX, num_pairs) for w in windows], dtype=torch.long
            ).reshape(len(windows), num_pairs)
        return batch

    # --- decoding -----------------------------------------------------------------------------

    @staticmethod
    def _char_span(text: str, window: Window, start: int, end: int) -> tuple[int, int] | None:
        """Character span of window tokens ``[start, end)`` widened to whole words, trimmed of
        whitespace; None if empty.

        The tagger may start or end a span inside a word ("fosinopr" for "fosinopril"); annotated
        spans never do, so a predicted span covers every word it touches (ADE fold-0 dev: +0.8
        strict pair F1, no lenient change).
        """
        if not 1 <= start < end <= len(window.input_ids) - 1:
            return None
        offsets = window.word_offsets or window.offsets
        first, last = offsets[start][0], offsets[end - 1][1]
        first, last = max(first, 0), min(last, len(text))
        while first < last and text[first].isspace():
            first += 1
        while last > first and text[last - 1].isspace():
            last -= 1
        return (first, last) if first < last else None

    @staticmethod
    def _crosses_cut(window: Window, span: tuple[int, int]) -> bool:
        """Whether a span widened to whole words reaches past a cut edge of its window: the window saw
        only part of that word, and the neighbouring window sees it whole."""
        content = window.offsets[1:-1]
        return (window.cut_before and span[0] < content[0][0]) or (
            window.cut_after and span[1] > content[-1][1]
        )

    def decode(
        self,
        text: str,
        windows: Sequence[Window],
        predictions: Sequence[dict[str, Any]],
        drugs: Sequence[dict] | None = None,
        drug_threshold: float | None = None,
        ade_threshold: float | None = None,
    ) -> tuple[list[dict], list[dict]]:
        """Merge the token predictions of a text's windows into record ``drugs`` and ``ades``.

        Args:
            predictions: per window, the matching row of an ``AdeSpanPrediction`` (``drug_spans``,
                ``drug_scores``, ``ade_spans``, ``ade_scores``, as tensors or lists).
            drugs: the drugs given for this text (kept as they are, in order); None when the
                student found them.
            drug_threshold, ade_threshold: spans scoring below are dropped (see
                :func:`filter_by_score`); None: the student's own (``config.drug_threshold``,
                ``config.ade_threshold``; 0.0, keeping every span, where never tuned).
        """
        found: dict[tuple[int, int], float] = {}
        ade_scores: dict[tuple[Any, int, int], float] = {}
        for window, prediction in zip(windows, predictions, strict=True):
            local_drugs = {}
            drug_spans, drug_scores = _rows(prediction["drug_spans"]), _rows(prediction["drug_scores"])
            for j, ((start, end), score) in enumerate(zip(drug_spans, drug_scores, strict=True)):
                if end <= start:
                    continue
                if drugs is not None:
                    local_drugs[j] = window.drug_indexes[j]
                    continue
                span = self._char_span(text, window, start, end)
                if span is None:
                    continue
                local_drugs[j] = span
                if window.owned[0] <= span[0] < window.owned[1]:
                    found[span] = max(float(score), found.get(span, 0.0))
            last_token = len(window.input_ids) - 2
            for (j, start, end), score in zip(
                _rows(prediction["ade_spans"]), _rows(prediction["ade_scores"]), strict=True
            ):
                if end <= start or j not in local_drugs:
                    continue
                if (window.cut_before and start == 1) or (window.cut_after and end - 1 == last_token):
                    continue
                span = self._char_span(text, window, start, end)
                if span is None or self._crosses_cut(window, span):
                    continue
                key = (local_drugs[j], *span)
                ade_scores[key] = max(float(score), ade_scores.get(key, 0.0))

        if drugs is None:  # the ADEs of a drug span that overlaps a better one go to that one
            kept = _without_overlaps(found)
            winner = {span: next(k for k in kept if k[0] < span[1] and span[0] < k[1]) for span in found}
            found, moved = kept, dict[tuple[Any, int, int], float]()
            for (drug, start, end), score in ade_scores.items():
                key = (winner.get(drug, drug), start, end)
                moved[key] = max(score, moved.get(key, 0.0))
            ade_scores = moved
        ade_scores = _without_overlaps(ade_scores)
        if drugs is not None:
            out_drugs = [dict(drug) for drug in drugs]
            index = {i: i for i in range(len(drugs))}
        else:
            spans = sorted(found)
            out_drugs = [{"text": text[s:e], "start": s, "end": e, "score": found[(s, e)]} for s, e in spans]
            index = {span: i for i, span in enumerate(spans)}
        ades = [
            {"drug": index[drug], "text": text[start:end], "start": start, "end": end, "score": score}
            for (drug, start, end), score in ade_scores.items()
            if drug in index
        ]
        ades.sort(key=lambda a: (a["drug"], a["start"], a["end"]))
        if drugs is not None:  # given drugs come back as given, whatever scores they carry
            drug_threshold = 0.0
        return filter_by_score(
            out_drugs,
            ades,
            (self.config.drug_threshold or 0.0) if drug_threshold is None else drug_threshold,
            (self.config.ade_threshold or 0.0) if ade_threshold is None else ade_threshold,
        )


def filter_by_score(
    drugs: Sequence[dict], ades: Sequence[dict], drug_threshold: float = 0.0, ade_threshold: float = 0.0
) -> tuple[list[dict], list[dict]]:
    """A record's ``drugs`` and ``ades`` without the spans scoring below the thresholds.

    A dropped drug takes its ADEs with it; the remaining ADEs' ``drug`` indexes follow the kept
    drugs. Spans without a score (drugs given by the caller) are always kept. Decoding and
    :func:`adekd.training.tune_thresholds` (which tries thresholds on predictions made once) both
    filter here, so a tuned threshold means the same thing when the pipeline applies it.
    """
    kept = [i for i, drug in enumerate(drugs) if drug.get("score") is None or drug["score"] >= drug_threshold]
    position = {old: new for new, old in enumerate(kept)}
    return [drugs[i] for i in kept], [
        {**ade, "drug": position[ade["drug"]]}
        for ade in ades
        if ade["drug"] in position and (ade.get("score") is None or ade["score"] >= ade_threshold)
    ]


def _without_overlaps(scored: dict[tuple, float]) -> dict[tuple, float]:
    """Spans keyed ``(*owner, start, end)`` (an ADE's owner is its drug) without any that overlaps a
    better one of the same owner: the highest score wins, the longer span on a tie.

    Overlaps come from windows that disagree ("Peripheral neuropathy" in one, "Peripheral" and
    "neuropathy" in the next) and from spans widened to the same word; a record never holds both.
    """
    kept: dict[tuple, float] = {}
    taken: dict[tuple, list[tuple[int, int]]] = {}
    for key in sorted(scored, key=lambda key: (-scored[key], key[-2] - key[-1], key[-2])):
        *owner, start, end = key
        spans = taken.setdefault(tuple(owner), [])
        if all(end <= other_start or other_end <= start for other_start, other_end in spans):
            spans.append((start, end))
            kept[key] = scored[key]
    return kept


def _rows(value: Any) -> list:
    """A prediction field of one window as nested Python lists."""
    return value.tolist() if isinstance(value, torch.Tensor) else list(value)


@dataclass
class AdeDataCollator:
    """Records -> a padded training batch for ``AdeStudentForExtraction`` (labels of both heads).

    Gold drugs are given as ``drug_spans`` (teacher forcing for the ADE head) and labelled for the
    drug tagger. A record longer than the encoder window becomes several windows, so a batch can
    hold more sequences than records.
    """

    processor: AdeStudentProcessor

    def __call__(self, records: Sequence[dict]) -> dict[str, torch.Tensor]:
        return self.processor.collate(self.processor.encode_records(records, labels=True), labels=True)


__all__ = ["AdeDataCollator", "AdeStudentProcessor", "Window", "filter_by_score"]
