"""OpenTelemetry spans in the GenAI semantic conventions (extra ``llmsync[otel]``).

Each model call is a CLIENT span ``chat {model-id}``; each tool that ``Client.run``
runs is an INTERNAL span ``execute_tool {name}``; retries are span events. Attribute
names and values follow the OpenTelemetry GenAI conventions
(https://opentelemetry.io/docs/specs/semconv/gen-ai/gen-ai-spans/, "Inference" and
"Execute tool span"; ``gen_ai.provider.name`` takes that page's well-known values).

Spans are made only when the application uses OpenTelemetry, that is when
``opentelemetry.trace`` has been imported (configuring a tracer provider imports it).
Otherwise this module never imports OpenTelemetry and ``active()`` is one dictionary
lookup: a program that does not trace pays nothing.
"""
import sys
from contextlib import nullcontext
from typing import TYPE_CHECKING, Any, ContextManager, Dict, Optional
from urllib.parse import urlsplit

from .errors import LLMError

if TYPE_CHECKING:
    from .types import Response, ToolCall

__all__ = ["active", "provider_name", "ChatSpan", "ToolSpan"]

TRACER_NAME = "llmsync"


def active() -> bool:
    """Whether the application uses OpenTelemetry (has imported its tracing API)."""
    return "opentelemetry.trace" in sys.modules


def provider_name(provider: Any) -> str:
    """``gen_ai.provider.name`` for an llmsync provider."""
    # The convention's well-known values come from each provider's class attribute.
    return getattr(provider, "otel_provider_name", None) or provider.id


def _trace() -> Any:
    from opentelemetry import trace

    return trace


def _tracer() -> Any:
    from . import __version__

    return _trace().get_tracer(TRACER_NAME, __version__)


def error_type(error: BaseException) -> str:
    """A low-cardinality ``error.type``: the exception's class name (``RateLimitError``)."""
    return type(error).__qualname__


def _set_error(span: Any, error: BaseException) -> None:
    from opentelemetry.trace import Status, StatusCode

    span.set_attribute("error.type", error_type(error))
    message = error.message if isinstance(error, LLMError) else str(error)
    span.set_status(Status(StatusCode.ERROR, message))


class ChatSpan:
    """The span of one model call: started when the request goes out, ended with its reply.

    Args:
        provider: the llmsync ``Provider``.
        model_id: the model id (the part after ``provider/``).
        url: the request URL (only its host and port are recorded).
        request: the llmsync ``Request`` (max_tokens and temperature are recorded when set).
    """

    def __init__(self, provider: Any, model_id: str, url: str, request: Any = None) -> None:
        trace = _trace()
        attributes: Dict[str, Any] = {
            "gen_ai.operation.name": "chat",
            "gen_ai.provider.name": provider_name(provider),
            "gen_ai.request.model": model_id,
        }
        for option, attribute in (("max_tokens", "gen_ai.request.max_tokens"),
                                  ("temperature", "gen_ai.request.temperature")):
            value = getattr(request, option, None)
            if value is not None:
                attributes[attribute] = value
        where = urlsplit(url)
        if where.hostname:
            attributes["server.address"] = where.hostname
            attributes["server.port"] = where.port or (443 if where.scheme == "https" else 80)
        self.span = _tracer().start_span(f"chat {model_id}", kind=trace.SpanKind.CLIENT, attributes=attributes)

    def current(self) -> ContextManager[Any]:
        """Make the span current on this thread (HTTP instrumentation nests under it)."""
        return _trace().use_span(self.span, end_on_exit=False)

    def retry(self, error: LLMError, attempt: int, delay: float) -> None:
        """Record a failed attempt that will be retried, as a span event."""
        attributes: Dict[str, Any] = {"error.type": error_type(error), "llmsync.attempt": attempt,
                                      "llmsync.retry.delay": delay}
        if error.status is not None:
            attributes["http.response.status_code"] = error.status
        self.span.add_event("retry", attributes)

    def succeeded(self, response: "Response") -> None:
        self._record(response)
        self.span.end()

    def failed(self, error: BaseException, partial: "Optional[Response]" = None) -> None:
        if partial is not None:
            self._record(partial)
        _set_error(self.span, error)
        self.span.end()

    def _record(self, response: "Response") -> None:
        span = self.span
        if response.model:
            span.set_attribute("gen_ai.response.model", response.model)
        if response.id:
            span.set_attribute("gen_ai.response.id", response.id)
        if response.finish_reason is not None:
            span.set_attribute("gen_ai.response.finish_reasons", [str(response.finish_reason.value)])
        if response.usage is not None:
            span.set_attribute("gen_ai.usage.input_tokens", response.usage.prompt_tokens)
            span.set_attribute("gen_ai.usage.output_tokens", response.usage.completion_tokens)


class ToolSpan:
    """The span of one tool run, current on the thread running the tool."""

    def __init__(self, call: "ToolCall") -> None:
        trace = _trace()
        from opentelemetry import context

        self._context = context
        attributes = {"gen_ai.operation.name": "execute_tool", "gen_ai.tool.name": call.name,
                      "gen_ai.tool.type": "function"}
        if call.id:
            attributes["gen_ai.tool.call.id"] = call.id
        self.span = _tracer().start_span(f"execute_tool {call.name}", kind=trace.SpanKind.INTERNAL,
                                         attributes=attributes)
        self._token = context.attach(trace.set_span_in_context(self.span))

    def end(self, error: Optional[str] = None, exception: Optional[BaseException] = None) -> None:
        """End the span; ``error`` is the tool's error text, ``exception`` what escaped it."""
        from opentelemetry.trace import Status, StatusCode

        if exception is not None:
            _set_error(self.span, exception)
        elif error is not None:
            # The tool's failure became a result the model sees; the convention's catch-all
            # error.type says it failed without inventing a class name.
            self.span.set_attribute("error.type", "_OTHER")
            self.span.set_status(Status(StatusCode.ERROR, error))
        self._context.detach(self._token)
        self.span.end()


def current_or_none(span: Optional[ChatSpan]) -> ContextManager[Any]:
    """``span.current()``, or a no-op when there is no span."""
    return span.current() if span is not None else nullcontext()
