"""``adekd distill``: unlabeled text in, an evaluated, publishable student (and its silver data) out.

Stages, each recorded by a stamp (:mod:`adekd.distill.stamps`) so a rerun skips what is done and
resumes what was cut short::

    inputs    OUTPUT/inputs.jsonl, OUTPUT/gold.jsonl   sentences to label (gold sentences removed), gold
    label     OUTPUT/silver/                           the teacher's silver dataset (answers cached in
                                                       OUTPUT/teacher-cache.sqlite as they arrive)
    train     OUTPUT/student/                          the student, trained on silver (dev carved from it)
    evaluate  OUTPUT/eval/                             teacher and student predictions on the gold
                                                       sentences and their ade_f1 scores
    publish   OUTPUT/hub/dataset, OUTPUT/hub/model     Hub-ready folders with cards (and uploads)

``OUTPUT/summary.json`` gathers teacher and student F1, label counts, times and cost;
:func:`format_summary` renders it as the table ``adekd distill`` prints.

The run's ``task`` (:mod:`adekd.tasks`) goes to every stage: the default input, the teacher's
prompt and answer keys, the student's type names, the cards and the summary. Its whole spec is part
of the stamps, so editing a task file relabels and retrains.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from adekd.distill.config import DistillConfig, DistillConfigError
from adekd.distill.inputs import RunInputs, load_inputs
from adekd.distill.stamps import STAMPS_DIR, Stage, fingerprint
from adekd.outputs import existing_entries, listed
from adekd.records import Record, read_jsonl, write_jsonl
from adekd.tasks import load_task
from adekd.tasks.words import TaskWords
from adekd.training.config import TrainingConfig

logger = logging.getLogger(__name__)

SUMMARY_FILE = "summary.json"
SUMMARY_FORMAT = "adekd-distill-summary/1"
TEACHER_CACHE = "teacher-cache.sqlite"
PROBE_SIZE = 8
"""Remote teachers are first asked about this many sentences; if every one fails the run stops."""

_TEACHER_RUNTIME_FIELDS = ("progress", "cache", "api_key_env")
"""Teacher settings that change how a run goes, not what the labels are: not fingerprinted."""


class DistillError(RuntimeError):
    """The run cannot go on; the message says which stage, why, and what was kept."""


class TeacherFailedError(DistillError):
    """The teacher answered none of the sentences it was asked about; ``failures`` says why for each."""

    def __init__(self, message: str, failures: list[dict[str, Any]]) -> None:
        super().__init__(message)
        self.failures = failures


@dataclass
class DistillResult:
    """Where the run's outputs are and its summary (also in ``OUTPUT/summary.json``)."""

    output_dir: Path
    summary: dict[str, Any]

    def table(self) -> str:
        return format_summary(self.summary)


STUDENT_FIELDS_ADDED_LATER = (
    "schedule_length", "refit_schedule", "train_revision", "dev_revision", "test_revision"
)  # fmt: skip
"""Training settings added after distill runs were first stamped: left out of the train stage's
fingerprint while at their default, so that a run stamped before they existed still skips a finished
student, and resumes (rather than deletes) an interrupted one."""


def student_fingerprint_settings(student: TrainingConfig) -> dict[str, Any]:
    """The student's training settings the train stage's fingerprint covers."""
    defaults = {field.name: field.default for field in dataclasses.fields(student)}
    return {
        name: value
        for name, value in dataclasses.asdict(student).items()
        if not (name in STUDENT_FIELDS_ADDED_LATER and value == defaults[name])
    }


