"""Reply shapes of the OpenAI-compatible vendors that OpenAI does not use: each a
``ChatCompletionsParser`` subclass that folds the vendor's own fields into OpenAI's
(reasoning fields, Mistral's content chunks, Perplexity's sources, OpenRouter's
reasoning details)."""
import json
from typing import Any, Dict, List, Optional, Tuple

from ..events import Event
from ..types import Citation, ReasoningBlock, Response
from .openai import ChatCompletionsParser

__all__ = ["CompatParser", "MistralParser", "PerplexityParser", "OpenRouterParser"]


class CompatParser(ChatCompletionsParser):
    """Chat Completions chunks, with a vendor's own delta shapes folded into OpenAI's.

    Subclasses rewrite each delta (or whole message) in ``adapt`` before the shared parser
    reads it; ``blocks`` is the reasoning the next turn must send back.
    """

    def __init__(self, provider: str, model: str, echo_field: Optional[str] = None) -> None:
        super().__init__(provider, model)
        self.echo_field = echo_field

    def blocks(self, response: Response) -> List[ReasoningBlock]:
        if self.echo_field and response.reasoning:
            return [ReasoningBlock(text=response.reasoning, kind=self.echo_field, provider=self.provider)]
        return []

    def finish(self) -> Response:
        response = super().finish()
        response.reasoning_blocks.extend(self.blocks(response))
        return response


class MistralParser(CompatParser):
    """Mistral: ``content`` may be a list of chunks; Magistral reasoning comes as
    ``{"type": "thinking", "thinking": [{"type": "text", "text": ...}]}`` in messages and
    deltas alike (docs.mistral.ai reasoning guide; ``ThinkChunk`` in Mistral's OpenAPI
    spec). Other chunk types (references, images) are skipped.
    """

    def adapt(self, delta: Dict[str, Any]) -> None:
        content = delta.get("content")
        if not isinstance(content, list):
            return
        text: List[str] = []
        thinking: List[str] = []
        for chunk in content:
            if not isinstance(chunk, dict):
                continue
            if chunk.get("type") == "text":
                text.append(str(chunk.get("text") or ""))
            elif chunk.get("type") == "thinking":
                thinking.extend(str(part.get("text") or "") for part in chunk.get("thinking") or ()
                                if isinstance(part, dict))
        delta["content"] = "".join(text) or None
        if thinking:
            delta["reasoning_content"] = "".join(thinking)


class PerplexityParser(CompatParser):
    """Perplexity: the sources come as top-level ``search_results`` [{title, url, date}]
    or, in older replies, ``citations`` [url, ...] (docs.perplexity.ai, chat completions
    response), repeated on every chunk."""

    def feed_chunk(self, chunk: Dict[str, Any]) -> List[Event]:
        events = super().feed_chunk(chunk)
        results = chunk.get("search_results")
        if isinstance(results, list):
            for result in results:
                if isinstance(result, dict):
                    self.builder.citation(Citation(result.get("url"), result.get("title")))
        elif isinstance(chunk.get("citations"), list):
            for url in chunk["citations"]:
                if isinstance(url, str):
                    self.builder.citation(Citation(url))
        return events


# Fields of a reasoning_details entry that arrive in pieces across stream deltas.
_DETAIL_TEXT_FIELDS = ("text", "summary", "data")


class OpenRouterParser(CompatParser):
    """OpenRouter: reasoning text comes in ``reasoning`` (read by the shared parser);
    ``reasoning_details`` entries (``reasoning.text`` + ``signature``, ``reasoning.summary``,
    ``reasoning.encrypted``) must go back unchanged to keep reasoning across tool calls
    (openrouter.ai/docs/use-cases/reasoning-tokens). Stream pieces are merged per
    ``(type, index)``, text fields concatenated (a rule inferred from clients' code).
    """

    def __init__(self, provider: str, model: str, echo_field: Optional[str] = None) -> None:
        super().__init__(provider, model, echo_field)
        self.details: Dict[Tuple[str, Any], Dict[str, Any]] = {}

    def adapt(self, delta: Dict[str, Any]) -> None:
        details = delta.get("reasoning_details")
        if not isinstance(details, list):
            return
        texts: List[str] = []
        for position, detail in enumerate(details):
            if not isinstance(detail, dict):
                continue
            merged = self.details.setdefault((str(detail.get("type")), detail.get("index", position)), {})
            for name, value in detail.items():
                if name in _DETAIL_TEXT_FIELDS and isinstance(value, str):
                    merged[name] = merged.get(name, "") + value
                elif value is not None:
                    merged[name] = value
            if detail.get("type") == "reasoning.text" and isinstance(detail.get("text"), str):
                texts.append(detail["text"])
        if texts and not delta.get("reasoning") and not delta.get("reasoning_content"):
            delta["reasoning"] = "".join(texts)

    def blocks(self, response: Response) -> List[ReasoningBlock]:
        # The whole entry is kept as JSON in ``data`` so it goes back verbatim,
        # including fields llmsync does not model (format, index).
        return super().blocks(response) + [
            ReasoningBlock(text=str(d.get("text") or d.get("summary") or ""), signature=d.get("signature"),
                           kind=str(d.get("type")), data=json.dumps(d), id=d.get("id"),
                           provider=self.provider)
            for d in self.details.values()
        ]
