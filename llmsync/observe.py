"""Hooks, the per-attempt log and spans around every model call and tool run.

``Client(hooks=[...])`` takes objects defining any of ``on_request(plan)``,
``on_response(response)``, ``on_retry(error, attempt, delay)``, ``on_error(error)``,
``on_tool_call(tool_call)`` and ``on_tool_result(result)``. They run on the thread doing
the work (the caller's; a batch worker's; the tool pool's for tool hooks), so they must
be thread-safe. A hook that raises is logged (once per hook and method) and never breaks
the call. Hooks see no keys: ``on_request`` gets the redacted ``Plan``, errors and log
records are scrubbed of every secret llmsync holds.

The ``llmsync`` logger writes one DEBUG line per HTTP attempt::

    openai/gpt-4o-mini attempt 1: api.openai.com status=200 latency=0.412s tokens=12+5 request_id=req_1

When nothing watches (no hooks, DEBUG off, OpenTelemetry not in use) ``watch`` hands the
exchange back untouched: the cost is three cheap checks per call.
"""
import json
import logging
import threading
import time
from typing import TYPE_CHECKING, Any, Callable, Dict, Iterable, Iterator, List, Optional, Sequence, Set, Tuple
from urllib.parse import urlsplit

from . import telemetry
from .errors import InvalidRequestError, LLMError
from .events import Completed, Event
from .redaction import scrub

if TYPE_CHECKING:
    from .client import Plan
    from .events import ToolResult
    from .exchange import Exchange, Prepared
    from .types import Response, ToolCall, Usage

__all__ = ["HOOK_METHODS", "Hooks", "watch", "request_plan", "ToolObserver", "tool_observer"]

log = logging.getLogger("llmsync")

HOOK_METHODS = ("on_request", "on_response", "on_retry", "on_error", "on_tool_call", "on_tool_result")


class Hooks:
    """A client's hook objects, checked once, called safely.

    Raises:
        InvalidRequestError: ``hooks`` is not a list of objects, an item is a class, or
            an item defines none of ``HOOK_METHODS``.
    """

    def __init__(self, hooks: Optional[Iterable[Any]] = None) -> None:
        if hooks is None:
            hooks = ()
        if isinstance(hooks, (str, bytes, dict)) or not hasattr(hooks, "__iter__"):
            raise InvalidRequestError(f"hooks must be a list of objects with hook methods, got {hooks!r}")
        self.hooks: Tuple[Any, ...] = tuple(hooks)
        self._methods: Dict[str, List[Tuple[Any, Callable[..., Any]]]] = {name: [] for name in HOOK_METHODS}
        for position, hook in enumerate(self.hooks):
            self._add(position, hook)
        self._reported: Set[Tuple[int, str]] = set()
        self._lock = threading.Lock()

    def _add(self, position: int, hook: Any) -> None:
        if isinstance(hook, type):
            raise InvalidRequestError(f"hooks[{position}] is the class {hook.__name__}: pass an instance of it")
        found = [(name, getattr(hook, name, None)) for name in HOOK_METHODS]
        methods = [(name, method) for name, method in found if callable(method)]
        if not methods:
            raise InvalidRequestError(
                f"hooks[{position}] ({type(hook).__name__}) has none of the hook methods {', '.join(HOOK_METHODS)}")
        for name, method in methods:
            self._methods[name].append((hook, method))

    def __bool__(self) -> bool:
        return bool(self.hooks)

    def __len__(self) -> int:
        return len(self.hooks)

    def wants(self, name: str) -> bool:
        """Whether any hook defines ``name``."""
        return bool(self._methods[name])

    def emit(self, name: str, *args: Any) -> None:
        """Call every hook's ``name`` method; one that raises is logged, never re-raised."""
        for hook, method in self._methods[name]:
            try:
                method(*args)
            # A hook is the user's code: its failure must not break the call it watches.
            except Exception:  # noqa: BLE001
                self._report(hook, name)

    def _report(self, hook: Any, name: str) -> None:
        key = (id(hook), name)
        with self._lock:
            first = key not in self._reported
            self._reported.add(key)
        if first:
            log.warning("hook %s.%s raised; the call goes on (further failures of it are logged at DEBUG)",
                        type(hook).__name__, name, exc_info=True)
        else:
            log.debug("hook %s.%s raised again", type(hook).__name__, name, exc_info=True)


