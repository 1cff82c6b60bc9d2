"""Streams: closing from anywhere, deadlines, and what a broken stream keeps."""
import dataclasses
import threading
import time

import pytest

import llmsync
from llmsync.testing import Reply
from tests.conftest import wait_until


def with_read_timeouts(policy):
    return dataclasses.replace(policy, retry_on=policy.retry_on | {llmsync.RetryCondition.READ_TIMEOUT})


def test_close_from_another_thread_wakes_a_blocked_read(client, server):
    server.add(Reply(text="first-piece and then a long wait", chunk_size=11, stall_after=2, stall=30))
    stream = client.stream("openai/gpt-4o-mini", "Hi")
    events, finished = [], threading.Event()

    def consume():
        for event in stream:
            events.append(event)
        finished.set()

    reader = threading.Thread(target=consume)
    reader.start()
    assert wait_until(lambda: events)
    stream.close()
    reader.join(5)
    assert finished.is_set(), "the iteration ended quietly after close()"
    assert stream.response.content == "first-piece"
    server.add(Reply(text="next"))
    assert client.generate("openai/gpt-4o-mini", "Hi").content == "next"  # the client goes on


def test_the_request_is_sent_when_iteration_starts(client, server):
    stream = client.stream("openai/gpt-4o-mini", "Hi")
    assert server.requests == []
    with stream:
        list(stream)
    assert len(server.requests) == 1


def test_validation_errors_still_raise_at_the_call(client, server):
    with pytest.raises(llmsync.InvalidRequestError):
        client.stream("openai/gpt-4o-mini", [llmsync.Message("tool", "no id")])


def test_close_during_the_wait_for_the_first_event_ends_the_stream(client, server):
    """A cancel button must work while a reasoning model thinks before its first token."""
    server.add(Reply(text="late", stall_after=0, stall=30))
    stream = client.stream("openai/gpt-4o-mini", "Hi")
    events, finished = [], threading.Event()

    def consume():
        events.extend(stream)
        finished.set()

    reader = threading.Thread(target=consume, daemon=True)
    reader.start()
    assert wait_until(lambda: len(server.requests) == 1)
    time.sleep(0.1)  # let the reader block waiting for the first event
    stream.close()
    assert finished.wait(5), "close() did not end the wait for the first event"
    assert events == [] and len(server.requests) == 1  # ended quietly, not retried


def test_close_is_idempotent(client, server):
    stream = client.stream("openai/gpt-4o-mini", "Hi")
    stream.close()
    stream.close()
    assert list(stream) == []


def test_leaving_the_with_block_early_frees_the_connection(client, server):
    server.add(Reply(text="x" * 200, chunk_size=1, delay_between=0.01))
    with client.stream("openai/gpt-4o-mini", "Hi") as stream:
        next(iter(stream))
    assert wait_until(lambda: server.open_connections == 0)


def test_breaking_out_of_a_for_loop_frees_the_connection(client, server):
    server.add(Reply(text="x" * 200, chunk_size=1, delay_between=0.01))
    for _event in client.stream("openai/gpt-4o-mini", "Hi"):
        break
    assert wait_until(lambda: server.open_connections == 0)


def test_a_completed_stream_returns_its_connection_to_the_pool(client, server):
    for _ in range(3):
        with client.stream("openai/gpt-4o-mini", "Hi") as stream:
            list(stream)
    assert server.connections_opened == 1


def test_stall_before_the_first_byte_is_a_timeout_not_retried(server, fast_retry):
    server.add(Reply(text="slow", delay_before=1.0), Reply(text="fast"))
    client = server.client(retry=fast_retry, timeout=(1.0, 0.2))
    with pytest.raises(llmsync.TimeoutError) as info:
        with client.stream("openai/gpt-4o-mini", "Hi") as stream:
            list(stream)
    assert info.value.request_sent and len(server.requests) == 1


def test_stall_before_the_first_byte_is_retried_when_read_timeouts_are(server, fast_retry):
    server.add(Reply(text="slow", delay_before=1.0), Reply(text="fast"))
    client = server.client(retry=with_read_timeouts(fast_retry), timeout=(1.0, 0.2))
    with client.stream("openai/gpt-4o-mini", "Hi") as stream:
        list(stream)
    assert stream.response.content == "fast" and len(server.requests) == 2


def test_stall_after_events_is_a_timeout_with_the_partial_kept(server, fast_retry):
    server.add(Reply(text="abcdef", chunk_size=3, stall_after=2, stall=1.0))
    client = server.client(retry=fast_retry, timeout=(1.0, 0.2))
    with pytest.raises(llmsync.TimeoutError) as info:
        list(client.stream("openai/gpt-4o-mini", "Hi"))
    assert info.value.partial.content == "abc"
    assert len(server.requests) == 1


def test_first_token_deadline_is_retried_when_read_timeouts_are(server, fast_retry):
    server.add(Reply(text="late", delay_before=0.6), Reply(text="on time"))
    client = server.client(retry=with_read_timeouts(fast_retry), first_token_timeout=0.2)
    with client.stream("openai/gpt-4o-mini", "Hi") as stream:
        list(stream)
    assert stream.response.content == "on time"


def test_first_token_deadline_exhausted_is_a_timeout_error(server):
    server.default = Reply(text="late", delay_before=0.5)
    client = server.client(retry=with_read_timeouts(llmsync.RetryPolicy(max_retries=1, base_delay=0.001)),
                           first_token_timeout=0.1)
    with pytest.raises(llmsync.TimeoutError, match="first event") as info:
        list(client.stream("openai/gpt-4o-mini", "Hi"))
    assert info.value.attempts == 2


def test_total_deadline_ends_a_trickling_stream(server):
    server.add(Reply(text="x" * 100, chunk_size=1, delay_between=0.05))
    client = server.client(total_timeout=0.3)
    with pytest.raises(llmsync.TimeoutError, match="complete reply") as info:
        list(client.stream("openai/gpt-4o-mini", "Hi"))
    assert 0 < len(info.value.partial.content) < 100


def test_total_deadline_applies_to_generate(server):
    server.add(Reply(text="x", delay_before=2.0))
    client = server.client(total_timeout=0.3, retry=llmsync.RetryPolicy.none())
    with pytest.raises(llmsync.TimeoutError):
        client.generate("openai/gpt-4o-mini", "Hi")


def test_a_timeout_after_events_is_not_marked_retryable(server, fast_retry):
    server.add(Reply(text="abcdef", chunk_size=3, stall_after=2, stall=5.0))
    client = server.client(retry=fast_retry, timeout=(1.0, 0.2))
    with pytest.raises(llmsync.TimeoutError) as info:
        list(client.stream("openai/gpt-4o-mini", "Hi"))
    assert info.value.retryable is False  # the caller already has "abc"
