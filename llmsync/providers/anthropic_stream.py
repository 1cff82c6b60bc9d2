"""Anthropic Messages replies: stream events and whole bodies, through one parser.

Wire reference: docs.claude.com/en/api/messages-streaming; anthropic-sdk-python
``src/anthropic/types/raw_message_stream_event.py``.
"""
import json
import logging
from typing import Any, Callable, Dict, List, Optional, Union

from ..builder import token_count, usage_of
from ..errors import ProviderError
from ..events import Event
from ..types import Citation, FinishReason, ReasoningBlock, ServerToolCall, Usage
from .base import StreamParser, reply_error
from .wire_json import decode_event

__all__ = ["AnthropicParser", "parse_usage", "error_in", "citation_of", "STOP_REASONS"]

log = logging.getLogger("llmsync")

STOP_REASONS = {
    "end_turn": FinishReason.STOP,
    "stop_sequence": FinishReason.STOP,
    "max_tokens": FinishReason.LENGTH,
    "tool_use": FinishReason.TOOL_CALLS,
    "refusal": FinishReason.CONTENT_FILTER,
    "model_context_window_exceeded": FinishReason.LENGTH,
    # "pause_turn": a server-tool loop (web search, code execution) reached its iteration
    # limit mid-turn. The caller must append the assistant content unchanged and send the
    # request again so the model continues (docs: handling-stop-reasons): `to_message()`
    # keeps the server tool blocks for that. LENGTH already means "incomplete, continue";
    # STOP would wrongly end a tool loop.
    "pause_turn": FinishReason.LENGTH,
}

# Stream error types worth another attempt (HTTP 529 and 500 as SSE events).
_RETRYABLE_ERRORS = ("overloaded_error", "api_error")


def parse_usage(usage: Optional[Dict[str, Any]]) -> Optional[Usage]:
    """Anthropic usage in llmsync terms: ``input_tokens`` excludes cache reads and writes."""
    if not usage:
        return None
    read = usage.get("cache_read_input_tokens")
    write = usage.get("cache_creation_input_tokens")
    prompt = sum(token_count(n) for n in (usage.get("input_tokens"), read, write))
    return usage_of(prompt, usage.get("output_tokens"), cache_read=read, cache_write=write)


def error_in(where: str, error: Any, provider: str) -> ProviderError:
    """The error of an ``error`` event or of an error body inside a 200 reply."""
    return reply_error(error, provider, f"error in {where}", ("type",), _RETRYABLE_ERRORS)


def citation_of(wire: Any) -> Optional[Citation]:
    """An Anthropic citation (citation_char_location.py, ..._web_search_result_location.py,
    ..._search_result_location.py, ...): url (web: ``url``; search results: ``source``),
    the title and the quoted ``cited_text``. Document citations have no url."""
    if not isinstance(wire, dict):
        return None
    url = wire.get("url") if wire.get("type") != "search_result_location" else wire.get("source")
    title = wire.get("title") or wire.get("document_title")
    return Citation(url if isinstance(url, str) else None, title, wire.get("cited_text"))


# Blocks of work Anthropic ran itself: the call, and its result (``*_tool_result``, with
# ``tool_use_id``). "mcp_tool_use"/"mcp_tool_result" are the MCP connector's.
_SERVER_CALLS = ("server_tool_use", "mcp_tool_use")


def _is_server_result(kind: Any) -> bool:
    return isinstance(kind, str) and kind.endswith("_tool_result") and kind != "tool_result"


class _Block:
    __slots__ = ("kind", "text", "start", "end", "signature", "data", "wire", "json", "citations")

    def __init__(self, kind: str, text: str = "", signature: str = "", data: Optional[str] = None,
                 wire: Optional[Dict[str, Any]] = None, start: int = 0) -> None:
        self.kind = kind
        self.text = [text] if text else []  # a thinking block's text
        self.start = start  # where a text block's text begins and ends in the reply's text
        self.end = start
        self.signature = signature
        self.data = data
        self.wire = wire or {}  # the block as it started (server tool blocks, text)
        self.json: List[str] = []  # a server tool call's streamed input
        self.citations: List[Any] = list(self.wire.get("citations") or ())


