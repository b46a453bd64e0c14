"""The Space app served by ``python spaces/ade-demo/app.py`` on 127.0.0.1, called with gradio_client.

The server runs a tiny student overfit on ``student_support.RECORDS``, so extraction results are
known. Bad input must come back as a friendly message in the status output, never a stack trace,
and the server must keep answering afterwards.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from gradio_client import Client, handle_file
from student_support import RECORDS

from adekd.demo import DemoConfig
from adekd.records import validate_record, write_jsonl

pytestmark = pytest.mark.slow

TWO_DRUGS = RECORDS[2]  # "Severe rash developed with carbamazepine; lithium was followed by tremor."


@pytest.fixture(scope="module")
def client(demo_server: str, tmp_path_factory: pytest.TempPathFactory) -> Client:
    """A client that downloads file outputs (the evaluation report) like a browser would."""
    return Client(demo_server, verbose=False, download_files=str(tmp_path_factory.mktemp("downloads")))


@pytest.fixture(scope="module")
def model(tiny_trained_student) -> str:
    """The model the server loaded at start (``ADEKD_MODEL``), as typed in the page's model box."""
    return str(tiny_trained_student)


def _extract(client: Client, model: str, text: str, drugs: str = "", threshold: float = 0.5):
    return client.predict(text, drugs, model, threshold, api_name="/extract")


def _evaluate(client: Client, model: str, gold, predictions=None, gold_drugs=True, threshold=0.5):
    pred = handle_file(str(predictions)) if predictions else None
    return client.predict(
        handle_file(str(gold)), pred, gold_drugs, "strict", model, threshold, api_name="/evaluate"
    )


def test_extract_returns_status_pair_table_and_record(client, model):
    status, table, record = _extract(client, model, TWO_DRUGS["text"])
    assert status == "2 drugs, 2 ADEs scoring at least 0.50."
    assert table["headers"] == ["drug", "drug offsets", "ADE", "ADE offsets", "score"]
    assert [row[:4] for row in table["data"]] == [
        ["carbamazepine", "27:40", "Severe rash", "0:11"],
        ["lithium", "42:49", "tremor", "66:72"],
    ]
    assert all(0.5 <= row[4] <= 1 for row in table["data"])
    validate_record(record)
    assert [(record["drugs"][a["drug"]]["text"], a["text"]) for a in record["ades"]] == [
        ("carbamazepine", "Severe rash"),
        ("lithium", "tremor"),
    ]


def test_drugs_given_condition_the_model_and_absent_names_are_reported(client, model):
    status, table, record = _extract(client, model, TWO_DRUGS["text"], drugs="Lithium, ibuprofen")
    assert "Not in the text, ignored: ibuprofen." in status
    assert [d["text"] for d in record["drugs"]] == ["lithium"]
    assert [row[:3] for row in table["data"]] == [["lithium", "42:49", "tremor"]]


def test_threshold_hides_ades_scoring_below_it(client, model):
    status, table, record = _extract(client, model, TWO_DRUGS["text"], threshold=1.0)
    assert status.startswith("2 drugs, 0 ADEs")
    assert record["ades"] == [] and [row[2] for row in table["data"]] == ["", ""]


@pytest.mark.parametrize(
    ("text", "model_box", "message"),
    [
        ("", None, "**Enter a sentence to analyse.**"),
        ("   \n ", None, "**Enter a sentence to analyse.**"),
        (RECORDS[0]["text"], "/no/such/student", "**Model folder '/no/such/student' does not exist.**"),
        (RECORDS[0]["text"], " ", "**Enter a model: a local folder or a Hugging Face Hub id.**"),
        (
            RECORDS[0]["text"],
            "someone/not-cached",
            "**Model Hub id 'someone/not-cached' could not be loaded:",
        ),
    ],
)
def test_bad_extract_input_gives_a_message_and_the_app_keeps_serving(client, model, text, model_box, message):
    status, table, record = _extract(client, model_box or model, text)
    assert status.startswith(message) and "Traceback" not in status
    assert table["data"] == [] and record is None
    status, _, record = _extract(client, model, RECORDS[0]["text"])
    assert record["ades"][0]["text"] == "Acute hepatitis"


