"""The ade_f1 evaluate module: hand-computed cases, evaluate plumbing, and agreement with SpERT's F1."""

from __future__ import annotations

import copy
import itertools
import json
import random

import evaluate
import pytest

import adekd
from adekd.metrics import METRIC_PATH, align_by_id, load_metric, score
from adekd.metrics.ade_f1.ade_f1 import lenient_matching
from adekd.records import records_to_dataset


def span(text: str, sub: str, nth: int = 0) -> dict:
    """The ``nth`` occurrence of ``sub`` in ``text`` as a span dict."""
    start = -1
    for _ in range(nth + 1):
        start = text.index(sub, start + 1)
    return {"text": sub, "start": start, "end": start + len(sub)}


def record(record_id: str, text: str, drugs: list, ades: list) -> dict:
    """Build a record from substrings: ``drugs`` are strings or (string, nth), ``ades`` are
    ``(drug index, string)`` or ``(drug index, string, nth)``."""
    drug_spans = [span(text, *d) if isinstance(d, tuple) else span(text, d) for d in drugs]
    ade_spans = [{"drug": a[0], **span(text, *a[1:])} for a in ades]
    return {"id": record_id, "text": text, "drugs": drug_spans, "ades": ade_spans}


@pytest.fixture(scope="module")
def ade_f1():
    return load_metric(keep_in_memory=True)


TEXT = "Severe hepatitis and rash after amoxicillin and clavulanate."


def test_exact_match_scores_one_everywhere(ade_f1):
    gold = record("s1", TEXT, ["amoxicillin", "clavulanate"], [(0, "Severe hepatitis"), (1, "rash")])
    results = ade_f1.compute(predictions=[copy.deepcopy(gold)], references=[gold])
    for prefix in ("", "drug_", "ade_"):
        for key in ("strict_precision", "strict_recall", "strict_f1", "lenient_f1"):
            assert results[prefix + key] == 1.0
    assert (results["strict_tp"], results["num_predicted"], results["num_gold"]) == (2, 2, 2)
    assert (results["drug_num_gold"], results["ade_num_gold"], results["num_records"]) == (2, 2, 1)


def test_partial_overlap_counts_lenient_not_strict(ade_f1):
    gold = record("s1", TEXT, ["amoxicillin"], [(0, "Severe hepatitis")])
    pred = record("s1", TEXT, ["amoxicillin"], [(0, "hepatitis and rash")])
    results = ade_f1.compute(predictions=[pred], references=[gold])
    assert (results["strict_f1"], results["lenient_f1"]) == (0.0, 1.0)
    assert (results["ade_strict_f1"], results["ade_lenient_f1"]) == (0.0, 1.0)
    assert (results["drug_strict_f1"], results["drug_lenient_f1"]) == (1.0, 1.0)
    assert (results["strict_tp"], results["lenient_tp"]) == (0, 1)


def test_adjacent_spans_do_not_overlap(ade_f1):
    gold = record("s1", TEXT, ["amoxicillin"], [(0, "Severe")])
    pred = record("s1", TEXT, ["amoxicillin"], [(0, " hepatitis")])  # starts where gold ends
    assert ade_f1.compute(predictions=[pred], references=[gold])["lenient_tp"] == 0


def test_one_prediction_covering_two_gold_matches_only_one(ade_f1):
    gold = record("s1", TEXT, ["amoxicillin"], [(0, "Severe hepatitis"), (0, "rash")])
    pred = record("s1", TEXT, ["amoxicillin"], [(0, "hepatitis and rash")])
    results = ade_f1.compute(predictions=[pred], references=[gold])
    assert (results["lenient_tp"], results["num_predicted"], results["num_gold"]) == (1, 1, 2)
    assert (results["lenient_precision"], results["lenient_recall"]) == (1.0, 0.5)
    assert results["lenient_f1"] == pytest.approx(2 / 3)


def test_two_predictions_inside_one_gold_match_only_one(ade_f1):
    gold = record("s1", TEXT, ["amoxicillin"], [(0, "Severe hepatitis")])
    pred = record("s1", TEXT, ["amoxicillin"], [(0, "Severe"), (0, "hepatitis")])
    results = ade_f1.compute(predictions=[pred], references=[gold])
    assert (results["lenient_tp"], results["lenient_precision"], results["lenient_recall"]) == (1, 0.5, 1.0)


