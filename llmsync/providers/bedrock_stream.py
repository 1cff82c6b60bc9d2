"""Bedrock Converse replies: the AWS event-stream framing, stream events and whole bodies,
through one parser.

Wire reference: the Converse and ConverseStream API reference
(docs.aws.amazon.com/bedrock/latest/APIReference/API_runtime_ConverseStream.html) and
botocore's service model ``botocore/data/bedrock-runtime/2023-09-30/service-2.json``
(shapes ``ConverseStreamOutput``, ``ContentBlockDelta``, ``TokenUsage``, ``StopReason``).
botocore is imported only when a stream is decoded.
"""
import json
import re
from typing import Any, Callable, Dict, Iterable, Iterator, List, Mapping, Optional, Tuple

from ..errors import ContextLengthError, InvalidRequestError, LLMError, ProviderError, RateLimitError
from ..events import Event
from ..types import FinishReason, ReasoningBlock, Response, Usage
from .base import StreamParser
from .wire_json import decode_event

__all__ = ["BedrockParser", "decode_event_stream", "parse_usage", "STOP_REASONS", "is_context_length",
           "require_botocore"]

STOP_REASONS = {
    "end_turn": FinishReason.STOP,
    "stop_sequence": FinishReason.STOP,
    "max_tokens": FinishReason.LENGTH,
    "model_context_window_exceeded": FinishReason.LENGTH,
    "tool_use": FinishReason.TOOL_CALLS,
    "guardrail_intervened": FinishReason.CONTENT_FILTER,
    "content_filtered": FinishReason.CONTENT_FILTER,
    "malformed_model_output": FinishReason.ERROR,
    "malformed_tool_use": FinishReason.ERROR,
}

# The messages Bedrock and the models behind it give when the prompt does not fit:
# "Input is too long for requested model." (Bedrock), "prompt is too long: N tokens > M
# maximum" (Claude), "Input Tokens Exceeded" (Nova), "maximum context length" (Llama, Mistral).
_CONTEXT_LENGTH = re.compile(
    r"input is too long|prompt is too long|too many input tokens|input tokens exceed"
    r"|context length|context window|maximum context", re.IGNORECASE)

# ConverseStream exception frames (":message-type: exception"), by ":exception-type".
_RETRYABLE_STREAM_EXCEPTIONS = {"internalServerException", "serviceUnavailableException",
                                "modelStreamErrorException", "modelTimeoutException"}


def require_botocore(what: str) -> None:
    """Raise ``InvalidRequestError`` saying how to install botocore, if it is missing."""
    import importlib.util

    try:
        missing = importlib.util.find_spec("botocore") is None  # finds it without importing it
    except (ImportError, ValueError):  # sys.modules["botocore"] set to None: import blocked
        missing = True
    if missing:
        raise InvalidRequestError(f"{what} needs botocore: pip install 'llmsync[bedrock]'", provider="bedrock")


def is_context_length(message: str) -> bool:
    """Whether a ValidationException message says the input does not fit the model."""
    return bool(_CONTEXT_LENGTH.search(message or ""))


def parse_usage(usage: Any) -> Optional[Usage]:
    """Bedrock ``TokenUsage`` in llmsync terms: ``inputTokens`` excludes cache reads and
    writes (``totalTokens`` includes them), so they are added to the prompt."""
    if not isinstance(usage, dict):
        return None
    read = usage.get("cacheReadInputTokens") or 0
    write = usage.get("cacheWriteInputTokens") or 0
    prompt = (usage.get("inputTokens") or 0) + read + write
    completion = usage.get("outputTokens") or 0
    return Usage(prompt, completion, prompt + completion, cache_read_tokens=read, cache_write_tokens=write)


