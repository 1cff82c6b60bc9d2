"""Network faults, for every provider wire format, against a real loopback server.

Each test scripts a fault on ``FakeServer`` and checks what the caller sees: an
``llmsync.LLMError`` (never a foreign exception), the exact retry count, no hang, and
no lost or duplicated event.
"""
import email.utils
import time

import pytest

import llmsync
from llmsync.errors import NetworkError, ProviderError, RateLimitError, StreamError
from llmsync.events import Completed, ReasoningDelta, ToolCallDelta, ToolCallStart
from llmsync.testing import FakeServer, Reply
from llmsync.types import ToolCall
from tests.conftest import (each_format, fast_client, first_text_position, parsed, sse_events, text_of, wait_until,
                            wire_events)

TEXT = "Hello there, this reply is long enough to take several events."
UNICODE_TEXT = "café, 日本語, naïve 😀🎉 — done"


def collect(stream):
    delivered = []
    with stream:
        for event in stream:
            delivered.append(event)
    return delivered


@pytest.fixture
def sleeps(monkeypatch):
    """The delays the retry engine would have slept, recorded instead of slept."""
    delays = []
    monkeypatch.setattr("llmsync.retry.wait", lambda seconds, stop=None: delays.append(seconds))
    return delays


READ_TIMEOUT_TOO = llmsync.RetryPolicy(max_retries=3, base_delay=0.001, max_delay=0.01,
                                       retry_on=llmsync.RetryPolicy().retry_on | {llmsync.RetryCondition.READ_TIMEOUT})


# -- disconnects ------------------------------------------------------------------------------


def summary(events):
    """(text, reasoning, tool-call arguments) the caller can rebuild from ``events``."""
    calls = {}
    for event in events:
        if isinstance(event, ToolCallStart):
            calls[event.index] = ""
        elif isinstance(event, ToolCallDelta):
            calls[event.index] += event.arguments
    reasoning = "".join(e.text for e in events if isinstance(e, ReasoningDelta))
    return text_of(events), reasoning, [calls[i] or "{}" for i in sorted(calls)]


def summary_of_response(response):
    return (response.content or "", response.reasoning or "",
            [call.arguments for call in response.tool_calls])


def mixed_reply(**faults):
    return Reply(text=TEXT, reasoning="Thinking it over.", chunk_size=9,
                 tool_calls=[ToolCall("call_1", "lookup", '{"city": "Paris", "unit": "C"}')], **faults)


@pytest.mark.parametrize("make_reply", [lambda **f: Reply(text=TEXT, chunk_size=9, **f), mixed_reply],
                         ids=["text", "reasoning-and-tools"])
@pytest.mark.parametrize("model", each_format())
def test_disconnect_at_every_event_position_keeps_exactly_what_arrived(server, client, model, make_reply):
    events = wire_events(model, make_reply())
    server.default = Reply(text="retried")
    for cut in range(len(events) + 1):
        server.requests.clear()
        server.add(make_reply(disconnect_after=cut))
        expected = summary(parsed(model, events[:cut]))
        delivered = []
        try:
            with client.stream(model, "hi") as stream:
                for event in stream:
                    delivered.append(event)
        except (NetworkError, StreamError) as error:
            # Dropped after the request was sent: never retried by default, since the
            # provider may be generating (and billing) it.
            assert cut < len(events), "a complete stream must not fail"
            assert len(server.requests) == 1, "a stream dropped after sending is not retried by default"
            assert summary(delivered) == expected
            assert summary_of_response(error.partial) == expected
            if not delivered:
                assert not isinstance(error, StreamError) and error.request_sent
            else:
                assert isinstance(error, StreamError)
            continue
        assert cut == len(events), f"cut {cut}: the stream was cut, yet it completed"
        assert isinstance(delivered[-1], Completed)
        assert summary(delivered) == summary_of_response(delivered[-1].response)
        assert text_of(delivered) == TEXT and len(server.requests) == 1


