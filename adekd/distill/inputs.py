"""What a distillation run labels and what it is scored on: the user's files or the embedded defaults.

With no ``input``, the run picks its default input:

- **the ADE corpus beside the project** (``$ADEKD_SHARED_DATA``, else ``../shared/data`` from the
  working directory or from the repository): :data:`DEFAULT_SENTENCES` sentences of the SpERT
  fold-0 *training* split (a fixed shuffle) with their labels hidden from the teacher, and the
  first :data:`DEFAULT_GOLD` sentences of fold-0 *test* as gold. The corpus is read where it
  lies; adekd never ships it (it has no license to redistribute).
- **otherwise the embedded sample**: sentences written for adekd (``adekd/data/sample_*.jsonl``),
  40 to label and 16 gold, so a fresh machine runs end to end offline.

Input sentences whose text is also a gold sentence are dropped (and counted): the student must
never train on the sentences it is scored on.
"""

from __future__ import annotations

import itertools
import logging
import os
import random
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

from adekd.records import Record

logger = logging.getLogger(__name__)

SHARED_DATA_ENV = "ADEKD_SHARED_DATA"
DEFAULT_SENTENCES = 240
"""Default input size with the ADE corpus, set by the embedded teacher's speed: SmolLM2 in
transformers labels about one sentence per second on 2 idle cores (its few-shot prompt's 520 tokens
dominate), so 240 input and 60 gold sentences run end to end in about 7 minutes there, leaving
room within the 15-minute budget for a busier machine (README, distillation section)."""
DEFAULT_GOLD = 60
DEFAULT_SEED = 0
_FOLD0 = Path("ade_corpus") / "splits"
_SOURCE_KEYS = ("doc_id", "doc_start")


@dataclass
class RunInputs:
    """The sentences to label (labels kept only when ``labeled``) and the gold records, with provenance."""

    sentences: list[Record]
    gold: list[Record] | None
    input_source: str
    gold_source: str | None
    excluded_in_gold: int = 0


def find_shared_data() -> Path | None:
    """The shared data folder holding the ADE corpus splits, if one is at hand."""
    candidates = [os.environ.get(SHARED_DATA_ENV)]
    candidates += [
        Path.cwd().parent / "shared" / "data",
        Path(__file__).resolve().parents[3] / "shared" / "data",
    ]
    for candidate in candidates:
        if candidate and (Path(candidate) / _FOLD0 / "ade_split_0_train.json").is_file():
            return Path(candidate)
    return None


def _sample_file(name: str) -> Path:
    return Path(str(resources.files("adekd") / "data" / name))


def default_inputs(max_sentences: int | None, max_gold: int | None) -> RunInputs:
    """The default input and gold set (see the module docstring), labels included."""
    from adekd.corpora import read_spert
    from adekd.records import read_jsonl

    shared = find_shared_data()
    if shared is not None:
        train_path, test_path = (
            shared / _FOLD0 / "ade_split_0_train.json",
            shared / _FOLD0 / "ade_split_0_test.json",
        )
        sentences = read_spert(train_path)
        random.Random(DEFAULT_SEED).shuffle(sentences)
        sentences = sentences[: max_sentences or DEFAULT_SENTENCES]
        gold = read_spert(test_path)[: max_gold or DEFAULT_GOLD]
        return RunInputs(
            sentences,
            gold,
            f"{train_path} (shuffled with seed {DEFAULT_SEED}, first {len(sentences)}; labels hidden)",
            f"{test_path} (first {len(gold)})",
        )
    sentences_path, gold_path = _sample_file("sample_sentences.jsonl"), _sample_file("sample_gold.jsonl")
    logger.info("no ADE corpus found (set %s); using the embedded sample sentences", SHARED_DATA_ENV)
    sentences = read_jsonl(sentences_path)[:max_sentences]
    gold = read_jsonl(gold_path)[:max_gold]
    return RunInputs(
        sentences, gold, f"embedded sample ({sentences_path.name})", f"embedded sample ({gold_path.name})"
    )


def load_inputs(
    source: str | None,
    gold: str | None,
    *,
    max_sentences: int | None = None,
    max_gold: int | None = None,
    split_sentences: bool | None = None,
    labeled: bool = False,
) -> RunInputs:
    """Read the run's sentences and gold set; ``labeled`` keeps the input's labels (simulated teachers).

    Raises ``ValueError`` (a :class:`~adekd.corpora.CorpusError` or
    :class:`~adekd.records.RecordError` naming the file and line) for unreadable input, and when
    nothing is left to label.
    """
    from adekd.corpora import load_records
    from adekd.teacher.run import read_inputs

    if source is None:
        run = default_inputs(max_sentences, max_gold)
        if gold is not None:
            run.gold, run.gold_source = load_records(gold)[:max_gold], gold
        sentences = iter(run.sentences)
    else:
        sentences = iter(load_records(source)) if labeled else read_inputs(source, split_sentences)
        gold_records = load_records(gold)[:max_gold] if gold is not None else None
        run = RunInputs([], gold_records, source, gold)
    if run.gold is not None and not run.gold:
        raise ValueError(f"gold {run.gold_source}: no records to score on")
    gold_texts = {record["text"] for record in run.gold or ()}
    excluded = 0

    def not_gold(record: Record) -> bool:
        nonlocal excluded
        excluded += record["text"] in gold_texts
        return record["text"] not in gold_texts

    kept = list(itertools.islice(filter(not_gold, sentences), max_sentences))
    run.sentences = kept if labeled else [_unlabeled(record) for record in kept]
    run.excluded_in_gold = excluded
    if excluded:
        logger.warning("%d input sentences are also gold sentences; not labeled", excluded)
    if labeled and not any(record["drugs"] or record["ades"] for record in run.sentences):
        raise ValueError(
            f"input {run.input_source}: a simulated teacher needs labeled records, and these have none"
        )
    if not any(record["text"].strip() for record in run.sentences):
        reason = " (every one is also a gold sentence)" if excluded else ""
        raise ValueError(f"input {run.input_source}: no sentences to label{reason}")
    return run


def _unlabeled(record: Record) -> Record:
    return {"id": record["id"], "text": record["text"], "drugs": [], "ades": [],
            **{key: record[key] for key in _SOURCE_KEYS if key in record}}  # fmt: skip
