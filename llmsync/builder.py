"""ResponseBuilder: accumulates a reply from stream pieces into a ``Response``.

Provider stream parsers call it for each piece and return the event it hands back, so
the events a caller sees and the ``Response`` they add up to can never disagree. The
same builder gives ``StreamError.partial`` when a stream breaks.
"""
from typing import Dict, Hashable, List, Optional

from .events import ReasoningDelta, TextDelta, ToolCallDelta, ToolCallEnd, ToolCallStart, UsageUpdate
from .types import FinishReason, ReasoningBlock, Response, ToolCall, Usage

__all__ = ["ResponseBuilder"]

_USAGE_FIELDS = ("prompt_tokens", "completion_tokens", "total_tokens", "cache_read_tokens",
                 "cache_write_tokens", "reasoning_tokens")


def _string(value: object, what: str) -> str:
    """``value`` if it is a string; else TypeError, which the transport reports as a
    ``ProviderError`` (a parser must never hand the caller ``TextDelta(text=1.0)``)."""
    if not isinstance(value, str):
        raise TypeError(f"{what} must be a string, got {type(value).__name__}")
    return value


class _TextBuffer:
    """Concatenates many small pieces of text in memory close to the text's own size.

    A list of pieces costs a string object (~50 bytes) per piece, and ``io.StringIO``
    keeps its pieces too until read; so every 256 pieces are joined into one.
    """

    __slots__ = ("_chunks", "_pieces")

    def __init__(self) -> None:
        self._chunks: List[str] = []
        self._pieces: List[str] = []

    def write(self, text: str) -> None:
        pieces = self._pieces
        pieces.append(text)
        if len(pieces) >= 256:
            self._chunks.append("".join(pieces))
            pieces.clear()

    def getvalue(self) -> str:
        return "".join(self._chunks + self._pieces)  # one join: no third copy of the text

    def __bool__(self) -> bool:
        return bool(self._chunks or self._pieces)


class _PendingCall:
    __slots__ = ("index", "id", "name", "arguments", "signature", "done")

    def __init__(self, index: int, call_id: str, name: str) -> None:
        self.index = index
        self.id = call_id
        self.name = name
        self.arguments = _TextBuffer()
        self.signature: Optional[str] = None
        self.done = False

    def tool_call(self) -> ToolCall:
        return ToolCall(self.id, self.name, self.arguments.getvalue() or "{}", self.signature)


class ResponseBuilder:
    """Collects text, reasoning, tool calls, usage and the finish reason of one reply.

    Tool calls are keyed by whatever the wire uses (an index, a block index, an item
    id); events number them 0, 1, 2... in the order they started.
    """

    def __init__(self, provider: Optional[str], model: Optional[str]) -> None:
        self.provider = provider
        self.model = model
        self.id: Optional[str] = None
        self.usage: Optional[Usage] = None
        self.finish_reason: Optional[FinishReason] = None
        self.error_message: Optional[str] = None
        self.reasoning_blocks: List[ReasoningBlock] = []
        self._text = _TextBuffer()
        self._reasoning = _TextBuffer()
        self._calls: Dict[Hashable, _PendingCall] = {}

    def text(self, text: str) -> TextDelta:
        self._text.write(_string(text, "text"))
        return TextDelta(text)

    def reasoning(self, text: str) -> ReasoningDelta:
        self._reasoning.write(_string(text, "reasoning"))
        return ReasoningDelta(text)

    def has_call(self, key: Hashable) -> bool:
        return key in self._calls

    def tool_start(self, key: Hashable, call_id: str, name: str) -> ToolCallStart:
        call = _PendingCall(len(self._calls), _string(call_id, "a tool call id"), _string(name, "a tool name"))
        self._calls[key] = call
        return ToolCallStart(call.index, call_id, name)

    def tool_delta(self, key: Hashable, arguments: str) -> ToolCallDelta:
        call = self._calls[key]
        call.arguments.write(_string(arguments, "tool call arguments"))
        return ToolCallDelta(call.index, arguments)

    def tool_end(self, key: Hashable, signature: Optional[str] = None) -> ToolCallEnd:
        call = self._calls[key]
        call.done = True
        if signature is not None:
            call.signature = signature
        return ToolCallEnd(call.index, call.tool_call())

    def end_open_calls(self) -> List[ToolCallEnd]:
        """Close every tool call still open (when the wire has no per-call end)."""
        return [self.tool_end(key) for key, call in self._calls.items() if not call.done]

    def set_usage(self, usage: Usage) -> UsageUpdate:
        for name in _USAGE_FIELDS:
            value = getattr(usage, name)
            if not isinstance(value, int) or isinstance(value, bool):
                raise TypeError(f"usage.{name} must be an integer, got {type(value).__name__}")
        self.usage = usage
        return UsageUpdate(usage)

    @property
    def tool_calls(self) -> List[ToolCall]:
        return [call.tool_call() for call in self._calls.values()]

    def build(self) -> Response:
        """The ``Response`` so far: final after the stream ends, partial before."""
        tool_calls = self.tool_calls
        finish_reason = self.finish_reason
        if tool_calls and finish_reason is FinishReason.STOP:
            finish_reason = FinishReason.TOOL_CALLS
        return Response(
            content=self._text.getvalue() or None,
            tool_calls=tool_calls,
            usage=self.usage,
            finish_reason=finish_reason,
            reasoning=self._reasoning.getvalue() or None,
            model=self.model,
            provider=self.provider,
            id=self.id,
            reasoning_blocks=list(self.reasoning_blocks),
            error_message=self.error_message,
        )
