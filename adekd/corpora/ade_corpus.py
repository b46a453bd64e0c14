"""Reader for the raw ADE corpus (Gurulingappa et al. 2012): ``DRUG-AE.rel`` and ``ADE-NEG.txt``.

``DRUG-AE.rel`` holds one drug -> adverse effect relation per line,
``PMID|sentence|AE|AE begin|AE end|drug|drug begin|drug end``, with offsets that count from the start
of the *document* ``PMID + "\\n\\n" + title + "\\n\\n" + abstract`` (end exclusive). The abstracts are
not shipped, so the sentence's own start in the document is inferred: a mention found at sentence
position ``p`` puts the sentence start at ``begin - p``. A mention can occur more than once in its
sentence, so the start kept is the one that explains both spans of every line of that
(PMID, sentence); the corpus has exactly one such start for each of its 4,272 sentences.

Records:

- one positive record per (PMID, sentence) with all its relations merged, id ``"<PMID>-s<k>"``
  (``k`` counts the annotated sentences of the PMID in document order). Identical drug spans share
  one drug entry; two mentions of the same drug at different offsets stay two drugs. Every line
  becomes one ADE entry, so the ADE entries of the corpus number its 6,821 relation lines.
- one negative record per ``ADE-NEG.txt`` line, no drugs and no ADEs, id ``"<PMID>-neg<k>"``
  (``k`` counts the negative lines of the PMID in file order). The file has 7 lines that repeat an
  earlier line exactly; they are kept as records of their own, because the published corpus size
  (20,967 sentences = 4,272 + 16,695) and the Hub's ``ade_corpus_v2`` count them.

Every record carries ``doc_id`` (the PMID) and ``doc_start`` (the sentence's offset in the document
above; ``None`` for negatives, whose position is unknown), see :data:`adekd.records.PROVENANCE_FEATURES`.
"""

from __future__ import annotations

import logging
import os
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

from adekd.corpora.textio import CorpusError, iter_lines
from adekd.records import ADESpan, Record, Span, new_record

logger = logging.getLogger(__name__)

RELATIONS_FILE = "DRUG-AE.rel"
NEGATIVES_FILE = "ADE-NEG.txt"


@dataclass(frozen=True)
class _Relation:
    line_no: int
    ade: tuple[str, int, int]  # text, document begin, document end
    drug: tuple[str, int, int]


def is_ade_corpus(folder: str | os.PathLike) -> bool:
    """Whether ``folder`` holds the raw ADE corpus (its ``DRUG-AE.rel``)."""
    return (Path(folder) / RELATIONS_FILE).is_file()


def _parse_relation(path: Path, line_no: int, line: str) -> tuple[str, str, _Relation]:
    fields = line.split("|")
    if len(fields) != 8:
        raise CorpusError(f"{path} line {line_no}: expected 8 '|'-separated fields, found {len(fields)}")
    pmid, sentence, ade, ade_begin, ade_end, drug, drug_begin, drug_end = fields
    try:
        offsets = [int(value) for value in (ade_begin, ade_end, drug_begin, drug_end)]
    except ValueError:
        raise CorpusError(
            f"{path} line {line_no}: offsets must be integers, got {fields[3:5] + fields[6:8]}"
        ) from None
    for mention, begin, end in ((ade, *offsets[:2]), (drug, *offsets[2:])):
        if end - begin != len(mention) or mention not in sentence:
            raise CorpusError(
                f"{path} line {line_no}: mention {mention!r} at {begin}:{end} does not fit the sentence"
            )
    return pmid, sentence, _Relation(line_no, (ade, *offsets[:2]), (drug, *offsets[2:]))


def _starts_explaining(sentence: str, mention: str, begin: int) -> set[int]:
    starts, position = set(), sentence.find(mention)
    while position != -1:
        starts.add(begin - position)
        position = sentence.find(mention, position + 1)
    return starts