@dataclass
class _Run:
    config: DistillConfig
    root: Path
    force: bool
    stages: dict[str, dict[str, Any]]

    def stage(
        self, name: str, outputs: tuple[str, ...], depends: Any, work: Callable[[bool], dict[str, Any]]
    ) -> dict:
        """Run ``work(resume)`` unless the stage is done with the same ``depends``; return its stamp."""
        stage = Stage(self.root, name, outputs)
        key = fingerprint(depends)
        if not self.force and stage.is_done(key):
            stamp = stage.read_stamp() or {}
            logger.info("%s: up to date, skipped (ran in %.1fs)", name, stamp.get("seconds", 0.0))
            self.stages[name] = {
                "status": "skipped",
                "seconds": 0.0,
                "first_run_seconds": stamp.get("seconds"),
            }
            return stamp
        resume = stage.was_interrupted(key) and not self.force
        logger.info("%s: %s", name, "resuming" if resume else "running")
        stage.start(key)
        started = time.perf_counter()
        info = work(resume)
        seconds = time.perf_counter() - started
        self.stages[name] = {"status": "resumed" if resume else "ran", "seconds": round(seconds, 3)}
        return stage.finish(key, seconds, info)


def _check_run_folder(root: Path) -> None:
    """A run writes, and on reruns replaces, ``student/``, ``hub/*`` and the stage outputs: only in a new
    or empty folder, or one an earlier run made (it has the stage stamps), never among a user's files."""
    try:
        present = existing_entries(root)  # the stamps folder is hidden: a run's own
    except NotADirectoryError as err:
        raise DistillError(f"--output {err}; give a folder for the run") from None
    if present and not (root / STAMPS_DIR).is_dir():
        raise DistillError(
            f"--output {root} holds files that no adekd distill run wrote ({listed(present)}); a run "
            "replaces its student/ and hub/ folders, so choose a new or empty folder"
        )


def distill(config: DistillConfig | None = None, *, force: bool = False) -> DistillResult:
    """Run every stage of ``config`` (see the module docstring); ``force`` reruns stages that are up to date.

    Raises :class:`DistillError` (or :class:`DistillConfigError`) with a message naming the stage
    and the fix; everything finished before stays in ``config.output_dir``.
    """
    config = (config or DistillConfig()).validate()
    root = Path(config.output_dir)
    _check_run_folder(root)
    root.mkdir(parents=True, exist_ok=True)
    run = _Run(config, root, force, {})
    started = time.perf_counter()

    inputs = _prepare_inputs(config, root)
    inputs_stamp = run.stage(
        "inputs",
        ("inputs.jsonl",) + (("gold.jsonl",) if inputs.gold else ()),
        {"sentences": inputs.sentences, "gold": inputs.gold},
        lambda resume: _write_inputs(root, inputs),
    )
    task = load_task(config.task).to_dict()
    teacher_settings = _teacher_settings(config)
    label_stamp = run.stage(
        "label",
        ("silver",),
        {"inputs": inputs_stamp["outputs"], "teacher": teacher_settings, "task": task},
        lambda resume: _label(config, root),
    )
    student_settings = student_fingerprint_settings(config.student) | {
        "min_silver_records": config.min_silver_records,
        "task": task,
    }
    train_stamp = run.stage(
        "train",
        _STUDENT_OUTPUTS,
        {"silver": label_stamp["outputs"], "inputs": inputs_stamp["outputs"], "student": student_settings},
        lambda resume: _train(config, root, resume),
    )
    eval_stamp = None
    if inputs.gold:
        eval_stamp = run.stage(
            "evaluate",
            ("eval",),
            {
                "inputs": inputs_stamp["outputs"],
                "teacher": teacher_settings,
                "task": task,
                "student": train_stamp["outputs"],
            },
            lambda resume: _evaluate(config, root),
        )
    run.stage(
        "publish",
        ("hub",),
        {
            "silver": label_stamp["outputs"],
            "student": train_stamp["outputs"],
            "eval": eval_stamp and eval_stamp["outputs"],
            "publish": dataclasses.asdict(config.publish),
            "task": task,
        },
        lambda resume: _publish(config, root, inputs.gold_source),
    )
    summary = _summary(config, root, inputs, run.stages, time.perf_counter() - started)
    (root / SUMMARY_FILE).write_text(
        json.dumps(summary, indent=2, ensure_ascii=False) + "\n", encoding="utf-8"
    )
    logger.info("run summary written to %s", root / SUMMARY_FILE)
    return DistillResult(root, summary)


# --- stages ------------------------------------------------------------------------------------

_STUDENT_OUTPUTS = ("student/config.json", "student/model.safetensors", "student/metrics.json")


