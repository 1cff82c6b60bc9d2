"""Tools: ``@tool``, ``Tool``, the ``ToolExecutor`` thread pool, and the tool-run loop.

``@tool`` turns a callable into a ``Tool`` whose ``ToolDefinition`` comes from its type
hints and docstring (``llmsync.tool_binding``, ``llmsync.tool_schema``). ``ToolExecutor``
runs one turn's tool calls on threads and turns every failure (an exception, an unknown tool, arguments that
do not fit the schema, a timeout) into an error result the model sees. ``run_loop`` and
``run_loop_stream`` are ``Client.run`` and ``Client.run_stream``: call the model, run
its tool calls, send the results back, repeat until it answers without tools.
"""
import contextvars
import dataclasses
import enum
import json
import logging
import queue
import time
from collections import deque
from concurrent.futures import Executor, ThreadPoolExecutor
from typing import (Any, Callable, Deque, Dict, Generator, Iterable, Iterator, List, Optional,
                    Tuple, Union)

from .errors import CancelledError, InvalidRequestError
from .events import Event, ToolResult
from .cancel import Cancel
from .observe import tool_observer
from .options import ParallelToolConfig, Request, _definition_of
from .tool_binding import Tool, tool
from .tool_binding import as_tool as _as_tool
from .types import Message, Response, ToolCall, Usage

__all__ = ["tool", "Tool", "ToolExecutor", "RunResult", "run_loop", "run_loop_stream",
           "encode_result"]

log = logging.getLogger("llmsync")


def _name_of(item: Any) -> str:
    if isinstance(item, Tool) and item.unbound:
        raise InvalidRequestError(
            f"tool {item.name!r} is the method {item.fn.__qualname__} taken from its class: pass "
            f"it from an instance (obj.{item.fn.__name__}), which it then runs on")
    return _definition_of(item).name


def encode_result(value: Any) -> str:
    """A tool's return value as the text the model sees: strings as they are, else JSON."""
    if isinstance(value, str):
        return value
    return json.dumps(value, default=_json_default, ensure_ascii=False)


def _json_default(value: Any) -> Any:
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return dataclasses.asdict(value)
    if isinstance(value, enum.Enum):
        return value.value
    if isinstance(value, (set, frozenset, tuple)):
        return list(value)
    to_dict = getattr(value, "to_dict", None)
    return to_dict() if callable(to_dict) else str(value)


def _error(call: ToolCall, message: str) -> ToolResult:
    return ToolResult(call, f"Error: {message}", error=message)


_Note = Tuple[str, int, Any]  # ("done", index, ToolResult) | ("raise", index, BaseException)


