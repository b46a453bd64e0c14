"""Dictionary matching of drug names: :class:`DrugLexicon` finds DrugBank names and synonyms in text.

Used to propose drug mentions where no model or teacher has run yet (pre-filtering millions of
unlabeled sentences, drug candidates for the student), so it must be fast on 50k+ names. Names and
text are cut into the same tokens (runs of letters/digits, each other symbol on its own; hyphens and
whitespace separate tokens and are otherwise ignored), lower-cased, and names live in a token trie.
A match therefore always sits on token boundaries ("aspirin" never matches inside "aspirinate", but
does match in "aspirin-induced"), and "5-fluorouracil", "5 fluorouracil" and "5 - fluorouracil" are
the same name. Scanning is leftmost-longest: at each token the longest name wins and matching resumes
after it, so matches never overlap ("interferon alfa-2b" beats "interferon").

Short names and everyday words are ambiguous in running text (DrugBank lists "AS", "CD", "Fig",
"Blood" and "Water" as synonyms). Names shorter than ``min_length`` characters are dropped, names of
up to ``exact_case_max_length`` characters that contain a capital letter only match as written
("AZT", "CsA", "5FU" match; "as", "cd" do not), and the words in ``exclude`` are left out. The
defaults (2, 4, :data:`COMMON_WORD_NAMES`) were chosen on BC5CDR train+dev chemical mentions, not on
the ADE corpus that ``benchmarks/lexicon.py`` reports on: strict P/R/F1 .898/.717/.797 there, against
.653/.727/.688 for all names matched case-insensitively.
"""

from __future__ import annotations

import csv
import io
import logging
import os
import re
from collections.abc import Iterable
from pathlib import Path

from adekd.corpora.textio import CorpusError, read_text
from adekd.records import Span

logger = logging.getLogger(__name__)

_TOKEN = re.compile(r"\w+|[^\w\s\-\u2010\u2011]")
_END = ""  # trie key marking the end of a name; never a token, since tokens are non-empty
COMMON_WORD_NAMES = frozenset(
    {"balance", "blood", "dimension", "lemon", "monitor", "rabbit", "tobacco", "water"}
)
"""DrugBank synonyms that are everyday English words: the ones that matched 3+ times in BC5CDR
train+dev text and were never annotated as a chemical there. Excluded by default."""
DRUGBANK_NAME_COLUMN = "Common name"
DRUGBANK_SYNONYMS_COLUMN = "Synonyms"


def _lower(text: str) -> str:
    """Lower-case without changing the length, so offsets into the result are offsets into ``text``."""
    lowered = text.lower()
    if len(lowered) == len(text):
        return lowered
    return "".join(char if len(char.lower()) != 1 else char.lower() for char in text)


def _tokens(text: str) -> list[str]:
    return _TOKEN.findall(text)


