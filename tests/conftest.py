"""Shared fixtures: a running FakeServer, a client aimed at it, and recorded replies."""
import json
import os

import pytest

import llmsync
from llmsync.testing import FakeServer

HERE = os.path.dirname(__file__)
RECORDED = os.path.join(HERE, "fixtures", "recorded")


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


@pytest.fixture
def server():
    with FakeServer() as fake:
        yield fake


@pytest.fixture
def fast_retry():
    """Retries without real sleeping delays worth waiting for."""
    return llmsync.RetryPolicy(max_retries=3, base_delay=0.001, max_delay=0.01)


@pytest.fixture
def client(server, fast_retry):
    with server.client(retry=fast_retry, timeout=5.0) as fake_client:
        yield fake_client
