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
from collections.abc import Collection
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from adekd.outputs import existing_entries, listed
from adekd.training.config import (
    CONFIG_NAME,
    TrainingConfig,
    TrainingConfigError,
    check_resume_compatible,
    config_differences,
)
from adekd.training.metrics_file import METRICS_NAME
from adekd.training.trackers import LOG_CSV, LOG_JSONL, TRACKER_RUN_NAME

if TYPE_CHECKING:
    from adekd.training.loop import RunData

logger = logging.getLogger(__name__)

CHECKPOINTS_DIR = "checkpoints"
TRAINER_STATE_NAME = "trainer_state.json"
_CHECKPOINT = re.compile(r"step-(\d+)$")
_RNG_STATE = re.compile(r"random_states_\d+\.pkl$")
BEST_DIR = "best"
"""The best dev weights so far (kept by the training loop at each evaluation)."""
RUN_START = {CONFIG_NAME, LOG_JSONL, LOG_CSV, TRACKER_RUN_NAME, CHECKPOINTS_DIR}
"""What a run writes before its first checkpoint, besides ``best/``: a folder holding only these has
no weights to lose."""


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
    data_fingerprints: dict[str, str] = field(default_factory=dict)
    """Per flag (``--train``, ``--dev``, ``--test``), the fingerprint of the records the run read."""
    base_commit: str | None = None
    """The Hub commit ``--encoder`` or ``--init`` was loaded at: a resume loads the same one."""
    data_commits: dict[str, str] = field(default_factory=dict)
    """Per flag naming a Hub dataset id, the commit it was read at: a resume reads the same one."""

    def state_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    def load_state_dict(self, state: dict[str, Any]) -> None:
        for key, value in state.items():
            setattr(self, key, value)

    def save_json(self, folder: str) -> None:
        with open(os.path.join(folder, TRAINER_STATE_NAME), "w", encoding="utf-8") as handle:
            json.dump(self.state_dict(), handle, indent=2)
            handle.write("\n")


def check_same_data(saved: dict[str, str], data: RunData, refusal: str) -> None:
    """Refuse to go on with a run over data other than the one it read (``saved``: fingerprints per flag,
    from a checkpoint or a finished run's ``metrics.json``): the flags can be the same while the file
    was edited or the Hub dataset updated, and the run would mix two datasets, or hand back a student
    of the old one. Runs of adekd versions that kept no fingerprints are not checked."""
    current = data.fingerprints()
    changed = [data.describe(flag) for flag, fingerprint in saved.items() if current.get(flag) != fingerprint]
    if changed:
        raise TrainingConfigError(
            f"{refusal}: {', '.join(changed)} now holds other records than the run read (a file edited or "
            "a Hub dataset updated since); restore that data, or start afresh in a new --output"
        )


def checkpoint_dir(output_dir: str, global_step: int) -> str:
    return os.path.join(output_dir, CHECKPOINTS_DIR, f"step-{global_step:08d}")


def list_checkpoints(output_dir: str, complete: bool = True) -> list[str]:
    """Checkpoints in ``output_dir``, oldest first: the complete ones, or (``complete=False``) the torn
    ones, whose saving was cut short before their state file, written last, was."""
    root = os.path.join(output_dir, CHECKPOINTS_DIR)
    if not os.path.isdir(root):
        return []
    found = []
    for name in os.listdir(root):
        match = _CHECKPOINT.match(name)
        path = os.path.join(root, name)
        if match and os.path.isfile(os.path.join(path, TRAINER_STATE_NAME)) == complete:
            found.append((int(match.group(1)), path))
    return [path for _, path in sorted(found)]


def find_resume_checkpoint(config: TrainingConfig, own: Collection[str] = ()) -> str | None:
    """The newest checkpoint of ``config.output_dir`` after checking it was made with this configuration.

    Returns ``None`` when there is nothing to resume (a fresh start), which is only allowed in a
    folder holding nothing but the start of this same run (or ``own``: what the caller put there);
    raises :class:`TrainingConfigError` naming the differing flags when the configuration differs.
    """
    checkpoints = list_checkpoints(config.output_dir)
    if not checkpoints:
        if os.path.isfile(os.path.join(config.output_dir, CONFIG_NAME)):  # cut short before a checkpoint
            saved = TrainingConfig.load(config.output_dir)
            differences = config_differences(saved, config, saved_as="cut-short run")
            if differences:
                raise TrainingConfigError(
                    f"--resume: {config.output_dir} holds only the start of a run cut short before its "
                    f"first checkpoint, with other flags ({'; '.join(differences)}): nothing to resume; "
                    "run without --resume to start afresh there"
                )
            refuse_to_overwrite(config, own, restart=True)  # the same run again: clear its start
        else:
            refuse_to_overwrite(config, own)
        logger.warning("--resume: no checkpoint in %s, starting from the beginning", config.output_dir)
        return None
    latest = checkpoints[-1]
    for torn in list_checkpoints(config.output_dir, complete=False):
        logger.warning(
            "--resume: ignoring %s, whose saving was cut short (no %s); resuming from %s",
            torn,
            TRAINER_STATE_NAME,
            os.path.basename(latest),
        )
    saved = TrainingConfig.load(latest)
    check_resume_compatible(saved, config, latest)
    return latest


