"""Estimated cost of a labeling run from its token usage.

Prices are USD per million tokens (input, output) of OpenAI's standard tier as published when this
table was written; they change, so the run summary calls the result an estimate and records the
prices it used. The Batch API costs half. Self-hosted and local teachers cost 0 here (hardware is
not counted); an OpenAI model missing from the table gets no estimate unless prices are given.
"""

from __future__ import annotations

from dataclasses import dataclass

OPENAI_PRICES_PER_MILLION: dict[str, tuple[float, float]] = {
    "gpt-5": (1.25, 10.00),
    "gpt-5-mini": (0.25, 2.00),
    "gpt-5-nano": (0.05, 0.40),
    "gpt-4.1": (2.00, 8.00),
    "gpt-4.1-mini": (0.40, 1.60),
    "gpt-4.1-nano": (0.10, 0.40),
    "gpt-4o": (2.50, 10.00),
    "gpt-4o-mini": (0.15, 0.60),
    "gpt-4-turbo": (10.00, 30.00),
    "gpt-3.5-turbo": (0.50, 1.50),
}
BATCH_DISCOUNT = 0.5


@dataclass(frozen=True)
class Price:
    """USD per million input and output tokens; ``None`` fields mean unknown."""

    input_per_million: float | None
    output_per_million: float | None
    source: str

    def cost(self, prompt_tokens: int, completion_tokens: int) -> float | None:
        if self.input_per_million is None or self.output_per_million is None:
            return None
        return (prompt_tokens * self.input_per_million + completion_tokens * self.output_per_million) / 1e6


def price_for(
    model: str, paid_api: bool, batch_api: bool = False, override: tuple[float, float] | None = None
) -> Price:
    """The price to estimate with: ``override``, else the table for OpenAI, else 0 for self-hosted."""
    if override is not None:
        return Price(override[0], override[1], "given")
    if not paid_api:
        return Price(0.0, 0.0, "self-hosted")
    # Dated snapshots ("gpt-4o-mini-2024-07-18") cost what their family costs; longest prefix wins.
    family = max(
        (name for name in OPENAI_PRICES_PER_MILLION if model.startswith(name)), key=len, default=None
    )
    if family is None:
        return Price(None, None, f"unknown model {model!r}")
    factor = BATCH_DISCOUNT if batch_api else 1.0
    price_in, price_out = OPENAI_PRICES_PER_MILLION[family]
    return Price(
        price_in * factor, price_out * factor, f"openai table ({family}{', batch' if batch_api else ''})"
    )
