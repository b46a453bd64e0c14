"""The one argument parser of training, shared by ``adekd train`` and ``scripts/train.py``.

Flags are generated from the fields of :class:`~adekd.training.config.TrainingConfig` (name, type,
default, help), so a new hyper-parameter is added in one place and reaches the CLI, the
``accelerate launch`` script and the saved JSON at once.
"""

from __future__ import annotations

import argparse
import dataclasses
import logging
import os
import types
import typing
from collections.abc import Sequence
from typing import Any

from adekd.training.config import TrainingConfig, TrainingConfigError, flag_name
from adekd.training.data import TrainingDataError

NONE_WORDS = ("none", "null")

USER_ERRORS = (TrainingConfigError, TrainingDataError)
"""Errors the user fixes by changing flags or data: one line, no traceback."""


def _optional(parse: type) -> typing.Callable[[str], Any]:
    def convert(text: str) -> Any:
        return None if text.lower() in NONE_WORDS else parse(text)

    convert.__name__ = parse.__name__
    return convert


def _argument_options(annotation: Any, default: Any) -> dict[str, Any]:
    """argparse options for a config field type: ``int | None``, ``Literal[...]``, ``bool``, ``list[str]``."""
    origin, args = typing.get_origin(annotation), typing.get_args(annotation)
    if annotation is bool:
        return {"action": argparse.BooleanOptionalAction if default else "store_true"}
    if origin is typing.Literal:
        return {"choices": list(args), "type": type(args[0])}
    if origin is list:
        return {"nargs": "+", "type": args[0]}
    if origin in (typing.Union, types.UnionType):
        (inner,) = [a for a in args if a is not type(None)]
        return {"type": inner if inner is str else _optional(inner)}
    return {"type": annotation}


def add_training_arguments(parser: argparse.ArgumentParser) -> argparse.ArgumentParser:
    """Declare every :class:`TrainingConfig` field as a flag, plus the cross-validation flags."""
    hints = typing.get_type_hints(TrainingConfig)
    for f in dataclasses.fields(TrainingConfig):
        default = f.default if f.default is not dataclasses.MISSING else f.default_factory()
        options = _argument_options(hints[f.name], default)
        flags = [flag_name(f.name)]
        if flags[0] != "--" + f.name.replace("_", "-"):
            flags.append("--" + f.name.replace("_", "-"))
        shown_default = "" if options.get("action") == "store_true" else f" (default: {default})"
        parser.add_argument(
            *flags, dest=f.name, default=default, help=f.metadata.get("help", "") + shown_default, **options
        )
    cv = parser.add_argument_group("cross-validation")
    cv.add_argument(
        "--cv",
        metavar="SPLITS_DIR",
        help="train and score every fold of a SpERT splits folder (ade_split_K_{train,test}.json) instead of "
        "--train; each fold's dev is carved from its train file",
    )
    cv.add_argument("--folds", help="comma-separated folds to run with --cv, e.g. 0,1 (default: all)")
    return parser


def config_from_args(args: argparse.Namespace) -> TrainingConfig:
    """The :class:`TrainingConfig` the parsed flags describe (not yet validated)."""
    return TrainingConfig(**{f.name: getattr(args, f.name) for f in dataclasses.fields(TrainingConfig)})


def parse_folds(text: str | None) -> list[int] | None:
    """``"0,1"`` -> ``[0, 1]``; ``None`` means every fold."""
    if text is None:
        return None
    try:
        return [int(part) for part in text.split(",") if part.strip()]
    except ValueError:
        raise TrainingConfigError(
            f"--folds must be comma-separated fold numbers like 0,1, got {text!r}"
        ) from None


def quiet_logs(verbose: bool) -> None:
    """Keep the console to adekd's own progress: Accelerate's per-file INFO lines only with ``-v``,
    and only the main process reports (the others would repeat every line)."""
    if not verbose:
        logging.getLogger("accelerate").setLevel(logging.WARNING)
    if int(os.environ.get("RANK", "0")) > 0:
        logging.getLogger("adekd").setLevel(logging.WARNING)


def run_from_args(args: argparse.Namespace) -> dict[str, Any]:
    """Train (or cross-validate) as the flags say; returns the metrics written to ``metrics.json``.

    Under ``accelerate launch`` the processes' group lives until every run of the command is done.
    """
    import torch.distributed

    result = _run(args)  # after an error the process exits; a rank may still wait in a collective
    if torch.distributed.is_available() and torch.distributed.is_initialized():
        torch.distributed.destroy_process_group()
    return result


def _run(args: argparse.Namespace) -> dict[str, Any]:
    quiet_logs(getattr(args, "verbose", False))
    config = config_from_args(args)
    if args.cv:
        from adekd.training.cv import cross_validate

        if config.train:
            raise TrainingConfigError("--cv trains on each fold's train file; leave out --train")
        return cross_validate(args.cv, config, folds=parse_folds(args.folds))
    if args.folds:
        raise TrainingConfigError("--folds only applies with --cv")
    from adekd.training.loop import train

    return train(config)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="train.py",
        description="Train a drug-centric adekd student (run directly or with `accelerate launch`).",
    )
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    return add_training_arguments(parser)


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of ``scripts/train.py``: same flags as ``adekd train``."""
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    try:
        run_from_args(args)
    except USER_ERRORS as err:
        parser.exit(2, f"{parser.prog}: error: {err}\n")
    return 0
