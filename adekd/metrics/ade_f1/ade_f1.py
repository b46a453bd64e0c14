"""ade_f1: strict and lenient F1 of (drug, ADE) pairs, drug mentions and ADE mentions.

A self-contained ``evaluate`` module: ``evaluate.load`` copies this one file into its cache, so it
imports nothing from adekd and holds the whole matching logic. adekd calls it through
``adekd.load_metric()``.
"""

import numbers
from collections.abc import Iterable, Sequence
from typing import Any

import datasets
import evaluate

_CITATION = """\
@article{gu2023distilling,
  title={Distilling Large Language Models for Biomedical Knowledge Extraction:
         A Case Study on Adverse Drug Events},
  author={Gu, Yu and Zhang, Sheng and Usuyama, Naoto and Woldesenbet, Yonas and Wong, Cliff and
          Sanapathi, Praneeth and Wei, Mu and Valluri, Naveen and Strandberg, Erika and Naumann, Tristan and
          Poon, Hoifung},
  journal={arXiv preprint arXiv:2307.06439},
  year={2023}
}
@article{gurulingappa2012development,
  title={Development of a benchmark corpus to support the automatic extraction of drug-related adverse
         effects from medical case reports},
  author={Gurulingappa, Harsha and Rajput, Abdul Mateen and Roberts, Angus and Fluck, Juliane and
          Hofmann-Apitius, Martin and Toldo, Luca},
  journal={Journal of Biomedical Informatics},
  volume={45},
  number={5},
  pages={885--892},
  year={2012}
}
"""

_DESCRIPTION = """\
Micro-averaged precision, recall and F1 of adverse drug event extraction, scored on character
spans. Three units are scored: (drug, ADE) pairs, drug mentions and ADE mentions. Strict matching
needs identical character spans; lenient matching needs every span of the unit to overlap its gold
counterpart by at least one character, with predictions and gold units matched one-to-one
(maximum bipartite matching). Strict pair F1 equals the strict relation F1 of SpERT/REBEL/PFN on the
ADE corpus (exact boundaries of both arguments).
"""

_KWARGS_DESCRIPTION = """
Args:
    predictions: list of records, one per sentence:
        ``{"id": str, "text": str, "drugs": [{"text", "start", "end"}],
        "ades": [{"drug": int, "text", "start", "end"}]}`` with character offsets into ``text``
        (end exclusive) and ``ades[i]["drug"]`` an index into ``drugs``. Other keys (``score``,
        provenance columns) are ignored.
    references: gold records of the same sentences, in the same order (``predictions[i]["id"]``
        must equal ``references[i]["id"]``).
    return_per_record: also return ``"per_record"``: for each sentence the true positives, false
        positives and false negatives of each unit under both matchings (default ``False``).

Returns:
    For pairs (no prefix), drug mentions (``drug_``) and ADE mentions (``ade_``):
    ``strict_precision``, ``strict_recall``, ``strict_f1``, ``lenient_precision``,
    ``lenient_recall``, ``lenient_f1`` (floats in [0, 1]; 0.0 whenever a denominator is 0) and the
    counts ``strict_tp``, ``lenient_tp``, ``num_predicted``, ``num_gold`` (ints, summable across
    runs); plus ``num_records``.

Examples:
    >>> ade_f1 = evaluate.load("adekd/metrics/ade_f1")
    >>> gold = {"id": "s1", "text": "Hepatitis after amoxicillin.",
    ...         "drugs": [{"text": "amoxicillin", "start": 16, "end": 27}],
    ...         "ades": [{"drug": 0, "text": "Hepatitis", "start": 0, "end": 9}]}
    >>> pred = {"id": "s1", "text": "Hepatitis after amoxicillin.",
    ...         "drugs": [{"text": "amoxicillin", "start": 16, "end": 27}],
    ...         "ades": [{"drug": 0, "text": "Hepatitis after", "start": 0, "end": 15}]}
    >>> results = ade_f1.compute(predictions=[pred], references=[gold])
    >>> results["strict_f1"], results["lenient_f1"], results["drug_strict_f1"]
    (0.0, 1.0, 1.0)
"""

_SPAN = {"text": datasets.Value("string"), "start": datasets.Value("int32"), "end": datasets.Value("int32")}
_RECORD = {
    "id": datasets.Value("string"),
    "text": datasets.Value("string"),
    "drugs": datasets.List(_SPAN),
    "ades": datasets.List({"drug": datasets.Value("int32"), **_SPAN}),
}