def _prepare_inputs(config: DistillConfig, root: Path) -> RunInputs:
    try:
        return load_inputs(
            config.input,
            config.gold,
            max_sentences=config.max_sentences,
            max_gold=config.max_gold,
            split_sentences=config.split_sentences,
            labeled=config.simulated_noise is not None,
            task=config.task,
        )
    except ValueError as err:  # CorpusError, RecordError: they name the file and line
        raise DistillError(f"inputs: {err}") from None


def _write_inputs(root: Path, inputs: RunInputs) -> dict[str, Any]:
    write_jsonl(inputs.sentences, root / "inputs.jsonl")
    if inputs.gold:
        write_jsonl(inputs.gold, root / "gold.jsonl")
    return {"sentences": len(inputs.sentences), "gold": len(inputs.gold or [])}


def _teacher_settings(config: DistillConfig) -> dict[str, Any]:
    if config.simulated_noise is not None:
        return {"simulated_noise": config.simulated_noise, "seed": config.simulated_seed}
    settings = dataclasses.asdict(config.teacher)
    for name in _TEACHER_RUNTIME_FIELDS:
        settings.pop(name)
    return settings


def _label_config(config: DistillConfig, root: Path) -> Any:
    cache = config.teacher.cache or str(root / TEACHER_CACHE)
    return dataclasses.replace(config.teacher, cache=cache, task=config.task)


def _simulated_teacher(config: DistillConfig) -> Any:
    from adekd.teacher.simulated import SimulatedTeacher

    return SimulatedTeacher.at_level(config.simulated_noise, config.simulated_seed, config.task)


def _label_records(
    config: DistillConfig, root: Path, records: list[Record], what: str
) -> tuple[list, list, dict]:
    """Label ``records`` with the run's teacher: (silver records, failures, run summary).

    A remote teacher is first asked about a few sentences: if all fail (server down, bad model
    name, every request refused) the run stops with the first error instead of failing every
    sentence after all its retries. Answers already received stay in the cache for the rerun.
    """
    if config.simulated_noise is not None:
        silver, summary = _simulated_teacher(config).label_all(records)
        return silver, [], summary
    from adekd.teacher.backends.base import BackendError
    from adekd.teacher.cache import CacheError
    from adekd.teacher.run import label

    label_config = _label_config(config, root)
    if what == "evaluate":  # every gold record gets its prediction, even one whose text repeats another's
        label_config = dataclasses.replace(label_config, keep_duplicates=True)
    inputs = [{key: value for key, value in r.items() if key not in ("drugs", "ades")} for r in records]
    try:
        if label_config.transport == "openai-chat" and len(inputs) > PROBE_SIZE:
            probe = label(inputs[:PROBE_SIZE], label_config)
            if not probe.records:
                _stop_if_all_failed(probe.failures, PROBE_SIZE, what, label_config.cache)
        result = label(inputs, label_config)
    except BackendError as err:
        raise DistillError(
            f"{what}: the teacher stopped the run: {err}. Answers received so far are kept in "
            f"{label_config.cache}; fix the teacher settings and rerun the same command to continue"
        ) from None
    except CacheError as err:
        raise DistillError(f"{what}: {err} (teacher.cache)") from None
    except ValueError as err:
        raise DistillConfigError(f"teacher: {err}") from None
    if not result.records:
        _stop_if_all_failed(result.failures, len(inputs), what, label_config.cache)
    return result.records, result.failures, result.summary


def _stop_if_all_failed(failures: list[dict[str, Any]], asked: int, what: str, cache: str) -> None:
    first = failures[0]["error"] if failures else "no answer"
    raise TeacherFailedError(
        f"{what}: the teacher failed on all {asked} sentences it was asked about (first error: {first}); "
        f"nothing to train on. Answers received so far are kept in {cache}; fix the teacher and rerun",
        failures,
    )


