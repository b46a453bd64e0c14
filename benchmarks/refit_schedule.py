"""Which learning-rate schedule a refit should follow, decided without the test split.

``adekd train --refit`` trains again on all of ``--train`` for the epoch count dev chose. With
``--refit-schedule own`` the refit's learning rate warms up and decays to zero over that shorter
run; with ``selection`` it follows the schedule its selection run was laid out on (``--epochs``)
and stops at the chosen epoch, where the selection's learning rate still was. On ADE fold 0 every
refit scored below its own selection run on test (``supervised.md``), but choosing the schedule
from those test scores would tune on test. This benchmark decides on training data only: fold-0
train is cut into an outer train (90%) and a held-out tenth (the dev ``supervised.py``'s runs carved,
seed 42); ``adekd train --refit --tune-thresholds`` runs on the outer train (its selection carves its
own dev from it), and both schedules refit from the one selection run. Each student is scored end to
end on the held-out tenth with the thresholds the selection chose.

The decision rule, fixed before any refit was scored: ``supervised.py`` refits with the schedule
whose student scores the higher strict pair F1 on the held-out tenth in the first draw (seed 42); a
tie keeps ``own``. Later draws (``--seeds 42,43``: each seed retrains the selection, with its own dev,
and both refits) were run after the choice, to show how much a draw moves the scores; they do not
change it. The selection run's own score is shown for context (it trained on less data).

    .venv/bin/python benchmarks/refit_schedule.py  # the drug-centric run dev chose in supervised.md
"""

from __future__ import annotations

import argparse
import json
import shutil
from pathlib import Path

from machine import load_average, machine, write_results
from supervised import REPO, SPLITS, now, pct, score_end_to_end

SCHEDULES = ("own", "selection")
NO_REFIT = "selection run (no refit)"


def outer_split(args: argparse.Namespace) -> tuple[Path, Path, list[dict]]:
    """Fold train minus the held-out tenth, and the tenth, written as records files in ``--work`` (left
    alone when they hold those records already: a run training from them may be reading them)."""
    from adekd.records import read_jsonl, write_jsonl
    from adekd.training.data import carve_dev_split, load_training_records

    fold_train = load_training_records(str(args.splits / f"ade_split_{args.fold}_train.json"))
    outer_train, held_out = carve_dev_split(fold_train.records, 0.1, 42)
    args.work.mkdir(parents=True, exist_ok=True)
    train_file, held_out_file = args.work / "outer_train.jsonl", args.work / "outer_dev.jsonl"
    for records, path in ((outer_train, train_file), (held_out, held_out_file)):
        if not path.is_file() or read_jsonl(path) != records:
            write_jsonl(records, path)
    return train_file, held_out_file, held_out


def run_dir(args: argparse.Namespace, seed: int, schedule: str) -> Path:
    """The ``adekd train --refit`` output of one draw and schedule (its selection run in ``selection/``)."""
    return args.work / f"seed{seed}" / schedule


def refit_label(schedule: str) -> str:
    """The row name of the student refit with ``schedule``."""
    return f"refit, `--refit-schedule {schedule}`"


def refit_with(
    args: argparse.Namespace, seed: int, schedule: str, train_file: Path, held_out_file: Path
) -> dict:
    """``adekd train --refit`` on the outer train with ``schedule``, or its finished run read back; the
    ``selection`` refit starts from the ``own`` command's selection run (copied) where there is one, so
    both refit one run."""
    from adekd.training import TrainingConfig, train

    output = run_dir(args, seed, schedule)
    if (output / "metrics.json").is_file():
        return json.loads((output / "metrics.json").read_text())
    own_selection = run_dir(args, seed, SCHEDULES[0]) / "selection"
    if schedule != SCHEDULES[0] and not output.exists() and own_selection.is_dir():
        shutil.copytree(own_selection, output / "selection")
    config = TrainingConfig(
        train=str(train_file),
        test=str(held_out_file),
        output_dir=str(output),
        encoder="minilm",
        architecture="drug_centric",
        batch_size=args.batch_size,
        mixed_precision=args.mixed_precision,
        learning_rate=args.learning_rate,
        epochs=args.epochs,
        early_stopping_patience=args.patience,
        save_steps=50,
        tune_thresholds=True,
        refit=True,
        refit_schedule=schedule,
        seed=seed,
        resume=output.exists(),
    )
    return train(config)


