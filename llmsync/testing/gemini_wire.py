"""The Gemini wire format for ``FakeServer``: ``models/{model}:generateContent`` and
``:streamGenerateContent?alt=sse``.

Chunks look like the real API's: each SSE ``data:`` is a whole ``GenerateContentResponse``;
thought summaries are parts with ``"thought": true``; function calls arrive whole, the
first carrying a ``thoughtSignature``; ``usageMetadata`` is cumulative; the last chunk
holds ``finishReason`` and an empty text part, and there is no end marker.
"""
import json
from typing import Any, Dict, List, Optional

from ..types import FinishReason, ToolCall
from .reply import Reply
from .wire import WireFormat, sse

__all__ = ["GeminiFormat", "FORMAT"]

_FINISH = {
    FinishReason.STOP: "STOP",
    FinishReason.TOOL_CALLS: "STOP",  # Gemini has no tool-call finish reason
    FinishReason.LENGTH: "MAX_TOKENS",
    FinishReason.CONTENT_FILTER: "SAFETY",
    FinishReason.ERROR: "MALFORMED_FUNCTION_CALL",
}

# HTTP status -> google.rpc status (ai.google.dev/gemini-api/docs/troubleshooting).
_STATUS = {
    400: "INVALID_ARGUMENT", 401: "UNAUTHENTICATED", 403: "PERMISSION_DENIED", 404: "NOT_FOUND",
    429: "RESOURCE_EXHAUSTED", 500: "INTERNAL", 503: "UNAVAILABLE", 504: "DEADLINE_EXCEEDED",
}


def _usage(reply: Reply, share: float = 1.0) -> Optional[Dict[str, Any]]:
    """``usageMetadata`` with ``share`` of the output counted so far (cumulative)."""
    usage = reply.usage
    if usage is None:
        return None
    thoughts = int(usage.reasoning_tokens * share)
    candidates = int((usage.completion_tokens - usage.reasoning_tokens) * share)
    total = usage.total_tokens if share >= 1.0 else usage.prompt_tokens + candidates + thoughts
    meta: Dict[str, Any] = {"promptTokenCount": usage.prompt_tokens,
                            "candidatesTokenCount": candidates, "totalTokenCount": total}
    if usage.reasoning_tokens:
        meta["thoughtsTokenCount"] = thoughts
    if usage.cache_read_tokens:
        meta["cachedContentTokenCount"] = usage.cache_read_tokens
    return meta


def _call_part(call: ToolCall, signature: Optional[str]) -> Dict[str, Any]:
    try:
        args = json.loads(call.arguments or "{}")
    except ValueError:
        args = {}
    part: Dict[str, Any] = {"functionCall": {"id": call.id, "name": call.name, "args": args}}
    if signature:
        part["thoughtSignature"] = signature
    return part


def _call_parts(reply: Reply) -> List[Dict[str, Any]]:
    # Parallel calls: "the thought_signature is attached only to the first functionCall part".
    return [_call_part(call, reply.signature if i == 0 else None) for i, call in enumerate(reply.tool_calls)]


def _server_parts(reply: Reply) -> List[Dict[str, Any]]:
    """Code execution: ``executableCode`` then ``codeExecutionResult`` per call."""
    parts: List[Dict[str, Any]] = []
    for call in reply.server_tool_calls:
        code = call.input if isinstance(call.input, dict) else {"code": str(call.input or "")}
        result = call.output if isinstance(call.output, dict) else {"output": str(call.output or "")}
        parts += [{"executableCode": {"language": "PYTHON", **code}},
                  {"codeExecutionResult": {"outcome": "OUTCOME_OK", **result}}]
    return parts


def _grounding(reply: Reply) -> Optional[Dict[str, Any]]:
    """``groundingMetadata``: one web chunk per citation, supported by its cited text."""
    if not reply.citations:
        return None
    chunks = [{"web": {"uri": c.url, "title": c.title}} for c in reply.citations]
    supports = [{"segment": {"startIndex": reply.span(c)[0], "endIndex": reply.span(c)[1], "text": c.cited_text},
                 "groundingChunkIndices": [i]} for i, c in enumerate(reply.citations) if c.cited_text]
    return {"groundingChunks": chunks, "groundingSupports": supports}