class AnthropicParser(StreamParser):
    """Messages stream events: blocks by index, usage cumulative in ``message_delta``.

    A whole message (``feed_body``) goes through the same handlers, as one
    ``content_block_start``/``_stop`` pair per block. Thinking, redacted thinking, server
    tool blocks and cited text are kept as ``ReasoningBlock``s, in order, so
    ``to_message()`` sends them back as they came (web search results and citations
    carry encrypted fields the next turn needs).
    """

    def __init__(self, provider: str, model: str) -> None:
        super().__init__(provider, model)
        self._blocks: Dict[int, _Block] = {}
        self._usage: Dict[str, Any] = {}
        # Every block to send back, in order; text blocks stay _Blocks until the end, when
        # they are needed only if the reply has server tool blocks or citations.
        self._kept: List[Union[ReasoningBlock, _Block]] = []
        self._rich = False  # whether server tool blocks or citations were seen

    def feed(self, event: str, data: str) -> List[Event]:
        payload = decode_event(data, self.provider)
        if not isinstance(payload, dict):
            raise ProviderError(f"unexpected stream event: {data[:200]!r}", provider=self.provider)
        # Unknown event types are skipped, as the streaming docs ask of clients.
        handler = self._HANDLERS.get(payload.get("type") or event)
        return handler(self, payload) if handler else []

    def feed_body(self, body: Any) -> List[Event]:
        """A whole (non-streamed) message, through the same handlers as a stream.

        Raises:
            ProviderError: the body is an error or not a message.
        """
        if not isinstance(body, dict) or not isinstance(body.get("content"), list):
            if isinstance(body, dict) and body.get("error"):
                raise error_in("reply", body["error"], self.provider)
            raise ProviderError(f"unexpected reply body: {str(body)[:200]!r}", provider=self.provider)
        out = self._message_start({"message": {**body, "content": []}})
        for index, block in enumerate(body["content"]):
            if isinstance(block, dict):
                out += self._block_start({"index": index, "content_block": block})
                out += self._block_stop({"index": index})
        out += self._message_delta({"delta": {"stop_reason": body.get("stop_reason")}, "usage": body.get("usage")})
        return out + self._message_stop({})

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
            self._kept.append(ReasoningBlock(kind="tool_use", id=block.get("id"), provider=self.provider))
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
        elif kind == "text":
            self._blocks[index] = _Block(kind, wire=block, start=self.builder.text_length())
            for citation in block.get("citations") or ():
                self._cite(citation)
            if block.get("text"):
                return [self.builder.text(block["text"])]
        elif kind in _SERVER_CALLS or _is_server_result(kind):
            self._rich = True
            self._blocks[index] = _Block(str(kind), wire=block)
        else:
            log.debug("skipped an Anthropic content block of type %r", kind)
        return []

    def _cite(self, wire: Any) -> None:
        citation = citation_of(wire)
        if citation is not None:
            self._rich = True
            self.builder.citation(citation)

    def _block_delta(self, payload: Dict[str, Any]) -> List[Event]:
        index, delta = payload["index"], payload.get("delta") or {}
        kind = delta.get("type")
        if kind == "text_delta":  # nearly every event; a text block's text is read back at its end
            return [self.builder.text(delta["text"])] if delta.get("text") else []
        if kind == "input_json_delta" and delta.get("partial_json") and index in self.builder.calls:
            return [self.builder.tool_delta(index, delta["partial_json"])]
        block = self._blocks.get(index)
        if block is None:
            return []
        if kind == "input_json_delta" and isinstance(delta.get("partial_json"), str):
            block.json.append(delta["partial_json"])
        elif kind == "citations_delta":
            block.citations.append(delta.get("citation"))
            self._cite(delta.get("citation"))
        elif kind == "thinking_delta" and delta.get("thinking"):
            block.text.append(delta["thinking"])
            return [self.builder.reasoning(delta["thinking"])]
        elif kind == "signature_delta":
            block.signature += delta.get("signature") or ""
        return []

    def _block_stop(self, payload: Dict[str, Any]) -> List[Event]:
        index = payload["index"]
        if index in self.builder.calls:
            return [self.builder.tool_end(index)]
        block = self._blocks.pop(index, None)
        if block is None:
            return []
        kept: Union[ReasoningBlock, _Block] = block
        if block.kind == "thinking":
            kept = ReasoningBlock("".join(block.text), block.signature or None, "thinking", provider=self.provider)
            self.builder.reasoning_blocks.append(kept)
        elif block.kind == "redacted_thinking":
            kept = ReasoningBlock(kind="redacted_thinking", data=block.data, provider=self.provider)
            self.builder.reasoning_blocks.append(kept)
        elif block.kind == "text":
            block.end = self.builder.text_length()  # its text is read back at the end, if needed
        else:
            kept = self._server_block(block)
        self._kept.append(kept)
        return []

    def _text_block(self, block: _Block, reply_text: str) -> ReasoningBlock:
        text = reply_text[block.start:block.end]
        wire: Dict[str, Any] = {"type": "text", "text": text}
        if block.citations:
            wire["citations"] = [c for c in block.citations if isinstance(c, dict)]
        return ReasoningBlock(text, kind="text", data=json.dumps(wire), provider=self.provider)

    def _server_block(self, block: _Block) -> ReasoningBlock:
        wire = dict(block.wire)
        if block.kind in _SERVER_CALLS:
            if block.json:
                try:
                    wire["input"] = json.loads("".join(block.json))
                except ValueError:
                    log.debug("server tool input is not JSON: %.200r", "".join(block.json))
            self.builder.server_tool_call(ServerToolCall(wire.get("id"), str(wire.get("name") or ""),
                                                         wire.get("input"), None))
        else:
            self.builder.server_tool_output(wire.get("tool_use_id"), wire.get("content"))
        return ReasoningBlock(kind=block.kind, data=json.dumps(wire), id=wire.get("id"), provider=self.provider)

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
        if self._rich:  # the whole content goes back, in order, with what it cites
            text = self.builder.text_so_far()
            kept = [self._text_block(b, text) if isinstance(b, _Block) else b for b in self._kept]
            self.builder.reasoning_blocks[:] = [b for b in kept if b.kind != "text" or b.text]
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
