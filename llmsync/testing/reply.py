"""``Reply``: one scripted answer of the fake server, independent of any wire format."""
import dataclasses
import datetime
import enum
import json
from dataclasses import dataclass, field
from typing import Any, Dict, List, Optional

from ..types import Citation, FinishReason, ServerToolCall, TokenLogprob, ToolCall, Usage

__all__ = ["Reply"]


@dataclass
class Reply:
    """What the fake server answers to one request, in whichever format was asked for.

    Content: ``text`` (sent in deltas of ``chunk_size`` characters), ``reasoning``
    (with ``signature`` where the format has one), ``tool_calls`` (arguments sent in
    deltas of ``chunk_size`` characters), ``usage`` and ``finish_reason`` (default: tool
    calls if any, else stop).

    What a reply carries besides text, in each format's own shape: ``refusal`` (OpenAI
    Chat ``refusal``, a Responses ``refusal`` part; Anthropic and Gemini have no explicit
    refusal, so there it is text ending in ``refusal``/``SAFETY``), ``citations`` (of
    ``text``: Anthropic text-block citations, OpenAI ``url_citation`` annotations, Gemini
    grounding chunks) and ``server_tool_calls`` (Anthropic ``server_tool_use`` + result,
    Responses ``web_search_call``/``code_interpreter_call``, Gemini ``executableCode`` +
    ``codeExecutionResult``; Chat Completions has none).

    ``logprobs`` (``TokenLogprob``s with their ``top``) are sent where the format has
    them (OpenAI Chat ``choices[].logprobs``, Responses ``output_text`` ``logprobs`` and
    text events, Gemini ``logprobsResult``), whether or not the request asked for them.
    ``Reply.structured(value)`` answers a ``response_format`` type with ``value``'s JSON.

    Faults: ``status`` with ``error_message`` (or a raw ``body``), ``headers``;
    ``delay_before`` stalls before the first byte, ``delay_between`` between events,
    ``stall`` seconds before event number ``stall_after``;
    ``disconnect_after`` drops the connection after that many events; ``split_bytes``
    writes the body in pieces of that many bytes; ``gzip`` compresses the body;
    ``close_after`` closes the connection after the reply without saying so (a stale
    kept-alive connection); ``unchunked`` sends a stream without chunked encoding and
    ends it by closing the connection, as an HTTP/1.0 proxy does; ``body`` replaces the
    rendered body with these exact bytes.
    """

    text: str = ""
    reasoning: str = ""
    signature: str = "sig-fake"
    tool_calls: List[ToolCall] = field(default_factory=list)
    refusal: str = ""
    citations: List[Citation] = field(default_factory=list)
    server_tool_calls: List[ServerToolCall] = field(default_factory=list)
    logprobs: List[TokenLogprob] = field(default_factory=list)
    usage: Optional[Usage] = field(default_factory=lambda: Usage(10, 5, 15))
    finish_reason: Optional[FinishReason] = None
    chunk_size: int = 8
    status: int = 200
    error_message: Optional[str] = None
    error_type: Optional[str] = None
    headers: Dict[str, str] = field(default_factory=dict)
    body: Optional[bytes] = None
    content_type: Optional[str] = None
    delay_before: float = 0.0
    delay_between: float = 0.0
    stall_after: Optional[int] = None
    stall: float = 0.0
    disconnect_after: Optional[int] = None
    split_bytes: Optional[int] = None
    gzip: bool = False
    close_after: bool = False
    unchunked: bool = False

    @classmethod
    def tools(cls, *calls: Any, **options: Any) -> "Reply":
        """A reply that calls tools: ``("name", {"arg": 1})`` pairs or ``ToolCall``s."""
        tool_calls = []
        for position, call in enumerate(calls):
            if not isinstance(call, ToolCall):
                name, arguments = call
                call = ToolCall(f"call_{position}_{name}", name, json.dumps(arguments))
            tool_calls.append(call)
        return cls(tool_calls=tool_calls, **options)

    @classmethod
    def structured(cls, value: Any, **options: Any) -> "Reply":
        """A structured answer: ``value`` (a dataclass, pydantic model, dict, list, enum,
        ...) as the JSON text a provider's structured mode sends for it, wrapped as llmsync
        asks: a list as ``{"items": [...]}``, another non-object as ``{"value": ...}``."""
        data = _jsonable(value)
        if isinstance(data, list):
            data = {"items": data}
        elif not isinstance(data, dict):
            data = {"value": data}
        return cls(text=json.dumps(data), **options)

    @classmethod
    def error(cls, status: int, message: str = "simulated error", **options: Any) -> "Reply":
        """An HTTP error in the provider's own error-body format."""
        return cls(status=status, error_message=message, **options)

    @property
    def finish(self) -> FinishReason:
        if self.finish_reason is not None:
            return self.finish_reason
        if self.refusal:
            return FinishReason.CONTENT_FILTER
        return FinishReason.TOOL_CALLS if self.tool_calls else FinishReason.STOP

    def span(self, citation: Citation) -> tuple:
        """(start, end) of a citation's ``cited_text`` in ``text``; (0, 0) if not in it."""
        start = self.text.find(citation.cited_text) if citation.cited_text else -1
        return (start, start + len(citation.cited_text or "")) if start >= 0 else (0, 0)

    def pieces(self, text: str) -> List[str]:
        size = max(self.chunk_size, 1)
        return [text[i:i + size] for i in range(0, len(text), size)]


def _jsonable(value: Any) -> Any:
    """``value`` as plain JSON data (dataclasses, pydantic models, enums, dates included)."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: _jsonable(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if hasattr(value, "model_dump"):  # a pydantic model
        return value.model_dump(mode="json")
    if isinstance(value, enum.Enum):
        return _jsonable(value.value)
    if isinstance(value, (datetime.date, datetime.time)):
        return value.isoformat()
    if isinstance(value, dict):
        return {str(key): _jsonable(item) for key, item in value.items()}
    if isinstance(value, (list, tuple, set, frozenset)):
        return [_jsonable(item) for item in value]
    return value
