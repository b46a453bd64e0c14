"""Counts that describe a records corpus, the numbers ``adekd corpus stats`` prints.

They are the numbers corpus papers report (sentences, positive and negative sentences, drug and ADE
mentions, drug -> ADE relations, source documents), so a reader's output can be checked against the
published corpus size before any model is trained on it.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import asdict, dataclass

from adekd.records import Record


@dataclass
class CorpusStats:
    records: int = 0
    positive_records: int = 0
    """Records with at least one drug -> ADE relation."""
    negative_records: int = 0
    """Records with no relation (gold negatives, or unlabeled text)."""
    drug_mentions: int = 0
    ade_mentions: int = 0
    """Distinct ADE spans per record: an ADE caused by two drugs counts once here, twice in ``relations``."""
    relations: int = 0
    """Drug -> ADE pairs (ADE entries of the records)."""
    documents: int | None = None
    """Distinct ``doc_id`` values (PMIDs for the ADE corpus and PubTator, lines of a text file); ``None``
    when records carry none."""

    def as_dict(self) -> dict[str, int | None]:
        return asdict(self)


def corpus_stats(records: Iterable[Record]) -> CorpusStats:
    """Count records, mentions, relations and source documents in one pass."""
    stats = CorpusStats()
    documents: set[str] = set()
    for record in records:
        ades = record.get("ades", [])
        stats.records += 1
        stats.positive_records += bool(ades)
        stats.drug_mentions += len(record.get("drugs", []))
        stats.ade_mentions += len({(ade["start"], ade["end"]) for ade in ades})
        stats.relations += len(ades)
        if record.get("doc_id") is not None:
            documents.add(record["doc_id"])
    stats.negative_records = stats.records - stats.positive_records
    stats.documents = len(documents) if documents else None
    return stats
