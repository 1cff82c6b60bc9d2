"""Retries: which failures, how often, how long to wait, and never after an event."""
import random

import pytest

import llmsync
from llmsync import ProviderError, RateLimitError, RetryCondition, RetryPolicy
from llmsync.retry import call_with_retry, condition_of, delays
from llmsync.testing import Reply


@pytest.fixture
def slept(monkeypatch):
    """The delays the retry engine would have slept, without sleeping."""
    waited = []
    monkeypatch.setattr("llmsync.retry.wait", lambda seconds, stop=None: waited.append(seconds))
    return waited


class TestDelays:
    def test_retry_after_wins_and_is_capped_by_max_delay(self):
        next_delay = delays(RetryPolicy(base_delay=1.0, max_delay=5.0))
        assert next_delay(RateLimitError("x", retry_after=2.5)) == 2.5
        assert next_delay(RateLimitError("x", retry_after=60)) == 5.0

    def test_full_jitter_stays_within_the_exponential_cap(self):
        random.seed(7)
        next_delay = delays(RetryPolicy(base_delay=1.0, max_delay=6.0))
        waited = [next_delay(ProviderError("x", retryable=True)) for _ in range(6)]
        caps = [1, 2, 4, 6, 6, 6]
        assert all(0 <= d <= cap for d, cap in zip(waited, caps))
        assert len(set(waited)) == len(waited)  # jittered, not fixed


class TestConditions:
    def test_a_failure_before_the_request_was_sent_is_a_connection_error(self):
        assert condition_of(llmsync.NetworkError("refused")) is RetryCondition.CONNECTION_ERROR
        assert condition_of(llmsync.TimeoutError("connect")) is RetryCondition.TIMEOUT

    def test_a_failure_after_the_request_was_sent_is_a_read_timeout(self):
        assert condition_of(llmsync.NetworkError("dropped", sent=True)) is RetryCondition.READ_TIMEOUT
        assert condition_of(llmsync.TimeoutError("read", sent=True)) is RetryCondition.READ_TIMEOUT

    def test_read_timeout_is_not_retried_by_default(self):
        assert RetryCondition.READ_TIMEOUT not in RetryPolicy().retry_on

    @pytest.mark.parametrize("bad", [dict(max_retries=-1), dict(base_delay=-0.5), dict(max_delay=-1),
                                     dict(max_retries=1.5), dict(retry_on={"sometimes"}), dict(retry_on="rate_limit")])
    def test_a_malformed_policy_is_refused_at_construction(self, bad):
        with pytest.raises(llmsync.InvalidRequestError):
            RetryPolicy(**bad)

    def test_conditions_may_be_given_by_value(self):
        assert RetryPolicy(retry_on={"read_timeout"}).retry_on == {RetryCondition.READ_TIMEOUT}


class TestCallWithRetry:
    def test_retries_until_success_and_counts_attempts(self, slept):
        outcomes = [ProviderError("a", retryable=True), ProviderError("b", retryable=True), "ok"]

        def attempt():
            outcome = outcomes.pop(0)
            if isinstance(outcome, Exception):
                raise outcome
            return outcome

        assert call_with_retry(attempt, RetryPolicy(max_retries=3)) == "ok"
        assert len(slept) == 2

    def test_gives_up_after_max_retries_with_attempts_on_the_error(self, slept):
        def attempt():
            raise ProviderError("down", retryable=True)

        with pytest.raises(ProviderError) as info:
            call_with_retry(attempt, RetryPolicy(max_retries=2))
        assert info.value.attempts == 3 and len(slept) == 2

    def test_non_retryable_errors_are_raised_at_once(self, slept):
        def attempt():
            raise llmsync.InvalidRequestError("bad")

        with pytest.raises(llmsync.InvalidRequestError):
            call_with_retry(attempt, RetryPolicy(max_retries=5))
        assert slept == []

    def test_conditions_not_in_retry_on_are_not_retried(self, slept):
        def attempt():
            raise RateLimitError("429")

        policy = RetryPolicy(max_retries=5, retry_on=frozenset({RetryCondition.SERVER_ERROR}))
        with pytest.raises(RateLimitError) as info:
            call_with_retry(attempt, policy)
        assert info.value.attempts == 1


