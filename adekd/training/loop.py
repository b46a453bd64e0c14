"""The training loop on Accelerate: one function, :func:`train`, from a config to a student folder.

The same code runs on one CPU, one GPU or many processes (``accelerate launch``): Accelerate
prepares the model, optimizer, scheduler and data loaders, gradient accumulation goes through
``accelerator.accumulate``, dev predictions are gathered with ``gather_for_metrics`` and only
the main process writes files. All data and model checks run before the first step.
"""

from __future__ import annotations

import functools
import logging
import math
import os
import platform
import shutil
import time
from collections.abc import Sequence
from contextlib import nullcontext
from dataclasses import dataclass, replace
from typing import Any

import torch
from accelerate import Accelerator
from accelerate.state import AcceleratorState
from accelerate.utils import GradientAccumulationPlugin, ProjectConfiguration, broadcast_object_list, set_seed
from torch.utils.data import DataLoader
from tqdm.auto import tqdm

from adekd.hardware import warn_if_emulated_bf16
from adekd.modeling.processing_adekd import AdeStudentProcessor
from adekd.records import Record
from adekd.training import student
from adekd.training.averaging import ExponentialMovingAverage
from adekd.training.checkpoints import (
    BEST_DIR,
    TrainerState,
    check_resume_processes,
    check_same_data,
    checkpoint_dir,
    find_resume_checkpoint,
    finished_run,
    refuse_to_overwrite,
    rotate_checkpoints,
    saved_trainer_state,
)
from adekd.training.config import DATA_ROLES, TrainingConfig, TrainingConfigError
from adekd.training.data import LengthGroupedBatchSampler, LoadedData, carve_dev_split, load_training_records
from adekd.training.lora import ADAPTER_DIR, ParameterCount, apply_lora, count_parameters, merge_for_saving
from adekd.training.metrics_file import finished_commits, finished_fingerprints, write_metrics
from adekd.training.refit import SELECTION_DIR
from adekd.training.thresholds import ThresholdChoice, tune_thresholds
from adekd.training.trackers import TRACKER_RUN_NAME, make_trackers

logger = logging.getLogger(__name__)

BEST_WEIGHTS = "model.safetensors"


@dataclass
class RunData:
    """The records a run trains, selects and tests on, with where they came from."""

    train: LoadedData
    dev: LoadedData | None
    """``None`` with ``--dev-fraction 0`` and no ``--dev``: nothing is held out."""
    test: LoadedData | None
    dev_carved: bool

    def by_flag(self) -> dict[str, LoadedData]:
        """The splits read, keyed by the flag that named them (a carved dev under ``--dev``)."""
        splits = {"--train": self.train, "--dev": self.dev, "--test": self.test}
        return {flag: loaded for flag, loaded in splits.items() if loaded is not None}

    def fingerprints(self) -> dict[str, str]:
        return {flag: loaded.fingerprint for flag, loaded in self.by_flag().items()}

    def describe(self, flag: str) -> str:
        """How an error names a split: its flag and source, or where a carved dev came from."""
        if flag == "--dev" and self.dev_carved:
            return f"the dev carved from --train {self.train.source}"
        loaded = self.by_flag().get(flag)
        return f"{flag} {loaded.source}" if loaded else f"{flag} (not given now)"