class ToolExecutor:
    """Runs one turn's tool calls on a thread pool and returns their results in order.

    At most ``config.max_parallel_tools`` calls run at once (one at a time, in call order,
    for ``ParallelToolConfig.sequential_only()``), whatever the size of the pool. A tool
    that raises, an unknown tool name, arguments that do not fit the schema and a timeout
    all become results starting with ``"Error: "`` that the model sees.

    A timed-out call is abandoned, not stopped (Python cannot kill a thread): it keeps
    its worker thread until it returns, and its late result is dropped.

    Args:
        tools: ``Tool``s or ``@tool`` functions (plain functions are wrapped with ``tool``).
        config: the concurrency bound (default ``ParallelToolConfig()``: 5 at once).
        executor: the pool to run on (``Client.run`` passes ``client.executor()``); without
            one the executor makes its own, released by ``close()``.
        timeout: seconds for tools that set no timeout of their own (None: no limit).
        observer: hooks and ``execute_tool`` spans around each tool, called on the thread
            running it (``llmsync.observe.ToolObserver``; ``Client.run`` sets it).
    """

    def __init__(self, tools: Iterable[Any], config: Optional[ParallelToolConfig] = None,
                 executor: Optional[Executor] = None, timeout: Optional[float] = None,
                 observer: Any = None) -> None:
        self.observer = observer
        self.tools: Dict[str, Tool] = {}
        self.config = config or ParallelToolConfig()
        self.timeout = timeout
        self._executor = executor
        self._own_pool: Optional[ThreadPoolExecutor] = None
        self._unimplemented: List[str] = []
        for item in tools:
            item = _as_tool(item)
            tool_name = _name_of(item)
            if tool_name in self.tools or tool_name in self._unimplemented:
                raise InvalidRequestError(f"two tools are named {tool_name!r}")
            if isinstance(item, Tool):
                self.tools[tool_name] = item
            else:
                self._unimplemented.append(tool_name)

    def run(self, calls: Iterable[ToolCall]) -> List[Message]:
        """Run the calls; their tool-response messages, in call order."""
        return [_message(result) for result in _in_call_order(self.execute_indexed(calls))]

    def execute(self, calls: Iterable[ToolCall]) -> Iterator[ToolResult]:
        """Run the calls, yielding each ``ToolResult`` as it finishes."""
        for _, result in self.execute_indexed(calls):
            yield result

    def execute_indexed(self, calls: Iterable[ToolCall],
                        cancel: Optional[Cancel] = None) -> Iterator[Tuple[int, ToolResult]]:
        """Like ``execute``, with each result's position among ``calls``.

        Raises:
            CancelledError: ``cancel`` was cancelled, or the client's pool was shut down
                (``Client.close()``), while tools were pending.
        """
        waiting: Deque[Tuple[int, ToolCall]] = deque(enumerate(calls))
        calls_by_index = dict(waiting)
        inbox: "queue.Queue[_Note]" = queue.Queue()
        unsubscribe = cancel.subscribe(lambda: inbox.put(("cancelled", -1, None))) if cancel else None
        try:
            yield from self._run_calls(waiting, calls_by_index, inbox)
        finally:
            if unsubscribe is not None:
                unsubscribe()

    def _run_calls(self, waiting: "Deque[Tuple[int, ToolCall]]", calls_by_index: Dict[int, ToolCall],
                   inbox: "queue.Queue[_Note]") -> Iterator[Tuple[int, ToolResult]]:
        # index -> deadline. It runs from submission, not from the start: a pool filled by
        # tools that timed out (and still hold their threads) must not hang the turn.
        running: Dict[int, Optional[float]] = {}
        limit = max(1, self.config.max_parallel_tools)
        while waiting or running:
            while waiting and len(running) < limit:
                index, call = waiting.popleft()
                job = self._bind(call)
                if isinstance(job, ToolResult):
                    if self.observer is not None:  # not run, but hooks and traces still see it
                        self.observer.finished(self.observer.started(call), job)
                    yield index, job
                    continue
                timeout = self._timeout_of(call)
                running[index] = None if timeout is None else time.monotonic() + timeout
                try:
                    # The caller's context (its OpenTelemetry span) follows the tool onto the pool.
                    self._pool().submit(contextvars.copy_context().run, _work, index, call, job, inbox, self.observer)
                except RuntimeError as exc:  # "cannot schedule new futures after shutdown"
                    raise CancelledError("the client was closed while tools were to run") from exc
            if not running:
                continue
            try:
                kind, index, value = inbox.get(timeout=_time_left(running))
            except queue.Empty:
                for index in [i for i, end in running.items() if end is not None and end <= time.monotonic()]:
                    del running[index]
                    yield index, self._timed_out(calls_by_index[index])
                continue
            if kind == "cancelled":
                raise CancelledError("the run was cancelled while tools were running")
            if index not in running:  # the late result of a call that timed out
                continue
            if kind == "raise":
                raise value
            del running[index]
            yield index, value

    def close(self) -> None:
        """Release the executor's own pool, if it made one."""
        if self._own_pool is not None:
            self._own_pool.shutdown(wait=False)
            self._own_pool = None

    def __enter__(self) -> "ToolExecutor":
        return self

    def __exit__(self, *exc_info: Any) -> None:
        self.close()

    def _pool(self) -> Executor:
        if self._executor is not None:
            return self._executor
        if self._own_pool is None:
            self._own_pool = ThreadPoolExecutor(max(1, self.config.max_parallel_tools),
                                                thread_name_prefix="llmsync-tool")
        return self._own_pool

    def _bind(self, call: ToolCall) -> Union[Callable[[], Any], ToolResult]:
        found = self.tools.get(call.name)
        if found is None:
            if call.name in self._unimplemented:
                return _error(call, f"tool {call.name!r} has no implementation to run")
            known = ", ".join(sorted(self.tools)) or "none"
            return _error(call, f"unknown tool {call.name!r}; available tools: {known}")
        try:
            return found.bind(call)
        except InvalidRequestError as exc:
            return _error(call, f"invalid arguments for {call.name}: {exc.message}")

    def _timeout_of(self, call: ToolCall) -> Optional[float]:
        found = self.tools.get(call.name)
        own = found.timeout if found is not None else None
        return own if own is not None else self.timeout

    def _timed_out(self, call: ToolCall) -> ToolResult:
        log.warning("tool %s (%s) timed out after %ss", call.name, call.id, self._timeout_of(call))
        return _error(call, f"tool {call.name} timed out after {self._timeout_of(call)}s")


