"""The OpenAI Responses API as the fake server speaks it (paths ending in ``/responses``).

A streamed reply is the event sequence the API sends: ``response.created``, then per
output item ``response.output_item.added``, its deltas and ``response.output_item.done``
(a reasoning item with summary deltas and ``encrypted_content``, a message with
``output_text`` deltas, function calls with argument deltas), then ``response.completed``
(or ``response.incomplete`` / ``response.failed``) carrying the whole response object.

``Reply.logprobs`` go where the API puts them (it sends them only when ``include`` asks;
the fake server sends whatever the reply holds): on the message's ``output_text`` part
as ``[{token, bytes, logprob, top_logprobs: [{token, bytes, logprob}]}]``
(response_output_text.py), and on ``response.output_text.done`` and each
``response.output_text.delta`` without ``bytes`` (response_text_done_event.py,
response_text_delta_event.py). The text is sent in ``chunk_size`` pieces that need not
match the tokens, so the entries are spread over the deltas in order, as evenly as they
go, the earlier deltas taking one more; together the deltas carry every entry once.
Without logprobs (or without text to carry them) the bodies are as before: no
``logprobs`` on the part, ``[]`` on the text events.
"""
import itertools
from typing import Any, Dict, List, Optional

from ..types import FinishReason, ServerToolCall, TokenLogprob
from .reply import Reply
from .wire import WireFormat, sse

__all__ = ["ResponsesFormat", "FORMAT"]

RESPONSE_ID = "resp_fake"
REASONING_ID = "rs_fake"
MESSAGE_ID = "msg_fake"

_INCOMPLETE_REASONS = {FinishReason.LENGTH: "max_output_tokens",
                       FinishReason.CONTENT_FILTER: "content_filter"}


def responses_usage(reply: Reply) -> Optional[Dict[str, Any]]:
    usage = reply.usage
    if usage is None:
        return None
    return {
        "input_tokens": usage.prompt_tokens,
        "input_tokens_details": {"cached_tokens": usage.cache_read_tokens},
        "output_tokens": usage.completion_tokens,
        "output_tokens_details": {"reasoning_tokens": usage.reasoning_tokens},
        "total_tokens": usage.total_tokens,
    }


def _server_item(index: int, call: ServerToolCall) -> Dict[str, Any]:
    """``code_interpreter_call`` for a call named so, else a ``web_search_call``."""
    item_id = call.id or f"ws_fake_{index}"
    if call.name == "code_interpreter":
        code = call.input.get("code") if isinstance(call.input, dict) else call.input
        return {"id": item_id, "type": "code_interpreter_call", "status": "completed", "code": code,
                "container_id": "cntr_fake", "outputs": call.output}
    action = dict(call.input) if isinstance(call.input, dict) else {"type": "search", "query": call.input}
    action.setdefault("type", "search")
    if call.output is not None:
        action["sources"] = call.output
    return {"id": item_id, "type": "web_search_call", "status": "completed", "action": action}


def _part_logprob(token: TokenLogprob) -> Dict[str, Any]:
    """One ``output_text`` part entry: ``bytes`` is the token's UTF-8 bytes as ints."""
    def one(t: TokenLogprob) -> Dict[str, Any]:
        return {"token": t.token, "bytes": list(t.token.encode("utf-8")), "logprob": t.logprob}
    return {**one(token), "top_logprobs": [one(t) for t in token.top]}


def _event_logprobs(tokens: List[TokenLogprob]) -> List[Dict[str, Any]]:
    """Entries as the text delta and done events carry them: no ``bytes``."""
    return [{"token": t.token, "logprob": t.logprob,
             "top_logprobs": [{"token": c.token, "logprob": c.logprob} for c in t.top]} for t in tokens]


def _spread(tokens: List[TokenLogprob], count: int) -> List[List[TokenLogprob]]:
    """``tokens`` in ``count`` consecutive groups, in order, as even as they go (the
    earlier groups one longer); no groups when ``count`` is 0."""
    size, extra = divmod(len(tokens), count) if count else (0, 0)
    groups, start = [], 0
    for index in range(count):
        end = start + size + (1 if index < extra else 0)
        groups.append(tokens[start:end])
        start = end
    return groups


def _content(reply: Reply) -> List[Dict[str, Any]]:
    """A message's parts: ``output_text`` with ``url_citation`` annotations, or a ``refusal``."""
    parts: List[Dict[str, Any]] = []
    if reply.text:
        annotations = [{"type": "url_citation", "url": c.url, "title": c.title or "",
                        "start_index": reply.span(c)[0], "end_index": reply.span(c)[1]}
                       for c in reply.citations if c.url]
        part: Dict[str, Any] = {"type": "output_text", "text": reply.text, "annotations": annotations}
        if reply.logprobs:
            part["logprobs"] = [_part_logprob(token) for token in reply.logprobs]
        parts.append(part)
    if reply.refusal:
        parts.append({"type": "refusal", "refusal": reply.refusal})
    return parts


