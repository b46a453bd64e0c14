"""Readers that turn corpus files into records (:mod:`adekd.records`), and the tools around them.

:func:`load_records` reads any supported source; :func:`iter_texts` streams unlabeled input;
the format readers, the sentence splitter and :class:`DrugLexicon` are public for finer control;
:func:`read_relation_records` reads BC5CDR (PubTator) as chemical -> induced disease records.
"""

from adekd.corpora.ade_corpus import read_ade_corpus, read_ade_negatives, read_ade_relations
from adekd.corpora.cdr import (
    ConversionStats,
    conversion_stats,
    document_relation_records,
    iter_relation_records,
    read_relation_records,
)
from adekd.corpora.hub import ADE_CORPUS_V2_ID, ade_corpus_v2_to_records
from adekd.corpora.lexicon import COMMON_WORD_NAMES, DrugLexicon
from adekd.corpora.loading import SourceKind, detect_source, load_records
from adekd.corpora.pubtator import (
    PubTatorDocument,
    PubTatorMention,
    PubTatorRelation,
    document_sentence_records,
    iter_pubtator,
    pubtator_sentence_records,
    read_pubtator,
)
from adekd.corpora.sentences import split_sentences
from adekd.corpora.spert import read_spert, spert_folds
from adekd.corpora.stats import CorpusStats, corpus_stats
from adekd.corpora.textio import CorpusError
from adekd.corpora.texts import iter_texts

__all__ = [
    "ADE_CORPUS_V2_ID",
    "COMMON_WORD_NAMES",
    "CorpusError",
    "ConversionStats",
    "CorpusStats",
    "DrugLexicon",
    "PubTatorDocument",
    "PubTatorMention",
    "PubTatorRelation",
    "SourceKind",
    "ade_corpus_v2_to_records",
    "conversion_stats",
    "corpus_stats",
    "detect_source",
    "document_relation_records",
    "document_sentence_records",
    "iter_pubtator",
    "iter_relation_records",
    "iter_texts",
    "load_records",
    "pubtator_sentence_records",
    "read_ade_corpus",
    "read_ade_negatives",
    "read_ade_relations",
    "read_pubtator",
    "read_relation_records",
    "read_spert",
    "spert_folds",
    "split_sentences",
]
