"""One ``Client`` shared by many threads: replies stay whole and unmixed, connections
stay bounded, and ``close()`` leaves no connection or thread behind.
"""
import json
import re
import threading

import llmsync
from llmsync.events import Completed
from llmsync.testing import FakeServer, Reply
from tests.conftest import FORMAT_MODELS, text_of, wait_until

THREADS = 64
REQUESTS_PER_THREAD = 50
TOKEN = re.compile(r"tok-\d+-\d+")


def echo(received):
    """Answer with the request's own token, in pieces, so a mixed-up reply shows."""
    token = TOKEN.search(json.dumps(received.body)).group(0)
    return Reply(text=f"<{token}|{token}|{token}>", chunk_size=7)


def expected_text(token):
    return f"<{token}|{token}|{token}>"


def other_threads():
    """Threads that are not the fake server's (its per-connection handlers come and go)."""
    return [t for t in threading.enumerate()
            if t.name != "llmsync-fake-server" and "process_request_thread" not in t.name]


def one_request(client, model, token, stream):
    if not stream:
        return client.generate(model, f"Repeat {token}").content
    with client.stream(model, f"Repeat {token}") as events:
        delivered = list(events)
    assert isinstance(delivered[-1], Completed)
    text = text_of(delivered)
    assert text == delivered[-1].response.content
    return text


def test_64_threads_share_one_client_without_mixing_or_losing_replies():
    """64 threads x 50 requests (3,200), streaming and not, across every format.

    Takes about 6-10 s on 2 cores. No retries, so every request is counted exactly (the
    fake server's listen backlog is large enough for 64 simultaneous connects).
    """
    baseline = len(other_threads())
    failures, wrong = [], []
    with FakeServer(responder=echo) as server:
        client = server.client(timeout=10.0, retry=llmsync.RetryPolicy(max_retries=0))

        def worker(thread_index):
            for i in range(REQUESTS_PER_THREAD):
                token = f"tok-{thread_index}-{i}"
                model = FORMAT_MODELS[(thread_index + i) % len(FORMAT_MODELS)]
                try:
                    got = one_request(client, model, token, stream=(i + thread_index) % 2 == 0)
                except BaseException as exc:  # noqa: BLE001 - collected and asserted below
                    failures.append(f"{token} {model}: {exc!r}")
                    continue
                if got != expected_text(token):
                    wrong.append((token, got))

        threads = [threading.Thread(target=worker, args=(n,), name=f"load-{n}") for n in range(THREADS)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(60)
        assert not any(t.is_alive() for t in threads), "a worker hung"
        assert failures == []
        assert wrong == []
        assert len(server.requests) == THREADS * REQUESTS_PER_THREAD
        # One session per thread, one request at a time each: at most one connection per thread.
        assert server.max_open_connections <= THREADS + 4
        assert server.connections_opened <= THREADS + 4, "kept-alive connections were not reused"
        client.close()
        assert wait_until(lambda: server.open_connections == 0), "connections left open after close()"
    assert wait_until(lambda: len(other_threads()) <= baseline), [t.name for t in other_threads()]


def test_close_stops_the_worker_pool_threads(server, client):
    baseline = len(other_threads())
    futures = [client.executor().submit(client.generate, "openai/gpt-4o-mini", f"n{i}") for i in range(16)]
    assert all(f.result(5).content for f in futures)
    assert len(other_threads()) > baseline
    client.close()
    assert wait_until(lambda: len(other_threads()) <= baseline), [t.name for t in other_threads()]
    assert client.generate("openai/gpt-4o-mini", "still usable").content  # close() is not final


def test_close_closes_the_kept_alive_connections(server, client):
    client.generate("openai/gpt-4o-mini", "hi")
    assert server.open_connections == 1
    client.close()
    assert wait_until(lambda: server.open_connections == 0)


def test_close_closes_kept_alive_connections_while_a_finished_stream_is_referenced(server, client):
    with client.stream("openai/gpt-4o-mini", "hi") as stream:
        list(stream)
    assert stream.response.content
    assert server.open_connections == 1
    client.close()
    assert wait_until(lambda: server.open_connections == 0, timeout=1.0)


def test_each_thread_keeps_its_own_connection(server):
    client = server.client(timeout=5.0)
    barrier = threading.Barrier(8)
    failures = []

    def worker():
        try:
            barrier.wait(2)
            for _ in range(5):
                client.generate("openai/gpt-4o-mini", "hi")
        except BaseException as exc:  # noqa: BLE001 - asserted below
            failures.append(exc)

    threads = [threading.Thread(target=worker) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(10)
    client.close()
    assert failures == []
    assert len(server.requests) == 40
    assert server.connections_opened == 8