def _label(config: DistillConfig, root: Path) -> dict[str, Any]:
    from adekd.teacher.silver import FAILURES_FILE, write_silver

    records = read_jsonl(root / "inputs.jsonl")
    try:
        silver, failures, summary = _label_records(config, root, records, "label")
    except TeacherFailedError as err:  # what went wrong, per sentence, for the user to read
        write_jsonl(err.failures, root / "silver" / FAILURES_FILE)  # type: ignore[arg-type]
        raise
    write_silver(root / "silver", silver, failures, summary)
    return {"records": len(silver), "failures": len(failures)}


def _silver_records(root: Path) -> list[Record]:
    import datasets

    from adekd.records import dataset_to_records

    return dataset_to_records(datasets.load_dataset(str(root / "silver"), split="train"), validate=False)


def check_silver(
    records: list[Record], minimum: int, words: TaskWords | None = None, silver: Path = Path("silver")
) -> None:
    """Stop before training when the silver set is too small to train and select a student on."""
    from adekd.teacher.silver import FAILURES_FILE

    target = (words or TaskWords.of()).target
    one = f"{'an' if target[0].lower() in 'aeiou' else 'a'} {target}"  # "an ADE", "a disease"
    with_pairs = sum(bool(record["ades"]) for record in records)
    if len(records) < minimum or not with_pairs:
        raise DistillError(
            f"train: the teacher produced {len(records)} silver records ({with_pairs} with {one}); "
            f"training needs at least {minimum} records (min_silver_records) and at least 1 with {one}. "
            "Label more sentences (a larger --input or --max-sentences), or see the teacher's failures in "
            f"{silver / FAILURES_FILE}"
        )


def _train(config: DistillConfig, root: Path, resume: bool) -> dict[str, Any]:
    from adekd.training import TrainingConfigError, TrainingDataError, train
    from adekd.training.checkpoints import CHECKPOINTS_DIR
    from adekd.training.refit import SELECTION_DIR

    words = TaskWords.of(load_task(config.task))
    check_silver(_silver_records(root), config.min_silver_records, words, root / "silver")
    student_dir = root / "student"
    if not resume and student_dir.exists():
        shutil.rmtree(student_dir)
    gold = root / "gold.jsonl"
    training = dataclasses.replace(
        config.student,
        train=str(root / "silver"),
        output_dir=str(student_dir),
        test=str(gold) if gold.is_file() else None,
        resume=resume,
        task=config.task,
    )
    try:
        metrics = train(training)
    except (TrainingConfigError, TrainingDataError) as err:
        raise DistillError(f"train: {err}") from None
    for finished in (student_dir, student_dir / SELECTION_DIR):  # the student is final; free the space
        shutil.rmtree(finished / CHECKPOINTS_DIR, ignore_errors=True)
    return {"epochs": metrics.get("training", {}).get("epochs_completed")}


def _evaluate(config: DistillConfig, root: Path) -> dict[str, Any]:
    from adekd.metrics import score
    from adekd.modeling import extract, load_pipeline

    gold = read_jsonl(root / "gold.jsonl")
    eval_dir = root / "eval"
    eval_dir.mkdir(exist_ok=True)
    teacher_started = time.perf_counter()
    teacher_predictions, failures, teacher_summary = _label_records(config, root, gold, "evaluate")
    teacher_seconds = time.perf_counter() - teacher_started
    texts = [{"id": record["id"], "text": record["text"]} for record in gold]  # the student finds the drugs
    student = load_pipeline(str(root / "student"))
    started = time.perf_counter()  # speeds exclude loading models, for the student as for the teacher
    student_predictions = extract(texts, model=student, batch_size=64)
    student_seconds = time.perf_counter() - started
    write_jsonl(teacher_predictions, eval_dir / "teacher_predictions.jsonl")
    write_jsonl(failures, eval_dir / "teacher_failures.jsonl")  # type: ignore[arg-type]
    write_jsonl(student_predictions, eval_dir / "student_predictions.jsonl")
    results = {
        "gold_records": len(gold),
        "teacher": {
            **score(teacher_predictions, gold),
            "failures": len(failures),
            "seconds": round(teacher_seconds, 3),
            "usage": teacher_summary.get("usage"),
        },
        "student": {**score(student_predictions, gold), "seconds": round(student_seconds, 3)},
    }
    (eval_dir / "results.json").write_text(json.dumps(results, indent=2) + "\n", encoding="utf-8")
    return {
        "teacher_strict_f1": results["teacher"]["strict_f1"],
        "student_strict_f1": results["student"]["strict_f1"],
    }


