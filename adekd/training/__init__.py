"""Training students with Accelerate: the loop, its configuration, checkpoints, LoRA and cross-validation.

``adekd train`` and ``accelerate launch scripts/train.py`` share one argument parser
(:mod:`adekd.training.arguments`); from Python::

    from adekd.training import TrainingConfig, train
    metrics = train(TrainingConfig(train="train.jsonl", output_dir="student", epochs=5))
"""

from adekd.training.config import TrainingConfig, TrainingConfigError
from adekd.training.data import TrainingDataError
from adekd.training.loop import train
from adekd.training.thresholds import ThresholdChoice, apply_thresholds, tune_thresholds

__all__ = [
    "ThresholdChoice",
    "TrainingConfig",
    "TrainingConfigError",
    "TrainingDataError",
    "apply_thresholds",
    "train",
    "tune_thresholds",
]