def load_run_data(config: TrainingConfig, commits: dict[str, str] | None = None) -> RunData:
    """Read and check train/dev/test; carve dev from train when no dev source is given (and asked to).

    ``commits`` (per flag) pins a Hub dataset id to the commit the Hub said its revision points to
    (:func:`_data_commits`), which the split records; one without a commit is read at its
    ``--*-revision`` and records none (the Hub could not be asked: ``datasets`` then reads its cache).
    """
    commits = commits or {}

    def load(role: str, source: str) -> LoadedData:
        commit = commits.get(f"--{role}")
        revision = commit or getattr(config, f"{role}_revision")
        split = getattr(config, f"{role}_split")
        loaded = load_training_records(source, split, config.on_invalid, role, config.task, revision)
        return replace(loaded, commit=commit)

    train_data = load("train", config.train)
    if config.dev:
        dev_data = load("dev", config.dev)
        overlap = {r["id"] for r in train_data.records} & {r["id"] for r in dev_data.records}
        if overlap:
            logger.warning(
                "%d dev record ids also occur in --train (first: %s)", len(overlap), sorted(overlap)[:3]
            )
        dev_carved = False
    elif config.dev_fraction == 0:
        logger.info("--dev-fraction 0: no dev, so no best-checkpoint choice and no early stopping")
        dev_data, dev_carved = None, False
    else:
        train_records, dev_records = carve_dev_split(train_data.records, config.dev_fraction, config.seed)
        dev_data = replace(train_data, records=dev_records, num_invalid=0)
        train_data = replace(train_data, records=train_records)
        dev_carved = True
    test_data = load("test", config.test) if config.test else None
    return RunData(train=train_data, dev=dev_data, test=test_data, dev_carved=dev_carved)


def _base_commit(config: TrainingConfig, resume_from: str | None, accelerator: Accelerator) -> str | None:
    """The Hub commit to load ``--encoder`` or ``--init`` at: a resumed run's own (its tokenizer must be
    the one it trained with, even if the revision moved since), else the one the main process resolves
    now, shared with every process (a push landing between two resolutions would otherwise start
    them from different weights)."""
    saved = saved_trainer_state(resume_from).get("base_commit") if resume_from else None
    if saved:
        return saved
    return broadcast_object_list([student.base_commit(config) if accelerator.is_main_process else None])[0]


def _data_commits(
    config: TrainingConfig, resume_from: str | None, accelerator: Accelerator
) -> dict[str, str]:
    """Per data flag naming a Hub dataset id, the commit to read it at: a resumed run's own (a push since
    would otherwise refuse the resume as other data), else the one its revision points to now, resolved
    by the main process and shared (every process must read the same records)."""
    saved = (saved_trainer_state(resume_from).get("data_commits") or {}) if resume_from else {}
    ask = [role for role in DATA_ROLES if f"--{role}" not in saved]
    resolved = _hub_data_commits(config, ask) if accelerator.is_main_process else None
    return {**broadcast_object_list([resolved])[0], **saved}


def _hub_data_commits(config: TrainingConfig, roles: Sequence[str]) -> dict[str, str]:
    """Per flag of ``roles`` naming a Hub dataset id, the commit its ``--*-revision`` (default main)
    points to now; a flag the Hub cannot answer for (offline) is left out and read at its revision."""
    from adekd.corpora import CorpusError, detect_source
    from adekd.hub import hub_commit

    commits = {}
    for role in roles:
        source = getattr(config, role)
        try:  # a local file or folder is no Hub id, and need not be read to tell
            is_hub = source is not None and not os.path.exists(source) and detect_source(source) == "hub"
        except CorpusError:  # no such file: reading it says so, with the flag
            is_hub = False
        commit = hub_commit(source, "dataset", getattr(config, f"{role}_revision")) if is_hub else None
        if commit:
            commits[f"--{role}"] = commit
    return commits


def _make_accelerator(config: TrainingConfig) -> Accelerator:
    # `accelerate launch --multi_gpu` on a machine without accelerators starts the processes but
    # Accelerate only joins them (gloo) when told the run is on CPU; say so instead of training
    # the same model independently in every process.
    multi_process = int(os.environ.get("WORLD_SIZE", "1")) > 1
    cpu = multi_process and not torch.accelerator.is_available()
    # Accelerate keeps one state per process and refuses another mixed precision; an earlier
    # training in this process (a notebook, a sweep) must not decide this one's (as transformers'
    # Trainer does in its sweeps).
    AcceleratorState._reset_state()
    try:
        accelerator = Accelerator(
            cpu=cpu,
            mixed_precision=config.mixed_precision,
            gradient_accumulation_plugin=GradientAccumulationPlugin(
                num_steps=config.gradient_accumulation_steps
            ),
            log_with=make_trackers(config.output_dir),
            project_config=ProjectConfiguration(project_dir=config.output_dir, logging_dir=config.output_dir),
        )
    except ValueError as err:
        raise TrainingConfigError(f"--mixed-precision {config.mixed_precision}: {err}") from None
    if config.mixed_precision == "bf16" and accelerator.device.type == "cpu" and accelerator.is_main_process:
        warn_if_emulated_bf16("--mixed-precision bf16")
    return accelerator


