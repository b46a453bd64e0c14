"""An exponential moving average of the trained weights (``--ema-decay``).

Fine-tuning a small encoder on a few thousand sentences moves dev F1 by several points from one
epoch to the next, so the epoch that early stopping keeps, and the last weights of a refit, land on
a random point of that swing. An average of the recent weights sits nearer the middle of it. With
``--ema-decay`` the loop updates the average after every optimizer step, evaluates and keeps the
averaged weights, and the student it saves holds them; the raw weights keep training.

Not ``torch.optim.swa_utils.AveragedModel``: that copies the whole model (a LoRA run's frozen
encoder included) and has no warm-up. Only trainable parameters are averaged here. The average is
registered with Accelerate's checkpointing, so ``--resume`` continues it exactly.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import torch


class ExponentialMovingAverage:
    """``average = d * average + (1 - d) * weights`` after each optimizer step.

    The decay warms up as ``d_n = min(decay, (1 + n) / (10 + n))`` after ``n`` updates (TensorFlow's
    ``ExponentialMovingAverage`` with ``num_updates``), so the average does not hold on to the
    pretrained start and the random heads: until ``decay`` is reached, after ``(10 * decay - 1) /
    (1 - decay)`` updates (about 1,800 for 0.995), it weighs roughly the last ``n / 9`` steps.
    """

    def __init__(self, model: torch.nn.Module, decay: float):
        self.decay = decay
        self.updates = 0
        self.names = [name for name, _ in _trainable(model)]
        self.shadow = [p.detach().clone() for _, p in _trainable(model)]

    def current_decay(self) -> float:
        return min(self.decay, (1 + self.updates) / (10 + self.updates))

    @torch.no_grad()
    def update(self, model: torch.nn.Module) -> None:
        weights = [p.detach() for _, p in _trainable(model)]
        torch._foreach_lerp_(self.shadow, weights, 1.0 - self.current_decay())
        self.updates += 1

    @torch.no_grad()
    def copy_to(self, model: torch.nn.Module) -> None:
        """Put the averaged weights into ``model`` for good (the student that is saved)."""
        torch._foreach_copy_([p for _, p in _trainable(model)], self.shadow)

    @contextmanager
    def applied(self, model: torch.nn.Module) -> Iterator[None]:
        """The averaged weights in ``model`` inside the block (evaluate, save); the raw ones after."""
        parameters = [p for _, p in _trainable(model)]
        raw = [p.detach().clone() for p in parameters]
        self.copy_to(model)
        try:
            yield
        finally:
            with torch.no_grad():
                torch._foreach_copy_(parameters, raw)

    def state_dict(self) -> dict[str, Any]:
        return {"updates": self.updates, "shadow": dict(zip(self.names, self.shadow, strict=True))}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        saved, expected = state["shadow"], set(self.names)
        if saved.keys() != expected:
            missing, unexpected = sorted(expected - saved.keys()), sorted(saved.keys() - expected)
            raise ValueError(
                f"the checkpoint's weight average does not fit this model: missing {missing[:5]}, "
                f"unexpected {unexpected[:5]}"
            )
        self.updates = state["updates"]
        with torch.no_grad():
            for name, shadow in zip(self.names, self.shadow, strict=True):
                shadow.copy_(saved[name])  # loaded on the CPU; the shadow stays where the model is


def _trainable(model: torch.nn.Module) -> Iterator[tuple[str, torch.nn.Parameter]]:
    return ((name, p) for name, p in model.named_parameters() if p.requires_grad)
