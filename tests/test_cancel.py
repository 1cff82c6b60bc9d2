"""``Cancel`` and ``Client.close()``: any call, from any thread, at every stage.

Each stage is made real on loopback: a listener whose backlog is full (connecting), a
server that never reads (sending), one that holds back its headers, one that stalls
mid-body, a retry sleep, and tools that take their time.
"""
import os
import signal
import socket
import subprocess
import sys
import textwrap
import threading
import time

import pytest

import llmsync
from llmsync import Cancel, CancelledError
from llmsync.testing import Reply
from tests.conftest import timed, wait_until

MODEL = "openai/gpt-4o-mini"


def cancel_after(cancel, seconds=0.3):
    timer = threading.Timer(seconds, cancel.cancel)
    timer.start()
    return timer


@pytest.fixture
def full_backlog():
    """A loopback listener that never accepts, its backlog filled: connects hang."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(0)
    fillers = []
    for _ in range(8):
        filler = socket.socket()
        filler.setblocking(False)
        filler.connect_ex(listener.getsockname())
        fillers.append(filler)
    time.sleep(0.1)
    yield "http://127.0.0.1:%d/v1" % listener.getsockname()[1]
    for sock in fillers + [listener]:
        sock.close()


@pytest.fixture
def deaf_server():
    """A loopback server that accepts and never reads: a large request blocks in send."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(8)
    accepted = []
    stop = threading.Event()

    def accept():
        listener.settimeout(0.1)
        while not stop.is_set():
            try:
                conn, _ = listener.accept()
                conn.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
                accepted.append(conn)
            except OSError:
                continue

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    yield "http://127.0.0.1:%d/v1" % listener.getsockname()[1]
    stop.set()
    thread.join()
    for sock in accepted + [listener]:
        sock.close()


def client_of(url, **options):
    options.setdefault("timeout", (30.0, 30.0))
    return llmsync.Client(api_keys={"openai": "sk-test-key"}, base_urls={"openai": url}, **options)


