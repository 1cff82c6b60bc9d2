"""Wire formats the fake server speaks: each renders a ``Reply`` as its provider would.

A format claims request paths, and renders a streamed reply as a list of SSE events,
a whole reply as a JSON body, and an error as the provider's error body.
"""
import importlib
import json
from typing import Any, Dict, List, Optional

from ..types import FinishReason
from .reply import Reply

__all__ = ["WireFormat", "OpenAIChatFormat", "sse", "FORMATS", "format_for"]


def sse(data: Any, event: Optional[str] = None) -> bytes:
    """One server-sent event; ``data`` is JSON-encoded unless it is a string."""
    payload = data if isinstance(data, str) else json.dumps(data, separators=(",", ":"))
    head = f"event: {event}\n" if event else ""
    return f"{head}data: {payload}\n\n".encode("utf-8")


class WireFormat:
    """Base class of the fake server's wire formats."""

    name = ""
    stream_content_type = "text/event-stream; charset=utf-8"

    def matches(self, path: str) -> bool:
        raise NotImplementedError

    def is_stream(self, path: str, body: Dict[str, Any]) -> bool:
        return bool(body.get("stream"))

    def stream_events(self, reply: Reply, model: str) -> List[bytes]:
        raise NotImplementedError

    def body(self, reply: Reply, model: str) -> Dict[str, Any]:
        raise NotImplementedError

    def error_body(self, reply: Reply) -> Dict[str, Any]:
        return {"error": {"message": reply.error_message, "type": reply.error_type or "api_error",
                          "code": None}}

    def error_headers(self, reply: Reply) -> Dict[str, str]:
        """Headers sent with an error body (Bedrock puts the error type in one)."""
        return {}


_OPENAI_FINISH = {
    FinishReason.STOP: "stop", FinishReason.LENGTH: "length", FinishReason.TOOL_CALLS: "tool_calls",
    FinishReason.CONTENT_FILTER: "content_filter", FinishReason.ERROR: "error",
}


def openai_usage(reply: Reply) -> Optional[Dict[str, Any]]:
    usage = reply.usage
    if usage is None:
        return None
    return {
        "prompt_tokens": usage.prompt_tokens, "completion_tokens": usage.completion_tokens,
        "total_tokens": usage.total_tokens,
        "prompt_tokens_details": {"cached_tokens": usage.cache_read_tokens},
        "completion_tokens_details": {"reasoning_tokens": usage.reasoning_tokens},
    }


def openai_logprobs(reply: Reply) -> Dict[str, Any]:
    """``choices[].logprobs``: ``{"content": [{"token", "logprob", "top_logprobs"}]}``."""
    return {"content": [{"token": t.token, "logprob": t.logprob, "bytes": None,
                         "top_logprobs": [{"token": c.token, "logprob": c.logprob, "bytes": None} for c in t.top]}
                        for t in reply.logprobs], "refusal": None}


class OpenAIChatFormat(WireFormat):
    """OpenAI Chat Completions; reasoning is sent as ``reasoning_content`` deltas."""

    name = "openai"

    def matches(self, path: str) -> bool:
        return path.endswith("/chat/completions")

    def _chunk(self, model: str, delta: Dict[str, Any], finish: Optional[str] = None) -> Dict[str, Any]:
        return {"id": "chatcmpl-fake", "object": "chat.completion.chunk", "created": 0, "model": model,
                "choices": [{"index": 0, "delta": delta, "finish_reason": finish}]}

    def _finish(self, reply: Reply) -> str:
        # A refusal ends with "stop" on the wire (the client reads it as content_filter).
        return "stop" if reply.refusal and reply.finish_reason is None else _OPENAI_FINISH[reply.finish]

    def _annotations(self, reply: Reply) -> List[Dict[str, Any]]:
        return [{"type": "url_citation", "url_citation": {"url": c.url, "title": c.title or "",
                                                          "start_index": reply.span(c)[0],
                                                          "end_index": reply.span(c)[1]}}
                for c in reply.citations if c.url]

    def stream_events(self, reply: Reply, model: str) -> List[bytes]:
        events = [sse(self._chunk(model, {"role": "assistant", "content": ""}))]
        events += [sse(self._chunk(model, {"reasoning_content": p})) for p in reply.pieces(reply.reasoning)]
        events += [sse(self._chunk(model, {"content": p})) for p in reply.pieces(reply.text)]
        events += [sse(self._chunk(model, {"content": None, "refusal": p})) for p in reply.pieces(reply.refusal)]
        if self._annotations(reply):
            events.append(sse(self._chunk(model, {"annotations": self._annotations(reply)})))
        for index, call in enumerate(reply.tool_calls):
            first = {"index": index, "id": call.id, "type": "function",
                     "function": {"name": call.name, "arguments": ""}}
            events.append(sse(self._chunk(model, {"tool_calls": [first]})))
            for piece in reply.pieces(call.arguments):
                fragment = {"index": index, "function": {"arguments": piece}}
                events.append(sse(self._chunk(model, {"tool_calls": [fragment]})))
        last = self._chunk(model, {}, self._finish(reply))
        if reply.logprobs:
            last["choices"][0]["logprobs"] = openai_logprobs(reply)
        events.append(sse(last))
        usage = openai_usage(reply)
        if usage is not None:
            events.append(sse({"id": "chatcmpl-fake", "object": "chat.completion.chunk", "created": 0,
                               "model": model, "choices": [], "usage": usage}))
        events.append(b"data: [DONE]\n\n")
        return events

    def body(self, reply: Reply, model: str) -> Dict[str, Any]:
        message: Dict[str, Any] = {"role": "assistant", "content": reply.text or None,
                                   "refusal": reply.refusal or None}
        if reply.citations:
            message["annotations"] = self._annotations(reply)
        if reply.reasoning:
            message["reasoning_content"] = reply.reasoning
        if reply.tool_calls:
            message["tool_calls"] = [
                {"id": c.id, "type": "function", "function": {"name": c.name, "arguments": c.arguments}}
                for c in reply.tool_calls
            ]
        choice: Dict[str, Any] = {"index": 0, "message": message, "finish_reason": self._finish(reply)}
        if reply.logprobs:
            choice["logprobs"] = openai_logprobs(reply)
        return {"id": "chatcmpl-fake", "object": "chat.completion", "created": 0, "model": model,
                "choices": [choice], "usage": openai_usage(reply)}


# Modules under llmsync.testing that each define FORMAT, a WireFormat of one provider
# (or FORMATS, several, tried in order).
_FORMAT_MODULES = ("vertex_wire", "anthropic_wire", "gemini_wire", "azure_wire", "responses_wire", "bedrock_wire")

FORMATS: List[WireFormat] = [OpenAIChatFormat()]
for _name in _FORMAT_MODULES:
    try:
        _module = importlib.import_module(f"llmsync.testing.{_name}")
        FORMATS.extend(getattr(_module, "FORMATS", None) or [_module.FORMAT])
    except ModuleNotFoundError as _exc:
        if _exc.name != f"llmsync.testing.{_name}":
            raise
FORMATS.append(FORMATS.pop(0))  # OpenAI Chat Completions last: it takes any path ending in /chat/completions


def format_for(path: str) -> Optional[WireFormat]:
    """The format that serves ``path``, or None."""
    for wire_format in FORMATS:
        if wire_format.matches(path):
            return wire_format
    return None