Span = tuple[int, int]
Unit = tuple[Span, ...]
"""A scored unit as character spans: ``(drug,)``, ``(ade,)`` or ``(drug, ade)``."""

UNITS = ("pair", "drug", "ade")
_PREFIX = {"pair": "", "drug": "drug_", "ade": "ade_"}


def _offset(value: Any) -> int:
    """A character offset: an integer, or a float holding one (JSON read through pandas gives 12.0).

    ``int()`` alone would truncate 32.7 to 32 and score a misaligned span as a strict match.
    """
    if isinstance(value, numbers.Integral) and not isinstance(value, bool):
        return int(value)
    if isinstance(value, float) and value.is_integer():
        return int(value)
    raise TypeError(f"not an integer offset: {value!r}")


def _normalize_span(span: Any, record_id: str, where: str) -> dict:
    try:
        start, end = _offset(span["start"]), _offset(span["end"])
    except (KeyError, TypeError) as err:
        raise ValueError(
            f"record {record_id!r}: {where} needs integer 'start' and 'end', got {span!r}"
        ) from err
    if not 0 <= start < end:
        raise ValueError(f"record {record_id!r}: {where} has an empty or negative span {start}:{end}")
    return {"text": str(span.get("text") or ""), "start": start, "end": end}


def normalize_record(record: Any, side: str, position: int) -> dict:
    """Reduce a record to the fields the metric reads; drop scores and provenance.

    ``evaluate`` stores inputs in Arrow under fixed features, and extra keys would break that, so
    records are cut to the schema here. Raises ``ValueError`` naming the side and position.
    """
    if not isinstance(record, dict):
        raise ValueError(f"{side}[{position}] must be a record dict, got {type(record).__name__}")
    record_id = record.get("id")
    if not isinstance(record_id, str) or not record_id:
        raise ValueError(f"{side}[{position}] has no string 'id' (got {record_id!r})")
    drugs = [
        _normalize_span(d, record_id, f"{side} drug {i}") for i, d in enumerate(record.get("drugs") or [])
    ]
    ades = []
    for i, ade in enumerate(record.get("ades") or []):
        span = _normalize_span(ade, record_id, f"{side} ADE {i}")
        drug = ade.get("drug")
        if isinstance(drug, bool) or not isinstance(drug, numbers.Integral) or not 0 <= drug < len(drugs):
            raise ValueError(
                f"record {record_id!r}: {side} ADE {i} points at drug {drug!r}, "
                f"but the record has {len(drugs)} drugs"
            )
        ades.append({"drug": int(drug), **span})
    return {"id": record_id, "text": str(record.get("text") or ""), "drugs": drugs, "ades": ades}


def check_aligned(predictions: Sequence[dict], references: Sequence[dict]) -> None:
    """Records are paired by position: same count, same id and same text at every position."""
    if len(predictions) != len(references):
        raise ValueError(
            f"got {len(predictions)} predictions but {len(references)} references; "
            "pass one prediction record per reference record, in the same order"
        )
    for position, (pred, ref) in enumerate(zip(predictions, references, strict=True)):
        if pred["id"] != ref["id"]:
            raise ValueError(
                f"predictions[{position}] has id {pred['id']!r} but references[{position}] has id "
                f"{ref['id']!r}; records are paired by position, so order predictions like references"
            )
        if pred["text"] and ref["text"] and pred["text"] != ref["text"]:
            raise ValueError(
                f"record {ref['id']!r} (position {position}): the prediction's text differs from the "
                "reference's, so their character offsets cannot be compared"
            )


def record_units(record: dict) -> dict[str, dict[Unit, list[str]]]:
    """The unique units of a record per kind, each with its span texts (first occurrence wins).

    Units are sets: a pair listed twice, or an ADE span tied to two drugs, counts once as a
    mention (but twice as pairs, once per drug).
    """
    drugs = [((d["start"], d["end"]), d["text"]) for d in record["drugs"]]
    units: dict[str, dict[Unit, list[str]]] = {kind: {} for kind in UNITS}
    for span, text in drugs:
        units["drug"].setdefault((span,), [text])
    for ade in record["ades"]:
        ade_span = (ade["start"], ade["end"])
        drug_span, drug_text = drugs[ade["drug"]]
        units["ade"].setdefault((ade_span,), [ade["text"]])
        units["pair"].setdefault((drug_span, ade_span), [drug_text, ade["text"]])
    return units