@pytest.mark.parametrize("model", each_format())
def test_disconnect_before_first_event_without_retries_is_a_network_error(server, model):
    server.add(Reply(text=TEXT, disconnect_after=0))
    with fast_client(server, retry=llmsync.RetryPolicy.none()) as client:
        with pytest.raises(NetworkError) as caught:
            collect(client.stream(model, "hi"))
    assert not isinstance(caught.value, StreamError)
    assert caught.value.attempts == 1 and len(server.requests) == 1


@pytest.mark.parametrize("model", each_format())
def test_disconnect_during_a_whole_body_is_not_retried(server, client, model):
    server.add(Reply(text="lost", disconnect_after=0), Reply(text="whole"))
    with pytest.raises(NetworkError) as caught:
        client.generate(model, "hi")
    assert caught.value.request_sent and caught.value.attempts == 1
    assert len(server.requests) == 1, "the provider may have generated (and billed) the first"


@pytest.mark.parametrize("model", each_format())
def test_disconnect_during_a_whole_body_is_retried_when_read_timeouts_are(server, model):
    server.add(Reply(text="lost", disconnect_after=0), Reply(text="whole"))
    with fast_client(server, retry=READ_TIMEOUT_TOO) as client:
        assert client.generate(model, "hi").content == "whole"
    assert len(server.requests) == 2


# -- stalls -----------------------------------------------------------------------------------


@pytest.mark.parametrize("stream", [True, False], ids=["stream", "generate"])
@pytest.mark.parametrize("model", each_format())
def test_stall_before_first_byte_longer_than_read_timeout_is_not_retried(server, model, stream):
    server.add(Reply(text="slow", delay_before=1.0), Reply(text="fast"))
    with fast_client(server, timeout=(1.0, 0.2)) as client:
        with pytest.raises(llmsync.TimeoutError) as caught:
            if stream:
                collect(client.stream(model, "hi"))
            else:
                client.generate(model, "hi")
    assert caught.value.request_sent and caught.value.attempts == 1
    assert len(server.requests) == 1, "a stalled request must not be sent again (billed twice)"


@pytest.mark.parametrize("stream", [True, False], ids=["stream", "generate"])
@pytest.mark.parametrize("model", each_format())
def test_stall_before_first_byte_is_retried_when_read_timeouts_are(server, model, stream):
    server.add(Reply(text="slow", delay_before=5.0), Reply(text="fast"))
    with fast_client(server, timeout=(1.0, 0.2), retry=READ_TIMEOUT_TOO) as client:
        started = time.monotonic()
        if stream:
            delivered = collect(client.stream(model, "hi"))
            content = delivered[-1].response.content
        else:
            content = client.generate(model, "hi").content
    assert content == "fast"
    assert len(server.requests) == 2
    assert time.monotonic() - started < 4.0, "it waited for the stalled reply instead of retrying"


@pytest.mark.parametrize("model", each_format())
def test_stall_before_first_byte_without_retries_raises_timeout(server, model):
    server.add(Reply(text="slow", delay_before=0.6))
    with fast_client(server, timeout=(1.0, 0.2), retry=llmsync.RetryPolicy.none()) as client:
        with pytest.raises(llmsync.TimeoutError) as caught:
            client.generate(model, "hi")
    assert isinstance(caught.value, TimeoutError)  # the builtin too
    assert caught.value.attempts == 1


@pytest.mark.parametrize("model", each_format())
def test_stall_after_events_raises_timeout_with_partial_and_no_retry(server, model):
    at = first_text_position(model, Reply(text=TEXT, chunk_size=9))
    server.add(Reply(text=TEXT, chunk_size=9, stall_after=at, stall=10.0))
    with fast_client(server, timeout=(1.0, 0.2)) as client:
        delivered = []
        started = time.monotonic()
        with pytest.raises(llmsync.TimeoutError) as caught:
            with client.stream(model, "hi") as stream:
                for event in stream:
                    delivered.append(event)
    assert time.monotonic() - started < 8.0, "it waited out the stall instead of timing out"
    assert text_of(delivered) and TEXT.startswith(text_of(delivered))
    assert caught.value.partial.content == text_of(delivered)
    assert len(server.requests) == 1


