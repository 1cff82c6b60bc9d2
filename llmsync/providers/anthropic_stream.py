"""Anthropic Messages replies: stream events and whole bodies, through one parser.

Wire reference: docs.claude.com/en/api/messages-streaming; anthropic-sdk-python
``src/anthropic/types/raw_message_stream_event.py``.
"""
import json
from typing import Any, Callable, Dict, List, Optional

from ..errors import ProviderError
from ..events import Event
from ..types import FinishReason, ReasoningBlock, Response, Usage
from .base import StreamParser, reply_error

__all__ = ["AnthropicParser", "parse_usage", "error_in", "STOP_REASONS"]

STOP_REASONS = {
    "end_turn": FinishReason.STOP,
    "stop_sequence": FinishReason.STOP,
    "max_tokens": FinishReason.LENGTH,
    "tool_use": FinishReason.TOOL_CALLS,
    "refusal": FinishReason.CONTENT_FILTER,
    "model_context_window_exceeded": FinishReason.LENGTH,
    # "pause_turn": a server-tool loop (web search, code execution) reached its iteration
    # limit mid-turn. The caller must append the assistant content unchanged and send the
    # request again so the model continues (docs: handling-stop-reasons). LENGTH already
    # means "incomplete, continue"; STOP would wrongly end a tool loop. (llmsync keeps no
    # server-tool blocks, so server tools, reachable only through `extra`, cannot resume.)
    "pause_turn": FinishReason.LENGTH,
}

# Stream error types worth another attempt (HTTP 529 and 500 as SSE events).
_RETRYABLE_ERRORS = ("overloaded_error", "api_error")


def parse_usage(usage: Optional[Dict[str, Any]]) -> Optional[Usage]:
    """Anthropic usage in llmsync terms: ``input_tokens`` excludes cache reads and writes."""
    if not usage:
        return None
    read = usage.get("cache_read_input_tokens") or 0
    write = usage.get("cache_creation_input_tokens") or 0
    prompt = (usage.get("input_tokens") or 0) + read + write
    completion = usage.get("output_tokens") or 0
    return Usage(prompt, completion, prompt + completion, cache_read_tokens=read, cache_write_tokens=write)


def error_in(where: str, error: Any, provider: str) -> ProviderError:
    """The error of an ``error`` event or of an error body inside a 200 reply."""
    return reply_error(error, provider, f"error in {where}", ("type",), _RETRYABLE_ERRORS)


class _Block:
    __slots__ = ("kind", "text", "signature", "data")

    def __init__(self, kind: str, text: str = "", signature: str = "", data: Optional[str] = None) -> None:
        self.kind = kind
        self.text = [text] if text else []
        self.signature = signature
        self.data = data


