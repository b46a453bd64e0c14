"""Whether the reported supervised student should be refit at all, decided without the test split.

``benchmarks/supervised.py`` reported its chosen run refit on all of fold-0 train (``adekd train
--refit``, ``--refit-schedule selection``) until this benchmark decided. In both draws of
``refit_schedule.md`` the selection run without a refit, on a tenth less data, scored at or above
that refit on the held-out tenth. Those two draws were seen before this question was asked, so they
are shown and not counted.

The decision rule, committed before any of its draws trained: draws 44, 45 and 46 (``--seeds``; each
retrains the selection run on the outer train of ``refit_schedule.py``, with its own dev and seed, and
refits it with ``--refit-schedule selection``) are scored end to end on the held-out tenth with the
selection's thresholds. If the unrefit runs' mean strict pair F1 over those draws is higher than the
refits' mean, ``supervised.py`` reports each system's selection run without a refit; otherwise, a
tie included, the refit stays. Fold-0 test is not read.

    .venv/bin/python benchmarks/refit_decision.py --work /tmp/nested  # where refit_schedule.py ran
"""

from __future__ import annotations

import argparse
import json
import statistics
from pathlib import Path

from machine import load_average, machine, write_results
from refit_schedule import NO_REFIT, command, draw_parser, outer_split, refit_label, refit_with, run_dir
from supervised import now, pct, score_end_to_end

SCHEDULE = "selection"
"""The refit schedule ``supervised.py`` reports (``refit_schedule.md`` chose it)."""
REFIT = refit_label(SCHEDULE)
SEEN_BEFORE_THE_RULE = (42, 43)
DECIDING = (44, 45, 46)


def draw(args: argparse.Namespace, seed: int, train_file: Path, held_out_file: Path, held_out: list) -> dict:
    """One selection run (``seed``) and its refit, both scored on the held-out tenth."""
    refit = refit_with(args, seed, SCHEDULE, train_file, held_out_file)
    folder = run_dir(args, seed, SCHEDULE)
    selection = json.loads((folder / "selection" / "metrics.json").read_text())
    thresholds = selection["thresholds"]
    return {
        "seed": seed,
        "selected_epoch": selection["best"]["epoch"],
        "thresholds": thresholds,
        "students": {
            NO_REFIT: {
                "train_records": selection["train"]["num_records"],
                "held_out": score_end_to_end(folder / "selection", held_out, thresholds=thresholds),
            },
            REFIT: {
                "train_records": refit["train"]["num_records"],
                "train_seconds": refit["training"]["train_seconds"],
                "held_out": score_end_to_end(folder, held_out, thresholds=thresholds),
            },
        },
    }


def strict(one: dict, student: str) -> float:
    return one["students"][student]["held_out"]["all"]["strict_f1"]


def decide(draws: list[dict]) -> dict:
    """The rule above, on the deciding draws: mean strict pair F1 of each student, and the verdict."""
    deciding = [one for one in draws if one["seed"] in DECIDING]
    if sorted(one["seed"] for one in deciding) != list(DECIDING):
        raise SystemExit(f"the rule decides on draws {DECIDING}, each once; run them all (--seeds)")
    means = {
        student: statistics.mean(strict(one, student) for one in deciding) for student in (NO_REFIT, REFIT)
    }
    return {"means": means, "refit": means[NO_REFIT] <= means[REFIT]}


def counted(seed: int) -> str:
    if seed in DECIDING:
        return "yes"
    return "no: seen before the rule" if seed in SEEN_BEFORE_THE_RULE else "no"


def markdown(report: dict) -> str:
    lines = [
        f"# Refit or not: SpERT fold {report['fold']} train only, packaged MiniLM",
        "",
        f"Command: `{report['command']}`  ",
        f"Machine: {report['machine']['cpu']}, {report['machine']['cores']} cores.  ",
        f"Date: {report['date']}",
        "",
        f"Outer train and held-out tenth ({report['held_out_records']} sentences) as in `refit_schedule.md`. "
        "Per draw, `adekd train --refit --refit-schedule selection --tune-thresholds` (drug-centric, "
        "the settings of `refit_schedule.md`, seed as the draw's); both students are scored end to end "
        "on the held-out tenth with the selection's thresholds. Fold-0 test is not read.",
        "",
        "| draw (seed) | counted | selected epoch | no refit: strict / lenient pair F1 "
        "| refit: strict / lenient pair F1 | refit minus no refit (strict) |",
        "|---:|---|---:|---:|---:|---:|",
    ]
    for one in report["draws"]:
        unrefit, refit = (one["students"][name]["held_out"]["all"] for name in (NO_REFIT, REFIT))
        lines.append(
            f"| {one['seed']} | {counted(one['seed'])} "
            f"| {one['selected_epoch']} | {pct(unrefit['strict_f1'])} / {pct(unrefit['lenient_f1'])} "
            f"| {pct(refit['strict_f1'])} / {pct(refit['lenient_f1'])} "
            f"| {100 * (refit['strict_f1'] - unrefit['strict_f1']):+.1f} |"
        )
    decision = report["decision"]
    lines += [
        "",
        f"Mean strict pair F1 over the counted draws: no refit {pct(decision['means'][NO_REFIT])}, refit "
        f"{pct(decision['means'][REFIT])}. Rule (committed before these draws trained): the refit stays "
        "unless the unrefit runs' mean is higher. **Decision: "
        + ("refit.**" if decision["refit"] else "no refit: `supervised.py` reports the selection runs.**"),
    ]
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = draw_parser(
        __doc__.split("\n\n")[0],
        [*SEEN_BEFORE_THE_RULE, *DECIDING],
        "one draw per seed; the rule counts 44, 45 and 46 (a subset trains without a report)",
    )
    args = parser.parse_args()
    if len(set(args.seeds)) != len(args.seeds):
        parser.error(f"--seeds {','.join(map(str, args.seeds))}: each draw once")

    import torch

    torch.set_num_threads(args.threads)
    load_before = load_average()
    train_file, held_out_file, held_out = outer_split(args)
    draws = [draw(args, seed, train_file, held_out_file, held_out) for seed in args.seeds]
    if not set(DECIDING) <= set(args.seeds):
        print(json.dumps(draws, indent=1))  # a draw trained on its own (in parallel): no verdict yet
        return
    report = {
        "command": command("refit_decision.py", args),
        "date": now(),
        "machine": machine(),
        "load_average_before": load_before,
        "load_average_after": load_average(),
        "fold": args.fold,
        "held_out_records": len(held_out),
        "draws": draws,
        "decision": decide(draws),
    }
    print(write_results(args.results, "refit_decision", report, markdown))


if __name__ == "__main__":
    main()