def draw(args: argparse.Namespace, seed: int, train_file: Path, held_out_file: Path, held_out: list) -> dict:
    """One selection run (``seed``) and its two refits, each scored on the held-out tenth."""
    refits = {schedule: refit_with(args, seed, schedule, train_file, held_out_file) for schedule in SCHEDULES}
    selection_dir = run_dir(args, seed, SCHEDULES[0]) / "selection"
    selection = json.loads((selection_dir / "metrics.json").read_text())
    thresholds = selection["thresholds"]
    peak = args.learning_rate
    students = {
        NO_REFIT: {
            "train_records": selection["train"]["num_records"],
            "epochs": selection["best"]["epoch"],
            "last_learning_rate_of_peak": None,  # not where it stopped: dev chose an earlier epoch
            "held_out": score_end_to_end(selection_dir, held_out, thresholds=thresholds),
        }
    }
    for schedule, metrics in refits.items():
        folder = run_dir(args, seed, schedule)
        students[refit_label(schedule)] = {
            "train_records": metrics["train"]["num_records"],
            "epochs": metrics["training"]["epochs_completed"],
            "last_learning_rate_of_peak": last_learning_rate(folder) / peak,
            "train_seconds": metrics["training"]["train_seconds"],
            "held_out": score_end_to_end(folder, held_out, thresholds=thresholds),
        }
    return {
        "seed": seed,
        "outer_train_records": selection["train"]["num_records"] + selection["dev"]["num_records"],
        "selected_epoch": selection["best"]["epoch"],
        "thresholds": thresholds,
        "students": students,
    }


def last_learning_rate(folder: Path) -> float:
    """The encoder's learning rate at a run's last logged step."""
    rows = [json.loads(line) for line in (folder / "training_log.jsonl").read_text().splitlines()]
    return [row["train/learning_rate"] for row in rows if "train/learning_rate" in row][-1]


