"""Fallback chains: ``model=[a, b, ...]`` on generate, stream, run, batch and the CLI."""
import re

import pytest

import llmsync
from llmsync.cli import main
from llmsync.errors import (AuthenticationError, ContextLengthError, InvalidRequestError, NetworkError,
                            ProviderError, RateLimitError, StreamError)
from llmsync.fallback import falls_back, models_of
from llmsync.testing import FakeServer, Reply
from tests.conftest import fast_client, quick_retry

OPENAI, ANTHROPIC, GEMINI = "openai/gpt-4o-mini", "anthropic/claude-sonnet-4-5", "gemini/gemini-2.5-flash"


def model_of(received):
    """The model id a request names (Gemini names it in the path)."""
    if isinstance(received.body, dict) and received.body.get("model"):
        return received.body["model"]
    return received.path.split("?")[0].rsplit("/", 1)[-1].split(":", 1)[0]


class PerModel:
    """A FakeServer responder scripting each model's replies (then a reply naming the model)."""

    def __init__(self, **script):
        self.script = {model.replace("_", "-"): list(replies) for model, replies in script.items()}

    def __call__(self, received):
        queue = self.script.get(model_of(received))
        if queue:
            return queue.pop(0) if len(queue) > 1 else queue[0]
        return Reply(text=f"answered by {model_of(received)}")


def asked(server):
    """The models the server was asked, in order."""
    return [model_of(received) for received in server.requests]


@pytest.fixture
def scripted():
    def start(**script):
        server = FakeServer(responder=PerModel(**script)).start()
        started.append(server)
        return server, fast_client(server, retry=quick_retry(2))

    started = []
    yield start
    for server in started:
        server.stop()


class TestModelsOf:
    def test_one_string_is_a_chain_of_one(self):
        assert models_of(OPENAI) == [OPENAI]

    @pytest.mark.parametrize("bad, says", [
        ([], "empty list"),
        ([OPENAI, "gpt-4o"], "model[1]"),
        ([OPENAI, 7], "model[1]"),
        (["nosuch/model"], "unknown provider"),
        ({"model": OPENAI}, "provider/model-id"),
    ])
    def test_bad_chains_are_invalid_requests_at_the_call(self, client, server, bad, says):
        for call in (lambda: client.generate(bad, "Hi"), lambda: client.stream(bad, "Hi")):
            with pytest.raises(InvalidRequestError, match=re.escape(says)):
                call()
        assert server.requests == []

    @pytest.mark.parametrize("error, expected", [
        (RateLimitError("slow down"), True), (ProviderError("overloaded"), True),
        (NetworkError("refused"), True), (llmsync.TimeoutError("slow"), True),
        (ContextLengthError("too long"), True), (InvalidRequestError("bad"), False),
        (AuthenticationError("no key"), False), (StreamError("broke mid-way"), False),
        (llmsync.CancelledError("cancelled"), False),
    ])
    def test_which_failures_fall_back(self, error, expected):
        assert falls_back(error) is expected