def test_augmenting_path_finds_matches_greedy_choice_misses(ade_f1):
    text = "abcdefghijklmnop"
    # pred [2,9) overlaps gold [5,9) by 4 and gold [0,3) by 1, so greedy gives it [5,9);
    # pred [6,7) overlaps only [5,9): the maximum matching re-routes the first pred to [0,3).
    gold = record("s1", text, ["p"], [(0, "fghi"), (0, "abc")])
    pred = record("s1", text, ["p"], [(0, "cdefghi"), (0, "g")])
    results = ade_f1.compute(predictions=[pred], references=[gold], return_per_record=True)
    assert (results["ade_lenient_tp"], results["ade_strict_tp"]) == (2, 0)
    matched = {
        (m["prediction"]["text"], m["reference"]["text"])
        for m in results["per_record"][0]["ade"]["lenient"]["tp"]
    }
    assert matched == {("cdefghi", "abc"), ("g", "fghi")}


def test_identical_span_may_give_way_when_that_matches_more(ade_f1):
    text = "abcdefghijklmnop"
    # gold [5,10) and [0,6); preds [5,10) (identical to gold) and [9,12): only the matching
    # pred[5,10)-gold[0,6) + pred[9,12)-gold[5,10) reaches 2 lenient matches.
    gold = record("s1", text, ["p"], [(0, "fghij"), (0, "abcdef")])
    pred = record("s1", text, ["p"], [(0, "fghij"), (0, "jkl")])
    results = ade_f1.compute(predictions=[pred], references=[gold])
    assert (results["ade_strict_tp"], results["ade_lenient_tp"]) == (1, 2)


def test_identical_spans_are_preferred_in_the_breakdown(ade_f1):
    gold = record("s1", TEXT, ["amoxicillin"], [(0, "hepatitis"), (0, "rash")])
    pred = record("s1", TEXT, ["amoxicillin"], [(0, "hepatitis and rash"), (0, "rash")])
    result = ade_f1.compute(predictions=[pred], references=[gold], return_per_record=True)
    lenient = result["per_record"][0]["ade"]["lenient"]
    assert {(m["prediction"]["text"], m["reference"]["text"]) for m in lenient["tp"]} == {
        ("hepatitis and rash", "hepatitis"),
        ("rash", "rash"),
    }


@pytest.mark.parametrize("side", ["predictions", "references", "both"])
def test_empty_sides_give_zero_not_nan(ade_f1, side):
    full = record("s1", TEXT, ["amoxicillin"], [(0, "rash")])
    empty = {"id": "s1", "text": TEXT, "drugs": [], "ades": []}
    pred = empty if side in ("predictions", "both") else full
    gold = empty if side in ("references", "both") else full
    results = ade_f1.compute(predictions=[pred], references=[gold])
    scores = {k: v for k, v in results.items() if isinstance(v, float)}
    assert len(scores) == 18 and set(scores.values()) == {0.0}
    assert results["num_predicted"] == (0 if pred is empty else 1)
    assert results["num_gold"] == (0 if gold is empty else 1)


def test_empty_input_lists_give_zero(ade_f1):
    results = ade_f1.compute(predictions=[], references=[])
    assert results["num_records"] == 0 and results["strict_f1"] == 0.0 and results["ade_lenient_f1"] == 0.0


def test_wrong_drug_fails_the_pair_but_not_the_mentions(ade_f1):
    gold = record("s1", TEXT, ["amoxicillin", "clavulanate"], [(0, "rash")])
    pred = record("s1", TEXT, ["amoxicillin", "clavulanate"], [(1, "rash")])
    results = ade_f1.compute(predictions=[pred], references=[gold])
    assert (results["strict_f1"], results["lenient_f1"]) == (0.0, 0.0)
    assert results["drug_strict_f1"] == 1.0 and results["ade_strict_f1"] == 1.0


def test_duplicate_predictions_count_once(ade_f1):
    gold = record("s1", TEXT, ["amoxicillin"], [(0, "rash")])
    pred = record("s1", TEXT, ["amoxicillin", "amoxicillin"], [(0, "rash"), (0, "rash"), (1, "rash")])
    results = ade_f1.compute(predictions=[pred], references=[gold])
    assert (results["num_predicted"], results["drug_num_predicted"], results["ade_num_predicted"]) == (
        1,
        1,
        1,
    )
    assert results["strict_f1"] == 1.0


