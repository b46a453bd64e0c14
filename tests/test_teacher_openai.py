"""The OpenAI-compatible backend and the run engine against a real HTTP server on 127.0.0.1.

The server (tests/teacher_server.py) speaks the chat-completions API and injects faults per
sentence; the tests assert what was sent, how often, and what the silver records say.
"""

from __future__ import annotations

import json
import time

import pytest
from teacher_server import FakeOpenAIServer, Fault

from adekd.teacher import BackendError, LabelConfig, label
from adekd.teacher.backends.openai_http import OpenAIChatBackend, retry_after_seconds
from adekd.teacher.schema import quote_choices

KEY = "sk-test-0123456789abcdef"
S1 = "Amoxicillin caused a rash."
S2 = "Methotrexate was followed by pancytopenia."
S3 = "The patient took aspirin without problems."


@pytest.fixture
def server():
    with FakeOpenAIServer() as server:
        yield server


@pytest.fixture(autouse=True)
def api_key(monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", KEY)


def config(server, tmp_path, **overrides):
    settings = {
        "teacher": "openai",
        "model": "teacher",
        "base_url": server.url,
        "cache": str(tmp_path / "cache.sqlite"),
        "retry_initial_delay": 0.01,
        "request_timeout": 1.0,
        "progress": False,
        "concurrency": 4,
    }
    return LabelConfig(**{**settings, **overrides})


@pytest.mark.parametrize("vllm_key", [None, "vllm-secret"])
def test_a_vllm_server_gets_vllm_api_key_never_the_openai_key(server, tmp_path, monkeypatch, vllm_key):
    if vllm_key:
        monkeypatch.setenv("VLLM_API_KEY", vllm_key)
    else:
        monkeypatch.delenv("VLLM_API_KEY", raising=False)
    label([S1], config(server, tmp_path, teacher="vllm"))
    (request,) = server.chat_requests()
    assert request["headers"]["authorization"] == f"Bearer {vllm_key or 'EMPTY'}"
    label([S2], config(server, tmp_path, teacher="vllm", api_key_env="OPENAI_API_KEY"))  # asked for by name
    assert server.chat_requests()[-1]["headers"]["authorization"] == f"Bearer {KEY}"


def test_credentials_in_the_base_url_stay_out_of_messages_and_logs(tmp_path, caplog):
    url = "http://user:url-secret@127.0.0.1:9/v1"  # nothing listens on port 9
    with pytest.raises(BackendError, match=r"cannot reach http://127\.0\.0\.1:9/v1") as err:
        label([S1], LabelConfig(teacher="openai", model="m", base_url=url, cache=str(tmp_path / "c.sqlite")))
    assert "url-secret" not in str(err.value) and "url-secret" not in caplog.text


def test_request_sent_and_silver_record_provenance(server, tmp_path):
    result = label([{"id": "r1", "text": S1}], config(server, tmp_path, prompt="zero-shot"))
    (request,) = server.chat_requests()
    body = request["body"]
    assert request["headers"]["authorization"] == f"Bearer {KEY}"
    assert body["model"] == "teacher" and body["temperature"] == 0.0 and body["max_tokens"] == 256
    assert body["messages"][0]["role"] == "system" and body["messages"][-1]["content"] == f"Sentence: {S1}"
    response_format = body["response_format"]
    assert response_format["type"] == "json_schema" and response_format["json_schema"]["strict"] is True
    assert response_format["json_schema"]["schema"]["properties"]["drugs"]["maxItems"] == 8
    assert "structured_outputs" not in body
    (record,) = result.records
    assert record["id"] == "r1"
    assert record["drugs"] == [{"text": "Amoxicillin", "start": 0, "end": 11}]
    assert record["ades"] == [{"drug": 0, "text": "rash", "start": 21, "end": 25}]
    assert record["teacher"] == "openai" and record["teacher_model"] == "teacher"
    assert record["prompt_id"] == "adekd-zero-shot-v1" and len(record["prompt_hash"]) == 16
    assert json.loads(record["decoding"])["structured_output"] == "response_format"
    assert record["raw_response"] == server.completion(body, None)["choices"][0]["message"]["content"]
    assert record["parse_status"] == "ok" and record["finish_reason"] == "stop"
    assert record["drug_alignment"] == [{"status": "normalized", "similarity": 1.0}]
    assert record["ade_alignment"] == [{"status": "exact", "similarity": 1.0}]
    assert record["rejected_quotes"] == [] and record["prompt_tokens"] > 0
    summary = result.summary
    assert summary["counts"]["requested"] == 1 and summary["usage"]["requests"] == 1
    assert summary["usage"]["cost_usd"] == 0.0  # a self-hosted server
    assert KEY not in json.dumps(summary) and KEY not in json.dumps(result.records)
    assert KEY.encode() not in (tmp_path / "cache.sqlite").read_bytes()


def test_vllm_server_gets_structured_outputs_and_constrained_quotes(server, tmp_path):
    label([S2], config(server, tmp_path, teacher="vllm", constrain_quotes=True))
    body = server.chat_requests()[0]["body"]
    assert "response_format" not in body
    schema = body["structured_outputs"]["json"]
    drug = schema["properties"]["drugs"]["items"]["properties"]["drug"]
    assert drug["enum"] == quote_choices(S2)


def test_429_with_retry_after_is_waited_out_then_answered(server, tmp_path):
    server.fault(S1, Fault(status=429, headers={"Retry-After": "1"}))
    started = time.monotonic()
    result = label([S1, S2], config(server, tmp_path, concurrency=1))
    assert time.monotonic() - started >= 1.0
    assert server.request_counts() == {S1: 2, S2: 1}
    assert len(result.records) == 2 and result.summary["counts"]["retries"] == 1


def test_server_errors_timeouts_and_broken_bodies_are_retried(server, tmp_path):
    server.fault(S1, Fault(status=500), Fault(status=503))
    server.fault(S2, Fault(delay=1.5))  # past the 1 s client timeout
    server.fault(S3, Fault(body=b"{not json"))
    result = label([S1, S2, S3], config(server, tmp_path))
    assert server.request_counts() == {S1: 3, S2: 2, S3: 2}
    assert [r["text"] for r in result.records] == [S1, S2, S3] and not result.failures
    assert result.summary["counts"]["retries"] == 4


def test_retries_run_out_into_a_failure_and_the_run_goes_on(server, tmp_path):
    server.fault(S1, *[Fault(status=500)] * 3)
    result = label([S1, S2], config(server, tmp_path, max_retries=2))
    assert server.request_counts()[S1] == 3
    (failure,) = result.failures
    assert failure["text"] == S1 and failure["error"].startswith("gave up after 2 retries: server error 500")
    assert [r["text"] for r in result.records] == [S2]


def test_malformed_empty_and_hallucinated_answers(server, tmp_path):
    server.fault(
        S1, Fault(content='```json\n{"drugs": [{"drug": "Amoxicillin", "adverse_events": ["rash"]}]}\n```')
    )
    server.fault(S2, Fault(content=""))
    server.fault(
        S3, Fault(content='{"drugs": [{"drug": "aspirin", "adverse_events": ["gastric bleeding"]}]}')
    )
    text4 = "Warfarin and tremor."
    server.fault(text4, Fault(content="Sorry, I cannot answer."))
    result = label([S1, S2, S3, text4], config(server, tmp_path))
    repaired, hallucinated = result.records
    assert repaired["parse_status"] == "repaired: code fence" and len(repaired["ades"]) == 1
    assert hallucinated["drugs"][0]["text"] == "aspirin" and hallucinated["ades"] == []
    assert hallucinated["rejected_quotes"] == [
        {"kind": "ade", "quote": "gastric bleeding", "drug": "aspirin", "reason": "not found in the text"}
    ]
    errors = {f["text"]: f for f in result.failures}
    assert errors[S2]["error"] == "unusable answer: empty answer"
    assert errors[text4]["error"].startswith("unusable answer: no JSON object")
    assert errors[text4]["raw_response"] == "Sorry, I cannot answer."
    counts = result.summary["counts"]
    assert (counts["rejected_quotes"], counts["failures"], counts["parse_repaired"]) == (1, 2, 1)
    assert server.request_counts() == {S1: 1, S2: 1, S3: 1, text4: 1}  # bad answers are not retried


def test_answers_cut_at_max_tokens_are_retried_with_more_tokens_once(server, tmp_path):
    truncated = '{"drugs": [{"drug": "Amoxicillin", "adverse_events": ["rash", "rash", "ra'
    server.fault(S1, Fault(content=truncated, finish_reason="length"))
    server.fault(
        S2, Fault(content=truncated, finish_reason="length"), Fault(content=truncated, finish_reason="length")
    )
    result = label([S1, S2], config(server, tmp_path, max_tokens=64))
    assert [r["body"]["max_tokens"] for r in server.chat_requests(S1)] == [64, 128]
    assert [r["body"]["max_tokens"] for r in server.chat_requests(S2)] == [64, 128]
    (record,) = result.records
    assert record["text"] == S1 and json.loads(record["decoding"])["max_tokens"] == 128
    (failure,) = result.failures
    assert failure["text"] == S2 and "answer cut at max_tokens=128" in failure["error"]
    assert failure["raw_response"] == truncated
    assert result.summary["counts"]["length_retries"] == 2
    # resumed: both generations of both sentences come from the cache, nothing is re-sent
    server.reset()
    again = label([S1, S2], config(server, tmp_path, max_tokens=64))
    assert (
        server.chat_requests() == [] and again.records == result.records and again.failures == result.failures
    )


def test_second_run_is_served_from_the_cache(server, tmp_path):
    first = label([S1, S2, S3], config(server, tmp_path))
    server.reset()
    second = label([S1, S2, S3], config(server, tmp_path))
    assert server.received == []  # not even the model listing: the backend is never started
    assert second.records == first.records
    assert second.summary["counts"]["cached"] == 3 and second.summary["usage"]["requests"] == 0
    # a different prompt or decoding parameter is a different request
    label([S1], config(server, tmp_path, temperature=0.5))
    assert server.request_counts() == {S1: 1}


def test_unknown_model_stops_before_labeling_with_the_served_list(server, tmp_path):
    with pytest.raises(BackendError, match=r"model 'gpt-9' is not served by .* \(it serves: teacher\)"):
        label([S1, S2], config(server, tmp_path, model="gpt-9"))
    assert server.chat_requests() == []


def test_unknown_model_without_model_listing_surfaces_the_server_error(tmp_path):
    with FakeOpenAIServer(list_models=False) as server:
        with pytest.raises(BackendError, match="The model `gpt-9` does not exist"):
            label([S1, S2], config(server, tmp_path, model="gpt-9", concurrency=1))
        assert len(server.chat_requests()) == 1  # the run stops at the first such answer


def test_missing_api_key_for_openai_fails_before_any_request(monkeypatch, tmp_path):
    monkeypatch.delenv("OPENAI_API_KEY")
    with pytest.raises(BackendError, match="OPENAI_API_KEY is not set"):
        label([S1], LabelConfig(teacher="openai", cache=str(tmp_path / "c.sqlite"), progress=False))
    assert not (tmp_path / "c.sqlite").exists()


def test_local_server_needs_no_key_and_openai_gets_max_completion_tokens(monkeypatch):
    monkeypatch.delenv("OPENAI_API_KEY")
    backend = OpenAIChatBackend("teacher", base_url="http://127.0.0.1:9/v1")
    assert backend.client.api_key == "EMPTY"
    monkeypatch.setenv("MY_KEY", KEY)
    openai_backend = OpenAIChatBackend("gpt-4o-mini", api_key_env="MY_KEY")
    from adekd.teacher.backends.base import ChatRequest
    from adekd.teacher.schema import answer_schema

    body = openai_backend.request_body(ChatRequest("k", [], 100, schema=answer_schema()))
    assert body["max_completion_tokens"] == 100 and "max_tokens" not in body
    assert "maxLength" not in json.dumps(body["response_format"])  # strict mode rejects it


def test_retry_after_header_forms():
    assert retry_after_seconds({"retry-after-ms": "1500"}) == 1.5
    assert retry_after_seconds({"retry-after": "3"}) == 3.0
    assert 0 <= retry_after_seconds({"retry-after": "Wed, 21 Oct 2015 07:28:00 GMT"}) < 1
    assert retry_after_seconds({}) is None
