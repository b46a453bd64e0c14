"""Labeled records for the training tests, written as JSONL (the tiny encoder is student_support's), and
what a checkpoint holds besides the weights."""

from __future__ import annotations

import random
from pathlib import Path

import pytest
import torch

from adekd.records import new_record, write_jsonl

DRUGS = ["aspirin", "warfarin", "methotrexate", "lithium", "amoxicillin", "cisplatin"]
ADES = ["rash", "nausea", "acute renal failure", "hepatitis", "bleeding", "tremor"]


def make_records(count: int, seed: int = 0, prefix: str = "r") -> list[dict]:
    """``count`` labeled sentences; every third one has two drugs, each with its own ADE."""
    rng = random.Random(seed)
    records = []
    for i in range(count):
        drug, ade = rng.choice(DRUGS), rng.choice(ADES)
        if i % 3 == 2:
            other_drug = rng.choice([d for d in DRUGS if d != drug])
            other_ade = rng.choice([a for a in ADES if a != ade])
            text = f"{ade.capitalize()} after {drug} and {other_ade} with {other_drug} were seen."
            first = text.lower().index(ade)
            d0 = text.index(drug)
            a1 = text.index(other_ade, d0 + len(drug))
            d1 = text.index(other_drug, a1 + len(other_ade))
            drugs = [
                {"text": drug, "start": d0, "end": d0 + len(drug)},
                {"text": other_drug, "start": d1, "end": d1 + len(other_drug)},
            ]
            ades = [
                {"drug": 0, "text": text[first : first + len(ade)], "start": first, "end": first + len(ade)},
                {"drug": 1, "text": other_ade, "start": a1, "end": a1 + len(other_ade)},
            ]
        else:
            text = f"The patient developed {ade} while taking {drug} daily."
            a0, d0 = text.index(ade), text.index(drug)
            drugs = [{"text": drug, "start": d0, "end": d0 + len(drug)}]
            ades = [{"drug": 0, "text": ade, "start": a0, "end": a0 + len(ade)}]
        records.append(new_record(f"{prefix}{i}", text, drugs, ades))
    return records


def write_records(path: Path, count: int, seed: int = 0, prefix: str = "r") -> Path:
    write_jsonl(make_records(count, seed, prefix), path)
    return path


def kill_after_first_checkpoint(monkeypatch, config) -> None:
    """Train ``config`` until it has written its first checkpoint, then stop it as Ctrl-C would; later
    runs in the test keep every checkpoint (rotation is switched off, not restored, so the test's other
    patches, its fake Hub among them, stay)."""
    import adekd.training.loop as loop
    from adekd.training import train

    def killed(output_dir: str, keep: int) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(loop, "rotate_checkpoints", killed)
    with pytest.raises(KeyboardInterrupt):
        train(config)
    monkeypatch.setattr(loop, "rotate_checkpoints", lambda output_dir, keep: None)


def average_state(checkpoint: Path) -> dict:
    """The moving average (``--ema-decay``) Accelerate saved with a checkpoint: custom object 1,
    registered after the TrainerState (custom object 0)."""
    return torch.load(checkpoint / "custom_checkpoint_1.pkl", weights_only=True)