def test_ade_tied_to_two_drugs_is_two_pairs_but_one_mention(ade_f1):
    gold = record("s1", TEXT, ["amoxicillin", "clavulanate"], [(0, "rash"), (1, "rash")])
    pred = record("s1", TEXT, ["amoxicillin", "clavulanate"], [(0, "rash")])
    results = ade_f1.compute(predictions=[pred], references=[gold])
    assert (results["num_gold"], results["ade_num_gold"]) == (2, 1)
    assert (results["strict_precision"], results["strict_recall"], results["ade_strict_f1"]) == (
        1.0,
        0.5,
        1.0,
    )


def test_micro_average_over_sentences(ade_f1):
    text2 = "Rash, fever and nausea followed aspirin."
    gold = [
        record("s1", TEXT, ["amoxicillin"], [(0, "rash")]),
        record("s2", text2, ["aspirin"], [(0, "Rash")]),
    ]
    pred = [
        record("s1", TEXT, ["amoxicillin"], [(0, "rash")]),
        record("s2", text2, ["aspirin"], [(0, "fever"), (0, "nausea"), (0, "followed")]),
    ]
    results = ade_f1.compute(predictions=pred, references=gold)
    # pairs: tp 1, predicted 4, gold 2 -> P 1/4, R 1/2, F1 1/3 (the macro average would be 0.5)
    assert (results["strict_tp"], results["num_predicted"], results["num_gold"]) == (1, 4, 2)
    assert results["strict_precision"] == 0.25 and results["strict_recall"] == 0.5
    assert results["strict_f1"] == pytest.approx(1 / 3)


def test_result_does_not_depend_on_span_order(ade_f1):
    gold = record(
        "s1", TEXT, ["amoxicillin", "clavulanate"], [(0, "Severe hepatitis"), (1, "rash"), (0, "rash")]
    )
    pred = record(
        "s1", TEXT, ["clavulanate", "amoxicillin"], [(1, "hepatitis"), (0, "rash"), (1, "and rash")]
    )
    shuffled = copy.deepcopy(pred)
    shuffled["drugs"].reverse()
    shuffled["ades"] = [{**a, "drug": 1 - a["drug"]} for a in reversed(shuffled["ades"])]
    first = ade_f1.compute(predictions=[pred], references=[gold], return_per_record=True)
    second = ade_f1.compute(predictions=[shuffled], references=[gold], return_per_record=True)
    assert first == second


def test_per_record_breakdown_lists_errors(ade_f1):
    gold = record("s1", TEXT, ["amoxicillin", "clavulanate"], [(0, "Severe hepatitis"), (1, "rash")])
    pred = record("s1", TEXT, ["amoxicillin"], [(0, "hepatitis"), (0, "rash")])
    result = ade_f1.compute(predictions=[pred], references=[gold], return_per_record=True)
    (entry,) = result["per_record"]
    assert entry["id"] == "s1" and entry["text"] == TEXT
    strict = entry["pair"]["strict"]
    assert strict["tp"] == []
    assert [(p["drug"]["text"], p["ade"]["text"]) for p in strict["fp"]] == [
        ("amoxicillin", "hepatitis"),
        ("amoxicillin", "rash"),
    ]
    assert [(p["drug"]["text"], p["ade"]["text"]) for p in strict["fn"]] == [
        ("amoxicillin", "Severe hepatitis"),
        ("clavulanate", "rash"),
    ]
    lenient = entry["pair"]["lenient"]
    assert [m["reference"]["ade"]["text"] for m in lenient["tp"]] == ["Severe hepatitis"]
    assert entry["drug"]["strict"]["fn"] == [span(TEXT, "clavulanate")]
    assert "per_record" not in ade_f1.compute(predictions=[pred], references=[gold])


def test_extra_keys_scores_and_datasets_are_accepted(ade_f1):
    gold = record("s1", TEXT, ["amoxicillin"], [(0, "rash")])
    silver = copy.deepcopy(gold)
    silver["drugs"][0]["score"] = 0.9
    silver["ades"][0]["score"] = None
    silver.update(teacher_model="gpt-x", raw_response='{"drugs": []}', alignment={"status": "exact"})
    assert ade_f1.compute(predictions=[silver], references=[gold])["strict_f1"] == 1.0
    dataset = records_to_dataset([gold])
    assert ade_f1.compute(predictions=dataset, references=dataset)["strict_f1"] == 1.0