# -- a stream that is not chunked (an HTTP/1.0 proxy) -----------------------------------------


@pytest.mark.parametrize("gzip", [False, True], ids=["plain", "gzip"])
@pytest.mark.parametrize("model", each_format())
def test_an_unchunked_stream_is_delivered_as_it_arrives(server, client, model, gzip):
    at = first_text_position(model, Reply(text=TEXT, chunk_size=9))
    server.add(Reply(text=TEXT, chunk_size=9, unchunked=True, gzip=gzip, stall_after=at, stall=30.0))
    started = time.monotonic()
    with client.stream(model, "hi") as stream:
        for event in stream:
            if text_of([event]):
                break
    assert time.monotonic() - started < 10.0, "the first text waited for the end of the body"
    assert TEXT.startswith(event.text)


@pytest.mark.parametrize("model", each_format())
def test_an_unchunked_stream_ends_when_the_connection_closes(server, client, model):
    server.add(Reply(text=UNICODE_TEXT, chunk_size=3, split_bytes=5, unchunked=True))
    delivered = collect(client.stream(model, "hi"))
    assert text_of(delivered) == UNICODE_TEXT
    assert delivered[-1].response.content == UNICODE_TEXT


@pytest.mark.parametrize("model", each_format())
def test_an_unchunked_stream_that_stalls_times_out_with_what_arrived(server, model):
    at = first_text_position(model, Reply(text=TEXT, chunk_size=9))
    server.add(Reply(text=TEXT, chunk_size=9, unchunked=True, stall_after=at, stall=10.0))
    delivered = []
    with fast_client(server, timeout=(1.0, 0.2)) as client:
        with pytest.raises(llmsync.TimeoutError) as caught:
            with client.stream(model, "hi") as stream:
                for event in stream:
                    delivered.append(event)
    assert text_of(delivered) and caught.value.partial.content == text_of(delivered)
    assert caught.value.__cause__ is not None and "llmsync" not in type(caught.value.__cause__).__module__


# -- rate limits and retry delays -------------------------------------------------------------


@pytest.mark.parametrize("model", each_format())
def test_retry_after_seconds_is_honoured(server, sleeps, model):
    server.add(Reply.error(429, "slow down", headers={"Retry-After": "7"}), Reply(text="ok"))
    with fast_client(server, retry=llmsync.RetryPolicy(max_retries=3, max_delay=30.0)) as client:
        assert client.generate(model, "hi").content == "ok"
    assert sleeps == [7.0]
    assert len(server.requests) == 2


@pytest.mark.parametrize("model", each_format())
def test_retry_after_is_capped_by_max_delay(server, sleeps, model):
    server.add(Reply.error(429, "slow down", headers={"Retry-After": "120"}), Reply(text="ok"))
    with fast_client(server, retry=llmsync.RetryPolicy(max_retries=3, max_delay=2.5)) as client:
        collect(client.stream(model, "hi"))
    assert sleeps == [2.5]


def test_retry_after_ms_wins_over_retry_after(server, sleeps):
    server.add(Reply.error(429, headers={"retry-after-ms": "1500", "Retry-After": "9"}), Reply(text="ok"))
    with fast_client(server, retry=llmsync.RetryPolicy(max_delay=30.0)) as client:
        client.generate("openai/gpt-4o-mini", "hi")
    assert sleeps == [1.5]


def test_retry_after_as_an_http_date_is_honoured(server, sleeps):
    when = email.utils.formatdate(time.time() + 20, usegmt=True)
    server.add(Reply.error(429, headers={"Retry-After": when}), Reply(text="ok"))
    with fast_client(server, retry=llmsync.RetryPolicy(max_delay=60.0)) as client:
        client.generate("openai/gpt-4o-mini", "hi")
    assert len(sleeps) == 1 and 15.0 < sleeps[0] <= 20.5


