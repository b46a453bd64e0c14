"""One entry point from "a corpus the user has" to records: :func:`load_records`.

Users hand adekd whatever they hold: the raw ADE corpus folder, a SpERT split, a PubTator dump, a
records JSONL, a ``datasets`` folder, a plain text file or a Hub dataset id. :func:`detect_source`
says which of these a path is, :func:`load_records` reads it into validated records.
"""

from __future__ import annotations

import json
import logging
import os
import re
from pathlib import Path
from typing import Literal

import datasets
from datasets.exceptions import DatasetGenerationError

from adekd.corpora.ade_corpus import is_ade_corpus, read_ade_corpus
from adekd.corpora.cdr import read_relation_records
from adekd.corpora.hub import (
    ADE_CORPUS_V2_CLASSIFICATION,
    ADE_CORPUS_V2_ID,
    ADE_CORPUS_V2_RELATIONS,
    ade_corpus_v2_to_records,
    dataset_rows_to_records,
    is_ade_corpus_v2_relations,
)
from adekd.corpora.pubtator import is_pubtator
from adekd.corpora.spert import read_spert
from adekd.corpora.textio import CorpusError, iter_lines, open_binary
from adekd.corpora.texts import JSONL_SUFFIXES, iter_texts
from adekd.outputs import listed
from adekd.records import Record, RecordError, ValidationReport, read_jsonl, validate_records
from adekd.tasks import TaskSpec, load_task

logger = logging.getLogger(__name__)

SourceKind = Literal[
    "ade_corpus", "spert", "pubtator", "records_jsonl", "jsonl_texts", "text", "dataset", "hub"
]

TEXT_SOURCES: tuple[SourceKind, ...] = ("pubtator", "jsonl_texts", "text")
"""Sources :func:`load_records` reads as texts without labels (a PubTator file too, unless a task reads
its annotations)."""

_HUB_ID = re.compile(r"[A-Za-z0-9][\w.-]*/[\w.-]+")
_FILE_SUFFIXES = (".json", ".txt", ".rel", ".gz", ".parquet", ".csv", ".arrow", *JSONL_SUFFIXES)
_TABLE_BUILDERS = {".parquet": "parquet", ".csv": "csv", ".arrow": "arrow"}
_SAVED_DATASET_FILES = ("dataset_info.json", "state.json", "dataset_dict.json")


_LABEL_KEYS = ("drugs", "ades")
_RAW_LABEL_KEYS = tuple(f'"{key}"'.encode() for key in _LABEL_KEYS)
_SCAN_BLOCK = 1 << 20
_MODEL_WEIGHTS = ("model.safetensors", "model.safetensors.index.json", "pytorch_model.bin")
_PUBTATOR_NAMES = (".txt", ".txt.gz", ".pubtator", ".pubtator.gz")
"""File names that may be PubTator files in a folder (BC5CDR's are ``*.PubTator.txt``)."""


def _is_labeled_line(raw: bytes) -> bool:
    try:
        row = json.loads(raw)
    except (json.JSONDecodeError, UnicodeDecodeError):
        return False  # broken lines decide nothing; the reader reports them with their line number
    return isinstance(row, dict) and any(key in row for key in _LABEL_KEYS)


def labeled_in(block: bytes) -> bool:
    """Whether a block of whole JSONL lines holds a labeled record (see :func:`has_labeled_line`)."""
    return any(key in block for key in _RAW_LABEL_KEYS) and any(map(_is_labeled_line, block.splitlines()))


def has_labeled_line(path: Path) -> bool:
    """Whether any line of a JSONL file is a labeled record: an object with a ``drugs`` or ``ades`` key.

    The first line cannot decide: a records JSONL may open with negative sentences written without
    those keys (``validate_record`` fills them in). The scan stops at the first labeled line and
    parses only the lines of blocks whose raw bytes name a label key, so a file of texts costs one
    pass of byte search over it, not a JSON parse per line, before streaming starts.
    """
    pending = b""
    with open_binary(path) as handle:
        while chunk := handle.read(_SCAN_BLOCK):
            block = pending + chunk
            cut = block.rfind(b"\n") + 1
            block, pending = block[:cut], block[cut:]
            if labeled_in(block):
                return True
    return labeled_in(pending)


def detect_source(source: str | os.PathLike) -> SourceKind:
    """What kind of corpus ``source`` is, from its layout and contents; :class:`CorpusError` if none.

    A JSONL file is labeled records (``"records_jsonl"``) when any line has ``drugs`` or ``ades``,
    otherwise texts (``"jsonl_texts"``: ``{"text"}`` or ``{"id", "text"}`` lines, read unlabeled).
    """
    path = Path(source)
    if path.is_dir():
        if is_ade_corpus(path):
            return "ade_corpus"
        return "dataset"
    if path.is_file():
        name = path.name
        if name.endswith(".json"):
            return "spert"
        if name.endswith(JSONL_SUFFIXES):
            return "records_jsonl" if has_labeled_line(path) else "jsonl_texts"
        if path.suffix in _TABLE_BUILDERS:
            return "dataset"
        return "pubtator" if is_pubtator(path) else "text"
    text = os.fspath(source)
    if _HUB_ID.fullmatch(text) and not text.endswith(_FILE_SUFFIXES) and not text.startswith("."):
        return "hub"
    raise CorpusError(f"{text}: no such file or folder (and not a Hub dataset id of the form owner/name)")


