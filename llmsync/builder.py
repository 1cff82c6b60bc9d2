"""ResponseBuilder: accumulates a reply from stream pieces into a ``Response``.

Provider stream parsers call it for each piece and return the event it hands back, so
the events a caller sees and the ``Response`` they add up to can never disagree. The
same builder gives ``StreamError.partial`` when a stream breaks, and whole (non-streamed)
replies go through it too. It also prices the reply (``Response.cost``), since it knows
the provider and the model.
"""
import logging
from typing import Any, Callable, Dict, Hashable, List, Optional

from .events import ReasoningDelta, TextDelta, ToolCallDelta, ToolCallEnd, ToolCallStart, UsageUpdate
from .types import Citation, FinishReason, ReasoningBlock, Response, ServerToolCall, TokenLogprob, ToolCall, Usage

__all__ = ["ResponseBuilder", "usage_of", "token_count"]

log = logging.getLogger("llmsync")

MetaLookup = Callable[[str], Any]  # model id -> ModelMeta or None (a provider's catalog view)

_USAGE_FIELDS = ("prompt_tokens", "completion_tokens", "total_tokens", "cache_read_tokens",
                 "cache_write_tokens", "reasoning_tokens")


def _not_a_string(value: object, what: str) -> TypeError:
    """The error for a wire value that should be a string; the transport reports it as a
    ``ProviderError`` (a parser must never hand the caller ``TextDelta(text=1.0)``)."""
    return TypeError(f"{what} must be a string, got {type(value).__name__}")


def _string(value: object, what: str) -> str:
    """``value`` if it is a string; else ``_not_a_string``."""
    if not isinstance(value, str):
        raise _not_a_string(value, what)
    return value


def token_count(value: Any) -> int:
    """A token count from the wire: a positive int as is; absent, negative or not an int is 0."""
    return value if type(value) is int and value > 0 else 0


def usage_of(prompt: Any = 0, completion: Any = 0, cache_read: Any = 0, cache_write: Any = 0,
             reasoning: Any = 0) -> Usage:
    """A ``Usage`` with llmsync's one meaning, from counts already mapped to it.

    ``prompt`` counts every input token and ``completion`` every output token; the parts
    (cache reads and writes, reasoning) are clamped to fit within them, and
    ``total_tokens`` is always ``prompt + completion`` (a vendor's own total may count
    things its prompt and completion do not, e.g. Gemini ``toolUsePromptTokenCount``).
    """
    prompt, completion = token_count(prompt), token_count(completion)
    cache_read = min(token_count(cache_read), prompt)
    cache_write = min(token_count(cache_write), prompt - cache_read)
    return Usage(prompt, completion, prompt + completion, cache_read, cache_write,
                 min(token_count(reasoning), completion))


_FOLD_AT = 256


