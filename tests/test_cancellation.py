"""Cancelling a stream: ``close()`` from another thread, ``break``, and leaving ``with``.

Each way must end the iteration promptly and give the connection up: an aborted
connection is dropped (the server sees it close), never returned to the pool half-read.
"""
import gc
import os
import threading
import time

import pytest

import llmsync
from llmsync.events import Completed, TextDelta
from llmsync.registry import get_provider, split_model
from llmsync.testing import Reply
from llmsync.testing.wire import format_for
from llmsync.transport import iter_sse

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

# model string -> (provider module, FakeServer wire module or None when built into wire.py)
MODELS = {
    "openai/gpt-4o-mini": ("openai", None),
    "anthropic/claude-sonnet-4-5": ("anthropic", "anthropic_wire"),
    "gemini/gemini-2.5-flash": ("gemini", "gemini_wire"),
    "openai-responses/gpt-5-mini": ("openai_responses", "responses_wire"),
}


def _missing(model):
    provider_module, wire_module = MODELS[model]
    paths = [os.path.join(ROOT, "llmsync", "providers", provider_module + ".py")]
    if wire_module:
        paths.append(os.path.join(ROOT, "llmsync", "testing", wire_module + ".py"))
    return [p for p in paths if not os.path.exists(p)]


def each_format():
    """Every provider format, skipping those whose provider or wire module is not written yet."""
    return [pytest.param(model, id=model.split("/")[0],
                         marks=pytest.mark.skipif(bool(_missing(model)), reason=f"not written yet: {_missing(model)}"))
            for model in MODELS]


class _Chunks:
    def __init__(self, chunks):
        self.chunks = chunks

    def iter_content(self, chunk_size=None):
        return iter(self.chunks)


def first_text_position(client, model, reply):
    """Number of wire events after which the caller has seen text."""
    url = client.explain(model, "hi", stream=True).url
    path = "/" + url.split("://", 1)[1].split("/", 1)[1].split("?", 1)[0]
    provider_id, model_id = split_model(model)
    events = format_for(path).stream_events(reply, model_id)
    parser = get_provider(provider_id).stream_parser(model_id)
    for position, (name, data) in enumerate(iter_sse(_Chunks(events), provider_id), start=1):
        if any(isinstance(e, TextDelta) for e in parser.feed(name, data)):
            return position
    raise AssertionError("the reply has no text event")


class StallingReply:
    """A ``Reply`` that sends events ``0 .. at-1`` at once, then stalls ``seconds`` per event.

    The fake server reads ``delay_between`` once before each later event, and again
    to sleep when it is not zero.
    """

    def __init__(self, reply, at, seconds):
        self._reply = reply
        self._quiet_left = at - 1
        self._seconds = seconds

    def __getattr__(self, name):
        return getattr(self._reply, name)

    @property
    def delay_between(self):
        if self._quiet_left > 0:
            self._quiet_left -= 1
            return 0.0
        return self._seconds


def wait_until(predicate, timeout=2.0):
    ends = time.monotonic() + timeout
    while time.monotonic() < ends:
        if predicate():
            return True
        time.sleep(0.01)
    return predicate()


TEXT = "one two three four five six seven eight nine ten eleven twelve"


@pytest.mark.parametrize("model", each_format())
def test_close_from_another_thread_ends_a_blocked_read_promptly(server, client, model):
    reply = Reply(text=TEXT, chunk_size=5)
    server.add(StallingReply(reply, at=first_text_position(client, model, reply), seconds=3.0))
    stream = client.stream(model, "hi")
    delivered, failures = [], []
    first = threading.Event()

    def consume():
        try:
            for event in stream:
                delivered.append(event)
                first.set()
        except BaseException as exc:  # noqa: BLE001 - reported by the assertion below
            failures.append(exc)

    reader = threading.Thread(target=consume, daemon=True)
    reader.start()
    assert first.wait(1.0)
    time.sleep(0.05)  # let the reader block in recv
    started = time.monotonic()
    stream.close()
    reader.join(1.0)
    assert not reader.is_alive(), "close() did not wake the blocked reader"
    assert time.monotonic() - started < 0.5
    assert failures == [], "close() ends the iteration quietly"
    assert not any(isinstance(e, Completed) for e in delivered)
    assert stream.response.content == "".join(e.text for e in delivered if isinstance(e, TextDelta))
    stream.close()  # idempotent
    # The connection was dropped, not pooled: the next request works at once on a new one.
    opened = server.connections_opened
    server.add(Reply(text="next"))
    assert client.generate(model, "again").content == "next"
    assert server.connections_opened == opened + 1


@pytest.mark.parametrize("model", each_format())
def test_close_before_iterating_drops_the_connection(server, client, model):
    server.add(Reply(text=TEXT, chunk_size=5, delay_between=0.05))
    stream = client.stream(model, "hi")
    stream.close()
    leftover = list(stream)  # at most what open() had already read; no error, no Completed
    assert not any(isinstance(e, Completed) for e in leftover)
    assert wait_until(lambda: server.open_connections == 0)


@pytest.mark.parametrize("model", each_format())
def test_break_out_of_a_with_block_drops_the_connection(server, client, model):
    server.add(Reply(text=TEXT, chunk_size=5, delay_between=0.05))
    with client.stream(model, "hi") as stream:
        for event in stream:
            if isinstance(event, TextDelta):
                break
    assert event.text and stream.response.content == event.text
    assert wait_until(lambda: server.open_connections == 0), "the half-read connection stayed open"


@pytest.mark.parametrize("model", each_format())
def test_break_out_of_a_bare_for_loop_drops_the_connection(server, client, model):
    server.add(Reply(text=TEXT, chunk_size=5, delay_between=0.05))
    for event in client.stream(model, "hi"):
        if isinstance(event, TextDelta):
            break
    gc.collect()
    assert wait_until(lambda: server.open_connections == 0), "the half-read connection stayed open"


@pytest.mark.parametrize("model", each_format())
def test_exception_inside_a_with_block_drops_the_connection(server, client, model):
    server.add(Reply(text=TEXT, chunk_size=5, delay_between=0.05))
    with pytest.raises(KeyError):
        with client.stream(model, "hi") as stream:
            for _ in stream:
                raise KeyError("the caller's own bug")
    assert wait_until(lambda: server.open_connections == 0)


@pytest.mark.parametrize("model", each_format())
def test_a_finished_stream_returns_its_connection_to_the_pool(server, client, model):
    for _ in range(3):
        with client.stream(model, "hi") as stream:
            events = list(stream)
        assert isinstance(events[-1], Completed)
    assert server.connections_opened == 1, "a fully read stream reuses its kept-alive connection"


def test_many_cancelled_streams_do_not_exhaust_a_small_pool(server):
    with server.client(max_connections=2, timeout=2.0, retry=llmsync.RetryPolicy.none()) as client:
        for _ in range(10):
            server.add(Reply(text=TEXT, chunk_size=5, delay_between=0.02))
            with client.stream("openai/gpt-4o-mini", "hi") as stream:
                next(iter(stream))
        assert wait_until(lambda: server.open_connections == 0), "aborted connections stay open"
        server.add(Reply(text="still fine"))
        assert client.generate("openai/gpt-4o-mini", "hi").content == "still fine"
    assert server.connections_opened == 11, "each aborted stream dropped its connection"
