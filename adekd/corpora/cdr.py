"""BC5CDR as labeled sentence records: chemical mentions -> the diseases they induced (CID).

BC5CDR annotates chemical and disease mentions with MeSH ids, and its chemical-induced disease
(CID) relations are *document-level* pairs of ids ("this abstract says chemical C induces disease
D"), with no evidence sentence. adekd's students read one sentence at a time, so each document
becomes sentence records:

- one record per sentence, the title being one, with the ids, text, ``doc_id`` and ``doc_start`` of
  :func:`~adekd.corpora.pubtator_sentence_records` (labeled and unlabeled views line up);
- anchors (``drugs``): every chemical mention of the sentence, also those in no relation, so the
  student learns which chemicals induce nothing;
- targets (``ades``): for each chemical mention, the disease mentions of the *same* sentence whose
  (chemical id, disease id) is a CID pair of the document. A mention with several ids (composite
  mentions such as "ocular and auditory toxicity", ``D014786|D006311``) matches through any of
  them; a mention without an id (``-1``) is in no pair. Every mention of the chemical in the
  sentence gets the pair, as the ADE corpus keeps repeated drug mentions as separate drugs.

What the conversion loses, on the official files (:func:`conversion_stats`, or
``adekd corpus stats FILE --task chemical-disease``):

- **relations stated across sentences**: a CID pair whose chemical and disease are never mentioned
  in one sentence has no sentence record: 27.2% of train (282 of 1,038), 24.1% of dev (244 of
  1,012) and 29.7% of test (317 of 1,066) relations. Sentence-level scores therefore cover about
  three quarters of the relations the document-level CID task scores, and they are not comparable
  to the document-level F1 the CID literature reports.
- **no evidence check**: a pair co-mentioned in a sentence is attached there even when that sentence
  does not state it (a kept relation is attached in 1.9-2.0 sentences on average), which adds label
  noise a sentence-level annotator would not.
- mentions the sentence splitter cuts through (none on the official files) are dropped; mentions
  without a MeSH id (``-1``: 76 / 59 / 91 in train / dev / test) stay anchors or plain text but
  join no pair.
- nested disease mentions of one chemical (both in a pair) would overlap, and a BIO tagger keeps
  one of them: counted as ``overlapping_targets`` (none on the official files).

The official files give 4,532 / 4,541 / 4,767 sentences (train / dev / test); 65% mention a
chemical, and 37-39% of those hold at least one pair (1,087 / 1,177 / 1,148 sentences, 1,798 /
1,931 / 1,885 mention pairs).

Any PubTator corpus of a task with a ``pubtator`` section (:class:`~adekd.tasks.PubTatorTypes`:
mention types of anchors and targets, relation type) converts the same way.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator
from dataclasses import asdict, dataclass

from adekd.corpora.pubtator import PubTatorDocument, PubTatorMention, iter_pubtator, pubtator_sentence_records
from adekd.records import ADESpan, Record, Span
from adekd.tasks import PubTatorTypes, TaskSpec, load_task

logger = logging.getLogger(__name__)

CID_TASK = "chemical-disease"
NO_IDENTIFIER = "-1"


@dataclass
class ConversionStats:
    """What a document -> sentence conversion kept and lost, summed over the documents it saw."""

    documents: int = 0
    sentences: int = 0
    sentences_with_anchor: int = 0
    """Sentences with at least one anchor (chemical) mention."""
    positive_sentences: int = 0
    """Sentences with at least one (anchor, target) pair."""
    anchor_mentions: int = 0
    target_mentions: int = 0
    pairs: int = 0
    """(anchor mention, target mention) pairs in the records: the unit the metric scores."""
    relations: int = 0
    """Document-level relations of the wanted type (CID)."""
    relations_kept: int = 0
    """Relations whose two entities share at least one sentence: they have a record."""
    relations_across_sentences: int = 0
    """Relations whose entities are both mentioned, but never in one sentence: lost."""
    relations_without_mention: int = 0
    """Relations with an id no mention of the right type carries: lost."""
    relation_sentences: int = 0
    """Sentences the kept relations are attached in, summed (a relation co-mentioned twice counts 2)."""
    mentions_without_id: int = 0
    """Anchor and target mentions with id ``-1``: in no pair."""
    mentions_cut_by_splitter: int = 0
    """Mentions no sentence holds whole: dropped."""
    overlapping_targets: int = 0
    """Targets of one anchor that overlap an earlier target of it (a BIO tagger keeps one)."""

    @property
    def relations_lost(self) -> int:
        return self.relations - self.relations_kept

    @property
    def sentences_per_kept_relation(self) -> float:
        return self.relation_sentences / self.relations_kept if self.relations_kept else 0.0

    def as_dict(self) -> dict[str, int | float]:
        return {
            **asdict(self),
            "relations_lost": self.relations_lost,
            "sentences_per_kept_relation": round(self.sentences_per_kept_relation, 3),
        }


def _ids(mention: PubTatorMention) -> frozenset[str]:
    return frozenset(part for part in mention.identifier.split("|") if part and part != NO_IDENTIFIER)


def _span(mention: PubTatorMention, offset: int) -> Span:
    return {"text": mention.text, "start": mention.start - offset, "end": mention.end - offset}


def _task_types(task: str | os.PathLike | TaskSpec | PubTatorTypes | None) -> PubTatorTypes:
    if isinstance(task, PubTatorTypes):
        return task
    spec = load_task(CID_TASK if task is None else task)
    if spec.pubtator is None:
        raise ValueError(f"task {spec.name!r} has no 'pubtator' section: it names no PubTator mention types")
    return spec.pubtator


def document_relation_records(
    doc: PubTatorDocument, types: PubTatorTypes, stats: ConversionStats | None = None
) -> list[Record]:
    """The labeled sentence records of one document (see the module docstring); ``stats`` is updated."""
    stats = stats if stats is not None else ConversionStats()
    records = pubtator_sentence_records(doc)
    spans = [(r["doc_start"], r["doc_start"] + len(r["text"])) for r in records]
    relations = {(r.chemical, r.disease) for r in doc.relations if r.type == types.relation}
    # either order: a task may anchor on the relation's second entity (disease -> chemicals)
    relation_of = {pair: pair for pair in relations} | {(d, c): (c, d) for c, d in relations}
    by_sentence: list[tuple[list[PubTatorMention], list[PubTatorMention]]] = [([], []) for _ in records]
    for mention in doc.mentions:
        if mention.type not in (types.anchor_type, types.target_type):
            continue
        stats.mentions_without_id += not _ids(mention)
        k = next((k for k, (s, e) in enumerate(spans) if s <= mention.start and mention.end <= e), None)
        if k is None:
            stats.mentions_cut_by_splitter += 1
            continue
        by_sentence[k][mention.type == types.target_type].append(mention)
    co_mentioned: dict[tuple[str, str], int] = {}
    for record, (anchors, targets) in zip(records, by_sentence, strict=True):
        offset = record["doc_start"]
        anchors.sort(key=lambda m: (m.start, m.end))
        targets.sort(key=lambda m: (m.start, m.end))
        drugs = [_span(mention, offset) for mention in anchors]
        ades: list[ADESpan] = []
        seen_here: set[tuple[str, str]] = set()
        for index, anchor in enumerate(anchors):
            taken: list[PubTatorMention] = []
            for target in targets:
                id_pairs = ((a, t) for a in _ids(anchor) for t in _ids(target))
                matched = {relation_of[pair] for pair in id_pairs if pair in relation_of}
                if not matched:
                    continue
                seen_here |= matched
                stats.overlapping_targets += any(t.start < target.end and target.start < t.end for t in taken)
                taken.append(target)
                ades.append({"drug": index, **_span(target, offset)})
        for pair in seen_here:
            co_mentioned[pair] = co_mentioned.get(pair, 0) + 1
        record["drugs"], record["ades"] = drugs, ades
        stats.sentences_with_anchor += bool(drugs)
        stats.positive_sentences += bool(ades)
        stats.anchor_mentions += len(drugs)
        stats.target_mentions += len(targets)
        stats.pairs += len(ades)
    mentioned = {i for m in doc.mentions if m.type in (types.anchor_type, types.target_type) for i in _ids(m)}
    for pair in relations:
        stats.relations += 1
        if pair in co_mentioned:
            stats.relations_kept += 1
            stats.relation_sentences += co_mentioned[pair]
        elif set(pair) <= mentioned:
            stats.relations_across_sentences += 1
        else:
            stats.relations_without_mention += 1
    stats.documents += 1
    stats.sentences += len(records)
    return records


def iter_relation_records(
    path: str | os.PathLike,
    task: str | os.PathLike | TaskSpec | PubTatorTypes | None = None,
    stats: ConversionStats | None = None,
) -> Iterator[Record]:
    """Labeled sentence records of a PubTator file, document by document (default task: CID)."""
    types = _task_types(task)
    for doc in iter_pubtator(path):
        yield from document_relation_records(doc, types, stats)


def read_relation_records(
    path: str | os.PathLike,
    task: str | os.PathLike | TaskSpec | PubTatorTypes | None = None,
    stats: ConversionStats | None = None,
) -> list[Record]:
    """All labeled sentence records of a PubTator file (BC5CDR CID by default); see the module docstring."""
    return list(iter_relation_records(path, task, stats))


def conversion_stats(
    path: str | os.PathLike, task: str | os.PathLike | TaskSpec | PubTatorTypes | None = None
) -> ConversionStats:
    """What converting ``path`` to sentence records keeps and loses (relations across sentences, ...)."""
    stats = ConversionStats()
    for _ in iter_relation_records(path, task, stats):
        pass
    return stats