def _work(index: int, call: ToolCall, job: Callable[[], Any], inbox: "queue.Queue[_Note]",
          observer: Any = None) -> None:
    seen = observer.started(call) if observer is not None else None
    try:
        result = ToolResult(call, encode_result(job()))
    # A tool is the user's code: whatever it raises is a result the model sees, by contract.
    except Exception as exc:  # noqa: BLE001
        log.info("tool %s (%s) raised %r", call.name, call.id, exc)
        result = _error(call, f"{type(exc).__name__}: {exc}")
    except BaseException as exc:  # SystemExit and the like belong to the caller's thread
        if observer is not None:
            observer.aborted(seen, exc)
        inbox.put(("raise", index, exc))
        raise
    if observer is not None:
        observer.finished(seen, result)
    inbox.put(("done", index, result))


def _time_left(running: Dict[int, Optional[float]]) -> Optional[float]:
    deadlines = [end for end in running.values() if end is not None]
    return max(min(deadlines) - time.monotonic(), 0.0) if deadlines else None


def _in_call_order(indexed: Iterable[Tuple[int, ToolResult]]) -> List[ToolResult]:
    return [result for _, result in sorted(indexed, key=lambda pair: pair[0])]


def _message(result: ToolResult) -> Message:
    call = result.tool_call
    return Message.tool_response(call.id, result.content, name=call.name)


# -- the run loop -----------------------------------------------------------------------------

@dataclasses.dataclass
class RunResult:
    """What ``Client.run`` ends with.

    Attributes:
        response: the last reply (the answer, or the last tool-calling reply when cut short).
        messages: the whole transcript: the input, every reply and every tool result.
        turns: how many model calls were made.
        usage: tokens summed over every turn.
        stopped_reason: None when the model answered; "max_turns" when cut short.
        tool_results: every ``ToolResult``, turn by turn, in call order.
    """

    response: Response
    messages: List[Message]
    turns: int
    usage: Usage
    stopped_reason: Optional[str] = None
    tool_results: List[ToolResult] = dataclasses.field(default_factory=list)