@pytest.mark.parametrize("model", each_format())
def test_rate_limit_exhausting_retries_reports_attempts_and_retry_after(server, sleeps, model):
    server.add(*[Reply.error(429, "slow down", headers={"Retry-After": "3"}) for _ in range(4)])
    with fast_client(server, retry=llmsync.RetryPolicy(max_retries=3, max_delay=30.0)) as client:
        with pytest.raises(RateLimitError) as caught:
            client.generate(model, "hi")
    assert caught.value.attempts == 4 and caught.value.retry_after == 3.0
    assert caught.value.status == 429
    assert len(server.requests) == 4 and sleeps == [3.0, 3.0, 3.0]


def test_backoff_without_retry_after_is_full_jitter_capped_by_max_delay(server, sleeps, monkeypatch):
    bounds = []

    def uniform(low, high):
        bounds.append((low, high))
        return high

    monkeypatch.setattr("random.uniform", uniform)  # what backoff.full_jitter draws with
    server.add(*[Reply.error(500) for _ in range(4)], Reply(text="ok"))
    with fast_client(server, retry=llmsync.RetryPolicy(max_retries=4, base_delay=1.0, max_delay=3.0)) as client:
        client.generate("openai/gpt-4o-mini", "hi")
    assert bounds == [(0, 1.0), (0, 2.0), (0, 3.0), (0, 3.0)]
    assert sleeps == [1.0, 2.0, 3.0, 3.0]


def test_x_should_retry_false_stops_a_retryable_status(server, sleeps):
    server.add(Reply.error(503, headers={"x-should-retry": "false"}), Reply(text="ok"))
    with fast_client(server) as client:
        with pytest.raises(ProviderError) as caught:
            client.generate("openai/gpt-4o-mini", "hi")
    assert caught.value.status == 503 and len(server.requests) == 1 and sleeps == []


def test_x_should_retry_true_retries_a_client_error(server, sleeps):
    retry = {"x-should-retry": "true"}
    server.add(Reply.error(409, headers=retry), Reply.error(400, headers=retry), Reply(text="ok"))
    with fast_client(server) as client:
        assert client.generate("openai/gpt-4o-mini", "hi").content == "ok"
    assert len(server.requests) == 3 and len(sleeps) == 2


# -- server errors ----------------------------------------------------------------------------

BURST = (500, 502, 503, 529)


@pytest.mark.parametrize("stream", [True, False], ids=["stream", "generate"])
@pytest.mark.parametrize("model", each_format())
def test_burst_of_server_errors_then_success_retries_exactly(server, sleeps, model, stream):
    server.add(*[Reply.error(status, f"boom {status}") for status in BURST], Reply(text="ok"))
    with fast_client(server, retry=llmsync.RetryPolicy(max_retries=4)) as client:
        if stream:
            content = collect(client.stream(model, "hi"))[-1].response.content
        else:
            content = client.generate(model, "hi").content
    assert content == "ok"
    assert len(server.requests) == 5 and len(sleeps) == 4


@pytest.mark.parametrize("model", each_format())
def test_burst_longer_than_retries_raises_the_last_error_with_attempts(server, sleeps, model):
    server.add(*[Reply.error(status, f"boom {status}") for status in BURST], Reply(text="ok"))
    with fast_client(server, retry=llmsync.RetryPolicy(max_retries=3)) as client:
        with pytest.raises(ProviderError) as caught:
            client.generate(model, "hi")
    assert caught.value.status == 529 and "boom 529" in str(caught.value)
    assert caught.value.attempts == 4 and len(server.requests) == 4


HTML = (b"<!DOCTYPE html><html><head><title>502 Bad Gateway</title></head>"
        b"<body><center><h1>502 Bad Gateway</h1></center><hr><center>nginx</center></body></html>")


@pytest.mark.parametrize("model", each_format())
def test_proxy_html_error_page_is_named_as_html(server, model):
    server.add(Reply(status=502, body=HTML, content_type="text/html"))
    with fast_client(server, retry=llmsync.RetryPolicy.none()) as client:
        with pytest.raises(ProviderError) as caught:
            client.generate(model, "hi")
    assert caught.value.status == 502
    assert "HTML" in str(caught.value) and "502 Bad Gateway" in str(caught.value)