def _pick_split(
    data: datasets.Dataset | datasets.DatasetDict, split: str | None, name: str
) -> datasets.Dataset:
    if isinstance(data, datasets.Dataset):
        return data
    if split is None and len(data) == 1:
        return next(iter(data.values()))
    if split not in data:
        wanted = "a split" if split is None else f"split {split!r}, which it lacks"
        raise CorpusError(f"{name} has splits {sorted(data)}; pass {wanted} (one of them)")
    return data[split]


def _model_files(folder: Path) -> list[str]:
    """The files that make ``folder`` a saved model (a config beside weights); empty if it is none."""
    weights = [name for name in _MODEL_WEIGHTS if (folder / name).is_file()]
    return ["config.json", *weights] if weights and (folder / "config.json").is_file() else []


def _pubtator_files(folder: Path) -> list[Path]:
    """The PubTator files directly in ``folder`` (a file that cannot be decoded is none)."""
    found = []
    for child in sorted(folder.iterdir()):
        if child.is_file() and child.name.endswith(_PUBTATOR_NAMES):
            try:
                if is_pubtator(child):
                    found.append(child)
            except (CorpusError, OSError):
                continue
    return found


def _why_not_a_dataset(folder: Path) -> str | None:
    """Why a folder of files adekd reads one by one, or one adekd itself writes, is no dataset, or None.

    ``load_dataset`` reads every JSON file of a folder without a card as rows, so a student folder,
    a cross-validation output or a labeling run that labeled nothing would fail deep in a schema
    cast (``CastError``) instead of saying what the folder is. It reads ``.txt`` files as one text
    per line, so a folder of PubTator files (BC5CDR's release) would become its mention and relation
    lines, texts that extraction and labeling would then run on.
    """
    from adekd.teacher.silver import FAILURES_FILE, SUMMARY_FILE, is_silver_folder, silver_shards

    pubtator = _pubtator_files(folder)
    if pubtator:
        return (
            f"{folder} holds PubTator files ({listed([path.name for path in pubtator])}), not a dataset: "
            f"pass one of them, e.g. {pubtator[0]} (--task chemical-disease reads its chemical -> "
            "disease annotations)"
        )
    model_files = _model_files(folder)
    if model_files:
        return f"{folder} is a model folder ({', '.join(model_files)}), not a dataset"
    models = sorted(child.name for child in folder.iterdir() if child.is_dir() and _model_files(child))
    if models:
        return (
            f"{folder} holds model folders ({listed(models, 3)}: a cross-validation or training run), not a "
            "dataset"
        )
    if is_silver_folder(folder) and not silver_shards(folder):
        failures = folder / FAILURES_FILE
        failed = sum(1 for _, line in iter_lines(failures) if line.strip()) if failures.is_file() else 0
        return (
            f"{folder} holds no records: the labeling run that wrote it labeled nothing (only "
            f"{FAILURES_FILE} / {SUMMARY_FILE}); its {failed} failed input(s) are in {failures}, "
            "a valid --input to label them again"
        )
    return None


def _load_dataset_folder(path: Path, split: str | None) -> datasets.Dataset:
    reason = None if path.is_file() else _why_not_a_dataset(path)
    if reason is not None:
        raise CorpusError(reason)
    try:
        if path.is_file():
            data = datasets.load_dataset(_TABLE_BUILDERS[path.suffix], data_files=os.fspath(path))
        elif any((path / marker).is_file() for marker in _SAVED_DATASET_FILES):
            data = datasets.load_from_disk(os.fspath(path))
        else:
            data = datasets.load_dataset(os.fspath(path))
    except (FileNotFoundError, ValueError, DatasetGenerationError) as err:
        # a generation error wraps the real one (a CastError spanning many lines of Arrow schema)
        cause = " ".join(str(err.__cause__ or err).split())[:300]
        raise CorpusError(
            f"{path}: not a corpus adekd reads (ADE corpus folder with DRUG-AE.rel, saved dataset, or a "
            f"folder of data files with one schema): {cause}"
        ) from None
    return _pick_split(data, split, os.fspath(path))


