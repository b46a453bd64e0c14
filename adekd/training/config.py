"""The training configuration: every choice that shapes a run, so the run can be repeated exactly.

:class:`TrainingConfig` is written as ``training_config.json`` next to every checkpoint and in the
final model folder. ``adekd train`` and ``accelerate launch scripts/train.py`` build their flags
from its fields (see :mod:`adekd.training.arguments`), so the JSON, the flags and the Python API
always carry the same names. A resumed run must use the configuration its checkpoint was made
with; :func:`check_resume_compatible` refuses anything else with the differing fields named.
"""

from __future__ import annotations

import dataclasses
import json
import os
from dataclasses import dataclass, field
from typing import Any, Literal

from adekd.outputs import path_key

CONFIG_NAME = "training_config.json"

DEFAULT_LORA_TARGET_MODULES = ("query", "value")

SELECTION_METRICS = frozenset(
    f"{unit}{matching}_{measure}"
    for unit in ("", "drug_", "ade_")
    for matching in ("strict", "lenient")
    for measure in ("f1", "precision", "recall")
)
"""``ade_f1`` values that can pick the best checkpoint (pairs have no prefix)."""

DATA_ROLES = ("train", "dev", "test")
"""The data flags: each names its source, and has its own ``-split`` and ``-revision``."""

RESUME_FREE_FIELDS = frozenset({"resume", "output_dir", "num_workers", "logging_steps"})
"""Fields a resumed run may change: they decide where and how it runs, not what it computes."""


class TrainingConfigError(ValueError):
    """A configuration that cannot train; the message names the field (flag) and the fix."""


def _help(text: str, **extra: Any) -> dict[str, Any]:
    return {"help": text, **extra}