def _optimizer(model: torch.nn.Module, config: TrainingConfig, device: torch.device) -> torch.optim.Optimizer:
    """AdamW with no decay on biases and norms, and the freshly initialised heads at their own rate.

    The fused kernel is used where the device has one (as ``Trainer`` does): on CPU the default
    per-tensor loop costs about a tenth of every step of a MiniLM student.
    """
    from torch.utils._foreach_utils import _get_fused_kernels_supported_devices

    head_lr = config.head_learning_rate or config.learning_rate
    encoder_ids = student.encoder_parameter_ids(model)
    groups: dict[tuple[bool, bool], list[torch.nn.Parameter]] = {}
    for name, parameter in model.named_parameters():
        if parameter.requires_grad:
            no_decay = parameter.ndim < 2 or "norm" in name.lower()
            groups.setdefault((id(parameter) not in encoder_ids, no_decay), []).append(parameter)
    return torch.optim.AdamW(
        [
            {
                "params": params,
                "lr": head_lr if is_head else config.learning_rate,
                "weight_decay": 0.0 if no_decay else config.weight_decay,
            }
            for (is_head, no_decay), params in sorted(groups.items(), key=lambda item: item[0])
        ],
        fused=device.type in _get_fused_kernels_supported_devices(),
    )


def _schedule_steps(config: TrainingConfig, steps_per_epoch: int) -> int:
    """Optimizer steps the warm-up and linear decay are laid out over: the run's own, unless
    ``--schedule-length`` (in the run's unit) lays them out longer than training goes."""
    length = config.planned_schedule_length()
    return length if config.max_steps else steps_per_epoch * length


def _linear_schedule(
    optimizer: torch.optim.Optimizer, warmup: int, total: int
) -> torch.optim.lr_scheduler.LambdaLR:
    def factor(step: int) -> float:
        if step < warmup:
            return (step + 1) / (warmup + 1)
        return max(0.0, (total - step) / max(1, total - warmup))

    return torch.optim.lr_scheduler.LambdaLR(optimizer, factor)


def _seeded_generator(seed: int) -> torch.Generator:
    # DataLoaders draw their worker base seed from this generator instead of the global RNG, so
    # creating a loader (or skipping batches on resume) never shifts the dropout random stream.
    return torch.Generator().manual_seed(seed)


@dataclass
class EvalSet:
    """Records to score and the prepared loader that shards them over processes (made once per run)."""

    records: list[Record]
    loader: DataLoader


def make_eval_set(accelerator: Accelerator, records: list[Record], batch_size: int) -> EvalSet:
    """Shard length-sorted ``records`` over the processes (indices only; decoding reads the records)."""
    order = sorted(range(len(records)), key=lambda i: len(records[i]["text"]))
    loader = DataLoader(order, batch_size=batch_size, collate_fn=list, generator=_seeded_generator(0))
    return EvalSet(records=records, loader=accelerator.prepare_data_loader(loader))


def evaluate(
    accelerator: Accelerator, model: torch.nn.Module, proc: AdeStudentProcessor, eval_set: EvalSet
) -> dict[str, Any]:
    """Predict the records end to end on all processes and score them with ``ade_f1``.

    Every process scores the same gathered predictions, so all of them reach the same best-model
    and stopping decision.
    """
    from adekd.metrics import score

    return score(predict(accelerator, model, proc, eval_set), eval_set.records)


