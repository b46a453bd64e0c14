"""Supervised accuracy on the SpERT ADE split: a student trained on gold fold-0 train, scored on its test.

Each run trains the packaged MiniLM (offline) with ``adekd.training.train``: dev carved from fold-0
train (10%, seeded), best epoch by dev strict pair F1 with early stopping. Each run's kept model
predicts dev end to end; score thresholds are chosen on those predictions
(:func:`adekd.training.tune_thresholds`, as ``adekd train --tune-thresholds``), and per
system (an architecture, or the drug-centric head re-encoding per drug) the run with the best
thresholded dev strict pair F1 is chosen (runs differ in learning rate or in a training setting
such as ``--ema-decay``, or repeat one: a run listed twice trains twice). Only the chosen model is scored on
fold-0 test, with its thresholds, end to end (the student finds the drugs) through
``adekd.extract``, with ``ade_f1``: strict and lenient pair F1 and drug / ADE mention F1, plus
pair F1 on the test sentences with two or more gold drugs (where conditioning on the right drug
matters). The test split is never used to choose anything.

The chosen run is then refit (:mod:`adekd.training.refit`, as ``adekd train --refit``): trained
again from the same start on all of fold-0 train, dev included, for its best epoch count, keeping
the last weights and the thresholds dev chose. Its learning-rate schedule is ``--refit-schedule``'s
(default ``selection``, as ``benchmarks/refit_schedule.py`` chose on fold-0 train alone). The table
reports one of the two students, ``--report``: by default the one ``benchmarks/refit_decision.py``
decided for on fold-0 train alone (``results/refit_decision.json``; the refit before it ran), and
shows the other's test score next to it.

Runs are resumable: rerunning the same command reuses finished runs and continues interrupted
ones from their checkpoints. ``--reuse-recorded`` goes further for a run added to ``--runs`` after
the others' folders are gone: the runs the committed ``results/supervised.json`` records are read
from it (each keeps its date, machine and precision), only the new run trains, and a system is
refit and tested again only when dev chooses the new run for it.

    .venv/bin/python benchmarks/supervised.py --mixed-precision bf16  # the runs of DEFAULT_RUNS
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import time
import typing
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from inference import SYSTEMS
from machine import load_average, machine, write_results

REPO = Path(__file__).resolve().parents[1]
SPLITS = REPO.parent / "shared" / "data" / "ade_corpus" / "splits"
ANCHORS = {"SpERT": 79.2, "REBEL": 82.2, "PFN": 83.2}
"""Strict relation F1 of published systems: 10-fold means, larger encoders (context, not like for like)."""
DEFAULT_RUNS = (
    "drug_centric:1e-4,drug_centric:5e-5,drug_centric:2e-4,drug_centric:1e-4,drug_centric:1e-4:ema_decay=0.995,"
    "no_drug:1e-4,pairwise:1e-4,drug_centric_reencode:1e-4,drug_centric:1e-4:batch_size=16:mixed_precision=no"
)
REPORTED = (
    "strict_f1", "lenient_f1", "strict_precision", "strict_recall", "drug_strict_f1", "drug_lenient_f1",
    "ade_strict_f1", "ade_lenient_f1", "num_predicted", "num_gold",
)  # fmt: skip


SET_BY_THE_BENCHMARK = frozenset(
    {"train", "output_dir", "dev", "test", "encoder", "init", "architecture", "reencode_per_drug", "epochs",
     "early_stopping_patience", "learning_rate", "save_steps", "resume", "tune_thresholds", "refit"}
)  # fmt: skip
"""Training settings a run spec may not change: this script's flags, systems and procedure set them
(``--batch-size`` and ``--mixed-precision`` are defaults a run spec may change)."""


def parse_run(item: str) -> tuple[str, float, dict[str, Any]]:
    """``system:learning_rate[:field=value...]`` -> system, learning rate and training config changes.

    ``system`` is a key of ``inference.SYSTEMS`` (an architecture, or ``drug_centric_reencode``);
    ``field=value`` sets a :class:`TrainingConfig` field as its ``adekd train`` flag would
    (``drug_centric:1e-4:ema_decay=0.995`` is ``--ema-decay 0.995``). Raises ``ValueError``.
    """
    from adekd.training.arguments import add_training_arguments
    from adekd.training.config import TrainingConfig, flag_name

    system, _, rest = item.partition(":")
    learning_rate, *settings = rest.split(":")
    if system not in SYSTEMS:
        raise ValueError(f"unknown system {system!r}; choose from {', '.join(SYSTEMS)}")
    try:
        rate = float(learning_rate)
    except ValueError:
        raise ValueError(f"learning rate {learning_rate!r} is not a number") from None
    flags = add_training_arguments(argparse.ArgumentParser(exit_on_error=False))
    types = typing.get_type_hints(TrainingConfig)
    changes = {}
    for setting in settings:
        name, equals, value = setting.partition("=")
        if not equals or name not in types:
            raise ValueError(f"{setting!r} is not field=value with a TrainingConfig field")
        if name in SET_BY_THE_BENCHMARK:
            raise ValueError(f"{name} is set by this script's flags, systems or procedure, not by a run spec")
        if types[name] is bool:
            raise ValueError(f"{name} is an on/off flag; run specs change valued settings only")
        try:
            changes[name] = getattr(flags.parse_args([flag_name(name), value]), name)
        except argparse.ArgumentError as err:
            raise ValueError(f"{setting!r}: {err}") from None
    return system, rate, changes


def run_dir(
    work: Path, system: str, learning_rate: float, repeat: int = 1, changes: dict | None = None
) -> Path:
    """``repeat`` > 1: the same configuration trained again (listed twice in ``--runs``)."""
    settings = "".join(f"-{name}{value}" for name, value in (changes or {}).items())
    return work / (f"{system}-lr{learning_rate:g}{settings}" + (f"-run{repeat}" if repeat > 1 else ""))


def run_config(
    args: argparse.Namespace, system: str, learning_rate: float, repeat: int = 1, changes: dict | None = None
):
    """The :class:`TrainingConfig` of one run (see :func:`parse_run`), resuming its folder if any (a run
    cut short before its first checkpoint starts again; a fresh run would refuse the folder)."""
    from adekd.training import TrainingConfig

    output = run_dir(args.work, system, learning_rate, repeat, changes)
    return TrainingConfig(
        train=str(args.splits / f"ade_split_{args.fold}_train.json"),
        output_dir=str(output),
        encoder="minilm",
        **SYSTEMS[system],
        epochs=args.epochs,
        early_stopping_patience=args.patience,
        learning_rate=learning_rate,
        save_steps=50,
        resume=output.is_dir(),
        **{"batch_size": args.batch_size, "mixed_precision": args.mixed_precision} | (changes or {}),
    )


def read_recorded(args: argparse.Namespace) -> dict:
    """The committed results, with each run's date and machine (results written before runs kept their
    own carry the report's)."""
    path = args.results / "supervised.json"
    if not path.is_file():
        raise SystemExit(f"--reuse-recorded: no recorded results at {path}")
    report = json.loads(path.read_text())
    settings = ("fold", "epochs", "patience", "batch_size", "mixed_precision")
    differ = [
        f"--{name.replace('_', '-')} {report[name]}"
        for name in settings
        if report[name] != getattr(args, name)
    ]
    if differ:  # run names carry only what a run spec changed; these flags set the rest
        raise SystemExit(
            f"--reuse-recorded: the recorded runs were trained with {', '.join(differ)}; pass the same"
        )
    for entry in (*report["runs"].values(), *report["chosen"].values()):
        entry.setdefault("date", report["date"])
        entry.setdefault("machine", report["machine"])
        entry.setdefault("mixed_precision", report["mixed_precision"])
    return report