def _overlap(a: Span, b: Span) -> int:
    return max(0, min(a[1], b[1]) - max(a[0], b[0]))


def lenient_matching(predicted: Sequence[Unit], gold: Sequence[Unit]) -> list[tuple[int, int]]:
    """One-to-one matching of overlapping units with the largest possible number of matches.

    Two units may match when each of their spans overlaps the other's by at least one character.
    The count is that of a maximum bipartite matching, so it never depends on input order; which
    units pair up (shown by ``return_per_record``) is decided deterministically: identical units
    first, then each prediction in the given order takes its best free gold unit (more identical
    spans, then more overlapping characters, then earlier gold), then augmenting paths
    (Kuhn's algorithm, gold in the same preference order) add matches greedy choice missed.
    Returns ``(prediction index, gold index)`` pairs sorted by prediction index.
    """
    gold_index = {unit: j for j, unit in enumerate(gold)}
    candidates: list[list[int]] = []
    for unit in predicted:
        scored = []
        for j, other in enumerate(gold):
            overlaps = [_overlap(a, b) for a, b in zip(unit, other, strict=True)]
            if all(overlaps):
                identical = sum(a == b for a, b in zip(unit, other, strict=True))
                scored.append((-identical, -sum(overlaps), j))
        candidates.append([j for *_, j in sorted(scored)])

    gold_of: dict[int, int] = {}
    pred_of: dict[int, int] = {}
    for i, unit in enumerate(predicted):  # identical units
        j = gold_index.get(unit)
        if j is not None:
            gold_of[i], pred_of[j] = j, i
    for i in range(len(predicted)):  # greedy: best free candidate
        if i not in gold_of:
            j = next((j for j in candidates[i] if j not in pred_of), None)
            if j is not None:
                gold_of[i], pred_of[j] = j, i
    for i in range(len(predicted)):  # augmenting paths
        if i not in gold_of:
            _augment(i, candidates, gold_of, pred_of)
    return sorted(gold_of.items())


def _augment(
    root: int, candidates: list[list[int]], gold_of: dict[int, int], pred_of: dict[int, int]
) -> None:
    """Find an augmenting path from unmatched prediction ``root`` (iterative DFS) and flip it."""
    reached_from: dict[int, int] = {}  # gold -> prediction whose candidate list reached it
    stack = [(root, iter(candidates[root]))]
    while stack:
        pred, options = stack[-1]
        for j in options:
            if j in reached_from:
                continue
            reached_from[j] = pred
            owner = pred_of.get(j)
            if owner is None:  # free gold unit: flip the path back to root
                while j is not None:
                    pred = reached_from[j]
                    previous = gold_of.get(pred)
                    gold_of[pred], pred_of[j] = j, pred
                    j = previous
                return
            stack.append((owner, iter(candidates[owner])))
            break
        else:
            stack.pop()


def _prf(tp: int, num_predicted: int, num_gold: int) -> tuple[float, float, float]:
    precision = tp / num_predicted if num_predicted else 0.0
    recall = tp / num_gold if num_gold else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return precision, recall, f1


def _describe(kind: str, unit: Unit, texts: list[str]) -> dict:
    spans = [
        {"text": text, "start": start, "end": end} for (start, end), text in zip(unit, texts, strict=True)
    ]
    return {"drug": spans[0], "ade": spans[1]} if kind == "pair" else spans[0]


def _breakdown(
    kind: str,
    predicted: list[Unit],
    gold: list[Unit],
    pred_texts: dict[Unit, list[str]],
    gold_texts: dict[Unit, list[str]],
    matches: list[tuple[int, int]],
) -> dict[str, dict[str, list[dict]]]:
    """One record's true positives, false positives and false negatives of one unit kind."""
    matched_pred, matched_gold = {i for i, _ in matches}, {j for _, j in matches}

    def predicted_unit(unit: Unit) -> dict:
        return _describe(kind, unit, pred_texts[unit])

    def gold_unit(unit: Unit) -> dict:
        return _describe(kind, unit, gold_texts[unit])

    return {
        "strict": {
            "tp": [gold_unit(u) for u in predicted if u in gold_texts],
            "fp": [predicted_unit(u) for u in predicted if u not in gold_texts],
            "fn": [gold_unit(u) for u in gold if u not in pred_texts],
        },
        "lenient": {
            "tp": [
                {"prediction": predicted_unit(predicted[i]), "reference": gold_unit(gold[j])}
                for i, j in matches
            ],
            "fp": [predicted_unit(u) for i, u in enumerate(predicted) if i not in matched_pred],
            "fn": [gold_unit(u) for j, u in enumerate(gold) if j not in matched_gold],
        },
    }


