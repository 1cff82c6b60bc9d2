"""``Reply``: one scripted answer of the fake server, independent of any wire format."""
import json
from dataclasses import dataclass, field
from typing import Any, Dict, List, Optional

from ..types import Citation, FinishReason, ServerToolCall, ToolCall, Usage

__all__ = ["Reply"]


@dataclass
class Reply:
    """What the fake server answers to one request, in whichever format was asked for.

    Content: ``text`` (sent in deltas of ``chunk_size`` characters), ``reasoning``
    (with ``signature`` where the format has one), ``tool_calls`` (arguments sent in
    deltas of ``chunk_size`` characters), ``usage`` and ``finish_reason`` (default: tool
    calls if any, else stop).

    What a reply carries besides text, in each format's own shape: ``refusal`` (OpenAI
    Chat ``refusal``, a Responses ``refusal`` part; Anthropic and Gemini have no explicit
    refusal, so there it is text ending in ``refusal``/``SAFETY``), ``citations`` (of
    ``text``: Anthropic text-block citations, OpenAI ``url_citation`` annotations, Gemini
    grounding chunks) and ``server_tool_calls`` (Anthropic ``server_tool_use`` + result,
    Responses ``web_search_call``/``code_interpreter_call``, Gemini ``executableCode`` +
    ``codeExecutionResult``; Chat Completions has none).

    Faults: ``status`` with ``error_message`` (or a raw ``body``), ``headers``;
    ``delay_before`` stalls before the first byte, ``delay_between`` between events,
    ``stall`` seconds before event number ``stall_after``;
    ``disconnect_after`` drops the connection after that many events; ``split_bytes``
    writes the body in pieces of that many bytes; ``gzip`` compresses the body;
    ``close_after`` closes the connection after the reply without saying so (a stale
    kept-alive connection); ``body`` replaces the rendered body with these exact bytes.
    """

    text: str = ""
    reasoning: str = ""
    signature: str = "sig-fake"
    tool_calls: List[ToolCall] = field(default_factory=list)
    refusal: str = ""
    citations: List[Citation] = field(default_factory=list)
    server_tool_calls: List[ServerToolCall] = field(default_factory=list)
    usage: Optional[Usage] = field(default_factory=lambda: Usage(10, 5, 15))
    finish_reason: Optional[FinishReason] = None
    chunk_size: int = 8
    status: int = 200
    error_message: Optional[str] = None
    error_type: Optional[str] = None
    headers: Dict[str, str] = field(default_factory=dict)
    body: Optional[bytes] = None
    content_type: Optional[str] = None
    delay_before: float = 0.0
    delay_between: float = 0.0
    stall_after: Optional[int] = None
    stall: float = 0.0
    disconnect_after: Optional[int] = None
    split_bytes: Optional[int] = None
    gzip: bool = False
    close_after: bool = False

    @classmethod
    def tools(cls, *calls: Any, **options: Any) -> "Reply":
        """A reply that calls tools: ``("name", {"arg": 1})`` pairs or ``ToolCall``s."""
        tool_calls = []
        for position, call in enumerate(calls):
            if not isinstance(call, ToolCall):
                name, arguments = call
                call = ToolCall(f"call_{position}_{name}", name, json.dumps(arguments))
            tool_calls.append(call)
        return cls(tool_calls=tool_calls, **options)

    @classmethod
    def error(cls, status: int, message: str = "simulated error", **options: Any) -> "Reply":
        """An HTTP error in the provider's own error-body format."""
        return cls(status=status, error_message=message, **options)

    @property
    def finish(self) -> FinishReason:
        if self.finish_reason is not None:
            return self.finish_reason
        if self.refusal:
            return FinishReason.CONTENT_FILTER
        return FinishReason.TOOL_CALLS if self.tool_calls else FinishReason.STOP

    def span(self, citation: Citation) -> tuple:
        """(start, end) of a citation's ``cited_text`` in ``text``; (0, 0) if not in it."""
        start = self.text.find(citation.cited_text) if citation.cited_text else -1
        return (start, start + len(citation.cited_text or "")) if start >= 0 else (0, 0)

    def pieces(self, text: str) -> List[str]:
        size = max(self.chunk_size, 1)
        return [text[i:i + size] for i in range(0, len(text), size)]