def test_add_batch_accumulates_like_one_compute(ade_f1):
    golds = [record(f"s{i}", TEXT, ["amoxicillin"], [(0, "rash")]) for i in range(3)]
    preds = [record(f"s{i}", TEXT, ["amoxicillin"], [(0, "rash" if i else "hepatitis")]) for i in range(3)]
    metric = load_metric(keep_in_memory=True)
    metric.add_batch(predictions=preds[:2], references=golds[:2])
    metric.add(prediction=preds[2], reference=golds[2])
    assert metric.compute() == ade_f1.compute(predictions=preds, references=golds)


def test_mismatched_ids_lengths_and_texts_raise(ade_f1):
    gold = [record("s1", TEXT, ["amoxicillin"], [(0, "rash")]), record("s2", TEXT, [], [])]
    with pytest.raises(ValueError, match=r"predictions\[1\] has id 's3' but references\[1\] has id 's2'"):
        ade_f1.compute(predictions=[gold[0], {**gold[1], "id": "s3"}], references=gold)
    with pytest.raises(ValueError, match="1 predictions but 2 references"):
        ade_f1.compute(predictions=gold[:1], references=gold)
    with pytest.raises(ValueError, match="record 's2'.*text differs"):
        ade_f1.compute(predictions=[gold[0], {**gold[1], "text": "other"}], references=gold)
    bad = copy.deepcopy(gold[0])
    bad["ades"][0]["drug"] = 3
    with pytest.raises(ValueError, match="record 's1': predictions ADE 0 points at drug 3"):
        ade_f1.compute(predictions=[bad, gold[1]], references=gold)
    # the module stays usable after an error
    assert ade_f1.compute(predictions=gold, references=gold)["strict_f1"] == 1.0


def test_offsets_must_be_integers_not_truncated(ade_f1):
    gold = [record("s1", TEXT, ["amoxicillin"], [(0, "rash")])]
    drug = gold[0]["drugs"][0]
    shifted = copy.deepcopy(gold)
    shifted[0]["drugs"][0] |= {"start": drug["start"] + 0.7, "end": drug["end"] + 0.2}
    with pytest.raises(ValueError, match="record 's1': predictions drug 0 needs integer 'start' and 'end'"):
        ade_f1.compute(predictions=shifted, references=gold)
    for bad in ("3", True, None):
        broken = copy.deepcopy(gold)
        broken[0]["drugs"][0]["start"] = bad
        with pytest.raises(ValueError, match="needs integer 'start' and 'end'"):
            ade_f1.compute(predictions=broken, references=gold)
    # integral floats (JSON read through pandas) are the same offsets
    as_floats = copy.deepcopy(gold)
    as_floats[0]["drugs"][0] |= {"start": float(drug["start"]), "end": float(drug["end"])}
    assert ade_f1.compute(predictions=as_floats, references=gold)["strict_f1"] == 1.0


def test_evaluate_load_of_the_folder_and_adekd_load_metric():
    by_path = evaluate.load(str(METRIC_PATH), keep_in_memory=True)
    assert by_path.name == "ade_f1"
    assert "strict_f1" in by_path.inputs_description
    gold = record("s1", TEXT, ["amoxicillin"], [(0, "rash")])
    assert by_path.compute(predictions=[gold], references=[gold])["lenient_f1"] == 1.0
    assert (
        adekd.load_metric(keep_in_memory=True).compute(predictions=[gold], references=[gold])["strict_f1"]
        == 1.0
    )


def _brute_force_matching_size(predicted: list, gold: list) -> int:
    def overlaps(a, b):
        return all(x[0] < y[1] and y[0] < x[1] for x, y in zip(a, b, strict=True))

    small, large, flip = (predicted, gold, False) if len(predicted) <= len(gold) else (gold, predicted, True)
    best = 0
    for chosen in itertools.permutations(range(len(large)), len(small)):
        pairs = zip(small, (large[j] for j in chosen), strict=True)
        best = max(best, sum(overlaps(b, a) if flip else overlaps(a, b) for a, b in pairs))
    return best


def test_lenient_matching_is_maximum_on_random_cases():
    rng = random.Random(13)
    for _ in range(300):

        def units(n):
            out = set()
            for _ in range(n):
                spans = []
                for _ in range(2):
                    start = rng.randrange(12)
                    spans.append((start, start + rng.randint(1, 4)))
                out.add(tuple(spans))
            return sorted(out)

        predicted, gold = units(rng.randint(0, 5)), units(rng.randint(0, 5))
        matches = lenient_matching(predicted, gold)
        assert len({i for i, _ in matches}) == len({j for _, j in matches}) == len(matches)
        assert len(matches) == _brute_force_matching_size(predicted, gold)
        assert len(matches) >= len(set(predicted) & set(gold))


