"""LoRA training: adapters on the encoder, heads trained whole, adapter + merged checkpoint saved."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file
from student_support import tiny_encoder
from training_support import average_state, write_records

from adekd.training import TrainingConfig, TrainingConfigError, train

SENTENCE = "The patient developed a rash after aspirin and tremor with lithium."


@pytest.fixture(scope="module")
def encoder(tmp_path_factory) -> Path:
    return tiny_encoder(tmp_path_factory.mktemp("encoder"))


@pytest.fixture(scope="module")
def lora_run(encoder, tmp_path_factory) -> tuple[Path, dict]:
    folder = tmp_path_factory.mktemp("lora")
    config = TrainingConfig(
        train=str(write_records(folder / "train.jsonl", 22)),
        output_dir=str(folder / "student"),
        encoder=str(encoder),
        epochs=2,
        batch_size=4,
        learning_rate=5e-3,
        lora=True,
        lora_r=4,
        lora_alpha=8,
        lora_target_modules=["query", "value"],
    )
    return Path(config.output_dir), train(config)


def _inputs(folder: Path) -> dict[str, torch.Tensor]:
    from transformers import AutoTokenizer

    return dict(AutoTokenizer.from_pretrained(folder)(SENTENCE, return_tensors="pt"))


def _one_epoch_lora(encoder: Path, folder: Path, **changes) -> TrainingConfig:
    """A quick LoRA run on 12 sentences into ``folder/student``."""
    return TrainingConfig(
        train=str(write_records(folder / "train.jsonl", 12)),
        output_dir=str(folder / "student"),
        encoder=str(encoder),
        epochs=1,
        batch_size=4,
        lora=True,
        **changes,
    )


def test_ema_averages_only_what_lora_trains(encoder, tmp_path):
    metrics = train(_one_epoch_lora(encoder, tmp_path, lora_r=4, ema_decay=0.9))
    checkpoint = sorted((tmp_path / "student" / "checkpoints").iterdir())[-1]
    average = average_state(checkpoint)["shadow"]
    assert sum(value.numel() for value in average.values()) == metrics["parameters"]["trainable"]
    assert all("lora_" in name or ".modules_to_save." in name for name in average)


def test_trainable_parameter_counts_cover_adapters_and_both_heads(lora_run):
    _, metrics = lora_run
    counts = metrics["parameters"]
    # 2 layers x (query, value) x (A: 32x4 + B: 4x32) adapters, plus the drug tagger (32x3 + 3) and
    # the drug-centric MLP head ((96x32 + 32) + (32x3 + 3)), all trained.
    assert counts["trainable"] == 2 * 2 * (32 * 4 + 4 * 32) + (32 * 3 + 3) + (96 * 32 + 32 + 32 * 3 + 3)
    assert counts["trainable"] < counts["total"] / 50
    assert metrics["lora"] == {"r": 4, "alpha": 8, "dropout": 0.1, "target_modules": ["query", "value"]}


def test_adapter_and_merged_checkpoint_agree(lora_run, encoder):
    from peft import PeftModel

    from adekd.modeling import AdeStudentForExtraction

    output, _ = lora_run
    adapter_config = json.loads((output / "adapter" / "adapter_config.json").read_text())
    assert set(adapter_config["modules_to_save"]) == {"drug_tagger", "ade_head"}

    merged = AdeStudentForExtraction.from_pretrained(output).eval()
    base = AdeStudentForExtraction.from_encoder(str(encoder))
    with_adapter = PeftModel.from_pretrained(base, output / "adapter").eval()
    inputs = _inputs(output)
    with torch.no_grad():
        expected, got = with_adapter(**inputs), merged(**inputs)
    torch.testing.assert_close(got.drug_logits, expected.drug_logits, atol=1e-5, rtol=1e-4)
    torch.testing.assert_close(got.ade_logits, expected.ade_logits, atol=1e-5, rtol=1e-4)

    weights, original = load_file(output / "model.safetensors"), load_file(encoder / "model.safetensors")
    query = "encoder.layer.0.attention.self.query.weight"
    assert not torch.equal(weights[f"encoder.{query}"], original[query]), (
        "LoRA was not merged into the encoder"
    )
    key = "encoder.layer.0.attention.self.key.weight"
    assert torch.equal(weights[f"encoder.{key}"], original[key]), "a module outside the targets changed"
    assert not any("lora" in name or "modules_to_save" in name for name in weights)


def test_merged_checkpoint_loads_without_peft(lora_run, tmp_path):
    output, _ = lora_run
    script = textwrap.dedent(
        f"""
        import sys
        sys.modules["peft"] = None  # any import of peft now fails
        import torch
        from safetensors.torch import save_file
        from transformers import AutoModel, AutoTokenizer
        folder = {str(output)!r}
        model = AutoModel.from_pretrained(folder, trust_remote_code=True).eval()
        inputs = AutoTokenizer.from_pretrained(folder)({SENTENCE!r}, return_tensors="pt")
        with torch.no_grad():
            out = model(**inputs)
        assert "adekd" not in sys.modules
        save_file({{"drug_logits": out.drug_logits.contiguous()}}, {str(tmp_path / "out.safetensors")!r})
        """
    )
    subprocess.run([sys.executable, "-c", script], check=True, cwd=tmp_path, timeout=300)

    from adekd.modeling import AdeStudentForExtraction

    model = AdeStudentForExtraction.from_pretrained(output).eval()
    with torch.no_grad():
        expected = model(**_inputs(output)).drug_logits
    torch.testing.assert_close(load_file(tmp_path / "out.safetensors")["drug_logits"], expected)


def test_unknown_target_module_names_the_real_ones(encoder, tmp_path):
    config = TrainingConfig(
        train=str(write_records(tmp_path / "train.jsonl", 6)),
        output_dir=str(tmp_path / "out"),
        encoder=str(encoder),
        lora=True,
        lora_target_modules=["q_proj"],
    )
    with pytest.raises(TrainingConfigError, match=r"--lora-target-modules q_proj.*query.*value"):
        train(config)


def test_thresholds_reach_the_merged_students_config(encoder, tmp_path):
    """Through peft's wrapper the thresholds must land on the base student, whose config is saved."""
    from transformers import AutoConfig

    config = _one_epoch_lora(encoder, tmp_path, lora_r=2, dev_fraction=0.0)
    chosen = {"drug_threshold": 0.6, "ade_threshold": 0.7, "metric": "strict_f1", "dev_without": 0.5,
              "dev_with": 0.55}  # fmt: skip
    selection = {"output_dir": "elsewhere", "dev": None, "best": None, "thresholds": chosen}
    metrics = train(config, selection=selection)
    saved = AutoConfig.from_pretrained(config.output_dir)
    assert (saved.drug_threshold, saved.ade_threshold) == (0.6, 0.7)
    assert metrics["thresholds"] == chosen and metrics["selection"]["thresholds"] == chosen
