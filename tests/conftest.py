"""Shared fixtures and helpers: a running FakeServer, a client aimed at it, recorded replies,
the provider wire formats to parametrize over, and what the fake server sends in each.
"""
import functools
import json
import os
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import urlsplit

import pytest

import llmsync
from llmsync.events import TextDelta
from llmsync.registry import get_provider, split_model
from llmsync.testing import FakeServer
from llmsync.testing.wire import format_for

HERE = os.path.dirname(__file__)
RECORDED = os.path.join(HERE, "fixtures", "recorded")

# One model per provider wire format, each with its FakeServer wire module.
FORMAT_MODELS = ["openai/gpt-4o-mini", "anthropic/claude-sonnet-4-5", "gemini/gemini-2.5-flash",
                 "openai-responses/gpt-5-mini"]


def each_format(models=FORMAT_MODELS):
    """``models`` as ``pytest.param``s named by provider id, for ``parametrize("model", ...)``."""
    return [pytest.param(model, id=split_model(model)[0]) for model in models]


def load_recording(name):
    """A recorded real provider interaction (see tests/fixtures/recorded/README.md)."""
    with open(os.path.join(RECORDED, name), encoding="utf-8") as handle:
        return json.load(handle)


def recordings(provider_prefix=None):
    names = sorted(n for n in os.listdir(RECORDED) if n.endswith(".json"))
    return [n for n in names if provider_prefix is None or load_recording(n)["provider"] in provider_prefix]


def assert_matches_expected(response, expected):
    """Check a parsed ``Response`` against a recording's ``expected`` block (see its README)."""
    assert (response.content or "") == expected["text"]
    assert response.reasoning == expected["reasoning"]
    calls = [{"id": c.id, "name": c.name, "arguments": c.parsed_arguments()} for c in response.tool_calls]
    assert calls == expected["tool_calls"]
    assert response.finish_reason.value == expected["finish_reason"]
    usage = expected["usage"]
    assert (response.usage.prompt_tokens, response.usage.completion_tokens, response.usage.total_tokens) == \
        (usage["prompt_tokens"], usage["completion_tokens"], usage["total_tokens"])
    for field in ("cache_read_tokens", "cache_write_tokens", "reasoning_tokens"):
        assert getattr(response.usage, field) == usage.get(field, 0), field


def wait_until(predicate, timeout=3.0):
    """Poll ``predicate`` until it holds or ``timeout`` seconds pass; its last value."""
    ends = time.monotonic() + timeout
    while time.monotonic() < ends:
        if predicate():
            return True
        time.sleep(0.01)
    return predicate()


# -- what the fake server sends, and what a parser makes of it (no HTTP) ------------------------


def sse_events(chunks, provider_id="openai"):
    """``(event name, data)`` pairs a provider decodes from these body chunks."""
    return get_provider(provider_id).decode_stream(iter(chunks))


@functools.lru_cache(maxsize=None)
def wire_format(model):
    """The FakeServer ``WireFormat`` that answers streaming requests for ``model``."""
    provider_id = split_model(model)[0]
    with llmsync.Client(api_keys={provider_id: "k"}, base_urls={provider_id: "http://127.0.0.1:9/v1"}) as client:
        url = client.explain(model, "hi", stream=True).url  # nothing is sent
    return format_for(urlsplit(url).path)


def wire_events(model, reply):
    """The SSE events the fake server sends for ``reply``, one bytes object per event."""
    return wire_format(model).stream_events(reply, split_model(model)[1])


def parsed(model, chunks):
    """The llmsync events a fresh parser makes of these body chunks."""
    provider_id, model_id = split_model(model)
    parser = get_provider(provider_id).stream_parser(model_id)
    events = []
    for name, data in sse_events(chunks, provider_id):
        events.extend(parser.feed(name, data))
    return events


def text_of(events):
    return "".join(e.text for e in events if isinstance(e, TextDelta))


def timed(call):
    """(what ``call`` raised or returned, seconds it took)."""
    started = time.monotonic()
    try:
        outcome = call()
    except BaseException as exc:  # noqa: B902 - the test inspects it
        outcome = exc
    return outcome, time.monotonic() - started


def first_text_position(model, reply):
    """Number of wire events after which the caller has seen text."""
    events = wire_events(model, reply)
    for position in range(1, len(events) + 1):
        if text_of(parsed(model, events[:position])):
            return position
    raise AssertionError("the reply has no text event")


# -- fixtures and clients -----------------------------------------------------------------------


def quick_retry(max_retries=3):
    """A ``RetryPolicy`` whose delays are too short to wait for."""
    return llmsync.RetryPolicy(max_retries=max_retries, base_delay=0.001, max_delay=0.01)


def fast_client(server, **options):
    """A client of ``server`` with quick retries and a 5 s timeout, unless ``options`` say otherwise."""
    options.setdefault("retry", quick_retry())
    options.setdefault("timeout", 5.0)
    return server.client(**options)


@pytest.fixture
def server():
    with FakeServer() as fake:
        yield fake


@pytest.fixture
def fast_retry():
    """Retries without real sleeping delays worth waiting for."""
    return quick_retry()


@pytest.fixture
def client(server, fast_retry):
    with fast_client(server, retry=fast_retry) as fake_client:
        yield fake_client


# -- a redirecting server ------------------------------------------------------------------------


class _Redirector(BaseHTTPRequestHandler):
    """Answers every POST with 307 to ``server.target`` + the same path; records headers."""

    def do_POST(self):
        self.server.seen.append(dict(self.headers.items()))
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        self.send_response(307)
        self.send_header("Location", self.server.target + self.path)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args):
        pass


@pytest.fixture
def redirector():
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), _Redirector)
    httpd.daemon_threads = True
    httpd.seen = []
    thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    yield httpd
    httpd.shutdown()
    httpd.server_close()
