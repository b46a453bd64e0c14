"""Reader for PubTator files (BC5CDR): documents with title, abstract, mentions and relations.

A PubTator document is ``PMID|t|title`` and ``PMID|a|abstract`` lines, then tab-separated mention
lines ``PMID start end text type identifier`` with offsets into ``title + " " + abstract``, then
relation lines ``PMID CID chemical disease``; a blank line ends it. Documents are parsed lazily
(:func:`iter_pubtator`), so a PubTator dump of any size streams, and the parsed mentions and
relations stay available on :class:`PubTatorDocument` for readers that build labeled records from
them (chemical -> disease). :func:`document_sentence_records` cuts a document into unlabeled
sentence records (the title is its own sentence) whose ``doc_start`` points into ``doc.text``.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass, field

from adekd.corpora.sentences import split_sentences
from adekd.corpora.textio import CorpusError, iter_lines
from adekd.records import Record, new_record


@dataclass(frozen=True)
class PubTatorMention:
    """One annotated mention; ``start``/``end`` index :attr:`PubTatorDocument.text` (end exclusive)."""

    start: int
    end: int
    text: str
    type: str
    identifier: str


@dataclass(frozen=True)
class PubTatorRelation:
    """A document-level relation, e.g. BC5CDR's ``CID`` (chemical-induced disease) between two ids."""

    type: str
    chemical: str
    disease: str


@dataclass
class PubTatorDocument:
    pmid: str
    title: str
    abstract: str
    mentions: list[PubTatorMention] = field(default_factory=list)
    relations: list[PubTatorRelation] = field(default_factory=list)

    @property
    def text(self) -> str:
        """The text that mention offsets index: ``title + " " + abstract``."""
        return f"{self.title} {self.abstract}" if self.abstract else self.title

    def sentence_spans(self) -> list[tuple[int, int]]:
        """Sentence spans into :attr:`text`; the title is always a sentence of its own."""
        spans = split_sentences(self.title)
        offset = len(self.title) + 1
        spans += [(start + offset, end + offset) for start, end in split_sentences(self.abstract)]
        return spans


def is_pubtator(path: str | os.PathLike) -> bool:
    """Whether the first non-blank line of ``path`` is a PubTator ``PMID|t|`` or ``PMID|a|`` line."""
    for _, line in iter_lines(path):
        if line.strip():
            parts = line.split("|", 2)
            return len(parts) == 3 and parts[1] in ("t", "a") and bool(parts[0].strip())
    return False


def _mention(
    path: str | os.PathLike, line_no: int, doc: PubTatorDocument, fields: list[str]
) -> PubTatorMention:
    try:
        mention = PubTatorMention(
            int(fields[1]), int(fields[2]), fields[3], fields[4], fields[5] if len(fields) > 5 else ""
        )
    except (ValueError, IndexError):
        raise CorpusError(f"{os.fspath(path)} line {line_no}: malformed mention line {fields!r}") from None
    if doc.text[mention.start : mention.end] != mention.text:
        raise CorpusError(
            f"{os.fspath(path)} line {line_no}: mention {mention.text!r} at {mention.start}:{mention.end} "
            f"is {doc.text[mention.start : mention.end]!r} in document {doc.pmid}"
        )
    return mention


def iter_pubtator(path: str | os.PathLike) -> Iterator[PubTatorDocument]:
    """Yield the documents of a PubTator file one at a time, mention offsets checked against the text."""
    doc: PubTatorDocument | None = None
    for line_no, line in iter_lines(path):
        if not line.strip():
            if doc is not None:
                yield doc
                doc = None
            continue
        head = line.split("|", 2)
        if len(head) == 3 and head[1] in ("t", "a") and "\t" not in head[0]:
            pmid, kind, content = head
            if kind == "t":
                if doc is not None:
                    yield doc
                doc = PubTatorDocument(pmid, content, "")
            elif doc is None or doc.pmid != pmid:
                raise CorpusError(
                    f"{os.fspath(path)} line {line_no}: abstract of {pmid} without its title line"
                )
            else:
                doc.abstract = content
            continue
        fields = line.split("\t")
        if doc is None or fields[0] != doc.pmid:
            raise CorpusError(
                f"{os.fspath(path)} line {line_no}: annotation for {fields[0]!r} outside its document"
            )
        if len(fields) == 4:
            doc.relations.append(PubTatorRelation(fields[1], fields[2], fields[3]))
        else:
            doc.mentions.append(_mention(path, line_no, doc, fields))
    if doc is not None:
        yield doc


def read_pubtator(path: str | os.PathLike) -> list[PubTatorDocument]:
    """All documents of a PubTator file."""
    return list(iter_pubtator(path))


def document_sentence_records(
    doc_id: str, text: str, spans: list[tuple[int, int]] | None = None
) -> list[Record]:
    """Unlabeled sentence records of one document: id ``"<doc_id>-s<k>"``, ``doc_id``, ``doc_start``."""
    spans = split_sentences(text) if spans is None else spans
    return [
        new_record(f"{doc_id}-s{k}", text[start:end], doc_id=doc_id, doc_start=start)
        for k, (start, end) in enumerate(spans)
    ]


def pubtator_sentence_records(doc: PubTatorDocument) -> list[Record]:
    """Unlabeled sentence records of a PubTator document (title first), offsets into ``doc.text``."""
    return document_sentence_records(doc.pmid, doc.text, doc.sentence_spans())
