"""The distillation run's configuration: one dataclass that nests the stages' own configurations.

A run is fully described by :class:`DistillConfig`: where the sentences and the gold set come
from, the teacher (:class:`adekd.teacher.LabelConfig`, the same fields as ``adekd label``), the
student (:class:`adekd.training.TrainingConfig`, the same fields as ``adekd train``) and where to
publish. A YAML file holds the same names::

    task: chemical-disease        # what to extract: a built-in task or a task spec file (default ade)
    input: sentences.txt          # text, JSONL, PubTator, records, dataset folder, ADE corpus folder
    gold: gold.jsonl              # labeled records that score teacher and student (never trained on)
    output_dir: runs/ade
    teacher: {teacher: openai, model: gpt-4o-mini, prompt: few-shot, concurrency: 16}
    student: {encoder: microsoft/BiomedNLP-BiomedBERT-base-uncased-abstract-fulltext, epochs: 5}
    publish: {push_to_hub: me/ade-student}

Fields left out keep the defaults, which run the embedded teacher and student on the embedded
default input (see :mod:`adekd.distill.inputs`). ``task`` sets the teacher's prompt and answer keys,
the student's type names, the default input and the cards' words at once.
"""

from __future__ import annotations

import dataclasses
import os
import types
import typing
from dataclasses import dataclass, field
from typing import Any

from adekd.tasks import DEFAULT_TASK, TaskError, load_task
from adekd.teacher.run import LabelConfig
from adekd.training.config import TrainingConfig

DEFAULT_OUTPUT_DIR = "./adekd-run"

STUDENT_FIELDS_SET_BY_DISTILL = (
    "train", "output_dir", "test", "resume", "task", "train_revision", "test_revision"
)  # fmt: skip
"""Student fields the run fills in itself: the silver data, the student folder, the gold set, resume,
and the task (from the run's own ``task``); the silver data and gold set are local, so they have no
revision."""


class DistillConfigError(ValueError):
    """A configuration that cannot run; the message names the field (or flag) and the fix."""


def default_teacher() -> LabelConfig:
    """The embedded teacher, tuned for a CPU: SmolLM2 few-shot, short answers, no second try when cut.

    SmolLM2's answers are about 30 tokens; the few that run on repeat items until ``max_tokens``
    would cost a whole batch's decoding time each, so they are cut at 96 tokens and recorded as
    failures rather than retried with twice the tokens.
    """
    return LabelConfig(teacher="local", prompt="few-shot", max_tokens=96, retry_truncated=False, batch_size=8)


def default_student() -> TrainingConfig:
    """The packaged MiniLM student (offline), for a few hundred silver sentences.

    A fixed 10 epochs in batches of 8, keeping the epoch best on the silver dev set by *lenient* F1.
    On a small silver set the student predicts nothing for its first epochs, and the teacher's
    span boundaries are noisy (boundary errors dominate, see FINDINGS): strict dev F1 then often
    stays tied at 0 and would keep the empty first epoch, as early stopping on it would.
    """
    return TrainingConfig(
        encoder="minilm",
        epochs=10,
        batch_size=8,
        early_stopping_patience=None,
        metric_for_best_model="lenient_f1",
        save_total_limit=1,
    )


@dataclass
class PublishConfig:
    """Where the silver dataset and the student go besides ``OUTPUT/hub/`` (always written)."""

    push_to_hub: str | None = None
    """Hub repo id of the student (``user/name``); the silver dataset goes to ``dataset_repo``."""
    dataset_repo: str | None = None
    """Hub repo id of the silver dataset; default ``<push_to_hub>-silver``."""
    private: bool = False
    model_license: str = "apache-2.0"
    dataset_license: str = "unknown"
    """The silver labels inherit the input text's terms; ``unknown`` until the user says otherwise."""

    def resolved_dataset_repo(self) -> str | None:
        if self.dataset_repo:
            return self.dataset_repo
        return f"{self.push_to_hub}-silver" if self.push_to_hub else None


