"""Score thresholds chosen on dev, saved in the student's config as the pipeline's defaults.

Every predicted span carries a score (mean tag probability). Dropping low-scoring drugs (with
their ADEs) and low-scoring ADEs trades recall for precision; where a student over-predicts, a
threshold pair chosen on dev raises pair F1 (ADE fold-0 dev, MiniLM: +0.5 strict). The dev
predictions are made once, with no threshold, and every pair of the grid filters them the way
decoding does (:func:`adekd.modeling.processing_adekd.filter_by_score`), so the chosen pair means
the same thing when the pipeline applies it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any

from adekd.modeling.processing_adekd import filter_by_score
from adekd.records import Record

DRUG_THRESHOLDS = (0.0, 0.5, 0.6, 0.7, 0.8, 0.9)
ADE_THRESHOLDS = (0.0, 0.4, 0.5, 0.6, 0.7, 0.8)


@dataclass(frozen=True)
class ThresholdChoice:
    """The chosen pair and what it did to the dev metric."""

    drug_threshold: float
    ade_threshold: float
    metric: str
    dev_without: float
    """The metric with no threshold."""
    dev_with: float
    """The metric with the chosen pair (equal to ``dev_without`` when no pair helps)."""

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def apply_thresholds(records: Sequence[Record], drug_threshold: float, ade_threshold: float) -> list[Record]:
    """Predicted records without the spans scoring below the thresholds."""
    result = []
    for record in records:
        drugs, ades = filter_by_score(record["drugs"], record["ades"], drug_threshold, ade_threshold)
        result.append({**record, "drugs": drugs, "ades": ades})
    return result


def tune_thresholds(
    predictions: Sequence[Record], gold: Sequence[Record], metric: str = "strict_f1"
) -> ThresholdChoice:
    """The (drug, ADE) threshold pair of the grid that maximises ``metric`` of ``ade_f1`` on ``gold``.

    ``predictions`` must be made with no threshold. Ties go to the lower thresholds, so a pair is
    only chosen when it helps.
    """
    from adekd.metrics import score

    results = {
        (drug, ade): score(apply_thresholds(predictions, drug, ade), gold)[metric]
        for drug in DRUG_THRESHOLDS
        for ade in ADE_THRESHOLDS
    }
    best = max(results, key=lambda pair: (results[pair], -pair[0], -pair[1]))
    return ThresholdChoice(
        drug_threshold=best[0],
        ade_threshold=best[1],
        metric=metric,
        dev_without=results[0.0, 0.0],
        dev_with=results[best],
    )