def stream_exception(kind: str, payload: bytes, provider: str) -> LLMError:
    """The llmsync error for a ConverseStream exception frame."""
    try:
        body = json.loads(payload.decode("utf-8")) if payload else {}
    except (UnicodeDecodeError, ValueError):
        body = {"message": payload[:200].decode("utf-8", "replace")}
    body = body if isinstance(body, dict) else {"message": str(body)}
    message = str(body.get("message") or body.get("Message") or "no message")
    if body.get("originalMessage"):
        message += f" (model said: {body['originalMessage']})"
    text = f"{kind} in the stream: {message}"
    context: Dict[str, Any] = {"provider": provider, "error_type": kind}
    if kind == "throttlingException":
        return RateLimitError(text, **context)
    if kind == "validationException":
        cls = ContextLengthError if is_context_length(message) else InvalidRequestError
        return cls(text, **context)
    return ProviderError(text, retryable=kind in _RETRYABLE_STREAM_EXCEPTIONS, **context)


def decode_event_stream(chunks: Iterable[bytes], provider: str) -> Iterator[Tuple[str, str]]:
    """``(event type, JSON payload)`` for each frame of an AWS event stream.

    botocore's ``EventStreamBuffer`` reassembles frames split across reads and checks
    both CRCs of each; exception frames are raised as llmsync errors. A frame cut off by
    the end of the body is left to the parser, which reports the stream incomplete.
    """
    require_botocore("decoding a Bedrock stream")
    from botocore.eventstream import EventStreamBuffer, ParserError

    buffer = EventStreamBuffer()
    try:
        for chunk in chunks:
            buffer.add_data(chunk)
            for message in buffer:
                yield _event_of(message.headers, message.payload, provider)
    except ParserError as exc:
        raise ProviderError(f"malformed AWS event stream: {type(exc).__name__}: {exc}",
                            provider=provider) from exc


def _event_of(headers: Mapping[str, Any], payload: bytes, provider: str) -> Tuple[str, str]:
    kind = headers.get(":message-type")
    if kind == "exception":
        raise stream_exception(str(headers.get(":exception-type") or "exception"), payload, provider)
    if kind == "error":
        raise ProviderError(f"{headers.get(':error-code')} in the stream: {headers.get(':error-message')}",
                            provider=provider, error_type=str(headers.get(":error-code") or "error"))
    try:
        return str(headers.get(":event-type") or ""), payload.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ProviderError(f"an event-stream payload is not UTF-8: {exc}", provider=provider) from exc


class _Reasoning:
    __slots__ = ("text", "signature", "redacted")

    def __init__(self) -> None:
        self.text: List[str] = []
        self.signature = ""
        self.redacted: Optional[str] = None


