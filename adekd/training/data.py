"""Training data: load and check records, carve a dev split, and batch sentences by length.

Everything here runs before the first training step, so bad data stops a run before it has cost
anything, with the count and the first offending ids in the message.
"""

from __future__ import annotations

import functools
import hashlib
import logging
import math
import random
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

from adekd.records import Record, ValidationReport, short_hash

logger = logging.getLogger(__name__)

SHOWN_ERRORS = 5


class TrainingDataError(ValueError):
    """Training data that cannot be used; the message names the source, the count and the first ids."""


@dataclass
class LoadedData:
    """Records of one source and what was dropped on the way, for the log and ``metrics.json``."""

    source: str
    split: str | None
    records: list[Record]
    num_invalid: int = 0
    commit: str | None = None
    """The Hub commit a dataset id was read at, as the Hub named it when the run asked (``None`` for
    local data, or when the Hub could not be asked)."""

    @functools.cached_property
    def fingerprint(self) -> str:
        """A hash of the records' content: equal exactly when a later read holds the same records.
        Computed once: the resume check and ``metrics.json`` both quote it."""
        return short_hash(self.records)


def load_training_records(
    source: str,
    split: str | None = None,
    on_invalid: str = "stop",
    role: str = "train",
    task: str | None = None,
    revision: str | None = None,
) -> LoadedData:
    """Read labeled records from any source :func:`adekd.corpora.load_records` knows, checking every span.

    ``task`` (``--task``) decides how a PubTator file reads: a task with a ``pubtator`` section
    (chemical-disease) makes it labeled records, otherwise it is unlabeled text and stops the run.
    With ``on_invalid="stop"`` any invalid record stops the run; with ``"skip"`` invalid records
    are dropped. Both report how many and the first ones. Data without a single drug (unlabeled
    text) and empty data always stop: training on them is never what the user meant. ``revision`` is
    a Hub dataset id's branch, tag or commit.
    """
    from adekd.corpora import load_records

    flag = f"--{role}"
    report = ValidationReport()
    try:
        records = load_records(
            source, split=split, revision=revision, on_error="skip", report=report, task=task
        )
    except (OSError, ValueError) as err:
        hint = f" (choose one with {flag}-split)" if "splits" in str(err) else ""
        raise TrainingDataError(f"{flag} {source}: cannot read the data: {err}{hint}") from None
    total = report.kept + report.skipped
    if report.skipped:
        summary = (
            f"{flag} {source}: {report.skipped} of {total} records are invalid "
            f"(first: {'; '.join(report.errors[:SHOWN_ERRORS])})"
        )
        if on_invalid != "skip":
            raise TrainingDataError(f"{summary}. Fix them, or pass --on-invalid skip to leave them out.")
        logger.warning("%s; skipping them (--on-invalid skip)", summary)
    if not records:
        raise TrainingDataError(
            f"{flag} {source}: no usable records (read {total}, invalid {report.skipped})"
        )
    if not any(record["drugs"] for record in records):
        raise TrainingDataError(
            f"{flag} {source}: none of the {len(records)} records has a drug mention; training needs labeled "
            "records (gold, or silver from `adekd label`)"
        )
    seen: set[str] = set()
    repeated = [r["id"] for r in records if r["id"] in seen or seen.add(r["id"])]
    if repeated:
        raise TrainingDataError(
            f"{flag} {source}: {len(repeated)} record ids occur more than once "
            f"(first: {', '.join(repeated[:SHOWN_ERRORS])}); ids must be unique"
        )
    return LoadedData(source=source, split=split, records=records, num_invalid=report.skipped)


def _split_key(seed: int, record_id: str) -> str:
    return hashlib.sha256(f"{seed}:{record_id}".encode()).hexdigest()


def carve_dev_split(
    records: Sequence[Record], fraction: float, seed: int
) -> tuple[list[Record], list[Record]]:
    """Split ``records`` into (train, dev) by a seeded hash of each id.

    The split depends only on the ids, the fraction and the seed, never on the order of the input,
    so a resumed or repeated run sees the same dev sentences.
    """
    if len(records) < 2:
        raise TrainingDataError(
            f"cannot carve a dev split from {len(records)} training record(s); give --dev or more data"
        )
    num_dev = min(len(records) - 1, max(1, round(len(records) * fraction)))
    ranked = sorted(range(len(records)), key=lambda i: _split_key(seed, records[i]["id"]))
    dev_indices = set(ranked[:num_dev])
    train = [r for i, r in enumerate(records) if i not in dev_indices]
    dev = [r for i, r in enumerate(records) if i in dev_indices]
    return train, dev


class LengthGroupedBatchSampler:
    """Shuffled batches of indices whose items have similar lengths, reproducible per (seed, epoch).

    Indices are shuffled, cut into mega-batches of ``mega_batch_factor`` batches, each mega-batch
    is sorted by length, and the sorted sequence is cut into batches whose order is shuffled again.
    Padding then stays small while every epoch still sees a different order. Only the last batch
    may be short: Accelerate's per-process sharding expects full batches before the last one.
    The order depends only on the seed and the epoch (no global random state), which is what lets
    a resumed run skip exactly the batches it has already trained on.
    """

    def __init__(
        self,
        lengths: Sequence[int],
        batch_size: int,
        seed: int,
        group_by_length: bool = True,
        mega_batch_factor: int = 50,
    ):
        self.lengths = list(lengths)
        self.batch_size = batch_size
        self.seed = seed
        self.group_by_length = group_by_length
        self.mega_batch_factor = mega_batch_factor
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __len__(self) -> int:
        return math.ceil(len(self.lengths) / self.batch_size)

    def __iter__(self) -> Iterator[list[int]]:
        rng = random.Random(self.seed * 1_000_003 + self.epoch)
        order = list(range(len(self.lengths)))
        rng.shuffle(order)
        if self.group_by_length:
            mega = self.batch_size * self.mega_batch_factor
            order = [
                index
                for start in range(0, len(order), mega)
                for index in sorted(order[start : start + mega], key=lambda i: self.lengths[i], reverse=True)
            ]
        batches = [order[i : i + self.batch_size] for i in range(0, len(order), self.batch_size)]
        last = batches.pop() if batches and len(batches[-1]) < self.batch_size else None
        rng.shuffle(batches)
        yield from batches
        if last:
            yield last
