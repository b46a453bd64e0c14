"""The one interface every teacher backend implements, and the errors the run engine acts on.

A backend turns chat requests into generations. The engine owns everything else (cache, retries,
rate limits, parsing), so a backend only has to say *how* a request failed:

- :class:`TransientError`: try again later (429, 5xx, timeouts, lost connections), optionally
  after the ``retry_after`` seconds the server asked for;
- :class:`RequestError`: this request cannot succeed as sent (e.g. a 400 for a too-long text);
  it becomes a failure of that input and the run goes on;
- :class:`BackendError`: nothing will succeed (bad key, unknown model, library missing); the run
  stops with the message, keeping every answer already cached.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, ClassVar


@dataclass(frozen=True)
class ChatRequest:
    """One sentence to label, ready to send. ``key`` identifies it in the cache and the Batch API."""

    key: str
    messages: list[dict[str, str]]
    max_tokens: int
    temperature: float = 0.0
    seed: int | None = None
    schema: dict[str, Any] | None = None
    """The answer's JSON schema when the backend should enforce it; ``None`` leaves it to the prompt."""
    schema_name: str = "answer"
    """The schema's name where the API asks for one (OpenAI ``response_format``): ``<task>_answer``."""


@dataclass(frozen=True)
class Generation:
    """What the model answered; ``finish_reason == "length"`` means the answer was cut short."""

    content: str
    finish_reason: str | None
    prompt_tokens: int = 0
    completion_tokens: int = 0


class TransientError(Exception):
    """Worth retrying; ``retry_after`` is the wait in seconds the server asked for, if any."""

    def __init__(self, message: str, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class RequestError(Exception):
    """This request will not succeed as sent; its input is recorded as a failure."""


class BackendError(Exception):
    """No request will succeed (configuration, credentials, model, missing library); stop the run."""


class Backend(ABC):
    """Generates answers for batches of chat requests.

    ``transport`` names the way requests are made; together with the model it keys the cache, so
    backends that send the same request the same way (the HTTP client and the Batch API) share
    answers. ``batch_size`` is how many requests one :meth:`generate` call takes: 1 for HTTP
    backends (the engine runs many at once), more for in-process models that batch on the device.
    :meth:`generate` may put an exception in place of a generation when only that request failed.
    """

    transport: ClassVar[str]
    model: str
    batch_size: int = 1
    max_concurrency: int | None = None
    """At most this many :meth:`generate` calls at once (1 for a model in this process)."""
    linger: float = 0.0
    """Seconds to wait for a batch to fill before sending it (the Batch API collects everything)."""

    @abstractmethod
    async def generate(self, requests: Sequence[ChatRequest]) -> Sequence[Generation | Exception]:
        """One generation (or per-request error) per request, in order; raise for the whole call."""

    async def check(self) -> None:
        """Fail early with :class:`BackendError` when the backend cannot work (called once, first)."""
        return None

    async def aclose(self) -> None:
        """Release connections or models."""
        return None
