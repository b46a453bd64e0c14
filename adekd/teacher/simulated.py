"""Simulated teachers: gold labels corrupted the ways LLM teachers fail, at chosen rates.

The distillation study asks how a student's F1 depends on its teacher's F1. Real teachers of many
quality levels are expensive to come by, so :class:`SimulatedTeacher` makes them from gold
records of any task (:mod:`adekd.tasks`): it writes the answer a teacher would give (quoted
strings in the task's answer keys, ``{"drugs": [{"drug", "adverse_events"}]}`` for ADE), damaged
by five kinds of error, and aligns that answer to the sentence with the real teacher's
:func:`~adekd.teacher.alignment.align_answer`. In the task-neutral words of the record model
below, a drug is the anchor and an ADE one of its targets. The silver records it returns
have the same provenance columns as ``adekd label`` output, so they train and score through the
same path.

Errors, each drawn independently per gold (drug, ADE) pair unless noted:

- ``miss``: the ADE is left out;
- ``hallucinate``: the ADE is replaced by one the task's few-shot examples quote (small teachers
  copy them, see FINDINGS) that is not in the sentence; alignment rejects the quote, so it is
  dropped and counted in ``rejected_quotes``;
- ``boundary``: the ADE quote gains or loses one word at one end;
- ``wrong_drug``: the ADE is given to another drug of the sentence, or to a non-drug word when
  the sentence has one drug;
- ``spurious`` (per sentence): an extra ADE quote of 1-3 words that are not gold spans, tied to a
  drug of the sentence (or to a non-drug word when there is none).

Randomness comes from one generator per (seed, record id), with every draw made whatever the
rates, so raising a rate only adds errors: the teacher at rate 0.4 makes every error of the
teacher at rate 0.2 and more. Results do not depend on record order.
"""

from __future__ import annotations

import hashlib
import json
import os
import random
import re
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, fields
from typing import Any

from adekd.records import Record, validate_record
from adekd.tasks import TaskSpec, load_task
from adekd.teacher.alignment import align_answer, find_quote
from adekd.teacher.prompts import load_prompt
from adekd.teacher.schema import DrugAnswer, answer_to_json

TEACHER_NAME = "simulated"
PROMPT_ID = "gold-corruption"
_SOURCE_KEYS = ("doc_id", "doc_start")
_WORD = re.compile(r"\w+(?:[-'’]\w+)*")

PROFILE = {"miss": 0.45, "boundary": 0.6, "spurious": 0.6, "wrong_drug": 0.25, "hallucinate": 0.3}
"""Relative weight of each error at a given :meth:`CorruptionRates.at_level`; boundary errors and
spurious spans come first, as in the measured SmolLM2 and GPT teachers (see FINDINGS)."""


@dataclass(frozen=True)
class CorruptionRates:
    """Probability of each teacher error (see the module docstring); all in [0, 1]."""

    miss: float = 0.0
    boundary: float = 0.0
    spurious: float = 0.0
    wrong_drug: float = 0.0
    hallucinate: float = 0.0

    def __post_init__(self) -> None:
        for item in fields(self):
            value = getattr(self, item.name)
            if not 0.0 <= value <= 1.0:
                raise ValueError(f"corruption rate {item.name!r} must be in [0, 1], got {value}")

    @classmethod
    def at_level(cls, level: float) -> CorruptionRates:
        """Rates ``level * PROFILE`` (capped at 1): from a perfect teacher (0) to a poor one (1.5)."""
        if level < 0:
            raise ValueError(f"noise level must be >= 0, got {level}")
        return cls(**{name: round(min(1.0, level * weight), 6) for name, weight in PROFILE.items()})

    def describe(self) -> str:
        return ",".join(f"{name}={value:g}" for name, value in asdict(self).items())


@dataclass(frozen=True)
class _Draws:
    """The random numbers of one gold pair, drawn whatever the rates (so errors nest across rates)."""

    miss: float
    hallucinate: float
    boundary: float
    wrong_drug: float
    grow: float
    side: float
    pick: float


