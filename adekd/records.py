"""The one data model every part of adekd speaks: a sentence with its drugs and drug->ADE spans.

A record is a plain ``dict`` so it moves unchanged between JSONL files, ``datasets`` rows, the
teacher, the student and the metric::

    {"id": "10030778-0", "text": "Acute hepatitis after oral amoxicillin.",
     "drugs": [{"text": "amoxicillin", "start": 27, "end": 38}],
     "ades": [{"drug": 0, "text": "Acute hepatitis", "start": 0, "end": 15}]}

Offsets are character offsets into ``text`` with ``end`` exclusive, and ``ades[i]["drug"]`` indexes
``drugs``. Spans may carry a ``score`` (predictions); gold spans leave it out or set it to ``None``.
Any other top-level key (provenance of silver labels, source document offsets) is kept as is.

The shape is the same for every extraction task (:mod:`adekd.tasks`): ``drugs`` hold the task's
anchors (chemicals, genes, ...) and ``ades`` its targets. Spans may carry a ``label``, the task's
type name (``DRUG``/``ADE``, ``CHEMICAL``/``DISEASE``): the student's pipeline sets it on what it
predicts, and :func:`records_to_dataset` with ``task=`` fills it, so a dataset names its types.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any, Literal, NotRequired, TypedDict

import datasets

from adekd.outputs import check_output_file

logger = logging.getLogger(__name__)


class Span(TypedDict):
    text: str
    start: int
    end: int
    score: NotRequired[float | None]
    label: NotRequired[str | None]


class ADESpan(Span):
    drug: int


class Record(TypedDict):
    id: str
    text: str
    drugs: list[Span]
    ades: list[ADESpan]


_SPAN_FEATURES = {
    "text": datasets.Value("string"),
    "start": datasets.Value("int32"),
    "end": datasets.Value("int32"),
    "score": datasets.Value("float32"),
}

FEATURES = datasets.Features(
    {
        "id": datasets.Value("string"),
        "text": datasets.Value("string"),
        "drugs": datasets.List(_SPAN_FEATURES),
        "ades": datasets.List({"drug": datasets.Value("int32"), **_SPAN_FEATURES}),
    }
)
"""Explicit features of a records dataset; extra columns are inferred or passed by the caller."""

SPAN_LABEL_FEATURE = {"label": datasets.Value("string")}
"""The optional span feature naming each span's type in the task's words (``DRUG``, ``ADE``, ...).

