"""Conversion of ``datasets`` tables into records: adekd's own record datasets and ``ade_corpus_v2``.

A records dataset (columns ``id``, ``text``, ``drugs``, ``ades``) reads back as is. The Hub's
``ade-benchmark-corpus/ade_corpus_v2`` has one row per relation (``text``, ``drug``, ``effect`` and
``indexes`` with *every* regex match of each string in the sentence) and no PMIDs, so rows are
merged by sentence text and each mention takes its first occurrence: a drug mentioned twice in one
sentence cannot be told apart there. Read the raw corpus folder (:func:`read_ade_corpus`) when
exact offsets matter; the Hub copy is the fallback where only the Hub is at hand.
"""

from __future__ import annotations

import logging

import datasets

from adekd.records import ADESpan, Record, Span, dataset_to_records, new_record

logger = logging.getLogger(__name__)

ADE_CORPUS_V2_ID = "ade-benchmark-corpus/ade_corpus_v2"
ADE_CORPUS_V2_RELATIONS = "Ade_corpus_v2_drug_ade_relation"
ADE_CORPUS_V2_CLASSIFICATION = "Ade_corpus_v2_classification"


def is_ade_corpus_v2_relations(dataset: datasets.Dataset) -> bool:
    return {"text", "drug", "effect", "indexes"} <= set(dataset.column_names)


def _first_span(text: str, mention: str, index: dict | None) -> Span | None:
    """The mention's first indexed occurrence (``index`` is the Hub's ``{"start_char": [...], ...}``);
    without one, its first occurrence in the text."""
    starts = (index or {}).get("start_char") or []
    start = starts[0] if starts else text.find(mention)
    if start < 0 or text[start : start + len(mention)] != mention:
        return None
    return {"text": mention, "start": start, "end": start + len(mention)}


def ade_corpus_v2_to_records(
    relations: datasets.Dataset, classification: datasets.Dataset | None = None
) -> list[Record]:
    """Records from the Hub ``ade_corpus_v2`` relation config (plus negatives from the classification one).

    Positives get ids ``"ade_corpus_v2-s<k>"`` in order of first appearance; negatives
    (classification ``label == 0``) ``"ade_corpus_v2-neg<k>"``. Rows whose strings are not found in
    their sentence are dropped with a warning.
    """
    by_text: dict[str, tuple[list[Span], list[ADESpan]]] = {}
    dropped = 0
    for row in relations:
        text = row["text"]
        drugs, ades = by_text.setdefault(text, ([], []))
        indexes = row.get("indexes") or {}
        drug = _first_span(text, row["drug"], indexes.get("drug"))
        effect = _first_span(text, row["effect"], indexes.get("effect"))
        if drug is None or effect is None:
            dropped += 1
            continue
        if drug not in drugs:
            drugs.append(drug)
        ade: ADESpan = {"drug": drugs.index(drug), **effect}
        if ade not in ades:
            ades.append(ade)
    if dropped:
        logger.warning("ade_corpus_v2: %d relation rows dropped (mention not found in its sentence)", dropped)
    records = [
        new_record(f"ade_corpus_v2-s{k}", text, drugs, ades)
        for k, (text, (drugs, ades)) in enumerate(by_text.items())
    ]
    if classification is not None:
        negatives = (row["text"] for row in classification if row["label"] == 0)
        records += [new_record(f"ade_corpus_v2-neg{k}", text) for k, text in enumerate(negatives)]
    return records


def dataset_rows_to_records(dataset: datasets.Dataset, name: str) -> list[Record]:
    """Rows of a table to records (not yet validated): records, ``ade_corpus_v2`` rows or plain texts."""
    columns = set(dataset.column_names)
    if "drugs" in columns:
        return dataset_to_records(dataset, validate=False)
    if is_ade_corpus_v2_relations(dataset):
        return ade_corpus_v2_to_records(dataset)
    if "text" in columns:
        ids = dataset["id"] if "id" in columns else [f"{name}-{i}" for i in range(len(dataset))]
        return [
            {"id": str(i), "text": t, "drugs": [], "ades": []}
            for i, t in zip(ids, dataset["text"], strict=True)
        ]
    raise ValueError(
        f"{name}: columns {sorted(columns)} are neither records (id, text, drugs, ades), ade_corpus_v2 "
        "relations (text, drug, effect, indexes) nor plain texts (text)"
    )