class SimulatedTeacher:
    """Labels gold records as a teacher with the given error rates would (see the module docstring)."""

    def __init__(
        self, rates: CorruptionRates, seed: int = 0, task: str | os.PathLike | TaskSpec | None = None
    ) -> None:
        self.rates = rates
        self.seed = seed
        self.task = load_task(task)
        # what a teacher copying its few-shot examples invents: the targets they quote
        examples = load_prompt("few-shot", task=self.task).examples
        quoted = (target for example in examples for item in example.answer for target in item.adverse_events)
        self.hallucinations = tuple(dict.fromkeys(quoted))

    @classmethod
    def at_level(
        cls, level: float, seed: int = 0, task: str | os.PathLike | TaskSpec | None = None
    ) -> SimulatedTeacher:
        return cls(CorruptionRates.at_level(level), seed, task)

    @property
    def model(self) -> str:
        """The name recorded as ``teacher_model``: the rates and the seed."""
        return f"simulated({self.rates.describe()},seed={self.seed})"

    @property
    def prompt_hash(self) -> str:
        blob = json.dumps({"rates": asdict(self.rates), "seed": self.seed}, sort_keys=True).encode("utf-8")
        return hashlib.sha256(blob).hexdigest()[:16]

    def _hallucinated_target(self, text: str, draw: float) -> str:
        """A target of the task's examples absent from ``text``, else one the task names generically."""
        pool = self.hallucinations
        first = int(draw * len(pool)) if pool else 0
        for offset in range(len(pool)):
            target = pool[(first + offset) % len(pool)]
            if not find_quote(text, target):
                return target
        return f"{self.task.target.plural} this sentence never mentions"

    def _rng(self, record_id: str) -> random.Random:
        digest = hashlib.sha256(f"{self.seed}\0{record_id}".encode()).digest()
        return random.Random(int.from_bytes(digest[:8], "big"))

    def answer(self, record: Record) -> tuple[list[DrugAnswer], dict[str, int]]:
        """The corrupted answer for a gold record and how many errors of each kind it holds."""
        text = record["text"]
        rng = self._rng(record["id"])
        words = [m.span() for m in _WORD.finditer(text)]
        gold_spans = [(s["start"], s["end"]) for s in (*record["drugs"], *record["ades"])]
        free_words = [w for w in words if not any(w[0] < end and start < w[1] for start, end in gold_spans)]
        counts = dict.fromkeys(PROFILE, 0)
        events: dict[str, list[str]] = {drug["text"]: [] for drug in record["drugs"]}

        def add(drug: str, quote: str) -> None:
            events.setdefault(drug, [])
            if quote not in events[drug]:
                events[drug].append(quote)

        for ade in record["ades"]:
            draws = _Draws(*(rng.random() for _ in fields(_Draws)))
            drug = record["drugs"][ade["drug"]]["text"]
            if draws.miss < self.rates.miss:
                counts["miss"] += 1
                continue
            if draws.hallucinate < self.rates.hallucinate:
                counts["hallucinate"] += 1
                add(drug, self._hallucinated_target(text, draws.pick))
                continue
            quote = ade["text"]
            if draws.boundary < self.rates.boundary:
                shifted = _shift_boundary(text, words, ade["start"], ade["end"], draws.grow, draws.side)
                if shifted is not None:
                    counts["boundary"] += 1
                    quote = shifted
            if draws.wrong_drug < self.rates.wrong_drug:
                other = _other_drug(record, drug, free_words, text, draws.pick)
                if other is not None:
                    counts["wrong_drug"] += 1
                    drug = other
            add(drug, quote)
        spurious_draw, start_draw, length_draw, drug_draw = (rng.random() for _ in range(4))
        if spurious_draw < self.rates.spurious and free_words:
            quote, drug = _spurious(record, text, free_words, start_draw, length_draw, drug_draw)
            if quote is not None:
                counts["spurious"] += 1
                add(drug, quote)
        return [DrugAnswer(drug, tuple(quotes)) for drug, quotes in events.items()], counts

    def label(self, record: Record) -> tuple[Record, dict[str, int]]:
        """One silver record (with the provenance columns of ``adekd label``) and its error counts."""
        answer, counts = self.answer(record)
        alignment = align_answer(record["text"], answer)
        raw = answer_to_json(answer, self.task.answer_keys)
        silver = {
            "id": record["id"],
            "text": record["text"],
            "drugs": alignment.drugs,
            "ades": alignment.ades,
            **{key: record[key] for key in _SOURCE_KEYS if key in record},
            "task": self.task.name,
            "teacher": TEACHER_NAME,
            "teacher_model": self.model,
            "prompt_id": PROMPT_ID,
            "prompt_hash": self.prompt_hash,
            "decoding": json.dumps({"rates": asdict(self.rates), "seed": self.seed}, sort_keys=True),
            "raw_response": raw,
            "finish_reason": "stop",
            "parse_status": "ok",
            "drug_alignment": [
                {"status": m.status, "similarity": m.similarity} for m in alignment.drug_matches
            ],
            "ade_alignment": [
                {"status": m.status, "similarity": m.similarity} for m in alignment.ade_matches
            ],
            "rejected_quotes": [asdict(quote) for quote in alignment.rejected],
            "prompt_tokens": 0,
            "completion_tokens": 0,
        }
        return validate_record(silver), counts

    def label_all(self, records: Iterable[Record]) -> tuple[list[Record], dict[str, Any]]:
        """Silver records for ``records`` and a run summary shaped like ``adekd label``'s."""
        silver: list[Record] = []
        errors = dict.fromkeys(PROFILE, 0)
        gold_ades = 0
        for record in records:
            labeled, counts = self.label(record)
            silver.append(labeled)
            gold_ades += len(record["ades"])
            for name, value in counts.items():
                errors[name] += value
        return silver, self.summary(silver, errors, gold_ades)

    def summary(self, silver: Sequence[Record], errors: dict[str, int], gold_ades: int) -> dict[str, Any]:
        return {
            "task": self.task.to_dict(),
            "teacher": {
                "backend": TEACHER_NAME,
                "transport": TEACHER_NAME,
                "model": self.model,
                "parameters": {"rates": asdict(self.rates), "seed": self.seed},
            },
            "prompt": {"id": PROMPT_ID, "hash": self.prompt_hash, "num_examples": 0, "text": __doc__},
            "counts": {
                "inputs": len(silver),
                "records": len(silver),
                "sentences": len(silver),
                "failures": 0,
                "drugs": sum(len(r["drugs"]) for r in silver),
                "ades": sum(len(r["ades"]) for r in silver),
                "rejected_quotes": sum(len(r["rejected_quotes"]) for r in silver),
                "gold_ades": gold_ades,
                "corruptions": errors,
            },
            "usage": {
                "requests": 0,
                "prompt_tokens": 0,
                "completion_tokens": 0,
                "total_tokens": 0,
                "cost_usd": 0.0,
            },
        }