def score_records(
    predictions: Iterable[dict], references: Iterable[dict], return_per_record: bool = False
) -> dict[str, Any]:
    """Score aligned, normalized records; the whole computation behind ``AdeF1._compute``."""
    predictions, references = list(predictions), list(references)
    check_aligned(predictions, references)
    counts = {kind: {"strict_tp": 0, "lenient_tp": 0, "num_predicted": 0, "num_gold": 0} for kind in UNITS}
    per_record = []
    for pred_record, gold_record in zip(predictions, references, strict=True):
        pred_units, gold_units = record_units(pred_record), record_units(gold_record)
        breakdown: dict[str, Any] = {"id": gold_record["id"], "text": gold_record["text"]}
        for kind in UNITS:
            pred_texts, gold_texts = pred_units[kind], gold_units[kind]
            predicted, gold = sorted(pred_texts), sorted(gold_texts)
            matches = lenient_matching(predicted, gold)
            kind_counts = counts[kind]
            kind_counts["strict_tp"] += sum(unit in gold_texts for unit in predicted)
            kind_counts["lenient_tp"] += len(matches)
            kind_counts["num_predicted"] += len(predicted)
            kind_counts["num_gold"] += len(gold)
            if return_per_record:
                breakdown[kind] = _breakdown(kind, predicted, gold, pred_texts, gold_texts, matches)
        per_record.append(breakdown)

    results: dict[str, Any] = {}
    for kind in UNITS:
        prefix, kind_counts = _PREFIX[kind], counts[kind]
        for matching in ("strict", "lenient"):
            precision, recall, f1 = _prf(
                kind_counts[f"{matching}_tp"], kind_counts["num_predicted"], kind_counts["num_gold"]
            )
            results[f"{prefix}{matching}_precision"] = precision
            results[f"{prefix}{matching}_recall"] = recall
            results[f"{prefix}{matching}_f1"] = f1
        for name, value in kind_counts.items():
            results[f"{prefix}{name}"] = value
    results["num_records"] = len(references)
    if return_per_record:
        results["per_record"] = per_record
    return results


@evaluate.utils.file_utils.add_start_docstrings(_DESCRIPTION, _KWARGS_DESCRIPTION)
class AdeF1(evaluate.Metric):
    """Strict and lenient micro P/R/F1 of drug->ADE pairs, drug mentions and ADE mentions."""

    def _info(self) -> evaluate.MetricInfo:
        return evaluate.MetricInfo(
            description=_DESCRIPTION,
            citation=_CITATION,
            inputs_description=_KWARGS_DESCRIPTION,
            features=datasets.Features({"predictions": _RECORD, "references": _RECORD}),
            homepage="https://arxiv.org/abs/2307.06439",
            reference_urls=["https://github.com/lavis-nlp/spert/blob/master/spert/evaluator.py"],
        )

    def add_batch(self, *, predictions=None, references=None, **kwargs):
        """Check pairing and cut records to the metric's features before ``evaluate`` stores them."""
        if predictions is None or references is None:
            raise ValueError("ade_f1 needs both `predictions` and `references` (lists of records)")
        predictions = [normalize_record(r, "predictions", i) for i, r in enumerate(predictions)]
        references = [normalize_record(r, "references", i) for i, r in enumerate(references)]
        check_aligned(predictions, references)
        return super().add_batch(predictions=predictions, references=references, **kwargs)

    def add(self, *, prediction=None, reference=None, **kwargs):
        """One record pair at a time; same checks as :meth:`add_batch`."""
        if prediction is None or reference is None:
            raise ValueError("ade_f1 needs both `prediction` and `reference` (records)")
        prediction = normalize_record(prediction, "predictions", 0)
        reference = normalize_record(reference, "references", 0)
        check_aligned([prediction], [reference])
        return super().add(prediction=prediction, reference=reference, **kwargs)

    def _compute(self, predictions, references, return_per_record: bool = False):
        return score_records(predictions, references, return_per_record=return_per_record)