def _load_hub(dataset_id: str, split: str | None, name: str | None, revision: str | None) -> list[Record]:
    try:
        if dataset_id == ADE_CORPUS_V2_ID and name is None:
            relations = datasets.load_dataset(
                dataset_id, ADE_CORPUS_V2_RELATIONS, split=split or "train", revision=revision
            )
            classification = datasets.load_dataset(
                dataset_id, ADE_CORPUS_V2_CLASSIFICATION, split=split or "train", revision=revision
            )
            return ade_corpus_v2_to_records(relations, classification)
        data = datasets.load_dataset(dataset_id, name, revision=revision)
    except Exception as err:  # network, auth and missing-repo errors all end here; the message says which
        at = f" at revision {revision!r}" if revision else ""
        raise CorpusError(
            f"could not load {dataset_id!r}{at} from the Hugging Face Hub ({type(err).__name__}: {err}). "
            "Offline, pass a local path instead: the raw ADE corpus folder, a SpERT split JSON, a records "
            "JSONL or a saved dataset folder (HF_HUB_OFFLINE=1 makes this fail at once instead of retrying)"
        ) from err
    dataset = _pick_split(data, split, dataset_id)
    return dataset_rows_to_records(dataset, dataset_id.rsplit("/", 1)[-1])


def reads_labels(source: str | os.PathLike, task: str | os.PathLike | TaskSpec | None = None) -> bool:
    """Whether :func:`load_records` reads ``source`` (with ``task``) as labeled records, not bare texts:
    scoring against texts, or scoring them, would silently count no pair at all."""
    kind = detect_source(source)
    if kind == "dataset":  # a table of texts (a "text" column only) loads as records without labels
        dataset = _load_dataset_folder(Path(source), None)
        return bool(set(_LABEL_KEYS) & set(dataset.column_names)) or is_ade_corpus_v2_relations(dataset)
    return kind not in TEXT_SOURCES or (
        kind == "pubtator" and task is not None and load_task(task).pubtator is not None
    )


def load_records(
    source: str | os.PathLike,
    split: str | None = None,
    on_error: Literal["raise", "skip"] = "raise",
    *,
    name: str | None = None,
    revision: str | None = None,
    report: ValidationReport | None = None,
    task: str | os.PathLike | TaskSpec | None = None,
) -> list[Record]:
    """Read any corpus adekd knows into validated records.

    ``source`` is one of: the raw ADE corpus folder (``DRUG-AE.rel`` + ``ADE-NEG.txt``); a SpERT split
    ``.json``; a PubTator file (sentence records, unlabeled); a records JSONL (any line with ``drugs``
    or ``ades``; lines without them are negatives) or a JSONL of ``{"text"}`` lines (unlabeled); a
    plain text file, one text per line (unlabeled); a ``save_to_disk`` folder, a folder of data files
    with a card, or a ``.parquet``/``.csv`` file; or a Hub dataset id (``name`` picks its config;
    ``ade-benchmark-corpus/ade_corpus_v2`` is converted; ``revision`` is the branch, tag or commit
    to read it at, default main).
    ``split`` picks a split of a dataset with several. ``on_error="skip"`` drops invalid records (a
    SpERT item that cannot be converted is one) and counts them in ``report``; malformed corpus
    files, and folders that are no dataset (a model, a labeling run without records), still raise
    :class:`CorpusError` naming the line or what the folder is.
    ``task`` (a name, file or :class:`~adekd.tasks.TaskSpec`) whose spec has a ``pubtator`` section
    reads a PubTator file as that task's labeled sentence records (``task="chemical-disease"``:
    BC5CDR chemical -> induced disease, see :mod:`adekd.corpora.cdr`); other sources ignore it.
    """
    kind = detect_source(source)
    path = Path(source)
    if split is not None and kind not in ("dataset", "hub"):
        raise CorpusError(f"{os.fspath(source)}: split={split!r} only applies to dataset folders and Hub ids")
    if revision is not None and kind != "hub":
        raise CorpusError(f"{os.fspath(source)}: revision={revision!r} only applies to Hub dataset ids")
    report = report if report is not None else ValidationReport()
    if kind == "records_jsonl":
        return read_jsonl(path, on_error=on_error, report=report)
    if kind == "ade_corpus":
        records = read_ade_corpus(path)
    elif kind == "spert":
        records = read_spert(path, on_error=on_error, report=report)
    elif kind == "pubtator" and task is not None and load_task(task).pubtator is not None:
        records = read_relation_records(path, load_task(task))
    elif kind in TEXT_SOURCES:
        records = list(iter_texts(path))
    elif kind == "dataset":
        dataset = _load_dataset_folder(path, split)
        try:
            records = dataset_rows_to_records(dataset, path.name)
        except ValueError as err:
            raise CorpusError(str(err)) from None
    else:
        records = _load_hub(os.fspath(source), split, name, revision)
    try:
        records = list(validate_records(records, on_error=on_error, report=report))
    except RecordError as err:
        raise RecordError(f"{os.fspath(source)}: {err}") from err
    if report.skipped:
        logger.warning("%s: %s", os.fspath(source), report.summary())
    logger.info("%s: %d records (%s)", os.fspath(source), len(records), kind)
    return records