class TestGenerate:
    def test_server_errors_fall_back_after_the_models_own_retries(self, scripted):
        server, client = scripted(**{"gpt-4o-mini": [Reply.error(503, "down")]})
        response = client.generate([OPENAI, ANTHROPIC], "Hi")
        assert (response.provider, response.model, response.content) == \
            ("anthropic", "claude-sonnet-4-5", "answered by claude-sonnet-4-5")
        assert asked(server) == ["gpt-4o-mini"] * 3 + ["claude-sonnet-4-5"]  # 1 try + 2 retries, then next

    def test_rate_limits_fall_back(self, scripted):
        server, client = scripted(**{"gpt-4o-mini": [Reply.error(429, "slow down")]})
        assert client.generate([OPENAI, GEMINI], "Hi").provider == "gemini"

    def test_a_refused_connection_falls_back(self, server):
        urls = {**server.base_urls(), "openai": "http://127.0.0.1:9/v1"}  # nothing listens on port 9
        with fast_client(server, base_urls=urls, retry=0) as client:
            assert client.generate([OPENAI, ANTHROPIC], "Hi").provider == "anthropic"

    @pytest.mark.parametrize("status, error", [(400, InvalidRequestError), (401, AuthenticationError)])
    def test_a_bad_request_or_key_does_not_fall_back(self, scripted, status, error):
        server, client = scripted(**{"gpt-4o-mini": [Reply.error(status, "no")]})
        with pytest.raises(error) as caught:
            client.generate([OPENAI, ANTHROPIC], "Hi")
        assert asked(server) == ["gpt-4o-mini"]
        assert caught.value.errors == [caught.value]

    def test_when_all_fail_the_last_error_lists_every_models_error(self, scripted):
        server, client = scripted(**{"gpt-4o-mini": [Reply.error(503, "down")],
                                     "claude-sonnet-4-5": [Reply.error(429, "busy")]})
        with pytest.raises(RateLimitError) as caught:
            client.generate([OPENAI, ANTHROPIC], "Hi")
        assert [type(e) for e in caught.value.errors] == [ProviderError, RateLimitError]
        assert caught.value.errors[-1] is caught.value
        assert [e.provider for e in caught.value.errors] == ["openai", "anthropic"]

    def test_a_context_overflow_skips_models_no_larger(self, scripted):
        overflow = Reply.error(400, "This model's maximum context length is 128000 tokens",
                               error_type="context_length_exceeded")
        server, client = scripted(**{"gpt-4o-mini": [overflow]})
        # gpt-4o has the same 128k window as gpt-4o-mini: skipped; Claude's 200k is larger.
        response = client.generate([OPENAI, "openai/gpt-4o", ANTHROPIC], "a long prompt")
        assert response.provider == "anthropic"
        assert asked(server) == ["gpt-4o-mini", "claude-sonnet-4-5"]

    def test_a_context_overflow_tries_a_model_of_unknown_window(self, scripted):
        overflow = Reply.error(400, "maximum context length exceeded", error_type="context_length_exceeded")
        server, client = scripted(**{"gpt-4o-mini": [overflow]})
        assert client.generate([OPENAI, "openai/my-fine-model"], "long").model == "my-fine-model"

    def test_a_context_overflow_with_no_larger_model_raises_it(self, scripted):
        overflow = Reply.error(400, "maximum context length exceeded", error_type="context_length_exceeded")
        server, client = scripted(**{"gpt-4o-mini": [overflow]})
        with pytest.raises(ContextLengthError) as caught:
            client.generate([OPENAI, "openai/gpt-4o"], "long")
        assert asked(server) == ["gpt-4o-mini"]
        assert len(caught.value.errors) == 1

    def test_a_model_that_cannot_be_asked_is_that_models_error(self, server):
        keys = {"openai": "k" * 12}  # no anthropic key: the fallback cannot be prepared
        server.responder = PerModel(**{"gpt-4o-mini": [Reply.error(503, "down")]})
        with fast_client(server, api_keys=keys, retry=0) as client:
            with pytest.raises(AuthenticationError) as caught:
                client.generate([OPENAI, ANTHROPIC], "Hi")
        assert [type(e) for e in caught.value.errors] == [ProviderError, AuthenticationError]

    def test_send_takes_a_request_with_a_chain(self, scripted):
        server, client = scripted(**{"gpt-4o-mini": [Reply.error(500, "oops")]})
        response = client.send(llmsync.Request(model=[OPENAI, GEMINI], messages="Hi"))
        assert response.model == "gemini-2.5-flash"


