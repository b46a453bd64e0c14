"""Cross-validation on the SpERT 10-fold ADE split: train and score every fold, report mean and std.

Published ADE numbers (SpERT 79.2, REBEL 82.2, PFN 83.2 strict relation F1) are 10-fold means on
these files, so this is how a student is compared with them. Each fold trains on its train file
(dev carved from it, never from the test file) and is scored once on its test file; fold
``K`` lands in ``OUTPUT/fold-K/`` as a complete student folder, and the summary in
``OUTPUT/cv_results.json`` and ``cv_results.md``.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import os
import statistics
from typing import Any

from adekd.training.config import DATA_ROLES, TrainingConfig, TrainingConfigError

logger = logging.getLogger(__name__)

CV_RESULTS = "cv_results"
SUMMARY_KEYS = (
    "strict_f1",
    "lenient_f1",
    "strict_precision",
    "strict_recall",
    "drug_strict_f1",
    "drug_lenient_f1",
    "ade_strict_f1",
    "ade_lenient_f1",
)
"""``ade_f1`` values summarised over folds (pairs first: ``strict_f1`` is the published measure)."""


def fold_config(base: TrainingConfig, fold: int, paths: dict[str, Any]) -> TrainingConfig:
    return dataclasses.replace(
        base,
        train=os.fspath(paths["train"]),
        test=os.fspath(paths["test"]),
        dev=None,
        output_dir=os.path.join(base.output_dir, f"fold-{fold}"),
    )


def summarize(per_fold: dict[int, dict[str, Any]]) -> dict[str, dict[str, float | None]]:
    """Mean and sample standard deviation over folds of each of :data:`SUMMARY_KEYS` (test metrics)."""
    summary = {}
    for key in SUMMARY_KEYS:
        values = [metrics[key] for metrics in per_fold.values()]
        summary[key] = {
            "mean": statistics.fmean(values),
            "std": statistics.stdev(values) if len(values) > 1 else None,
        }
    return summary


def _markdown(per_fold: dict[int, dict[str, Any]], summary: dict[str, dict[str, float | None]]) -> str:
    columns = ("strict_f1", "lenient_f1", "drug_strict_f1", "ade_strict_f1")
    lines = [
        "| fold | " + " | ".join(columns) + " |",
        "|---|" + "---|" * len(columns),
    ]
    for fold, metrics in per_fold.items():
        lines.append(f"| {fold} | " + " | ".join(f"{100 * metrics[c]:.2f}" for c in columns) + " |")

    def cell(key: str) -> str:
        std = summary[key]["std"]
        return f"{100 * summary[key]['mean']:.2f}" + (f" ± {100 * std:.2f}" if std is not None else "")

    lines.append("| mean ± std | " + " | ".join(cell(c) for c in columns) + " |")
    return "\n".join(lines) + "\n"


def cross_validate(splits_dir: str, config: TrainingConfig, folds: list[int] | None = None) -> dict[str, Any]:
    """Train and score the chosen folds of ``splits_dir`` (all by default) with ``config``.

    ``config.output_dir`` holds one folder per fold. With ``config.resume`` finished folds are
    read back instead of retrained and an interrupted fold continues from its checkpoint; a fold
    trained with other flags is refused, naming the fold and the flags.
    """
    from adekd.corpora import spert_folds
    from adekd.training.loop import train

    if not config.output_dir:
        raise TrainingConfigError("--output is required (one student folder per fold goes in it)")
    if config.dev or config.test:
        raise TrainingConfigError("--cv uses each fold's train and test files; leave out --dev and --test")
    revisions = [f"--{role}-revision" for role in DATA_ROLES if getattr(config, f"{role}_revision")]
    if revisions:
        raise TrainingConfigError(
            f"--cv reads local fold files, which have no revision; leave out {', '.join(revisions)}"
        )
    available = spert_folds(splits_dir)
    complete = {fold: paths for fold, paths in available.items() if {"train", "test"} <= set(paths)}
    if not complete:
        raise TrainingConfigError(
            f"--cv {splits_dir}: no SpERT folds found "
            "(expected ade_split_K_train.json and ade_split_K_test.json)"
        )
    chosen = sorted(complete) if folds is None else folds
    unknown = [fold for fold in chosen if fold not in complete]
    if unknown:
        raise TrainingConfigError(f"--folds {unknown}: not in {splits_dir} (folds there: {sorted(complete)})")

    per_fold: dict[int, dict[str, Any]] = {}
    for fold in chosen:
        fold_cfg = fold_config(config, fold, complete[fold])
        logger.info("fold %d: %s", fold, fold_cfg.train)
        try:
            # With --resume, a fold finished with these flags is read back, an interrupted one
            # continues, and one trained with other flags is refused.
            result = train(fold_cfg)
        except TrainingConfigError as err:
            hint = "" if config.resume else " (to read finished folds back and go on, add --resume)"
            raise TrainingConfigError(f"fold {fold}: {err}{hint}") from None
        if result:  # empty on processes other than the main one
            per_fold[fold] = result["test"]["metrics"]
    if not per_fold:
        return {}
    summary = summarize(per_fold)
    results = {
        "splits_dir": os.fspath(splits_dir),
        "folds": list(per_fold),
        "summary": summary,
        "per_fold": {
            str(fold): {key: metrics[key] for key in SUMMARY_KEYS} for fold, metrics in per_fold.items()
        },
    }
    with open(os.path.join(config.output_dir, f"{CV_RESULTS}.json"), "w", encoding="utf-8") as handle:
        json.dump(results, handle, indent=2)
        handle.write("\n")
    with open(os.path.join(config.output_dir, f"{CV_RESULTS}.md"), "w", encoding="utf-8") as handle:
        handle.write(_markdown(per_fold, summary))
    logger.info(
        "cross-validation over folds %s: strict F1 %.2f, lenient F1 %.2f (mean)",
        list(per_fold),
        100 * summary["strict_f1"]["mean"],
        100 * summary["lenient_f1"]["mean"],
    )
    return results
