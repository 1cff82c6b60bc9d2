"""Hooks and the ``llmsync`` log: what they see, on which thread, and what they never see."""
import logging
import threading

import pytest

import llmsync
from llmsync.errors import InvalidRequestError, LLMSyncWarning, ProviderError, StreamError
from llmsync.exchange import Exchange
from llmsync.observe import HOOK_METHODS, Hooks, watch
from llmsync.testing import FAKE_KEY, Reply
from tests.conftest import fast_client

MODEL = "openai/gpt-4o-mini"


class Recorder:
    """A hook recording every call with the name of the thread it ran on."""

    def __init__(self):
        self.calls = []
        self._lock = threading.Lock()

    def _note(self, name, *args):
        with self._lock:
            self.calls.append((name, threading.current_thread().name, args))

    def on_request(self, plan):
        self._note("on_request", plan)

    def on_response(self, response):
        self._note("on_response", response)

    def on_retry(self, error, attempt, delay):
        self._note("on_retry", error, attempt, delay)

    def on_error(self, error):
        self._note("on_error", error)

    def on_tool_call(self, tool_call):
        self._note("on_tool_call", tool_call)

    def on_tool_result(self, result):
        self._note("on_tool_result", result)

    def names(self):
        return [name for name, _, _ in self.calls]

    def args(self, name):
        return [args for called, _, args in self.calls if called == name]

    def threads(self, name):
        return {thread for called, thread, _ in self.calls if called == name}


@pytest.fixture
def hook():
    return Recorder()


@pytest.fixture
def watched(server, hook):
    with fast_client(server, hooks=[hook]) as client:
        yield client


class TestHooksAreChecked:
    @pytest.mark.parametrize("hooks, says", [
        (object(), "must be a list"),
        ("on_response", "must be a list"),
        ([object()], "hooks[0] (object) has none of the hook methods"),
        ([Recorder(), 42], "hooks[1] (int)"),
        ([Recorder], "hooks[0] is the class Recorder"),
    ])
    def test_a_bad_hook_is_an_invalid_request_at_construction(self, hooks, says):
        with pytest.raises(InvalidRequestError) as caught:
            llmsync.Client(hooks=hooks)
        assert says in caught.value.message

    def test_an_object_with_any_one_method_is_a_hook(self):
        class OnlyErrors:
            def on_error(self, error):
                pass

        hooks = Hooks([OnlyErrors()])
        assert hooks.wants("on_error") and not hooks.wants("on_response")
        assert HOOK_METHODS == ("on_request", "on_response", "on_retry", "on_error", "on_tool_call",
                                "on_tool_result")

    def test_hooks_stay_in_their_process_when_the_client_is_pickled(self):
        import pickle

        # A thread-safe hook holds a lock, which cannot be pickled: the hooks stay behind.
        client = pickle.loads(pickle.dumps(llmsync.Client(hooks=[Recorder()])))
        assert len(client.hooks) == 0


