"""Chemical-induced disease (BC5CDR) end to end, next to the ADE numbers: supervised and distilled students.

The second built-in task (``adekd/tasks/chemical-disease.yaml``) through the same code as ADE:

1. Data: the official BC5CDR train/dev/test documents as sentence records
   (:func:`adekd.corpora.read_relation_records`): anchors are chemical mentions, targets the disease
   mentions of the same sentence that form a CID pair of the document. What that conversion loses
   (relations across sentences) is measured and reported.
2. Supervised: the packaged MiniLM drug-centric student on BC5CDR train (gold), best epoch on the
   official dev documents, scored end to end (the student finds the chemicals) with ``ade_f1``.
3. Distilled, each one ``adekd distill --task chemical-disease`` run on ``--pool`` train sentences
   that mention a chemical (labels hidden): SmolLM2-135M-Instruct few-shot (the task's prompt),
   served by vLLM on this CPU with the answer schema enforced; and simulated teachers that corrupt
   the gold labels of the same sentences at two noise levels.

Every row is scored on the same gold: all sentences of ``--gold-documents`` test documents (a
seeded sample of PMIDs); the supervised student also on all 500 test documents. Nothing is tuned on
test. Strict and lenient F1 of (chemical, disease) mention pairs. **Not comparable to the CID
literature**, which reports document-level F1 of (chemical MeSH id, disease MeSH id) pairs over all
relations, a quarter of which no single sentence holds.

    .venv/bin/python benchmarks/chemical_disease.py        # about 30-40 minutes on 2 shared cores
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import time
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "scripts"))
sys.path.insert(0, str(REPO / "benchmarks"))
from distillation import pct, prelabel, run_distill, student_config, table, teacher_config  # noqa: E402
from machine import load_average, machine, write_results  # noqa: E402
from supervised import student_scores  # noqa: E402

from adekd.corpora import ConversionStats, read_relation_records  # noqa: E402
from adekd.records import Record, write_jsonl  # noqa: E402

TASK = "chemical-disease"
BC5CDR = REPO.parent / "shared" / "data" / "bc5cdr"
SPLITS = {"train": "CDR_TrainingSet", "dev": "CDR_DevelopmentSet", "test": "CDR_TestSet"}
RESULTS = REPO / "benchmarks" / "results"
NOISE_LEVELS = (0.3, 0.7)
REPORTED = (
    "strict_f1", "lenient_f1", "strict_precision", "strict_recall", "lenient_precision", "lenient_recall",
    "drug_strict_f1", "drug_lenient_f1", "ade_strict_f1", "ade_lenient_f1", "num_predicted", "num_gold",
)  # fmt: skip


# --- data --------------------------------------------------------------------------------------


def read_split(split: str) -> tuple[list[Record], dict[str, Any]]:
    stats = ConversionStats()
    records = read_relation_records(BC5CDR / f"{SPLITS[split]}.PubTator.txt", TASK, stats)
    return records, stats.as_dict()


def with_chemical(records: list[Record], size: int | None, seed: int) -> list[Record]:
    """Sentences with a chemical mention, in a seeded shuffle, the first ``size`` (all when None)."""
    kept = [record for record in records if record["drugs"]]
    random.Random(seed).shuffle(kept)
    return kept[:size]


def gold_documents(test: list[Record], count: int) -> list[Record]:
    """Every sentence of ``count`` test documents drawn with a fixed seed, in document order."""
    pmids = sorted({record["doc_id"] for record in test})
    chosen = set(random.Random(0).sample(pmids, min(count, len(pmids))))
    return [record for record in test if record["doc_id"] in chosen]


def positive_share(records: list[Record]) -> float:
    return round(sum(bool(r["ades"]) for r in records) / len(records), 3)


# --- runs --------------------------------------------------------------------------------------


def score_student(folder: Path, gold: list[Record]) -> dict[str, Any]:
    """End-to-end scores of a trained student on ``gold`` (the student finds the chemicals)."""
    import adekd
    from adekd.metrics import score
    from adekd.modeling import load_pipeline

    pipe = load_pipeline(str(folder))
    started = time.perf_counter()
    predictions = adekd.extract([{"id": r["id"], "text": r["text"]} for r in gold], model=pipe, batch_size=64)
    seconds = time.perf_counter() - started
    scores = score(predictions, gold)
    return {key: scores[key] for key in REPORTED} | {
        "num_records": len(gold),
        "extract_seconds": round(seconds, 1),
    }


def supervised(
    work: Path, train: list[Record], dev: list[Record], epochs: int, gold: list[Record], test: list[Record]
) -> dict[str, Any]:
    """MiniLM on gold BC5CDR train sentences; best epoch by dev strict pair F1; scored on gold and test."""
    from adekd.training import train as train_student

    folder = work / "supervised"
    write_jsonl(train, work / "supervised-train.jsonl")
    write_jsonl(dev, work / "supervised-dev.jsonl")
    trained_here = not (folder / "metrics.json").is_file()
    if trained_here:
        config = replace(
            student_config(epochs),
            train=str(work / "supervised-train.jsonl"),
            dev=str(work / "supervised-dev.jsonl"),
            output_dir=str(folder),
            batch_size=16,
            task=TASK,
            resume=folder.is_dir(),  # a run killed here continues; training refuses a used folder otherwise
        )
        started = time.perf_counter()
        train_student(config)
        print(f"supervised: trained in {time.perf_counter() - started:.0f} s", flush=True)
    metrics = json.loads((folder / "metrics.json").read_text(encoding="utf-8"))
    row = {
        "name": "supervised (gold BC5CDR train)",
        "train_sentences": len(train),
        "dev_sentences": len(dev),
        "best": metrics["best"],
        "epochs_trained": metrics["training"]["epochs_completed"],
        "train_minutes": round(metrics["training"]["train_seconds"] / 60, 1),
        "trained_in_this_run": trained_here,
        "student": score_student(folder, gold),
        "student_all_test": score_student(folder, test),
        "load_after": load_average(),
    }
    print(f"supervised: {row['student']['strict_f1']:.3f} / {row['student']['lenient_f1']:.3f}", flush=True)
    return row


# --- the ADE numbers beside ours -----------------------------------------------------------------


def ade_rows(results: Path) -> dict[str, Any]:
    """The matching ADE rows of benchmarks/results/distillation.json and supervised.json, where present."""
    rows: dict[str, Any] = {}
    distillation = results / "distillation.json"
    if distillation.is_file():
        study = json.loads(distillation.read_text(encoding="utf-8"))
        for row in study["real_teacher"]:
            rows[row["name"]] = {"teacher": row["teacher"], "student": row["student"]}
        for row in study["curve"]:
            rows[f"simulated-{row['noise']}"] = {"teacher": row["teacher"], "student": row["student"]}
        rows["_distillation"] = {"pool": study["pool"], "gold": study["gold"]}
    supervised_file = results / "supervised.json"
    if supervised_file.is_file():
        report = json.loads(supervised_file.read_text(encoding="utf-8"))
        chosen = report.get("chosen", {}).get("drug_centric")
        if chosen:
            # the student supervised.md reports
            reported, _ = student_scores(chosen, report.get("report", "refit"))
            rows["supervised"] = {"teacher": None, "student": reported["all"]}
    return rows


# --- report ------------------------------------------------------------------------------------


def _both(scores: dict[str, Any] | None) -> str:
    """Strict / lenient pair F1 in %, or n/a."""
    return "n/a" if not scores else f"{pct(scores['strict_f1'])} / {pct(scores['lenient_f1'])}"


def markdown(result: dict[str, Any]) -> str:
    m = result["machine"]
    ade = result["ade"]
    gold = result["gold"]
    lines = [
        "# Chemical-induced disease (BC5CDR), sentence level, next to ADE",
        "",
        f"Command: `{result['command']}`  ",
        f"Machine: {m['cpu']}, {m['cores']} cores, Python {m['python']}; load average at start / end: "
        f"{result['load_start']} / {result['load_end']} (other jobs shared the machine).  ",
        f"Date: {result['date']}; {result['minutes']} minutes for this run"
        + (
            ""
            if result["supervised"].get("trained_in_this_run", True)
            else f", plus the supervised student's {result['supervised']['train_minutes']} minutes of "
            "training, done by an earlier start of the same step and reused (its folder had metrics.json)"
        )
        + ".",
        "",
        "Task `chemical-disease` (`adekd/tasks/chemical-disease.yaml`): BC5CDR documents become sentence "
        "records whose anchors are the chemical mentions and whose targets are the disease mentions of the "
        "same sentence that form a CID pair of the document (`adekd/corpora/cdr.py`). Scores are strict "
        "(same spans) and lenient (overlapping spans) F1 of (chemical mention, disease mention) pairs, end "
        "to end (the student finds the chemicals), with `ade_f1`.",
        "",
        "**Not comparable to published CID results.** The BioCreative V CDR task and the literature "
        "report *document-level* F1 of (chemical MeSH id, disease MeSH id) pairs over all relations of a "
        "document. Here every unit is a pair of mentions in one sentence, and the relations no sentence "
        f"holds ({result['conversion']['test']['relations_lost']} of "
        f"{result['conversion']['test']['relations']} in test) are not in the gold at all.",
        "",
        f"Gold for every row: all {gold['sentences']} sentences of {gold['documents']} test documents (a "
        f"seeded sample of PMIDs; {pct(gold['positive_share'])}% of them hold a pair). The supervised "
        "student is also scored on all 500 test documents (below the table).",
        "",
        "**Reduced to fit the compute budget** (about 30-40 minutes on 2 shared cores): "
        + "; ".join(result["reductions"])
        + ".",
        "",
        "## Results, next to ADE",
        "",
        f"ADE columns: the same recipes on the ADE corpus (`benchmarks/results/distillation.json`: "
        f"{ade.get('_distillation', {}).get('pool', 'n/a')} fold-0 train sentences, 427 fold-0 test "
        "sentences; supervised: `benchmarks/results/supervised.json`, the student its table reports), "
        "'n/a' where that file is absent.",
        "",
    ]
    header = [
        "teacher",
        "silver sentences",
        "CID teacher strict / lenient F1",
        "CID student strict / lenient F1",
        "CID student - teacher",
        "ADE teacher strict / lenient F1",
        "ADE student strict / lenient F1",
    ]
    rows = []
    sup = result["supervised"]
    ade_sup = ade.get("supervised")
    rows.append(
        [
            "none: supervised on gold train",
            sup["train_sentences"],
            "gold",
            _both(sup["student"]),
            "",
            "gold",
            _both(ade_sup and ade_sup["student"]),
        ]
    )
    for row in result["distilled"]:
        twin = ade.get(row["ade_row"], {})
        rows.append(
            [
                row["label"],
                row["sentences"],
                _both(row["teacher"]),
                _both(row["student"]),
                " / ".join(
                    f"{100 * (row['student'][f'{kind}_f1'] - row['teacher'][f'{kind}_f1']):+.1f}"
                    for kind in ("strict", "lenient")
                ),
                _both(twin.get("teacher")),
                _both(twin.get("student")),
            ]
        )
    lines += table(header, rows)
    full = sup["student_all_test"]
    lines += [
        "",
        f"Supervised student on all 500 test documents ({full['num_records']} sentences): strict "
        f"{pct(full['strict_f1'])}, lenient {pct(full['lenient_f1'])} pair F1; chemical mentions "
        f"{pct(full['drug_strict_f1'])} / {pct(full['drug_lenient_f1'])}, disease mentions in pairs "
        f"{pct(full['ade_strict_f1'])} / {pct(full['ade_lenient_f1'])} (strict / lenient). Best epoch "
        f"{sup['best']['epoch']} of {sup['epochs_trained']} on {sup['dev_sentences']} dev sentences; "
        f"{sup['train_minutes']} minutes of training.",
        "",
        "Chemical mention F1 of distilled students is low by construction: the gold anchors are *all* "
        "chemical mentions, while the teacher (as the prompt asks) names only chemicals that induced a "
        "disease. Pair F1 is unaffected.",
        "",
        "## The conversion: what sentence-level records keep and lose",
        "",
    ]
    conversion = result["conversion"]
    lines += table(
        [
            "split",
            "documents",
            "sentences",
            "with a chemical",
            "with a pair",
            "pairs (mention level)",
            "CID relations",
            "kept",
            "lost: across sentences",
            "sentences per kept relation",
        ],
        [
            [
                split,
                c["documents"],
                c["sentences"],
                c["sentences_with_anchor"],
                c["positive_sentences"],
                c["pairs"],
                c["relations"],
                c["relations_kept"],
                f"{c['relations_across_sentences']} "
                f"({pct(c['relations_across_sentences'] / c['relations'])}%)",
                c["sentences_per_kept_relation"],
            ]
            for split, c in conversion.items()
        ],
    )
    if result.get("prelabel"):
        lines += [
            "",
            "## Teacher labeling run (vLLM server on this CPU)",
            "",
            *table(
                [
                    "prompt",
                    "sentences",
                    "sent to server",
                    "failures",
                    "seconds",
                    "sentences/s",
                    "load before",
                ],
                [
                    [
                        p["prompt"],
                        p["sentences"],
                        p["requested"],
                        p["failures"],
                        p["seconds"],
                        p["sentences_per_s"],
                        p["load_before"],
                    ]
                    for p in result["prelabel"]
                ],  # fmt: skip
            ),
        ]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--pool", type=int, default=400, help="train sentences each teacher labels")
    parser.add_argument(
        "--gold-documents", type=int, default=100, help="test documents every row is scored on"
    )
    parser.add_argument("--epochs", type=int, default=8, help="distilled student epochs (best on silver dev)")
    parser.add_argument("--supervised-epochs", type=int, default=4, help="supervised student epochs")
    parser.add_argument(
        "--supervised-sentences",
        type=int,
        default=None,
        help="cap on supervised train sentences (all with a chemical)",
    )
    parser.add_argument(
        "--dev-sentences", type=int, default=600, help="official dev sentences with a chemical"
    )
    parser.add_argument("--no-teacher", action="store_true", help="skip the SmolLM2 teacher (smoke tests)")
    parser.add_argument(
        "--work", type=Path, default=Path("/tmp/adekd-cid"), help="run folders and teacher cache"
    )
    parser.add_argument("--output", type=Path, default=RESULTS)
    parser.add_argument("--threads", type=int, default=1, help="torch threads (1 on a shared machine)")
    parser.add_argument(
        "--report-only", action="store_true", help="rewrite the markdown from the results JSON"
    )
    args = parser.parse_args(argv)
    if args.report_only:
        result = json.loads((args.output / "chemical_disease.json").read_text(encoding="utf-8"))
        result["ade"] = ade_rows(args.output)  # the ADE results may have moved on since
        write_results(args.output, "chemical_disease", result, markdown)
        return
    import torch

    torch.set_num_threads(args.threads)  # one intra-op thread per process on a shared machine
    started, load_start = time.perf_counter(), load_average()
    work = args.work
    work.mkdir(parents=True, exist_ok=True)
    splits, conversion = {}, {}
    for split in SPLITS:
        splits[split], conversion[split] = read_split(split)
    gold = gold_documents(splits["test"], args.gold_documents)
    pool = with_chemical(splits["train"], args.pool, seed=0)
    write_jsonl(pool, work / "pool.jsonl")
    write_jsonl(gold, work / "gold.jsonl")

    sup = supervised(
        work,
        with_chemical(splits["train"], args.supervised_sentences, seed=1),
        with_chemical(splits["dev"], args.dev_sentences, seed=2),
        args.supervised_epochs,
        gold,
        splits["test"],
    )

    student = student_config(args.epochs)
    cache = work / "teacher-cache.sqlite"
    files = {"task": TASK, "input": str(work / "pool.jsonl"), "gold": str(work / "gold.jsonl")}
    distilled, prelabels = [], []
    if not args.no_teacher:
        from vllm_server import MODEL_NAME, ServerConfig, serve

        saved = work / "prelabel-few-shot.json"
        model = MODEL_NAME
        if not saved.is_file():
            with serve(ServerConfig(log_requests=False)) as server:
                model = server.model
                config = replace(teacher_config("few-shot", model, server.base_url, cache), task=TASK)
                prelabel(pool + gold, config, saved)
        prelabels.append(json.loads(saved.read_text(encoding="utf-8")))
        offline = "http://127.0.0.1:9/v1"  # every answer is cached: no server from here on
        teacher = replace(teacher_config("few-shot", model, offline, cache), task=TASK)
        row = run_distill(work, "smollm2-few-shot", teacher=teacher, student=replace(student), **files)
        distilled.append({**row, "label": "SmolLM2-135M few-shot (vLLM)", "ade_row": "smollm2-few-shot"})
    for noise in NOISE_LEVELS:
        row = run_distill(
            work, f"simulated-{noise}", simulated_noise=noise, student=replace(student), **files
        )
        distilled.append({**row, "label": f"simulated, noise {noise}", "ade_row": f"simulated-{noise}"})

    reductions = [
        f"supervised student: {sup['train_sentences']} train sentences (those with a chemical"
        + (f", capped at {args.supervised_sentences}" if args.supervised_sentences else "")
        + f"), at most {args.supervised_epochs} epochs, dev = {sup['dev_sentences']} official dev sentences "
        "with a chemical",
        f"each teacher labels {args.pool} train sentences with a chemical (seeded shuffle), not all",
        f"gold = {args.gold_documents} of the 500 test documents (the teacher labels each gold sentence)",
        f"distilled students train {args.epochs} epochs (best on silver dev kept); one seed",
        f"simulated noise levels {', '.join(map(str, NOISE_LEVELS))} only; the few-shot prompt only",
        "teacher answers longer than 128 tokens are failures (no retry)",
        f"students train and run on {args.threads} torch thread(s)",
    ]
    result = {
        "command": " ".join(["python benchmarks/chemical_disease.py", *(argv or sys.argv[1:])]),
        "date": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "machine": machine(),
        "load_start": load_start,
        "load_end": load_average(),
        "minutes": round((time.perf_counter() - started) / 60, 1),
        "task": TASK,
        "conversion": conversion,
        "gold": {
            "documents": len({r["doc_id"] for r in gold}),
            "sentences": len(gold),
            "positive_share": positive_share(gold),
            "pairs": sum(len(r["ades"]) for r in gold),
        },
        "pool": {"sentences": len(pool), "positive_share": positive_share(pool)},
        "student_recipe": student.to_dict(),
        "reductions": reductions,
        "supervised": sup,
        "prelabel": prelabels,
        "distilled": distilled,
        "ade": ade_rows(RESULTS),
    }
    print(write_results(args.output, "chemical_disease", result, markdown))


if __name__ == "__main__":
    main()