@dataclass
class TrainingConfig:
    """Everything a training run depends on; defaults train a useful student on one CPU or GPU.

    Field names are the command-line flags (``max_steps`` -> ``--max-steps``); the ``help`` in
    each field's metadata is the flag's help text.
    """

    # --- data ---------------------------------------------------------------------------------
    train: str | None = field(
        default=None,
        metadata=_help("training data: records JSONL, dataset folder, SpERT JSON or Hub dataset id"),
    )
    output_dir: str | None = field(
        default=None, metadata=_help("folder that ends as the trained student", flag="--output")
    )
    dev: str | None = field(
        default=None,
        metadata=_help(
            "dev data (same formats as --train); carved from --train when not given (see --dev-fraction)"
        ),
    )
    test: str | None = field(
        default=None,
        metadata=_help("test data scored once with the kept weights (never used to choose anything)"),
    )
    train_split: str | None = field(
        default=None,
        metadata=_help("split of a dataset folder or Hub id given as --train (needed if it has several)"),
    )
    dev_split: str | None = field(default=None, metadata=_help("split of --dev (like --train-split)"))
    test_split: str | None = field(default=None, metadata=_help("split of --test (like --train-split)"))
    train_revision: str | None = field(
        default=None,
        metadata=_help(
            "branch, tag or commit of a Hub dataset id given as --train (default: main); metrics.json "
            "records the commit read, and a resume or refit reads that commit again"
        ),
    )
    dev_revision: str | None = field(
        default=None, metadata=_help("revision of --dev (like --train-revision)")
    )
    test_revision: str | None = field(
        default=None, metadata=_help("revision of --test (like --train-revision)")
    )
    dev_fraction: float = field(
        default=0.1,
        metadata=_help(
            "share of --train carved out as dev when --dev is not given; 0 holds nothing out: every epoch "
            "trains and the last weights are kept"
        ),
    )
    on_invalid: Literal["stop", "skip"] = field(
        default="stop",
        metadata=_help("records with invalid spans: stop before training, or skip them (both report them)"),
    )
    # --- model --------------------------------------------------------------------------------
    encoder: str | None = field(
        default=None,
        metadata=_help(
            "encoder path or Hub id to start a new student from; 'minilm' is the packaged offline MiniLM "
            "(default: PubMedBERT from the Hub)"
        ),
    )
    init: str | None = field(
        default=None, metadata=_help("student folder to start from (e.g. made by `adekd student init`)")
    )
    model_revision: str | None = field(
        default=None,
        metadata=_help(
            "branch, tag or commit of a Hub --encoder or --init (default: main); metrics.json records the "
            "commit it pointed to"
        ),
    )
    architecture: str | None = field(
        default=None,
        metadata=_help("new student only: drug_centric (default), no_drug or pairwise (baselines)"),
    )
    fusion: str | None = field(
        default=None, metadata=_help("new drug-centric student only: mlp (default), product or concat")
    )
    reencode_per_drug: bool = field(
        default=False,
        metadata=_help(
            "new drug-centric student only: encode the sentence again once per drug, with the drug marked "
            "(the paper's per-drug input; about twice the encoder work)"
        ),
    )
    max_length: int | None = field(
        default=None,
        metadata=_help(
            "tokens per encoder window (default: the encoder's limit); longer texts become windows"
        ),
    )
    task: str | None = field(
        default=None,
        metadata=_help(
            "the task the student extracts: a built-in task (ade, chemical-disease) or a task spec file; "
            "its type names go into the model config (default: ade, or the --init student's task)"
        ),
    )
    # --- optimisation -------------------------------------------------------------------------
    epochs: int = field(default=10, metadata=_help("passes over the training data"))
    max_steps: int | None = field(
        default=None, metadata=_help("stop after this many optimizer steps (overrides --epochs)")
    )
    schedule_length: int | None = field(
        default=None,
        metadata=_help(
            "length the learning-rate schedule is laid out for, in the run's unit (epochs, or steps with "
            "--max-steps), when training stops before its end ('none' = the run's own length); with --refit "
            "it shapes the selection run, and the refit follows --refit-schedule"
        ),
    )
    batch_size: int = field(default=32, metadata=_help("training sentences per batch and process"))
    eval_batch_size: int = field(default=64, metadata=_help("sentences per evaluation batch and process"))
    gradient_accumulation_steps: int = field(
        default=1, metadata=_help("batches whose gradients add up to one optimizer step")
    )
    learning_rate: float = field(default=5e-5, metadata=_help("peak learning rate of the encoder"))
    head_learning_rate: float | None = field(
        default=1e-3,
        metadata=_help(
            "peak learning rate of the freshly initialised heads (default 1e-3; 'none' = --learning-rate)"
        ),
    )
    weight_decay: float = field(default=0.01, metadata=_help("AdamW weight decay (not on biases and norms)"))
    warmup_ratio: float = field(
        default=0.1, metadata=_help("share of the steps spent warming the learning rate up")
    )
    max_grad_norm: float = field(default=1.0, metadata=_help("gradient clipping norm (0 disables clipping)"))
    mixed_precision: Literal["no", "bf16", "fp16"] = field(
        default="no", metadata=_help("mixed precision where the hardware has it")
    )
    seed: int = field(default=42, metadata=_help("seed of weights, dropout, data order and the dev split"))
    group_by_length: bool = field(
        default=True, metadata=_help("batch sentences of similar length together (less padding)")
    )
    ema_decay: float | None = field(
        default=None,
        metadata=_help(
            "keep an exponential moving average of the weights with this decay per optimizer step, and "
            "evaluate, keep and save the averaged weights ('none' = the raw weights); the decay warms up "
            "as (1+n)/(10+n) after n steps, so 0.995 is reached after about 1,800 steps"
        ),
    )
    early_stopping_patience: int | None = field(
        default=3,
        metadata=_help("stop after this many evaluations without a better dev score ('none' = never)"),
    )
    metric_for_best_model: str = field(
        default="strict_f1", metadata=_help("ade_f1 value on dev that picks the best checkpoint")
    )
    tune_thresholds: bool = field(
        default=False,
        metadata=_help(
            "after training, choose the drug and ADE score thresholds that maximise that dev value and save "
            "them in the student's config as the pipeline's defaults (worth it with a dev split of a few "
            "hundred sentences or more)"
        ),
    )
    refit: bool = field(
        default=False,
        metadata=_help(
            "after dev has chosen the epoch count (and, with --tune-thresholds, the thresholds), train again "
            "from the same start on all of --train, dev included, for that many epochs; the selection run "
            "stays in OUTPUT/selection and only the refit student is scored on --test"
        ),
    )
    refit_schedule: Literal["own", "selection"] = field(
        default="own",
        metadata=_help(
            "the refit's learning-rate schedule: 'own' warms up and decays over the refit's own epochs; "
            "'selection' follows the selection run's schedule (over --schedule-length or --epochs, or "
            "--max-steps grown with the data) and stops where dev's best checkpoint was, so the refit "
            "retraces the trajectory dev scored"
        ),
    )
    # --- checkpoints and logs -----------------------------------------------------------------
    save_steps: int | None = field(
        default=None, metadata=_help("also checkpoint every N optimizer steps (always at each epoch end)")
    )
    save_total_limit: int = field(default=2, metadata=_help("resume checkpoints kept (the newest)"))
    logging_steps: int = field(default=10, metadata=_help("log the training loss every N optimizer steps"))
    num_workers: int = field(default=0, metadata=_help("DataLoader worker processes"))
    resume: bool = field(
        default=False, metadata=_help("continue from the newest checkpoint in --output (same configuration)")
    )
    # --- LoRA ---------------------------------------------------------------------------------
    lora: bool = field(
        default=False, metadata=_help("train LoRA adapters on the encoder instead of all weights")
    )
    lora_r: int = field(default=8, metadata=_help("LoRA rank"))
    lora_alpha: int = field(default=16, metadata=_help("LoRA scaling alpha"))
    lora_dropout: float = field(default=0.1, metadata=_help("dropout on the LoRA path"))
    lora_target_modules: list[str] = field(
        default_factory=lambda: list(DEFAULT_LORA_TARGET_MODULES),
        metadata=_help("encoder modules that get adapters (names or suffixes, e.g. query value)"),
    )

    def _check_data_revision(self, role: str) -> None:
        """A revision of a local file or folder would be ignored, and the run would not read the version
        it names: refuse it, as ``--model-revision`` is refused for a local model."""
        from adekd.modeling.pipeline_adekd import check_revision

        revision, source = getattr(self, f"{role}_revision"), getattr(self, role)
        if revision is None:
            return
        if source is None:
            raise TrainingConfigError(
                f"--{role}-revision {revision} names a revision of --{role}: give --{role}"
            )
        try:
            check_revision(source, revision)
        except ValueError as err:  # "revision 'v1' applies to a Hub id; FILE is a local path"
            raise TrainingConfigError(f"--{role}-revision: {err}") from None

    def validate(self) -> TrainingConfig:
        """Raise :class:`TrainingConfigError` naming the flag when a value cannot work."""
        if not self.train:
            raise TrainingConfigError("--train is required (records JSONL, dataset folder or Hub id)")
        if not self.output_dir:
            raise TrainingConfigError("--output is required (the folder that ends as the student)")
        if self.encoder and self.init:
            raise TrainingConfigError(
                "give either --encoder (new student) or --init (existing student), not both"
            )
        if self.model_revision is not None:
            from adekd.modeling.pipeline_adekd import check_revision
            from adekd.modeling.student import resolve_encoder

            try:
                check_revision(self.init or resolve_encoder(self.encoder), self.model_revision)
            except ValueError as err:  # "revision 'v1' applies to a Hub id; DIR is a local path"
                raise TrainingConfigError(f"--model-revision: {err}") from None
        for role in DATA_ROLES:
            self._check_data_revision(role)
        positive = {
            "epochs": self.epochs,
            "batch_size": self.batch_size,
            "eval_batch_size": self.eval_batch_size,
            "gradient_accumulation_steps": self.gradient_accumulation_steps,
            "save_total_limit": self.save_total_limit,
            "logging_steps": self.logging_steps,
            "lora_r": self.lora_r,
        }
        for name, value in positive.items():
            if value < 1:
                raise TrainingConfigError(f"{flag_name(name)} must be at least 1, got {value}")
        for name in ("max_steps", "save_steps", "early_stopping_patience", "max_length"):
            value = getattr(self, name)
            if value is not None and value < 1:
                raise TrainingConfigError(f"{flag_name(name)} must be at least 1 (or 'none'), got {value}")
        if not 0 <= self.dev_fraction < 1:
            raise TrainingConfigError(f"--dev-fraction must be in [0, 1), got {self.dev_fraction}")
        held_out = bool(self.dev) or self.dev_fraction > 0
        if self.tune_thresholds and not held_out:
            raise TrainingConfigError(
                "--tune-thresholds chooses on dev, and --dev-fraction 0 holds none out: give --dev or a "
                "--dev-fraction above 0"
            )
        if self.refit and (self.dev or not held_out):
            raise TrainingConfigError(
                "--refit trains again on all of --train, so its dev must be carved from --train: leave out "
                "--dev and keep --dev-fraction above 0"
            )
        if self.refit_schedule not in ("own", "selection"):
            raise TrainingConfigError(
                f"--refit-schedule must be 'own' or 'selection', got {self.refit_schedule!r}"
            )
        if self.refit_schedule != "own" and not self.refit:
            raise TrainingConfigError(f"--refit-schedule {self.refit_schedule} shapes a refit: add --refit")
        unit, length = ("--max-steps", self.max_steps) if self.max_steps else ("--epochs", self.epochs)
        if self.schedule_length is not None and self.schedule_length < length:
            raise TrainingConfigError(
                f"--schedule-length {self.schedule_length} is shorter than the run ({unit} {length}): the "
                "schedule would end, at a learning rate of 0, before training does"
            )
        if self.ema_decay is not None and not 0 < self.ema_decay < 1:
            raise TrainingConfigError(f"--ema-decay must be in (0, 1) or 'none', got {self.ema_decay}")
        if not 0 <= self.warmup_ratio < 1:
            raise TrainingConfigError(f"--warmup-ratio must be in [0, 1), got {self.warmup_ratio}")
        if self.learning_rate <= 0 or (self.head_learning_rate is not None and self.head_learning_rate <= 0):
            raise TrainingConfigError("learning rates must be positive")
        # torch takes both without complaint: a negative clipping norm flips every gradient (the loss
        # climbs), a negative weight decay pushes weights away from zero
        if self.max_grad_norm < 0:
            raise TrainingConfigError(
                f"--max-grad-norm must be positive (0 disables clipping), got {self.max_grad_norm}"
            )
        if self.weight_decay < 0:
            raise TrainingConfigError(f"--weight-decay must not be negative, got {self.weight_decay}")
        if not 0 <= self.lora_dropout < 1:
            raise TrainingConfigError(f"--lora-dropout must be in [0, 1), got {self.lora_dropout}")
        if self.on_invalid not in ("stop", "skip"):
            raise TrainingConfigError(f"--on-invalid must be 'stop' or 'skip', got {self.on_invalid!r}")
        if self.mixed_precision not in ("no", "bf16", "fp16"):
            raise TrainingConfigError(
                f"--mixed-precision must be no, bf16 or fp16, got {self.mixed_precision!r}"
            )
        if self.metric_for_best_model not in SELECTION_METRICS:
            raise TrainingConfigError(
                f"--metric-for-best-model {self.metric_for_best_model!r} is not an ade_f1 value; "
                f"choose one of {', '.join(sorted(SELECTION_METRICS))}"
            )
        if self.reencode_per_drug and self.architecture not in (None, "drug_centric"):
            raise TrainingConfigError(
                f"--reencode-per-drug is a drug_centric option, not for --architecture {self.architecture}"
            )
        if self.lora and not self.lora_target_modules:
            raise TrainingConfigError("--lora needs at least one --lora-target-modules name")
        if self.task is not None:
            from adekd.tasks import TaskError, load_task

            try:
                load_task(self.task)
            except TaskError as err:
                raise TrainingConfigError(f"--task: {err}") from None
        return self

    def planned_schedule_length(self) -> int:
        """The learning-rate schedule's length in the run's unit (epochs, or steps with --max-steps)."""
        return self.schedule_length or self.max_steps or self.epochs

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    def save(self, folder: str | os.PathLike) -> str:
        """Write ``training_config.json`` into ``folder`` and return its path."""
        os.makedirs(folder, exist_ok=True)
        path = os.path.join(folder, CONFIG_NAME)
        with open(path, "w", encoding="utf-8") as handle:
            json.dump(self.to_dict(), handle, indent=2, sort_keys=True)
            handle.write("\n")
        return path

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> TrainingConfig:
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = set(values) - known
        if unknown:
            raise TrainingConfigError(f"unknown training config fields {sorted(unknown)}")
        return cls(**values)

    @classmethod
    def load(cls, path: str | os.PathLike) -> TrainingConfig:
        """Read a ``training_config.json`` file (or the one in a folder)."""
        path = os.fspath(path)
        if os.path.isdir(path):
            path = os.path.join(path, CONFIG_NAME)
        try:
            with open(path, encoding="utf-8") as handle:
                values = json.load(handle)
        except (OSError, json.JSONDecodeError) as err:
            raise TrainingConfigError(f"{path}: cannot read the training config ({err})") from None
        return cls.from_dict(values)