def train_run(config) -> dict:
    """Train one run, or read back a finished one."""
    from adekd.training import train

    finished = Path(config.output_dir) / "metrics.json"
    return json.loads(finished.read_text()) if finished.is_file() else train(config)


STUDENTS = {
    "refit": ("test", "test_without_thresholds"),
    "selection": ("test_selection_run", "test_selection_run_without_thresholds"),
}
"""Per student a chosen run yields (``--report``), its test scores with the chosen thresholds and
without any, as ``chosen`` entries of the results hold them."""


def student_scores(chosen: dict, student: str) -> tuple[dict, dict | None]:
    """Test scores of ``student`` (a key of :data:`STUDENTS`) of a chosen run, with and without
    thresholds (``None`` when not recorded: runs read back from before the latter was scored)."""
    with_thresholds, without = STUDENTS[student]
    return chosen[with_thresholds], chosen.get(without)


def decided_report() -> str:
    """The student ``benchmarks/refit_decision.py`` decided for on fold-0 train alone (``refit`` before
    it ran): the committed decision, wherever ``--results`` writes."""
    path = REPO / "benchmarks" / "results" / "refit_decision.json"
    if not path.is_file():
        return "refit"
    decision = json.loads(path.read_text()).get("decision", {})
    if "refit" not in decision:
        raise SystemExit(f"{path} holds no decision: rerun benchmarks/refit_decision.py, or pass --report")
    return "refit" if decision["refit"] else "selection"


