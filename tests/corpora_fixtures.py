"""Small corpus files shaped like the originals, written by tests (the real corpora stay outside git)."""

from __future__ import annotations

import json
from pathlib import Path


def _nth(text: str, mention: str, occurrence: int) -> int:
    position = -1
    for _ in range(occurrence + 1):
        position = text.index(mention, position + 1)
    return position


def _rel_line(pmid: str, doc: str, sentence: str, ade: tuple[str, int], drug: tuple[str, int]) -> str:
    """A DRUG-AE.rel line with document-level offsets, as the corpus writes them."""
    start = doc.index(sentence)
    ade_begin = start + _nth(sentence, *ade)
    drug_begin = start + _nth(sentence, *drug)
    return "|".join(
        map(
            str,
            [
                pmid,
                sentence,
                ade[0],
                ade_begin,
                ade_begin + len(ade[0]),
                drug[0],
                drug_begin,
                drug_begin + len(drug[0]),
            ],
        )
    )


# PMID 1001: the title and the 2nd abstract sentence are annotated; in that sentence "warfarin"
# occurs twice and only the second occurrence is the drug of two relations, "hematuria" occurs twice.
TITLE_1001 = "Warfarin-induced bleeding."
SENTENCE_1001 = (
    "Stopping warfarin helped, but warfarin caused hematuria and bleeding, and heparin caused hematuria."
)
DOC_1001 = f"1001\n\n{TITLE_1001}\n\nA 60-year-old man was treated. {SENTENCE_1001} He recovered."
# PMID 1002: one sentence, the same drug string twice, each occurrence its own drug.
SENTENCE_1002 = "aspirin caused ulcers; later aspirin caused tinnitus."
DOC_1002 = f"1002\n\n{SENTENCE_1002}\n\nNo abstract."

ADE_RELATIONS = [
    _rel_line("1001", DOC_1001, TITLE_1001, ("bleeding", 0), ("Warfarin", 0)),
    _rel_line("1001", DOC_1001, SENTENCE_1001, ("hematuria", 0), ("warfarin", 1)),
    _rel_line("1001", DOC_1001, SENTENCE_1001, ("bleeding", 0), ("warfarin", 1)),
    _rel_line("1001", DOC_1001, SENTENCE_1001, ("hematuria", 1), ("heparin", 0)),
    _rel_line("1002", DOC_1002, SENTENCE_1002, ("ulcers", 0), ("aspirin", 0)),
    _rel_line("1002", DOC_1002, SENTENCE_1002, ("tinnitus", 0), ("aspirin", 1)),
]
ADE_NEGATIVES = [
    "1001 NEG A 60-year-old man was treated.",
    "1001 NEG He recovered.",
    "1001 NEG He recovered.",  # an exact duplicate line, as the real file has 7
    "2002 NEG Case report.",
]


def write_ade_corpus(folder: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "DRUG-AE.rel").write_text("\n".join(ADE_RELATIONS) + "\n", encoding="utf-8")
    (folder / "ADE-NEG.txt").write_text("\n".join(ADE_NEGATIVES) + "\n", encoding="utf-8")
    return folder


SPERT_ITEMS = [
    {
        "tokens": ["Fulminant", "hepatic", "failure", "with", "didanosine", "."],
        "entities": [
            {"type": "Adverse-Effect", "start": 0, "end": 3},
            {"type": "Drug", "start": 4, "end": 5},
        ],
        "relations": [{"type": "Adverse-Effect", "head": 0, "tail": 1}],
        "orig_id": 412,
    },
    {
        "tokens": ["Rash", "and", "fever", "after", "co", "-", "trimoxazole", "and", "dapsone", "."],
        "entities": [
            {"type": "Adverse-Effect", "start": 0, "end": 1},
            {"type": "Adverse-Effect", "start": 2, "end": 3},
            {"type": "Drug", "start": 4, "end": 7},
            {"type": "Drug", "start": 8, "end": 9},
        ],
        "relations": [
            {"type": "Adverse-Effect", "head": 0, "tail": 2},
            {"type": "Adverse-Effect", "head": 1, "tail": 3},
            {"type": "Adverse-Effect", "head": 0, "tail": 3},
        ],
        "orig_id": 7,
    },
]


def write_spert(path: Path, items: list[dict] | None = None) -> Path:
    path.write_text(json.dumps(SPERT_ITEMS if items is None else items), encoding="utf-8")
    return path


PUBTATOR_TITLE = "Naloxone reverses the effect of clonidine."
PUBTATOR_ABSTRACT = (
    "Rats received clonidine, 5 to 20 micrograms/kg i.v., e.g. in bolus. "
    "The hypotensive effect of 0.5 mg/kg alpha-methyldopa was reversed (Fig. 2). Smith et al. agreed."
)


def pubtator_text() -> str:
    """One BC5CDR-shaped document: title, abstract, mentions with offsets into title + " " + abstract, CID."""
    doc = f"{PUBTATOR_TITLE} {PUBTATOR_ABSTRACT}"
    lines = [f"227508|t|{PUBTATOR_TITLE}", f"227508|a|{PUBTATOR_ABSTRACT}"]
    for mention, kind, mesh in [
        ("Naloxone", "Chemical", "D009270"),
        ("clonidine", "Chemical", "D003000"),
        ("hypotensive", "Disease", "D007022"),
        ("alpha-methyldopa", "Chemical", "D008750"),
    ]:
        start = doc.index(mention)
        lines.append(f"227508\t{start}\t{start + len(mention)}\t{mention}\t{kind}\t{mesh}")
    lines.append("227508\tCID\tD008750\tD007022")
    return "\n".join(lines) + "\n\n"
