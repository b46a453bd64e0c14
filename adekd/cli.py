"""The ``adekd`` command. Thin on purpose: each subcommand parses flags and calls the library.

Each subcommand lives in one ``_add_<name>`` function that declares its flags and sets ``func``;
the library imports happen inside the handlers so ``adekd --help`` stays fast.
"""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Callable, Sequence


class CLIError(Exception):
    """An error the user can fix: printed as one line, no stack trace, exit status 2."""


def _add_corpus(sub: argparse._SubParsersAction) -> None:
    corpus = sub.add_parser("corpus", help="inspect corpora")
    corpus_sub = corpus.add_subparsers(dest="corpus_command", required=True)
    stats = corpus_sub.add_parser(
        "stats",
        help="count records, drugs, ADEs and relations of a corpus",
        description="Count records, drug mentions, ADE mentions and drug->ADE relations. PATH is the ADE "
        "corpus folder (DRUG-AE.rel, ADE-NEG.txt), a SpERT split JSON, a PubTator file, a records "
        "JSONL, a text JSONL or plain text file (one text per line), a dataset folder or a Hub dataset id.",
    )
    stats.add_argument("path", help="corpus file, folder or Hub dataset id")
    stats.add_argument("--split", help="split of a dataset folder or Hub dataset with several")
    stats.add_argument("--json", dest="json_out", help="also write the counts to this JSON file")
    stats.set_defaults(func=_run_corpus_stats)


def _run_corpus_stats(args: argparse.Namespace) -> None:
    import json

    from adekd.corpora import CorpusError, corpus_stats, detect_source, load_records
    from adekd.records import RecordError

    try:
        kind = detect_source(args.path)
        stats = corpus_stats(load_records(args.path, split=args.split))
    except (CorpusError, RecordError) as err:
        raise CLIError(str(err)) from None
    counts = stats.as_dict()
    print(f"{args.path} ({kind})")
    for name, value in counts.items():
        print(f"  {name.replace('_', ' '):<18} {'unknown' if value is None else f'{value:,}'}")
    if args.json_out:
        with open(args.json_out, "w", encoding="utf-8") as handle:
            json.dump({"source": str(args.path), "kind": kind, **counts}, handle, indent=2)
            handle.write("\n")


def _add_evaluate(sub: argparse._SubParsersAction) -> None:
    evaluate = sub.add_parser(
        "evaluate",
        help="score predictions against gold records with the ade_f1 metric",
        description="Score predicted records against gold records: strict and lenient precision, recall "
        "and F1 of (drug, ADE) pairs, drug mentions and ADE mentions, micro-averaged over sentences. "
        "Records are matched by id, in any order; a gold record with no prediction counts as an empty "
        "prediction. Both sides are any source `adekd corpus stats` reads (records JSONL, dataset "
        "folder, SpERT split JSON, ADE corpus folder), so teacher output scores the same way.",
    )
    evaluate.add_argument("--predictions", required=True, help="predicted records (JSONL or dataset folder)")
    evaluate.add_argument(
        "--references",
        required=True,
        help="gold records (JSONL, dataset folder, SpERT JSON, ADE corpus folder)",
    )
    evaluate.add_argument("--output", help="write the results as JSON to this file")
    evaluate.add_argument(
        "--per-record", action="store_true", help="include each sentence's TP/FP/FN lists in the JSON output"
    )
    evaluate.set_defaults(func=_run_evaluate)


def _run_evaluate(args: argparse.Namespace) -> None:
    import json
    from pathlib import Path

    from adekd.corpora import load_records
    from adekd.metrics import format_table, score

    try:
        references = load_records(args.references)
        predictions = load_records(args.predictions)
    except ValueError as err:  # CorpusError and RecordError name the file, line or record
        raise CLIError(str(err)) from None
    try:
        results = score(predictions, references, return_per_record=args.per_record)
    except ValueError as err:
        raise CLIError(
            f"--predictions {args.predictions} against --references {args.references}: {err}"
        ) from None
    print(format_table(results))
    if args.output:
        results = {"predictions": args.predictions, "references": args.references, **results}
        output = Path(args.output)
        output.parent.mkdir(parents=True, exist_ok=True)
        output.write_text(json.dumps(results, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
        logging.getLogger("adekd.cli").info("wrote %s", output)


SUBCOMMANDS: list[Callable[[argparse._SubParsersAction], None]] = [_add_corpus, _add_evaluate]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="adekd",
        description="Distill LLMs into small drug-centric students for adverse drug event extraction.",
    )
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for add in SUBCOMMANDS:
        add(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    try:
        args.func(args)
    except CLIError as err:
        print(f"adekd {args.command}: error: {err}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main())