class BedrockParser(StreamParser):
    """ConverseStream events by ``contentBlockIndex``; a whole Converse body is replayed
    through the same handlers (``replay``)."""

    def __init__(self, provider: str, model: str) -> None:
        super().__init__(provider, model)
        self._reasoning: Dict[int, _Reasoning] = {}

    def feed(self, event: str, data: str) -> List[Event]:
        payload = decode_event(data, self.provider)
        if not isinstance(payload, dict):
            raise ProviderError(f"unexpected stream event: {data[:200]!r}", provider=self.provider)
        # Unknown event types are skipped: AWS adds members to the ConverseStreamOutput union.
        handler = self._HANDLERS.get(event)
        return handler(self, payload) if handler else []

    def replay(self, body: Dict[str, Any]) -> Response:
        """The ``Response`` of a whole Converse body, fed as the stream events it stands for."""
        message = (body.get("output") or {}).get("message") or {}
        self._message_start(message)
        for index, block in enumerate(message.get("content") or ()):
            for handler, payload in _block_events(index, block):
                handler(self, payload)
        self._message_stop(body)
        if body.get("usage") is not None:
            self._metadata(body)
        return self.finish()

    def _message_start(self, payload: Dict[str, Any]) -> List[Event]:
        return []

    def _block_start(self, payload: Dict[str, Any]) -> List[Event]:
        index, start = payload.get("contentBlockIndex", 0), payload.get("start") or {}
        tool = start.get("toolUse")
        if isinstance(tool, dict):
            return [self.builder.tool_start(index, tool.get("toolUseId") or f"tooluse_{index}",
                                            tool.get("name") or "")]
        return []

    def _block_delta(self, payload: Dict[str, Any]) -> List[Event]:
        index, delta = payload.get("contentBlockIndex", 0), payload.get("delta") or {}
        if delta.get("text"):
            return [self.builder.text(delta["text"])]
        tool = delta.get("toolUse")
        if isinstance(tool, dict):
            if tool.get("input") and index in self.builder.calls:
                return [self.builder.tool_delta(index, tool["input"])]
            return []
        reasoning = delta.get("reasoningContent")
        if not isinstance(reasoning, dict):
            return []  # citations and other deltas llmsync does not model yet
        block = self._reasoning.setdefault(index, _Reasoning())
        if reasoning.get("signature"):
            block.signature += reasoning["signature"]
        if reasoning.get("redactedContent"):
            block.redacted = (block.redacted or "") + reasoning["redactedContent"]
        if reasoning.get("text"):
            block.text.append(reasoning["text"])
            return [self.builder.reasoning(reasoning["text"])]
        return []

    def _block_stop(self, payload: Dict[str, Any]) -> List[Event]:
        index = payload.get("contentBlockIndex", 0)
        if index in self.builder.calls:
            return [self.builder.tool_end(index)]
        self._keep_reasoning(index)
        return []

    def _keep_reasoning(self, index: int) -> None:
        block = self._reasoning.pop(index, None)
        if block is None:
            return
        if block.redacted is not None:
            self.builder.reasoning_blocks.append(ReasoningBlock(
                kind="redacted_content", data=block.redacted, provider=self.provider))
        if block.text or block.signature:
            self.builder.reasoning_blocks.append(ReasoningBlock(
                "".join(block.text), block.signature or None, "reasoning_text", provider=self.provider))

    def _message_stop(self, payload: Dict[str, Any]) -> List[Event]:
        reason = str(payload.get("stopReason") or "")
        self.builder.finish_reason = STOP_REASONS.get(reason, FinishReason.STOP)
        if self.builder.finish_reason is FinishReason.ERROR:
            self.builder.error_message = f"Bedrock stopped the reply: stopReason {reason}"
        for index in list(self._reasoning):
            self._keep_reasoning(index)
        self.complete = True
        return list(self.builder.end_open_calls())

    def _metadata(self, payload: Dict[str, Any]) -> List[Event]:
        usage = parse_usage(payload.get("usage"))
        return [self.builder.set_usage(usage)] if usage is not None else []

    _HANDLERS: Dict[str, Callable[["BedrockParser", Dict[str, Any]], List[Event]]] = {
        "messageStart": _message_start,
        "contentBlockStart": _block_start,
        "contentBlockDelta": _block_delta,
        "contentBlockStop": _block_stop,
        "messageStop": _message_stop,
        "metadata": _metadata,
    }


Handler = Callable[[BedrockParser, Dict[str, Any]], List[Event]]


def _block_events(index: int, block: Dict[str, Any]) -> List[Tuple[Handler, Dict[str, Any]]]:
    """The stream events a whole ``ContentBlock`` stands for."""
    def delta(value: Dict[str, Any]) -> Tuple[Handler, Dict[str, Any]]:
        return BedrockParser._block_delta, {"contentBlockIndex": index, "delta": value}

    events: List[Tuple[Handler, Dict[str, Any]]] = []
    if isinstance(block.get("text"), str):
        events.append(delta({"text": block["text"]}))
    elif isinstance(block.get("toolUse"), dict):
        tool = block["toolUse"]
        events.append((BedrockParser._block_start, {"contentBlockIndex": index, "start": {"toolUse": tool}}))
        events.append(delta({"toolUse": {"input": json.dumps(tool.get("input") or {})}}))
    elif isinstance(block.get("reasoningContent"), dict):
        reasoning = block["reasoningContent"]
        text = reasoning.get("reasoningText") or {}
        for key, value in (("text", text.get("text")), ("signature", text.get("signature")),
                           ("redactedContent", reasoning.get("redactedContent"))):
            if value:
                events.append(delta({"reasoningContent": {key: value}}))
    events.append((BedrockParser._block_stop, {"contentBlockIndex": index}))
    return events
