"""The real vLLM server (scripts/vllm_server.py) the teacher tests and benchmark label against.

These check what the teacher relies on: both ways of asking for structured output are honoured,
a truncated answer is reported as ``finish_reason == "length"`` (and does not parse), an unknown
model is a 404 naming it, and a server that cannot start fails fast with its log.
"""

from __future__ import annotations

import json

import openai
import pytest
from vllm_server import ServerConfig, ServerError, serve

pytestmark = [pytest.mark.slow, pytest.mark.vllm]

SENTENCE = "Intravenous azithromycin-induced ototoxicity."
# Pieces of the sentence as the only allowed quotes: an unconstrained model answers in free text or
# with other strings, so a valid answer shows the server enforced the schema.
QUOTES = ["Intravenous", "azithromycin", "ototoxicity", "Intravenous azithromycin"]
SCHEMA = {
    "type": "object",
    "properties": {
        "drugs": {
            "type": "array",
            "maxItems": 2,
            "items": {
                "type": "object",
                "properties": {
                    "drug": {"enum": QUOTES},
                    "adverse_events": {"type": "array", "items": {"enum": QUOTES}, "maxItems": 2},
                },
                "required": ["drug", "adverse_events"],
                "additionalProperties": False,
            },
        }
    },
    "required": ["drugs"],
    "additionalProperties": False,
}
MESSAGES = [
    {
        "role": "user",
        "content": "Find the drugs in the sentence and the adverse events each caused. Answer in JSON.\n"
        f"Sentence: {SENTENCE}",
    }
]
RESPONSE_FORMAT = {
    "type": "json_schema",
    "json_schema": {"name": "ade_answer", "schema": SCHEMA, "strict": True},
}


@pytest.fixture(scope="module")
def client(vllm_server) -> openai.OpenAI:
    return openai.OpenAI(base_url=vllm_server.base_url, api_key="unused", max_retries=0, timeout=120)


def assert_matches_schema(answer: dict) -> None:
    assert set(answer) == {"drugs"}
    assert len(answer["drugs"]) <= 2
    for drug in answer["drugs"]:
        assert set(drug) == {"drug", "adverse_events"}
        assert drug["drug"] in QUOTES
        assert len(drug["adverse_events"]) <= 2
        assert all(event in QUOTES for event in drug["adverse_events"])


@pytest.mark.parametrize(
    "request_options",
    [
        pytest.param({"response_format": RESPONSE_FORMAT}, id="response_format"),
        pytest.param({"extra_body": {"structured_outputs": {"json": SCHEMA}}}, id="structured_outputs"),
    ],
)
def test_answer_follows_the_requested_schema(client, vllm_server, request_options):
    already_received = len(vllm_server.received_requests())
    response = client.chat.completions.create(
        model=vllm_server.model, messages=MESSAGES, temperature=0, max_tokens=200, **request_options
    )
    choice = response.choices[0]
    assert choice.finish_reason == "stop", choice.message.content
    assert_matches_schema(json.loads(choice.message.content))
    assert response.usage.completion_tokens < 200
    (params,) = vllm_server.received_requests()[already_received:]
    assert "structured_outputs=StructuredOutputsParams(json={'type': 'object'" in params


def test_answer_cut_at_max_tokens_reports_length_and_does_not_parse(client, vllm_server):
    response = client.chat.completions.create(
        model=vllm_server.model,
        messages=MESSAGES,
        temperature=0,
        max_tokens=5,
        response_format=RESPONSE_FORMAT,
    )
    choice = response.choices[0]
    assert choice.finish_reason == "length"
    assert response.usage.completion_tokens == 5
    with pytest.raises(json.JSONDecodeError):
        json.loads(choice.message.content)


def test_request_without_schema_is_unconstrained(client, vllm_server):
    already_received = len(vllm_server.received_requests())
    client.chat.completions.create(model=vllm_server.model, messages=MESSAGES, max_tokens=5)
    (params,) = vllm_server.received_requests()[already_received:]
    assert "structured_outputs=None" in params


def test_unknown_model_is_a_404_naming_it(client):
    with pytest.raises(openai.NotFoundError, match="no-such-model"):
        client.chat.completions.create(model="no-such-model", messages=MESSAGES, max_tokens=5)


def test_server_that_cannot_start_fails_with_its_log(tmp_path):
    config = ServerConfig(log_path=tmp_path / "server.log", extra_args=["--no-such-flag"])
    with pytest.raises(ServerError, match="exited with") as error, serve(config):
        pass
    assert "--no-such-flag" in str(error.value)
    assert str(config.log_path) in str(error.value)


def test_server_that_does_not_answer_in_time_times_out_with_its_log(tmp_path):
    config = ServerConfig(log_path=tmp_path / "server.log", startup_timeout_s=0.5)
    with pytest.raises(ServerError, match=r"did not answer .*/models within 0 s"), serve(config):
        pass