def _text(reply: Reply) -> str:
    # Gemini has no refusal field: a refusal is text ending with finishReason SAFETY.
    return reply.text + reply.refusal


def _logprobs(reply: Reply) -> Dict[str, Any]:
    """``logprobsResult``: ``chosenCandidates`` and, per step, ``topCandidates``."""
    return {"chosenCandidates": [{"token": t.token, "logProbability": t.logprob} for t in reply.logprobs],
            "topCandidates": [{"candidates": [{"token": c.token, "logProbability": c.logprob} for c in t.top]}
                              for t in reply.logprobs]}


class GeminiFormat(WireFormat):
    """Gemini ``generateContent``; streaming is chosen by the path, not the body."""

    name = "gemini"

    def matches(self, path: str) -> bool:
        return ":generateContent" in path or ":streamGenerateContent" in path

    def is_stream(self, path: str, body: Dict[str, Any]) -> bool:
        return ":streamGenerateContent" in path

    def _chunk(self, model: str, parts: List[Dict[str, Any]], usage: Optional[Dict[str, Any]],
               finish: Optional[str] = None) -> Dict[str, Any]:
        candidate: Dict[str, Any] = {"content": {"parts": parts, "role": "model"}, "index": 0}
        if finish:
            candidate["finishReason"] = finish
        chunk: Dict[str, Any] = {"candidates": [candidate]}
        if usage is not None:
            chunk["usageMetadata"] = usage
        chunk.update(modelVersion=model, responseId="fake-gemini-response")
        return chunk

    def stream_events(self, reply: Reply, model: str) -> List[bytes]:
        groups: List[List[Dict[str, Any]]] = [[{"text": p, "thought": True}] for p in reply.pieces(reply.reasoning)]
        groups += [[part] for part in _server_parts(reply)]
        groups += [[{"text": p}] for p in reply.pieces(_text(reply))]
        if reply.tool_calls:
            groups.append(_call_parts(reply))  # whole calls, all in one chunk
        # Without calls, a thinking model signs an empty text part at the end (FAQ #3).
        last: Dict[str, Any] = {"text": ""}
        if reply.reasoning and not reply.tool_calls and reply.signature:
            last["thoughtSignature"] = reply.signature
        count = len(groups) + 1
        events = [sse(self._chunk(model, parts, _usage(reply, (i + 1) / count))) for i, parts in enumerate(groups)]
        final = self._chunk(model, [last], _usage(reply), _FINISH[reply.finish])
        if reply.logprobs:
            final["candidates"][0]["logprobsResult"] = _logprobs(reply)
        if _grounding(reply):
            final["candidates"][0]["groundingMetadata"] = _grounding(reply)
        events.append(sse(final))
        return events

    def body(self, reply: Reply, model: str) -> Dict[str, Any]:
        parts: List[Dict[str, Any]] = []
        if reply.reasoning:
            parts.append({"text": reply.reasoning, "thought": True})
        parts += _server_parts(reply)
        if _text(reply):
            parts.append({"text": _text(reply)})
        parts += _call_parts(reply)
        if reply.reasoning and not reply.tool_calls and reply.signature:
            parts[-1]["thoughtSignature"] = reply.signature
        body = self._chunk(model, parts or [{"text": ""}], _usage(reply), _FINISH[reply.finish])
        if reply.logprobs:
            body["candidates"][0]["logprobsResult"] = _logprobs(reply)
        if _grounding(reply):
            body["candidates"][0]["groundingMetadata"] = _grounding(reply)
        return body

    def error_body(self, reply: Reply) -> Dict[str, Any]:
        return {"error": {"code": reply.status, "message": reply.error_message,
                          "status": reply.error_type or _STATUS.get(reply.status, "UNKNOWN")}}


FORMAT = GeminiFormat()