def refit_dir(args: argparse.Namespace, name: str) -> Path:
    """Where run ``name`` is refit: a folder per schedule, so a refit on another keeps its own."""
    suffix = "" if args.refit_schedule == "own" else f"-{args.refit_schedule}"
    return args.work / f"{name}-refit{suffix}"


def refit_run(args: argparse.Namespace, name: str, thresholds: dict) -> dict:
    """Refit the chosen run ``name`` on all of fold train (dev included), or read back a finished refit."""
    from adekd.training import TrainingConfig, train
    from adekd.training.refit import refit_config, selection_block

    output = refit_dir(args, name)
    if (output / "metrics.json").is_file():
        return json.loads((output / "metrics.json").read_text())
    selection = json.loads((args.work / name / "metrics.json").read_text())
    # the `adekd train --refit` command this run and its refit make up
    command = dataclasses.replace(
        TrainingConfig.load(args.work / name), refit=True, refit_schedule=args.refit_schedule
    )
    config = dataclasses.replace(
        refit_config(command, selection), output_dir=str(output), resume=output.is_dir()
    )
    # the thresholds this benchmark chose on dev (the runs trained without --tune-thresholds)
    chosen = selection_block(selection, str(args.work / name), str(output)) | {"thresholds": thresholds}
    return train(config, selection=chosen)


def predict(folder: Path, records: list[dict], precision: str = "fp32", thresholds: dict | None = None):
    """End-to-end predictions of a trained student on ``records`` (it finds the drugs), and seconds.

    ``precision`` casts (bf16) or dynamically quantizes (int8) the trained fp32 weights the way
    ``benchmarks/inference.py`` measures their speed, so the two tables describe the same models.
    ``thresholds`` (``drug_threshold``, ``ade_threshold``): none unless given.
    """
    from inference import prepare
    from transformers import AutoModel, AutoTokenizer

    import adekd
    from adekd.modeling import load_pipeline

    model = prepare(AutoModel.from_pretrained(folder).eval(), precision)
    pipe = load_pipeline(model, tokenizer=AutoTokenizer.from_pretrained(folder))
    texts = [{"id": r["id"], "text": r["text"]} for r in records]
    cut = {"drug_threshold": 0.0, "ade_threshold": 0.0} | {
        key: thresholds[key] for key in ("drug_threshold", "ade_threshold") if thresholds
    }
    started = time.time()
    predictions = adekd.extract(texts, model=pipe, batch_size=64, **cut)
    return predictions, time.time() - started


def summarize(predictions: list[dict], gold: list[dict]) -> dict:
    """``ade_f1`` of all records and of those with two or more gold drugs."""
    from adekd.metrics import score

    multi = [r for r in gold if len(r["drugs"]) > 1]
    multi_ids = {r["id"] for r in multi}
    all_scores = score(predictions, gold)
    multi_scores = score([p for p in predictions if p["id"] in multi_ids], multi)
    return {
        "all": {key: all_scores[key] for key in REPORTED} | {"num_records": len(gold)},
        "multi_drug": {key: multi_scores[key] for key in ("strict_f1", "lenient_f1", "num_gold")}
        | {"num_records": len(multi)},
    }