def test_a_200k_character_text_is_cut_with_a_visible_note(client, model):
    text = RECORDS[0]["text"] + " " + "filler " * 28_600
    assert len(text) > 200_000
    status, table, record = _extract(client, model, text)
    assert f"The text has {len(text):,} characters" in status
    assert len(record["text"]) <= DemoConfig().max_chars
    assert table["data"][0][:3] == ["amoxicillin", "27:38", "Acute hepatitis"]


def test_evaluate_gold_only_predicts_and_scores_with_the_metric(client, model, tmp_path):
    gold = tmp_path / "gold.jsonl"
    # a sentence whose gold has no drug (the student would tag two): given the gold drugs, it gets none
    negative = {"id": "negative", "text": RECORDS[1]["text"], "drugs": [], "ades": []}
    write_jsonl([*RECORDS, negative], gold)
    status, table, errors, report_path = _evaluate(client, model, gold)
    assert status.startswith("Strict pair F1 **100.00**, lenient pair F1 **100.00**")
    assert f"Gold: {len(RECORDS) + 1} records." in status and "given the gold drugs" in status
    assert [row[0] for row in table["data"]] == ["(drug, ADE) pairs", "drug mentions", "ADE mentions"]
    num_pairs = sum(len(r["ades"]) for r in RECORDS)
    assert table["data"][0][1:] == [100.0] * 6 + [num_pairs, num_pairs]
    assert "No errors" in errors
    report = json.loads(Path(report_path).read_text(encoding="utf-8"))
    assert report["metrics"]["strict_f1"] == 1.0 and len(report["per_record"]) == len(RECORDS) + 1


def test_evaluate_uploaded_predictions_lists_errors_and_skips_broken_lines(client, model, tmp_path):
    gold, predictions = tmp_path / "gold.jsonl", tmp_path / "predictions.jsonl"
    write_jsonl(RECORDS, gold)
    wrong = json.loads(json.dumps(TWO_DRUGS))
    wrong["ades"][1] = {"drug": 1, "text": "followed", "start": 54, "end": 62}
    lines = [json.dumps(RECORDS[0]), json.dumps(RECORDS[1]), "{this line is broken", json.dumps(wrong)]
    predictions.write_text("\n".join(lines) + "\n", encoding="utf-8")
    status, table, errors, report_path = _evaluate(client, model, gold, predictions)
    assert "Skipped 1 broken line (the rest was scored)" in status
    assert "predictions.jsonl line 3:" in status
    assert "2 gold records had no prediction" in status
    predicted = len(RECORDS[0]["ades"]) + len(RECORDS[1]["ades"]) + len(wrong["ades"])
    assert table["data"][0][7:] == [predicted, sum(len(r["ades"]) for r in RECORDS)]
    assert "missed: lithium \u2192 tremor" in errors and "spurious: lithium \u2192 followed" in errors
    assert '<mark class="adekd-spurious"' in errors
    report = json.loads(Path(report_path).read_text(encoding="utf-8"))
    assert report["skipped_lines"][0].startswith("predictions.jsonl line 3:")


def test_evaluate_bad_uploads_give_messages(client, model, tmp_path):
    binary = tmp_path / "gold.jsonl"
    binary.write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00")
    status, table, errors, report = _evaluate(client, model, binary)
    assert status == (
        "**The gold file 'gold.jsonl' is not UTF-8 text (binary data at byte 0); upload a JSONL "
        "file with one record per line.**"
    )
    assert table["data"] == [] and errors == "" and report is None
    gold, other = tmp_path / "gold2.jsonl", tmp_path / "other.jsonl"
    write_jsonl(RECORDS[:2], gold)
    write_jsonl([{**RECORDS[2], "id": "elsewhere"}], other)
    status, *_ = _evaluate(client, model, gold, other)
    assert status.startswith("**The files cannot be scored together:") and "'elsewhere'" in status