# --- agreement with SpERT / REBEL strict relation F1 ----------------------------------------

SPERT_ITEMS = [
    {
        "tokens": ["Lethal", "anuria", "complicating", "high", "dose", "ifosfamide", "chemotherapy", "."],
        "entities": [
            {"type": "Adverse-Effect", "start": 0, "end": 2},
            {"type": "Drug", "start": 5, "end": 6},
        ],
        "relations": [{"type": "Adverse-Effect", "head": 0, "tail": 1}],
        "orig_id": 2566,
    },
    {
        "tokens": [
            "Severe",
            "hepatitis",
            "and",
            "skin",
            "rash",
            "after",
            "amoxicillin",
            "and",
            "clavulanic",
            "acid",
            ".",
        ],
        "entities": [
            {"type": "Adverse-Effect", "start": 0, "end": 2},
            {"type": "Adverse-Effect", "start": 3, "end": 5},
            {"type": "Drug", "start": 6, "end": 7},
            {"type": "Drug", "start": 8, "end": 10},
        ],
        "relations": [
            {"type": "Adverse-Effect", "head": 0, "tail": 2},
            {"type": "Adverse-Effect", "head": 1, "tail": 2},
            {"type": "Adverse-Effect", "head": 1, "tail": 3},
        ],
        "orig_id": 10,
    },
    {
        "tokens": [
            "Methotrexate",
            "-",
            "induced",
            "pneumonitis",
            "in",
            "a",
            "patient",
            "on",
            "methotrexate",
            ".",
        ],
        "entities": [
            {"type": "Adverse-Effect", "start": 3, "end": 4},
            {"type": "Drug", "start": 0, "end": 1},
            {"type": "Drug", "start": 8, "end": 9},
        ],
        "relations": [{"type": "Adverse-Effect", "head": 0, "tail": 1}],
        "orig_id": 7,
    },
    {
        "tokens": ["We", "conclude", "that", "cyclophosphamide", "is", "a", "human", "teratogen", "."],
        "entities": [
            {"type": "Adverse-Effect", "start": 6, "end": 8},
            {"type": "Drug", "start": 3, "end": 4},
        ],
        "relations": [{"type": "Adverse-Effect", "head": 0, "tail": 1}],
        "orig_id": 83,
    },
]


def corrupt(item: dict, index: int) -> dict:
    """A deterministic SpERT-style prediction for ``item``: one kind of error per ``index % 6``."""
    pred = copy.deepcopy(item)
    entities, relations = pred["entities"], pred["relations"]
    n_tokens = len(pred["tokens"])
    kind = index % 6
    if kind == 1 and relations:  # ADE boundary shift: one token wider at the end, or narrower
        head = dict(entities[relations[0]["head"]])
        head["end"] = head["end"] + 1 if head["end"] < n_tokens else head["end"] - 1
        if head["end"] > head["start"]:
            entities.append(head)
            relations[0]["head"] = len(entities) - 1
    elif kind == 2 and relations:  # a dropped relation
        relations.pop()
    elif kind == 3 and relations:  # the wrong drug: another drug entity, or a made-up one
        tail = relations[-1]["tail"]
        others = [i for i, e in enumerate(entities) if e["type"] == "Drug" and i != tail]
        if not others:
            entities.append({"type": "Drug", "start": n_tokens - 1, "end": n_tokens})
            others = [len(entities) - 1]
        relations[-1]["tail"] = others[0]
    elif kind == 4 and relations:  # drug boundary shift one token left
        tail = dict(entities[relations[0]["tail"]])
        if tail["start"] > 0:
            tail["start"] -= 1
            entities.append(tail)
            relations[0]["tail"] = len(entities) - 1
    elif kind == 5 and relations:  # a duplicated relation plus a spurious one
        relations.append(dict(relations[0]))
        entities.append({"type": "Adverse-Effect", "start": 0, "end": 1})
        relations.append({"type": "Adverse-Effect", "head": len(entities) - 1, "tail": relations[0]["tail"]})
    return pred


