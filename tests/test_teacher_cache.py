"""The answer cache (durable per answer, keyed by the whole request), the rate limiter, retries, prices."""

from __future__ import annotations

import asyncio
import random
import sqlite3

import pytest

from adekd.teacher.backends.base import Generation
from adekd.teacher.cache import AnswerCache, CacheError, cache_key
from adekd.teacher.limits import RateLimiter, RetryPolicy
from adekd.teacher.pricing import price_for

PARAMS = {"temperature": 0.0, "max_tokens": 256}


def test_key_covers_every_part_of_the_request():
    base = cache_key("openai-chat", "m", "p1", PARAMS, "text")
    assert base == cache_key("openai-chat", "m", "p1", dict(reversed(PARAMS.items())), "text")
    variants = [
        cache_key("vllm", "m", "p1", PARAMS, "text"),
        cache_key("openai-chat", "m2", "p1", PARAMS, "text"),
        cache_key("openai-chat", "m", "p2", PARAMS, "text"),
        cache_key("openai-chat", "m", "p1", {**PARAMS, "max_tokens": 512}, "text"),
        cache_key("openai-chat", "m", "p1", PARAMS, "text "),
    ]
    assert len({base, *variants}) == 6


def test_each_answer_is_committed_and_readable_by_another_connection(tmp_path):
    path = tmp_path / "c.sqlite"
    cache = AnswerCache(path)
    generation = Generation('{"drugs": []}', "stop", 10, 3)
    cache.put("k1", generation, transport="t", model="m", prompt_hash="p", params=PARAMS, text="x")
    # no close, no explicit commit: a second process-like reader already sees it
    other = sqlite3.connect(path)
    assert other.execute("SELECT content, finish_reason, text FROM answers").fetchall() == [
        ('{"drugs": []}', "stop", "x")
    ]
    assert other.execute("PRAGMA journal_mode").fetchone() == ("wal",)
    assert cache.get("k1") == generation and cache.get("k2") is None and len(cache) == 1
    cache.add_batch("batch_1", ["k1", "k2"], "validating")
    assert cache.open_batches() == {"batch_1": ["k1", "k2"]}
    cache.set_batch_status("batch_1", "collected")
    assert cache.open_batches() == {}
    cache.close()
    other.execute("UPDATE meta SET value = '99' WHERE name = 'schema_version'")
    other.commit()
    with pytest.raises(CacheError, match="schema version 99"):
        AnswerCache(path)


def _damaged_cache(path, page: int) -> list[str]:
    """A cache of 300 answers with one page of its file overwritten, as a disk error leaves it."""
    keys = [f"k{i}" for i in range(300)]
    with AnswerCache(path) as cache:
        for key in keys:
            generation = Generation('{"drugs": []}' * 10, "stop", 1, 1)
            cache.put(
                key, generation, transport="t", model="m", prompt_hash="p", params=PARAMS, text="x" * 100
            )
    with open(path, "r+b") as handle:
        handle.seek(4096 * (page - 1))
        handle.write(b"\xff" * 4096)
    return keys


@pytest.mark.parametrize("page", [2, 5])
def test_a_damaged_cache_file_is_one_error_naming_it(tmp_path, page):
    keys = _damaged_cache(tmp_path / "c.sqlite", page)
    with pytest.raises(CacheError, match=r"c\.sqlite cannot be used \(database disk image is malformed\)"):
        cache = AnswerCache(tmp_path / "c.sqlite")  # page 2 fails here, page 5 on a read
        [cache.get(key) for key in keys]


def test_rate_limiter_spaces_requests_and_tokens_over_the_window():
    async def run(limiter, calls):
        loop = asyncio.get_running_loop()
        start = loop.time()
        times = []
        for requests, tokens in calls:
            await limiter.acquire(requests, tokens)
            times.append(loop.time() - start)
        return times

    by_requests = asyncio.run(run(RateLimiter(requests_per_minute=2, window=0.3), [(1, 0)] * 5))
    assert by_requests[1] < 0.05 and 0.28 < by_requests[2] < 0.45 and by_requests[4] >= 0.58
    by_tokens = asyncio.run(run(RateLimiter(tokens_per_minute=100, window=0.3), [(1, 60), (1, 60), (1, 500)]))
    # the third request alone exceeds the budget: it waits for an empty window rather than forever
    assert 0.28 < by_tokens[1] < 0.45 and by_tokens[2] > 0.58
    assert asyncio.run(run(RateLimiter(), [(1, 10**9)] * 3))[-1] < 0.05
    with pytest.raises(ValueError, match="requests_per_minute must be positive"):
        RateLimiter(requests_per_minute=0)


def test_backoff_grows_with_jitter_and_honors_retry_after():
    policy = RetryPolicy(initial_delay=1.0, max_delay=10.0)
    rng = random.Random(0)
    delays = [policy.delay(attempt, rng=rng) for attempt in range(6)]
    for attempt, delay in enumerate(delays):
        cap = min(10.0, 2.0**attempt)
        assert cap / 2 <= delay <= cap
    assert policy.delay(0, retry_after=7.5) == 7.5 and policy.delay(3, retry_after=10_000) == 600.0


def test_prices_for_openai_models_batch_and_self_hosted():
    price = price_for("gpt-4o-mini-2024-07-18", paid_api=True)
    assert price.cost(1_000_000, 1_000_000) == pytest.approx(0.75)
    assert price_for("gpt-4o-mini", paid_api=True, batch_api=True).cost(2_000_000, 0) == pytest.approx(0.15)
    assert price_for("gpt-4o", paid_api=True).input_per_million == 2.5  # not gpt-4o-mini's row
    assert price_for("my-finetune", paid_api=True).cost(10, 10) is None
    assert price_for("SmolLM2", paid_api=False).cost(10**6, 10**6) == 0.0
    assert price_for("x", paid_api=True, override=(1.0, 2.0)).cost(10**6, 10**6) == 3.0
