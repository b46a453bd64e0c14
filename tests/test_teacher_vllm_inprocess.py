"""The in-process vLLM backend (``vllm.LLM``) on the CPU build, with the schema enforced.

vLLM lives in its own environment (.venv-vllm, scripts/vllm_env.sh) because it pins other library
versions than adekd's; the backend module needs nothing of adekd beyond its base interface, so it
is loaded there without adekd's package imports and asked to label two sentences.
"""

from __future__ import annotations

import json
import os
import subprocess

import pytest
from vllm_server import MODEL_DIR, REPO, ensure_environment

from adekd.teacher.prompts import load_prompt
from adekd.teacher.schema import answer_schema

SCRIPT = """
import json, sys, types, asyncio
for name, path in (("adekd", "adekd"), ("adekd.teacher", "adekd/teacher")):
    module = types.ModuleType(name)
    module.__path__ = [path]
    sys.modules[name] = module
from adekd.teacher.backends.base import ChatRequest
from adekd.teacher.backends.vllm_local import VLLMBackend

job = json.load(sys.stdin)
async def main():
    backend = VLLMBackend(job["model"], batch_size=8, max_model_len=2048, enforce_eager=True)
    await backend.check()
    requests = [ChatRequest(str(i), messages, job["max_tokens"], schema=job["schema"])
                for i, messages in enumerate(job["messages"])]
    generations = await backend.generate(requests)
    await backend.aclose()
    print("RESULT " + json.dumps([{"error": str(g)} if isinstance(g, Exception) else g.__dict__
                                  for g in generations]))
asyncio.run(main())
"""


@pytest.mark.slow
def test_vllm_llm_labels_with_structured_outputs():
    from adekd.teacher.smollm2 import export_safetensors

    python = ensure_environment()
    export_safetensors(MODEL_DIR)
    sentences = ["Acute hepatitis developed after oral amoxicillin.", "Lithium toxicity caused tremor."]
    sentences.insert(1, "Aspirin and rash. " * 500)  # over the 2048-token context: refused alone
    prompt = load_prompt("zero-shot")
    job = {"model": str(MODEL_DIR), "max_tokens": 96, "schema": answer_schema(),
           "messages": [prompt.messages(s) for s in sentences]}  # fmt: skip
    env = {**os.environ, "VLLM_CPU_KVCACHE_SPACE": "1", "HF_HUB_OFFLINE": "1"}
    env.pop("PYTHONPATH", None)
    done = subprocess.run(
        [str(python), "-c", SCRIPT], input=json.dumps(job), capture_output=True, text=True, cwd=REPO, env=env,
        timeout=540,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    (line,) = [line for line in done.stdout.splitlines() if line.startswith("RESULT ")]
    generations = json.loads(line.removeprefix("RESULT "))
    assert len(generations) == 3
    assert (
        generations[1]["error"].startswith("vLLM refused the request:") and "2048" in generations[1]["error"]
    )
    del generations[1]
    for generation in generations:
        assert generation["finish_reason"] in ("stop", "length") and generation["prompt_tokens"] > 50
        if generation["finish_reason"] == "stop":  # a complete answer follows the schema exactly
            answer = json.loads(generation["content"])
            assert set(answer) == {"drugs"}
            assert all(set(drug) == {"drug", "adverse_events"} for drug in answer["drugs"])