def output_items(reply: Reply) -> List[Dict[str, Any]]:
    """The reply's output items as they stand when complete."""
    items: List[Dict[str, Any]] = []
    if reply.reasoning:
        items.append({"id": REASONING_ID, "type": "reasoning", "status": "completed",
                      "summary": [{"type": "summary_text", "text": reply.reasoning}],
                      "encrypted_content": reply.signature})
    items += [_server_item(index, call) for index, call in enumerate(reply.server_tool_calls)]
    if reply.text or reply.refusal:
        items.append({"id": MESSAGE_ID, "type": "message", "status": "completed", "role": "assistant",
                      "content": _content(reply)})
    for index, call in enumerate(reply.tool_calls):
        items.append({"id": f"fc_fake_{index}", "type": "function_call", "status": "completed",
                      "call_id": call.id, "name": call.name, "arguments": call.arguments})
    return items


class ResponsesFormat(WireFormat):
    """OpenAI ``POST /v1/responses``, streamed or whole."""

    name = "openai-responses"

    def matches(self, path: str) -> bool:
        return path.endswith("/responses")

    def error_body(self, reply: Reply) -> Dict[str, Any]:
        return {"error": {"message": reply.error_message, "type": reply.error_type or "api_error",
                          "param": None, "code": None}}

    def body(self, reply: Reply, model: str) -> Dict[str, Any]:
        return self._response(reply, model, output_items(reply), final=True)

    def _response(self, reply: Reply, model: str, output: List[Dict[str, Any]],
                  final: bool) -> Dict[str, Any]:
        status = "in_progress"
        error = incomplete = None
        if final:
            status = "completed"
            if reply.finish in _INCOMPLETE_REASONS:
                status, incomplete = "incomplete", {"reason": _INCOMPLETE_REASONS[reply.finish]}
            elif reply.finish is FinishReason.ERROR:
                status = "failed"
                error = {"code": "server_error", "message": reply.error_message or "simulated failure"}
        return {"id": RESPONSE_ID, "object": "response", "created_at": 0, "status": status,
                "model": model, "error": error, "incomplete_details": incomplete, "store": False,
                "output": output, "usage": responses_usage(reply) if final else None}

    def stream_events(self, reply: Reply, model: str) -> List[bytes]:
        counter = itertools.count()
        events: List[bytes] = []

        def emit(kind: str, **fields: Any) -> None:
            events.append(sse({"type": kind, "sequence_number": next(counter), **fields}, event=kind))

        emit("response.created", response=self._response(reply, model, [], final=False))
        emit("response.in_progress", response=self._response(reply, model, [], final=False))
        items = output_items(reply)
        for index, item in enumerate(items):
            self._emit_item(emit, reply, index, item)
        final = self._response(reply, model, items, final=True)
        terminal = {"completed": "response.completed", "incomplete": "response.incomplete",
                    "failed": "response.failed"}[final["status"]]
        emit(terminal, response=final)
        return events

    def _emit_item(self, emit: Any, reply: Reply, index: int, item: Dict[str, Any]) -> None:
        at = {"item_id": item["id"], "output_index": index}
        kind = item["type"]
        if kind == "reasoning":
            emit("response.output_item.added", output_index=index,
                 item={"id": item["id"], "type": "reasoning", "summary": []})
            part: Dict[str, Any] = {"type": "summary_text", "text": ""}
            emit("response.reasoning_summary_part.added", summary_index=0, part=part, **at)
            for piece in reply.pieces(reply.reasoning):
                emit("response.reasoning_summary_text.delta", summary_index=0, delta=piece, **at)
            emit("response.reasoning_summary_text.done", summary_index=0, text=reply.reasoning, **at)
            emit("response.reasoning_summary_part.done", summary_index=0,
                 part={**part, "text": reply.reasoning}, **at)
        elif kind == "message":
            emit("response.output_item.added", output_index=index,
                 item={**item, "status": "in_progress", "content": []})
            for content_index, done in enumerate(item["content"]):
                self._emit_part(emit, reply, content_index, done, at)
        elif kind != "function_call":
            emit("response.output_item.added", output_index=index, item={**item, "status": "in_progress"})
        else:
            emit("response.output_item.added", output_index=index,
                 item={**item, "status": "in_progress", "arguments": ""})
            for piece in reply.pieces(item["arguments"]):
                emit("response.function_call_arguments.delta", delta=piece, **at)
            emit("response.function_call_arguments.done", arguments=item["arguments"], **at)
        emit("response.output_item.done", output_index=index, item=item)

    def _emit_part(self, emit: Any, reply: Reply, content_index: int, done: Dict[str, Any],
                   at: Dict[str, Any]) -> None:
        kind, key = ("output_text", "text") if done["type"] == "output_text" else ("refusal", "refusal")
        empty: Dict[str, Any] = {"annotations": []} if kind == "output_text" else {}
        if "logprobs" in done:
            empty["logprobs"] = []
        emit("response.content_part.added", content_index=content_index, part={**done, key: "", **empty}, **at)
        pieces = reply.pieces(done[key])
        tokens = reply.logprobs if "logprobs" in done else []
        for piece, group in zip(pieces, _spread(tokens, len(pieces))):
            extra = {"logprobs": _event_logprobs(group)} if kind == "output_text" else {}
            emit(f"response.{kind}.delta", content_index=content_index, delta=piece, **extra, **at)
        extra = {"logprobs": _event_logprobs(tokens)} if kind == "output_text" else {}
        emit(f"response.{kind}.done", content_index=content_index, **{key: done[key]}, **extra, **at)
        emit("response.content_part.done", content_index=content_index, part=done, **at)


FORMAT = ResponsesFormat()
