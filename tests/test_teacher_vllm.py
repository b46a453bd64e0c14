"""`adekd label --teacher vllm` end to end against the real vLLM server (fixture ``vllm_server``).

A few ADE-style sentences go through the CLI to a silver folder; the folder loads with
``load_dataset``, its records are valid with spans inside their texts, provenance names the vLLM
teacher and model, and the server's own request log shows one schema-constrained request per
sentence. Running the same command again answers from the cache: no request reaches the server
and the output is identical.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from datasets import load_dataset

from adekd.cli import main
from adekd.records import validate_record

pytestmark = [pytest.mark.slow, pytest.mark.vllm]

SENTENCES = [
    {"id": "s1", "text": "Intravenous azithromycin-induced ototoxicity."},
    {"id": "s2", "text": "A 43-year-old woman developed severe hepatotoxicity after starting ketoconazole."},
    {"id": "s3", "text": "Lithium toxicity presenting as acute renal failure and confusion."},
    {"id": "s4", "text": "Methotrexate-associated pneumonitis resolved after the drug was stopped."},
]


@pytest.fixture
def label_command(tmp_path: Path, vllm_server) -> tuple[list[str], Path]:
    inputs = tmp_path / "small.jsonl"
    inputs.write_text("".join(json.dumps(s) + "\n" for s in SENTENCES))
    output = tmp_path / "silver"
    command = [
        "label",
        "--teacher", "vllm",
        "--base-url", vllm_server.base_url,
        "--model", vllm_server.model,
        "--input", str(inputs),
        "--output", str(output),
        "--cache", str(tmp_path / "cache.sqlite"),
        "--concurrency", "4",
    ]  # fmt: skip
    return command, output


def test_label_with_vllm_server_writes_a_silver_dataset(label_command, vllm_server):
    command, output = label_command
    already_received = len(vllm_server.received_requests())

    assert main(command) == 0

    received = vllm_server.received_requests()[already_received:]
    assert len(received) >= len(SENTENCES)  # one each, more only for answers re-asked after max_tokens
    assert all("structured_outputs=StructuredOutputsParams(json={'type': 'object'" in p for p in received)

    silver = load_dataset(str(output), split="train")
    assert sorted(silver["id"]) == [s["id"] for s in SENTENCES]
    for row in silver:
        validate_record(row)
        assert row["text"] == next(s["text"] for s in SENTENCES if s["id"] == row["id"])
        assert row["teacher"] == "vllm"
        assert row["teacher_model"] == vllm_server.model
        assert json.loads(row["decoding"])["structured_output"] == "structured_outputs"
        assert row["raw_response"]
    summary = json.loads((output / "run_summary.json").read_text())
    assert summary["counts"]["requested"] == len(SENTENCES)
    assert summary["teacher"]["model"] == vllm_server.model

    # The same command again: everything from the cache, nothing sent, the same silver records.
    first = silver.to_list()
    assert main(command) == 0
    assert len(vllm_server.received_requests()) == already_received + len(received)
    again = load_dataset(str(output), split="train")
    assert again.to_list() == first
    summary = json.loads((output / "run_summary.json").read_text())
    assert summary["counts"]["cached"] == len(SENTENCES)
    assert summary["counts"]["requested"] == 0