class _Run:
    """The state one run carries from turn to turn."""

    def __init__(self, client: Any, model: str, messages: Any, tools: List[Any], max_turns: int,
                 options: Dict[str, Any]) -> None:
        if not isinstance(max_turns, int) or max_turns < 1:
            raise InvalidRequestError(f"max_turns must be a positive int, got {max_turns!r}")
        options = dict(options)
        tool_timeout = options.pop("tool_timeout", None)
        tools = [_as_tool(item) for item in tools]
        self.executor = ToolExecutor(tools, config=options.get("parallel_tool_config"),
                                     executor=client.executor(), timeout=tool_timeout,
                                     observer=tool_observer(client))
        self.options = {**options, "tools": tools}
        self.cancel: Optional[Cancel] = options.get("cancel")
        self.model = model
        self.max_turns = max_turns
        self.messages: List[Message] = list(Request(model, messages).messages)
        self.turns = 0
        self.usage = Usage()
        self.response: Optional[Response] = None
        self.tool_results: List[ToolResult] = []

    def add_response(self, response: Response) -> bool:
        """Record a reply; True when it calls tools."""
        self.turns += 1
        self.response = response
        if response.usage is not None:
            self.usage = self.usage + response.usage
        self.messages.append(response.to_message())
        return bool(response.tool_calls)

    def add_results(self, indexed: Iterable[Tuple[int, ToolResult]]) -> None:
        results = _in_call_order(indexed)
        self.tool_results.extend(results)
        self.messages.extend(_message(result) for result in results)

    @property
    def out_of_turns(self) -> bool:
        return self.turns >= self.max_turns

    def result(self) -> RunResult:
        assert self.response is not None
        stopped = None
        if self.response.tool_calls:
            stopped = "max_turns"
            log.warning("%s: stopped after max_turns=%d with tool calls still coming; "
                        "the transcript ends with their results", self.model, self.max_turns)
        return RunResult(self.response, self.messages, self.turns, self.usage, stopped,
                         self.tool_results)


def run_loop(client: Any, model: str, messages: Any, tools: List[Any], max_turns: int,
             options: Dict[str, Any]) -> RunResult:
    """``Client.run``: call the model, run its tool calls, repeat until it answers.

    Each turn sends the whole transcript; the reply goes in as ``Response.to_message()``
    (so reasoning blocks and signatures reach the next turn) followed by one tool
    response per call, in call order. After ``max_turns`` model calls the loop stops
    (after running that turn's tools, so the transcript stays valid to continue), logs a
    warning and sets ``stopped_reason="max_turns"``.

    Args:
        client: the ``Client``; its shared pool runs the tools.
        model: "provider/model-id".
        messages: a string or a list of ``Message``.
        tools: ``@tool`` functions, ``Tool``s or plain functions (wrapped with ``tool``).
        max_turns: the most model calls to make.
        options: ``Request`` options for every call, plus ``tool_timeout`` (seconds) for
            tools without a timeout of their own. ``parallel_tool_config`` also bounds
            how many tools run at once.

    Raises:
        LLMError: a model call failed; tool failures never raise.
    """
    run = _Run(client, model, messages, tools, max_turns, options)
    while True:
        response = client.generate(model, run.messages, **run.options)
        if not run.add_response(response):
            return run.result()
        run.add_results(run.executor.execute_indexed(response.tool_calls, run.cancel))
        if run.out_of_turns:
            return run.result()


def run_loop_stream(client: Any, model: str, messages: Any, tools: List[Any], max_turns: int,
                    options: Dict[str, Any]) -> Generator[Event, None, RunResult]:
    """``Client.run_stream``: ``run_loop`` yielding every event as it happens.

    Yields each turn's stream events (``TextDelta`` ... ``Completed``, one ``Completed``
    per turn), then a ``ToolResult`` per tool call in the order the calls finish. When
    the model answers, the last event is that turn's ``Completed``; when ``max_turns``
    cuts the run short, it is the last turn's final ``ToolResult``. The generator's
    return value (``StopIteration.value``, or the value of ``yield from``) is the
    ``RunResult``. Arguments are checked when it is called, before the first event.
    """
    run = _Run(client, model, messages, tools, max_turns, options)
    return _stream_turns(client, run)


def _stream_turns(client: Any, run: _Run) -> Generator[Event, None, RunResult]:
    while True:
        with client.stream(run.model, run.messages, **run.options) as stream:
            for event in stream:
                yield event
            response = stream.response
        assert response is not None, "a finished stream always has a response"
        if not run.add_response(response):
            return run.result()
        finished = []
        for index, result in run.executor.execute_indexed(response.tool_calls, run.cancel):
            finished.append((index, result))
            yield result
        run.add_results(finished)
        if run.out_of_turns:
            return run.result()