def flag_name(field_name: str) -> str:
    """The command-line flag of a config field (``max_steps`` -> ``--max-steps``)."""
    for f in dataclasses.fields(TrainingConfig):
        if f.name == field_name and "flag" in f.metadata:
            return f.metadata["flag"]
    return "--" + field_name.replace("_", "-")


PATH_FIELDS = frozenset({"train", "dev", "test", "encoder", "init", "task"})
"""Fields that may name a local file or folder (or a Hub id, a built-in name): compared resolved."""


def _comparable(name: str, value: Any) -> Any:
    """``./train.jsonl`` and ``train.jsonl`` are the same input; a Hub id (nothing on disk) stays a string."""
    return path_key(value) if name in PATH_FIELDS and isinstance(value, str) else value


def config_differences(
    saved: TrainingConfig, current: TrainingConfig, saved_as: str = "checkpoint"
) -> list[str]:
    """``--flag: checkpoint OLD, now NEW`` for each field that a resumed run may not change."""
    return [
        f"{flag_name(name)}: {saved_as} {getattr(saved, name)!r}, now {getattr(current, name)!r}"
        for name in (f.name for f in dataclasses.fields(TrainingConfig))
        if name not in RESUME_FREE_FIELDS
        and _comparable(name, getattr(saved, name)) != _comparable(name, getattr(current, name))
    ]


def check_resume_compatible(saved: TrainingConfig, current: TrainingConfig, checkpoint: str) -> None:
    """Refuse to resume ``checkpoint`` (made with ``saved``) under a different ``current`` configuration."""
    differences = config_differences(saved, current)
    if differences:
        raise TrainingConfigError(
            f"cannot resume from {checkpoint}: it was made with another configuration "
            f"({'; '.join(differences)}). Rerun with the same flags, or start afresh in another --output."
        )
