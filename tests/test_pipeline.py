"""The ade-extraction pipeline and adekd.extract on a tiny trained student: records out, bad input in."""

from __future__ import annotations

import re
import time

import pytest
import torch
from student_support import RECORDS, one_thread
from transformers import pipeline

import adekd
from adekd.corpora import DrugLexicon
from adekd.modeling import load_pipeline
from adekd.records import validate_record


@pytest.fixture(autouse=True, scope="module")
def _one_thread():
    with one_thread():
        yield


@pytest.fixture(scope="module")
def pipe(tiny_trained_student):
    return pipeline("ade-extraction", model=str(tiny_trained_student))


def pairs(record: dict) -> set[tuple[str, str]]:
    return {(record["drugs"][a["drug"]]["text"], a["text"]) for a in record["ades"]}


def check(record: dict) -> dict:
    """A valid record whose spans lie inside its text, trimmed, each with a score in [0, 1]."""
    validate_record(record)
    for span in (*record["drugs"], *record["ades"]):
        assert span["text"] == span["text"].strip() and span["text"]
        assert "score" not in span or 0.0 <= span["score"] <= 1.0
    return record


def test_pipeline_returns_records_with_scored_character_spans(pipe):
    out = check(pipe(RECORDS[1]["text"]))
    assert out["text"] == RECORDS[1]["text"] and out["id"].startswith("sha1-")
    assert [d["text"] for d in out["drugs"]] == ["Methotrexate", "cyclophosphamide"]
    assert pairs(out) == {("Methotrexate", "pancytopenia"), ("cyclophosphamide", "hemorrhagic cystitis")}
    assert all(isinstance(span["score"], float) for span in (*out["drugs"], *out["ades"]))


def test_batched_and_unbatched_calls_agree(pipe):
    inputs = [r["text"] for r in RECORDS]
    one = pipe(inputs, batch_size=1)
    four = pipe(inputs, batch_size=4)
    assert one == four and [r["id"] for r in one] == ["0", "1", "2", "3", "4"]
    for gold, record in zip(RECORDS, four, strict=True):
        assert pairs(check(record)) == pairs(gold)


def test_given_drugs_skip_the_tagger_and_are_kept_as_given(pipe):
    record = {"id": "given", "text": RECORDS[1]["text"], "source": "n2c2", "drugs": RECORDS[1]["drugs"][1:]}
    out = check(pipe(record))
    assert out["id"] == "given" and out["source"] == "n2c2"
    assert out["drugs"] == RECORDS[1]["drugs"][1:]  # unchanged, no score added
    assert pairs(out) == {("cyclophosphamide", "hemorrhagic cystitis")}
    # a record with an empty drug list gets its drugs found
    assert len(pipe({"text": RECORDS[1]["text"], "drugs": []})["drugs"]) == 2


def test_drugs_passed_to_extract_are_used_as_given_even_when_none(pipe):
    text = RECORDS[1]["text"]
    assert len(adekd.extract(text, model=pipe)["drugs"]) == 2  # the tagger finds two
    none_given = adekd.extract([text], model=pipe, drugs=[[]])[0]  # scoring with gold drugs: none here
    assert none_given["drugs"] == [] and none_given["ades"] == []
    found = adekd.extract([text, text], model=pipe, drugs=[None, RECORDS[1]["drugs"][:1]])
    assert len(found[0]["drugs"]) == 2 and found[1]["drugs"] == RECORDS[1]["drugs"][:1]


def test_drug_lexicon_supplies_the_drugs(pipe):
    lexicon = DrugLexicon()
    lexicon.add("cyclophosphamide")
    out = check(pipe(RECORDS[1]["text"], drug_lexicon=lexicon))
    assert [d["text"] for d in out["drugs"]] == ["cyclophosphamide"]
    assert pairs(out) == {("cyclophosphamide", "hemorrhagic cystitis")}
    # the lexicon alone: where it finds no drug the tagger is not asked (it finds two here)
    assert len(pipe(RECORDS[1]["text"])["drugs"]) == 2
    assert pipe(RECORDS[1]["text"], drug_lexicon=DrugLexicon())["drugs"] == []


def test_thresholds_drop_low_scoring_spans(pipe):
    text = RECORDS[1]["text"]
    full = pipe(text)
    drug_cut = max(d["score"] for d in full["drugs"])
    ade_cut = max(a["score"] for a in full["ades"])
    assert len(full["drugs"]) == 2 and min(d["score"] for d in full["drugs"]) < drug_cut
    assert [a for a in pipe(text, ade_threshold=ade_cut)["ades"]] == [
        a for a in full["ades"] if a["score"] >= ade_cut
    ]
    top = pipe(text, drug_threshold=drug_cut)  # the other drug goes, with the ADEs it caused
    (kept,) = top["drugs"]
    assert kept == next(d for d in full["drugs"] if d["score"] == drug_cut)
    assert pairs(top) == {(kept["text"], ade) for drug, ade in pairs(full) if drug == kept["text"]}


def test_long_passage_spans_come_back_at_the_right_offsets(pipe):
    """Windows of 128 tokens over 5,000+ characters of the sentences the student learned."""
    text, gold = "", set()
    while len(text) < 5000:
        for record in RECORDS:
            gold |= {(d["start"] + len(text), d["end"] + len(text)) for d in record["drugs"]}
            text += record["text"] + " "
    out = check(pipe(text, max_length=128, stride=32))
    found = [(d["start"], d["end"]) for d in out["drugs"]]
    assert len(found) == len(set(found))  # overlapping windows report each drug once
    assert len(set(found) & gold) >= 0.9 * len(gold)
    assert max(start for start, _ in set(found) & gold) > len(text) - 200  # the last window counts too


