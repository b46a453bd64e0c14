"""DrugLexicon: file formats, word boundaries, longest match, case, punctuation, short names."""

from __future__ import annotations

import pytest

from adekd.corpora import CorpusError, DrugLexicon

DRUGBANK_CSV = """DrugBank ID,Accession Numbers,Common name,CAS,UNII,Synonyms,Standard InChI Key
DB00544,APRD00516,Fluorouracil,51-21-8,U3P01618RT,5-FU | 5-fluorouracil | Fluorouracilo,GHASVSINZRGABV
DB00105,BIOD00082,Interferon alfa-2b,99210-65-8,43K1W2T1M6,"Interferon alfa-2b, recombinant | IFN-alpha2b",
DB00495,APRD00189,Zidovudine,30516-87-1,4B9XT59T7S,AZT | Azidothymidine,HBOMLICNUCNMMY
DB01234,APRD00001,Dexamethasone,50-02-2,7S5I7G3JQL,Dex | Water | DX,UREBDLICKHMUKA
DB09999,,Water,7732-18-5,059QF0KO0R,Aqua purificata,
"""


@pytest.fixture
def drugbank(tmp_path):
    path = tmp_path / "drugbank_vocabulary.csv"
    path.write_text(DRUGBANK_CSV, encoding="utf-8")
    return DrugLexicon.from_file(path)


def _found(lexicon, text):
    spans = lexicon.find(text)
    for span in spans:
        assert text[span["start"] : span["end"]] == span["text"]
    return [span["text"] for span in spans]


def test_drugbank_csv_names_synonyms_and_canonical(drugbank):
    assert (
        "5-FU" in drugbank and "fluorouracilo" in drugbank and "Interferon alfa-2b, recombinant" in drugbank
    )
    assert drugbank.canonical("azidothymidine") == "Zidovudine"
    assert drugbank.canonical("5 fluorouracil") == "Fluorouracil"
    assert drugbank.canonical("paracetamol") is None


def test_word_boundaries(drugbank):
    assert _found(drugbank, "Dexamethasone-induced psychosis and dexamethasones") == ["Dexamethasone"]
    assert _found(drugbank, "Predexamethasone, fluorouracilic acid") == []
    assert _found(drugbank, "Given fluorouracil's toxicity (fluorouracil).") == [
        "fluorouracil",
        "fluorouracil",
    ]


def test_longest_match_wins_and_matches_do_not_overlap(tmp_path):
    lexicon = DrugLexicon(["interferon", "interferon alfa-2b", "alfa-2b therapy", "alfa"])
    assert _found(lexicon, "Interferon alfa-2b therapy caused depression.") == ["Interferon alfa-2b"]
    assert _found(lexicon, "interferon alfa therapy") == ["interferon", "alfa"]


def test_case_insensitive_and_hyphens_equal_spaces(drugbank):
    assert _found(drugbank, "FLUOROURACIL and 5 - Fluorouracil and 5-fluorouracil and 5 fluorouracil") == [
        "FLUOROURACIL",
        "5 - Fluorouracil",
        "5-fluorouracil",
        "5 fluorouracil",
    ]
    assert _found(drugbank, "5fluorouracil") == []


def test_short_names_match_as_written_and_common_words_are_excluded(drugbank):
    assert _found(drugbank, "AZT and Dex, but not azt, dex or DEX; water is no drug") == ["AZT", "Dex"]
    assert "DX" in drugbank  # two characters: kept, matched as written
    assert drugbank.canonical("Water") is None and drugbank.canonical("aqua purificata") == "Water"


def test_policy_is_configurable():
    everything = DrugLexicon(["D", "as", "Water"], min_length=1, exact_case_max_length=0, exclude=())
    assert _found(everything, "D as Water") == ["D", "as", "Water"]
    default = DrugLexicon(["D", "as", "Water"])
    assert len(default) == 1 and default.skipped_short == 1
    assert _found(default, "D as Water") == ["as"]


def test_offsets_survive_characters_whose_lower_case_is_longer():
    lexicon = DrugLexicon(["aspirin"])
    text = "İstanbul patient, aspirin."
    assert lexicon.find(text) == [{"text": "aspirin", "start": 18, "end": 25}]


def test_tsv_and_plain_list(tmp_path):
    tsv = tmp_path / "names.tsv"
    tsv.write_text("Tylenol\tacetaminophen\nparacetamol\tacetaminophen\nibuprofen\n")
    lexicon = DrugLexicon.from_file(tsv)
    assert lexicon.canonical("tylenol") == "acetaminophen" and lexicon.canonical("ibuprofen") == "ibuprofen"
    plain = tmp_path / "names.txt"
    plain.write_text("# my drugs\nmethotrexate\n\ncyclosporine A\n")
    assert _found(DrugLexicon.from_file(plain), "Cyclosporine A with methotrexate") == [
        "Cyclosporine A",
        "methotrexate",
    ]
    empty = tmp_path / "empty.txt"
    empty.write_text("# nothing\n")
    with pytest.raises(CorpusError, match="no drug names found"):
        DrugLexicon.from_file(empty)