class AnthropicParser(StreamParser):
    """Messages stream events: blocks by index, usage cumulative in ``message_delta``."""

    def __init__(self, provider: str, model: str) -> None:
        super().__init__(provider, model)
        self._blocks: Dict[int, _Block] = {}
        self._usage: Dict[str, Any] = {}

    def feed(self, event: str, data: str) -> List[Event]:
        payload = self.decode(data)
        if not isinstance(payload, dict):
            raise ProviderError(f"unexpected stream event: {data[:200]!r}", provider=self.provider)
        # Unknown event types are skipped, as the streaming docs ask of clients.
        handler = self._HANDLERS.get(payload.get("type") or event)
        return handler(self, payload) if handler else []

    def replay(self, message: Dict[str, Any]) -> Response:
        """Build the ``Response`` of a whole (non-streamed) message through the same steps."""
        self._message_start({"message": {**message, "content": []}})
        for index, block in enumerate(message.get("content") or ()):
            self._block_start({"index": index, "content_block": block})
            self._block_stop({"index": index})
        self._message_delta({"delta": {"stop_reason": message.get("stop_reason")},
                             "usage": message.get("usage")})
        self._message_stop({})
        return self.builder.build()

    def _message_start(self, payload: Dict[str, Any]) -> List[Event]:
        message = payload.get("message") or {}
        self.builder.id = message.get("id") or self.builder.id
        self.builder.model = message.get("model") or self.builder.model
        self._usage = dict(message.get("usage") or {})
        # No UsageUpdate yet: an error right after message_start is then still retried,
        # since no event reached the caller.
        self.builder.usage = parse_usage(self._usage)
        return []

    def _block_start(self, payload: Dict[str, Any]) -> List[Event]:
        index, block = payload["index"], payload.get("content_block") or {}
        kind = block.get("type")
        if kind == "tool_use":
            out: List[Event] = [self.builder.tool_start(index, block.get("id") or f"toolu_{index}",
                                                        block.get("name") or "")]
            if block.get("input"):  # whole messages carry the input here; streams send {}
                out.append(self.builder.tool_delta(index, json.dumps(block["input"])))
            return out
        if kind == "thinking":
            self._blocks[index] = _Block(kind, block.get("thinking") or "", block.get("signature") or "")
            return [self.builder.reasoning(block["thinking"])] if block.get("thinking") else []
        if kind == "redacted_thinking":
            self._blocks[index] = _Block(kind, data=block.get("data"))
        elif kind == "text" and block.get("text"):
            return [self.builder.text(block["text"])]
        return []

    def _block_delta(self, payload: Dict[str, Any]) -> List[Event]:
        index, delta = payload["index"], payload.get("delta") or {}
        kind = delta.get("type")
        if kind == "text_delta" and delta.get("text"):
            return [self.builder.text(delta["text"])]
        if kind == "input_json_delta" and delta.get("partial_json") and self.builder.has_call(index):
            return [self.builder.tool_delta(index, delta["partial_json"])]
        block = self._blocks.get(index)
        if block is None:
            return []
        if kind == "thinking_delta" and delta.get("thinking"):
            block.text.append(delta["thinking"])
            return [self.builder.reasoning(delta["thinking"])]
        if kind == "signature_delta":
            block.signature += delta.get("signature") or ""
        return []

    def _block_stop(self, payload: Dict[str, Any]) -> List[Event]:
        index = payload["index"]
        if self.builder.has_call(index):
            return [self.builder.tool_end(index)]
        block = self._blocks.pop(index, None)
        if block is not None and block.kind == "thinking":
            self.builder.reasoning_blocks.append(ReasoningBlock(
                "".join(block.text), block.signature or None, "thinking", provider=self.provider))
        elif block is not None:
            self.builder.reasoning_blocks.append(ReasoningBlock(
                kind="redacted_thinking", data=block.data, provider=self.provider))
        return []

    def _message_delta(self, payload: Dict[str, Any]) -> List[Event]:
        reason = (payload.get("delta") or {}).get("stop_reason")
        if reason:
            self.builder.finish_reason = STOP_REASONS.get(reason, FinishReason.STOP)
        # "The token counts shown in the usage field of the message_delta event are
        # cumulative": newer values replace, absent ones keep message_start's.
        self._usage.update({k: v for k, v in (payload.get("usage") or {}).items() if v is not None})
        usage = parse_usage(self._usage)
        return [self.builder.set_usage(usage)] if usage is not None else []

    def _message_stop(self, payload: Dict[str, Any]) -> List[Event]:
        self.complete = True
        return list(self.builder.end_open_calls())

    def _error(self, payload: Dict[str, Any]) -> List[Event]:
        raise error_in("stream", payload.get("error"), self.provider)

    _HANDLERS: Dict[str, Callable[["AnthropicParser", Dict[str, Any]], List[Event]]] = {
        "message_start": _message_start,
        "content_block_start": _block_start,
        "content_block_delta": _block_delta,
        "content_block_stop": _block_stop,
        "message_delta": _message_delta,
        "message_stop": _message_stop,
        "error": _error,
    }
