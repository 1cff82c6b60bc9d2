"""The Anthropic Messages format for ``FakeServer`` (``POST .../messages``).

Streams follow docs.claude.com/en/api/messages-streaming: ``message_start`` (with
usage), a ``ping``, one ``content_block_start``/``_delta``/``_stop`` run per block
(thinking, text, tool_use), ``message_delta`` with the stop reason and cumulative usage,
then ``message_stop``. A reply whose finish reason is ERROR ends with an ``error`` event
instead, as an overloaded stream does.
"""
import json
from typing import Any, Dict, List, Optional

from ..types import Citation, FinishReason, ServerToolCall
from .reply import Reply
from .wire import WireFormat, sse

__all__ = ["AnthropicFormat", "FORMAT"]

_STOP_REASONS = {
    FinishReason.STOP: "end_turn", FinishReason.LENGTH: "max_tokens",
    FinishReason.TOOL_CALLS: "tool_use", FinishReason.CONTENT_FILTER: "refusal",
    FinishReason.ERROR: "end_turn",
}

_ERROR_TYPES = {
    400: "invalid_request_error", 401: "authentication_error", 403: "permission_error",
    404: "not_found_error", 413: "request_too_large", 429: "rate_limit_error",
    500: "api_error", 529: "overloaded_error",
}

MESSAGE_ID = "msg_fake"


def anthropic_usage(reply: Reply) -> Dict[str, Any]:
    """``reply.usage`` in Anthropic terms: ``input_tokens`` excludes cached tokens."""
    usage = reply.usage
    if usage is None:
        return {"input_tokens": 0, "output_tokens": 0}
    uncached = usage.prompt_tokens - usage.cache_read_tokens - usage.cache_write_tokens
    return {"input_tokens": max(uncached, 0), "cache_creation_input_tokens": usage.cache_write_tokens,
            "cache_read_input_tokens": usage.cache_read_tokens, "output_tokens": usage.completion_tokens}


def _citation(citation: Citation) -> Dict[str, Any]:
    """A web search result citation when it has a URL, else a document (char) citation."""
    if citation.url:
        return {"type": "web_search_result_location", "url": citation.url, "title": citation.title,
                "cited_text": citation.cited_text or "", "encrypted_index": "enc-fake"}
    return {"type": "char_location", "document_index": 0, "document_title": citation.title,
            "cited_text": citation.cited_text or "", "start_char_index": 0,
            "end_char_index": len(citation.cited_text or "")}


def _server_blocks(call: ServerToolCall) -> List[Dict[str, Any]]:
    """``server_tool_use`` and its ``<name>_tool_result`` (web search tool docs)."""
    call_id = call.id or "srvtoolu_fake"
    return [{"type": "server_tool_use", "id": call_id, "name": call.name, "input": call.input or {}},
            {"type": f"{call.name}_tool_result", "tool_use_id": call_id, "content": call.output}]


def _text(reply: Reply) -> str:
    # Anthropic has no refusal field: a refusal is text with stop_reason "refusal".
    return reply.text + reply.refusal


def _event(payload: Dict[str, Any]) -> bytes:
    return sse(payload, event=payload["type"])


class AnthropicFormat(WireFormat):
    """Anthropic Messages: thinking with a signature, text, tool_use with input_json_delta."""

    name = "anthropic"

    def matches(self, path: str) -> bool:
        return path.endswith("/messages")

    def stream_events(self, reply: Reply, model: str) -> List[bytes]:
        start_usage = {**anthropic_usage(reply), "output_tokens": 1}
        events = [_event({"type": "message_start", "message": self._message(model, [], None, start_usage)}),
                  _event({"type": "ping"})]
        index = 0
        if reply.reasoning:
            deltas: List[Dict[str, Any]] = [{"type": "thinking_delta", "thinking": p}
                                            for p in reply.pieces(reply.reasoning)]
            deltas.append({"type": "signature_delta", "signature": reply.signature})
            events += self._block(index, {"type": "thinking", "thinking": "", "signature": ""}, deltas)
            index += 1
        for server_call in reply.server_tool_calls:
            use, result = _server_blocks(server_call)
            json_deltas: List[Dict[str, Any]] = [{"type": "input_json_delta", "partial_json": p}
                                                 for p in reply.pieces(json.dumps(use["input"]))]
            events += self._block(index, dict(use, input={}), json_deltas)
            events += self._block(index + 1, result, [])
            index += 2
        if _text(reply):
            deltas = [{"type": "text_delta", "text": p} for p in reply.pieces(_text(reply))]
            deltas += [{"type": "citations_delta", "citation": _citation(c)} for c in reply.citations]
            start: Dict[str, Any] = {"type": "text", "text": ""}
            if reply.citations:
                start["citations"] = []
            events += self._block(index, start, deltas)
            index += 1
        for call in reply.tool_calls:
            deltas = [{"type": "input_json_delta", "partial_json": p} for p in reply.pieces(call.arguments)]
            events += self._block(index, {"type": "tool_use", "id": call.id, "name": call.name, "input": {}},
                                  deltas)
            index += 1
        if reply.finish is FinishReason.ERROR:
            events.append(_event({"type": "error", "error": {
                "type": reply.error_type or "overloaded_error", "message": reply.error_message or "Overloaded"}}))
            return events
        events.append(_event({"type": "message_delta",
                              "delta": {"stop_reason": _STOP_REASONS[reply.finish], "stop_sequence": None},
                              "usage": anthropic_usage(reply)}))
        events.append(_event({"type": "message_stop"}))
        return events

    def _block(self, index: int, start: Dict[str, Any], deltas: List[Dict[str, Any]]) -> List[bytes]:
        events = [_event({"type": "content_block_start", "index": index, "content_block": start})]
        events += [_event({"type": "content_block_delta", "index": index, "delta": d}) for d in deltas]
        events.append(_event({"type": "content_block_stop", "index": index}))
        return events

    def _message(self, model: str, content: List[Dict[str, Any]], stop_reason: Optional[str],
                 usage: Dict[str, Any]) -> Dict[str, Any]:
        return {"id": MESSAGE_ID, "type": "message", "role": "assistant", "model": model,
                "content": content, "stop_reason": stop_reason, "stop_sequence": None, "usage": usage}

    def body(self, reply: Reply, model: str) -> Dict[str, Any]:
        content: List[Dict[str, Any]] = []
        if reply.reasoning:
            content.append({"type": "thinking", "thinking": reply.reasoning, "signature": reply.signature})
        for server_call in reply.server_tool_calls:
            content += _server_blocks(server_call)
        if _text(reply):
            block: Dict[str, Any] = {"type": "text", "text": _text(reply)}
            if reply.citations:
                block["citations"] = [_citation(c) for c in reply.citations]
            content.append(block)
        for call in reply.tool_calls:
            content.append({"type": "tool_use", "id": call.id, "name": call.name,
                            "input": json.loads(call.arguments or "{}")})
        return self._message(model, content, _STOP_REASONS[reply.finish], anthropic_usage(reply))

    def error_body(self, reply: Reply) -> Dict[str, Any]:
        error_type = reply.error_type or _ERROR_TYPES.get(reply.status, "api_error")
        return {"type": "error", "error": {"type": error_type, "message": reply.error_message},
                "request_id": "req_fake"}


FORMAT = AnthropicFormat()