@pytest.mark.parametrize("content_type", ["text/html; charset=utf-8", "application/json"],
                         ids=["html", "mislabelled-json"])
@pytest.mark.parametrize("stream", [True, False], ids=["stream", "generate"])
@pytest.mark.parametrize("model", each_format())
def test_html_page_with_status_200_is_named_as_html(server, model, stream, content_type):
    server.add(Reply(body=HTML, content_type=content_type))
    with fast_client(server) as client:
        with pytest.raises(ProviderError) as caught:
            if stream:
                collect(client.stream(model, "hi"))
            else:
                client.generate(model, "hi")
    assert "HTML" in str(caught.value)
    assert len(server.requests) == 1


@pytest.mark.parametrize("model", each_format())
def test_empty_body_is_a_provider_error(server, model):
    server.add(Reply(body=b""))
    with fast_client(server) as client:
        with pytest.raises(ProviderError) as caught:
            client.generate(model, "hi")
    assert "empty body" in str(caught.value)


@pytest.mark.parametrize("content_type", ["text/event-stream", "application/json"])
@pytest.mark.parametrize("model", each_format())
def test_empty_stream_body_is_a_provider_error(server, model, content_type):
    server.add(Reply(body=b"", content_type=content_type))
    with fast_client(server) as client:
        with pytest.raises(ProviderError):
            collect(client.stream(model, "hi"))


# -- encodings and chunking -------------------------------------------------------------------


@pytest.mark.parametrize("stream", [True, False], ids=["stream", "generate"])
@pytest.mark.parametrize("model", each_format())
def test_gzip_encoded_bodies_are_decoded(server, client, model, stream):
    server.add(Reply(text=UNICODE_TEXT, gzip=True, chunk_size=4))
    if stream:
        delivered = collect(client.stream(model, "hi"))
        assert text_of(delivered) == UNICODE_TEXT
        content = delivered[-1].response.content
    else:
        content = client.generate(model, "hi").content
    assert content == UNICODE_TEXT


@pytest.mark.parametrize("stream", [True, False], ids=["stream", "generate"])
@pytest.mark.parametrize("model", each_format())
def test_multibyte_characters_split_across_network_chunks(server, client, model, stream):
    server.add(Reply(text=UNICODE_TEXT, split_bytes=1, chunk_size=3))
    if stream:
        delivered = collect(client.stream(model, "hi"))
        assert text_of(delivered) == UNICODE_TEXT
        expected = parsed(model, wire_events(model, Reply(text=UNICODE_TEXT, chunk_size=3)))
        assert delivered[:-1] == expected[:len(delivered) - 1]  # no lost or altered event
        content = delivered[-1].response.content
    else:
        content = client.generate(model, "hi").content
    assert content == UNICODE_TEXT


@pytest.mark.parametrize("line_end", ["lf", "crlf"])
@pytest.mark.parametrize("model", each_format())
def test_sse_split_at_every_byte_boundary_gives_identical_events(model, line_end):
    reply = Reply(text="é日本😀 ok", reasoning="think é", chunk_size=3)
    body = b"".join(wire_events(model, reply))
    if line_end == "crlf":
        body = body.replace(b"\n", b"\r\n")
    whole = list(sse_events([body]))
    assert len(whole) == len(wire_events(model, reply))
    for split in range(len(body) + 1):
        halves = [body[:split], body[split:]]
        assert list(sse_events(halves)) == whole, f"split at byte {split}"


def test_sse_chopped_into_single_bytes_gives_identical_events():
    body = b"".join(wire_events("openai/gpt-4o-mini", Reply(text=UNICODE_TEXT)))
    whole = list(sse_events([body]))
    single = list(sse_events([body[i:i + 1] for i in range(len(body))]))
    assert single == whole


# -- connection refused -----------------------------------------------------------------------


