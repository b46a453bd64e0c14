"""Records <-> student inputs: subword labels, long-text windows, padding, character spans back."""

from __future__ import annotations

import logging
import random
from pathlib import Path

import pytest
import torch
from student_support import RECORDS, tiny_encoder
from transformers import AutoConfig

from adekd.modeling import AdeDataCollator, AdeStudentConfig, AdeStudentProcessor, Window
from adekd.modeling.modeling_adekd import IGNORE_INDEX, TAG_B, TAG_I, TAG_O
from adekd.records import new_record, records_to_dataset


@pytest.fixture(scope="module")
def encoder_dir(tmp_path_factory) -> Path:
    return tiny_encoder(tmp_path_factory.mktemp("encoder"))


def processor(encoder_dir: Path, **kwargs) -> AdeStudentProcessor:
    architecture = kwargs.pop("architecture", "drug_centric")
    config = AdeStudentConfig(
        encoder=AutoConfig.from_pretrained(encoder_dir).to_dict(),
        architecture=architecture,
        drug_marker_ids=[1002, 1002],
        ade_marker_ids=[1001, 1001],
    )
    return AdeStudentProcessor.from_pretrained(encoder_dir, config=config, **kwargs)


def tokens_of(window: Window, text: str, start: int, end: int) -> tuple[int, int] | None:
    """Window token span whose characters are exactly ``text[start:end]``, if the window holds it whole."""
    first = [
        i for i, (s, _) in enumerate(window.offsets) if s == start and i not in (0, len(window.offsets) - 1)
    ]
    last = [
        i for i, (_, e) in enumerate(window.offsets) if e == end and i not in (0, len(window.offsets) - 1)
    ]
    return (first[0], last[-1] + 1) if first and last else None


def test_labels_cover_every_subword_of_a_split_drug(encoder_dir):
    proc = processor(encoder_dir)
    record = RECORDS[0]  # "Acute hepatitis after oral amoxicillin."
    (window,) = proc.encode(record["text"], record["drugs"], record["ades"], labels=True)
    pieces = proc.tokenizer.convert_ids_to_tokens(window.input_ids)
    assert pieces == [
        "[CLS]",
        "acute",
        "hepatitis",
        "after",
        "oral",
        "am",
        "##ox",
        "##ici",
        "##llin",
        ".",
        "[SEP]",
    ]
    assert window.drug_spans == [(5, 9)] and window.drug_indexes == [0]
    assert window.drug_labels == [IGNORE_INDEX, 0, 0, 0, 0, TAG_B, TAG_I, TAG_I, TAG_I, TAG_O, IGNORE_INDEX]
    assert window.ade_labels == [[IGNORE_INDEX, TAG_B, TAG_I, 0, 0, 0, 0, 0, 0, 0, IGNORE_INDEX]]
    assert window.mention_labels == window.ade_labels[0]
    prediction = {"drug_spans": [[5, 9]], "drug_scores": [0.9], "ade_spans": [[0, 1, 3]], "ade_scores": [0.8]}
    drugs, ades = proc.decode(record["text"], [window], [prediction])
    assert drugs == [{"text": "amoxicillin", "start": 27, "end": 38, "score": 0.9}]
    assert ades == [{"drug": 0, "text": "Acute hepatitis", "start": 0, "end": 15, "score": 0.8}]


def test_each_drug_gets_only_its_own_ades_and_pairs_get_relation_labels(encoder_dir):
    proc = processor(encoder_dir, architecture="pairwise")
    record = RECORDS[1]
    (window,) = proc.encode(record["text"], record["drugs"], record["ades"], labels=True)
    tagged = [[i for i, tag in enumerate(row) if tag in (TAG_B, TAG_I)] for row in window.ade_labels]
    texts = [proc.tokenizer.decode([window.input_ids[i] for i in row]) for row in tagged]
    assert texts == ["pancytopenia", "hemorrhagic cystitis"]
    assert window.relation_labels == [1, 0, 0, 1]
    assert [span[:2] for span in window.pair_spans] == [window.drug_spans[0], window.drug_spans[1]] * 2


