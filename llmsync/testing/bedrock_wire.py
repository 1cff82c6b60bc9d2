"""The Bedrock Converse format for ``FakeServer`` (``POST .../model/{id}/converse`` and
``.../converse-stream``).

Streams are AWS event streams (``application/vnd.amazon.eventstream``), framed here by
hand: each frame is a 12-byte prelude (total length, headers length, prelude CRC32),
string headers (``:event-type``, ``:content-type``, ``:message-type``), a JSON payload
and a CRC32 of the whole frame (AWS "Event stream encoding"). Events follow the
ConverseStream reference: ``messageStart``, per block ``contentBlockStart`` (tool use
only) / ``contentBlockDelta`` / ``contentBlockStop``, ``messageStop`` with the stop
reason, then ``metadata`` with usage. A reply whose finish reason is ERROR ends with a
``modelStreamErrorException`` frame instead. Errors carry their type in the
``x-amzn-errortype`` header, as Bedrock sends them.
"""
import json
import struct
import zlib
from typing import Any, Dict, List

from ..types import FinishReason
from .reply import Reply
from .wire import WireFormat

__all__ = ["BedrockFormat", "FORMAT", "frame", "event_frame"]

_STOP_REASONS = {
    FinishReason.STOP: "end_turn", FinishReason.LENGTH: "max_tokens",
    FinishReason.TOOL_CALLS: "tool_use", FinishReason.CONTENT_FILTER: "guardrail_intervened",
    FinishReason.ERROR: "end_turn",
}

_ERROR_TYPES = {
    400: "ValidationException", 403: "AccessDeniedException", 404: "ResourceNotFoundException",
    408: "ModelTimeoutException", 424: "ModelErrorException", 429: "ThrottlingException",
    500: "InternalServerException", 503: "ServiceUnavailableException",
}


def frame(headers: Dict[str, str], payload: bytes) -> bytes:
    """One event-stream frame with string-valued headers (header type 7)."""
    encoded = b"".join(
        struct.pack(">B", len(name)) + name.encode() + b"\x07" + struct.pack(">H", len(value.encode()))
        + value.encode() for name, value in headers.items())
    prelude = struct.pack(">II", 12 + len(encoded) + len(payload) + 4, len(encoded))
    message = prelude + struct.pack(">I", zlib.crc32(prelude)) + encoded + payload
    return message + struct.pack(">I", zlib.crc32(message))


def event_frame(event_type: str, payload: Dict[str, Any]) -> bytes:
    """A ``:message-type: event`` frame with a JSON payload."""
    return frame({":event-type": event_type, ":content-type": "application/json", ":message-type": "event"},
                 json.dumps(payload, separators=(",", ":")).encode("utf-8"))


def bedrock_usage(reply: Reply) -> Dict[str, Any]:
    """``reply.usage`` as a TokenUsage: ``inputTokens`` excludes cache reads and writes."""
    usage = reply.usage
    if usage is None:
        return {"inputTokens": 0, "outputTokens": 0, "totalTokens": 0}
    uncached = max(usage.prompt_tokens - usage.cache_read_tokens - usage.cache_write_tokens, 0)
    return {"inputTokens": uncached, "outputTokens": usage.completion_tokens, "totalTokens": usage.total_tokens,
            "cacheReadInputTokens": usage.cache_read_tokens, "cacheWriteInputTokens": usage.cache_write_tokens}


class BedrockFormat(WireFormat):
    """Bedrock Converse and ConverseStream: reasoning with a signature, text, tool use."""

    name = "bedrock"
    stream_content_type = "application/vnd.amazon.eventstream"

    def matches(self, path: str) -> bool:
        return path.endswith(("/converse", "/converse-stream"))

    def is_stream(self, path: str, body: Dict[str, Any]) -> bool:
        return path.split("?", 1)[0].endswith("/converse-stream")

    def stream_events(self, reply: Reply, model: str) -> List[bytes]:
        events = [event_frame("messageStart", {"role": "assistant"})]
        index = 0
        if reply.reasoning:
            deltas = [{"reasoningContent": {"text": p}} for p in reply.pieces(reply.reasoning)]
            deltas.append({"reasoningContent": {"signature": reply.signature}})
            events += self._block(index, deltas)
            index += 1
        if reply.text:
            events += self._block(index, [{"text": p} for p in reply.pieces(reply.text)])
            index += 1
        for call in reply.tool_calls:
            events.append(event_frame("contentBlockStart", {
                "contentBlockIndex": index, "start": {"toolUse": {"toolUseId": call.id, "name": call.name}}}))
            events += self._block(index, [{"toolUse": {"input": p}} for p in reply.pieces(call.arguments)])
            index += 1
        if reply.finish is FinishReason.ERROR:
            payload = json.dumps({"message": reply.error_message or "the model stream failed"}).encode()
            events.append(frame({":exception-type": reply.error_type or "modelStreamErrorException",
                                 ":content-type": "application/json", ":message-type": "exception"}, payload))
            return events
        events.append(event_frame("messageStop", {"stopReason": _STOP_REASONS[reply.finish]}))
        events.append(event_frame("metadata", {"usage": bedrock_usage(reply), "metrics": {"latencyMs": 0}}))
        return events

    def _block(self, index: int, deltas: List[Dict[str, Any]]) -> List[bytes]:
        events = [event_frame("contentBlockDelta", {"contentBlockIndex": index, "delta": d}) for d in deltas]
        events.append(event_frame("contentBlockStop", {"contentBlockIndex": index}))
        return events

    def body(self, reply: Reply, model: str) -> Dict[str, Any]:
        content: List[Dict[str, Any]] = []
        if reply.reasoning:
            content.append({"reasoningContent": {"reasoningText": {"text": reply.reasoning,
                                                                   "signature": reply.signature}}})
        if reply.text:
            content.append({"text": reply.text})
        for call in reply.tool_calls:
            content.append({"toolUse": {"toolUseId": call.id, "name": call.name,
                                        "input": json.loads(call.arguments or "{}")}})
        return {"output": {"message": {"role": "assistant", "content": content}},
                "stopReason": _STOP_REASONS[reply.finish], "usage": bedrock_usage(reply),
                "metrics": {"latencyMs": 0}}

    def error_body(self, reply: Reply) -> Dict[str, Any]:
        return {"message": reply.error_message}

    def error_headers(self, reply: Reply) -> Dict[str, str]:
        error_type = reply.error_type or _ERROR_TYPES.get(reply.status, "InternalServerException")
        return {"x-amzn-errortype": f"{error_type}:http://internal.amazon.com/coral/com.amazon.bedrock/"}


FORMAT = BedrockFormat()
