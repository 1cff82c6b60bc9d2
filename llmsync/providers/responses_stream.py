"""OpenAI Responses API replies: the stream parser (``response.*`` events), which also
reads a whole ``response`` through the same item readers, and its usage.

Wire reference: openai-python ``src/openai/types/responses/`` (response_stream_event.py,
response.py, response_output_item.py, response_error_event.py, response_usage.py).
"""
import logging
from typing import Any, Callable, Dict, List, Optional, Set

from ..builder import ResponseBuilder, usage_of
from ..errors import ProviderError
from ..events import Event
from ..types import Citation, FinishReason, ReasoningBlock, ServerToolCall, Usage
from .base import StreamParser, reply_error
from .responses_items import PROVIDER_ID, web_search_block
from .responses_logprobs import read_logprobs
from .wire_json import decode_event

__all__ = ["ResponsesParser", "parse_usage", "read_item", "finish"]

log = logging.getLogger("llmsync")

_INCOMPLETE = {"max_output_tokens": FinishReason.LENGTH, "content_filter": FinishReason.CONTENT_FILTER}
_RETRYABLE_CODES = {"server_error", "rate_limit_exceeded"}


def parse_usage(usage: Any) -> Optional[Usage]:
    """Responses usage; ``input_tokens`` includes cached tokens, ``output_tokens`` reasoning."""
    if not isinstance(usage, dict):
        return None
    return usage_of(
        usage.get("input_tokens"),
        usage.get("output_tokens"),
        cache_read=(usage.get("input_tokens_details") or {}).get("cached_tokens"),
        reasoning=(usage.get("output_tokens_details") or {}).get("reasoning_tokens"),
    )


def _error(error: Any, provider: str, what: str) -> ProviderError:
    """A ``ProviderError`` from an ``{code, message}`` object (or a bare string)."""
    return reply_error(error, provider, what, ("code", "type"), _RETRYABLE_CODES)


# -- reading output items (shared by streamed and whole replies) ---------------------------


def _texts(parts: Any, kind: str, key: str = "text") -> List[str]:
    return [p.get(key) or "" for p in parts or () if isinstance(p, dict) and p.get("type") == kind]


def _server_call(item: Dict[str, Any]) -> Optional[ServerToolCall]:
    """A tool the API ran itself, from its output item (openai-python
    response_output_item.py: web_search_call, code_interpreter_call, file_search_call,
    image_generation_call, mcp_call); None for other item types."""
    kind = item.get("type")
    if kind == "web_search_call":
        action = item["action"] if isinstance(item.get("action"), dict) else {}
        return ServerToolCall(item.get("id"), "web_search", action or None, action.get("sources"))
    if kind == "code_interpreter_call":
        return ServerToolCall(item.get("id"), "code_interpreter",
                              {"code": item.get("code"), "container_id": item.get("container_id")},
                              item.get("outputs"))
    if kind == "file_search_call":
        return ServerToolCall(item.get("id"), "file_search", {"queries": item.get("queries")}, item.get("results"))
    if kind == "image_generation_call":
        return ServerToolCall(item.get("id"), "image_generation", None, item.get("result"))
    if kind == "mcp_call":
        output = item.get("output") if item.get("error") is None else {"error": item.get("error")}
        return ServerToolCall(item.get("id"), f"mcp:{item.get('server_label')}:{item.get('name')}",
                              item.get("arguments"), output)
    return None


def _citation(annotation: Any, text: str) -> Optional[Citation]:
    """An ``output_text`` annotation (url_citation, file_citation, container_file_citation)."""
    if not isinstance(annotation, dict):
        return None
    kind = annotation.get("type")
    start, end = annotation.get("start_index"), annotation.get("end_index")
    cited = text[start:end] or None if isinstance(start, int) and isinstance(end, int) else None
    if kind == "url_citation":
        return Citation(annotation.get("url"), annotation.get("title"), cited)
    if kind in ("file_citation", "container_file_citation"):
        return Citation(None, annotation.get("filename") or annotation.get("file_id"), cited)
    return None