def test_a_span_ending_inside_a_token_is_labelled_whole_and_reported(encoder_dir, caplog):
    proc = processor(encoder_dir)
    record = new_record("r", "aspirinuria seen", [{"text": "aspiri", "start": 0, "end": 6}])
    with caplog.at_level(logging.WARNING):
        (window,) = proc.encode(record["text"], record["drugs"], record["ades"], labels=True)
    assert "1 labelled spans start or end inside a token" in caplog.text
    pieces = proc.tokenizer.convert_ids_to_tokens(window.input_ids)
    assert [pieces[i] for i, tag in enumerate(window.drug_labels) if tag in (TAG_B, TAG_I)] == [
        "as",
        "##pi",
        "##rin",
    ]


def long_passage(sentences: int = 70, seed: int = 0) -> dict:
    """A record of more than 5,000 characters: many sentences, each with its own drug and ADE."""
    rng = random.Random(seed)
    drugs = ["amoxicillin", "cyclophosphamide", "carbamazepine", "methotrexate", "clozapine", "lithium"]
    ades = ["acute hepatitis", "hemorrhagic cystitis", "severe rash", "pancytopenia", "tremor", "fever"]
    text, drug_spans, ade_spans = "", [], []
    for i in range(sentences):
        drug, ade = rng.choice(drugs), rng.choice(ades)
        if i % 2:
            sentence = f"Patient {i} had {ade} a few weeks after starting {drug} for an unrelated illness. "
        else:
            sentence = f"Patient {i} was started on {drug} and a few weeks later had {ade} again. "
        d0, a0 = len(text) + sentence.index(drug), len(text) + sentence.index(ade)
        ade_spans.append({"drug": len(drug_spans), "text": ade, "start": a0, "end": a0 + len(ade)})
        drug_spans.append({"text": drug, "start": d0, "end": d0 + len(drug)})
        text += sentence
    return new_record("long", text.rstrip(), drug_spans, ade_spans)


def oracle_predictions(windows: list[Window], record: dict, given: bool) -> list[dict]:
    """Per window, the gold spans it holds whole, plus the gold spans a cut edge truncates (which the
    merge must drop) when the student finds drugs itself."""
    text, predictions = record["text"], []
    for window in windows:
        drug_spans, ade_spans = [], []
        last = len(window.input_ids) - 2
        if given:
            drug_spans = list(window.drug_spans)
            local = {index: j for j, index in enumerate(window.drug_indexes)}
        else:
            local = {}
            for index, drug in enumerate(record["drugs"]):
                span = tokens_of(window, text, drug["start"], drug["end"])
                if span:
                    local[index] = len(drug_spans)
                    drug_spans.append(span)
                elif window.cut_after and drug["start"] <= window.offsets[last][0] < drug["end"]:
                    first = next(i for i, (s, _) in enumerate(window.offsets) if s == drug["start"])
                    drug_spans.append((first, last + 1))  # truncated by the cut
        for ade in record["ades"]:
            if ade["drug"] not in local:
                continue
            span = tokens_of(window, text, ade["start"], ade["end"])
            if span:
                ade_spans.append([local[ade["drug"]], *span])
            elif (
                window.cut_after
                and window.offsets[last][0] >= ade["start"]
                and window.offsets[last][1] < ade["end"]
            ):
                first = next(i for i, (s, _) in enumerate(window.offsets) if s == ade["start"])
                ade_spans.append([local[ade["drug"]], first, last + 1])  # truncated by the cut
        predictions.append(
            {
                "drug_spans": drug_spans,
                "drug_scores": [1.0] * len(drug_spans),
                "ade_spans": ade_spans,
                "ade_scores": [1.0] * len(ade_spans),
            }
        )
    return predictions


@pytest.mark.parametrize("given", [False, True], ids=["found-drugs", "given-drugs"])
def test_long_text_windows_overlap_and_merge_back_to_exact_spans(encoder_dir, given):
    record = long_passage()
    assert len(record["text"]) > 5000
    proc = processor(encoder_dir, max_length=64, stride=16)
    windows = proc.encode(record["text"], record["drugs"] if given else None)
    assert len(windows) > 10 and all(len(w.input_ids) <= 64 for w in windows)
    # consecutive windows share 16 tokens; the owned character ranges tile the text
    for left, right in zip(windows, windows[1:], strict=False):
        assert len(set(left.offsets[1:-1]) & set(right.offsets[1:-1])) >= 16
        assert left.owned[1] == right.owned[0] and left.cut_after and right.cut_before
    assert windows[0].owned[0] == 0 and windows[-1].owned[1] == len(record["text"]) + 1
    covered = {offset for w in windows for offset in w.offsets[1:-1]}
    assert len(covered) == len(proc.tokenizer(record["text"], add_special_tokens=False)["input_ids"])
    if given:
        assert {index for w in windows for index in w.drug_indexes} == set(range(len(record["drugs"])))
    drugs, ades = proc.decode(
        record["text"],
        windows,
        oracle_predictions(windows, record, given),
        record["drugs"] if given else None,
    )
    assert [(d["start"], d["end"]) for d in drugs] == [(d["start"], d["end"]) for d in record["drugs"]]
    assert sorted((a["drug"], a["start"], a["end"]) for a in ades) == sorted(
        (a["drug"], a["start"], a["end"]) for a in record["ades"]
    )