def _shift_boundary(
    text: str, words: list[tuple[int, int]], start: int, end: int, grow: float, side: float
) -> str | None:
    """The span with one word more or less at one end, or ``None`` when no such span exists."""
    inside = [i for i, (ws, we) in enumerate(words) if ws < end and start < we]
    if not inside:
        return None
    first, last = inside[0], inside[-1]
    left = side < 0.5
    if grow < 0.5 or first == last:  # grow by a neighbouring word
        if left and first > 0:
            return text[words[first - 1][0] : end]
        if not left and last + 1 < len(words):
            return text[start : words[last + 1][1]]
        if first > 0:
            return text[words[first - 1][0] : end]
        if last + 1 < len(words):
            return text[start : words[last + 1][1]]
        return None
    return text[words[first + 1][0] : end] if left else text[start : words[last - 1][1]]


def _other_drug(
    record: Record, drug: str, free_words: list[tuple[int, int]], text: str, draw: float
) -> str | None:
    others = sorted({d["text"] for d in record["drugs"]} - {drug})
    if others:
        return others[int(draw * len(others))]
    if free_words:
        start, end = free_words[int(draw * len(free_words))]
        return text[start:end]
    return None


def _spurious(
    record: Record, text: str, free_words: list[tuple[int, int]], start_draw: float, length_draw: float,
    drug_draw: float,
) -> tuple[str | None, str]:  # fmt: skip
    """An extra ADE quote of 1-3 consecutive non-gold words and the drug it is tied to."""
    first = int(start_draw * len(free_words))
    span = [free_words[first]]
    for word in free_words[first + 1 : first + 1 + int(length_draw * 3)]:
        if text[span[-1][1] : word[0]].strip():  # stop at punctuation or a gold span in between
            break
        span.append(word)
    quote = text[span[0][0] : span[-1][1]]
    drugs = sorted({d["text"] for d in record["drugs"]})
    if drugs:
        return quote, drugs[int(drug_draw * len(drugs))]
    candidates = [w for w in free_words if w not in span]
    if not candidates:
        return None, ""
    start, end = candidates[int(drug_draw * len(candidates))]
    return quote, text[start:end]