def test_bad_and_odd_inputs(pipe):
    odd = [
        "",
        "   \n\t ",
        "The patient recovered fully.",
        "Fièvre \x07\x00 sous clozapine — 発熱 ✓",
        "\u200b\ufeff",
    ]
    for text, out in zip(odd, pipe(odd, batch_size=3), strict=True):
        check(out)
        assert out["text"] == text
    assert pipe("")["drugs"] == [] and pipe("")["ades"] == []
    with pytest.raises(TypeError, match="input 1 must be a text"):
        pipe(["fine", None])
    with pytest.raises(TypeError, match="got None"):
        pipe(None)
    with pytest.raises(TypeError, match="input 0 must be a text .* got int"):
        pipe([3])
    with pytest.raises(TypeError, match="input 0: a record needs a string 'text'"):
        pipe([{"id": "x"}])
    with pytest.raises(ValueError, match=r"record 'x'\): drug 0 span 5:99 outside text of length 4"):
        pipe([{"id": "x", "text": "text", "drugs": [{"start": 5, "end": 99}]}])
    with pytest.raises(ValueError, match="not valid Unicode"):
        pipe("bad \ud800 surrogate")
    assert pipe([]) == []


@pytest.mark.parametrize("threshold", [-0.1, 1.5, 50, "0.5", True])
@pytest.mark.parametrize("name", ["drug_threshold", "ade_threshold"])
def test_thresholds_outside_0_1_are_refused(pipe, name, threshold):
    with pytest.raises(ValueError, match=re.escape(f"{name} is a score between 0 and 1, got {threshold!r}")):
        pipe("Rash after amoxicillin.", **{name: threshold})
    check(pipe("Rash after amoxicillin.", **{name: 1}))  # the bounds themselves are scores


def test_a_100k_character_text_is_windowed_not_truncated(pipe):
    text = " ".join([RECORDS[1]["text"]] * 1200)[:100_000]
    started = time.perf_counter()
    out = check(pipe(text))
    assert time.perf_counter() - started < 60
    assert len(out["drugs"]) > 1000 and max(d["end"] for d in out["drugs"]) > 99_000


def test_extract_keeps_input_order_while_batching_by_length(tiny_trained_student):
    texts = [r["text"] for r in RECORDS] + ["Short.", RECORDS[1]["text"] * 3]
    out = adekd.extract(texts, model=tiny_trained_student, batch_size=2)
    assert [r["text"] for r in out] == texts and [r["id"] for r in out] == [str(i) for i in range(7)]
    assert pairs(out[2]) == pairs(RECORDS[2])
    single = adekd.extract(RECORDS[0]["text"], model=tiny_trained_student)
    assert single == {**out[0], "id": "0"}
    drugs = [None, RECORDS[1]["drugs"][:1]]
    given = adekd.extract(texts[:2], model=tiny_trained_student, drugs=drugs)
    assert given[1]["drugs"] == RECORDS[1]["drugs"][:1]
    assert pairs(given[1]) == {("Methotrexate", "pancytopenia")}
    with pytest.raises(TypeError, match="input 3 must be a text"):
        adekd.extract(["a", "b", "c", 4.5], model=tiny_trained_student)


def test_int8_pipeline_quantizes_a_copy_and_still_extracts(tiny_trained_student):
    from transformers import AutoModel, AutoTokenizer

    model = AutoModel.from_pretrained(tiny_trained_student).eval()
    pipe = load_pipeline(model, tokenizer=AutoTokenizer.from_pretrained(tiny_trained_student), dtype="int8")
    quantized = [m for m in pipe.model.modules() if isinstance(m, torch.ao.nn.quantized.dynamic.Linear)]
    assert quantized and not any(isinstance(m, torch.nn.Linear) for m in pipe.model.modules())
    assert {m.weight().qscheme() for m in quantized} == {torch.per_channel_affine}  # a scale per output row
    assert not any(isinstance(m, torch.ao.nn.quantized.dynamic.Linear) for m in model.modules())  # a copy
    out = adekd.extract([r["text"] for r in RECORDS], model=pipe, batch_size=2)
    for gold, record in zip(RECORDS, out, strict=True):
        assert pairs(check(record)) == pairs(gold)


def test_batches_group_texts_by_token_count_not_characters(tiny_trained_student):
    from transformers import AutoModel, AutoTokenizer

    model = AutoModel.from_pretrained(tiny_trained_student).eval()
    lengths: list[int] = []
    model.encoder.register_forward_pre_hook(
        lambda module, args, kwargs: lengths.append(kwargs["input_ids"].shape[1]), with_kwargs=True
    )
    # characters and tokens disagree: the longest text in characters has the fewest tokens but one
    texts = ["induced " * 8, "a b c d e f g h i j k l m n o p q r s t", "Short one.", "p q r s t u v w x y z"]
    adekd.extract(
        texts, model=model, tokenizer=AutoTokenizer.from_pretrained(tiny_trained_student), batch_size=2
    )
    tokenizer = AutoTokenizer.from_pretrained(tiny_trained_student)
    counts = sorted((len(tokenizer(t)["input_ids"]) for t in texts), reverse=True)
    assert lengths == [counts[0], counts[2]]  # each batch padded to its own longest text only
