"""Refit: once dev has chosen how long to train (and the score thresholds), train again on all the data.

A dev split carved from the training data costs the final student a tenth of its examples. The
refit gives them back, as scikit-learn's ``refit`` does, and as published ADE systems train on
whole folds: the selection run, with dev held out, picks the epoch count by dev F1 (and, with
``--tune-thresholds``, the thresholds); a second run from the same start and seed then trains on
train and dev together for that many epochs, with nothing left to select on, keeps its last
weights and takes the selection's thresholds. Only the refit student is scored on ``--test``.

The refit's learning-rate schedule is a choice (``--refit-schedule``). With ``own`` it warms up and
decays to zero over the refit's own, shorter run, so the weights dev chose (taken partway along a
schedule laid out for ``--epochs``, at a learning rate still well above zero) are not retraced.
With ``selection`` the refit lays the schedule out as its selection did (for ``--schedule-length``
or ``--epochs``; with ``--max-steps``, for its step count grown with the data) and stops at the
selected epoch (step), at the same point of the schedule.

``OUTPUT`` ends as the refit student, with the ``training_config.json`` of the whole command (the
refit run's own is in its checkpoints); ``OUTPUT/selection`` holds the selection run, whose dev
metrics the refit's ``metrics.json`` quotes under ``selection`` (its own ``dev`` is ``null``: the
refit trained on those sentences).
"""

from __future__ import annotations

import dataclasses
import json
import logging
import math
import os
from typing import Any

from adekd.training.config import TrainingConfig, TrainingConfigError
from adekd.training.metrics_file import METRICS_NAME

logger = logging.getLogger(__name__)

SELECTION_DIR = "selection"


def selection_config(config: TrainingConfig) -> TrainingConfig:
    """The run that chooses: dev carved from ``--train`` and held out, no test."""
    return dataclasses.replace(
        config,
        refit=False,
        refit_schedule="own",
        test=None,
        test_split=None,
        output_dir=os.path.join(config.output_dir, SELECTION_DIR),
    )


def refit_config(config: TrainingConfig, selection: dict[str, Any]) -> TrainingConfig:
    """The run on all of ``--train``, as many passes over the data as the selected checkpoint had made,
    from the Hub commit of ``--encoder`` or ``--init`` the selection loaded.

    ``selection`` is the selection run's ``metrics.json``. Without ``--max-steps`` the epoch count
    carries over; with it, the step count grows with the data (dev joins train), and so does the
    schedule's length with ``--refit-schedule selection``.
    """
    best = selection["best"]
    changes: dict[str, Any] = {
        "refit": False,
        "refit_schedule": "own",
        "dev_fraction": 0.0,
        "early_stopping_patience": None,
        "tune_thresholds": False,
    }
    if selection.get("base_commit"):  # from the same start: the commit the selection loaded
        changes["model_revision"] = selection["base_commit"]
    if selection["train"].get("commit"):  # the records the selection chose on, dev among them
        changes["train_revision"] = selection["train"]["commit"]
    planned = config.planned_schedule_length()  # the selection's schedule
    if config.max_steps is None:
        changes["epochs"] = best["epoch"]
    else:
        held_in = selection["train"]["num_records"]
        growth = (held_in + selection["dev"]["num_records"]) / held_in
        changes["max_steps"] = math.ceil(best["step"] * growth)
        planned = math.ceil(planned * growth)
    changes["schedule_length"] = planned if config.refit_schedule == "selection" else None
    return dataclasses.replace(config, **changes)


def selection_block(selection: dict[str, Any], selection_dir: str, output_dir: str) -> dict[str, Any]:
    """What a refit's ``metrics.json`` quotes of the run that chose (``selection``: its metrics)."""
    return {
        "output_dir": os.path.relpath(selection_dir, output_dir),
        "dev": selection["dev"],
        "best": selection["best"],
        "thresholds": selection.get("thresholds"),  # absent from files older than --tune-thresholds
    }


def check_before_selection(config: TrainingConfig) -> None:
    """What would stop the refit, checked before the selection run spends its time."""
    from adekd.training.checkpoints import list_checkpoints, refuse_to_overwrite
    from adekd.training.config import CONFIG_NAME
    from adekd.training.data import load_training_records

    if not config.resume:
        refuse_to_overwrite(config)
    elif not list_checkpoints(config.output_dir) and not os.path.isfile(
        os.path.join(config.output_dir, CONFIG_NAME)
    ):  # the refit run never started here, so nothing but the selection may be in the folder
        refuse_to_overwrite(config, own=(SELECTION_DIR,))
    if config.test:
        load_training_records(
            config.test, config.test_split, config.on_invalid, "test", config.task, config.test_revision
        )


def check_refit_schedule_unchanged(refit: TrainingConfig, schedule: str) -> None:
    """A refit cut short resumes only on the schedule it started with; the refusal names the flag the
    user gave, ``--refit-schedule``, not the ``--schedule-length`` it set in the refit run's config."""
    from adekd.training.checkpoints import list_checkpoints

    checkpoints = list_checkpoints(refit.output_dir) if refit.resume else []
    if not checkpoints:
        return
    started = TrainingConfig.load(checkpoints[-1]).schedule_length
    if (started is None) != (refit.schedule_length is None):
        was = "own" if started is None else "selection"
        raise TrainingConfigError(
            f"--resume: the refit in {refit.output_dir} started with --refit-schedule {was}, now {schedule}; "
            f"resume with --refit-schedule {was}, or start afresh in another --output"
        )


def train_and_refit(config: TrainingConfig) -> dict[str, Any]:
    """Run the selection, then the refit into ``config.output_dir``; returns the refit's ``metrics.json``.

    Both runs resume with ``--resume``: a finished selection is read back, not retrained.
    Returns ``{}`` on processes other than the main one.
    """
    from accelerate import PartialState

    from adekd.training.loop import train

    check_before_selection(config)
    selection_run = selection_config(config)
    train(selection_run)
    # read back on every process: train() returns the metrics on the main one only
    with open(os.path.join(selection_run.output_dir, METRICS_NAME), encoding="utf-8") as handle:
        selection = json.load(handle)
    refit = refit_config(config, selection)
    logger.info(
        "refit: dev chose %s after epoch %d (step %d); training again on all of %s for %s",
        selection["best"]["metric"],
        selection["best"]["epoch"],
        selection["best"]["step"],
        config.train,
        f"{refit.max_steps} steps" if refit.max_steps else f"{refit.epochs} epochs",
    )
    check_refit_schedule_unchanged(refit, config.refit_schedule)
    result = train(refit, selection=selection_block(selection, selection_run.output_dir, config.output_dir))
    if PartialState().is_main_process:
        config.save(config.output_dir)  # the command that repeats both runs
    return result
