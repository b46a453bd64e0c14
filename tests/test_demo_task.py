"""The demo speaks the model's task: highlights, tables, counts and headings in its words."""

from __future__ import annotations

import pytest
from student_support import RECORDS, one_thread
from task_support import TOY_WORDS, retargeted_student

from adekd.demo import build_demo, views
from adekd.demo.app import examples, metric_rows
from adekd.metrics import score
from adekd.tasks import load_task
from adekd.tasks.words import TaskWords

TOY = TaskWords.of(TOY_WORDS)


def test_views_label_anchors_and_targets_in_the_task_words():
    (first, second) = views.drug_views(RECORDS[2], TOY)
    assert first.title == "carbamazepine (27:40): 1 outcome"
    labelled = {piece: label for piece, label in first.segments if label}
    assert labelled == {"Severe rash": "outcome", "carbamazepine": "exposure", "lithium": "other exposure"}
    assert views.table_headers(TOY) == ["exposure", "exposure offsets", "outcome", "outcome offsets", "score"]
    assert set(views.color_map(TOY)) == {"exposure", "outcome", "other exposure"}
    html, count = views.error_html(score([RECORDS[2]], [RECORDS[2]], return_per_record=True)["per_record"],
                                   "strict", 10, TOY)  # fmt: skip
    assert count == 0 and "every (exposure, outcome) pair" in html
    rows = metric_rows(score([RECORDS[2]], [RECORDS[2]]), TOY)
    assert [row[0] for row in rows] == ["(exposure, outcome) pairs", "exposure mentions", "outcome mentions"]


def test_the_words_of_the_builtin_tasks():
    ade, cid = TaskWords.of(), TaskWords.of(load_task("chemical-disease"))
    assert (ade.anchor, ade.target, ade.pairs) == ("drug", "ADE", "(drug, ADE) pairs")
    assert (cid.anchor, cid.target, cid.pairs) == ("chemical", "disease", "(chemical, disease) pairs")
    assert examples(ade)[0][0].startswith("Two weeks after starting oral amoxicillin")
    cid_texts = [example["text"] for example in load_task("chemical-disease").prompt.examples]
    assert [text for text, _ in examples(cid)] == cid_texts and cid_texts
    assert examples(TOY) == []  # a user's task has no examples the demo could know


@pytest.fixture(scope="module")
def toy_student(tiny_trained_student, tmp_path_factory):
    return retargeted_student(tiny_trained_student, tmp_path_factory.mktemp("toy") / "student")


def _block(demo, elem_id: str):
    return next(block for block in demo.blocks.values() if getattr(block, "elem_id", None) == elem_id)


def test_the_app_of_a_task_student_shows_its_words(toy_student):
    demo = build_demo(str(toy_student))
    page = " ".join(str(getattr(block, "value", "")) for block in demo.blocks.values())
    assert "# adekd: toy-exposure, exposure by exposure" in page
    assert "finds the exposures in a biomedical sentence and, for each exposure, the outcomes it" in page
    assert _block(demo, "threshold").label == "outcome confidence threshold"
    assert _block(demo, "drugs-given").label == "Exposures given (optional)"
    assert _block(demo, "pairs").label == "(exposure, outcome) pairs"

    extract = next(fn for fn in demo.fns.values() if fn.api_name == "extract").fn
    with one_thread():
        status, _, drug_views, table, record = extract(RECORDS[2]["text"], "", str(toy_student), 0.5)
    assert status == "2 exposures, 2 outcomes scoring at least 0.50."
    assert table["headers"] == ["exposure", "exposure offsets", "outcome", "outcome offsets", "score"]
    assert [row[:3] for row in table["data"]] == [
        ["carbamazepine", "27:40", "Severe rash"],
        ["lithium", "42:49", "tremor"],
    ]
    assert drug_views[0]["title"] == "carbamazepine (27:40): 1 outcome"
    tags = {"exposure", "outcome", "other exposure"}
    assert {label for _, label in drug_views[0]["segments"] if label} == tags == set(drug_views[0]["colors"])
    assert {a["label"] for a in record["ades"]} == {"OUTCOME"}
