"""Gemini replies: ``GenerateContentResponse`` objects, streamed or whole, as llmsync events.

Wire reference: ai.google.dev/api/generate-content (REST), the thought-signature guide
ai.google.dev/gemini-api/docs/thought-signatures, and googleapis/python-genai
``google/genai/types.py`` for the FinishReason enum.
"""
import json
import uuid
from typing import Any, Dict, List, Optional

from ..errors import ProviderError
from ..events import Event
from ..types import FinishReason, ReasoningBlock, Response, Usage
from .base import StreamParser, reply_error

__all__ = ["PROVIDER_ID", "GeminiParser", "parse_usage", "FINISH_REASONS"]

PROVIDER_ID = "gemini"

FINISH_REASONS = {"STOP": FinishReason.STOP, "MAX_TOKENS": FinishReason.LENGTH}
FINISH_REASONS.update((name, FinishReason.CONTENT_FILTER) for name in (
    "SAFETY", "RECITATION", "BLOCKLIST", "PROHIBITED_CONTENT", "SPII", "IMAGE_SAFETY",
    "IMAGE_PROHIBITED_CONTENT", "IMAGE_RECITATION", "MODEL_ARMOR"))
# Every other finishReason (OTHER, LANGUAGE, MALFORMED_FUNCTION_CALL, UNEXPECTED_TOOL_CALL,
# TOO_MANY_TOOL_CALLS, values added later) is an abnormal stop: FinishReason.ERROR.

# google.rpc codes worth another try when one arrives inside a 200 reply.
_RETRYABLE_STATUSES = frozenset({"RESOURCE_EXHAUSTED", "UNAVAILABLE", "INTERNAL", "DEADLINE_EXCEEDED"})


def parse_usage(meta: Optional[Dict[str, Any]]) -> Optional[Usage]:
    """``usageMetadata`` as ``Usage``: thinking tokens count as completion tokens.

    ``candidatesTokenCount`` excludes thoughts (billed as output), and
    ``promptTokenCount`` already includes ``cachedContentTokenCount``.
    """
    if not meta:
        return None
    prompt = meta.get("promptTokenCount") or 0
    thoughts = meta.get("thoughtsTokenCount") or 0
    completion = (meta.get("candidatesTokenCount") or 0) + thoughts
    return Usage(
        prompt_tokens=prompt,
        completion_tokens=completion,
        total_tokens=meta.get("totalTokenCount") or prompt + completion,
        cache_read_tokens=meta.get("cachedContentTokenCount") or 0,
        reasoning_tokens=thoughts,
    )


def _reply_error(error: Any, provider: str) -> ProviderError:
    """An error object found inside a 200 reply (a stream chunk or a JSON-array body)."""
    return reply_error(error, provider, "error in reply", ("status",), _RETRYABLE_STATUSES)


class GeminiParser(StreamParser):
    """``GenerateContentResponse`` chunks: whole parts, whole function calls, cumulative usage.

    The SSE stream has no end marker (no ``[DONE]``): a ``finishReason`` or a
    ``promptFeedback.blockReason`` marks it complete.
    """

    def __init__(self, provider: str, model: str) -> None:
        super().__init__(provider, model)
        self._thought: List[str] = []
        self._calls = 0
        self._usage_meta: Optional[Dict[str, Any]] = None

    def feed(self, event: str, data: str) -> List[Event]:
        chunk = self.decode(data)
        if isinstance(chunk, list):  # streamGenerateContent without alt=sse sends an array
            return [e for item in chunk for e in self.feed_chunk(item)]
        return self.feed_chunk(chunk)

    def feed_chunk(self, chunk: Any) -> List[Event]:
        """Translate one decoded ``GenerateContentResponse``."""
        if not isinstance(chunk, dict):
            raise ProviderError(f"unexpected Gemini chunk: {str(chunk)[:200]!r}", provider=self.provider)
        if "error" in chunk:
            raise _reply_error(chunk["error"], self.provider)
        builder = self.builder
        if builder.id is None:
            builder.id = chunk.get("responseId")
        builder.model = chunk.get("modelVersion") or builder.model
        out: List[Event] = []
        candidates = chunk.get("candidates")
        if candidates:
            candidate = candidates[0]
            for part in (candidate.get("content") or {}).get("parts") or ():
                text = part.get("text")
                if type(text) is str and len(part) == 1:  # plain text: nearly every chunk
                    if text:
                        out.append(builder.text(text))
                else:
                    out.extend(self._part(part))
            if candidate.get("finishReason"):
                self._finish(candidate["finishReason"], candidate.get("finishMessage"))
        if "promptFeedback" in chunk:
            self._feedback(chunk["promptFeedback"] or {})
        meta = chunk.get("usageMetadata")
        if meta:  # cumulative: the last one wins, so it is read once the reply is complete
            self._usage_meta = meta
        if self.complete and self._usage_meta is not None:
            out.extend(self._flush_usage())
        return out

    def _feedback(self, feedback: Dict[str, Any]) -> None:
        if feedback.get("blockReason"):
            builder = self.builder
            builder.finish_reason = FinishReason.CONTENT_FILTER
            detail = feedback.get("blockReasonMessage")
            builder.error_message = f"Gemini blocked the prompt: {feedback['blockReason']}" + (
                f" ({detail})" if detail else "")
            self.complete = True

    def _flush_usage(self) -> List[Event]:
        usage = parse_usage(self._usage_meta)
        self._usage_meta = None
        if usage is None or usage == self.builder.usage:
            return []
        return [self.builder.set_usage(usage)]

    def finish(self) -> Response:
        self._flush_usage()  # a stream cut short keeps the usage it was last sent
        return super().finish()

    def _part(self, part: Dict[str, Any]) -> List[Event]:
        signature = part.get("thoughtSignature")
        if "functionCall" in part:
            return self._function_call(part["functionCall"] or {}, signature)
        text = part.get("text")
        text = text if isinstance(text, str) else ""
        builder = self.builder
        if part.get("thought"):
            out: List[Event] = [builder.reasoning(text)] if text else []
            self._thought.append(text)
            if signature:
                self._keep(ReasoningBlock("".join(self._thought), signature, kind="thought", provider=self.provider))
                self._thought = []
            return out
        if signature:
            # A signature on a text part (often an empty one closing the stream) belongs
            # to that part; the text itself is already in the visible content.
            self._keep(ReasoningBlock("", signature, kind="text", provider=self.provider))
        return [builder.text(text)] if text else []

    def _keep(self, block: ReasoningBlock) -> None:
        self.builder.reasoning_blocks.append(block)

    def _function_call(self, call: Dict[str, Any], signature: Optional[str]) -> List[Event]:
        builder = self.builder
        key = self._calls
        self._calls += 1
        # Gemini may omit functionCall.id; ours must stay unique across a whole
        # conversation, because tool responses are matched to calls by id.
        call_id = call.get("id") or f"call_{uuid.uuid4().hex}"
        arguments = json.dumps(call.get("args") or {}, ensure_ascii=False)
        return [
            builder.tool_start(key, call_id, call.get("name") or ""),
            builder.tool_delta(key, arguments),
            builder.tool_end(key, signature=signature),
        ]

    def _finish(self, reason: str, message: Optional[str]) -> None:
        mapped = FINISH_REASONS.get(reason)
        if mapped is None:
            mapped = FinishReason.ERROR
            self.builder.error_message = f"Gemini stopped with finishReason {reason}" + (
                f": {message}" if message else "")
        self.builder.finish_reason = mapped
        self.complete = True
