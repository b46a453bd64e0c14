"""Supervised accuracy on the SpERT ADE split: a student trained on gold fold-0 train, scored on its test.

Each run trains the packaged MiniLM (offline) with ``adekd.training.train``: dev carved from fold-0
train (10%, seeded), best epoch by dev strict pair F1 with early stopping. Per architecture the
learning rate is chosen on dev strict pair F1 among its runs; only the chosen model is scored on
fold-0 test, end to end (the student finds the drugs) through ``adekd.extract``, with ``ade_f1``:
strict and lenient pair F1 and drug / ADE mention F1, plus pair F1 on the test sentences with two
or more gold drugs (where conditioning on the right drug matters). The test split is never used to
choose anything.

Runs are resumable: rerunning the same command reuses finished runs and continues interrupted
ones from their checkpoints.

    .venv/bin/python benchmarks/supervised.py --mixed-precision bf16 \
        --runs drug_centric:1e-4,drug_centric:5e-5,drug_centric:2e-4,no_drug:1e-4,pairwise:1e-4
"""

from __future__ import annotations

import argparse
import json
import os
import time
from datetime import UTC, datetime
from pathlib import Path

from machine import load_average, machine

REPO = Path(__file__).resolve().parents[1]
SPLITS = REPO.parent / "shared" / "data" / "ade_corpus" / "splits"
ANCHORS = {"SpERT": 79.2, "REBEL": 82.2, "PFN": 83.2}
"""Strict relation F1 of published systems: 10-fold means, larger encoders (context, not like for like)."""
DEFAULT_RUNS = "drug_centric:1e-4,drug_centric:5e-5,drug_centric:2e-4,no_drug:1e-4,pairwise:1e-4"
REPORTED = (
    "strict_f1", "lenient_f1", "strict_precision", "strict_recall", "drug_strict_f1", "drug_lenient_f1",
    "ade_strict_f1", "ade_lenient_f1", "num_predicted", "num_gold",
)  # fmt: skip


def run_dir(work: Path, architecture: str, learning_rate: float, head_learning_rate: float | None) -> Path:
    head = "" if head_learning_rate is None else f"-head{head_learning_rate:g}"
    return work / f"{architecture}-lr{learning_rate:g}{head}"


def parse_run(item: str) -> tuple[str, float, float | None]:
    """``architecture:lr`` or ``architecture:lr:head_lr``."""
    architecture, learning_rate, *head = item.split(":")
    return architecture, float(learning_rate), float(head[0]) if head else None


def train_run(
    args: argparse.Namespace, architecture: str, learning_rate: float, head_learning_rate: float | None
) -> dict:
    """Train one (architecture, learning rates) run, or read back a finished one."""
    from adekd.training import TrainingConfig, train
    from adekd.training.checkpoints import list_checkpoints

    output = run_dir(args.work, architecture, learning_rate, head_learning_rate)
    if (output / "metrics.json").is_file():
        return json.loads((output / "metrics.json").read_text())
    config = TrainingConfig(
        train=str(args.splits / f"ade_split_{args.fold}_train.json"),
        output_dir=str(output),
        encoder="minilm",
        architecture=architecture,
        epochs=args.epochs,
        early_stopping_patience=args.patience,
        batch_size=args.batch_size,
        learning_rate=learning_rate,
        head_learning_rate=head_learning_rate,
        mixed_precision=args.mixed_precision,
        save_steps=50,
        resume=bool(list_checkpoints(str(output))),
    )
    return train(config)


def score_end_to_end(folder: Path, test: list[dict], precision: str = "fp32") -> dict:
    """End-to-end scores of a trained student on gold records (drugs found by the student), all and
    multi-drug.

    ``precision`` casts (bf16) or dynamically quantizes (int8) the trained fp32 weights the way
    ``benchmarks/inference.py`` measures their speed, so the two tables describe the same models.
    """
    from inference import prepare
    from transformers import AutoModel, AutoTokenizer

    import adekd
    from adekd.metrics import score
    from adekd.modeling import load_pipeline

    model = prepare(AutoModel.from_pretrained(folder).eval(), precision)
    pipe = load_pipeline(model, tokenizer=AutoTokenizer.from_pretrained(folder))
    texts = [{"id": r["id"], "text": r["text"]} for r in test]
    started = time.time()
    predictions = adekd.extract(texts, model=pipe, batch_size=64)
    seconds = time.time() - started
    multi = [r for r in test if len(r["drugs"]) > 1]
    multi_ids = {r["id"] for r in multi}
    all_scores = score(predictions, test)
    multi_scores = score([p for p in predictions if p["id"] in multi_ids], multi)
    return {
        "all": {key: all_scores[key] for key in REPORTED} | {"num_records": len(test)},
        "multi_drug": {key: multi_scores[key] for key in ("strict_f1", "lenient_f1", "num_gold")}
        | {"num_records": len(multi)},
        "extract_seconds": round(seconds, 2),
    }


