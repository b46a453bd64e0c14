"""Scoring records with the ``ade_f1`` evaluate module.

The metric itself lives in ``ade_f1/ade_f1.py`` so that ``evaluate.load`` can copy it alone; this
module only loads it, pairs prediction files with gold by record id and formats the results.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import evaluate

    from adekd.records import Record

logger = logging.getLogger(__name__)

METRIC_PATH = Path(__file__).resolve().parent / "ade_f1"
"""The folder to pass to ``evaluate.load``."""


def load_metric(**kwargs: Any) -> evaluate.EvaluationModule:
    """The ``ade_f1`` metric, loaded from the installed package (no Hub access needed).

    Keyword arguments go to ``evaluate.load`` (e.g. ``keep_in_memory=True``, ``experiment_id``).
    """
    import evaluate

    return evaluate.load(str(METRIC_PATH), **kwargs)


def align_by_id(
    predictions: Iterable[Record], references: Iterable[Record]
) -> tuple[list[Record], list[str]]:
    """Order predictions like the references, matching them by record id.

    A reference without a prediction gets an empty prediction (no drugs, no ADEs): a model that
    skipped a sentence is scored as having found nothing in it. Returns the aligned predictions and
    the ids that had to be filled in. Raises ``ValueError`` for a predicted id not in the references
    and for ids repeated on either side, since those cannot be paired.
    """
    by_id: dict[str, Record] = {}
    for record in predictions:
        if record["id"] in by_id:
            raise ValueError(f"prediction id {record['id']!r} appears more than once")
        by_id[record["id"]] = record
    references = list(references)
    reference_ids: set[str] = set()
    for record in references:
        if record["id"] in reference_ids:
            raise ValueError(f"reference id {record['id']!r} appears more than once")
        reference_ids.add(record["id"])
    unknown = [record_id for record_id in by_id if record_id not in reference_ids]
    if unknown:
        shown = ", ".join(repr(i) for i in unknown[:5])
        raise ValueError(
            f"{len(unknown)} predicted record ids are not in the references (first: {shown}); "
            "were the predictions made on another corpus or split?"
        )
    aligned, missing = [], []
    for reference in references:
        prediction = by_id.get(reference["id"])
        if prediction is None:
            missing.append(reference["id"])
            prediction = {"id": reference["id"], "text": reference["text"], "drugs": [], "ades": []}
        aligned.append(prediction)
    return aligned, missing


def score(
    predictions: Iterable[Record], references: Iterable[Record], return_per_record: bool = False
) -> dict[str, Any]:
    """Score predictions against gold records matched by id (any order), with ``ade_f1``.

    Adds ``num_missing_predictions``: gold records with no prediction, scored as empty (and logged).
    """
    references = list(references)
    aligned, missing = align_by_id(predictions, references)
    if missing:
        logger.warning(
            "%d of %d reference records have no prediction and count as empty predictions (first: %s)",
            len(missing),
            len(references),
            ", ".join(missing[:5]),
        )
    results = load_metric(keep_in_memory=True).compute(
        predictions=aligned, references=references, return_per_record=return_per_record
    )
    results["num_missing_predictions"] = len(missing)
    return results


_MEASURES = ("precision", "recall", "f1")


def format_table(results: Mapping[str, Any], anchor: str = "drug", target: str = "ADE") -> str:
    """A fixed-width table: pairs / anchors / targets x strict / lenient x P / R / F1 (micro, %) and counts.

    ``anchor`` and ``target`` name the mention rows in a task's words (``TaskWords.anchor`` /
    ``.target``: ``chemical`` and ``disease`` give the rows ``chemicals`` and ``diseases``); the
    metric's keys stay ``drug_*`` / ``ade_*`` whatever the task.
    """
    rows = (("pairs", ""), (f"{anchor}s", "drug_"), (f"{target}s", "ade_"))
    width = max(8, 2 + max(len(label) for label, _ in rows))
    lines = [
        f"{'micro %':{width}}{'strict':^24}  {'lenient':^24}".rstrip(),
        f"{'':{width}}{'P':>8}{'R':>8}{'F1':>8}  {'P':>8}{'R':>8}{'F1':>8}{'predicted':>11}{'gold':>8}",
    ]
    for label, prefix in rows:
        strict, lenient = (
            "".join(f"{100 * results[f'{prefix}{matching}_{measure}']:8.2f}" for measure in _MEASURES)
            for matching in ("strict", "lenient")
        )
        counts = f"{results[f'{prefix}num_predicted']:>11}{results[f'{prefix}num_gold']:>8}"
        lines.append(f"{label:{width}}{strict}  {lenient}{counts}")
    return "\n".join(lines)