def predict(
    accelerator: Accelerator, model: torch.nn.Module, proc: AdeStudentProcessor, eval_set: EvalSet
) -> list[Record]:
    """End-to-end predictions of ``eval_set`` on all processes, all of them on every process.

    Each process decodes its shard with the student's own decoding; ``gather_for_metrics`` drops
    the duplicates that pad the last batch. The order is the loader's (``ade_f1`` matches by id).
    """
    unwrapped = accelerator.unwrap_model(model)
    predictions: list[Record] = []
    was_training = unwrapped.training
    unwrapped.eval()
    with torch.inference_mode(), accelerator.autocast():
        for indices in eval_set.loader:
            predicted = student.predict(unwrapped, proc, [eval_set.records[i] for i in indices])
            predictions.extend(accelerator.gather_for_metrics(predicted, use_gather_object=True))
    unwrapped.train(was_training)
    if len(predictions) != len(eval_set.records):
        raise RuntimeError(f"gathered {len(predictions)} predictions for {len(eval_set.records)} records")
    return predictions


def _tune_thresholds(
    accelerator: Accelerator, model: torch.nn.Module, proc: AdeStudentProcessor, dev_set: EvalSet, metric: str
) -> ThresholdChoice:
    """Choose the score thresholds on dev (predicted once, unthresholded)."""
    student_config = accelerator.unwrap_model(model).config
    student_config.drug_threshold = student_config.ade_threshold = 0.0
    choice = tune_thresholds(predict(accelerator, model, proc, dev_set), dev_set.records, metric)
    logger.info(
        "score thresholds chosen on dev: drug %.2f, ADE %.2f (dev %s %.4f -> %.4f)",
        choice.drug_threshold,
        choice.ade_threshold,
        metric,
        choice.dev_without,
        choice.dev_with,
    )
    return choice


def _set_thresholds(accelerator: Accelerator, model: torch.nn.Module, choice: ThresholdChoice) -> None:
    """Make ``choice`` the student's decoding defaults (its config is saved with the weights)."""
    student_config = accelerator.unwrap_model(model).config
    student_config.drug_threshold, student_config.ade_threshold = choice.drug_threshold, choice.ade_threshold


def _flat_config(config: TrainingConfig) -> dict[str, Any]:
    """Config values as the scalar types trackers accept (lists joined)."""
    return {
        key: ",".join(map(str, value)) if isinstance(value, list) else value
        for key, value in config.to_dict().items()
    }


def _hardware(accelerator: Accelerator) -> dict[str, Any]:
    device = accelerator.device
    info: dict[str, Any] = {
        "device_type": device.type,
        "num_processes": accelerator.num_processes,
        "distributed_type": str(accelerator.distributed_type).split(".")[-1],
        "mixed_precision": accelerator.mixed_precision,
        "cpu": platform.processor() or platform.machine(),
        "cpu_count": os.cpu_count(),
        "torch_threads": torch.get_num_threads(),
    }
    if device.type == "cuda":
        info["gpu"] = torch.cuda.get_device_name(device)
    return info


