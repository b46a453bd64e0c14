"""Any OpenAI-compatible chat-completions server: OpenAI itself, ``vllm serve``, ``transformers serve``.

The ``openai`` client does the HTTP; its own retries are off because the run engine retries with
the cache, the rate limiter and ``Retry-After`` in view. The API key is read from an environment
variable when the backend is built and lives only inside the client: it is never logged, cached or
written to a dataset. OpenAI itself needs a key (a missing one stops the run before any request);
a self-hosted server gets a placeholder when none is set.

How the answer's JSON schema reaches the server (``structured``):

- ``"response_format"``: OpenAI's ``response_format={"type": "json_schema", "strict": true}``;
- ``"structured_outputs"``: vLLM's ``extra_body={"structured_outputs": {"json": schema}}``;
- ``"none"``: the schema is only described in the prompt and the tolerant parser reads the answer.
"""

from __future__ import annotations

import email.utils
import json
import logging
import os
import time
from collections.abc import Sequence
from typing import Any, Literal
from urllib.parse import urlsplit, urlunsplit

from adekd.teacher.backends.base import (
    Backend,
    BackendError,
    ChatRequest,
    Generation,
    RequestError,
    TransientError,
)
from adekd.teacher.schema import openai_strict_schema

logger = logging.getLogger(__name__)

OPENAI_BASE_URL = "https://api.openai.com/v1"
StructuredMode = Literal["response_format", "structured_outputs", "none"]
_LOCAL_HOSTS = {"localhost", "127.0.0.1", "::1", "0.0.0.0"}


def is_openai_url(base_url: str | None) -> bool:
    """Whether requests go to OpenAI's own API (where keys, prices and strict-schema rules apply)."""
    host = urlsplit(base_url or OPENAI_BASE_URL).hostname or ""
    return host == "api.openai.com" or host.endswith(".openai.com")


def safe_url(url: str | None) -> str | None:
    """The URL without any ``user:password@`` part: what messages, logs and summaries may show."""
    if not url:
        return url
    parts = urlsplit(url)
    host = parts.hostname or ""
    netloc = host + (f":{parts.port}" if parts.port else "")
    return urlunsplit((parts.scheme, netloc, parts.path, "", ""))


def resolve_api_key(base_url: str | None, api_key_env: str = "OPENAI_API_KEY") -> str:
    """The API key from ``api_key_env``; a placeholder for self-hosted servers, an error for OpenAI."""
    key = os.environ.get(api_key_env, "").strip()
    if key:
        return key
    if is_openai_url(base_url):
        raise BackendError(
            f"the environment variable {api_key_env} is not set: export your OpenAI API key there "
            "(or name another variable with --api-key-env); no request was sent"
        )
    host = urlsplit(base_url or "").hostname or ""
    if host not in _LOCAL_HOSTS:
        logger.warning("%s is not set; calling %s without an API key", api_key_env, safe_url(base_url))
    return "EMPTY"


def retry_after_seconds(headers: Any) -> float | None:
    """The wait a response asks for (``retry-after-ms``, ``retry-after`` seconds or HTTP date)."""
    if headers is None:
        return None
    for name, divisor in (("retry-after-ms", 1000.0), ("retry-after", 1.0)):
        value = headers.get(name)
        if value is None:
            continue
        try:
            return max(0.0, float(value) / divisor)
        except ValueError:
            parsed = email.utils.parsedate_tz(value)
            if parsed is not None:
                return max(0.0, email.utils.mktime_tz(parsed) - time.time())
    return None


def server_message(err: Exception) -> str:
    """The server's own error message when the body has one, else the exception text."""
    body = getattr(err, "body", None)
    if isinstance(body, dict):
        inner = body.get("error", body)
        message = inner.get("message") if isinstance(inner, dict) else inner
        if isinstance(message, str) and message:
            return message
    return str(err)


