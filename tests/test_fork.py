"""A ``Client`` made before ``os.fork()`` works in the child, on its own connections.

The parent's kept-alive socket must never be used by the child (two processes
reading one socket mix up replies), and the parent keeps working after the fork.
"""
import multiprocessing
import os
import pickle
import sys

import pytest

import llmsync
from llmsync.testing import FAKE_KEY, Reply
from tests.conftest import text_of

pytestmark = pytest.mark.skipif(os.name != "posix" or not hasattr(os, "fork"), reason="needs os.fork")

MODEL = "openai/gpt-4o-mini"


def _child_request(client):
    """What the child does: one blocking request and one stream; the texts, joined."""
    content = client.generate(MODEL, "from the child").content
    with client.stream(MODEL, "stream from the child") as stream:
        streamed = text_of(stream)
    return f"{content}|{streamed}"


def test_client_used_before_fork_works_in_the_child_on_fresh_connections(server, client):
    server.default = Reply(text="pong")
    assert client.generate(MODEL, "from the parent").content == "pong"
    assert server.connections_opened == 1  # the parent's kept-alive connection
    read_end, write_end = os.pipe()
    sys.stdout.flush()
    sys.stderr.flush()
    pid = os.fork()
    if pid == 0:  # the child: never return into pytest
        code = 1
        try:
            os.close(read_end)
            os.write(write_end, _child_request(client).encode("utf-8"))
            code = 0
        except BaseException as exc:  # noqa: BLE001 - reported to the parent through the pipe
            os.write(write_end, f"child failed: {exc!r}".encode("utf-8"))
        finally:
            os._exit(code)
    os.close(write_end)
    with os.fdopen(read_end, "rb") as pipe:
        said = pipe.read().decode("utf-8")
    _, status = os.waitpid(pid, 0)
    assert os.WIFEXITED(status) and os.WEXITSTATUS(status) == 0, said
    assert said == "pong|pong"
    # The child opened its own connection (one, reused for both of its requests).
    assert server.connections_opened == 2
    # The parent's pooled connection is intact and still its own.
    assert client.generate(MODEL, "parent again").content == "pong"
    assert server.connections_opened == 2
    assert len(server.requests) == 4


def _in_forked_process(client, queue):
    try:
        queue.put(_child_request(client))
    except BaseException as exc:  # noqa: BLE001 - reported to the parent
        queue.put(f"child failed: {exc!r}")


def test_client_works_in_a_multiprocessing_fork_child(server, client):
    server.default = Reply(text="pong")
    client.generate(MODEL, "warm the pool")
    context = multiprocessing.get_context("fork")
    queue = context.Queue()
    process = context.Process(target=_in_forked_process, args=(client, queue))
    process.start()
    try:
        said = queue.get(timeout=10)
    finally:
        process.join(10)
    assert process.exitcode == 0
    assert said == "pong|pong"
    assert server.connections_opened == 2
    assert client.generate(MODEL, "parent again").content == "pong"


def _pooled(client_and_text):
    client, text = client_and_text
    return client.generate(MODEL, text).content


def test_client_is_picklable_to_a_fork_pool_and_works_there(server, client):
    server.default = Reply(text="pong")
    client.generate(MODEL, "warm the pool")
    with multiprocessing.get_context("fork").Pool(2) as pool:
        results = pool.map_async(_pooled, [(client, f"job {i}") for i in range(6)]).get(timeout=20)
    assert results == ["pong"] * 6
    assert len(server.requests) == 7


def test_a_pickled_client_keeps_its_configuration(server):
    original = server.client(timeout=(1.5, 4.0), retry=llmsync.RetryPolicy(max_retries=1), max_connections=3)
    copy = pickle.loads(pickle.dumps(original))
    assert copy.timeout == (1.5, 4.0) and copy.retry.max_retries == 1
    assert copy.generate(MODEL, "hi").content
    assert server.requests[-1].headers["Authorization"] == f"Bearer {FAKE_KEY}"
    original.close()
    copy.close()


def _tool_run(client, queue):
    @llmsync.tool
    def add(a: int, b: int) -> int:
        """Add two numbers."""
        return a + b

    try:
        result = client.run(MODEL, "add", tools=[add])
        queue.put(result.messages[2].content)
    except BaseException as exc:  # noqa: BLE001 - reported to the parent
        queue.put(f"child failed: {exc!r}")


def test_the_tool_pool_works_in_a_fork_child_after_the_parent_used_it(server, client):
    """A thread pool inherited through fork has no threads: the child must get its own."""
    calls = Reply.tools(("add", {"a": 2, "b": 3}))
    server.add(calls, Reply(text="5"))
    in_parent = _ListQueue()
    _tool_run(client, in_parent)
    assert in_parent.items == ["5"]
    server.add(calls, Reply(text="5"))
    context = multiprocessing.get_context("fork")
    shared = context.Queue()
    child = context.Process(target=_tool_run, args=(client, shared))
    child.start()
    said = shared.get(timeout=20)
    child.join(20)
    assert said == "5" and child.exitcode == 0


class _ListQueue:
    def __init__(self):
        self.items = []

    def put(self, item):
        self.items.append(item)