class TestOverHttp:
    @pytest.mark.parametrize("status", [408, 409, 429, 500, 502, 503, 529])
    def test_retryable_statuses_then_success(self, server, slept, status):
        server.add(Reply.error(status), Reply.error(status), Reply(text="finally"))
        client = server.client(retry=RetryPolicy(max_retries=3))
        assert client.generate("openai/gpt-4o-mini", "Hi").content == "finally"
        assert len(server.requests) == 3 and len(slept) == 2

    @pytest.mark.parametrize("status", [400, 401, 403, 404, 422])
    def test_client_errors_are_not_retried(self, server, slept, status):
        server.add(Reply.error(status, "no"))
        with pytest.raises(llmsync.LLMError) as info:
            server.client().generate("openai/gpt-4o-mini", "Hi")
        assert info.value.status == status and info.value.attempts == 1 and len(server.requests) == 1

    def test_retry_after_header_is_honoured_and_capped(self, server, slept):
        server.add(Reply.error(429, headers={"Retry-After": "3"}), Reply.error(429, headers={"Retry-After": "99"}),
                   Reply(text="ok"))
        server.client(retry=RetryPolicy(max_retries=3, max_delay=10)).generate("openai/gpt-4o-mini", "Hi")
        assert slept == [3.0, 10.0]

    def test_retry_after_ms_wins_over_retry_after(self, server, slept):
        server.add(Reply.error(503, headers={"retry-after-ms": "250", "Retry-After": "9"}), Reply(text="ok"))
        server.client().generate("openai/gpt-4o-mini", "Hi")
        assert slept == [0.25]

    def test_x_should_retry_false_stops_a_retryable_status(self, server, slept):
        server.add(Reply.error(503, headers={"x-should-retry": "false"}))
        with pytest.raises(ProviderError):
            server.client().generate("openai/gpt-4o-mini", "Hi")
        assert len(server.requests) == 1

    def test_x_should_retry_true_retries_a_conflict(self, server, slept):
        server.add(Reply.error(400, headers={"x-should-retry": "true"}), Reply(text="ok"))
        assert server.client().generate("openai/gpt-4o-mini", "Hi").content == "ok"

    def test_a_stream_dropped_before_its_first_event_is_not_retried_by_default(self, server, slept):
        # The request was sent: the provider may be generating (and billing) it.
        server.add(Reply(text="lost", disconnect_after=0), Reply(text="second try"))
        with pytest.raises(llmsync.NetworkError) as info:
            with server.client().stream("openai/gpt-4o-mini", "Hi") as stream:
                list(stream)
        assert info.value.request_sent and len(server.requests) == 1

    def test_a_stream_dropped_before_its_first_event_is_retried_when_asked(self, server, slept):
        server.add(Reply(text="lost", disconnect_after=0), Reply(text="second try"))
        policy = RetryPolicy(retry_on=RetryPolicy().retry_on | {RetryCondition.READ_TIMEOUT})
        with server.client(retry=policy).stream("openai/gpt-4o-mini", "Hi") as stream:
            text = "".join(e.text for e in stream if isinstance(e, llmsync.TextDelta))
        assert text == "second try" and len(server.requests) == 2

    def test_a_stream_that_fails_after_an_event_is_not_retried(self, server, slept):
        server.add(Reply(text="abcdefghijkl", chunk_size=4, disconnect_after=3), Reply(text="never"))
        seen = []
        with pytest.raises(llmsync.StreamError) as info:
            for event in server.client().stream("openai/gpt-4o-mini", "Hi"):
                seen.append(event)
        assert len(server.requests) == 1
        assert info.value.partial.content == "".join(e.text for e in seen if isinstance(e, llmsync.TextDelta))
