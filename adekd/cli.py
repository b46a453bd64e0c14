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
        "JSONL or a dataset folder.",
    )
    stats.add_argument("path", help="corpus file or folder")
    stats.add_argument("--json", dest="json_out", help="also write the counts to this JSON file")
    stats.set_defaults(func=_run_corpus_stats)


def _run_corpus_stats(args: argparse.Namespace) -> None:
    raise CLIError("corpus stats is not available yet")


SUBCOMMANDS: list[Callable[[argparse._SubParsersAction], None]] = [_add_corpus]


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
