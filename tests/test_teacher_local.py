"""The embedded default teacher: the packaged SmolLM2-135M-Instruct GGUF, run by transformers on CPU."""

from __future__ import annotations

import json

import datasets
import pytest

from adekd.cli import main
from adekd.records import validate_record
from adekd.teacher.run import PACKAGED_TEACHER

SENTENCES = [
    "Acute hepatitis developed after oral amoxicillin.",
    "The patient received metformin for diabetes.",
]


@pytest.mark.slow
def test_local_teacher_labels_sentences_into_a_loadable_dataset(tmp_path, capsys):
    (tmp_path / "in.txt").write_text("\n".join(SENTENCES) + "\n")
    args = ["label", "--input", str(tmp_path / "in.txt"), "--output", str(tmp_path / "silver"),
            "--teacher", "local", "--max-tokens", "96",
            "--cache", str(tmp_path / "cache.sqlite"), "--no-progress"]  # fmt: skip
    assert main(args) == 0
    silver = datasets.load_dataset(str(tmp_path / "silver"))["train"]
    failures = (tmp_path / "silver" / "failures.jsonl").read_text().splitlines()
    assert len(silver) + len(failures) == 2 and len(silver) >= 1
    for row in silver:
        validate_record(dict(row))  # every span the alignment kept is a real span of the text
        assert row["teacher"] == "local" and row["teacher_model"] == PACKAGED_TEACHER
        assert row["raw_response"] and row["finish_reason"] == "stop" and row["completion_tokens"] > 0
    summary = json.loads((tmp_path / "silver" / "run_summary.json").read_text())
    assert summary["usage"]["cost_usd"] == 0.0 and summary["counts"]["requested"] == 2
    assert summary["timings"]["backend_start_s"] > 0
    capsys.readouterr()
    # the same command again is served from the cache without loading the model
    assert main(args) == 0
    summary = json.loads((tmp_path / "silver" / "run_summary.json").read_text())
    assert summary["counts"]["cached"] == 2 and summary["timings"]["backend_start_s"] == 0
    assert datasets.load_dataset(str(tmp_path / "silver"))["train"]["raw_response"] == silver["raw_response"]