def train(config: TrainingConfig, selection: dict[str, Any] | None = None) -> dict[str, Any]:
    """Train a student as ``config`` says and write it to ``config.output_dir``; returns ``metrics.json``.

    The folder ends with the student (``config.json``, safetensors weights, tokenizer), the
    ``training_config.json``, ``metrics.json``, the training logs and the resume checkpoints.
    A fresh run needs a new or empty folder; ``config.resume`` continues the run there (a finished
    one returns its ``metrics.json``) and refuses one made with other flags, another process count
    or other data (records changed under the same flags).
    ``config.refit`` trains twice (:mod:`adekd.training.refit`); ``selection`` is given to the
    second run: what the first one chose (:func:`adekd.training.refit.selection_block`), whose
    thresholds become the student's decoding defaults before the test and which ``metrics.json``
    quotes. Returns ``{}`` on processes other than the main one. Under ``accelerate launch`` the
    caller ends the process group (``adekd train`` does), so several runs can share the processes.
    """
    config.validate()
    if config.resume:
        finished = finished_run(config)  # refuses a student trained with other flags
        if finished is not None:
            # a refit student trained on all of --train, with no dev
            read = replace(config, dev_fraction=0.0) if config.refit else config
            check_same_data(
                finished_fingerprints(finished),
                load_run_data(read, finished_commits(finished)),
                f"{config.output_dir} holds a finished run of other data",
            )
            logger.info("%s holds a finished run; nothing to resume", config.output_dir)
            return finished if int(os.environ.get("RANK", "0")) == 0 else {}
    if config.refit:
        from adekd.training.refit import train_and_refit

        return train_and_refit(config)
    started = time.time()
    own = (SELECTION_DIR,) if selection is not None else ()  # a refit's selection run sits in its folder
    resume_from = None
    if config.resume:
        resume_from = find_resume_checkpoint(config, own)
    else:
        refuse_to_overwrite(config, own)
    accelerator = _make_accelerator(config)
    if resume_from:
        check_resume_processes(resume_from, accelerator.num_processes, config.batch_size)
    set_seed(config.seed)
    data_commits = _data_commits(config, resume_from, accelerator)
    data = load_run_data(config, data_commits)
    commit = _base_commit(config, resume_from, accelerator)
    model, tokenizer = student.build(config, commit)
    for flag, loaded in data.by_flag().items():
        student.check_task_labels(loaded.records, model, f"{flag} {loaded.source}")
    proc = student.processor(model, tokenizer, config.max_length)
    if config.lora:
        model = apply_lora(model, config, encoder=model.encoder, heads=model.head_module_names)
    parameters = count_parameters(model)

    windows = proc.encode_records(data.train.records, labels=True)
    sampler = LengthGroupedBatchSampler(
        [len(window.input_ids) for window in windows], config.batch_size, config.seed, config.group_by_length
    )
    train_loader = DataLoader(
        windows,
        batch_sampler=sampler,
        collate_fn=functools.partial(proc.collate, labels=True),
        num_workers=config.num_workers,
        generator=_seeded_generator(config.seed),
    )
    optimizer = _optimizer(model, config, accelerator.device)
    model, optimizer, train_loader = accelerator.prepare(model, optimizer, train_loader)
    dev_set = make_eval_set(accelerator, data.dev.records, config.eval_batch_size) if data.dev else None
    test_set = make_eval_set(accelerator, data.test.records, config.eval_batch_size) if data.test else None

    steps_per_epoch = math.ceil(len(train_loader) / config.gradient_accumulation_steps)
    total_steps = config.max_steps or steps_per_epoch * config.epochs
    schedule_steps = _schedule_steps(config, steps_per_epoch)
    warmup_steps = math.floor(schedule_steps * config.warmup_ratio)
    # Accelerate steps a prepared scheduler once per process for every optimizer step.
    scheduler = accelerator.prepare(
        _linear_schedule(
            optimizer, warmup_steps * accelerator.num_processes, schedule_steps * accelerator.num_processes
        )
    )
    state = TrainerState()
    accelerator.register_for_checkpointing(state)
    unwrapped = accelerator.unwrap_model(model)
    average = ExponentialMovingAverage(unwrapped, config.ema_decay) if config.ema_decay is not None else None
    if average is not None:
        accelerator.register_for_checkpointing(average)
    if resume_from:
        accelerator.load_state(resume_from)
        check_same_data(state.data_fingerprints, data, f"cannot resume from {resume_from}")
        logger.info("resumed from %s (step %d, epoch %d)", resume_from, state.global_step, state.epoch)
    state.data_fingerprints = data.fingerprints()
    state.data_commits = data_commits
    state.base_commit = commit
    if accelerator.is_main_process:
        config.save(config.output_dir)
    accelerator.init_trackers(TRACKER_RUN_NAME, config=_flat_config(config))
    logger.info(
        "training on %d sentences (%d windows), dev %s; %d steps of %d x %d x %d windows (%d/epoch) on %s",
        len(data.train.records),
        len(windows),
        f"none (the {'moving average of the ' if average is not None else ''}last weights are kept)"
        if data.dev is None
        else f"{len(data.dev.records)}{' carved from train' if data.dev_carved else ''}",
        total_steps,
        config.batch_size,
        config.gradient_accumulation_steps,
        accelerator.num_processes,
        steps_per_epoch,
        accelerator.device,
    )

    def save_checkpoint() -> None:
        folder = checkpoint_dir(config.output_dir, state.global_step)
        accelerator.save_state(folder)
        if accelerator.is_main_process:
            config.save(folder)
            state.save_json(folder)
            rotate_checkpoints(config.output_dir, config.save_total_limit)
        accelerator.wait_for_everyone()

    def evaluate_and_select() -> bool:
        """Score dev, keep the best weights, and say whether to stop early (never without a dev split)."""
        if dev_set is None:
            return False
        with average.applied(unwrapped) if average is not None else nullcontext():
            metrics = _scalar(evaluate(accelerator, model, proc, dev_set))
            value = float(metrics[config.metric_for_best_model])
            improved = state.best_metric is None or value > state.best_metric
            if improved:
                _save_best(accelerator, model, config.output_dir)
        state.dev_history.append({"epoch": state.epoch, "step": state.global_step, **metrics})
        accelerator.log({f"dev/{k}": v for k, v in metrics.items()}, step=state.global_step)
        if improved:
            state.best_metric, state.best_step, state.best_epoch = value, state.global_step, state.epoch
            state.evaluations_without_improvement = 0
        else:
            state.evaluations_without_improvement += 1
        logger.info(
            "epoch %d step %d: dev %s %.4f (best %.4f at step %d)",
            state.epoch,
            state.global_step,
            config.metric_for_best_model,
            value,
            state.best_metric,
            state.best_step,
        )
        patience = config.early_stopping_patience
        return patience is not None and state.evaluations_without_improvement >= patience

    progress = tqdm(
        total=total_steps,
        initial=state.global_step,
        desc="training",
        unit="step",
        disable=not accelerator.is_local_main_process,
    )
    model.train()
    running_loss, running_batches = torch.zeros((), device=accelerator.device), 0
    window_seconds, window_sentences = 0.0, 0
    while state.global_step < total_steps and not state.stopped_early:
        loader = (
            accelerator.skip_first_batches(train_loader, state.batches_in_epoch)
            if state.batches_in_epoch
            else train_loader
        )
        # The batch order is a function of the epoch alone. Accelerate's loaders re-announce their
        # own iteration count to the sampler when iterated, so both are set to our epoch: a fresh
        # loader after a resume would otherwise replay epoch 0's order.
        loader.set_epoch(state.epoch)
        sampler.set_epoch(state.epoch)
        clock, cpu_clock = (
            time.time(),
            time.process_time(),
        )  # batch loading and steps; not evaluation or saving
        for batch in loader:
            with accelerator.accumulate(model):
                loss = model(**batch).loss
                accelerator.backward(loss)
                if accelerator.sync_gradients and config.max_grad_norm:
                    accelerator.clip_grad_norm_(model.parameters(), config.max_grad_norm)
                optimizer.step()
                scheduler.step()
                optimizer.zero_grad()
            sentences = batch["input_ids"].shape[0] * accelerator.num_processes
            state.batches_in_epoch += 1
            state.sentences_seen += sentences
            running_loss += loss.detach().float()
            running_batches += 1
            window_sentences += sentences
            elapsed, clock = time.time() - clock, time.time()
            state.train_seconds += elapsed
            state.train_cpu_seconds += time.process_time() - cpu_clock
            cpu_clock = time.process_time()
            window_seconds += elapsed
            if not accelerator.sync_gradients:
                continue
            state.global_step += 1
            if average is not None:
                average.update(unwrapped)
            progress.update(1)
            if state.global_step % config.logging_steps == 0 or state.global_step == total_steps:
                mean_loss = accelerator.reduce(running_loss, reduction="mean").item() / running_batches
                speed = window_sentences / max(window_seconds, 1e-9)
                accelerator.log(
                    {
                        "train/loss": mean_loss,
                        "train/learning_rate": scheduler.get_last_lr()[0],
                        "train/sentences_per_second": speed,
                        "train/epoch": state.epoch,
                    },
                    step=state.global_step,
                )
                progress.set_postfix(loss=f"{mean_loss:.4f}", sent_s=f"{speed:.1f}", epoch=state.epoch)
                running_loss.zero_()
                running_batches, window_seconds, window_sentences = 0, 0.0, 0
            epoch_ends = state.batches_in_epoch == len(train_loader)  # its checkpoint follows the evaluation
            if config.save_steps and state.global_step % config.save_steps == 0 and not epoch_ends:
                save_checkpoint()
                clock, cpu_clock = time.time(), time.process_time()
            if state.global_step >= total_steps:
                break
        if state.batches_in_epoch >= len(train_loader):
            state.epoch += 1
            state.batches_in_epoch = 0
        state.stopped_early = evaluate_and_select()
        save_checkpoint()
    progress.close()

    if dev_set is not None:
        _load_best(accelerator, model, config.output_dir)
    elif average is not None:
        average.copy_to(unwrapped)
    thresholds = ThresholdChoice(**selection["thresholds"]) if selection and selection["thresholds"] else None
    if config.tune_thresholds:
        thresholds = _tune_thresholds(accelerator, model, proc, dev_set, config.metric_for_best_model)
    if thresholds is not None:
        _set_thresholds(accelerator, model, thresholds)
    test_metrics = evaluate(accelerator, model, proc, test_set) if test_set is not None else None
    result = _finish(
        accelerator,
        model,
        tokenizer,
        config,
        data,
        state,
        parameters,
        test_metrics,
        thresholds,
        selection,
        started,
        commit,
    )
    # Not accelerator.end_training(): it also destroys the process group, which the next run in the
    # same processes (a --refit, the next --cv fold) still needs; the entry point ends it once.
    for tracker in accelerator.trackers:
        tracker.finish()
    return result


