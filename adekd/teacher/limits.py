"""Staying inside a provider's limits: a requests/tokens-per-minute limiter and the retry schedule."""

from __future__ import annotations

import asyncio
import random
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass


class RateLimiter:
    """Sliding-window limiter: at most ``requests_per_minute`` requests and ``tokens_per_minute`` tokens
    started in any ``window`` seconds (60 by default; ``None`` means unlimited).

    Tokens are the caller's estimate (prompt plus ``max_tokens``, as OpenAI counts them against the
    limit). A single request larger than the whole token budget still goes through when the window
    is empty, rather than waiting forever.
    """

    def __init__(
        self,
        requests_per_minute: float | None = None,
        tokens_per_minute: float | None = None,
        window: float = 60.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        for name, value in (
            ("requests_per_minute", requests_per_minute),
            ("tokens_per_minute", tokens_per_minute),
        ):
            if value is not None and value <= 0:
                raise ValueError(f"{name} must be positive, got {value}")
        self.requests_per_minute = requests_per_minute
        self.tokens_per_minute = tokens_per_minute
        self.window = window
        self._clock = clock
        self._events: deque[tuple[float, int, int]] = deque()  # (time, requests, tokens)
        self._lock = asyncio.Lock()
        self.waited = 0.0

    async def acquire(self, requests: int = 1, tokens: int = 0) -> None:
        """Wait until ``requests`` requests using ``tokens`` tokens fit in the window, then take them."""
        if self.requests_per_minute is None and self.tokens_per_minute is None:
            return
        async with self._lock:
            while True:
                now = self._clock()
                while self._events and self._events[0][0] <= now - self.window:
                    self._events.popleft()
                used_requests = sum(event[1] for event in self._events)
                used_tokens = sum(event[2] for event in self._events)
                fits_requests = (
                    self.requests_per_minute is None or used_requests + requests <= self.requests_per_minute
                )
                fits_tokens = self.tokens_per_minute is None or used_tokens + tokens <= self.tokens_per_minute
                if (fits_requests and fits_tokens) or not self._events:
                    self._events.append((now, requests, tokens))
                    return
                wait = self._events[0][0] + self.window - now
                self.waited += wait
                await asyncio.sleep(wait)


@dataclass(frozen=True)
class RetryPolicy:
    """Exponential backoff with jitter: attempt ``n`` waits ``initial_delay * 2**n`` (capped at
    ``max_delay``) times a random factor in [0.5, 1], or exactly what ``Retry-After`` asked for."""

    max_retries: int = 6
    initial_delay: float = 1.0
    max_delay: float = 60.0
    max_retry_after: float = 600.0

    def delay(
        self, attempt: int, retry_after: float | None = None, rng: random.Random | None = None
    ) -> float:
        if retry_after is not None:
            return min(max(retry_after, 0.0), self.max_retry_after)
        base = min(self.max_delay, self.initial_delay * 2**attempt)
        return base * (rng or random).uniform(0.5, 1.0)
