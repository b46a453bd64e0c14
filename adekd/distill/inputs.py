"""What a distillation run labels and what it is scored on: the user's files or the embedded defaults.

With no ``input``, the run picks the default input of its task. For ``ade`` (the default task):

- **the ADE corpus beside the project** (``$ADEKD_SHARED_DATA``, else ``../shared/data`` from the
  working directory or from the repository): :data:`DEFAULT_SENTENCES` sentences of the SpERT
  fold-0 *training* split (a fixed shuffle) with their labels hidden from the teacher, and the
  first :data:`DEFAULT_GOLD` sentences of fold-0 *test* as gold. The corpus is read where it
  lies; adekd never ships it (it has no license to redistribute).
- **otherwise the embedded sample**: sentences written for adekd (``adekd/data/sample_*.jsonl``),
  40 to label and 16 gold, so a fresh machine runs end to end offline.

For ``chemical-disease``, BC5CDR beside the project (``bc5cdr/`` in the same folder), read as
sentence records (:mod:`adekd.corpora.cdr`): :data:`DEFAULT_SENTENCES` sentences of the official
*training* documents that mention at least one chemical (a fixed shuffle), labels hidden from the
teacher, and :data:`DEFAULT_GOLD` sentences with a chemical from the official *test* documents as
gold. Sentences without a chemical cannot hold a chemical -> disease pair: labeling them would spend
the teacher's time (about a second per sentence here) on answers known to be empty, and a user
reaches the same filter with a chemical lexicon or NER tagger. Sentences with a chemical but no
induced disease (most of them) stay in, so the student still learns what is *not* a relation. There
is no embedded sample for this task: without BC5CDR, pass ``input`` and ``gold``.

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
from adekd.tasks import TaskSpec, load_task

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
_ADE_MARKER = _FOLD0 / "ade_split_0_train.json"
_BC5CDR = Path("bc5cdr")
_CDR_TRAIN, _CDR_TEST = _BC5CDR / "CDR_TrainingSet.PubTator.txt", _BC5CDR / "CDR_TestSet.PubTator.txt"
_SOURCE_KEYS = ("doc_id", "doc_start")


@dataclass
class RunInputs:
    """The sentences to label (labels kept only when ``labeled``) and the gold records, with provenance."""

    sentences: list[Record]
    gold: list[Record] | None
    input_source: str
    gold_source: str | None
    excluded_in_gold: int = 0


def find_shared_data(marker: Path = _ADE_MARKER) -> Path | None:
    """The shared data folder holding ``marker`` (by default the ADE corpus splits), if one is at hand."""
    candidates = [os.environ.get(SHARED_DATA_ENV)]
    candidates += [
        Path.cwd().parent / "shared" / "data",
        Path(__file__).resolve().parents[3] / "shared" / "data",
    ]
    for candidate in candidates:
        if candidate and (Path(candidate) / marker).is_file():
            return Path(candidate)
    return None


def _sample_file(name: str) -> Path:
    return Path(str(resources.files("adekd") / "data" / name))


def default_inputs(
    max_sentences: int | None, max_gold: int | None, task: str | os.PathLike | TaskSpec | None = None
) -> RunInputs:
    """The default input and gold set of ``task`` (see the module docstring), labels included.

    Raises ``ValueError`` for a task without default data (a user's task file, or
    ``chemical-disease`` without BC5CDR at hand).
    """
    from adekd.corpora.cdr import CID_TASK

    name = load_task(task).name
    if name == CID_TASK:
        return _cid_default_inputs(max_sentences, max_gold)
    if name != "ade":
        raise ValueError(f"task {name!r} has no default input: pass input and gold (labeled records)")
    return _ade_default_inputs(max_sentences, max_gold)


def _ade_default_inputs(max_sentences: int | None, max_gold: int | None) -> RunInputs:
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


def _cid_default_inputs(max_sentences: int | None, max_gold: int | None) -> RunInputs:
    from adekd.corpora import read_relation_records
    from adekd.corpora.cdr import CID_TASK

    shared = find_shared_data(_CDR_TRAIN)
    if shared is None or not (shared / _CDR_TEST).is_file():
        raise ValueError(
            f"task {CID_TASK!r}: BC5CDR not found (looked for {_CDR_TRAIN} in ${SHARED_DATA_ENV} and "
            "../shared/data); set that variable, or pass input and gold (e.g. CDR_TestSet.PubTator.txt)"
        )

    def with_chemical(path: Path, size: int) -> list[Record]:
        records = [record for record in read_relation_records(path, CID_TASK) if record["drugs"]]
        random.Random(DEFAULT_SEED).shuffle(records)
        return records[:size]

    train_path, test_path = shared / _CDR_TRAIN, shared / _CDR_TEST
    sentences = with_chemical(train_path, max_sentences or DEFAULT_SENTENCES)
    gold = with_chemical(test_path, max_gold or DEFAULT_GOLD)
    return RunInputs(
        sentences,
        gold,
        f"{train_path} (sentences with a chemical, shuffled with seed {DEFAULT_SEED}, first "
        f"{len(sentences)}; labels hidden)",
        f"{test_path} (sentences with a chemical, shuffled with seed {DEFAULT_SEED}, first {len(gold)})",
    )


def load_inputs(
    source: str | None,
    gold: str | None,
    *,
    max_sentences: int | None = None,
    max_gold: int | None = None,
    split_sentences: bool | None = None,
    labeled: bool = False,
    task: str | os.PathLike | TaskSpec | None = None,
) -> RunInputs:
    """Read the run's sentences and gold set; ``labeled`` keeps the input's labels (simulated teachers).

    ``task`` picks the default input (``source=None``) and reads PubTator files of a task with a
    ``pubtator`` section (BC5CDR for ``chemical-disease``) as its labeled records, for gold and for
    labeled input.

    Raises ``ValueError`` (a :class:`~adekd.corpora.CorpusError` or
    :class:`~adekd.records.RecordError` naming the file and line) for unreadable input, and when
    nothing is left to label.
    """
    from adekd.corpora import load_records
    from adekd.teacher.run import read_inputs

    if source is None:
        run = default_inputs(max_sentences, max_gold, task)
        if gold is not None:
            run.gold, run.gold_source = load_records(gold, task=task)[:max_gold], gold
        sentences = iter(run.sentences)
    else:
        sentences = iter(load_records(source, task=task)) if labeled else read_inputs(source, split_sentences)
        gold_records = load_records(gold, task=task)[:max_gold] if gold is not None else None
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
    if not any(record["text"].strip() for record in run.sentences):
        reason = " (every one is also a gold sentence)" if excluded else ""
        raise ValueError(f"input {run.input_source}: no sentences to label{reason}")
    if labeled and not any(record["drugs"] or record["ades"] for record in run.sentences):
        raise ValueError(
            f"input {run.input_source}: a simulated teacher needs labeled records, and these have none"
        )
    return run


def _unlabeled(record: Record) -> Record:
    return {"id": record["id"], "text": record["text"], "drugs": [], "ades": [],
            **{key: record[key] for key in _SOURCE_KEYS if key in record}}  # fmt: skip