def _scalar(metrics: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in metrics.items() if isinstance(v, int | float)}


def _save_best(accelerator: Accelerator, model: torch.nn.Module, output_dir: str) -> None:
    """Keep the best weights so far on disk, so a resumed run still has them."""
    from safetensors.torch import save_model

    if accelerator.is_main_process:
        folder = os.path.join(output_dir, BEST_DIR)
        os.makedirs(folder, exist_ok=True)
        save_model(accelerator.unwrap_model(model), os.path.join(folder, BEST_WEIGHTS))
    accelerator.wait_for_everyone()


def _load_best(accelerator: Accelerator, model: torch.nn.Module, output_dir: str) -> None:
    from safetensors.torch import load_model

    load_model(
        accelerator.unwrap_model(model), os.path.join(output_dir, BEST_DIR, BEST_WEIGHTS), device="cpu"
    )


def _finish(
    accelerator: Accelerator,
    model: torch.nn.Module,
    tokenizer: Any,
    config: TrainingConfig,
    data: RunData,
    state: TrainerState,
    parameters: ParameterCount,
    test_metrics: dict[str, Any] | None,
    thresholds: ThresholdChoice | None,
    selection: dict[str, Any] | None,
    started: float,
    base_commit: str | None,
) -> dict[str, Any]:
    """Write the best weights (loaded in ``model``; the last without dev) as the student folder, with
    ``metrics.json``."""
    best = next((entry for entry in state.dev_history if entry["step"] == state.best_step), None)
    dev_metrics = {k: v for k, v in best.items() if k not in ("epoch", "step")} if best else None
    result: dict[str, Any] = {}
    if accelerator.is_main_process:
        output = config.output_dir
        unwrapped = accelerator.unwrap_model(model)
        if config.lora:
            unwrapped.save_pretrained(os.path.join(output, ADAPTER_DIR))
        final = merge_for_saving(unwrapped)
        final.save_pretrained(output)
        tokenizer.save_pretrained(output)
        config.save(output)
        result = write_metrics(
            output,
            config=config,
            data=data,
            state=state,
            dev_metrics=dev_metrics,
            test_metrics=test_metrics,
            thresholds=thresholds,
            selection=selection,
            parameters=parameters,
            hardware=_hardware(accelerator),
            encoder=student.encoder_name(final, config),
            base_commit=base_commit,
            architecture=final.config.architecture,
            runtime_seconds=time.time() - started,
        )
        shutil.rmtree(os.path.join(output, BEST_DIR), ignore_errors=True)
        logger.info("student written to %s", output)
    accelerator.wait_for_everyone()
    return result
