"""Cancelling a batch while its items wait for their turn under a rate limit.

``requests_per_minute=1`` holds a bucket of one request: the first item goes at once,
the next waits a minute. A ``Cancel``, ``Client.close()`` or closing the batch's iterator
must end that wait within about a second (DESIGN.md, "Cancellation").
"""
import threading
import time

import pytest

import llmsync
from llmsync import Cancel, CancelledError
from llmsync.batch import LocalLimiter, TokenBucket
from llmsync.testing import Reply
from tests.conftest import timed, wait_until

MODEL = "openai/gpt-4o-mini"
ITEMS = [{"model": MODEL, "prompt": f"p{n}"} for n in range(3)]
PROMPT = 1.5  # "within about a second", with room for a loaded 2-core machine


def in_thread(call):
    """Run ``call`` in a thread; a list that gets ``timed(call)`` when it ends."""
    outcome = []
    thread = threading.Thread(target=lambda: outcome.append(timed(call)), daemon=True)
    thread.start()
    return thread, outcome


def close_mid_batch(server, client, items):
    """Run ``client.batch(items)`` (2 workers, 1 request a minute) in a thread, close the
    client once the first request was answered; the results, and seconds from the close
    to the batch's end."""
    thread, outcome = in_thread(lambda: list(client.batch(items, max_workers=2, requests_per_minute=1)))
    assert wait_until(lambda: len(server.requests) == 1)
    time.sleep(0.2)
    closed_at = time.monotonic()
    client.close()
    thread.join(5)
    assert not thread.is_alive(), "the batch outlived Client.close()"
    return outcome[0][0], time.monotonic() - closed_at


class TestWaitingForATurn:
    def test_a_cancel_ends_the_batch_and_sends_nothing_more(self, server):
        server.default = Reply(text="ok")
        cancel = Cancel()
        results = []

        def consume():
            for result in server.client().batch(ITEMS, max_workers=2, requests_per_minute=1, cancel=cancel):
                results.append(result)

        thread, outcome = in_thread(consume)
        assert wait_until(lambda: results), "the first item did not finish"
        time.sleep(0.2)  # the others are waiting for their turn
        cancel.cancel()
        thread.join(5)
        error, seconds = outcome[0]
        assert isinstance(error, CancelledError) and "batch was cancelled" in str(error)
        assert seconds < 0.2 + PROMPT + 1.0  # setup and the first item included
        assert [r.ok for r in results] == [True]
        assert len(server.requests) == 1

    def test_the_cancel_is_prompt(self, server):
        server.default = Reply(text="ok")
        cancel = Cancel()
        client = server.client()
        client.generate(MODEL, "warm up")  # the batch's first request is then quick too
        batch = client.batch(ITEMS, max_workers=2, requests_per_minute=1, cancel=cancel)
        assert next(batch).ok
        threading.Timer(0.3, cancel.cancel).start()
        error, seconds = timed(lambda: list(batch))
        assert isinstance(error, CancelledError) and seconds < 0.3 + PROMPT
        assert len(server.requests) == 2

    def test_client_close_ends_the_waiting_items_with_cancelled_error(self, server):
        server.default = Reply(text="ok")
        client = server.client()
        items = ITEMS[:2]
        results, seconds = close_mid_batch(server, client, items)
        assert seconds < PROMPT
        by_index = {r.index: r for r in results}
        assert by_index[0].ok
        error = by_index[1].error
        assert isinstance(error, CancelledError) and error.message == "the client was closed"
        assert error.provider == "openai"
        assert len(server.requests) == 1

    @pytest.mark.parametrize("how", ["hooks", "fallback chain"])
    def test_client_close_reaches_an_item_whose_exchange_is_wrapped(self, server, how):
        class Errors:
            def __init__(self):
                self.seen = []

            def on_error(self, error):
                self.seen.append(error)

        hook = Errors()
        server.default = Reply(text="ok")
        client = server.client(hooks=[hook]) if how == "hooks" else server.client()
        model = MODEL if how == "hooks" else [MODEL, "openai/gpt-4o"]
        items = [{"model": model, "prompt": "a"}, {"model": model, "prompt": "b"}]
        results, seconds = close_mid_batch(server, client, items)
        assert seconds < PROMPT
        [error] = [r.error for r in results if not r.ok]
        assert isinstance(error, CancelledError) and error.message == "the client was closed"
        assert len(server.requests) == 1, "the fallback chain tried its next model"
        if how == "hooks":
            assert hook.seen == [error]

    def test_leaving_the_loop_early_does_not_wait_for_the_waiting_items(self, server):
        server.default = Reply(text="ok")

        def first_only():
            for result in server.client().batch(ITEMS, max_workers=2, requests_per_minute=1):
                return result

        result, seconds = timed(first_only)
        assert result.ok and seconds < PROMPT
        time.sleep(0.2)
        assert len(server.requests) == 1

    def test_a_cancel_reaches_an_item_waiting_out_a_429_pause(self, server):
        # One worker's 429 pauses all: the third item, started when the second is done,
        # waits in the limiter's shared pause. The 429 comes late enough for the second
        # item's request to go out first, and before the second item is answered.
        server.add(Reply.error(429, "slow down", headers={"Retry-After": "20"}, delay_before=0.4))
        server.default = Reply(text="ok", delay_before=0.8)
        cancel = Cancel()
        client = server.client(retry=llmsync.RetryPolicy(max_retries=2, max_delay=30.0))
        batch = client.batch(ITEMS, max_workers=2, requests_per_minute=6000, cancel=cancel)
        threading.Timer(1.0, cancel.cancel).start()
        error, seconds = timed(lambda: list(batch))
        assert isinstance(error, CancelledError) and seconds < 1.0 + PROMPT
        assert len(server.requests) == 2