def score_end_to_end(folder: Path, gold: list[dict], precision: str = "fp32", thresholds: dict | None = None):
    predictions, seconds = predict(folder, gold, precision, thresholds)
    return summarize(predictions, gold) | {"extract_seconds": round(seconds, 2)}


def dev_split(train_records: list[dict], folder: Path) -> list[dict]:
    """The dev records a run carved from fold train (its fraction and seed), to score every run's kept
    model the same way: end to end, with the decoding of this code, not of the code it trained with."""
    from adekd.training.data import carve_dev_split

    config = json.loads((folder / "training_config.json").read_text())
    return carve_dev_split(train_records, config["dev_fraction"], config["seed"])[1]


def _rates(run: dict) -> str:
    head = run.get("head_learning_rate")
    return f"{run['learning_rate']:g}" + ("" if head is None else f" ({head:g})")


def now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")


def trained_here(folder: Path, mixed_precision: str) -> dict:
    """What a run or refit in ``folder`` records of itself, as ``--reuse-recorded`` reads it back: when it
    finished (its ``metrics.json`` was written; a finished run read back keeps its own date)."""
    finished = datetime.fromtimestamp((folder / "metrics.json").stat().st_mtime, UTC)
    return {
        "date": finished.strftime("%Y-%m-%d %H:%M UTC"),
        "machine": machine(),
        "mixed_precision": mixed_precision,
    }


def _trained(entry: dict, report: dict) -> str:
    """When and at which precision a run trained: runs read back with ``--reuse-recorded`` keep theirs."""
    date = entry.get("date", report["date"])
    precision = entry.get("mixed_precision", report["mixed_precision"])
    return f"{date[:10]}, {'fp32' if precision == 'no' else precision}"


def _refit_schedule(chosen: dict) -> str:
    """The refit's learning-rate schedule (refits recorded before there was a choice followed their own)."""
    return chosen["refit"].get("schedule", "own")


def pct(value: float) -> str:
    return f"{100 * value:.1f}"