class TestEveryStage:
    def test_connecting(self, full_backlog):
        cancel = Cancel()
        with client_of(full_backlog) as client:
            cancel_after(cancel)
            outcome, seconds = timed(lambda: client.generate(MODEL, "hi", cancel=cancel))
        assert isinstance(outcome, CancelledError) and seconds < 2.0

    def test_sending(self, deaf_server):
        cancel = Cancel()
        huge = "x" * 20_000_000  # far beyond what the socket buffers hold
        with client_of(deaf_server) as client:
            cancel_after(cancel)
            outcome, seconds = timed(lambda: client.generate(MODEL, huge, cancel=cancel))
        assert isinstance(outcome, CancelledError) and seconds < 2.0

    @pytest.mark.parametrize("stream", [False, True], ids=["generate", "stream"])
    def test_waiting_for_the_headers(self, server, stream):
        server.add(Reply(text="late", delay_before=20.0))
        cancel = Cancel()
        client = server.client(timeout=(5.0, 30.0))
        cancel_after(cancel)
        if stream:
            outcome, seconds = timed(lambda: list(client.stream(MODEL, "hi", cancel=cancel)))
            assert outcome == [], "a cancelled stream ends quietly"
        else:
            outcome, seconds = timed(lambda: client.generate(MODEL, "hi", cancel=cancel))
            assert isinstance(outcome, CancelledError)
        assert seconds < 2.0 and len(server.requests) == 1

    def test_stream_close_while_waiting_for_the_headers(self, server):
        server.add(Reply(text="late", delay_before=20.0))
        stream = server.client(timeout=(5.0, 30.0)).stream(MODEL, "hi")
        threading.Timer(0.3, stream.close).start()
        outcome, seconds = timed(lambda: list(stream))
        assert outcome == [] and seconds < 2.0

    def test_reading_the_body_keeps_the_partial(self, server):
        server.add(Reply(text="abcdefghij", chunk_size=2, stall_after=3, stall=20.0))
        cancel = Cancel()
        client = server.client(timeout=(5.0, 30.0))
        delivered = []

        def consume():
            for event in client.stream(MODEL, "hi", cancel=cancel):
                delivered.append(event)
                if isinstance(event, llmsync.TextDelta):
                    cancel_after(cancel, 0.2)
            return "ended"

        outcome, seconds = timed(consume)
        assert outcome == "ended" and seconds < 2.0
        assert "".join(e.text for e in delivered if isinstance(e, llmsync.TextDelta))

    def test_reading_a_whole_body(self, server):
        server.add(Reply(text="abcdefghij", split_bytes=10, delay_between=20.0))  # headers, 10 bytes, a stall
        cancel = Cancel()
        client = server.client(timeout=(5.0, 30.0))
        cancel_after(cancel)
        outcome, seconds = timed(lambda: client.generate(MODEL, "hi", cancel=cancel))
        assert isinstance(outcome, CancelledError) and seconds < 2.0

    def test_sleeping_between_retries(self, server):
        server.add(Reply.error(429, "slow down", headers={"Retry-After": "20"}), Reply(text="never"))
        cancel = Cancel()
        client = server.client(retry=llmsync.RetryPolicy(max_retries=2, max_delay=30.0))
        cancel_after(cancel)
        outcome, seconds = timed(lambda: client.generate(MODEL, "hi", cancel=cancel))
        assert isinstance(outcome, CancelledError) and seconds < 2.0
        assert len(server.requests) == 1

    def test_waiting_for_tools(self, server):
        release = threading.Event()

        @llmsync.tool
        def slow() -> str:
            """Takes its time."""
            release.wait(20)
            return "done"

        server.add(Reply(tool_calls=[llmsync.ToolCall("c1", "slow", "{}")]), Reply(text="never"))
        cancel = Cancel()
        client = server.client()
        cancel_after(cancel)
        try:
            outcome, seconds = timed(lambda: client.run(MODEL, "hi", tools=[slow], cancel=cancel))
        finally:
            release.set()
        assert isinstance(outcome, CancelledError) and seconds < 2.0
        assert len(server.requests) == 1

    def test_a_batch(self, server):
        server.default = Reply(text="slow", delay_before=20.0)
        cancel = Cancel()
        client = server.client()
        cancel_after(cancel)
        outcome, seconds = timed(lambda: list(client.batch([{"model": MODEL, "prompt": "a"}] * 4, cancel=cancel)))
        assert isinstance(outcome, CancelledError) and seconds < 2.0


class TestCancelObject:
    def test_a_cancel_before_the_call_sends_nothing(self, server):
        cancel = Cancel()
        cancel.cancel()
        with pytest.raises(CancelledError):
            server.client().generate(MODEL, "hi", cancel=cancel)
        assert list(server.client().stream(MODEL, "hi", cancel=cancel)) == []
        assert server.requests == []

    def test_one_cancel_ends_two_calls_and_twice_is_harmless(self, server):
        server.default = Reply(text="late", delay_before=20.0)
        cancel = Cancel()
        client = server.client()
        outcomes = []

        def call():
            outcomes.append(timed(lambda: client.generate(MODEL, "hi", cancel=cancel)))

        threads = [threading.Thread(target=call) for _ in range(2)]
        for thread in threads:
            thread.start()
        assert wait_until(lambda: len(server.requests) == 2)
        cancel.cancel()
        cancel.cancel()
        for thread in threads:
            thread.join(5)
        assert len(outcomes) == 2
        assert all(isinstance(outcome, CancelledError) and seconds < 2.0 for outcome, seconds in outcomes)

    def test_a_finished_call_forgets_its_cancel(self, server):
        cancel = Cancel()
        client = server.client()
        for _ in range(3):
            client.generate(MODEL, "hi", cancel=cancel)
        assert cancel._subscribers == {}
        cancel.cancel()  # nothing left to cancel: harmless

    @pytest.mark.parametrize("bad", ["yes", True, threading.Event()])
    def test_a_value_that_is_not_a_cancel_is_refused(self, server, bad):
        with pytest.raises(llmsync.InvalidRequestError, match="llmsync.Cancel"):
            server.client().generate(MODEL, "hi", cancel=bad)
        assert server.requests == []