def request_plan(prepared: "Prepared", adjustments: Sequence[str]) -> "Plan":
    """The ``Plan`` of a prepared request, as ``on_request`` hooks see it.

    Credentials are added per attempt and are not in it; any secret llmsync holds that
    appears in the URL or a header shows as ``***``.
    """
    from .client import Plan

    body = json.loads(prepared.body) if prepared.body else {}
    headers = {name: scrub(value) for name, value in prepared.headers.items()}
    return Plan(prepared.provider.id, prepared.model, scrub(prepared.url), headers, body, list(adjustments))


def watch(exchange: "Exchange", hooks: Optional[Hooks], adjustments: Sequence[str] = ()) -> Any:
    """``exchange`` as it is when nothing watches, else wrapped so hooks, logs and spans see it."""
    if not hooks and not log.isEnabledFor(logging.DEBUG) and not telemetry.active():
        return exchange
    return Watched(exchange, hooks or Hooks(), adjustments)


class Watched:
    """An ``Exchange`` whose call is seen by the hooks, the log and a span.

    It joins the retry engine through the exchange's ``before_attempt`` and ``on_retry``
    hooks (keeping those already there) and wraps ``response()`` and ``events()``;
    everything else is the exchange's own.
    """

    def __init__(self, exchange: "Exchange", hooks: Hooks, adjustments: Sequence[str] = ()) -> None:
        self._exchange = exchange
        self._hooks = hooks
        self._adjustments = adjustments
        self._span: Optional[telemetry.ChatSpan] = None
        self._attempt = 0
        self._attempt_started = time.monotonic()
        self._done = False
        self._before, self._on_retry = exchange.before_attempt, exchange.on_retry
        exchange.before_attempt = self._before_attempt
        exchange.on_retry = self._retried

    def __getattr__(self, name: str) -> Any:
        exchange = self.__dict__.get("_exchange")
        if exchange is None:
            raise AttributeError(name)
        return getattr(exchange, name)

    @property
    def final(self) -> "Optional[Response]":
        return self._exchange.final

    def stop(self, *reason: str) -> None:
        self._exchange.stop(*reason)

    def partial(self) -> "Response":
        return self._exchange.partial()

    # -- the two ways a call runs ------------------------------------------------------------

    def response(self) -> "Response":
        """``Exchange.response()``, watched."""
        self._start()
        try:
            with telemetry.current_or_none(self._span):
                response = self._exchange.response()
        except LLMError as error:
            self._failed(error)
            raise
        except BaseException as exc:  # Ctrl-C, a worker's time limit: the span still ends
            self._aborted(exc)
            raise
        self._succeeded(response)
        return response

    def events(self) -> Iterator[Event]:
        """``Exchange.events()``, watched: ``on_response`` at ``Completed``, or with the
        partial reply when the stream is closed or breaks after events."""
        self._start()
        inner = self._exchange.events()
        delivered = False
        try:
            for event in inner:
                delivered = True
                if isinstance(event, Completed):
                    self._succeeded(event.response)
                yield event
        except LLMError as error:
            self._failed(error, self._exchange.partial() if delivered else None)
            raise
        except GeneratorExit:
            self._closed()
            raise
        except BaseException as exc:
            self._aborted(exc)
            raise
        finally:
            inner.close()
        self._closed()

    # -- what is seen --------------------------------------------------------------------------

    def _start(self) -> None:
        prepared = self._exchange.prepared
        if telemetry.active():
            self._span = telemetry.ChatSpan(prepared.provider, prepared.model, prepared.url, prepared.request)
        if self._hooks.wants("on_request"):
            self._hooks.emit("on_request", request_plan(prepared, self._adjustments))

    def _before_attempt(self) -> None:
        if self._before is not None:
            self._before()  # a batch's rate limits may wait here: not part of the attempt
        self._attempt += 1
        self._attempt_started = time.monotonic()

    def _retried(self, error: LLMError, attempt: int, delay: float) -> None:
        if self._on_retry is not None:
            self._on_retry(error, attempt, delay)
        self._log_attempt(error=error)
        if self._span is not None:
            self._span.retry(error, attempt, delay)
        self._hooks.emit("on_retry", error, attempt, delay)

    def _succeeded(self, response: "Response") -> None:
        if self._done:
            return
        self._done = True
        self._log_attempt(usage=response.usage, request_id=response.request_id,
                          status=getattr(self._exchange, "status", None))
        if self._span is not None:
            self._span.succeeded(response)
        self._hooks.emit("on_response", response)

    def _failed(self, error: LLMError, partial: "Optional[Response]" = None) -> None:
        if self._done:
            return
        self._done = True
        self._log_attempt(error=error, usage=partial.usage if partial is not None else None)
        if self._span is not None:
            self._span.failed(error, partial)
        if partial is not None:
            self._hooks.emit("on_response", partial)
        self._hooks.emit("on_error", error)

    def _closed(self) -> None:
        """The stream ended before ``Completed``: closed, cancelled or abandoned."""
        if self._done:
            return
        self._done = True
        partial = self._exchange.partial()
        self._log_attempt(usage=partial.usage, request_id=partial.request_id, status="closed")
        if self._span is not None:
            self._span.succeeded(partial)
        self._hooks.emit("on_response", partial)

    def _aborted(self, exc: BaseException) -> None:
        if self._done:
            return
        self._done = True
        if self._span is not None:
            self._span.failed(exc)

    def _log_attempt(self, error: Optional[LLMError] = None, usage: "Optional[Usage]" = None,
                     request_id: Optional[str] = None, status: Any = None) -> None:
        if self._attempt == 0 or not log.isEnabledFor(logging.DEBUG):
            return
        prepared = self._exchange.prepared
        where = urlsplit(prepared.url)
        host = f"{where.hostname}:{where.port}" if where.port else where.hostname
        if error is not None:
            status = f"{error.status if error.status is not None else '-'} {type(error).__name__}"
            request_id = error.request_id
        tokens = f"{usage.prompt_tokens}+{usage.completion_tokens}" if usage is not None else "-"
        log.debug("%s/%s attempt %d: %s status=%s latency=%.3fs tokens=%s request_id=%s",
                  prepared.provider.id, prepared.model, self._attempt, host, status if status is not None else 200,
                  time.monotonic() - self._attempt_started, tokens, request_id or "-")