def test_training_windows_of_a_long_record_carry_its_labels(encoder_dir):
    record = long_passage(sentences=20)
    proc = processor(encoder_dir, max_length=48, stride=12)
    windows = proc.encode_records([record], labels=True)
    assert len(windows) > 3
    # every drug is conditioned on, with its ADE labelled, in some window that holds both
    for index in range(len(record["ades"])):
        assert any(
            index in w.drug_indexes and TAG_B in w.ade_labels[w.drug_indexes.index(index)] for w in windows
        )
    batch = proc.collate(windows, labels=True)
    assert batch["input_ids"].shape[0] == len(windows) and batch["input_ids"].shape[1] <= 48


def test_collate_pads_to_the_longest_window(encoder_dir):
    proc = processor(encoder_dir, architecture="pairwise")
    batch = AdeDataCollator(proc)(RECORDS)
    lengths = [len(proc.encode(r["text"])[0].input_ids) for r in RECORDS]
    assert batch["input_ids"].shape == (5, max(lengths))
    assert batch["attention_mask"].sum(1).tolist() == lengths
    assert batch["drug_spans"].shape == (5, 2, 2) and batch["ade_labels"].shape == (5, 2, max(lengths))
    assert batch["pair_spans"].shape == (5, 4, 4) and batch["relation_labels"].shape == (5, 4)
    assert (batch["ade_labels"][3] == IGNORE_INDEX).all()  # no drugs: nothing to label
    assert (batch["special_tokens_mask"] == 1).sum().item() == 5 * max(lengths) - sum(lengths) + 10
    assert set(batch) == {
        "input_ids",
        "attention_mask",
        "token_type_ids",
        "special_tokens_mask",
        "drug_spans",
        "drug_labels",
        "ade_labels",
        "mention_labels",
        "pair_spans",
        "relation_labels",
    }
    with pytest.raises(ValueError, match="labels=True"):
        proc.collate(proc.encode_records(RECORDS, labels=False), labels=True)


def test_collator_takes_rows_of_a_records_dataset(encoder_dir):
    proc = processor(encoder_dir)
    rows = list(records_to_dataset(RECORDS))
    assert rows[0]["drugs"][0]["score"] is None
    batch = AdeDataCollator(proc)(rows)
    assert torch.equal(batch["ade_labels"], AdeDataCollator(proc)(RECORDS)["ade_labels"])


def test_decoded_spans_are_clipped_to_the_text_and_trimmed(encoder_dir):
    proc = processor(encoder_dir)
    text = " ab cd "
    window = Window(
        input_ids=[101, 1, 2, 3, 102], offsets=[(0, 0), (0, 3), (3, 5), (5, 50), (0, 0)], owned=(0, 8)
    )
    prediction = {
        "drug_spans": [[1, 3], [3, 4], [0, 0]],
        "drug_scores": [0.5, 0.5, 0.0],
        "ade_spans": [[0, 1, 4], [2, 0, 1]],
        "ade_scores": [0.7, 0.9],
    }
    drugs, ades = proc.decode(text, [window], [prediction])
    assert [(d["start"], d["end"], d["text"]) for d in drugs] == [(1, 5, "ab c"), (5, 6, "d")]
    assert ades == [{"drug": 0, "text": "ab cd", "start": 1, "end": 6, "score": 0.7}]


def test_processor_refuses_windows_the_encoder_cannot_take(encoder_dir):
    with pytest.raises(ValueError, match="exceeds what this encoder takes"):
        processor(encoder_dir, max_length=4096)
    with pytest.raises(ValueError, match="no room"):
        processor(encoder_dir, max_length=2)
    assert processor(encoder_dir, architecture="pairwise").max_length == 512 - 4


