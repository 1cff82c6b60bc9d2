"""Cancelling a stream: ``close()`` from another thread, ``break``, and leaving ``with``.

Each way must end the iteration promptly and give the connection up: an aborted
connection is dropped (the server sees it close), never returned to the pool half-read.
"""
import gc
import threading
import time

import pytest

import llmsync
from llmsync.events import Completed, TextDelta
from llmsync.testing import Reply
from tests.conftest import each_format, first_text_position, text_of, wait_until

TEXT = "one two three four five six seven eight nine ten eleven twelve"


@pytest.mark.parametrize("model", each_format())
def test_close_from_another_thread_ends_a_blocked_read_promptly(server, client, model):
    at = first_text_position(model, Reply(text=TEXT, chunk_size=5))
    server.add(Reply(text=TEXT, chunk_size=5, stall_after=at, stall=3.0))
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
    stream.close()
    reader.join(2.0)
    assert not reader.is_alive(), "close() did not wake the blocked reader"
    assert failures == [], "close() ends the iteration quietly"
    assert not any(isinstance(e, Completed) for e in delivered)
    assert stream.response.content == text_of(delivered)
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
    for event in client.stream(model, "hi"):  # nothing else holds the Stream
        if isinstance(event, TextDelta):
            break
    assert isinstance(event, TextDelta), "the stream ended before its first text"
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