class TestClientClose:
    def test_close_ends_calls_in_other_threads_with_cancelled_error(self, server):
        server.default = Reply(text="late", delay_before=20.0)
        client = server.client()
        outcomes = []
        thread = threading.Thread(target=lambda: outcomes.append(timed(lambda: client.generate(MODEL, "hi"))))
        thread.start()
        assert wait_until(lambda: server.requests)
        client.close()
        thread.join(5)
        outcome, seconds = outcomes[0]
        assert isinstance(outcome, CancelledError) and "closed" in str(outcome) and seconds < 21

    def test_close_during_a_run_is_a_cancelled_error_not_a_runtime_error(self, server):
        @llmsync.tool
        def quick() -> str:
            """Returns at once."""
            return "ok"

        calls = [llmsync.ToolCall("c1", "quick", "{}")]
        server.add(Reply(tool_calls=calls, delay_before=0.5))
        server.default = Reply(tool_calls=calls)
        client = server.client()
        outcomes = []
        thread = threading.Thread(target=lambda: outcomes.append(timed(
            lambda: client.run(MODEL, "hi", tools=[quick], max_turns=50))))
        thread.start()
        assert wait_until(lambda: server.requests)
        client.close()
        thread.join(5)
        outcome, _ = outcomes[0]
        assert isinstance(outcome, (CancelledError, llmsync.RunResult)), outcome
        assert not isinstance(outcome, RuntimeError)

    def test_the_client_is_usable_after_close(self, server):
        client = server.client()
        client.close()
        server.add(Reply(text="again"))
        assert client.generate(MODEL, "hi").content == "again"


CHILD = textwrap.dedent("""
    import signal, sys, threading
    import llmsync

    class SoftTimeLimitExceeded(Exception):
        "Like Celery's: raised in the worker's main thread by a signal handler."

    def soft_limit(signum, frame):
        raise SoftTimeLimitExceeded()

    signal.signal(signal.SIGUSR1, soft_limit)
    # Ctrl-C raises KeyboardInterrupt even when this test runs as a background job, whose
    # children inherit SIGINT ignored (and Python then installs no handler for it).
    signal.signal(signal.SIGINT, signal.default_int_handler)
    client = llmsync.Client(api_keys={"openai": "sk-test-key"}, base_urls={"openai": sys.argv[1]})
    print("ready", flush=True)
    try:
        client.generate("openai/gpt-4o-mini", "hi")
    except BaseException as exc:
        alive = [t.name for t in threading.enumerate() if t.name.startswith("llmsync") and t.is_alive()]
        print("raised", type(exc).__name__, "threads:", alive, flush=True)
        sys.stdin.readline()  # stay alive while the parent looks at the socket
""")


@pytest.fixture
def silent_server():
    """A loopback server that reads a request and never answers; ``closed`` is set when
    the client shuts the connection."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(1)
    received, closed = threading.Event(), threading.Event()

    def serve():
        conn, _ = listener.accept()
        data = b""
        while b"\r\n\r\n" not in data:
            data += conn.recv(65536)
        received.set()
        conn.settimeout(30)
        try:
            while conn.recv(65536):
                pass
        except OSError:
            pass
        closed.set()
        conn.close()

    threading.Thread(target=serve, daemon=True).start()
    yield "http://127.0.0.1:%d/v1" % listener.getsockname()[1], received, closed
    listener.close()


@pytest.mark.parametrize("signum, raised", [(signal.SIGINT, "KeyboardInterrupt"),
                                            (signal.SIGUSR1, "SoftTimeLimitExceeded")])
def test_ctrl_c_and_time_limits_pass_through_with_the_connection_shut(silent_server, signum, raised):
    url, received, closed = silent_server
    child = subprocess.Popen([sys.executable, "-c", CHILD, url], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                             text=True, env={**os.environ, "PYTHONPATH": os.getcwd()})
    try:
        assert child.stdout.readline().strip() == "ready"
        assert received.wait(10)
        child.send_signal(signum)
        assert child.stdout.readline().strip() == f"raised {raised} threads: []"  # unwrapped, no thread left
        assert closed.wait(5), "the connection was left open"
        assert child.poll() is None, "the child was still running when its connection closed"
    finally:
        child.kill()
        child.wait()