class ToolObserver:
    """Hooks and ``execute_tool`` spans around the tools ``Client.run`` runs.

    ``started`` and ``finished`` are called on the thread running the tool.
    """

    def __init__(self, hooks: Hooks, trace: bool) -> None:
        self._hooks = hooks
        self._trace = trace

    def started(self, call: "ToolCall") -> Optional[telemetry.ToolSpan]:
        """A tool is about to run: its span starts (current on this thread), hooks see the call."""
        span = telemetry.ToolSpan(call) if self._trace else None
        self._hooks.emit("on_tool_call", call)
        return span

    def finished(self, span: Optional[telemetry.ToolSpan], result: "ToolResult") -> None:
        """The tool's result (an error result included): its span ends, hooks see it."""
        if span is not None:
            span.end(error=result.error)
        self._hooks.emit("on_tool_result", result)

    def aborted(self, span: Optional[telemetry.ToolSpan], exc: BaseException) -> None:
        """Something the run does not catch (``SystemExit``) escaped the tool."""
        if span is not None:
            span.end(exception=exc)


def tool_observer(client: Any) -> Optional[ToolObserver]:
    """The ``ToolObserver`` for a run on ``client``, or None when nothing watches tools."""
    hooks = getattr(client, "hooks", None)
    wanted = isinstance(hooks, Hooks) and (hooks.wants("on_tool_call") or hooks.wants("on_tool_result"))
    trace = telemetry.active()
    if not wanted and not trace:
        return None
    return ToolObserver(hooks if isinstance(hooks, Hooks) else Hooks(), trace)