def finished_run(config: TrainingConfig) -> dict[str, Any] | None:
    """``metrics.json`` of the finished run in ``config.output_dir``, if there is one, made with ``config``.

    A resumed run that finds it has nothing left to do; one that finds a student trained with
    other flags is refused (whether or not its checkpoints are still there), never trained over.
    """
    output = config.output_dir
    metrics_path = os.path.join(output, METRICS_NAME)
    if not os.path.isfile(metrics_path):
        return None
    if not os.path.isfile(os.path.join(output, CONFIG_NAME)):
        raise TrainingConfigError(
            f"{output} holds a finished student ({METRICS_NAME}) without the {CONFIG_NAME} to compare "
            "flags with; choose another --output, or remove the folder to train it again"
        )
    differences = config_differences(TrainingConfig.load(output), config, saved_as="trained")
    if differences:
        raise TrainingConfigError(
            f"{output} holds a finished student trained with other flags ({'; '.join(differences)}); "
            "choose another --output, or remove the folder to train it again"
        )
    with open(metrics_path, encoding="utf-8") as handle:
        return json.load(handle)


def refuse_to_overwrite(config: TrainingConfig, own: Collection[str] = (), restart: bool = False) -> None:
    """A fresh run starts in a new or empty folder: it never replaces a finished student, nor mixes its
    logs and checkpoints with an earlier run's. The start of a run cut short before its first
    checkpoint (settings and logs, :data:`RUN_START`) is removed, so a restart may change the flags;
    its best dev weights so far (``best/``) only when ``restart`` says this is the same run again.
    ``own``: names the caller itself put there (a refit's ``selection``). Hidden files (``.DS_Store``,
    ``.git``) do not count."""
    output = config.output_dir
    if list_checkpoints(output):
        raise TrainingConfigError(
            f"{output} already holds checkpoints of a run; pass --resume to continue it, "
            "or choose another --output"
        )
    try:
        present = existing_entries(output, ignore=own)
    except NotADirectoryError as err:
        raise TrainingConfigError(f"--output {err}; give a folder for the student") from None
    if not present:
        return
    if METRICS_NAME in present:
        raise TrainingConfigError(
            f"{output} already holds a finished student ({METRICS_NAME}); choose another --output, "
            "or remove the folder to train it again"
        )
    # a run cut short before its first checkpoint (out of memory in epoch 1, say) left only its settings
    # and logs, and perhaps its best dev weights so far
    cut_short = CONFIG_NAME in present and set(present) <= RUN_START | {BEST_DIR}
    if cut_short and (restart or BEST_DIR not in present):
        # nothing to keep, and a restart must be free to change the settings
        logger.warning("%s: removing the start of an earlier run cut short (%s)", output, ", ".join(present))
        for name in present:
            path = os.path.join(output, name)
            shutil.rmtree(path) if os.path.isdir(path) else os.remove(path)
        return
    if cut_short:
        raise TrainingConfigError(
            f"{output} holds an earlier run cut short before its first checkpoint, with its best dev "
            "weights so far; pass --resume to start it again with the same flags, choose another "
            "--output, or remove the folder"
        )
    raise TrainingConfigError(
        f"{output} is not empty ({listed(present)}); choose another --output, or empty the folder"
    )


def saved_trainer_state(checkpoint: str) -> dict[str, Any]:
    """The :class:`TrainerState` ``checkpoint`` saved, read before Accelerate restores it: what the run
    loaded (its Hub commits) decides what the resume loads. Checkpoints of adekd versions before a
    field was added lack its key."""
    with open(os.path.join(checkpoint, TRAINER_STATE_NAME), encoding="utf-8") as handle:
        return json.load(handle)


def checkpoint_processes(checkpoint: str) -> int:
    """How many processes wrote ``checkpoint``: Accelerate's ``save_state`` saves one RNG state file
    (``random_states_<rank>.pkl``) per process."""
    return sum(bool(_RNG_STATE.match(name)) for name in os.listdir(checkpoint))


def check_resume_processes(checkpoint: str, num_processes: int, batch_size: int) -> None:
    """Refuse to resume ``checkpoint`` with another process count: every step would take another
    number of sentences, so the schedule (steps per epoch, total steps) and the batches to skip no
    longer match what was trained."""
    saved = checkpoint_processes(checkpoint)
    if saved and saved != num_processes:
        raise TrainingConfigError(
            f"cannot resume from {checkpoint}: it was written by {saved} process{'es' * (saved > 1)} "
            f"and this run has {num_processes} (a step takes --batch-size {batch_size} x processes "
            f"sentences, so the schedule would change); resume with {saved} process{'es' * (saved > 1)} "
            f"({'plain adekd train' if saved == 1 else f'accelerate launch --num_processes {saved}'}), "
            "or start afresh in another --output"
        )


def rotate_checkpoints(output_dir: str, keep: int) -> None:
    """Delete all but the newest ``keep`` checkpoints (main process only)."""
    for path in list_checkpoints(output_dir)[:-keep]:
        shutil.rmtree(path, ignore_errors=True)