def hub_folders(config: DistillConfig, root: Path) -> tuple[Path, Path]:
    """``OUTPUT/hub/<name>`` of the silver dataset and of the student: their Hub repo names when pushed,
    else ``<run folder>-silver`` and ``<run folder>-student`` (the names the cards' snippets load)."""
    run_name = root.resolve().name
    dataset_repo, model_repo = config.publish.resolved_dataset_repo(), config.publish.push_to_hub
    dataset = dataset_repo.rsplit("/", 1)[-1] if dataset_repo else f"{run_name}-silver"
    model = model_repo.rsplit("/", 1)[-1] if model_repo else f"{run_name}-student"
    return root / "hub" / dataset, root / "hub" / model


def _publish(config: DistillConfig, root: Path, gold_source: str | None) -> dict[str, Any]:
    from adekd.hub import PublishError, publish

    settings = config.publish
    dataset_repo = settings.resolved_dataset_repo()
    dataset_dir, model_dir = hub_folders(config, root)
    results = _read_json(root / "eval" / "results.json")
    teacher_eval = None
    if results and gold_source:  # the card names the gold file, never a local path
        teacher_eval = {
            **results["teacher"],
            "dataset": Path(gold_source).name,
            "num_records": results["gold_records"],
        }
    stale = (
        [p for p in (root / "hub").glob("*") if p not in (dataset_dir, model_dir)]
        if (root / "hub").is_dir()
        else []
    )
    for folder in stale:  # left by a run published under other names
        shutil.rmtree(folder)
    try:
        dataset = publish(
            root / "silver",
            dataset_dir,
            push_to_hub=dataset_repo,
            private=settings.private,
            overwrite=True,
            license=settings.dataset_license,
            teacher_eval=teacher_eval,
            task=config.task,
        )
        model = publish(
            root / "student",
            model_dir,
            push_to_hub=settings.push_to_hub,
            private=settings.private,
            overwrite=True,
            license=settings.model_license,
            dataset_id=dataset.repo_id or dataset_repo,  # with the namespace the push completed
            task=config.task,
        )
    except PublishError as err:
        raise DistillError(f"publish: {err}") from None
    return {"dataset_url": dataset.url, "model_url": model.url}


def _read_json(path: Path) -> dict[str, Any] | None:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


# --- summary -----------------------------------------------------------------------------------

_F1_KEYS = (
    "strict_precision",
    "strict_recall",
    "strict_f1",
    "lenient_precision",
    "lenient_recall",
    "lenient_f1",
)


