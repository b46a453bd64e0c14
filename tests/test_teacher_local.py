"""The embedded default teacher: the packaged SmolLM2-135M-Instruct GGUF, run by transformers on CPU."""

from __future__ import annotations

import json

import datasets
import pytest

from adekd.cli import main
from adekd.hardware import cpu_has_native_bf16
from adekd.records import validate_record
from adekd.teacher import LabelConfig
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
    # --dtype auto is recorded as the precision it chose on this CPU, with every label
    ran_in = "bfloat16" if cpu_has_native_bf16() else "float32"
    assert summary["teacher"]["parameters"]["dtype"] == ran_in
    assert all(json.loads(row["decoding"])["dtype"] == ran_in for row in silver)
    assert summary["timings"]["backend_start_s"] > 0
    capsys.readouterr()
    # the same command again is served from the cache without loading the model
    assert main(args) == 0
    summary = json.loads((tmp_path / "silver" / "run_summary.json").read_text())
    assert summary["counts"]["cached"] == 2 and summary["timings"]["backend_start_s"] == 0
    assert datasets.load_dataset(str(tmp_path / "silver"))["train"]["raw_response"] == silver["raw_response"]


@pytest.mark.parametrize(("native", "chosen"), [(True, "bfloat16"), (False, "float32")])
def test_auto_dtype_is_bfloat16_only_where_the_cpu_runs_it_natively(monkeypatch, native, chosen):
    # the probe reads CPU flags this machine has one way only; the choice made on each answer is tested
    monkeypatch.setattr("adekd.hardware.cpu_has_native_bf16", lambda: native)
    assert LabelConfig().dtype == "auto" and LabelConfig().resolved_dtype() == chosen
    assert LabelConfig().decoding()["dtype"] == chosen  # labels and cache keys say which one ran
    assert LabelConfig(dtype="float16").decoding()["dtype"] == "float16"
    assert "dtype" not in LabelConfig(teacher="openai").decoding()


def test_a_dtype_the_local_teacher_cannot_take_is_named():
    with pytest.raises(ValueError, match="dtype must be one of auto, bfloat16, float16, float32, got 'bf16'"):
        LabelConfig(dtype="bf16").validate()


@pytest.mark.parametrize(("native", "warned"), [(False, True), (True, False)])
def test_a_bfloat16_teacher_on_a_cpu_that_emulates_it_is_warned_about(
    tmp_path, monkeypatch, caplog, native, warned
):
    from adekd.teacher.backends.base import BackendError
    from adekd.teacher.backends.transformers_local import TransformersBackend

    monkeypatch.setattr("adekd.hardware.cpu_has_native_bf16", lambda: native)  # CPU flags are fixed here
    backend = TransformersBackend(model=str(tmp_path / "no-model"), dtype="bfloat16")
    with caplog.at_level("WARNING", logger="adekd.hardware"), pytest.raises(BackendError, match="no-model"):
        backend._load()  # the warning comes before the weights load (here: fail to)
    messages = [r.getMessage() for r in caplog.records if r.name == "adekd.hardware"]
    assert messages == (
        [
            "--dtype bfloat16 on a CPU without native bfloat16 (no AVX-512): torch emulates it, "
            "which runs slower than float32 here (2x for generation, 20x for training measured "
            "on an AVX2 CPU)"
        ]
        if warned
        else []
    )