class _TextBuffer:
    """Concatenates many small pieces of text in memory close to the text's own size.

    A list of pieces costs a string object (~50 bytes) per piece, and ``io.StringIO``
    keeps its pieces too until read; so every ``_FOLD_AT`` pieces are joined into one.
    The builder's per-event methods append to ``pieces`` and ``fold`` themselves: a
    method call per event would cost as much as the append.
    """

    __slots__ = ("chunks", "pieces")

    def __init__(self) -> None:
        self.chunks: List[str] = []
        self.pieces: List[str] = []

    def write(self, text: str) -> None:
        self.pieces.append(text)
        if len(self.pieces) >= _FOLD_AT:
            self.fold()

    def fold(self) -> None:
        self.chunks.append("".join(self.pieces))
        self.pieces.clear()

    def getvalue(self) -> str:
        return "".join(self.chunks + self.pieces)  # one join: no third copy of the text

    def __len__(self) -> int:
        return sum(map(len, self.chunks)) + sum(map(len, self.pieces))

    def __bool__(self) -> bool:
        return bool(self.chunks or self.pieces)


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

    def __init__(self, provider: Optional[str], model: Optional[str],
                 model_meta: Optional[MetaLookup] = None) -> None:
        self.provider = provider
        self.model = model
        self.requested_model = model
        self.model_meta = model_meta
        self.id: Optional[str] = None
        self.usage: Optional[Usage] = None
        self.finish_reason: Optional[FinishReason] = None
        self.error_message: Optional[str] = None
        self.reasoning_blocks: List[ReasoningBlock] = []
        self.citations: List[Citation] = []
        self.server_tool_calls: List[ServerToolCall] = []
        self.logprobs: Optional[List[TokenLogprob]] = None
        self._text = _TextBuffer()
        self._reasoning = _TextBuffer()
        self._refusal = _TextBuffer()
        # The tool calls by their wire key: parsers ask ``key in builder.calls`` for every
        # piece of a call; only the builder changes it.
        self.calls: Dict[Hashable, _PendingCall] = {}

    # text, reasoning and tool_delta run once per event: they check the type and write
    # to their buffer inline (_TextBuffer.write).
    def text(self, text: str) -> TextDelta:
        if not isinstance(text, str):
            raise _not_a_string(text, "text")
        buffer = self._text
        buffer.pieces.append(text)
        if len(buffer.pieces) >= _FOLD_AT:
            buffer.fold()
        return TextDelta(text)

    def reasoning(self, text: str) -> ReasoningDelta:
        if not isinstance(text, str):
            raise _not_a_string(text, "reasoning")
        buffer = self._reasoning
        buffer.pieces.append(text)
        if len(buffer.pieces) >= _FOLD_AT:
            buffer.fold()
        return ReasoningDelta(text)

    def text_so_far(self) -> str:
        """The visible text received so far (annotations index into it)."""
        return self._text.getvalue()

    def text_length(self) -> int:
        """The length of ``text_so_far()``, without joining the text."""
        return len(self._text)

    def refusal(self, text: str) -> None:
        """Record a piece of an explicit refusal: never content, so no ``TextDelta``."""
        self._refusal.write(_string(text, "refusal"))

    def citation(self, citation: Citation) -> None:
        """Record a source the reply cites (kept in arrival order, duplicates dropped)."""
        if citation not in self.citations:
            self.citations.append(citation)

    def server_tool_call(self, call: ServerToolCall) -> ServerToolCall:
        """Record work the provider ran itself; the same id twice updates the first."""
        for known in self.server_tool_calls:
            if call.id is not None and known.id == call.id:
                known.name = call.name or known.name
                known.input = call.input if call.input is not None else known.input
                known.output = call.output if call.output is not None else known.output
                return known
        self.server_tool_calls.append(call)
        return call

    def server_tool_output(self, call_id: Optional[str], output: Any, name: str = "") -> None:
        """Attach a provider-run tool's result to its call (by id), or record it alone."""
        self.server_tool_call(ServerToolCall(call_id, name, None, output))

    def logprob(self, entry: TokenLogprob) -> None:
        if self.logprobs is None:
            self.logprobs = []
        self.logprobs.append(entry)

    def tool_start(self, key: Hashable, call_id: str, name: str) -> ToolCallStart:
        call = _PendingCall(len(self.calls), _string(call_id, "a tool call id"), _string(name, "a tool name"))
        self.calls[key] = call
        return ToolCallStart(call.index, call_id, name)

    def tool_delta(self, key: Hashable, arguments: str) -> ToolCallDelta:
        if not isinstance(arguments, str):
            raise _not_a_string(arguments, "tool call arguments")
        call = self.calls[key]
        buffer = call.arguments
        buffer.pieces.append(arguments)
        if len(buffer.pieces) >= _FOLD_AT:
            buffer.fold()
        return ToolCallDelta(call.index, arguments)

    def tool_end(self, key: Hashable, signature: Optional[str] = None) -> ToolCallEnd:
        call = self.calls[key]
        call.done = True
        if signature is not None:
            call.signature = signature
        return ToolCallEnd(call.index, call.tool_call())

    def end_open_calls(self) -> List[ToolCallEnd]:
        """Close every tool call still open (when the wire has no per-call end)."""
        return [self.tool_end(key) for key, call in self.calls.items() if not call.done]

    def set_usage(self, usage: Usage) -> UsageUpdate:
        for name in _USAGE_FIELDS:
            value = getattr(usage, name)
            if not isinstance(value, int) or isinstance(value, bool):
                raise TypeError(f"usage.{name} must be an integer, got {type(value).__name__}")
        self.usage = usage
        return UsageUpdate(usage)

    def cost(self) -> Optional[float]:
        """USD for the usage so far at the catalog's prices, or None for an unknown model."""
        if self.usage is None or not self.provider:
            return None
        from .catalog import price

        lookup = self.model_meta or _registry_lookup(self.provider)
        if lookup is None:
            return None
        for model in dict.fromkeys(m for m in (self.model, self.requested_model) if m):
            meta = lookup(model)
            if meta is not None:
                return price(meta, self.usage)
        return None

    @property
    def tool_calls(self) -> List[ToolCall]:
        return [call.tool_call() for call in self.calls.values()]

    def build(self) -> Response:
        """The ``Response`` so far: final after the stream ends, partial before."""
        tool_calls = self.tool_calls
        finish_reason = self.finish_reason
        if tool_calls and finish_reason is FinishReason.STOP:
            finish_reason = FinishReason.TOOL_CALLS
        refusal = self._refusal.getvalue() or None
        if refusal and finish_reason not in (None, FinishReason.ERROR):
            finish_reason = FinishReason.CONTENT_FILTER  # DESIGN: an explicit refusal
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
            refusal=refusal,
            citations=list(self.citations),
            server_tool_calls=[ServerToolCall(c.id, c.name, c.input, c.output) for c in self.server_tool_calls],
            logprobs=list(self.logprobs) if self.logprobs is not None else None,
            cost=self.cost(),
        )


def _registry_lookup(provider_id: str) -> Optional[MetaLookup]:
    """The registered provider's catalog view, for parsers built without one."""
    from .errors import InvalidRequestError
    from .registry import get_provider

    try:
        return get_provider(provider_id).price_meta
    except InvalidRequestError:
        return None
