"""An exponential moving average of the trained weights (``--ema-decay``).

Fine-tuning a small encoder on a few thousand sentences moves dev F1 by several points from one
epoch to the next, so the epoch that early stopping keeps, and the last weights of a refit, land on
a random point of that swing. An average of the recent weights sits nearer the middle of it. With
``--ema-decay`` the loop updates the average after every optimizer step, evaluates and keeps the
averaged weights, and the student it saves holds them; the raw weights keep training.

Only trainable parameters are averaged (the frozen encoder of a LoRA run does not move). The
average is registered with Accelerate's checkpointing, so ``--resume`` continues it exactly.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import torch


class ExponentialMovingAverage:
    """``average = d * average + (1 - d) * weights`` after each step.

    The decay warms up as ``min(decay, (1 + n) / (10 + n))`` after ``n`` updates (as TensorFlow's
    ``ExponentialMovingAverage`` with ``num_updates``): early on the average follows the weights
    closely instead of holding on to the pretrained start and the random heads.
    """

    def __init__(self, model: torch.nn.Module, decay: float):
        self.decay = decay
        self.updates = 0
        self.shadow = {name: p.detach().clone() for name, p in _trainable(model)}

    def current_decay(self) -> float:
        return min(self.decay, (1 + self.updates) / (10 + self.updates))

    @torch.no_grad()
    def update(self, model: torch.nn.Module) -> None:
        decay = self.current_decay()
        for name, parameter in _trainable(model):
            self.shadow[name].lerp_(parameter.detach(), 1.0 - decay)
        self.updates += 1

    @torch.no_grad()
    def copy_to(self, model: torch.nn.Module) -> None:
        """Put the averaged weights into ``model`` for good (the student that is saved)."""
        for name, parameter in _trainable(model):
            parameter.copy_(self.shadow[name])

    @contextmanager
    def applied(self, model: torch.nn.Module) -> Iterator[None]:
        """The averaged weights in ``model`` inside the block (evaluate, save); the raw ones after."""
        raw = {name: p.detach().clone() for name, p in _trainable(model)}
        self.copy_to(model)
        try:
            yield
        finally:
            with torch.no_grad():
                for name, parameter in _trainable(model):
                    parameter.copy_(raw[name])

    def state_dict(self) -> dict[str, Any]:
        return {"updates": self.updates, "shadow": self.shadow}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.updates = state["updates"]
        for name, value in state["shadow"].items():
            self.shadow[name].copy_(value)


def _trainable(model: torch.nn.Module) -> Iterator[tuple[str, torch.nn.Parameter]]:
    return ((name, p) for name, p in model.named_parameters() if p.requires_grad)