class TestGenerate:
    def test_on_request_gets_the_plan_without_keys(self, watched, server, hook):
        watched.generate(MODEL, "Hi", max_tokens=50)
        ((plan,),) = hook.args("on_request")
        assert isinstance(plan, llmsync.Plan)
        assert (plan.provider, plan.model) == ("openai", "gpt-4o-mini")
        assert plan.url == server.url + "/v1/chat/completions"
        assert plan.body == server.requests[0].body
        assert FAKE_KEY not in repr(plan)
        assert FAKE_KEY in server.requests[0].headers["Authorization"]  # it was sent, not shown

    def test_on_response_runs_on_the_calling_thread(self, watched, hook):
        response = watched.generate(MODEL, "Hi")
        assert hook.names() == ["on_request", "on_response"]
        assert hook.args("on_response") == [(response,)]
        assert hook.threads("on_response") == {threading.current_thread().name}

    def test_on_retry_gets_the_error_the_attempt_and_the_delay(self, watched, server, hook):
        server.add(Reply.error(503, "busy"))
        watched.generate(MODEL, "Hi")
        ((error, attempt, delay),) = hook.args("on_retry")
        assert isinstance(error, ProviderError) and error.status == 503
        assert attempt == 1 and 0 <= delay <= 0.01
        assert hook.names() == ["on_request", "on_retry", "on_response"]

    def test_on_error_gets_the_final_error(self, watched, server, hook):
        server.add(Reply.error(400, "bad request"))
        with pytest.raises(InvalidRequestError) as caught:
            watched.generate(MODEL, "Hi")
        assert hook.names() == ["on_request", "on_error"]
        assert hook.args("on_error") == [(caught.value,)]

    def test_on_error_sees_a_cancel(self, watched, hook):
        cancel = llmsync.Cancel()
        cancel.cancel()
        with pytest.raises(llmsync.CancelledError):
            watched.generate(MODEL, "Hi", cancel=cancel)
        assert isinstance(hook.args("on_error")[0][0], llmsync.CancelledError)


class TestStream:
    def test_on_response_comes_with_completed(self, watched, hook):
        seen_before_completed = []
        with watched.stream(MODEL, "Hi") as stream:
            for event in stream:
                if isinstance(event, llmsync.Completed):
                    seen_before_completed = hook.names()
        assert seen_before_completed == ["on_request", "on_response"]
        assert hook.args("on_response") == [(stream.response,)]

    def test_closing_early_gives_on_response_the_partial(self, watched, server, hook):
        server.add(Reply(text="one two three four five", chunk_size=4, delay_between=0.01))
        with watched.stream(MODEL, "Hi") as stream:
            for event in stream:
                if isinstance(event, llmsync.TextDelta):
                    break
        ((partial,),) = hook.args("on_response")
        assert partial.content == "one "
        assert "on_error" not in hook.names()

    def test_a_break_after_events_gives_on_response_the_partial_and_on_error_the_error(self, watched, server,
                                                                                       hook):
        server.add(Reply(text="Hello there, world", chunk_size=5, disconnect_after=2))
        with pytest.raises(StreamError) as caught:
            with watched.stream(MODEL, "Hi") as stream:
                for _ in stream:
                    pass
        assert hook.names() == ["on_request", "on_response", "on_error"]
        assert hook.args("on_response")[0][0].content == caught.value.partial.content
        assert hook.args("on_error") == [(caught.value,)]

    def test_a_stream_never_iterated_calls_no_hook(self, watched, hook):
        watched.stream(MODEL, "Hi").close()
        assert hook.calls == []


class TestRunAndBatch:
    def test_tool_hooks_run_on_the_tool_pool(self, watched, server, hook):
        @llmsync.tool
        def add(a: int, b: int) -> int:
            """Add."""
            return a + b

        server.add(Reply.tools(("add", {"a": 1, "b": 2}), ("nope", {})), Reply(text="3"))
        result = watched.run(MODEL, "1+2?", tools=[add])
        assert result.response.content == "3"
        calls = [call.name for (call,) in hook.args("on_tool_call")]
        assert sorted(calls) == ["add", "nope"]
        results = {r.tool_call.name: r for (r,) in hook.args("on_tool_result")}
        assert results["add"].content == "3" and results["nope"].error
        ran_on = {thread for name, thread, (arg,) in hook.calls
                  if name == "on_tool_call" and arg.name == "add"}
        assert ran_on and all(name.startswith("llmsync") for name in ran_on)
        assert hook.names().count("on_response") == 2

    def test_batch_hooks_run_on_the_workers(self, server, hook):
        with fast_client(server, hooks=[hook]) as client:
            results = list(client.batch([{"model": MODEL, "prompt": p} for p in "abc"], max_workers=2))
        assert all(result.ok for result in results)
        assert len(hook.args("on_response")) == 3
        assert all(name.startswith("llmsync-batch") for name in hook.threads("on_response"))