def _summary(
    config: DistillConfig, root: Path, inputs: RunInputs, stages: dict[str, Any], seconds: float
) -> dict[str, Any]:
    silver_summary = _read_json(root / "silver" / "run_summary.json") or {}
    results = _read_json(root / "eval" / "results.json") or {}
    metrics = _read_json(root / "student" / "metrics.json") or {}
    publish_stamp = Stage(root, "publish", ()).read_stamp() or {}
    counts, usage = silver_summary.get("counts", {}), silver_summary.get("usage", {})
    teacher_info = silver_summary.get("teacher", {})
    gold_count = results.get("gold_records")
    teacher_scores = {key: results["teacher"][key] for key in _F1_KEYS} if results else None
    student_scores = {key: results["student"][key] for key in _F1_KEYS} if results else None
    student_seconds = results.get("student", {}).get("seconds")
    student_speed = round(gold_count / student_seconds, 2) if gold_count and student_seconds else None
    # a refit student has no dev of its own: the run that chose its length was scored on it
    dev_metrics = ((metrics.get("selection") or metrics).get("dev") or {}).get("metrics") or {}
    timings = silver_summary.get("timings", {})
    task = load_task(config.task)
    return {
        "format": SUMMARY_FORMAT,
        "output_dir": str(root),
        "task": {"title": task.title, **task.type_names()},
        "input": {
            "source": inputs.input_source,
            "sentences": len(inputs.sentences),
            "excluded_in_gold": inputs.excluded_in_gold,
        },
        "gold": {"source": inputs.gold_source, "records": gold_count} if inputs.gold else None,
        "teacher": {
            "backend": teacher_info.get("backend"),
            "model": teacher_info.get("model"),
            "prompt": silver_summary.get("prompt", {}).get("id"),
            "scores": teacher_scores,
            "sentences_per_second": _teacher_speed(counts, timings),
        },
        "student": {
            "encoder": metrics.get("encoder"),
            "architecture": metrics.get("architecture"),
            "scores": student_scores,
            "sentences_per_second": student_speed,
            "epochs": metrics.get("training", {}).get("epochs_completed"),
            "dev": {key: dev_metrics.get(key) for key in ("strict_f1", "lenient_f1")},
        },
        "labels": {
            key: counts.get(key)
            for key in ("records", "drugs", "ades", "failures", "rejected_quotes", "requested", "cached")
        },
        "cost": {
            "teacher_usd": usage.get("cost_usd"),
            "prompt_tokens": usage.get("prompt_tokens"),
            "completion_tokens": usage.get("completion_tokens"),
        },
        "stages": stages,
        "seconds": round(seconds, 3),
        "outputs": {
            "silver": str(root / "silver"),
            "student": str(root / "student"),
            "hub_dataset": str(hub_folders(config, root)[0]),
            "hub_model": str(hub_folders(config, root)[1]),
            "eval": str(root / "eval") if results else None,
            "dataset_url": publish_stamp.get("dataset_url"),
            "model_url": publish_stamp.get("model_url"),
        },
        "demo": f"adekd demo --model {root / 'student'}",
        "config": config.to_dict(),
    }


def _teacher_speed(counts: dict[str, Any], timings: dict[str, Any]) -> float | None:
    """Sentences the teacher answered per second of labeling, model loading excluded (None if all cached)."""
    seconds = (timings.get("total_s") or 0.0) - (timings.get("backend_start_s") or 0.0)
    answered = counts.get("requested") or 0
    return round(answered / seconds, 3) if answered and seconds > 0 else None


def _pct(value: float | None) -> str:
    return "n/a" if value is None else f"{100 * value:.1f}"


def format_summary(summary: dict[str, Any]) -> str:
    """The run as a short table: F1 of teacher and student on gold, label counts, times and cost."""
    teacher, student = summary["teacher"], summary["student"]
    lines = [
        f"{'':10}{'strict F1':>10}{'lenient F1':>11}{'sent/s':>9}  model",
    ]
    for name, side, model in (
        ("teacher", teacher, teacher.get("model")),
        ("student", student, student.get("encoder")),
    ):
        scores = side.get("scores") or {}
        speed = side.get("sentences_per_second")
        lines.append(
            f"{name:10}{_pct(scores.get('strict_f1')):>10}{_pct(scores.get('lenient_f1')):>11}"
            f"{'n/a' if speed is None else f'{speed:.2f}':>9}  {model}"
        )
    gold = summary.get("gold")
    lines.append(
        f"scored on {gold['records']} gold sentences ({gold['source']})"
        if gold
        else "no gold set: not scored"
    )
    labels = summary["labels"]
    words = TaskWords.of(summary.get("task"))
    lines.insert(0, f"task: {words.task} ({summary.get('task', {}).get('title', words.task)})")
    lines.append(
        f"silver: {labels['records']} records, {labels['drugs']} {words.anchor}s, {labels['ades']} "
        f"{words.target}s; {labels['failures']} failed, {labels['rejected_quotes']} quotes rejected"
    )
    stages = ", ".join(
        f"{name} {info['status']} {info['seconds']:.0f}s" for name, info in summary["stages"].items()
    )
    cost = summary["cost"].get("teacher_usd")
    lines.append(f"time: {summary['seconds']:.0f}s ({stages}); teacher cost: ${cost or 0:.4f}")
    return "\n".join(lines)
