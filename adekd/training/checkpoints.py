"""Resumable checkpoints: where they live, what the loop's own state is, which one to resume.

A checkpoint is ``OUTPUT/checkpoints/step-00000120/``: Accelerate's ``save_state`` (model,
optimizer, scheduler, every process's RNG states, the accumulation step counter), the
:class:`TrainerState` registered with it, a readable ``trainer_state.json`` and the
``training_config.json`` of the run, which a resume compares with its own configuration.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import os
import re
import shutil
from dataclasses import dataclass, field
from typing import Any

from adekd.training.config import TrainingConfig, TrainingConfigError, check_resume_compatible

logger = logging.getLogger(__name__)

CHECKPOINTS_DIR = "checkpoints"
TRAINER_STATE_NAME = "trainer_state.json"
_CHECKPOINT = re.compile(r"step-(\d+)$")


@dataclass
class TrainerState:
    """Where the loop is and what it has seen; saved with every checkpoint.

    ``batches_in_epoch`` counts the batches of the current epoch already trained on, so a resumed
    run skips exactly those (``skip_first_batches``) and continues with the next one.
    """

    global_step: int = 0
    epoch: int = 0
    batches_in_epoch: int = 0
    sentences_seen: int = 0
    train_seconds: float = 0.0
    train_cpu_seconds: float = 0.0
    best_metric: float | None = None
    best_step: int | None = None
    best_epoch: int | None = None
    evaluations_without_improvement: int = 0
    stopped_early: bool = False
    dev_history: list[dict[str, Any]] = field(default_factory=list)

    def state_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    def load_state_dict(self, state: dict[str, Any]) -> None:
        for key, value in state.items():
            setattr(self, key, value)

    def save_json(self, folder: str) -> None:
        with open(os.path.join(folder, TRAINER_STATE_NAME), "w", encoding="utf-8") as handle:
            json.dump(self.state_dict(), handle, indent=2)
            handle.write("\n")


def checkpoint_dir(output_dir: str, global_step: int) -> str:
    return os.path.join(output_dir, CHECKPOINTS_DIR, f"step-{global_step:08d}")


def list_checkpoints(output_dir: str) -> list[str]:
    """Complete checkpoints in ``output_dir``, oldest first (a folder without its state file is torn)."""
    root = os.path.join(output_dir, CHECKPOINTS_DIR)
    if not os.path.isdir(root):
        return []
    found = []
    for name in os.listdir(root):
        match = _CHECKPOINT.match(name)
        path = os.path.join(root, name)
        if match and os.path.isfile(os.path.join(path, TRAINER_STATE_NAME)):
            found.append((int(match.group(1)), path))
    return [path for _, path in sorted(found)]


def find_resume_checkpoint(config: TrainingConfig) -> str | None:
    """The newest checkpoint of ``config.output_dir`` after checking it was made with this configuration.

    Returns ``None`` when there is nothing to resume (a fresh start); raises
    :class:`TrainingConfigError` naming the differing flags when the configuration differs.
    """
    checkpoints = list_checkpoints(config.output_dir)
    if not checkpoints:
        logger.warning("--resume: no checkpoint in %s, starting from the beginning", config.output_dir)
        return None
    latest = checkpoints[-1]
    saved = TrainingConfig.load(latest)
    check_resume_compatible(saved, config, latest)
    return latest


def refuse_to_overwrite(config: TrainingConfig) -> None:
    """A fresh run must not silently mix with the checkpoints of an earlier run in the same folder."""
    if list_checkpoints(config.output_dir):
        raise TrainingConfigError(
            f"{config.output_dir} already holds checkpoints of a run; pass --resume to continue it, "
            "or choose another --output"
        )


def rotate_checkpoints(output_dir: str, keep: int) -> None:
    """Delete all but the newest ``keep`` checkpoints (main process only)."""
    for path in list_checkpoints(output_dir)[:-keep]:
        shutil.rmtree(path, ignore_errors=True)
