"""The OpenAI Batch API backend against a real HTTP server that implements files and batches."""

from __future__ import annotations

import asyncio

import pytest
from teacher_server import FakeOpenAIServer, Fault

from adekd.teacher import LabelConfig, label, label_async
from adekd.teacher.cache import AnswerCache

KEY = "sk-test-0123456789abcdef"
SENTENCES = [
    "Amoxicillin caused a rash.",
    "Lithium led to tremor.",
    "Warfarin and bleeding.",
    "No drug here.",
]


@pytest.fixture(autouse=True)
def api_key(monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", KEY)


def batch_config(server, tmp_path, **overrides):
    return LabelConfig(
        teacher="openai", model="teacher", base_url=server.url, cache=str(tmp_path / "cache.sqlite"),
        batch_api=True, batch_poll_interval=0.01, retry_initial_delay=0.01, progress=False, **overrides,
    )  # fmt: skip


def test_batch_job_uploads_one_file_and_matches_answers_by_custom_id(tmp_path):
    with FakeOpenAIServer() as server:
        result = label(SENTENCES, batch_config(server, tmp_path))
        paths = [r["path"] for r in server.received if r["path"] != "/v1/models"]
        lines = list(server.batch_lines)
        server.reset()
        again = label(SENTENCES, batch_config(server, tmp_path))
        assert server.received == []  # answers are in the shared cache
    assert paths[:2] == ["/v1/files", "/v1/batches"] and paths.count("/v1/files") == 1
    assert server.chat_requests() == []  # no live requests: everything went through the job
    assert [line["body"]["messages"][-1]["content"] for line in lines] == [
        f"Sentence: {s}" for s in SENTENCES
    ]
    assert all(line["url"] == "/v1/chat/completions" and line["method"] == "POST" for line in lines)
    assert lines[0]["body"]["response_format"]["json_schema"]["strict"] is True
    assert len({line["custom_id"] for line in lines}) == 4
    assert [r["text"] for r in result.records] == SENTENCES
    assert result.records[1]["ades"][0]["text"] == "tremor"
    assert again.records == result.records and again.summary["counts"]["cached"] == 4


def test_batch_errors_retry_in_a_second_job_or_fail_the_input(tmp_path):
    with FakeOpenAIServer() as server:
        server.fault(SENTENCES[0], Fault(status=500))
        server.fault(SENTENCES[1], Fault(status=400))
        result = label(SENTENCES, batch_config(server, tmp_path))
        jobs = [r for r in server.received if r["path"] == "/v1/batches"]
    assert len(jobs) == 2  # the 500 went into a second job
    assert [line["custom_id"] for line in server.batch_lines].count(server.batch_lines[0]["custom_id"]) == 2
    (failure,) = result.failures
    assert failure["text"] == SENTENCES[1] and "batch request rejected (400)" in failure["error"]
    assert [r["text"] for r in result.records] == [SENTENCES[0], SENTENCES[2], SENTENCES[3]]


def test_a_run_stopped_while_the_job_runs_resumes_the_same_job(tmp_path):
    with FakeOpenAIServer() as server:
        server.hold_batches = True  # the job stays in progress
        with pytest.raises(TimeoutError):
            asyncio.run(asyncio.wait_for(label_async(SENTENCES, batch_config(server, tmp_path)), timeout=3))
        (batch_id,) = AnswerCache(tmp_path / "cache.sqlite").open_batches()
        server.hold_batches = False
        server.reset()
        result = label(SENTENCES, batch_config(server, tmp_path))
        paths = [r["path"] for r in server.received]
    assert "/v1/files" not in paths and "/v1/batches" not in paths  # nothing submitted twice
    assert f"/v1/batches/{batch_id}" in paths
    assert len(result.records) == 4 and len(server.batch_lines) == 4
    assert AnswerCache(tmp_path / "cache.sqlite").open_batches() == {}