def dev_split(train_records: list[dict], folder: Path) -> list[dict]:
    """The dev records a run carved from fold train (its fraction and seed), to score every run's kept
    model the same way: end to end, with the decoding of this code, not of the code it trained with."""
    from adekd.training.data import carve_dev_split

    config = json.loads((folder / "training_config.json").read_text())
    return carve_dev_split(train_records, config["dev_fraction"], config["seed"])[1]


def _rates(run: dict) -> str:
    head = run.get("head_learning_rate")
    return f"{run['learning_rate']:g}" + ("" if head is None else f" ({head:g})")


def _pct(value: float) -> str:
    return f"{100 * value:.1f}"


def markdown(report: dict) -> str:
    lines = [
        "# Supervised ADE extraction: SpERT fold 0, packaged MiniLM",
        "",
        f"Command: `{report['command']}`  ",
        f"Machine: {report['machine']['cpu']}, {report['machine']['cores']} cores, "
        f"torch threads {report['threads']}, mixed precision {report['mixed_precision']}; "
        "shared with other jobs (load averages in the JSON).  ",
        f"Date: {report['date']}",
        "",
        f"Train: fold-{report['fold']} train minus a 10% dev carved from it (seed 42); learning rates "
        "chosen per architecture on dev strict pair F1 (each run's kept model scored end to end on dev "
        "by this code), best epoch by dev strict pair F1 during training (early stopping "
        f"patience {report['patience']}, at most {report['epochs']} epochs, batch {report['batch_size']}). "
        f"Test: fold-{report['fold']} test, end to end (the student finds the drugs), scored once per "
        "architecture.",
        "",
        "## Test (fold 0), chosen runs",
        "",
        "| architecture | lr (head lr) | best epoch | strict pair F1 | lenient pair F1 "
        "| drug F1 strict / lenient | ADE F1 strict / lenient | multi-drug strict / lenient pair F1 |",
        "|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for architecture, chosen in report["chosen"].items():
        test = chosen["test"]["all"]
        multi = chosen["test"]["multi_drug"]
        cells = [
            architecture,
            _rates(chosen),
            str(chosen["best_epoch"]),
            _pct(test["strict_f1"]),
            _pct(test["lenient_f1"]),
            f"{_pct(test['drug_strict_f1'])} / {_pct(test['drug_lenient_f1'])}",
            f"{_pct(test['ade_strict_f1'])} / {_pct(test['ade_lenient_f1'])}",
            f"{_pct(multi['strict_f1'])} / {_pct(multi['lenient_f1'])} ({multi['num_records']} sentences)",
        ]
        lines.append("| " + " | ".join(cells) + " |")
    fp32 = report["chosen"].get("drug_centric", {}).get("test", {}).get("all")
    if report.get("drug_centric_precisions") and fp32:
        lines += [
            "",
            "## What lower precision costs (the chosen drug-centric model, same test sentences)",
            "",
            "The trained fp32 weights cast to bf16, or every `nn.Linear` dynamically quantized to int8, "
            "as `benchmarks/inference.py` runs them for speed.",
            "",
            "| precision | strict pair F1 | lenient pair F1 | change vs fp32 (strict / lenient) |",
            "|---|---:|---:|---:|",
            f"| fp32 | {_pct(fp32['strict_f1'])} | {_pct(fp32['lenient_f1'])} | |",
        ]
        for precision, result in report["drug_centric_precisions"].items():
            test = result["all"]
            strict = 100 * (test["strict_f1"] - fp32["strict_f1"])
            lenient = 100 * (test["lenient_f1"] - fp32["lenient_f1"])
            lines.append(
                f"| {precision} | {_pct(test['strict_f1'])} | {_pct(test['lenient_f1'])} "
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
        "| run | epochs trained | best epoch | dev strict pair F1 | dev lenient pair F1 | train minutes | "
        "train sentences/s |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    for name, run in report["runs"].items():
        cells = [
            name,
            str(run["epochs_completed"]),
            str(run["best_epoch"]),
            _pct(run["dev_strict_f1"]),
            _pct(run["dev_lenient_f1"]),
            f"{run['train_seconds'] / 60:.1f}",
            str(run["train_sentences_per_second"]),
        ]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--runs",
        default=DEFAULT_RUNS,
        help="runs to train: architecture:learning_rate, or architecture:learning_rate:head_learning_rate",
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
    args = parser.parse_args()

    import torch

    from adekd.corpora import load_records

    torch.set_num_threads(args.threads)
    load_before = load_average()
    runs: dict[str, dict] = {}
    by_architecture: dict[str, list[tuple[str, float, dict]]] = {}
    train_records = load_records(args.splits / f"ade_split_{args.fold}_train.json")
    for item in args.runs.split(","):
        architecture, learning_rate, head_learning_rate = parse_run(item)
        metrics = train_run(args, architecture, learning_rate, head_learning_rate)
        name = run_dir(args.work, architecture, learning_rate, head_learning_rate).name
        best = next(h for h in metrics["dev_history"] if h["step"] == metrics["best"]["step"])
        dev = score_end_to_end(args.work / name, dev_split(train_records, args.work / name))["all"]
        runs[name] = {
            "architecture": architecture,
            "learning_rate": learning_rate,
            "head_learning_rate": head_learning_rate,
            "epochs_completed": metrics["training"]["epochs_completed"],
            "best_epoch": metrics["best"]["epoch"],
            "dev_strict_f1_in_training": best["strict_f1"],
            "dev_strict_f1": dev["strict_f1"],
            "dev_lenient_f1": dev["lenient_f1"],
            "train_seconds": metrics["training"]["train_seconds"],
            "train_sentences_per_second": metrics["training"]["train_sentences_per_second"],
            "dev_history": metrics["dev_history"],
        }
        by_architecture.setdefault(architecture, []).append((name, learning_rate, runs[name]))
        print(f"{name}: dev strict pair F1 {dev['strict_f1']:.4f}", flush=True)

    test = load_records(args.splits / f"ade_split_{args.fold}_test.json")
    chosen = {}
    for architecture, candidates in by_architecture.items():
        name, learning_rate, run = max(candidates, key=lambda c: c[2]["dev_strict_f1"])
        chosen[architecture] = {
            "run": name,
            "learning_rate": learning_rate,
            "head_learning_rate": run["head_learning_rate"],
            "best_epoch": run["best_epoch"],
            "dev_strict_f1": run["dev_strict_f1"],
            "test": score_end_to_end(args.work / name, test),
        }
        print(
            f"{architecture}: test strict pair F1 {chosen[architecture]['test']['all']['strict_f1']:.4f}",
            flush=True,
        )

    precisions = {}
    if "drug_centric" in chosen:
        folder = args.work / chosen["drug_centric"]["run"]
        for precision in ("bf16", "int8"):
            precisions[precision] = score_end_to_end(folder, test, precision)
            print(f"drug_centric {precision}: test strict pair F1 "
                  f"{precisions[precision]['all']['strict_f1']:.4f}", flush=True)  # fmt: skip

    report = {
        "command": f"python benchmarks/supervised.py --runs {args.runs} --epochs {args.epochs} "
        f"--patience {args.patience} --batch-size {args.batch_size} "
        f"--mixed-precision {args.mixed_precision} --threads {args.threads}",
        "date": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "machine": machine(),
        "load_average_before": load_before,
        "load_average_after": load_average(),
        "threads": args.threads,
        "fold": args.fold,
        "epochs": args.epochs,
        "patience": args.patience,
        "batch_size": args.batch_size,
        "mixed_precision": args.mixed_precision,
        "anchors_strict_relation_f1": ANCHORS,
        "chosen": chosen,
        "drug_centric_precisions": precisions,
        "runs": runs,
        "omp_num_threads": os.environ.get("OMP_NUM_THREADS"),
    }
    args.results.mkdir(parents=True, exist_ok=True)
    (args.results / "supervised.json").write_text(json.dumps(report, indent=2) + "\n")
    (args.results / "supervised.md").write_text(markdown(report))


if __name__ == "__main__":
    main()
