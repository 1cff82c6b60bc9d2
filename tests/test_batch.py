"""Batches: results as they finish, per-item errors, shared rate limits and pauses."""
import threading
import time

import pytest

import llmsync
from llmsync.batch import TokenBucket, as_request, summarize
from llmsync.testing import Reply


def echo(received):
    return Reply(text="re:" + received.body["messages"][0]["content"])


def test_every_item_comes_back_once_with_its_index(client, server):
    server.responder = echo
    items = [{"model": "openai/gpt-4o-mini", "prompt": f"p{i}"} for i in range(20)]
    results = list(client.batch(items, max_workers=4))
    assert sorted(r.index for r in results) == list(range(20))
    assert all(r.response.content == f"re:p{r.index}" for r in results)


def test_per_item_errors_do_not_stop_the_batch(client, server):
    server.responder = echo
    items = [{"model": "openai/gpt-4o-mini", "prompt": "a"}, {"model": "nope/x", "prompt": "b"},
             {"prompt": "no model"}, {"model": "openai/gpt-4o-mini", "prompt": "d"}]
    results = sorted(client.batch(items, max_workers=2), key=lambda r: r.index)
    assert [r.ok for r in results] == [True, False, False, True]
    assert isinstance(results[1].error, llmsync.InvalidRequestError)
    assert "needs a model" in results[2].error.message


def test_no_more_than_max_workers_run_at_once(client, server):
    in_flight, peak, lock = [0], [0], threading.Lock()

    def counting(received):
        with lock:
            in_flight[0] += 1
            peak[0] = max(peak[0], in_flight[0])
        time.sleep(0.02)
        with lock:
            in_flight[0] -= 1
        return Reply(text="x")

    server.responder = counting
    done = []
    results = list(client.batch([llmsync.Request("openai/gpt-4o-mini", "hi")] * 12, max_workers=3,
                                on_progress=lambda n, r: done.append(n)))
    assert len(results) == 12 and done == list(range(1, 13))
    assert 1 < peak[0] <= 3


def test_a_429_with_retry_after_pauses_every_worker(server):
    """After one 429 naming a 0.5 s wait, no worker starts anything for 0.5 s (requests
    already past the limiter when the 429 came back may still arrive a little later)."""
    arrivals, lock = [], threading.Lock()
    first = [True]

    def responder(received):
        with lock:
            arrivals.append(time.monotonic())
            if first[0]:
                first[0] = False
                return Reply.error(429, "slow down", headers={"Retry-After": "0.5"})
        return Reply(text="ok", delay_before=0.05)

    server.responder = responder
    client = server.client(retry=llmsync.RetryPolicy(max_retries=2, base_delay=0.001, max_delay=1.0))
    results = list(client.batch([llmsync.Request("openai/gpt-4o-mini", "hi")] * 9, max_workers=3))
    assert all(r.ok for r in results)
    rate_limited_at = arrivals[0]
    later = [t for t in arrivals[1:] if t - rate_limited_at > 0.2]
    assert later, "some requests were sent after the pause began"
    assert all(t - rate_limited_at >= 0.48 for t in later)


def test_rate_limited_item_gives_up_after_the_policy_retries(server):
    server.default = Reply.error(429, "slow down", headers={"retry-after-ms": "1"})
    client = server.client(retry=llmsync.RetryPolicy(max_retries=1, base_delay=0.001, max_delay=0.01))
    [result] = list(client.batch([llmsync.Request("openai/gpt-4o-mini", "hi")]))
    assert isinstance(result.error, llmsync.RateLimitError)
    assert len(server.requests) == 2


class TestTokenBucket:
    def make(self, per_minute):
        clock = [0.0]
        slept = []

        def sleep(seconds):
            slept.append(seconds)
            clock[0] += seconds

        return TokenBucket(per_minute, clock=lambda: clock[0], sleep=sleep), slept

    def test_bursts_at_most_one_seconds_worth_then_waits_for_refill(self):
        bucket, slept = self.make(60)  # one a second
        for _ in range(1):
            bucket.take()
        assert slept == []
        bucket.take()
        assert slept == [pytest.approx(1.0)]

    def test_a_debt_makes_the_next_caller_wait_longer(self):
        bucket, slept = self.make(600)  # ten a second
        bucket.take(600)
        bucket.charge(100)
        bucket.take(10)
        assert sum(slept) == pytest.approx(11.0)

    def test_rates_must_be_positive(self):
        with pytest.raises(llmsync.InvalidRequestError):
            TokenBucket(0)


def test_as_request_accepts_prompt_or_messages():
    assert as_request({"model": "openai/x", "prompt": "hi", "max_tokens": 5}).max_tokens == 5
    with pytest.raises(llmsync.InvalidRequestError, match="unknown field"):
        as_request({"model": "openai/x", "prompt": "hi", "colour": "red"})


def test_summarize_counts_tokens_and_cost():
    usage = llmsync.Usage(1000, 1000, 2000)
    ok = llmsync.batch.BatchResult(0, response=llmsync.Response(usage=usage, model="gpt-4o", provider="openai",
                                                                cost=(1000 * 2.5 + 1000 * 10) / 1e6))
    failed = llmsync.batch.BatchResult(1, error=llmsync.ProviderError("x"))
    summary = summarize([ok, failed])
    assert summary["done"] == 1 and summary["failed"] == 1 and summary["tokens"] == 2000
    assert summary["cost"] == pytest.approx((1000 * 2.5 + 1000 * 10) / 1e6)


def test_a_reply_larger_than_the_bucket_leaves_all_of_its_excess_as_debt():
    now, slept = [0.0], []

    def sleep(seconds):
        slept.append(seconds)
        now[0] += seconds

    limiter = llmsync.batch.LocalLimiter(tokens_per_minute=600)  # 10 a second, a bucket of 10
    limiter.tokens = llmsync.batch.TokenBucket(600, clock=lambda: now[0], sleep=sleep)
    limiter.acquire(100)  # more than a bucketful: takes the 10 there are
    limiter.settle(100, 100)  # the other 90 are owed
    limiter.acquire(10)
    assert sum(slept) == pytest.approx((90 + 10) / 10)