@dataclass
class DistillConfig:
    """Everything ``adekd distill`` does; the defaults run the embedded teacher and student offline."""

    task: str = DEFAULT_TASK
    """What to extract: a built-in task (``ade``, ``chemical-disease``) or a task spec file
    (:mod:`adekd.tasks`). It sets the teacher's task, the student's and the cards'."""
    input: str | None = None
    """Unlabeled sentences (any ``adekd label`` input); ``None`` uses the embedded default input."""
    gold: str | None = None
    """Labeled records scoring teacher and student; ``None`` uses the default gold set with the
    default input, and skips evaluation otherwise."""
    output_dir: str = DEFAULT_OUTPUT_DIR
    max_sentences: int | None = None
    """Label at most this many input sentences (the first ones, after removing gold sentences)."""
    max_gold: int | None = None
    """Score on at most this many gold records (the first ones)."""
    split_sentences: bool | None = None
    """Split input texts into sentences (``None``: PubTator yes, other formats no)."""
    min_silver_records: int = 20
    """Fewer silver records than this stop the run before training, with the count needed."""
    teacher: LabelConfig = field(default_factory=default_teacher)
    simulated_noise: float | None = None
    """Replace the teacher by a simulated one that corrupts the input's own gold labels at this
    noise level (:class:`adekd.teacher.simulated.SimulatedTeacher`); the input must be labeled."""
    simulated_seed: int = 0
    student: TrainingConfig = field(default_factory=default_student)
    publish: PublishConfig = field(default_factory=PublishConfig)

    def validate(self) -> DistillConfig:
        """Raise :class:`DistillConfigError` naming the field when a value cannot work."""
        for name in ("max_sentences", "max_gold"):
            value = getattr(self, name)
            if value is not None and value < 1:
                raise DistillConfigError(f"{name} must be at least 1 (or left out), got {value}")
        if self.min_silver_records < 2:
            raise DistillConfigError(f"min_silver_records must be at least 2, got {self.min_silver_records}")
        if self.simulated_noise is not None and self.simulated_noise < 0:
            raise DistillConfigError(f"simulated_noise must be >= 0, got {self.simulated_noise}")
        for name in STUDENT_FIELDS_SET_BY_DISTILL:
            if getattr(self.student, name) not in (None, False):
                raise DistillConfigError(
                    f"student.{name} is set by adekd distill (silver data, student folder, gold set, "
                    "resume, task); leave it out"
                )
        if self.teacher.task not in (DEFAULT_TASK, self.task):
            raise DistillConfigError(
                f"teacher.task {self.teacher.task!r} differs from task {self.task!r}: set the task once, "
                "at the top level (it sets the teacher's and the student's)"
            )
        try:
            load_task(self.task)
        except TaskError as err:
            raise DistillConfigError(f"task: {err}") from None
        if self.simulated_noise is None:
            try:
                self.teacher.validate()
            except ValueError as err:
                raise DistillConfigError(f"teacher: {err}") from None
        return self

    def to_dict(self) -> dict[str, Any]:
        """The settings as written to the run summary: a teacher URL without its ``user:password@``."""
        from adekd.teacher.backends.openai_http import safe_url

        values = dataclasses.asdict(self)
        values["teacher"]["base_url"] = safe_url(values["teacher"]["base_url"])
        return values

    @classmethod
    def from_dict(cls, values: dict[str, Any], where: str = "config") -> DistillConfig:
        """Build from nested dicts (a parsed YAML file); unknown keys are errors naming ``where``."""
        if not isinstance(values, dict):
            raise DistillConfigError(f"{where}: expected a mapping of settings, got {type(values).__name__}")
        config = _apply(cls(), {k: v for k, v in values.items() if k not in _NESTED}, where)
        for key in _NESTED:
            if key in values:
                base = getattr(config, key)
                if key == "teacher" and isinstance(values[key], dict):
                    base = teacher_defaults(values[key].get("teacher", "local"))
                setattr(config, key, _apply(base, values[key], f"{where}: {key}"))
        return config