class TestStream:
    def test_a_stream_failing_before_its_first_event_falls_back(self, scripted):
        server, client = scripted(**{"gpt-4o-mini": [Reply.error(503, "down")]})
        with client.stream([OPENAI, ANTHROPIC], "Hi") as stream:
            text = "".join(e.text for e in stream if isinstance(e, llmsync.TextDelta))
        assert text == "answered by claude-sonnet-4-5"
        assert stream.response.provider == "anthropic"

    def test_a_stream_dropped_before_any_event_falls_back(self, scripted):
        server, client = scripted(**{"gpt-4o-mini": [Reply(text="never seen", disconnect_after=0)]})
        with client.stream([OPENAI, GEMINI], "Hi") as stream:
            events = list(stream)
        assert isinstance(events[-1], llmsync.Completed)
        assert stream.response.provider == "gemini"

    def test_a_stream_failing_after_its_first_event_keeps_its_partial_and_does_not_fall_back(self, scripted):
        server, client = scripted(**{"gpt-4o-mini": [Reply(text="Hello there, world", chunk_size=5,
                                                           disconnect_after=2)]})
        seen = []
        with pytest.raises(StreamError) as caught:
            with client.stream([OPENAI, ANTHROPIC], "Hi") as stream:
                for event in stream:
                    seen.append(event)
        text = "".join(e.text for e in seen if isinstance(e, llmsync.TextDelta))
        assert text and "Hello there, world".startswith(text)
        assert caught.value.partial.content == text
        assert stream.response.content == text
        assert asked(server) == ["gpt-4o-mini"]

    def test_closing_a_stream_tries_no_other_model(self, scripted):
        server, client = scripted(**{"gpt-4o-mini": [Reply(text="slow", delay_before=0.5)]})
        stream = client.stream([OPENAI, ANTHROPIC], "Hi")
        stream.close()
        assert list(stream) == []
        assert "claude-sonnet-4-5" not in asked(server)


class TestRunAndBatch:
    def test_run_falls_back_turn_by_turn(self, scripted):
        @llmsync.tool
        def ping() -> str:
            """Ping."""
            return "pong"

        server, client = scripted(**{"gpt-4o-mini": [Reply.error(503, "down")],
                                     "claude-sonnet-4-5": [Reply.tools(("ping", {})), Reply(text="done")]})
        result = client.run([OPENAI, ANTHROPIC], "Ping it", tools=[ping])
        assert result.response.content == "done" and result.response.provider == "anthropic"
        assert result.tool_results[0].content == "pong"

    def test_batch_items_may_name_a_chain(self, scripted):
        server, client = scripted(**{"gpt-4o-mini": [Reply.error(503, "down")]})
        items = [{"model": [OPENAI, ANTHROPIC], "prompt": "a"}, {"model": OPENAI, "prompt": "b"},
                 {"model": [], "prompt": "c"}]
        results = sorted(client.batch(items, max_workers=2), key=lambda r: r.index)
        assert results[0].response.provider == "anthropic"
        assert isinstance(results[1].error, ProviderError)
        assert isinstance(results[2].error, InvalidRequestError)


class TestCli:
    def test_chat_model_a_comma_b_falls_back(self, server, monkeypatch, capsys):
        server.responder = PerModel(**{"gpt-4o-mini": [Reply.error(503, "down")]})
        for provider, path in (("OPENAI", "/v1"), ("ANTHROPIC", "/v1")):
            monkeypatch.setenv(f"{provider}_API_KEY", "test-key-123456")
            monkeypatch.setenv(f"{provider}_BASE_URL", server.url + path)
        status = main(["chat", f"{OPENAI},{ANTHROPIC}", "Hi", "--max-retries", "0"])
        assert status == 0, capsys.readouterr().err
        assert capsys.readouterr().out == "answered by claude-sonnet-4-5\n"

    def test_base_url_with_a_chain_of_two_providers_is_a_usage_error(self, capsys):
        status = main(["chat", f"{OPENAI},{ANTHROPIC}", "Hi", "--base-url", "http://127.0.0.1:9/v1"])
        assert status == 2
        assert "several" in capsys.readouterr().err


def test_a_stop_that_comes_while_the_next_model_is_prepared_reaches_it():
    from llmsync.fallback import FallbackExchange

    class Attempt:
        def __init__(self, model):
            self.model, self.stopped_with = model, None

        def stop(self, *reason):
            self.stopped_with = reason or ("cancelled",)

        def response(self):
            if self.stopped_with:
                raise llmsync.CancelledError("the call was cancelled")
            if self.model == "openai/gpt-4o-mini":
                raise NetworkError("connection failed", provider="openai")
            return f"from {self.model}"

    def make(model):
        if model != "openai/gpt-4o-mini":
            chain.stop()  # the cancel lands between the switch and the new attempt
        return Attempt(model)

    chain = FallbackExchange(["openai/gpt-4o-mini", "anthropic/claude-sonnet-4-5"], make)
    with pytest.raises(llmsync.CancelledError):
        chain.response()
    assert chain.current.model == "anthropic/claude-sonnet-4-5" and chain.current.stopped_with == ("cancelled",)