def _read_message(builder: ResponseBuilder, item: Dict[str, Any], streamed: bool) -> List[Event]:
    out: List[Event] = []
    for part in item.get("content") or ():
        if not isinstance(part, dict):
            continue
        if part.get("type") == "output_text":
            text = part["text"] if isinstance(part.get("text"), str) else ""
            if text and not streamed:
                out.append(builder.text(text))
            for annotation in part.get("annotations") or ():
                citation = _citation(annotation, text)
                if citation is not None:
                    builder.citation(citation)
            read_logprobs(builder, part.get("logprobs"))
        elif part.get("type") == "refusal" and not streamed and part.get("refusal"):
            builder.refusal(part["refusal"])  # DESIGN: a refusal is never content
    return out


def read_item(builder: ResponseBuilder, item: Dict[str, Any], streamed: bool) -> List[Event]:
    """Add one complete output item to ``builder``.

    ``streamed`` says the item's text or arguments already arrived as deltas, so only
    what deltas cannot carry (the reasoning block, annotations, the end of a call) is added.
    """
    kind = item.get("type")
    if kind == "function_call":
        return _read_call(builder, item, streamed)
    if kind == "reasoning":
        summary = "".join(_texts(item.get("summary"), "summary_text"))
        builder.reasoning_blocks.append(ReasoningBlock(
            text=summary, signature=item.get("encrypted_content"), kind="reasoning",
            id=item.get("id"), provider=builder.provider,
        ))
        text = summary or "".join(_texts(item.get("content"), "reasoning_text"))
        return [builder.reasoning(text)] if text and not streamed else []
    if kind == "message":
        return _read_message(builder, item, streamed)
    call = _server_call(item)
    if call is not None:
        builder.server_tool_call(call)
        kept = web_search_block(item, builder.provider or PROVIDER_ID)
        if kept is not None:  # it goes back in the next turn, in its place among the reasoning
            builder.reasoning_blocks.append(kept)
    else:
        log.debug("skipped a Responses output item of type %r", kind)
    return []


def _read_call(builder: ResponseBuilder, item: Dict[str, Any], streamed: bool) -> List[Event]:
    key = item.get("id") or item.get("call_id")
    out: List[Event] = []
    if key not in builder.calls:
        out.append(builder.tool_start(key, item.get("call_id") or str(key), item.get("name") or ""))
        streamed = False
    if not streamed and item.get("arguments"):
        out.append(builder.tool_delta(key, item["arguments"]))
    out.append(builder.tool_end(key))
    return out


def finish(builder: ResponseBuilder, response: Dict[str, Any], status: Optional[str]) -> List[Event]:
    """Apply a final response object: id, model, finish reason and usage.

    Raises:
        ProviderError: the response failed.
    """
    builder.id = response.get("id") or builder.id
    builder.model = response.get("model") or builder.model
    status = response.get("status") or status
    if status == "failed":
        builder.finish_reason = FinishReason.ERROR
        error = _error(response.get("error"), builder.provider or PROVIDER_ID, "the response failed")
        builder.error_message = error.message
        raise error
    out: List[Event] = list(builder.end_open_calls())
    if status == "incomplete":
        reason = (response.get("incomplete_details") or {}).get("reason")
        builder.finish_reason = _INCOMPLETE.get(str(reason), FinishReason.LENGTH)
    else:  # "completed" (a whole body may omit it): the builder turns STOP into TOOL_CALLS
        builder.finish_reason = FinishReason.STOP
    usage = parse_usage(response.get("usage"))
    if usage is not None:
        out.append(builder.set_usage(usage))
    return out