def markdown(report: dict) -> str:
    student = report.get("report", "refit")  # results written before --report reported the refit
    other = "selection" if student == "refit" else "refit"
    lines = [
        "# Supervised ADE extraction: SpERT fold 0, packaged MiniLM",
        "",
        f"Command: `{report['command']}`  ",
        f"Machine: {report['machine']['cpu']}, {report['machine']['cores']} cores, "
        f"torch threads {report['threads']}, mixed precision {report['mixed_precision']} unless a run "
        "name says otherwise; "
        "shared with other jobs (load averages in the JSON).  ",
        f"Date: {report['date']}"
        + (
            "  \nRuns recorded by an earlier invocation were read back (`--reuse-recorded`), not trained "
            "again: the `trained` columns give each run's date and precision, the JSON its machine."
            if "--reuse-recorded" in report["command"]
            else ""
        ),
        "",
        f"Train: fold-{report['fold']} train minus a 10% dev carved from it (seed 42); best epoch by dev "
        f"strict pair F1 during training (early stopping patience {report['patience']}, at most "
        f"{report['epochs']} epochs, batch {report['batch_size']} unless a run name says otherwise). "
        "Each run's kept model then predicts dev end to end with this code, the drug and ADE score "
        "thresholds are chosen on those predictions "
        "(`adekd train --tune-thresholds`'s grid), and the run with the best thresholded dev strict pair "
        "F1 is chosen per system. The chosen run is then refit (`adekd train --refit`): trained "
        f"again from the same start on all of fold-{report['fold']} train, dev included, for its best epoch "
        "count, keeping the last weights and the chosen thresholds; its learning rate follows the "
        "schedule of the `refit schedule` column: `selection` is the selection run's (laid out for "
        f"{report['epochs']} epochs, stopped at the chosen one), `own` decays to zero over the refit's "
        "epochs (`--refit-schedule`; `selection` was chosen by `refit_schedule.md`, on fold-0 train "
        "alone). "
        + (
            "The refit students are the reported ones (decided before any was scored). "
            if student == "refit"
            else "The chosen runs themselves, before any refit, are the reported students: "
            "`refit_decision.md` decided so on fold-0 train alone, by a rule fixed before its draws "
            "trained (the question itself was asked after the refits had scored lower on test); the refits "
            "are shown for context. "
        )
        + f"Test: fold-{report['fold']} test, end to end (the student finds the drugs), with the chosen "
        "thresholds; the columns without thresholds and of "
        + ("the chosen run before its refit" if student == "refit" else "each chosen run's refit")
        + " are shown for "
        "what each step adds, not used to choose anything. Systems: `drug_centric` (one encoder pass per "
        "sentence, the drug-centric head on it), `drug_centric_reencode` (the same head on one more pass "
        "per drug, with the drug marked: `--reencode-per-drug`), and the baselines `no_drug` (ADE mentions "
        "attached to every drug) and `pairwise` (one marked pass per drug/ADE candidate pair).",
        "",
        f"## Test (fold 0), {'refit students' if student == 'refit' else 'chosen runs (no refit)'}",
        "",
        *(
            [
                "The refits differ in schedule: those recorded before the chosen one was run were read "
                "back (`--reuse-recorded`), and their runs' folders, which a new refit reads, are gone. "
                + (
                    "The columns before the refit compare the systems alike."
                    if student == "refit"
                    else "The reported students compare the systems alike."
                ),
                "",
            ]
            if len({_refit_schedule(chosen) for chosen in report["chosen"].values()}) > 1
            else []
        ),
        "| system (chosen run) | lr (head lr) | epochs | thresholds drug / ADE | strict pair F1 "
        "| lenient pair F1 | strict / lenient without thresholds "
        f"| strict / lenient {'before the refit' if student == 'refit' else 'of its refit'} "
        "| drug F1 strict / lenient | ADE F1 strict / lenient | multi-drug strict / lenient pair F1 "
        "| refit schedule | trained |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|---|",
    ]
    for system, chosen in report["chosen"].items():
        scores, bare = student_scores(chosen, student)
        test, multi, besides = scores["all"], scores["multi_drug"], student_scores(chosen, other)[0]["all"]
        cells = [
            f"{system} (`{chosen['run']}`)",
            _rates(chosen),
            str(chosen["best_epoch"]),
            f"{chosen['thresholds']['drug_threshold']:g} / {chosen['thresholds']['ade_threshold']:g}",
            pct(test["strict_f1"]),
            pct(test["lenient_f1"]),
            "n/a" if bare is None else f"{pct(bare['all']['strict_f1'])} / {pct(bare['all']['lenient_f1'])}",
            f"{pct(besides['strict_f1'])} / {pct(besides['lenient_f1'])}",
            f"{pct(test['drug_strict_f1'])} / {pct(test['drug_lenient_f1'])}",
            f"{pct(test['ade_strict_f1'])} / {pct(test['ade_lenient_f1'])}",
            f"{pct(multi['strict_f1'])} / {pct(multi['lenient_f1'])} ({multi['num_records']} sentences)",
            _refit_schedule(chosen),
            _trained(chosen if student == "refit" else report["runs"].get(chosen["run"], chosen), report),
        ]
        lines.append("| " + " | ".join(cells) + " |")
    unscored = [
        system for system, chosen in report["chosen"].items() if student_scores(chosen, student)[1] is None
    ]
    if unscored:
        lines += [
            "",
            f"n/a: {', '.join(unscored)} were read back (`--reuse-recorded`) from results written before "
            "this student was scored without thresholds, and their runs' folders are gone.",
        ]
    drug_centric = report["chosen"].get("drug_centric")
    fp32 = student_scores(drug_centric, student)[0]["all"] if drug_centric else None
    if report.get("drug_centric_precisions") and fp32:
        lines += [
            "",
            f"## What lower precision costs (the {'refit' if student == 'refit' else 'reported'} "
            "drug-centric student, same test sentences)",
            "",
            "The trained fp32 weights cast to bf16, or every `nn.Linear` dynamically quantized to int8 "
            "(a scale per output channel), as `benchmarks/inference.py` runs them for speed "
            "(same thresholds).",
            "",
            "| precision | strict pair F1 | lenient pair F1 | change vs fp32 (strict / lenient) |",
            "|---|---:|---:|---:|",
            f"| fp32 | {pct(fp32['strict_f1'])} | {pct(fp32['lenient_f1'])} | |",
        ]
        for precision, result in report["drug_centric_precisions"].items():
            test = result["all"]
            strict = 100 * (test["strict_f1"] - fp32["strict_f1"])
            lenient = 100 * (test["lenient_f1"] - fp32["lenient_f1"])
            lines.append(
                f"| {precision} | {pct(test['strict_f1'])} | {pct(test['lenient_f1'])} "
                f"| {strict:+.1f} / {lenient:+.1f} |"
            )
    lines += [
        "",
        "Targets (drug-centric, this CPU): strict pair F1 >= 75, lenient >= 85. Published strict relation F1 "
        "(10-fold means, larger encoders, for context): "
        + ", ".join(f"{name} {value}" for name, value in ANCHORS.items())
        + ".",
        "",
        "## All runs (dev = carved from fold-0 train; selection uses these columns only)",
        "",
        "A `-run2` run trains the configuration of the run of the same name again, from the same seed: "
        "on this CPU training is not bitwise repeatable (the losses agree to three decimals for about "
        "50 steps, then drift apart), so the repeat is a second draw, and dev chooses between the two. "
        "A `-field value` part of a run name is a training setting changed from the defaults: "
        "`-ema_decay0.995` is `--ema-decay 0.995` (dev scores and kept weights are a moving average of "
        "the weights), `-batch_size16-mixed_precisionno` is `--batch-size 16 --mixed-precision no`.",
        "",
        "| run | epochs trained | best epoch | dev strict / lenient pair F1 | thresholds drug / ADE "
        "| dev strict pair F1 thresholded | train minutes | train sentences/s | trained |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---|",
    ]
    for name, run in report["runs"].items():
        cells = [
            name,
            str(run["epochs_completed"]),
            str(run["best_epoch"]),
            f"{pct(run['dev_strict_f1'])} / {pct(run['dev_lenient_f1'])}",
            f"{run['thresholds']['drug_threshold']:g} / {run['thresholds']['ade_threshold']:g}",
            pct(run["dev_strict_f1_thresholded"]),
            f"{run['train_seconds'] / 60:.1f}",
            str(run["train_sentences_per_second"]),
            _trained(run, report),
        ]
        lines.append("| " + " | ".join(cells) + " |")
    lines += [
        "",
        "Refits (all of fold-0 train, no dev):",
        "",
        "| refit of | train sentences | epochs | refit schedule | train minutes | train sentences/s "
        "| trained |",
        "|---|---:|---:|---|---:|---:|---|",
    ]
    for chosen in report["chosen"].values():
        refit = chosen["refit"]
        lines.append(
            f"| {chosen['run']} | {refit['train_records']} | {refit['epochs']} | {_refit_schedule(chosen)} "
            f"| {refit['train_seconds'] / 60:.1f} | {refit['train_sentences_per_second']} "
            f"| {_trained(chosen, report)} |"
        )
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--runs",
        default=DEFAULT_RUNS,
        help=f"system:learning_rate[:field=value...] runs to train, systems: {', '.join(SYSTEMS)}; "
        "field=value changes a TrainingConfig field; a run listed twice is trained twice (run2)",
    )
    parser.add_argument("--fold", type=int, default=0)
    parser.add_argument("--splits", type=Path, default=SPLITS)
    parser.add_argument("--work", type=Path, default=Path("/tmp/adekd-supervised"))
    parser.add_argument("--epochs", type=int, default=12)
    parser.add_argument("--patience", type=int, default=3)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--mixed-precision", default="bf16", choices=("no", "bf16"))
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--results", type=Path, default=REPO / "benchmarks" / "results")
    parser.add_argument(
        "--refit-schedule",
        choices=("own", "selection"),
        default="selection",
        help="the refits' learning-rate schedule (adekd train --refit-schedule); selection is what "
        "benchmarks/refit_schedule.py chose on fold-0 train alone",
    )
    parser.add_argument(
        "--report",
        choices=tuple(STUDENTS),
        help="the student the table reports: each chosen run's refit, or the chosen run itself; default: "
        "what benchmarks/refit_decision.py decided on fold-0 train alone (refit before it ran)",
    )
    parser.add_argument(
        "--reuse-recorded",
        action="store_true",
        help="runs whose folders are not in --work are read from --results/supervised.json when it "
        "records them (a system whose choice stays keeps its recorded refit and test scores): a run "
        "added to --runs trains alone, not with every recorded run again",
    )
    args = parser.parse_args()
    args.report = args.report or decided_report()

    import torch

    from adekd.corpora import load_records
    from adekd.training import TrainingConfigError, tune_thresholds

    torch.set_num_threads(args.threads)
    load_before = load_average()
    runs: dict[str, dict] = {}
    by_system: dict[str, list[tuple[str, float, dict]]] = {}
    train_records = load_records(args.splits / f"ade_split_{args.fold}_train.json")
    planned = []  # every run spec checked before the first one trains
    seen: dict[str, int] = {}
    for item in args.runs.split(","):
        try:
            system, learning_rate, changes = parse_run(item)
            first = run_dir(args.work, system, learning_rate, 1, changes).name
            repeat = seen[first] = seen.get(first, 0) + 1
            config = run_config(args, system, learning_rate, repeat, changes).validate()
        except (ValueError, TrainingConfigError) as err:
            parser.error(f"--runs {item}: {err}")
        planned.append((system, learning_rate, changes, config))
    recorded = read_recorded(args) if args.reuse_recorded else None
    reused = set()  # runs read from the record: their refit and test scores are recorded too
    for system, learning_rate, changes, config in planned:
        name = Path(config.output_dir).name
        if recorded and not Path(config.output_dir).exists() and name in recorded["runs"]:
            reused.add(name)
            runs[name] = recorded["runs"][name]
            by_system.setdefault(system, []).append((name, learning_rate, runs[name]))
            print(f"{name}: recorded on {runs[name]['date']}, not trained again")
            continue
        metrics = train_run(config)
        best = next(h for h in metrics["dev_history"] if h["step"] == metrics["best"]["step"])
        dev_records = dev_split(train_records, args.work / name)
        dev_predictions, _ = predict(args.work / name, dev_records)
        dev = summarize(dev_predictions, dev_records)["all"]
        thresholds = tune_thresholds(dev_predictions, dev_records).to_dict()
        runs[name] = {
            "system": system,
            "learning_rate": learning_rate,
            "changes": changes,
            "head_learning_rate": json.loads((args.work / name / "training_config.json").read_text())[
                "head_learning_rate"
            ],
            "epochs_completed": metrics["training"]["epochs_completed"],
            "best_epoch": metrics["best"]["epoch"],
            "dev_strict_f1_in_training": best["strict_f1"],
            "dev_strict_f1": dev["strict_f1"],
            "dev_lenient_f1": dev["lenient_f1"],
            "thresholds": thresholds,
            "dev_strict_f1_thresholded": thresholds["dev_with"],
            "train_seconds": metrics["training"]["train_seconds"],
            "train_sentences_per_second": metrics["training"]["train_sentences_per_second"],
            "dev_history": metrics["dev_history"],
            **trained_here(args.work / name, config.mixed_precision),
        }
        by_system.setdefault(system, []).append((name, learning_rate, runs[name]))
        print(f"{name}: dev strict pair F1 {dev['strict_f1']:.4f}, thresholded {thresholds['dev_with']:.4f}")

    test = load_records(args.splits / f"ade_split_{args.fold}_test.json")
    chosen = {}
    for system, candidates in by_system.items():
        name, learning_rate, run = max(candidates, key=lambda c: c[2]["dev_strict_f1_thresholded"])
        if name in reused and recorded["chosen"].get(system, {}).get("run") == name:
            chosen[system] = recorded["chosen"][system]
            print(f"{system}: chose {name} again, its recorded refit and test scores stand")
            recorded_schedule = _refit_schedule(chosen[system])
            if recorded_schedule != args.refit_schedule:  # its run's folder is gone: no refit here
                print(
                    f"{system}: its recorded refit followed --refit-schedule {recorded_schedule}; a refit "
                    f"with {args.refit_schedule} needs {name} trained again without --reuse-recorded"
                )
            continue
        if not (args.work / name).is_dir():
            parser.error(
                f"{system} chose {name}, whose folder is gone from {args.work} and whose refit the "
                "recorded results do not hold: train it again without --reuse-recorded"
            )
        refit = refit_run(args, name, run["thresholds"])
        refit_folder = refit_dir(args, name)
        chosen[system] = {
            "run": name,
            "learning_rate": learning_rate,
            "changes": run["changes"],
            "head_learning_rate": run["head_learning_rate"],
            "best_epoch": run["best_epoch"],
            "dev_strict_f1": run["dev_strict_f1_thresholded"],
            "thresholds": run["thresholds"],
            "refit": {
                "train_records": refit["train"]["num_records"],
                "epochs": refit["training"]["epochs_completed"],
                "schedule": args.refit_schedule,
                "train_seconds": refit["training"]["train_seconds"],
                "train_sentences_per_second": refit["training"]["train_sentences_per_second"],
            },
            "test": score_end_to_end(refit_folder, test, thresholds=run["thresholds"]),
            "test_without_thresholds": score_end_to_end(refit_folder, test),
            "test_selection_run": score_end_to_end(args.work / name, test, thresholds=run["thresholds"]),
            "test_selection_run_without_thresholds": score_end_to_end(args.work / name, test),
            **trained_here(refit_folder, run["mixed_precision"]),
        }
        print(
            f"{system}: test strict pair F1 of the {args.report} student "
            f"{student_scores(chosen[system], args.report)[0]['all']['strict_f1']:.4f}",
            flush=True,
        )

    precisions = {}
    if (
        "drug_centric" in chosen
        and recorded
        and chosen["drug_centric"] is recorded["chosen"].get("drug_centric")
        and recorded.get("report", "refit") == args.report
    ):
        precisions = recorded["drug_centric_precisions"]
    elif "drug_centric" in chosen:
        run = chosen["drug_centric"]["run"]
        folder = refit_dir(args, run) if args.report == "refit" else args.work / run
        if not folder.is_dir():
            raise SystemExit(
                f"the {args.report} student of {run} is gone from {args.work}: its precision costs "
                "cannot be measured (train it again without --reuse-recorded)"
            )
        for precision in ("bf16", "int8"):
            precisions[precision] = score_end_to_end(
                folder, test, precision, thresholds=chosen["drug_centric"]["thresholds"]
            )
            print(f"drug_centric {precision}: test strict pair F1 "
                  f"{precisions[precision]['all']['strict_f1']:.4f}", flush=True)  # fmt: skip

    report = {
        "command": f"python benchmarks/supervised.py --runs {args.runs} --epochs {args.epochs} "
        f"--patience {args.patience} --batch-size {args.batch_size} "
        f"--mixed-precision {args.mixed_precision} --threads {args.threads}"
        + f" --refit-schedule {args.refit_schedule} --report {args.report}"
        + (" --reuse-recorded" if args.reuse_recorded else ""),
        "date": now(),
        "machine": machine(),
        "load_average_before": load_before,
        "load_average_after": load_average(),
        "threads": args.threads,
        "fold": args.fold,
        "epochs": args.epochs,
        "patience": args.patience,
        "batch_size": args.batch_size,
        "mixed_precision": args.mixed_precision,
        "refit_schedule": args.refit_schedule,
        "report": args.report,
        "anchors_strict_relation_f1": ANCHORS,
        "chosen": chosen,
        "drug_centric_precisions": precisions,
        "runs": runs,
        "omp_num_threads": os.environ.get("OMP_NUM_THREADS"),
    }
    write_results(args.results, "supervised", report, markdown)


if __name__ == "__main__":
    main()