class OpenAIChatBackend(Backend):
    """Chat completions over HTTP with the ``openai`` client (``AsyncOpenAI``)."""

    transport = "openai-chat"

    def __init__(
        self,
        model: str,
        base_url: str | None = None,
        api_key_env: str = "OPENAI_API_KEY",
        structured: StructuredMode = "response_format",
        timeout: float = 120.0,
        http_client: Any = None,
    ) -> None:
        from openai import AsyncOpenAI

        self.model = model
        self.base_url = base_url or OPENAI_BASE_URL
        self.shown_url = safe_url(self.base_url)
        self.structured = structured
        self.is_openai = is_openai_url(self.base_url)
        self.client = AsyncOpenAI(
            api_key=resolve_api_key(self.base_url, api_key_env),
            base_url=self.base_url,
            max_retries=0,
            timeout=timeout,
            http_client=http_client,
        )

    def request_body(self, request: ChatRequest) -> dict[str, Any]:
        """The keyword arguments of ``chat.completions.create`` for ``request``."""
        body: dict[str, Any] = {
            "model": self.model,
            "messages": request.messages,
            "temperature": request.temperature,
            # OpenAI's newer models only accept max_completion_tokens; other servers know max_tokens.
            ("max_completion_tokens" if self.is_openai else "max_tokens"): request.max_tokens,
        }
        if request.seed is not None:
            body["seed"] = request.seed
        if request.schema is not None and self.structured == "response_format":
            schema = openai_strict_schema(request.schema) if self.is_openai else request.schema
            body["response_format"] = {
                "type": "json_schema",
                "json_schema": {"name": request.schema_name, "strict": True, "schema": schema},
            }
        elif request.schema is not None and self.structured == "structured_outputs":
            body["extra_body"] = {"structured_outputs": {"json": request.schema}}
        return body

    async def check(self) -> None:
        import openai

        try:
            served = [model.id async for model in self.client.models.list()]
        except (openai.NotFoundError, openai.APIResponseValidationError):
            return  # the server has no model listing; the first request will tell
        except (openai.AuthenticationError, openai.PermissionDeniedError) as err:
            raise BackendError(f"{self.shown_url} refused the API key: {server_message(err)}") from None
        except openai.APIConnectionError as err:
            raise BackendError(f"cannot reach {self.shown_url}: {err}") from None
        except openai.APIStatusError as err:
            logger.warning("could not list the models of %s: %s", self.shown_url, server_message(err))
            return
        if served and self.model not in served:
            shown = ", ".join(served[:10]) + (", ..." if len(served) > 10 else "")
            raise BackendError(f"model {self.model!r} is not served by {self.shown_url} (it serves: {shown})")

    async def generate(self, requests: Sequence[ChatRequest]) -> list[Generation]:
        import openai

        (request,) = requests  # batch_size 1: the engine runs many of these at once
        try:
            completion = await self.client.chat.completions.create(**self.request_body(request))
        except openai.RateLimitError as err:
            if getattr(err, "code", None) == "insufficient_quota":
                raise BackendError(f"{self.shown_url}: {server_message(err)}") from None
            raise TransientError(
                f"rate limited: {server_message(err)}", retry_after_seconds(err.response.headers)
            ) from None
        except (openai.AuthenticationError, openai.PermissionDeniedError, openai.NotFoundError) as err:
            raise BackendError(f"{self.shown_url}: {server_message(err)}") from None
        except (openai.BadRequestError, openai.UnprocessableEntityError) as err:
            raise RequestError(f"rejected by the server: {server_message(err)}") from None
        except openai.APIStatusError as err:
            if err.status_code >= 500 or err.status_code in (408, 409):
                raise TransientError(
                    f"server error {err.status_code}: {server_message(err)}",
                    retry_after_seconds(err.response.headers),
                ) from None
            raise RequestError(f"server error {err.status_code}: {server_message(err)}") from None
        except openai.APITimeoutError:
            raise TransientError("request timed out") from None
        except openai.APIConnectionError as err:
            raise TransientError(f"connection error: {err}") from None
        except (openai.APIResponseValidationError, json.JSONDecodeError) as err:
            raise TransientError(f"malformed response: {err}") from None
        return [completion_to_generation(completion)]

    async def aclose(self) -> None:
        await self.client.close()


def completion_to_generation(completion: Any) -> Generation:
    """A chat completion (the ``openai`` object or its JSON dict) as a :class:`Generation`."""
    if isinstance(completion, dict):
        from openai.types.chat import ChatCompletion

        completion = ChatCompletion.model_validate(completion)
    if not getattr(completion, "choices", None):
        raise TransientError(f"malformed response without choices: {str(completion)[:200]!r}")
    choice = completion.choices[0]
    refusal = getattr(choice.message, "refusal", None)
    if refusal:
        raise RequestError(f"the model refused: {refusal}")
    usage = completion.usage
    return Generation(
        content=choice.message.content or "",
        finish_reason=choice.finish_reason,
        prompt_tokens=usage.prompt_tokens if usage else 0,
        completion_tokens=usage.completion_tokens if usage else 0,
    )
