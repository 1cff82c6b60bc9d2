"""OpenTelemetry spans in the GenAI semantic conventions, read back from the SDK's
in-memory exporter; and no OpenTelemetry import at all when the program does not use it."""
import os
import subprocess
import sys
import textwrap
import threading

import pytest

import llmsync
from llmsync import telemetry
from llmsync.registry import get_provider
from llmsync.testing import Reply
from tests.conftest import fast_client

trace = pytest.importorskip("opentelemetry.trace")
from opentelemetry.sdk.trace import TracerProvider  # noqa: E402
from opentelemetry.sdk.trace.export import SimpleSpanProcessor  # noqa: E402
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter  # noqa: E402
from opentelemetry.trace import SpanKind, StatusCode  # noqa: E402

MODEL = "openai/gpt-4o-mini"
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


class Traced:
    """A tracer provider whose finished spans land in memory."""

    def __init__(self):
        self.exporter = InMemorySpanExporter()
        self.provider = TracerProvider()
        self.provider.add_span_processor(SimpleSpanProcessor(self.exporter))
        self.tracer = self.provider.get_tracer("tests")

    def spans(self, prefix=""):
        return [span for span in self.exporter.get_finished_spans() if span.name.startswith(prefix)]

    def one(self, prefix):
        (span,) = self.spans(prefix)
        return span


@pytest.fixture
def traced(monkeypatch):
    # The global tracer provider can be set once per process; llmsync's tracer is looked
    # up through telemetry._tracer, so each test gets a provider of its own.
    traced = Traced()
    monkeypatch.setattr(telemetry, "_tracer", lambda: traced.provider.get_tracer(telemetry.TRACER_NAME))
    return traced


class TestChatSpans:
    def test_a_generate_is_a_client_span_with_the_genai_attributes(self, traced, client, server):
        server.add(Reply(text="Hi!", usage=llmsync.Usage(12, 4, 16)))
        response = client.generate(MODEL, "Hello", max_tokens=64, temperature=0.2)
        span = traced.one("chat ")
        assert span.name == "chat gpt-4o-mini"
        assert span.kind == SpanKind.CLIENT
        attributes = dict(span.attributes)
        assert attributes == {
            "gen_ai.operation.name": "chat",
            "gen_ai.provider.name": "openai",
            "gen_ai.request.model": "gpt-4o-mini",
            "gen_ai.request.max_tokens": 64,
            "gen_ai.request.temperature": 0.2,
            "server.address": "127.0.0.1",
            "server.port": int(server.url.rsplit(":", 1)[1]),
            "gen_ai.response.model": response.model,
            "gen_ai.response.id": response.id,
            "gen_ai.response.finish_reasons": ("stop",),
            "gen_ai.usage.input_tokens": 12,
            "gen_ai.usage.output_tokens": 4,
        }
        assert span.status.status_code == StatusCode.UNSET

    def test_options_not_set_are_not_recorded(self, traced, client):
        client.generate(MODEL, "Hello")
        attributes = traced.one("chat ").attributes
        assert "gen_ai.request.max_tokens" not in attributes
        assert "gen_ai.request.temperature" not in attributes

    @pytest.mark.parametrize("model, name", [
        ("anthropic/claude-sonnet-4-5", "anthropic"),
        ("gemini/gemini-2.5-flash", "gcp.gemini"),
        ("openai-responses/gpt-5-mini", "openai"),
    ])
    def test_the_provider_name_takes_the_conventions_values(self, traced, client, model, name):
        client.generate(model, "Hello")
        assert traced.one("chat ").attributes["gen_ai.provider.name"] == name

    def test_a_failure_sets_the_status_and_error_type(self, traced, client, server):
        server.add(Reply.error(400, "bad request"))
        with pytest.raises(llmsync.InvalidRequestError):
            client.generate(MODEL, "Hello")
        span = traced.one("chat ")
        assert span.status.status_code == StatusCode.ERROR
        assert "bad request" in span.status.description
        assert span.attributes["error.type"] == "InvalidRequestError"

    def test_retries_are_span_events_and_the_span_is_current_during_the_call(self, traced, server):
        seen = []

        class CurrentSpan:
            def on_retry(self, error, attempt, delay):
                seen.append(trace.get_current_span())

        server.add(Reply.error(503, "busy"), Reply.error(429, "slow"))
        with fast_client(server, hooks=[CurrentSpan()]) as client:
            client.generate(MODEL, "Hello")
        span = traced.one("chat ")
        assert [event.name for event in span.events] == ["retry", "retry"]
        first, second = (dict(event.attributes) for event in span.events)
        assert first["error.type"] == "ProviderError" and first["http.response.status_code"] == 503
        assert second["error.type"] == "RateLimitError" and second["llmsync.attempt"] == 2
        assert 0 <= first["llmsync.retry.delay"] <= 0.01
        assert seen[0].get_span_context().span_id == span.context.span_id

    def test_a_fallback_chain_is_one_span_per_model_tried(self, traced, client, server):
        server.add(Reply.error(400, "maximum context length exceeded", error_type="context_length_exceeded"))
        client.generate([MODEL, "anthropic/claude-sonnet-4-5"], "Hello")
        failed, answered = traced.spans("chat ")
        assert failed.attributes["error.type"] == "ContextLengthError"
        assert answered.name == "chat claude-sonnet-4-5" and "error.type" not in answered.attributes