_NESTED = ("teacher", "student", "publish")


def load_config(
    path: str | os.PathLike | None = None, overrides: dict[str, Any] | None = None
) -> DistillConfig:
    """The run configuration: defaults, then the YAML file at ``path``, then ``overrides`` (e.g. flags).

    ``overrides`` has the file's shape; its nested ``teacher``/``student``/``publish`` settings are
    merged into the file's, not substituted for them. Settings whose value is ``None`` are ignored.
    """
    values: dict[str, Any] = {}
    where = "flags"
    if path is not None:
        import yaml

        where = os.fspath(path)
        try:
            with open(path, encoding="utf-8") as handle:
                values = yaml.safe_load(handle)
        except OSError as err:
            raise DistillConfigError(f"--config {where}: cannot read it ({err.strerror})") from None
        except yaml.YAMLError as err:
            raise DistillConfigError(f"--config {where}: not valid YAML ({err})") from None
        if values is None:  # an empty file must not start the default run (minutes of teacher calls)
            raise DistillConfigError(
                f"--config {where}: the file holds no settings; write some, or leave --config out to run the "
                "defaults"
            )
        if not isinstance(values, dict):
            raise DistillConfigError(
                f"--config {where}: expected a mapping of settings, got {type(values).__name__}"
            )
    for key, value in (overrides or {}).items():
        if key in _NESTED:
            given = {name: setting for name, setting in value.items() if setting is not None}
            if given:
                values[key] = {**(values.get(key) or {}), **given}
        elif value is not None:
            values[key] = value
    return DistillConfig.from_dict(values, where)


def teacher_defaults(teacher: str) -> LabelConfig:
    """The starting teacher configuration: :func:`default_teacher` for ``local``, else ``LabelConfig``'s."""
    return default_teacher() if teacher == "local" else LabelConfig(teacher=teacher)  # type: ignore[arg-type]


def _apply(base: Any, values: Any, where: str) -> Any:
    """``base`` with the settings of the mapping ``values``; unknown names are errors naming ``where``."""
    if not isinstance(values, dict):
        raise DistillConfigError(f"{where}: expected a mapping of settings, got {type(values).__name__}")
    known = {f.name for f in dataclasses.fields(base)}
    unknown = sorted(set(values) - known)
    if unknown:
        raise DistillConfigError(f"{where}: unknown setting(s) {unknown}; known: {sorted(known)}")
    hints = typing.get_type_hints(type(base))
    for key, value in values.items():
        if key == "price_per_million" and isinstance(value, list):
            value = tuple(value)
        if key not in _NESTED and not _is_instance(value, hints[key]):
            raise DistillConfigError(f"{where}: {key} must be {_type_name(hints[key])}, got {value!r}")
        setattr(base, key, value)
    return base


def _is_instance(value: Any, hint: Any) -> bool:
    """Whether a YAML value fits a config field's annotation (YAML gives ints, floats, strings, bools,
    lists and mappings): a wrong type must stop the run with the key's name, not deep in a stage."""
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if hint is Any:
        return True
    if origin in (typing.Union, types.UnionType):
        return any(_is_instance(value, arg) for arg in args)
    if origin is typing.Literal:
        return value in args
    if origin in (list, tuple):
        return isinstance(value, list | tuple) and all(
            _is_instance(item, args[0]) for item in value if args and args[-1] is not Ellipsis
        )
    if hint is float:
        return isinstance(value, int | float) and not isinstance(value, bool)
    if hint is int:
        return isinstance(value, int) and not isinstance(value, bool)
    return isinstance(value, origin or hint)


def _type_name(hint: Any) -> str:
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if origin in (typing.Union, types.UnionType):
        return " or ".join(_type_name(arg) for arg in args)
    if origin is typing.Literal:
        return "one of " + ", ".join(repr(arg) for arg in args)
    if hint is type(None):
        return "left out (null)"
    return getattr(hint, "__name__", str(hint)) if origin is None else f"a list ({hint})"