def markdown(report: dict) -> str:
    draws = report["draws"]
    lines = [
        f"# Refit schedule: SpERT fold {report['fold']} train only, packaged MiniLM",
        "",
        f"Command: `{report['command']}`  ",
        f"Machine: {report['machine']['cpu']}, {report['machine']['cores']} cores, mixed precision "
        f"{report['mixed_precision']}.  ",
        f"Date: {report['date']}",
        "",
        f"Outer train: fold-{report['fold']} train minus a held-out tenth ({report['held_out_records']} "
        f"sentences, the dev `supervised.py` carves: seed 42). `adekd train --refit --tune-thresholds` on "
        f"the outer train ({report['outer_train_records']} sentences; drug-centric, lr "
        f"{report['learning_rate']:g}, batch {report['batch_size']}, at most {report['epochs']} epochs, "
        f"patience {report['patience']}, seed as the draw's): its selection run carves its own dev and "
        "chooses the epoch, and both schedules refit from that one run. Scores: end to end on the "
        "held-out tenth, with the selection's thresholds. Fold-0 test is not read.",
        "",
        "| draw (seed) | student | trained on | epochs | learning rate at its last step (of peak) "
        "| strict pair F1 | lenient pair F1 | drug F1 strict | ADE F1 strict |",
        "|---:|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for one in draws:
        for name, row in one["students"].items():
            scores = row["held_out"]["all"]
            rate = row["last_learning_rate_of_peak"]
            lines.append(
                f"| {one['seed']} | {name} | {row['train_records']} | {row['epochs']} "
                f"| {'' if rate is None else f'{rate:.2f}'} | {pct(scores['strict_f1'])} "
                f"| {pct(scores['lenient_f1'])} | {pct(scores['drug_strict_f1'])} "
                f"| {pct(scores['ade_strict_f1'])} |"
            )
    lines += [
        "",
        "Decision rule (fixed before any refit was scored): the schedule whose refit scores the higher "
        f"strict pair F1 in the first draw (seed {draws[0]['seed']}); a tie keeps `own`. **Chosen: "
        f"`{report['chosen']}`.** Each draw scores {report['held_out_records']} sentences once"
        + (
            "; the later draws were run after the choice, to show the spread, and do not change it."
            if len(draws) > 1
            else ": a gap of a point is within what a second draw moves."
        ),
    ]
    unrefit_first = [
        one["seed"]
        for one in draws
        if max(one["students"], key=lambda name: one["students"][name]["held_out"]["all"]["strict_f1"])
        == NO_REFIT
    ]
    if unrefit_first:
        lines += [
            "",
            f"In draw(s) {', '.join(map(str, unrefit_first))} the selection run without a refit, on a tenth "
            "less data, scored above both refits: this benchmark chooses between the schedules, not "
            "whether to refit at all.",
        ]
    return "\n".join(lines) + "\n"


def draw_parser(description: str, seeds: list[int], seeds_help: str) -> argparse.ArgumentParser:
    """The flags of the refit benchmarks: the fold, where the outer split and the draws' runs go, and
    the settings every draw trains with."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--fold", type=int, default=0)
    parser.add_argument("--splits", type=Path, default=SPLITS)
    parser.add_argument("--work", type=Path, default=Path("/tmp/adekd-refit-schedule"))
    parser.add_argument("--learning-rate", type=float, default=1e-4)
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--mixed-precision", default="no", choices=("no", "bf16"))
    parser.add_argument("--epochs", type=int, default=12)
    parser.add_argument("--patience", type=int, default=3)
    parser.add_argument(
        "--seeds", type=lambda text: [int(seed) for seed in text.split(",")], default=seeds, help=seeds_help
    )
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--results", type=Path, default=REPO / "benchmarks" / "results")
    return parser


def command(script: str, args: argparse.Namespace) -> str:
    """The command line that repeats a run of ``script`` (the folders left out: they are this machine's)."""
    return f"python benchmarks/{script} " + " ".join(
        f"--{name.replace('_', '-')} {','.join(map(str, value)) if isinstance(value, list) else value}"
        for name, value in vars(args).items()
        if name not in ("splits", "results", "work")
    )


def main() -> None:
    parser = draw_parser(__doc__.split("\n\n")[0], [42], "one draw per seed; the first decides")
    args = parser.parse_args()

    import torch

    torch.set_num_threads(args.threads)
    load_before = load_average()
    train_file, held_out_file, held_out = outer_split(args)
    draws = [draw(args, seed, train_file, held_out_file, held_out) for seed in args.seeds]
    first = draws[0]["students"]
    strict = {
        schedule: first[refit_label(schedule)]["held_out"]["all"]["strict_f1"] for schedule in SCHEDULES
    }
    report = {
        "command": command("refit_schedule.py", args),
        "date": now(),
        "machine": machine(),
        "load_average_before": load_before,
        "load_average_after": load_average(),
        "fold": args.fold,
        "learning_rate": args.learning_rate,
        "batch_size": args.batch_size,
        "mixed_precision": args.mixed_precision,
        "epochs": args.epochs,
        "patience": args.patience,
        "outer_train_records": draws[0]["outer_train_records"],
        "held_out_records": len(held_out),
        "draws": draws,
        "chosen": "selection" if strict["selection"] > strict["own"] else "own",
    }
    print(write_results(args.results, "refit_schedule", report, markdown))


if __name__ == "__main__":
    main()