class ResponsesParser(StreamParser):
    """Responses stream events; each carries its own ``type`` (the SSE event name too).

    A whole response object (``feed_body``) is read item by item, as the stream's
    ``response.output_item.done`` events are, then finished as ``response.completed`` is.
    """

    def __init__(self, provider: str, model: str) -> None:
        super().__init__(provider, model)
        self._streamed: Set[Any] = set()  # item ids whose content arrived as deltas

    def feed(self, event: str, data: str) -> List[Event]:
        payload = decode_event(data, self.provider)
        if not isinstance(payload, dict):
            raise ProviderError(f"unexpected stream event: {data[:200]!r}", provider=self.provider)
        handler = _HANDLERS.get(payload.get("type") or event)
        return handler(self, payload) if handler else []

    def feed_body(self, body: Any) -> List[Event]:
        if not isinstance(body, dict) or not isinstance(body.get("output"), list):
            if isinstance(body, dict) and body.get("error"):
                raise _error(body["error"], self.provider, "error in reply")
            raise ProviderError(f"unexpected reply body: {str(body)[:200]!r}", provider=self.provider)
        events = self._created({"response": body})
        for item in body["output"]:
            if isinstance(item, dict):
                events += self._item_done({"item": item})
        events += finish(self.builder, body, None)
        self.complete = True
        return events

    def _created(self, payload: Dict[str, Any]) -> List[Event]:
        response = payload.get("response") or {}
        self.builder.id = response.get("id") or self.builder.id
        self.builder.model = response.get("model") or self.builder.model
        return []

    def _text(self, payload: Dict[str, Any]) -> List[Event]:
        self._streamed.add(payload.get("item_id"))
        return [self.builder.text(payload["delta"])] if payload.get("delta") else []

    def _refusal(self, payload: Dict[str, Any]) -> List[Event]:
        self._streamed.add(payload.get("item_id"))
        if isinstance(payload.get("delta"), str) and payload["delta"]:
            self.builder.refusal(payload["delta"])
        return []

    def _reasoning(self, payload: Dict[str, Any]) -> List[Event]:
        self._streamed.add(payload.get("item_id"))
        return [self.builder.reasoning(payload["delta"])] if payload.get("delta") else []

    def _item_added(self, payload: Dict[str, Any]) -> List[Event]:
        item = payload.get("item") or {}
        key = item.get("id") or item.get("call_id")
        if item.get("type") != "function_call" or key in self.builder.calls:
            return []
        return [self.builder.tool_start(key, item.get("call_id") or str(key), item.get("name") or "")]

    def _arguments(self, payload: Dict[str, Any]) -> List[Event]:
        key = payload.get("item_id")
        fragment = payload.get("delta") or ""
        if not fragment or key not in self.builder.calls:
            return []
        self._streamed.add(key)
        return [self.builder.tool_delta(key, fragment)]

    def _arguments_done(self, payload: Dict[str, Any]) -> List[Event]:
        if payload.get("item_id") in self._streamed:
            return []
        return self._arguments({"item_id": payload.get("item_id"), "delta": payload.get("arguments")})

    def _item_done(self, payload: Dict[str, Any]) -> List[Event]:
        item = payload.get("item") or {}
        if not isinstance(item, dict):
            return []
        return read_item(self.builder, item, streamed=item.get("id") in self._streamed)

    def _completed(self, payload: Dict[str, Any]) -> List[Event]:
        status = "incomplete" if payload.get("type") == "response.incomplete" else "completed"
        events = finish(self.builder, payload.get("response") or {}, status)
        self.complete = True
        return events

    def _failed(self, payload: Dict[str, Any]) -> List[Event]:
        return finish(self.builder, payload.get("response") or {}, "failed")

    def _error(self, payload: Dict[str, Any]) -> List[Event]:
        # response_error_event.py: {type: "error", code, message, param} at the top level.
        raise _error(payload.get("error") or payload, self.provider, "error in stream")


_HANDLERS: Dict[str, Callable[[ResponsesParser, Dict[str, Any]], List[Event]]] = {
    "response.created": ResponsesParser._created,
    "response.output_text.delta": ResponsesParser._text,
    "response.refusal.delta": ResponsesParser._refusal,
    "response.reasoning_summary_text.delta": ResponsesParser._reasoning,
    "response.reasoning_text.delta": ResponsesParser._reasoning,
    "response.output_item.added": ResponsesParser._item_added,
    "response.function_call_arguments.delta": ResponsesParser._arguments,
    "response.function_call_arguments.done": ResponsesParser._arguments_done,
    "response.output_item.done": ResponsesParser._item_done,
    "response.completed": ResponsesParser._completed,
    "response.incomplete": ResponsesParser._completed,
    "response.failed": ResponsesParser._failed,
    "error": ResponsesParser._error,
}


# -- request -----------------------------------------------------------------------------