class Exploding:
    def on_response(self, response):
        raise RuntimeError("hook bug")

    def on_request(self, plan):
        raise ValueError("another bug")


class TestFailingHooks:
    def test_a_raising_hook_is_logged_once_and_never_breaks_the_call(self, server, caplog):
        recorder = Recorder()
        with fast_client(server, hooks=[Exploding(), recorder]) as client, \
                caplog.at_level(logging.WARNING, logger="llmsync"):
            for _ in range(3):
                assert client.generate(MODEL, "Hi").content
        warnings = [r for r in caplog.records if "hook Exploding" in r.getMessage()]
        logged = sorted(r.getMessage().split()[1] for r in warnings)
        assert logged == ["Exploding.on_request", "Exploding.on_response"]
        assert len(recorder.args("on_response")) == 3  # the next hook still runs


class TestLog:
    def test_one_debug_line_per_attempt(self, server, caplog):
        server.add(Reply.error(429, "slow down", headers={"x-request-id": "req_429"}),
                   Reply(text="fine", headers={"x-request-id": "req_ok"}))
        with fast_client(server) as client, caplog.at_level(logging.DEBUG, logger="llmsync"):
            client.generate(MODEL, "a secret prompt")
        lines = [r.getMessage() for r in caplog.records if " attempt " in r.getMessage() and r.levelno == 10]
        host = server.url.split("//", 1)[1]
        assert lines[0].startswith(f"openai/gpt-4o-mini attempt 1: {host} status=429 RateLimitError latency=")
        assert lines[0].endswith("tokens=- request_id=req_429")
        assert lines[1].startswith(f"openai/gpt-4o-mini attempt 2: {host} status=200 latency=")
        assert lines[1].endswith("tokens=10+5 request_id=req_ok")
        assert len(lines) == 2

    def test_the_log_shows_no_body_and_no_key(self, server, caplog):
        server.add(Reply.error(503, "down"))
        with fast_client(server) as client, caplog.at_level(logging.DEBUG):
            client.generate(MODEL, "a secret prompt")
            with client.stream(MODEL, "another secret prompt") as stream:
                list(stream)
        text = "\n".join(record.getMessage() for record in caplog.records)
        assert "secret prompt" not in text and FAKE_KEY not in text
        assert "Hello from" not in text  # nor the reply

    def test_retries_and_adapted_options_are_info(self, server, caplog):
        server.add(Reply.error(503, "down"))
        with fast_client(server) as client, caplog.at_level(logging.INFO, logger="llmsync"):
            client.generate(MODEL, "Hi")
            with pytest.warns(LLMSyncWarning):
                client.generate("anthropic/claude-sonnet-4-5", "Hi", thinking="high", temperature=0.3)
        info = [r.getMessage() for r in caplog.records if r.levelno == logging.INFO]
        assert any(line.startswith("retrying in") for line in info)
        assert any("anthropic/claude-sonnet-4-5" in line and "temperature" in line for line in info)


class TestNothingWatches:
    def test_the_exchange_is_handed_back_untouched(self, client, monkeypatch):
        monkeypatch.setattr("llmsync.telemetry.active", lambda: False)
        logging.getLogger("llmsync").setLevel(logging.INFO)
        try:
            exchange = client.exchange(llmsync.Request(MODEL, "Hi"))
            assert type(exchange) is Exchange
            assert watch(exchange, Hooks()) is exchange
        finally:
            logging.getLogger("llmsync").setLevel(logging.NOTSET)

    def test_a_hook_or_debug_logging_wraps_it(self, client, monkeypatch):
        monkeypatch.setattr("llmsync.telemetry.active", lambda: False)
        exchange = client.exchange(llmsync.Request(MODEL, "Hi"))
        assert watch(exchange, Hooks([Recorder()])) is not exchange
