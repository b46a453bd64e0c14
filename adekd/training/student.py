"""What training needs from the student model: build it, turn records into batches, decode, save.

The model, its processor (subword alignment, windows, labels) and its decoding live in
:mod:`adekd.modeling`; this module only wires them to the loop and checks, before anything is
trained, that the base model is an encoder the student can use.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Sequence
from typing import Any

import torch
from transformers import AutoConfig, AutoTokenizer

from adekd.modeling.modeling_adekd import AdeStudentForExtraction
from adekd.modeling.processing_adekd import AdeStudentProcessor, Window
from adekd.modeling.student import resolve_encoder
from adekd.records import Record
from adekd.training.config import TrainingConfig, TrainingConfigError

logger = logging.getLogger(__name__)


def base_commit(config: TrainingConfig) -> str | None:
    """The Hub commit ``--model-revision`` (default: main) of ``--init`` or ``--encoder`` points to now;
    None for a local path, or offline. The run loads every file at this one commit, so a push landing
    while it starts cannot mix two versions, and ``metrics.json`` says which it was."""
    from adekd.hub import hub_commit

    source = config.init or resolve_encoder(config.encoder)
    return None if os.path.exists(source) else hub_commit(source, "model", config.model_revision)


def check_encoder(name_or_path: str, revision: str | None = None) -> None:
    """Refuse a base model that is not a bidirectional encoder (a decoder-only LLM, a seq2seq model).

    The student tags tokens with states that see the whole sentence; a causal LM's states do not.
    """
    from transformers.models.auto.modeling_auto import MODEL_FOR_MASKED_LM_MAPPING_NAMES

    try:
        config = AutoConfig.from_pretrained(name_or_path, revision=revision)
    except (OSError, ValueError) as err:
        at = f" at revision {revision}" if revision else ""
        raise TrainingConfigError(
            f"--encoder {name_or_path}{at}: cannot load its config ({err}); "
            "offline, pass --encoder minilm for the packaged MiniLM"
        ) from None
    model_type = getattr(config, "model_type", None)
    if model_type == "adekd_student":
        raise TrainingConfigError(f"--encoder {name_or_path} is already an adekd student; pass it as --init")
    if (
        getattr(config, "is_decoder", False)
        or getattr(config, "is_encoder_decoder", False)
        or model_type not in MODEL_FOR_MASKED_LM_MAPPING_NAMES
    ):
        raise TrainingConfigError(
            f"--encoder {name_or_path} is a {model_type!r} model, not a BERT-family encoder; the student "
            "needs an encoder such as BERT, PubMedBERT, RoBERTa or ELECTRA (decoder-only LLMs are teachers)"
        )


def task_type_names(config: TrainingConfig) -> dict[str, str]:
    """The type names ``--task`` puts into the student's config (none without ``--task``)."""
    from adekd.tasks import load_task

    return load_task(config.task).type_names() if config.task is not None else {}


def build(config: TrainingConfig, commit: str | None = None) -> tuple[AdeStudentForExtraction, Any]:
    """The student to train and its tokenizer: ``--init`` (a student folder) or a new one on ``--encoder``,
    loaded at ``commit`` (:func:`base_commit`), else at ``--model-revision``.

    ``--task`` sets the task's type names in the config; without it a new student is an ADE student
    and an ``--init`` student keeps its own task (``--task`` retargets it, e.g. from ADE to another
    task, the weights being a starting point either way).
    """
    revision = commit or config.model_revision
    if config.init:
        if config.architecture or config.fusion or config.reencode_per_drug:
            raise TrainingConfigError(
                "--architecture, --fusion and --reencode-per-drug apply to a new student (--encoder), "
                "not --init"
            )
        try:
            model = AdeStudentForExtraction.from_pretrained(config.init, revision=revision)
        except (OSError, ValueError) as err:
            what = f"cannot load it at revision {revision}" if revision else "not a student folder"
            raise TrainingConfigError(f"--init {config.init}: {what} ({err})") from None
        model.config.update(task_type_names(config))
        # thresholds tuned for the old weights would bias every dev evaluation of the new ones
        model.config.drug_threshold = model.config.ade_threshold = None
        return model, AutoTokenizer.from_pretrained(config.init, revision=revision)
    encoder = resolve_encoder(config.encoder)
    check_encoder(encoder, revision)
    tokenizer = AutoTokenizer.from_pretrained(encoder, revision=revision)
    options = {
        key: value
        for key, value in (
            ("architecture", config.architecture),
            ("fusion", config.fusion),
            ("reencode_per_drug", config.reencode_per_drug),
        )
        if value
    } | task_type_names(config)
    try:
        model = AdeStudentForExtraction.from_encoder(
            encoder, tokenizer=tokenizer, revision=revision, **options
        )
    except ValueError as err:
        raise TrainingConfigError(f"--encoder {encoder}: {err}") from None
    return model, tokenizer


