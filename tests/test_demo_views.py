"""What the demo shows, computed from records: per-drug highlights, pair rows, caps, error listings."""

from __future__ import annotations

import json

from adekd.demo import views
from adekd.metrics import score
from adekd.records import new_record


def _two_drug_record(with_scores: bool = True) -> dict:
    text = "Severe rash developed with carbamazepine; lithium was followed by tremor."
    record = new_record(
        "two",
        text,
        [{"text": "carbamazepine", "start": 27, "end": 40}, {"text": "lithium", "start": 42, "end": 49}],
        [
            {"drug": 0, "text": "Severe rash", "start": 0, "end": 11},
            {"drug": 1, "text": "tremor", "start": 66, "end": 72},
        ],
    )
    if with_scores:
        record["ades"][0]["score"], record["ades"][1]["score"] = 0.9, 0.3
    return record


def test_highlight_cuts_overlapping_spans_and_earlier_spans_win():
    text = "aspirin-induced asthma was seen"
    segments = views.highlight(text, [(0, 7, "drug"), (0, 22, "ADE")])
    assert segments == [("aspirin", "drug"), ("-induced asthma", "ADE"), (" was seen", None)]
    assert "".join(piece for piece, _ in segments) == text


def test_highlight_ignores_spans_outside_the_text():
    assert views.highlight("short", [(2, 40, "ADE")]) == [("short", None)]


def test_drug_views_show_each_drug_with_only_its_own_ades():
    first, second = views.drug_views(_two_drug_record())
    assert first.title == "carbamazepine (27:40): 1 ADE"
    labelled = {piece: label for piece, label in first.segments if label}
    assert labelled == {"Severe rash": "ADE", "carbamazepine": "drug", "lithium": "other drug"}
    labelled = {piece: label for piece, label in second.segments if label}
    assert labelled == {"tremor": "ADE", "lithium": "drug", "carbamazepine": "other drug"}


def test_pair_rows_list_pairs_and_drugs_without_ades():
    record = _two_drug_record()
    record["drugs"].append({"text": "tremor", "start": 66, "end": 72})  # a drug with no ADE
    rows = views.pair_rows(record)
    assert rows == [
        ["carbamazepine", "27:40", "Severe rash", "0:11", 0.9],
        ["lithium", "42:49", "tremor", "66:72", 0.3],
        ["tremor", "66:72", "", "", None],
    ]


def test_ades_scoring_at_least_drops_low_ades_and_keeps_unscored_ones():
    record = _two_drug_record()
    assert [a["text"] for a in views.ades_scoring_at_least(record, 0.5)["ades"]] == ["Severe rash"]
    assert len(views.ades_scoring_at_least(_two_drug_record(with_scores=False), 0.99)["ades"]) == 2
    assert len(record["ades"]) == 2  # the input record is left as it was


def test_cap_text_cuts_at_a_space_and_says_so():
    text = "word " * 40_000  # 200,000 characters
    kept, note = views.cap_text(text, 5_000)
    assert len(kept) <= 5_000 and kept.endswith("word")
    assert "200,000 characters" in note and f"first {len(kept):,}" in note
    assert views.cap_text("short", 5_000) == ("short", None)


def test_error_html_marks_missed_and_spurious_pairs_from_the_metric_breakdown():
    gold = _two_drug_record(with_scores=False)
    pred = json.loads(json.dumps(gold))
    pred["ades"][1] = {"drug": 1, "text": "followed", "start": 54, "end": 62}
    results = score([pred], [gold], return_per_record=True)
    html, count = views.error_html(results["per_record"], "strict", limit=10)
    assert count == 1
    assert '<mark class="adekd-missed"' in html and ">tremor</mark>" in html
    assert '<mark class="adekd-spurious"' in html and ">followed</mark>" in html
    assert "missed: lithium \u2192 tremor" in html and "spurious: lithium \u2192 followed" in html


def test_error_html_escapes_text_and_reports_no_errors():
    text = "<b>Rash</b> after aspirin"
    gold = new_record(
        "x",
        text,
        [{"text": "aspirin", "start": 18, "end": 25}],
        [{"drug": 0, "text": "<b>Rash</b>", "start": 0, "end": 11}],
    )
    empty = {**gold, "ades": []}
    html, _ = views.error_html(score([empty], [gold], return_per_record=True)["per_record"], "lenient", 10)
    assert "<b>Rash" not in html and "&lt;b&gt;Rash&lt;/b&gt;" in html
    html, count = views.error_html(score([gold], [gold], return_per_record=True)["per_record"], "strict", 10)
    assert count == 0 and "No errors" in html
