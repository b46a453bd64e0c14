"""OpenAI's Batch API: half-price labeling of large corpora, answered within 24 hours.

Every pending request goes into one JSONL file (``custom_id`` = the request's cache key), which is
uploaded and submitted as a batch job; the job is polled until it ends and its output (and error)
files are downloaded and matched back by ``custom_id``. The job id and its keys are stored in the
answer cache before polling starts, so a run killed while waiting resumes by polling the same job
instead of paying for the requests twice. Answers share the cache with the live HTTP backend.
Requests the job did not answer (expired, server errors) come back as transient errors and go into
the next job; a request the API rejected is a failure of that input.
"""

from __future__ import annotations

import asyncio
import io
import json
import logging
from collections.abc import Sequence
from typing import Any

from adekd.teacher.backends.base import BackendError, ChatRequest, Generation, RequestError, TransientError
from adekd.teacher.backends.openai_http import OpenAIChatBackend, completion_to_generation, server_message
from adekd.teacher.cache import AnswerCache

logger = logging.getLogger(__name__)

ENDPOINT = "/v1/chat/completions"
MAX_REQUESTS_PER_BATCH = 50_000
_ENDED = ("completed", "expired", "cancelled", "failed")


class OpenAIBatchBackend(OpenAIChatBackend):
    """Submits all pending requests as one Batch API job and waits for its results."""

    batch_size = MAX_REQUESTS_PER_BATCH
    max_concurrency = 1
    linger = 0.5

    def __init__(
        self,
        model: str,
        *,
        cache: AnswerCache,
        base_url: str | None = None,
        api_key_env: str = "OPENAI_API_KEY",
        poll_interval: float = 30.0,
        completion_window: str = "24h",
        timeout: float = 120.0,
        http_client: Any = None,
    ) -> None:
        super().__init__(model, base_url, api_key_env, "response_format", timeout, http_client)
        self.cache = cache
        self.poll_interval = poll_interval
        self.completion_window = completion_window
        self._collected: list[str] = []

    def batch_line(self, request: ChatRequest) -> dict[str, Any]:
        """The JSONL line of ``request`` in a batch input file."""
        body = self.request_body(request)
        body.update(body.pop("extra_body", {}))
        return {"custom_id": request.key, "method": "POST", "url": ENDPOINT, "body": body}

    async def generate(self, requests: Sequence[ChatRequest]) -> list[Generation | Exception]:
        import openai

        wanted = {request.key for request in requests}
        results: dict[str, Generation | Exception] = {}
        try:
            for batch_id, keys in self.cache.open_batches().items():
                if batch_id in self._collected:  # read this run; what it lacked goes into a new job
                    continue
                if wanted.intersection(keys):
                    logger.info("resuming Batch API job %s", batch_id)
                    results.update(await self._collect(batch_id))
                else:
                    self.cache.set_batch_status(batch_id, "collected")  # every answer of it is cached
            remaining = [request for request in requests if request.key not in results]
            if remaining:
                results.update(await self._collect(await self._submit(remaining)))
        except (openai.AuthenticationError, openai.PermissionDeniedError, openai.NotFoundError) as err:
            raise BackendError(f"{self.shown_url}: {server_message(err)}") from None
        except openai.APIStatusError as err:
            raise TransientError(f"Batch API error {err.status_code}: {server_message(err)}") from None
        except openai.APIConnectionError as err:
            raise TransientError(f"Batch API connection error: {err}") from None
        missing = TransientError("the batch job ended without answering this request")
        return [results.get(request.key, missing) for request in requests]

    async def _submit(self, requests: Sequence[ChatRequest]) -> str:
        lines = "".join(json.dumps(self.batch_line(r), ensure_ascii=False) + "\n" for r in requests)
        upload = await self.client.files.create(
            file=("adekd-batch.jsonl", io.BytesIO(lines.encode("utf-8"))), purpose="batch"
        )
        batch = await self.client.batches.create(
            input_file_id=upload.id,
            endpoint=ENDPOINT,
            completion_window=self.completion_window,  # type: ignore[arg-type]
            metadata={"created_by": "adekd label"},
        )
        self.cache.add_batch(batch.id, [request.key for request in requests], batch.status)
        logger.info("submitted Batch API job %s with %d requests", batch.id, len(requests))
        return batch.id

    async def _collect(self, batch_id: str) -> dict[str, Generation | Exception]:
        while True:
            batch = await self.client.batches.retrieve(batch_id)
            self.cache.set_batch_status(batch_id, batch.status)
            if batch.status in _ENDED:
                break
            counts = batch.request_counts
            logger.info(
                "batch %s %s (%s)", batch_id, batch.status, counts and f"{counts.completed}/{counts.total}"
            )
            await asyncio.sleep(self.poll_interval)
        if batch.status == "failed":
            self.cache.set_batch_status(batch_id, "abandoned")
            errors = getattr(batch.errors, "data", None) or []
            reasons = (
                "; ".join(getattr(error, "message", str(error)) for error in errors) or "no reason given"
            )
            raise BackendError(f"Batch API job {batch_id} failed: {reasons}")
        results: dict[str, Generation | Exception] = {}
        for file_id in (batch.output_file_id, batch.error_file_id):
            if file_id:
                content = await self.client.files.content(file_id)
                for line in content.text.splitlines():
                    if line.strip():
                        custom_id, result = _batch_result(json.loads(line))
                        results[custom_id] = result
        self._collected.append(batch_id)
        return results

    async def aclose(self) -> None:
        # Marked only now, after the engine has cached the answers: a kill before this re-downloads.
        for batch_id in self._collected:
            self.cache.set_batch_status(batch_id, "collected")
        await super().aclose()


def _batch_result(line: dict[str, Any]) -> tuple[str, Generation | Exception]:
    """One output-file line as the generation or the error of its request."""
    custom_id = line.get("custom_id", "")
    response = line.get("response") or {}
    status = response.get("status_code")
    if status == 200:
        try:
            return custom_id, completion_to_generation(response.get("body") or {})
        except (TransientError, RequestError) as err:
            return custom_id, err
    error = line.get("error") or (response.get("body") or {}).get("error") or {}
    message = error.get("message") if isinstance(error, dict) else str(error)
    if status is not None and (status == 429 or status >= 500):
        return custom_id, TransientError(f"batch request error {status}: {message}")
    return custom_id, RequestError(f"batch request rejected ({status}): {message}")
