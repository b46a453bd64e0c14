"""LoRA wiring: adapters on the encoder, heads trained in full, and a merged save that needs no peft.

The heads (drug tagger, drug-centric ADE head, ...) start from random weights, so they must be
trained in full and saved with the adapter: they go in ``modules_to_save``. After training the
folder gets both the adapter (``adapter/``, loadable with peft) and a merged full checkpoint
(``merge_and_unload``) at its root that ``from_pretrained`` loads without peft.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass

import torch

from adekd.training.config import TrainingConfig, TrainingConfigError

logger = logging.getLogger(__name__)

ADAPTER_DIR = "adapter"


@dataclass
class ParameterCount:
    """Trainable and total parameters of the model being trained (reported in ``metrics.json``)."""

    trainable: int
    total: int

    @property
    def trainable_percent(self) -> float:
        return 100.0 * self.trainable / self.total if self.total else 0.0

    def to_dict(self) -> dict[str, float | int]:
        return {
            "trainable": self.trainable,
            "total": self.total,
            "trainable_percent": round(self.trainable_percent, 4),
        }


def count_parameters(model: torch.nn.Module) -> ParameterCount:
    trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
    return ParameterCount(trainable=trainable, total=sum(p.numel() for p in model.parameters()))


def apply_lora(
    model: torch.nn.Module, config: TrainingConfig, encoder: torch.nn.Module, heads: Sequence[str]
) -> torch.nn.Module:
    """Wrap the student in a peft model: LoRA on target modules of ``encoder``, ``heads`` trained whole."""
    from peft import LoraConfig, get_peft_model

    module_names = [name for name, _ in encoder.named_modules()]
    missing = [
        target
        for target in config.lora_target_modules
        if not any(name.endswith(target) for name in module_names)
    ]
    if missing:
        linear = sorted(
            {
                name.rsplit(".", 1)[-1]
                for name, module in encoder.named_modules()
                if isinstance(module, torch.nn.Linear)
            }
        )
        raise TrainingConfigError(
            f"--lora-target-modules {' '.join(missing)}: no such module in the encoder; "
            f"its linear layers are named {', '.join(linear)}"
        )
    lora_config = LoraConfig(
        r=config.lora_r,
        lora_alpha=config.lora_alpha,
        lora_dropout=config.lora_dropout,
        target_modules=list(config.lora_target_modules),
        modules_to_save=list(heads),
    )
    peft_model = get_peft_model(model, lora_config)
    counts = count_parameters(peft_model)
    logger.info(
        "LoRA r=%d alpha=%d on %s: %d of %d parameters trainable (%.2f%%)",
        config.lora_r,
        config.lora_alpha,
        ",".join(config.lora_target_modules),
        counts.trainable,
        counts.total,
        counts.trainable_percent,
    )
    return peft_model


def is_peft_model(model: torch.nn.Module) -> bool:
    try:
        from peft import PeftModel
    except ImportError:
        return False
    return isinstance(model, PeftModel)


def merge_for_saving(model: torch.nn.Module) -> torch.nn.Module:
    """The plain student with LoRA weights folded in and the trained heads in place (no peft needed)."""
    return model.merge_and_unload() if is_peft_model(model) else model