class DrugLexicon:
    """A drug dictionary that finds its names in text; build it with :meth:`from_file` or from names.

    ``names`` are strings or ``(name, canonical)`` pairs; :meth:`canonical` maps a matched mention
    back to the canonical name (the DrugBank common name when read from the DrugBank CSV).
    """

    def __init__(
        self,
        names: Iterable[str | tuple[str, str]] = (),
        min_length: int = 2,
        exact_case_max_length: int = 4,
        exclude: Iterable[str] = COMMON_WORD_NAMES,
    ) -> None:
        self.min_length = min_length
        self.exact_case_max_length = exact_case_max_length
        self.exclude = frozenset(_lower(name) for name in exclude)
        self._folded: dict = {}  # trie over lower-cased tokens
        self._exact: dict = {}  # trie over tokens as written, for short names
        self._size = 0
        self.skipped_short = 0
        for entry in names:
            name, canonical = (entry, entry) if isinstance(entry, str) else entry
            self.add(name, canonical)

    def add(self, name: str, canonical: str | None = None) -> bool:
        """Add one name; returns ``False`` when it is too short, excluded or has no tokens."""
        name = name.strip()
        if len(name) < self.min_length or not _tokens(name):
            self.skipped_short += bool(name)
            return False
        if _lower(name) in self.exclude:
            return False
        exact = len(name) <= self.exact_case_max_length and name != name.lower()
        node = self._exact if exact else self._folded
        for token in _tokens(name if exact else _lower(name)):
            node = node.setdefault(token, {})
        if _END not in node:
            self._size += 1
        node.setdefault(_END, canonical or name)
        return True

    def __len__(self) -> int:
        return self._size

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and self.canonical(name) is not None

    @staticmethod
    def _walk(trie: dict, tokens: list[str]) -> str | None:
        node = trie
        for token in tokens:
            node = node.get(token)
            if node is None:
                return None
        return node.get(_END)

    def canonical(self, mention: str) -> str | None:
        """The canonical name of a mention the lexicon knows (any case, hyphens ignored), else ``None``."""
        return self._walk(self._exact, _tokens(mention)) or self._walk(self._folded, _tokens(_lower(mention)))

    @staticmethod
    def _longest(trie: dict, words: list[str], i: int) -> int:
        """End token index of the longest name starting at token ``i`` (0 if none)."""
        node = trie.get(words[i])
        if node is None:
            return 0
        best = i + 1 if _END in node else 0
        for j in range(i + 1, len(words)):
            node = node.get(words[j])
            if node is None:
                break
            if _END in node:
                best = j + 1
        return best

    def find(self, text: str) -> list[Span]:
        """Drug mentions in ``text``: leftmost-longest, non-overlapping, character offsets (end exclusive)."""
        lowered = _lower(text)
        words = _tokens(lowered)
        folded, exact = self._folded, self._exact
        written = (words if lowered == text else _tokens(text)) if exact else words
        hits: list[tuple[int, int]] = []
        i, n = 0, len(words)
        while i < n:
            if words[i] not in folded and written[i] not in exact:
                i += 1
                continue
            end = max(self._longest(folded, words, i), self._longest(exact, written, i))
            if end:
                hits.append((i, end))
                i = end
            else:
                i += 1
        if not hits:
            return []
        offsets = [(m.start(), m.end()) for m in _TOKEN.finditer(lowered)]
        return [
            {
                "text": text[offsets[i][0] : offsets[j - 1][1]],
                "start": offsets[i][0],
                "end": offsets[j - 1][1],
            }
            for i, j in hits
        ]

    @classmethod
    def from_file(
        cls,
        path: str | os.PathLike,
        min_length: int = 2,
        exact_case_max_length: int = 4,
        exclude: Iterable[str] = COMMON_WORD_NAMES,
    ) -> DrugLexicon:
        """Build from the DrugBank vocabulary CSV (common name + ``" | "``-joined synonyms), a TSV/CSV
        of ``name[,canonical]`` rows (no header) or a plain list with one name per line (``#`` comments)."""
        path = Path(path)
        text = read_text(path)
        lexicon = cls(min_length=min_length, exact_case_max_length=exact_case_max_length, exclude=exclude)
        lexicon._load(path, text)
        if not len(lexicon):
            raise CorpusError(f"{path}: no drug names found")
        logger.info(
            "%s: %d drug names (%d shorter than %d skipped)",
            path,
            len(lexicon),
            lexicon.skipped_short,
            min_length,
        )
        return lexicon

    def _load(self, path: Path, text: str) -> None:
        first_line = text.split("\n", 1)[0]
        if DRUGBANK_NAME_COLUMN in first_line:
            for row in csv.DictReader(io.StringIO(text)):
                common = (row.get(DRUGBANK_NAME_COLUMN) or "").strip()
                if not common:
                    continue
                self.add(common, common)
                for synonym in (row.get(DRUGBANK_SYNONYMS_COLUMN) or "").split(" | "):
                    self.add(synonym, common)
            return
        delimiter = "\t" if path.suffix in (".tsv", ".tab") else "," if path.suffix == ".csv" else None
        for line_no, line in enumerate(text.splitlines(), 1):
            if not line.strip() or line.lstrip().startswith("#"):
                continue
            if delimiter is None:
                self.add(line)
                continue
            cells = next(csv.reader([line], delimiter=delimiter))
            if not cells or not cells[0].strip():
                raise CorpusError(f"{path} line {line_no}: empty name")
            self.add(cells[0], cells[1].strip() if len(cells) > 1 and cells[1].strip() else None)