def test_decoded_spans_cover_whole_words_even_when_the_tagger_stops_inside_one(encoder_dir):
    proc = processor(encoder_dir)
    text = "Oral amoxicillin caused methotrexate-induced pancytopenia."
    (window,) = proc.encode(text)
    pieces = proc.tokenizer.convert_ids_to_tokens(window.input_ids)
    amoxicillin = (pieces.index("am"), pieces.index("##llin") + 1)
    pancytopenia = (pieces.index("pan"), pieces.index("##enia") + 1)
    prediction = {  # drug: the first two of four subwords; ADE: all but the first subword
        "drug_spans": [[amoxicillin[0], amoxicillin[0] + 2]],
        "drug_scores": [0.9],
        "ade_spans": [[0, pancytopenia[0] + 1, pancytopenia[1]]],
        "ade_scores": [0.8],
    }
    drugs, ades = proc.decode(text, [window], [prediction])
    assert [d["text"] for d in drugs] == ["amoxicillin"] and [a["text"] for a in ades] == ["pancytopenia"]
    # a word is a pre-tokenizer word: punctuation ends it, so "methotrexate" stays apart from "-induced"
    prediction["ade_spans"] = [[0, pieces.index("-") - 1, pieces.index("-")]]
    _, ades = proc.decode(text, [window], [prediction])
    assert [a["text"] for a in ades] == ["methotrexate"]


def test_overlapping_spans_of_one_drug_keep_the_best_scoring(encoder_dir):
    proc = processor(encoder_dir)
    text = "Peripheral neuropathy after cisplatin and vincristine."
    (window,) = proc.encode(text)
    pieces = proc.tokenizer.convert_ids_to_tokens(window.input_ids)
    peripheral, ne, after, cis, and_, vin, dot = (
        pieces.index(piece) for piece in ("peripheral", "ne", "after", "cis", "and", "vin", ".")
    )
    prediction = {  # as two windows that disagree would leave them, or spans widened to one word
        "drug_spans": [[cis, and_], [vin, dot], [cis, vin], [cis, cis + 1]],
        "drug_scores": [0.9, 0.8, 0.4, 0.95],  # "cisplatin and" loses to "cisplatin" (twice, 0.95 kept)
        "ade_spans": [
            [0, peripheral, after],
            [0, peripheral, ne],
            [0, ne, after],
            [1, ne, after],
            [2, vin, dot],
        ],
        "ade_scores": [0.7, 0.9, 0.7, 0.6, 0.5],
    }
    drugs, ades = proc.decode(text, [window], [prediction])
    assert [(d["text"], d["score"]) for d in drugs] == [("cisplatin", 0.95), ("vincristine", 0.8)]
    assert [(a["drug"], a["text"]) for a in ades] == [
        (0, "Peripheral"),
        (0, "neuropathy"),
        (0, "vincristine"),  # the ADE of the losing "cisplatin and" goes to the drug it overlaps
        (1, "neuropathy"),
    ]
    prediction["ade_scores"] = [0.9, 0.7, 0.7, 0.6, 0.5]
    _, ades = proc.decode(text, [window], [prediction])
    assert [(a["drug"], a["text"]) for a in ades] == [
        (0, "Peripheral neuropathy"),
        (0, "vincristine"),
        (1, "neuropathy"),
    ]


def test_a_span_widened_past_a_cut_window_edge_is_left_to_the_neighbouring_window(encoder_dir):
    proc = processor(encoder_dir, max_length=8, stride=2)
    text = "rash after methotrexate and cisplatin today"
    windows = proc.encode(text)
    first = windows[0]
    assert first.cut_after
    pieces = proc.tokenizer.convert_ids_to_tokens(first.input_ids)
    last_token = len(first.input_ids) - 2
    # the tagger stops one subword before the cut, inside a word the window holds only in part
    cut_word_start = max(i for i in range(1, last_token + 1) if not pieces[i].startswith("##"))
    assert pieces[last_token].startswith("##") and cut_word_start < last_token
    prediction = {
        "drug_spans": [[1, 2]],
        "drug_scores": [0.9],
        "ade_spans": [[0, cut_word_start, last_token]],
        "ade_scores": [0.9],
    }
    _, ades = proc.decode(text, [first], [prediction])
    assert ades == []