def check_task_labels(records: Sequence[Record], model: torch.nn.Module, source: str) -> None:
    """Refuse data made for another task than the student's: a ``task`` column (silver records name
    the teacher's task) or span ``label`` keys that differ from the student's type names.

    A silver set labeled for chemical-disease trained without ``--task chemical-disease`` would
    give a student that calls its chemicals DRUG; records with neither key (most gold corpora) pass.
    """
    names = base_student(model).config.type_names()
    hint = f"the student's task is {names['task']!r}; pass --task with the data's task"
    tasks = {r["task"] for r in records if r.get("task") not in (None, names["task"])}
    if tasks:
        raise TrainingConfigError(f"{source}: records of task {sorted(tasks)}, but {hint}")
    expected = {"drugs": names["anchor_label"], "ades": names["target_label"]}
    for column, label in expected.items():
        found = {span.get("label") for r in records for span in r[column]} - {None, label}
        if found:
            raise TrainingConfigError(
                f"{source}: {column} spans are labeled {sorted(found)}, not {label!r}; {hint}"
            )


def processor(model: torch.nn.Module, tokenizer: Any, max_length: int | None = None) -> AdeStudentProcessor:
    student = base_student(model)
    try:
        return AdeStudentProcessor(tokenizer, student.config, max_length=max_length)
    except ValueError as err:
        raise TrainingConfigError(str(err)) from None


def base_student(model: torch.nn.Module) -> AdeStudentForExtraction:
    """The student inside a peft wrapper (or the model itself)."""
    return model.get_base_model() if hasattr(model, "get_base_model") else model


def encoder_parameter_ids(model: torch.nn.Module) -> set[int]:
    """Parameters of the encoder (LoRA adapters included); everything else is a head."""
    return {id(p) for p in base_student(model).encoder.parameters()}


def predict(
    model: AdeStudentForExtraction, proc: AdeStudentProcessor, records: Sequence[Record]
) -> list[Record]:
    """End-to-end predictions (the student finds the drugs) for ``records``, one batch, as records."""
    per_text = proc.encode_batch([r["text"] for r in records], [None] * len(records))
    windows: list[Window] = [w for text_windows in per_text for w in text_windows]
    predicted: list[Record] = []
    if not windows:
        return [{"id": r["id"], "text": r["text"], "drugs": [], "ades": []} for r in records]
    device = next(model.parameters()).device
    batch = {k: v.to(device) for k, v in proc.collate(windows).items()}
    batch.pop("drug_spans")
    spans = model.predict_spans(**batch)
    rows = iter(range(len(windows)))
    for record, text_windows in zip(records, per_text, strict=True):
        window_predictions = []
        for _ in text_windows:
            row = next(rows)
            window_predictions.append(
                {
                    name: getattr(spans, name)[row]
                    for name in ("drug_spans", "drug_scores", "ade_spans", "ade_scores")
                }
            )
        drugs, ades = proc.decode(record["text"], text_windows, window_predictions)
        predicted.append({"id": record["id"], "text": record["text"], "drugs": drugs, "ades": ades})
    return predicted


def encoder_name(model: AdeStudentForExtraction, config: TrainingConfig) -> str | None:
    """The path or Hub id of the encoder the student started from (``minilm`` resolved to its path)."""
    return getattr(model.config, "encoder_name_or_path", None) or config.encoder