def test_connection_refused_is_a_retried_network_error(sleeps):
    with FakeServer() as dead:
        url = dead.url
    with llmsync.Client(api_keys={"openai": "k"}, base_urls={"openai": url + "/v1"}, timeout=1.0,
                        retry=llmsync.RetryPolicy(max_retries=2)) as client:
        with pytest.raises(NetworkError) as caught:
            client.generate("openai/gpt-4o-mini", "hi")
    assert caught.value.attempts == 3 and len(sleeps) == 2
    assert "connection failed" in caught.value.message


# -- errors inside a 200 stream ---------------------------------------------------------------

OVERLOADED = b'event: error\ndata: {"type":"error","error":{"type":"overloaded_error","message":"Overloaded"}}\n\n'


def test_in_band_overloaded_error_before_the_first_event_is_retried(server, client):
    server.add(Reply(body=OVERLOADED), Reply(text="ok"))
    delivered = collect(client.stream("anthropic/claude-sonnet-4-5", "hi"))
    assert text_of(delivered) == "ok"
    assert len(server.requests) == 2


def test_in_band_overloaded_error_after_events_is_a_stream_error_with_partial(server, client):
    model = "anthropic/claude-sonnet-4-5"
    events = wire_events(model, Reply(text=TEXT, chunk_size=9))
    cut = first_text_position(model, Reply(text=TEXT, chunk_size=9))
    server.add(Reply(body=b"".join(events[:cut]) + OVERLOADED))
    delivered = []
    with pytest.raises(StreamError) as caught:
        with client.stream(model, "hi") as stream:
            for event in stream:
                delivered.append(event)
    assert "Overloaded" in str(caught.value) and caught.value.error_type == "overloaded_error"
    assert caught.value.partial.content == text_of(delivered) == text_of(parsed(model, events[:cut]))
    assert len(server.requests) == 1


# -- deadlines --------------------------------------------------------------------------------


@pytest.mark.parametrize("model", each_format())
def test_first_token_timeout_before_any_event_is_not_retried(server, model):
    server.add(Reply(text="slow", delay_before=1.0), Reply(text="fast"))
    with fast_client(server, first_token_timeout=0.2) as client:
        with pytest.raises(llmsync.TimeoutError, match="no first event within 0.2s") as caught:
            collect(client.stream(model, "hi"))
    assert len(server.requests) == 1 and caught.value.attempts == 1


@pytest.mark.parametrize("model", each_format())
def test_first_token_timeout_before_any_event_is_retried_when_read_timeouts_are(server, model):
    server.add(Reply(text="slow", delay_before=5.0), Reply(text="fast"))
    with fast_client(server, first_token_timeout=0.2, retry=READ_TIMEOUT_TOO) as client:
        started = time.monotonic()
        delivered = collect(client.stream(model, "hi"))
    assert text_of(delivered) == "fast" and len(server.requests) == 2
    assert time.monotonic() - started < 4.0, "it waited for the stalled reply instead of retrying"


@pytest.mark.parametrize("stream", [True, False], ids=["stream", "generate"])
def test_total_timeout_once_passed_is_not_retried(server, stream):
    server.add(*[Reply(text="slow", delay_before=1.0) for _ in range(4)])
    with fast_client(server, total_timeout=0.3) as client:
        with pytest.raises(llmsync.TimeoutError) as caught:
            if stream:
                collect(client.stream("openai/gpt-4o-mini", "hi"))
            else:
                client.generate("openai/gpt-4o-mini", "hi")
    assert "within 0.3s" in str(caught.value)
    assert len(server.requests) == 1 and caught.value.attempts == 1


# -- kept-alive connections --------------------------------------------------------------------


def test_a_pooled_connection_the_server_closed_is_replaced_without_a_duplicate(server):
    # The server drops the idle kept-alive connection; the next request must go out on a
    # new connection, once.
    server.add(Reply(text="first", close_after=True), Reply(text="second"))
    with fast_client(server) as client:
        assert client.generate("openai/gpt-4o-mini", "hi").content == "first"
        assert wait_until(lambda: server.open_connections == 0)
        assert client.generate("openai/gpt-4o-mini", "hi").content == "second"
    assert len(server.requests) == 2 and server.connections_opened == 2
