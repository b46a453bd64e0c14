"""The distillation study: when, and by how much, does the student beat its teacher?

Every row is one ``adekd distill`` run (:func:`adekd.distill.distill`, the same stages users run):
teacher labels -> silver dataset -> MiniLM student (dev carved from silver) -> teacher and student
scored with ``ade_f1`` on the same gold sentences, ADE fold-0 *test* (427 sentences, never trained
or tuned on). Four parts:

1. Real teacher: SmolLM2-135M-Instruct zero- and few-shot, served by vLLM on this CPU with answers
   constrained to the answer schema, labels ``--pool`` fold-0 *train* sentences (gold hidden).
2. Teacher-quality curve: simulated teachers (:mod:`adekd.teacher.simulated`) corrupt the gold
   labels of the same sentences (missed ADEs, boundary shifts, spurious spans, wrong drug,
   hallucinated quotes) at several noise levels; a student on each. Student F1 against teacher F1,
   with the diagonal: the paper's claim holds where the student lies above it.
3. Scale of silver data: the few-shot teacher on more sentences, beyond the pool taken from unlabeled
   text: ADE-corpus negatives (documents of fold-0 test left out) and BC5CDR abstracts split into
   sentences (the 19 documents also in the ADE corpus left out).
4. Cost: sentences/s of teacher and student here, projected to all of PubMed (about 36M abstracts).

Nothing is tuned on the test fold; every student uses the same fixed settings (below). Teacher
answers are cached in ``--work``, so a rerun (or a resumed one) sends no request twice, and every
``distill`` stage that is done is skipped.

    .venv/bin/python benchmarks/distillation.py            # about 45-60 minutes on 2 loaded cores
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
from machine import load_average, machine, write_results  # noqa: E402

from adekd.corpora import iter_texts, read_ade_corpus, read_spert  # noqa: E402
from adekd.distill import DistillConfig, distill  # noqa: E402
from adekd.records import Record, write_jsonl  # noqa: E402
from adekd.teacher import LabelConfig, label  # noqa: E402
from adekd.training import TrainingConfig  # noqa: E402

DATA = REPO.parent / "shared" / "data"
SPLITS = DATA / "ade_corpus" / "splits"
RESULTS = REPO / "benchmarks" / "results"
NOISE_LEVELS = (0.0, 0.3, 0.7, 1.1)
SCALE_SIZES = (100, 400, 1000)
PROMPTS = ("zero-shot", "few-shot")
PUBMED_ABSTRACTS = 36_000_000
CPU_HOUR_USD = 0.05
"""Assumed price of one vCPU-hour (on-demand cloud, order of magnitude) for the projection."""


def student_config(epochs: int) -> TrainingConfig:
    """One fixed student recipe for every row, chosen before any test score was seen.

    A fixed number of epochs, keeping the epoch best on the silver dev set: no early stopping, because
    on a few hundred silver sentences the student predicts nothing for the first epochs, and with a
    tied dev score of 0 early stopping would keep that empty first epoch. Batches of 8 give a small
    set more updates per epoch.
    """
    return TrainingConfig(
        encoder="minilm",
        epochs=epochs,
        batch_size=8,
        eval_batch_size=64,
        early_stopping_patience=None,
        save_total_limit=1,
        seed=42,
    )


def teacher_config(prompt: str, model: str, base_url: str | None, cache: Path) -> LabelConfig:
    """SmolLM2 via vLLM, schema enforced; answers cut at 128 tokens are failures (no second try)."""
    return LabelConfig(
        teacher="vllm",
        model=model,
        base_url=base_url,
        prompt=prompt,
        concurrency=16,
        max_tokens=128,
        retry_truncated=False,
        cache=str(cache),
        progress=False,
    )


# --- data --------------------------------------------------------------------------------------


def pool_and_gold(pool_size: int) -> tuple[list[Record], list[Record]]:
    train = read_spert(SPLITS / "ade_split_0_train.json")
    random.Random(0).shuffle(train)
    return train[:pool_size], read_spert(SPLITS / "ade_split_0_test.json")


def extra_unlabeled(gold: list[Record], count: int) -> tuple[list[Record], dict[str, int]]:
    """Unlabeled sentences beyond the pool: ADE negatives and BC5CDR sentences, interleaved (seeded)."""

    def key(text: str) -> str:  # SpERT splits are tokenized: compare texts without whitespace
        return "".join(text.split())

    gold_texts = {key(r["text"]) for r in gold}
    corpus = read_ade_corpus(DATA / "ade_corpus")
    test_docs = {r["doc_id"] for r in corpus if key(r["text"]) in gold_texts and r["ades"]}
    negatives = [r for r in corpus if not r["ades"] and r["doc_id"] not in test_docs]
    in_ade = {
        row["pmid"]
        for row in map(json.loads, (DATA / "bc5cdr" / "bc5cdr_text.jsonl").open())
        if row["pmid_in_ade_corpus"]
    }
    bc5cdr = [
        r
        for name in ("CDR_TrainingSet", "CDR_DevelopmentSet", "CDR_TestSet")
        for r in iter_texts(DATA / "bc5cdr" / f"{name}.PubTator.txt")
        if r["doc_id"] not in in_ade and key(r["text"]) not in gold_texts
    ]
    rng = random.Random(1)
    rng.shuffle(negatives)
    rng.shuffle(bc5cdr)
    mixed = [r for pair in zip(negatives, bc5cdr, strict=False) for r in pair][:count]
    unlabeled = [{"id": r["id"], "text": r["text"], "drugs": [], "ades": []} for r in mixed]
    stats = {
        "ade_negatives_available": len(negatives),
        "bc5cdr_sentences_available": len(bc5cdr),
        "bc5cdr_documents_left_out": len(in_ade),
        "ade_negative_documents_left_out": len(test_docs),
        "taken": len(unlabeled),
    }
    return unlabeled, stats


def sentences_per_abstract() -> float:
    """Mean sentences per BC5CDR title+abstract (the splitter adekd uses), for the PubMed projection."""
    docs, sentences = set(), 0
    for name in ("CDR_TrainingSet", "CDR_DevelopmentSet", "CDR_TestSet"):
        for record in iter_texts(DATA / "bc5cdr" / f"{name}.PubTator.txt"):
            docs.add(record["doc_id"])
            sentences += 1
    return sentences / len(docs)


# --- runs --------------------------------------------------------------------------------------


def run_distill(work: Path, name: str, **settings: Any) -> dict[str, Any]:
    started = time.perf_counter()
    summary = distill(DistillConfig(output_dir=str(work / name), min_silver_records=20, **settings)).summary
    print(
        f"{name}: teacher {summary['teacher']['scores']} student {summary['student']['scores']}", flush=True
    )
    return {
        "name": name,
        "teacher": summary["teacher"]["scores"],
        "student": summary["student"]["scores"],
        "silver": summary["labels"],
        "sentences": summary["input"]["sentences"],
        "student_dev": summary["student"]["dev"],
        "epochs_trained": summary["student"]["epochs"],
        "seconds": round(time.perf_counter() - started, 1),
        "load_after": load_average(),
    }


def prelabel(records: list[Record], config: LabelConfig, saved: Path) -> dict[str, Any]:
    """Label with the live server once, so the distill runs read every answer from the cache.

    The measurement of the run that sent the requests is kept in ``saved``: a rerun finds every
    answer cached and reports that first measurement.
    """
    if saved.is_file():
        return json.loads(saved.read_text(encoding="utf-8"))
    load = load_average()
    started = time.perf_counter()
    result = label([{"id": r["id"], "text": r["text"]} for r in records], config)
    seconds = time.perf_counter() - started
    counts, usage = result.summary["counts"], result.summary["usage"]
    measured = {
        "prompt": config.prompt,
        "sentences": len(records),
        "requested": counts["requested"],
        "cached": counts["cached"],
        "failures": counts["failures"],
        "seconds": round(seconds, 1),
        "sentences_per_s": round(counts["requested"] / seconds, 3) if counts["requested"] else None,
        "prompt_tokens": usage["prompt_tokens"],
        "completion_tokens": usage["completion_tokens"],
        "load_before": load,
    }
    if counts["requested"]:  # a resumed run measures the requests it sent
        saved.write_text(json.dumps(measured, indent=2) + "\n", encoding="utf-8")
    return measured


def student_speed(student_dir: Path, gold: list[Record]) -> dict[str, Any]:
    """Student sentences/s over the 427 test sentences (batch 64, fp32, drugs found by the student)."""
    import torch

    from adekd.modeling import extract, load_pipeline

    pipe = load_pipeline(str(student_dir))
    texts = [r["text"] for r in gold]
    extract(texts[:64], model=pipe, batch_size=64)  # warm-up
    load = load_average()
    started = time.perf_counter()
    extract(texts, model=pipe, batch_size=64)
    seconds = time.perf_counter() - started
    return {
        "sentences": len(texts),
        "seconds": round(seconds, 2),
        "sentences_per_s": round(len(texts) / seconds, 1),
        "torch_threads": torch.get_num_threads(),
        "load_before": load,
    }


def cost_projection(teacher_rate: float, student_rate: float, few_shot: dict[str, Any]) -> dict[str, Any]:
    per_abstract = sentences_per_abstract()
    sentences = PUBMED_ABSTRACTS * per_abstract
    from adekd.teacher.pricing import price_for

    prompt_tokens = few_shot["prompt_tokens"] / few_shot["requested"]
    completion_tokens = few_shot["completion_tokens"] / few_shot["requested"]
    gpt = price_for("gpt-4o-mini", paid_api=True)
    gpt_cost = gpt.cost(int(sentences * prompt_tokens), int(sentences * completion_tokens))

    def machine_cost(rate: float) -> dict[str, float]:
        hours = sentences / rate / 3600  # on this 2-core machine
        return {
            "sentences_per_s": rate,
            "machine_hours": round(hours),
            "machine_days": round(hours / 24, 1),
            "usd_at_cpu_hour_price": round(hours * 2 * CPU_HOUR_USD),
        }

    return {
        "pubmed_abstracts": PUBMED_ABSTRACTS,
        "sentences_per_abstract": round(per_abstract, 2),
        "pubmed_sentences": round(sentences),
        "cpu_hour_usd_assumed": CPU_HOUR_USD,
        "teacher_smollm2_vllm_here": machine_cost(teacher_rate),
        "student_minilm_here": machine_cost(student_rate),
        "student_vs_teacher_speed": round(student_rate / teacher_rate, 1),
        "gpt_4o_mini_api": {
            "prompt_tokens_per_sentence": round(prompt_tokens),
            "completion_tokens_per_sentence": round(completion_tokens),
            "usd": round(gpt_cost),
            "usd_batch_api": round(gpt_cost / 2),
            "price_per_million": [gpt.input_per_million, gpt.output_per_million],
        },
    }


# --- report ------------------------------------------------------------------------------------


def pct(value: float | None) -> str:
    return "n/a" if value is None else f"{100 * value:.1f}"


def table(header: list[str], rows: list[list[Any]]) -> list[str]:
    lines = [
        "| " + " | ".join(header) + " |",
        "|" + "|".join(" --- " if i == 0 else " ---: " for i in range(len(header))) + "|",
    ]
    return lines + ["| " + " | ".join(str(cell) for cell in row) + " |" for row in rows]


def f1_rows(rows: list[dict[str, Any]], label_of: Any) -> list[list[Any]]:
    out = []
    for row in rows:
        t, s = row["teacher"], row["student"]
        out.append(
            [
                label_of(row),
                row["sentences"],
                row["silver"]["ades"],
                pct(t["strict_f1"]),
                pct(s["strict_f1"]),
                f"{100 * (s['strict_f1'] - t['strict_f1']):+.1f}",
                pct(t["lenient_f1"]),
                pct(s["lenient_f1"]),
                f"{100 * (s['lenient_f1'] - t['lenient_f1']):+.1f}",
            ]
        )
    return out


F1_HEADER = [
    "teacher",
    "silver sentences",
    "silver ADEs",
    "teacher strict F1",
    "student strict F1",
    "student - teacher",
    "teacher lenient F1",
    "student lenient F1",
    "student - teacher (lenient)",
]


def scale_label(row: dict[str, Any], pool: int) -> str:
    size = row["sentences"]
    return f"{size} ({min(size, pool)} + {max(0, size - pool)})"


def markdown(result: dict[str, Any]) -> str:
    m = result["machine"]
    lines = [
        "# Distillation study (ADE fold-0 test)",
        "",
        f"Command: `{result['command']}`  ",
        f"Machine: {m['cpu']}, {m['cores']} cores, Python {m['python']}; load average at start / end: "
        f"{result['load_start']} / {result['load_end']} (other jobs shared the machine).  ",
        f"Date: {result['date']}; {result['minutes']} minutes for the distill runs, plus "
        f"{sum(r['seconds'] for r in result['prelabel']) / 60:.1f} minutes of teacher labeling (last table).",
        "",
        "Every row is one `adekd distill` run: the teacher labels the sentences, a MiniLM student (packaged "
        "`all-MiniLM-L6-v2` encoder, drug-centric) trains on the silver labels with a dev set carved from "
        "them, and both are scored with `ade_f1` on the same 427 fold-0 test sentences (pair F1; strict = "
        "same spans, lenient = overlapping spans). The student finds the drugs itself.",
        "",
        "**Reduced to fit the compute budget** (about 45 minutes on 2 shared cores): "
        + "; ".join(result["reductions"])
        + ".",
        "",
        "## Real teacher: SmolLM2-135M-Instruct",
        "",
        *table(F1_HEADER, f1_rows(result["real_teacher"], lambda r: r["name"])),
        "",
        "## Teacher-quality curve (simulated teachers)",
        "",
        "Gold labels of the same sentences corrupted at a noise level; the teacher row is the same "
        "corruption applied to the test sentences. ![student vs teacher](distillation_curve.png)",
        "",
        *table(["noise level"] + F1_HEADER[1:], f1_rows(result["curve"], lambda r: r["noise"])),
        "",
        result["curve_finding"],
        "",
        "## Scale of silver data (few-shot SmolLM2 teacher)",
        "",
        f"The first {result['pool']} sentences are the pool above (ADE-positive); beyond them, unlabeled "
        "sentences from ADE-corpus negatives and BC5CDR abstracts, interleaved "
        f"({json.dumps(result['extra_text'])}). ![student F1 vs silver size](distillation_scale.png)",
        "",
        *table(
            ["silver sentences (pool + unlabeled extra)"] + F1_HEADER[2:],
            [row[:1] + row[2:] for row in f1_rows(result["scale"], lambda r: scale_label(r, result["pool"]))],
        ),
        "",
        "## Cost",
        "",
    ]
    cost = result["cost"]
    teacher, student, gpt = (
        cost["teacher_smollm2_vllm_here"],
        cost["student_minilm_here"],
        cost["gpt_4o_mini_api"],
    )
    lines += table(
        ["labeler", "sentences/s here", f"all PubMed ({cost['pubmed_sentences']:,} sentences)", "cost"],
        [
            [
                "SmolLM2-135M teacher (vLLM, 16 concurrent, schema-constrained)",
                teacher["sentences_per_s"],
                f"{teacher['machine_days']} days on this machine",
                f"${teacher['usd_at_cpu_hour_price']:,} at ${cost['cpu_hour_usd_assumed']}/vCPU-hour",
            ],
            [
                "MiniLM student (batch 64, fp32)",
                student["sentences_per_s"],
                f"{student['machine_days']} days on this machine",
                f"${student['usd_at_cpu_hour_price']:,}",
            ],
            [
                "gpt-4o-mini as teacher (API, few-shot prompt)",
                "n/a (remote)",
                f"{gpt['prompt_tokens_per_sentence']} prompt + "
                f"{gpt['completion_tokens_per_sentence']} answer tokens per sentence",
                f"${gpt['usd']:,} (Batch API ${gpt['usd_batch_api']:,})",
            ],
        ],
    )
    lines += [
        "",
        f"The student labels {cost['student_vs_teacher_speed']}x faster than the SmolLM2 teacher on this "
        f"machine. PubMed size: {cost['pubmed_abstracts']:,} abstracts x {cost['sentences_per_abstract']} "
        "sentences per title+abstract (BC5CDR, adekd's splitter). Timings on a shared, loaded machine.",
        "",
        "## Teacher labeling runs (vLLM server on this CPU)",
        "",
        *table(
            ["prompt", "sentences", "sent to server", "failures", "seconds", "sentences/s", "load before"],
            [
                [
                    r["prompt"],
                    r["sentences"],
                    r["requested"],
                    r["failures"],
                    r["seconds"],
                    r["sentences_per_s"],
                    r["load_before"],
                ]
                for r in result["prelabel"]
            ],
        ),
    ]
    return "\n".join(lines) + "\n"


def plot(result: dict[str, Any], folder: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(10, 4.5))
    for ax, kind in zip(axes, ("strict", "lenient"), strict=True):
        key = f"{kind}_f1"
        xs = [100 * r["teacher"][key] for r in result["curve"]]
        ys = [100 * r["student"][key] for r in result["curve"]]
        ax.plot(xs, ys, "o-", label="simulated teachers")
        for r, x, y in zip(result["curve"], xs, ys, strict=True):
            ax.annotate(f"noise {r['noise']}", (x, y), fontsize=7, xytext=(3, -9), textcoords="offset points")
        for r in result["real_teacher"]:
            ax.plot(100 * r["teacher"][key], 100 * r["student"][key], "s", label=r["name"])
        ax.plot([0, 100], [0, 100], "k--", linewidth=0.8, label="student = teacher")
        ax.set(
            xlim=(0, 100),
            ylim=(0, 100),
            xlabel=f"teacher {kind} F1 (fold-0 test)",
            ylabel=f"student {kind} F1 (fold-0 test)",
            title=f"{kind} pair F1",
        )
        ax.legend(fontsize=7, loc="upper left")
    fig.tight_layout()
    fig.savefig(folder / "distillation_curve.png", dpi=120)
    plt.close(fig)

    fig, ax = plt.subplots(figsize=(5.5, 4))
    sizes = [r["sentences"] for r in result["scale"]]
    for kind in ("strict", "lenient"):
        (line,) = ax.plot(
            sizes, [100 * r["student"][f"{kind}_f1"] for r in result["scale"]], "o-", label=f"student {kind}"
        )
        ax.axhline(
            100 * result["scale"][0]["teacher"][f"{kind}_f1"],
            color=line.get_color(),
            linestyle=":",
            linewidth=0.9,
            label=f"teacher {kind}",
        )
    ax.axvline(result["pool"], color="grey", linewidth=0.6)
    ax.set(
        xscale="log",
        xlabel="silver sentences (log)",
        ylabel="pair F1 on fold-0 test",
        title="student vs silver set size (few-shot SmolLM2)",
    )
    ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(folder / "distillation_scale.png", dpi=120)
    plt.close(fig)


def curve_finding(curve: list[dict[str, Any]]) -> str:
    parts = []
    for kind in ("strict", "lenient"):
        key = f"{kind}_f1"
        above = [
            (r["noise"], 100 * (r["student"][key] - r["teacher"][key]))
            for r in curve
            if r["student"][key] > r["teacher"][key]
        ]
        if above:
            gains = ", ".join(f"noise {noise}: {gain:+.1f}" for noise, gain in above)
            parts.append(
                f"{kind}: student above its teacher at {len(above)} of {len(curve)} levels ({gains} points)"
            )
        else:
            parts.append(f"{kind}: the student never beats its teacher")
    return "Where the claim holds: " + "; ".join(parts) + "."


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--pool", type=int, default=400, help="fold-0 train sentences each teacher labels")
    parser.add_argument("--epochs", type=int, default=8, help="student epochs (best one on silver dev kept)")
    parser.add_argument(
        "--work", type=Path, default=Path("/tmp/adekd-study"), help="run folders and teacher cache"
    )
    parser.add_argument("--output", type=Path, default=RESULTS)
    parser.add_argument("--threads", type=int, default=1, help="torch threads (1 on a shared machine)")
    parser.add_argument(
        "--report-only", action="store_true", help="rewrite the markdown and plots from the results JSON"
    )
    args = parser.parse_args(argv)
    if args.report_only:
        result = json.loads((args.output / "distillation.json").read_text(encoding="utf-8"))
        write_results(args.output, "distillation", result, markdown)
        plot(result, args.output)
        return
    import torch

    # Other jobs share the 2 cores: one intra-op thread per process avoids the thread pool's spinning,
    # which made a 2-thread student train 7x slower than a 1-thread one here.
    torch.set_num_threads(args.threads)
    started, load_start = time.perf_counter(), load_average()
    work = args.work
    work.mkdir(parents=True, exist_ok=True)
    pool, gold = pool_and_gold(args.pool)
    extra, extra_stats = extra_unlabeled(gold, max(SCALE_SIZES) - args.pool)
    write_jsonl(pool, work / "pool.jsonl")
    write_jsonl(gold, work / "gold.jsonl")
    for size in SCALE_SIZES:
        write_jsonl((pool + extra)[:size], work / f"scale-{size}.jsonl")
    student = student_config(args.epochs)
    cache = work / "teacher-cache.sqlite"

    # 1. real teacher: label everything once against the live server, then distill from the cache
    from vllm_server import MODEL_NAME, ServerConfig, serve

    saved = {prompt: work / f"prelabel-{prompt}.json" for prompt in PROMPTS}
    model = MODEL_NAME
    if all(path.is_file() for path in saved.values()):  # a rerun: every answer is in the cache
        prelabels = [json.loads(saved[prompt].read_text(encoding="utf-8")) for prompt in PROMPTS]
    else:
        prelabels = []
        with serve(ServerConfig(log_requests=False)) as server:
            model = server.model
            for prompt in PROMPTS:
                wanted = pool + gold + (extra if prompt == "few-shot" else [])
                config = teacher_config(prompt, model, server.base_url, cache)
                prelabels.append(prelabel(wanted, config, saved[prompt]))
    offline = "http://127.0.0.1:9/v1"  # every answer is cached: no server is needed from here on
    real = []
    for prompt in PROMPTS:
        teacher = teacher_config(prompt, model, offline, cache)
        real.append(
            run_distill(
                work,
                f"smollm2-{prompt}",
                input=str(work / "pool.jsonl"),
                gold=str(work / "gold.jsonl"),
                teacher=teacher,
                student=replace(student),
            )
        )

    # 2. teacher-quality curve
    curve = []
    for noise in NOISE_LEVELS:
        row = run_distill(
            work,
            f"simulated-{noise}",
            input=str(work / "pool.jsonl"),
            gold=str(work / "gold.jsonl"),
            simulated_noise=noise,
            student=replace(student),
        )
        curve.append({**row, "noise": noise})

    # 3. scale of silver data (few-shot teacher; the pool-size row is the real-teacher run again)
    scale = []
    for size in SCALE_SIZES:
        teacher = teacher_config("few-shot", model, offline, cache)
        scale.append(
            run_distill(
                work,
                "smollm2-few-shot" if size == args.pool else f"scale-{size}",
                input=str(work / f"scale-{size}.jsonl"),
                gold=str(work / "gold.jsonl"),
                teacher=teacher,
                student=replace(student),
            )
        )

    # 4. cost
    few_shot = next(p for p in prelabels if p["prompt"] == "few-shot")
    speed = student_speed(work / "smollm2-few-shot" / "student", gold)
    cost = cost_projection(few_shot["sentences_per_s"], speed["sentences_per_s"], few_shot)

    result = {
        "command": " ".join(["python benchmarks/distillation.py", *(argv or sys.argv[1:])]),
        "date": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "machine": machine(),
        "load_start": load_start,
        "load_end": load_average(),
        "minutes": round((time.perf_counter() - started) / 60, 1),
        "pool": args.pool,
        "gold": {"source": "ade_split_0_test.json", "sentences": len(gold)},
        "student_recipe": student.to_dict(),
        "teacher_recipe": {
            k: v
            for k, v in vars(teacher_config("few-shot", model, None, cache)).items()
            if k not in ("cache", "base_url", "prompt", "progress")
        },
        "reductions": [
            f"each teacher labels {args.pool} of the 3,845 fold-0 train sentences (seeded shuffle), not all",
            f"students train {args.epochs} epochs (the best on silver dev kept), one seed, fold 0 only",
            f"{len(NOISE_LEVELS)} noise levels on the curve; silver sizes {', '.join(map(str, SCALE_SIZES))}",
            "teacher answers longer than 128 tokens are failures (no retry with more tokens)",
            f"students train and run on {args.threads} torch thread(s)",
        ],
        "prelabel": prelabels,
        "real_teacher": real,
        "curve": curve,
        "curve_finding": curve_finding(curve),
        "scale": scale,
        "extra_text": extra_stats,
        "student_speed": speed,
        "cost": cost,
    }
    text = write_results(args.output, "distillation", result, markdown)
    plot(result, args.output)
    print(text)


if __name__ == "__main__":
    main()