Declared by :func:`records_to_dataset` when a task is given or the spans carry labels; datasets
written without it (before tasks existed, or with no task) load as before."""

PROVENANCE_FEATURES = {
    "doc_id": datasets.Value("string"),
    "doc_start": datasets.Value("int32"),
}
"""Optional keys saying where a sentence comes from: the source document (e.g. a PMID) and the
sentence's character offset in it (``None`` when unknown). Readers in :mod:`adekd.corpora` set them;
:func:`records_to_dataset` declares them whenever records carry them."""


class RecordError(ValueError):
    """A record breaks the data model; the message names the record id and the bad field."""


def _check_span(record_id: str, text: str, span: Any, where: str) -> None:
    if not isinstance(span, dict):
        raise RecordError(f"record {record_id!r}: {where} must be an object, got {type(span).__name__}")
    for key in ("text", "start", "end"):
        if key not in span:
            raise RecordError(f"record {record_id!r}: {where} has no {key!r}")
    start, end, span_text = span["start"], span["end"], span["text"]
    if not isinstance(start, int) or not isinstance(end, int) or isinstance(start, bool):
        raise RecordError(f"record {record_id!r}: {where} offsets must be integers, got {start!r}:{end!r}")
    if not 0 <= start < end <= len(text):
        raise RecordError(
            f"record {record_id!r}: {where} span {start}:{end} outside text of length {len(text)}"
        )
    if text[start:end] != span_text:
        raise RecordError(
            f"record {record_id!r}: {where} span {start}:{end} is {text[start:end]!r} in the text, "
            f"not {span_text!r}"
        )


def validate_record(record: Any) -> Record:
    """Check a record against the data model and return it; raise :class:`RecordError` if it breaks it."""
    if not isinstance(record, dict):
        raise RecordError(f"a record must be an object, got {type(record).__name__}")
    record_id = record.get("id")
    if not isinstance(record_id, str) or not record_id:
        raise RecordError(f"record has no string 'id' (got {record_id!r})")
    text = record.get("text")
    if not isinstance(text, str):
        raise RecordError(f"record {record_id!r}: 'text' must be a string, got {type(text).__name__}")
    drugs, ades = record.get("drugs", []), record.get("ades", [])
    if not isinstance(drugs, list) or not isinstance(ades, list):
        raise RecordError(f"record {record_id!r}: 'drugs' and 'ades' must be lists")
    for i, drug in enumerate(drugs):
        _check_span(record_id, text, drug, f"drug {i}")
    for i, ade in enumerate(ades):
        _check_span(record_id, text, ade, f"ADE {i}")
        drug = ade.get("drug")
        if not isinstance(drug, int) or isinstance(drug, bool) or not 0 <= drug < len(drugs):
            raise RecordError(
                f"record {record_id!r}: ADE {i} points at drug {drug!r}, "
                f"but the record has {len(drugs)} drugs"
            )
    record.setdefault("drugs", drugs)
    record.setdefault("ades", ades)
    return record  # type: ignore[return-value]


@dataclass
class ValidationReport:
    """What :func:`validate_records` skipped, so a reader can report counts and first ids."""

    kept: int = 0
    skipped: int = 0
    errors: list[str] = field(default_factory=list)

    def summary(self, first: int = 5) -> str:
        shown = "; ".join(self.errors[:first])
        return f"{self.kept} records kept, {self.skipped} invalid skipped" + (
            f" (first: {shown})" if shown else ""
        )


def validate_records(
    records: Iterable[Any],
    on_error: Literal["raise", "skip"] = "raise",
    report: ValidationReport | None = None,
) -> Iterator[Record]:
    """Validate records lazily; ``on_error="skip"`` drops invalid ones and counts them in ``report``."""
    report = report if report is not None else ValidationReport()
    for record in records:
        try:
            yield validate_record(record)
        except RecordError as err:
            if on_error == "raise":
                raise
            report.skipped += 1
            report.errors.append(str(err))
            continue
        report.kept += 1


def new_record(
    record_id: str,
    text: str,
    drugs: list[Span] | None = None,
    ades: list[ADESpan] | None = None,
    **extra: Any,
) -> Record:
    """Build and validate a record; extra keyword arguments become extra top-level keys."""
    return validate_record({"id": record_id, "text": text, "drugs": drugs or [], "ades": ades or [], **extra})


def pairs(record: Record) -> list[tuple[Span, ADESpan]]:
    """The (drug span, ADE span) pairs of a record: the unit the paper extracts and scores."""
    return [(record["drugs"][ade["drug"]], ade) for ade in record["ades"]]


# --- datasets --------------------------------------------------------------------------------


def _drop_none_scores(record: dict) -> dict:
    """Drop the ``score: None`` and ``label: None`` that dataset rows give spans without them."""
    for span in (*record.get("drugs", ()), *record.get("ades", ())):
        for key in ("score", "label"):
            if key in span and span[key] is None:
                del span[key]
    return record


def _labeled(rows: list[dict], task: Any) -> list[dict]:
    """``rows`` with every span labeled in the words of ``task`` (a name, spec file or ``TaskSpec``).

    A span already labeled otherwise belongs to another task: that is an error naming the record.
    """
    from adekd.tasks import load_task

    names = load_task(task).type_names()
    labeled = []
    for row in rows:
        for column, label in (("drugs", names["anchor_label"]), ("ades", names["target_label"])):
            spans = row.get(column) or []
            wrong = {span["label"] for span in spans if span.get("label") not in (None, label)}
            if wrong:
                raise RecordError(
                    f"record {row.get('id')!r}: {column} spans are labeled {sorted(wrong)}, "
                    f"not {label!r} as in task {names['task']!r}"
                )
            row = {**row, column: [{**span, "label": label} for span in spans]}
        labeled.append(row)
    return labeled


def records_to_dataset(
    records: Iterable[Record], features: datasets.Features | None = None, task: Any = None
) -> datasets.Dataset:
    """Build a ``datasets.Dataset`` with explicit features; extra columns need their features in ``features``.

    Spans stay plain lists of dicts (``datasets.List``), so a row reads back as a record. With
    ``task`` (a built-in task name, a task spec file or an :class:`adekd.tasks.TaskSpec`) every span
    gets the task's ``label`` (anchor label on ``drugs``, target label on ``ades``) and the span
    features declare it; spans that already carry labels declare it too.
    """
    rows = [dict(r) for r in records]
    if task is not None:
        rows = _labeled(rows, task)
    labeled = task is not None or any(
        "label" in span for row in rows for span in (*(row.get("drugs") or ()), *(row.get("ades") or ()))
    )
    span_features = {**_SPAN_FEATURES, **(SPAN_LABEL_FEATURE if labeled else {})}
    all_features = dict(FEATURES)
    if labeled:
        all_features["drugs"] = datasets.List(span_features)
        all_features["ades"] = datasets.List({"drug": datasets.Value("int32"), **span_features})
    extra = {key for row in rows for key in row} - set(FEATURES)
    all_features.update({key: value for key, value in PROVENANCE_FEATURES.items() if key in extra})
    if features is not None:
        all_features.update(features)
    missing = extra - set(all_features)
    if missing:
        raise ValueError(
            f"records have columns {sorted(missing)} with no declared features; pass them in `features=`"
        )
    columns = {name: [row.get(name) for row in rows] for name in all_features}
    optional = {"score": None, **({"label": None} if labeled else {})}
    for column in ("drugs", "ades"):
        columns[column] = [
            [{**optional, **span} for span in spans] if spans else [] for spans in columns[column]
        ]
    return datasets.Dataset.from_dict(columns, features=datasets.Features(all_features))


def dataset_to_records(dataset: datasets.Dataset, validate: bool = True) -> list[Record]:
    """Rows of a records dataset back to records (``score: None`` dropped from gold spans)."""
    records = [_drop_none_scores(dict(row)) for row in dataset]
    if validate:
        records = list(validate_records(records))
    return records  # type: ignore[return-value]


# --- JSONL -----------------------------------------------------------------------------------


def read_jsonl(
    path: str | os.PathLike,
    validate: bool = True,
    on_error: Literal["raise", "skip"] = "raise",
    report: ValidationReport | None = None,
) -> list[Record]:
    """Read records from JSONL; a broken line raises with its line number (or is skipped and counted).

    Lines are read like every corpus file (:func:`adekd.corpora.textio.iter_lines`): ``.gz``
    decompressed, a leading byte-order mark dropped, and a byte that is not UTF-8 raises
    :class:`~adekd.corpora.CorpusError` naming the path, line and column whatever ``on_error`` says
    (the file needs converting, skipping its lines would drop every record with an accent). So does
    a path that is no file.
    """
    report = report if report is not None else ValidationReport()
    records = list(iter_jsonl(path, validate, on_error, report))
    if report.skipped:
        logger.warning("%s: %s", os.fspath(path), report.summary())
    return records


def iter_jsonl(
    path: str | os.PathLike,
    validate: bool = True,
    on_error: Literal["raise", "skip"] = "raise",
    report: ValidationReport | None = None,
) -> Iterator[Record]:
    """:func:`read_jsonl` one record at a time, for files too large to hold (``adekd extract`` reads
    its records input this way); errors surface when their line is reached."""
    from adekd.corpora.textio import iter_lines  # adekd.corpora imports this module

    report = report if report is not None else ValidationReport()
    for line_no, line in iter_lines(path):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
            if validate:
                validate_record(record)
        except (json.JSONDecodeError, RecordError) as err:
            message = f"{os.fspath(path)} line {line_no}: {err}"
            if on_error == "raise":
                raise RecordError(message) from err
            report.skipped += 1
            report.errors.append(message)
            continue
        report.kept += 1
        yield _drop_none_scores(record)


def short_hash(value: Any) -> str:
    """16 hex digits of the SHA-256 of ``value`` as canonical JSON: a fingerprint of records, a schema
    or a list of texts, equal exactly when their content is (values JSON lacks count by their text,
    such as a dataset's timestamps; sets by their sorted members, whose order varies between runs)."""
    return hashlib.sha256(_canonical_json(value).encode("utf-8")).hexdigest()[:16]


def _canonical_json(value: Any) -> str:
    return json.dumps(value, sort_keys=True, default=_json_fallback)


def _json_fallback(value: Any) -> Any:
    if isinstance(value, set | frozenset):
        return sorted(_canonical_json(member) for member in value)
    return str(value)


def write_jsonl(records: Iterable[Record], path: str | os.PathLike) -> int:
    """Write records as JSONL (UTF-8, one per line) atomically; returns the count written.

    The path is checked (:func:`check_output_file`) before the first record is read from ``records``.
    A run cut short leaves what it wrote in ``PATH.tmp``; so does a failed final rename, whose error
    says so: the records are never thrown away.
    """
    path = os.fspath(path)
    check_output_file(path)
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    tmp = f"{path}.tmp"
    count = 0
    with open(tmp, "w", encoding="utf-8") as handle:
        for record in records:
            handle.write(json.dumps(record, ensure_ascii=False) + "\n")
            count += 1
    try:
        os.replace(tmp, path)
    except OSError as err:
        kept = OSError(err.errno, f"{err.strerror}; the {count} records written are kept in {tmp}")
        kept.filename = path
        raise kept from err
    return count