def spert_strict_relation_f1(gold_items: list[dict], pred_items: list[dict]) -> float:
    """SpERT's ``Evaluator._score`` for relations "with NER", re-implemented without torch/sklearn.

    A relation is ``((head start, end, type), (tail start, end, type), relation type)`` on tokens.
    Per sentence, every relation in the union of gold and predicted gets a gold label and a
    predicted label (its type, or 0 when absent on that side); micro P/R/F1 over those labels.
    """

    def as_tuples(item):
        entity = [(e["start"], e["end"], e["type"]) for e in item["entities"]]
        return [(entity[r["head"]], entity[r["tail"]], r["type"]) for r in item["relations"]]

    gold_flat, pred_flat = [], []
    for gold_item, pred_item in zip(gold_items, pred_items, strict=True):
        gold, pred = as_tuples(gold_item), as_tuples(pred_item)
        for relation in set(gold) | set(pred):
            gold_flat.append(relation[2] if relation in gold else 0)
            pred_flat.append(relation[2] if relation in pred else 0)
    tp = sum(g == p != 0 for g, p in zip(gold_flat, pred_flat, strict=True))
    n_pred, n_gold = sum(p != 0 for p in pred_flat), sum(g != 0 for g in gold_flat)
    precision = tp / n_pred if n_pred else 0.0
    recall = tp / n_gold if n_gold else 0.0
    return 2 * precision * recall / (precision + recall) if precision + recall else 0.0


def _assert_agrees_with_spert(items: list[dict]) -> dict:
    from adekd.corpora.spert import spert_item_to_record

    predicted_items = [corrupt(item, i) for i, item in enumerate(items)]
    gold = [spert_item_to_record(item, f"spert-{i}") for i, item in enumerate(items)]
    pred = [spert_item_to_record(item, f"spert-{i}") for i, item in enumerate(predicted_items)]
    results = load_metric(keep_in_memory=True).compute(predictions=pred, references=gold)
    expected = spert_strict_relation_f1(items, predicted_items)
    assert results["strict_f1"] == pytest.approx(expected, abs=1e-12)
    assert results["lenient_f1"] >= results["strict_f1"]
    return results


def test_strict_pair_f1_equals_spert_relation_f1_on_fixture():
    items = SPERT_ITEMS * 3  # 12 sentences: every corruption kind hits every shape
    results = _assert_agrees_with_spert(items)
    assert 0.5 < results["strict_f1"] < 0.7 < results["lenient_f1"] < 0.9


@pytest.mark.slow
def test_strict_pair_f1_equals_spert_relation_f1_on_real_fold0(shared_data):
    path = shared_data / "ade_corpus" / "splits" / "ade_split_0_test.json"
    items = json.loads(path.read_text(encoding="utf-8"))
    results = _assert_agrees_with_spert(items)
    assert results["num_records"] == 427
    assert 0.5 < results["strict_f1"] < 0.7 < results["lenient_f1"] < 0.9


def test_align_by_id_reorders_fills_and_rejects_unknown_ids():
    gold = [record(f"s{i}", TEXT, ["amoxicillin"], [(0, "rash")]) for i in range(3)]
    aligned, missing = align_by_id([gold[2], gold[0]], gold)
    assert [r["id"] for r in aligned] == ["s0", "s1", "s2"] and missing == ["s1"]
    assert aligned[1] == {"id": "s1", "text": TEXT, "drugs": [], "ades": []}
    with pytest.raises(ValueError, match="not in the references.*'s9'"):
        align_by_id([{**gold[0], "id": "s9"}], gold)
    with pytest.raises(ValueError, match="prediction id 's0' appears more than once"):
        align_by_id([gold[0], gold[0]], gold)
    results = score([gold[2], gold[0]], gold)
    assert results["num_missing_predictions"] == 1
    assert (results["strict_precision"], results["strict_recall"]) == (1.0, pytest.approx(2 / 3))


def test_module_card_examples_run(ade_f1):
    import doctest

    card = (METRIC_PATH / "README.md").read_text(encoding="utf-8")
    card = "\n".join(
        "" if line.startswith("```") else line for line in card.splitlines()
    )  # fences end outputs
    test = doctest.DocTestParser().get_doctest(card, {"ade_f1": ade_f1}, "README.md", str(METRIC_PATH), 0)
    assert len(test.examples) >= 8
    runner = doctest.DocTestRunner(optionflags=doctest.NORMALIZE_WHITESPACE)
    runner.run(test)
    assert runner.summarize(verbose=False).failed == 0