class TestStreamSpans:
    def test_a_stream_span_ends_with_its_reply(self, traced, client):
        with client.stream(MODEL, "Hello") as stream:
            for event in stream:
                if isinstance(event, llmsync.Completed):
                    assert len(traced.spans("chat ")) == 1  # ended as Completed arrives
        attributes = traced.one("chat ").attributes
        assert attributes["gen_ai.usage.output_tokens"] == 5
        assert attributes["gen_ai.response.finish_reasons"] == ("stop",)

    def test_a_stream_closed_early_still_ends_its_span_without_error(self, traced, client, server):
        server.add(Reply(text="one two three four", chunk_size=4, delay_between=0.01))
        with client.stream(MODEL, "Hello") as stream:
            next(iter(stream))
        span = traced.one("chat ")
        assert span.status.status_code == StatusCode.UNSET and span.end_time is not None

    def test_a_broken_stream_is_an_error_span(self, traced, client, server):
        server.add(Reply(text="Hello there, world", chunk_size=5, disconnect_after=2))
        with pytest.raises(llmsync.StreamError):
            with client.stream(MODEL, "Hello") as stream:
                list(stream)
        assert traced.one("chat ").attributes["error.type"] == "StreamError"


class TestContextFollowsTheWork:
    def test_tool_spans_are_children_of_the_callers_span_on_pool_threads(self, traced, client, server):
        threads = []

        @llmsync.tool
        def add(a: int, b: int) -> int:
            """Add."""
            threads.append(threading.current_thread().name)
            return a + b

        @llmsync.tool
        def fail() -> str:
            """Fail."""
            raise RuntimeError("broken tool")

        server.add(Reply.tools(("add", {"a": 1, "b": 2}), ("fail", {})), Reply(text="3"))
        with traced.tracer.start_as_current_span("request") as outer:
            client.run(MODEL, "1+2?", tools=[add, fail])
        assert threads and threads[0] != threading.current_thread().name
        add_span, fail_span = traced.one("execute_tool add"), traced.one("execute_tool fail")
        for span in (add_span, fail_span):
            assert span.kind == SpanKind.INTERNAL
            assert span.parent.span_id == outer.get_span_context().span_id
            assert span.context.trace_id == outer.get_span_context().trace_id
        assert dict(add_span.attributes) == {"gen_ai.operation.name": "execute_tool", "gen_ai.tool.name": "add",
                                             "gen_ai.tool.type": "function", "gen_ai.tool.call.id": "call_0_add"}
        assert fail_span.attributes["error.type"] == "_OTHER"
        assert fail_span.status.status_code == StatusCode.ERROR
        chats = traced.spans("chat ")
        assert len(chats) == 2 and all(s.parent.span_id == outer.get_span_context().span_id for s in chats)

    def test_batch_spans_keep_the_callers_span_as_parent(self, traced, client):
        with traced.tracer.start_as_current_span("nightly job") as outer:
            results = list(client.batch([{"model": MODEL, "prompt": p} for p in "abcd"], max_workers=3))
        assert all(result.ok for result in results)
        chats = traced.spans("chat ")
        assert len(chats) == 4
        assert {span.parent.span_id for span in chats} == {outer.get_span_context().span_id}


class TestProviderName:
    @pytest.mark.parametrize("provider_id, name", [
        ("openai", "openai"), ("anthropic", "anthropic"), ("gemini", "gcp.gemini"), ("vertex", "gcp.vertex_ai"),
        ("vertex-anthropic", "gcp.vertex_ai"), ("bedrock", "aws.bedrock"), ("azure", "azure.ai.openai"),
        ("xai", "x_ai"), ("mistral", "mistral_ai"), ("groq", "groq"), ("deepseek", "deepseek"),
        ("ollama", "ollama"), ("vllm", "vllm"),
    ])
    def test_well_known_values_else_the_llmsync_id(self, provider_id, name):
        assert telemetry.provider_name(get_provider(provider_id)) == name


def test_a_program_that_does_not_trace_never_imports_opentelemetry():
    """Even with opentelemetry installed, ``import llmsync`` and calls leave it alone."""
    script = textwrap.dedent("""
        import sys
        import llmsync
        from llmsync.testing import FakeServer, Reply

        @llmsync.tool
        def echo(text: str) -> str:
            "Echo."
            return text

        with FakeServer([Reply.tools(("echo", {"text": "x"})), Reply(text="ok")]) as server, \\
                server.client() as client:
            client.generate("openai/gpt-4o-mini", "Hi")
            list(client.stream("openai/gpt-4o-mini", "Hi"))
            client.run("openai/gpt-4o-mini", "Hi", tools=[echo])
            list(client.batch([{"model": "openai/gpt-4o-mini", "prompt": "Hi"}]))
        print(sorted(name for name in sys.modules if name.startswith("opentelemetry")))
    """)
    result = subprocess.run([sys.executable, "-c", script], cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"