def _sentence_start(path: Path, pmid: str, sentence: str, relations: list[_Relation]) -> int:
    """The one document offset of ``sentence`` that explains every span of its lines."""
    candidates: set[int] | None = None
    for relation in relations:
        for mention, begin, _ in (relation.ade, relation.drug):
            found = _starts_explaining(sentence, mention, begin)
            candidates = found if candidates is None else candidates & found
    if not candidates:
        lines = ", ".join(str(r.line_no) for r in relations)
        raise CorpusError(f"{path} lines {lines} (PMID {pmid}): no sentence start fits all their spans")
    if len(candidates) > 1:
        logger.warning("%s PMID %s: %d sentence starts fit, taking the first", path, pmid, len(candidates))
    return min(candidates)


def _positive_record(
    record_id: str, pmid: str, sentence: str, start: int, relations: list[_Relation]
) -> Record:
    drugs: list[Span] = []
    drug_index: dict[tuple[int, int], int] = {}
    ades: list[ADESpan] = []
    for relation in relations:
        drug_text, drug_begin, drug_end = relation.drug
        key = (drug_begin - start, drug_end - start)
        if key not in drug_index:
            drug_index[key] = len(drugs)
            drugs.append({"text": drug_text, "start": key[0], "end": key[1]})
        ade_text, ade_begin, ade_end = relation.ade
        ades.append(
            {"drug": drug_index[key], "text": ade_text, "start": ade_begin - start, "end": ade_end - start}
        )
    return new_record(record_id, sentence, drugs, ades, doc_id=pmid, doc_start=start)


def read_ade_relations(path: str | os.PathLike) -> list[Record]:
    """Positive records from ``DRUG-AE.rel``: one per (PMID, sentence), relations merged."""
    path = Path(path)
    grouped: dict[tuple[str, str], list[_Relation]] = defaultdict(list)
    for line_no, line in iter_lines(path):
        if line.strip():
            pmid, sentence, relation = _parse_relation(path, line_no, line)
            grouped[(pmid, sentence)].append(relation)
    located = [
        (pmid, _sentence_start(path, pmid, sentence, relations), sentence, relations)
        for (pmid, sentence), relations in grouped.items()
    ]
    located.sort(key=lambda item: (int(item[0]) if item[0].isdigit() else item[0], item[1]))
    records: list[Record] = []
    seen_in_pmid: dict[str, int] = defaultdict(int)
    for pmid, start, sentence, relations in located:
        k = seen_in_pmid[pmid]
        seen_in_pmid[pmid] += 1
        records.append(_positive_record(f"{pmid}-s{k}", pmid, sentence, start, relations))
    return records


def read_ade_negatives(path: str | os.PathLike) -> list[Record]:
    """Negative records from ``ADE-NEG.txt`` (``PMID NEG sentence``), one per line, duplicates kept."""
    path = Path(path)
    records: list[Record] = []
    seen_in_pmid: dict[str, int] = defaultdict(int)
    for line_no, line in iter_lines(path):
        if not line.strip():
            continue
        pmid, marker, sentence = (line.split(" ", 2) + ["", ""])[:3]
        if marker != "NEG" or not sentence:
            raise CorpusError(f"{path} line {line_no}: expected 'PMID NEG sentence', got {line[:60]!r}")
        k = seen_in_pmid[pmid]
        seen_in_pmid[pmid] += 1
        records.append(new_record(f"{pmid}-neg{k}", sentence, doc_id=pmid, doc_start=None))
    return records


def read_ade_corpus(folder: str | os.PathLike, negatives: bool = True) -> list[Record]:
    """All records of the raw ADE corpus folder: positives (by PMID, document order), then negatives."""
    folder = Path(folder)
    if not is_ade_corpus(folder):
        raise CorpusError(f"{folder}: no {RELATIONS_FILE} here; expected the raw ADE-Corpus-V2 folder")
    records = read_ade_relations(folder / RELATIONS_FILE)
    if negatives:
        negatives_path = folder / NEGATIVES_FILE
        if not negatives_path.is_file():
            raise CorpusError(
                f"{folder}: no {NEGATIVES_FILE} here (pass negatives=False to read positives only)"
            )
        records += read_ade_negatives(negatives_path)
    return records
