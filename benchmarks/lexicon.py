"""Benchmark of the drug lexicon matcher (:class:`adekd.corpora.DrugLexicon`).

Speed: sentences per second of ``DrugLexicon.find`` over the 20,967 ADE corpus sentences with the
full DrugBank vocabulary, pure Python on one core (the process is pinned to one CPU), best and
median of ``--repeats`` passes. Quality: drug mentions found by the lexicon against the gold drug
spans of the 4,272 positive ADE sentences (the negatives have no gold drugs), scored with the
project's ``ade_f1`` metric: strict (same span) and lenient (overlap of at least one character,
one-to-one). Gold drugs are only the drugs of an ADE relation, so a correct lexicon hit on a drug
without an ADE counts as a false positive: precision here is a lower bound.

The lexicon's short-name policy is chosen on BC5CDR train+dev chemical mentions (the "selection"
rows), never on the ADE corpus reported above them.

    .venv/bin/python benchmarks/lexicon.py
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

from machine import load_average, machine, write_results

from adekd.corpora import DrugLexicon, load_records, read_pubtator
from adekd.metrics import score

REPO = Path(__file__).resolve().parents[1]
SHARED_DATA = REPO.parent / "shared" / "data"

VARIANTS = {
    "defaults (min_length=2, exact case up to 4 chars, common words excluded)": {},
    "no common-word exclusion": {"exclude": ()},
    "min_length=3, no exact-case rule, no exclusion": {
        "min_length": 3,
        "exact_case_max_length": 0,
        "exclude": (),
    },
    "every name, case-insensitive": {"min_length": 1, "exact_case_max_length": 0, "exclude": ()},
}

TABLE_HEADER = (
    "| lexicon policy | predicted | gold | strict P | strict R | strict F1 "
    "| lenient P | lenient R | lenient F1 |",
    "|---|---:|---:|---:|---:|---:|---:|---:|---:|",
)


def predictions(lexicon: DrugLexicon, records: list[dict]) -> list[dict]:
    return [{"id": r["id"], "text": r["text"], "drugs": lexicon.find(r["text"]), "ades": []} for r in records]


def drug_scores(lexicon: DrugLexicon, gold: list[dict]) -> dict:
    results = score(predictions(lexicon, gold), gold)
    keys = [f"drug_{m}_{k}" for m in ("strict", "lenient") for k in ("precision", "recall", "f1")]
    return {key.removeprefix("drug_"): round(results[key], 4) for key in keys} | {
        "predicted": results["drug_num_predicted"],
        "gold": results["drug_num_gold"],
    }


def bc5cdr_chemical_records(folder: Path) -> list[dict]:
    """BC5CDR train+dev documents as records whose drugs are the annotated Chemical mentions."""
    records = []
    for name in ("CDR_TrainingSet.PubTator.txt", "CDR_DevelopmentSet.PubTator.txt"):
        for doc in read_pubtator(folder / name):
            spans = sorted({(m.start, m.end) for m in doc.mentions if m.type == "Chemical"})
            drugs = [{"text": doc.text[s:e], "start": s, "end": e} for s, e in spans]
            records.append({"id": doc.pmid, "text": doc.text, "drugs": drugs, "ades": []})
    return records


def time_matching(lexicon: DrugLexicon, texts: list[str], repeats: int) -> list[float]:
    rates = []
    for _ in range(repeats):
        start = time.perf_counter()
        for text in texts:
            lexicon.find(text)
        rates.append(len(texts) / (time.perf_counter() - start))
    return rates


def markdown(result: dict) -> str:
    speed, m = result["speed"], result["machine"]
    lines = [
        "# Drug lexicon benchmark",
        "",
        f"Command: `{result['command']}`  ",
        f"Machine: {m['cpu']}, {m['cores']} cores, Python {m['python']}; pinned to one core. "
        f"Load average before/after: {result['load_before']} / {result['load_after']} "
        "(other jobs shared the machine).  ",
        f"Date: {result['date']}",
        "",
        f"Lexicon: `{result['lexicon']}`, {result['lexicon_names']:,} names after the default policy, "
        f"built in {result['build_seconds']:.2f} s.",
        "",
        "## Speed (ADE corpus, all sentences)",
        "",
        "| sentences | repeats | best sentences/s | median sentences/s | target |",
        "|---:|---:|---:|---:|---:|",
        f"| {speed['sentences']:,} | {speed['repeats']} | {speed['best']:,.0f} | {speed['median']:,.0f} "
        "| 20,000 |",
        "",
        f"## Drug mentions vs gold ({result['ade_positive_sentences']:,} positive ADE sentences)",
        "",
        *TABLE_HEADER,
    ]
    for section in ("ade_corpus", "selection_bc5cdr_train_dev"):
        if section == "selection_bc5cdr_train_dev":
            lines += [
                "",
                "## Selection of the policy: BC5CDR train+dev chemical mentions (1,000 abstracts)",
                "",
                *TABLE_HEADER,
            ]
        for name, s in result[section].items():
            lines.append(
                f"| {name} | {s['predicted']:,} | {s['gold']:,} | {s['strict_precision']:.3f} | "
                f"{s['strict_recall']:.3f} | {s['strict_f1']:.3f} | {s['lenient_precision']:.3f} | "
                f"{s['lenient_recall']:.3f} | {s['lenient_f1']:.3f} |"
            )
    lines += [
        "",
        "Gold drugs are only those in an ADE relation, so precision on the ADE corpus is a lower bound. "
        "Strict: same character span; lenient: overlap of at least one character, one-to-one (`ade_f1`).",
        "",
    ]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--lexicon", type=Path, default=SHARED_DATA / "drug_lexicon" / "drugbank_vocabulary.csv"
    )
    parser.add_argument("--corpus", type=Path, default=SHARED_DATA / "ade_corpus")
    parser.add_argument("--bc5cdr", type=Path, default=SHARED_DATA / "bc5cdr")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--out", type=Path, default=REPO / "benchmarks" / "results")
    args = parser.parse_args()

    os.sched_setaffinity(0, {min(os.sched_getaffinity(0))})  # one core, whatever the machine has
    load_before = load_average()
    records = load_records(args.corpus)
    positives = [r for r in records if r["ades"]]
    start = time.perf_counter()
    lexicon = DrugLexicon.from_file(args.lexicon)
    build_seconds = time.perf_counter() - start
    rates = time_matching(lexicon, [r["text"] for r in records], args.repeats)

    bc5cdr = bc5cdr_chemical_records(args.bc5cdr)
    ade_corpus, selection = {}, {}
    for name, options in VARIANTS.items():
        variant = lexicon if not options else DrugLexicon.from_file(args.lexicon, **options)
        ade_corpus[name] = drug_scores(variant, positives)
        selection[name] = drug_scores(variant, bc5cdr)

    result = {
        "command": " ".join(
            [os.path.relpath(sys.executable, REPO), os.path.relpath(sys.argv[0], REPO), *sys.argv[1:]]
        ),
        "date": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "machine": machine(),
        "load_before": load_before,
        "load_after": load_average(),
        "lexicon": os.path.relpath(args.lexicon, REPO),
        "lexicon_names": len(lexicon),
        "build_seconds": round(build_seconds, 3),
        "speed": {
            "sentences": len(records),
            "repeats": args.repeats,
            "best": round(max(rates)),
            "median": round(statistics.median(rates)),
            "all": [round(r) for r in rates],
        },
        "ade_positive_sentences": len(positives),
        "ade_corpus": ade_corpus,
        "selection_bc5cdr_train_dev": selection,
    }
    print(write_results(args.out, "lexicon", result, markdown))


if __name__ == "__main__":
    main()