class TestUsersOwnLimiter:
    def test_a_limiter_without_stop_still_runs_the_batch(self, server):
        server.default = Reply(text="ok")

        class Counting:
            def __init__(self):
                self.acquired = []

            def acquire(self, tokens):
                self.acquired.append(tokens)

            def settle(self, estimated, used):
                pass

            def pause(self, seconds):
                pass

        limiter = Counting()
        results = list(server.client().batch(ITEMS, limiter=limiter))
        assert all(r.ok for r in results) and len(limiter.acquired) == 3

    def test_a_limiter_taking_keywords_is_given_the_stop_event(self, server):
        server.default = Reply(text="ok")
        stops = []

        class Keywords:
            def acquire(self, tokens, **options):
                stops.append(options.get("stop"))

            def settle(self, estimated, used):
                pass

            def pause(self, seconds):
                pass

        assert all(r.ok for r in server.client().batch(ITEMS[:1], limiter=Keywords()))
        assert len(stops) == 1 and isinstance(stops[0], threading.Event) and not stops[0].is_set()

    def test_its_own_cancelled_error_is_an_item_error_not_a_stop(self, server):
        class Refusing:
            def acquire(self, tokens, stop=None):
                raise CancelledError("quota gone")

            def settle(self, estimated, used):
                pass

            def pause(self, seconds):
                pass

        [result] = list(server.client().batch(ITEMS[:1], limiter=Refusing()))
        assert isinstance(result.error, CancelledError) and result.error.message == "quota gone"
        assert server.requests == []


class TestLocalLimiterStop:
    def frozen(self, requests_per_minute=None, tokens_per_minute=None):
        """A limiter whose buckets' clock stands still: nothing refills while a test waits."""
        limiter = LocalLimiter()
        if requests_per_minute:
            limiter.requests = TokenBucket(requests_per_minute, clock=lambda: 0.0)
        if tokens_per_minute:
            limiter.tokens = TokenBucket(tokens_per_minute, clock=lambda: 0.0)
        return limiter

    def test_a_stop_already_set_takes_nothing(self):
        limiter = self.frozen(requests_per_minute=600, tokens_per_minute=6000)
        stop = threading.Event()
        stop.set()
        with pytest.raises(CancelledError, match="waiting for a turn"):
            limiter.acquire(10, stop=stop)
        assert (limiter.requests._tokens, limiter.tokens._tokens) == (10.0, 100.0)

    def test_a_stop_during_the_token_wait_gives_the_request_back(self):
        limiter = self.frozen(requests_per_minute=600, tokens_per_minute=60)  # 10 requests, 1 token
        limiter.acquire(1)
        stop = threading.Event()
        threading.Timer(0.1, stop.set).start()
        started = time.monotonic()
        with pytest.raises(CancelledError):
            limiter.acquire(1, stop=stop)  # a request is there, a token is not: ever, here
        assert time.monotonic() - started < 1.0
        assert limiter.requests._tokens == 9.0, "the request taken for the cancelled call was not given back"
        assert limiter.tokens._tokens == 0.0

    def test_a_stop_during_the_request_wait_takes_nothing(self):
        limiter = self.frozen(requests_per_minute=1, tokens_per_minute=6000)
        limiter.acquire(10)
        stop = threading.Event()
        threading.Timer(0.1, stop.set).start()
        with pytest.raises(CancelledError):
            limiter.acquire(10, stop=stop)
        assert (limiter.requests._tokens, limiter.tokens._tokens) == (0.0, 90.0)

    def test_a_stop_ends_a_shared_pause(self):
        limiter = LocalLimiter(requests_per_minute=600)
        limiter.pause(30.0)
        stop = threading.Event()
        threading.Timer(0.1, stop.set).start()
        error, seconds = timed(lambda: limiter.acquire(1, stop=stop))
        assert isinstance(error, CancelledError) and seconds < 1.0

    def test_without_a_stop_the_wait_is_unchanged(self):
        limiter = LocalLimiter(requests_per_minute=600)  # 10 a second, a bucket of 10
        for _ in range(10):
            limiter.acquire(1)
        _, seconds = timed(lambda: limiter.acquire(1))
        assert 0.05 < seconds < 0.5

    def test_give_back_never_fills_the_bucket_beyond_its_size(self):
        bucket = TokenBucket(600, clock=lambda: 0.0)
        bucket.take(1)
        bucket.give_back(5)
        assert bucket._tokens == bucket.capacity == 10.0

    def test_a_stop_that_is_not_an_event_is_refused(self):
        with pytest.raises(llmsync.InvalidRequestError, match="threading.Event"):
            LocalLimiter(requests_per_minute=60).acquire(1, stop=Cancel())


def test_client_close_ends_items_not_yet_started_too(server):
    # Five items on two workers: three are queued when the client closes; none may wait
    # out a rate-limit turn on the still usable client.
    server.default = Reply(text="ok")
    client = server.client()
    items = [{"model": MODEL, "prompt": f"p{n}"} for n in range(5)]
    results, seconds = close_mid_batch(server, client, items)
    assert seconds < PROMPT
    errors = sorted((r.index, r.error.message) for r in results if not r.ok)
    assert errors == [(n, "the client was closed") for n in range(1, 5)]
    assert len(server.requests) == 1
