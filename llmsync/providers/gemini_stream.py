"""Gemini replies: ``GenerateContentResponse`` objects, streamed or whole, as llmsync events.

Wire reference: ai.google.dev/api/generate-content (REST), the thought-signature guide
ai.google.dev/gemini-api/docs/thought-signatures, and googleapis/python-genai
``google/genai/types.py`` for the FinishReason enum.
"""
import json
import logging
import uuid
from typing import Any, Dict, List, Optional, Tuple

from ..builder import token_count, usage_of
from ..errors import ProviderError
from ..events import Event
from ..types import Citation, FinishReason, ReasoningBlock, Response, ServerToolCall, TokenLogprob, Usage
from .base import StreamParser, reply_error
from .wire_json import decode_event

__all__ = ["PROVIDER_ID", "GeminiParser", "parse_usage", "grounding_citations", "FINISH_REASONS", "SERVER_PARTS"]

log = logging.getLogger("llmsync")

# Parts of work Gemini ran itself (code execution); kept to go back in the next turn.
SERVER_PARTS = ("executableCode", "codeExecutionResult")

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

    ``candidatesTokenCount`` excludes thoughts (billed as output); ``promptTokenCount``
    already includes ``cachedContentTokenCount`` but not ``toolUsePromptTokenCount`` (the
    grounding or code-execution results fed back to the model, "Number of tokens present
    in tool-use prompt(s)", billed as input): it is added to the prompt, so that
    ``totalTokenCount == prompt + completion`` again.
    """
    if not meta:
        return None
    thoughts = meta.get("thoughtsTokenCount")
    return usage_of(
        token_count(meta.get("promptTokenCount")) + token_count(meta.get("toolUsePromptTokenCount")),
        token_count(meta.get("candidatesTokenCount")) + token_count(thoughts),
        cache_read=meta.get("cachedContentTokenCount"),
        reasoning=thoughts,
    )


def grounding_citations(metadata: Any) -> List[Citation]:
    """``groundingMetadata`` as citations: one per (supported segment, chunk) pair, then any
    chunk no segment cites. A chunk is ``web`` (uri, title), ``retrievedContext`` (uri,
    title, text) or ``maps`` (ai.google.dev/api/generate-content#GroundingChunk)."""
    if not isinstance(metadata, dict):
        return []
    chunks = [_chunk_source(chunk) for chunk in metadata.get("groundingChunks") or ()]
    out: List[Citation] = []
    cited = set()
    for support in metadata.get("groundingSupports") or ():
        if not isinstance(support, dict):
            continue
        text = (support.get("segment") or {}).get("text")
        for index in support.get("groundingChunkIndices") or ():
            if isinstance(index, int) and 0 <= index < len(chunks):
                cited.add(index)
                url, title, _ = chunks[index]
                out.append(Citation(url, title, text))
    out += [Citation(*chunk) for index, chunk in enumerate(chunks) if index not in cited]
    return out


def _chunk_source(chunk: Any) -> Tuple[Optional[str], Optional[str], Optional[str]]:
    if not isinstance(chunk, dict):
        return None, None, None
    source = next((v for v in chunk.values() if isinstance(v, dict)), {})
    return source.get("uri"), source.get("title"), source.get("text")


def _logprobs(result: Any) -> List[TokenLogprob]:
    """``logprobsResult``: chosen tokens with the top candidates at each step."""
    if not isinstance(result, dict):
        return []
    chosen = result.get("chosenCandidates") or []
    tops = result.get("topCandidates") or []
    out = []
    for position, entry in enumerate(chosen):
        if not isinstance(entry, dict):
            continue
        step = tops[position] if position < len(tops) and isinstance(tops[position], dict) else {}
        top = [TokenLogprob(str(c.get("token", "")), float(c.get("logProbability") or 0.0))
               for c in step.get("candidates") or () if isinstance(c, dict)]
        out.append(TokenLogprob(str(entry.get("token", "")), float(entry.get("logProbability") or 0.0), top))
    return out


def _text_only(part: Dict[str, Any]) -> Optional[str]:
    """The text of a part that is nothing but text (nearly every part), else None: then
    ``_part`` reads it (tests/test_fast_path.py checks both ways agree)."""
    text = part.get("text")
    return text if type(text) is str and len(part) == 1 else None


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
        chunk = decode_event(data, self.provider)
        if isinstance(chunk, list):  # streamGenerateContent without alt=sse sends an array
            return [e for item in chunk for e in self.feed_chunk(item)]
        return self.feed_chunk(chunk)

    def feed_body(self, body: Any) -> List[Event]:
        """A whole ``generateContent`` reply (or a JSON-array stream body), complete by
        definition even without a ``finishReason``.

        Raises:
            ProviderError: the body is an error or not a reply.
        """
        chunks = body if isinstance(body, list) else [body]
        if not chunks or not all(isinstance(c, dict) for c in chunks) or not any(
                "error" in c or "candidates" in c or "promptFeedback" in c for c in chunks):
            raise ProviderError(f"unexpected reply body: {str(body)[:200]!r}", provider=self.provider)
        events = [e for chunk in chunks for e in self.feed_chunk(chunk)]
        self.complete = True
        return events

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
                text = _text_only(part)
                if text is None:
                    out.extend(self._part(part))
                elif text:
                    out.append(builder.text(text))
            grounding, logprobs = candidate.get("groundingMetadata"), candidate.get("logprobsResult")
            if grounding is not None:  # search grounding: a few replies, on their last chunks
                for citation in grounding_citations(grounding):
                    builder.citation(citation)
            if logprobs is not None:
                for entry in _logprobs(logprobs):
                    builder.logprob(entry)
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
        if any(kind in part for kind in SERVER_PARTS):
            self._server_part(part)
            return []
        text = part.get("text")
        if not isinstance(text, str):
            if not signature:
                log.debug("skipped a Gemini part with keys %s", sorted(part))
            text = ""
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

    def _server_part(self, part: Dict[str, Any]) -> None:
        """``executableCode`` {language, code} starts a code run; the next
        ``codeExecutionResult`` {outcome, output} is its result (ai.google.dev code
        execution guide). Both go back in the next turn as they came."""
        kind = next(kind for kind in SERVER_PARTS if kind in part)
        value = part[kind] if isinstance(part[kind], dict) else {}
        builder = self.builder
        if kind == "executableCode":
            call_id = value.get("id") or f"code_{len(builder.server_tool_calls)}"
            builder.server_tool_call(ServerToolCall(call_id, "code_execution",
                                                    {k: v for k, v in value.items() if k != "id"}, None))
        else:
            pending = [c for c in builder.server_tool_calls if c.name == "code_execution" and c.output is None]
            call_id = value.get("id") or (pending[0].id if pending else f"code_{len(builder.server_tool_calls)}")
            builder.server_tool_output(call_id, {k: v for k, v in value.items() if k != "id"}, "code_execution")
        self._keep(ReasoningBlock("", part.get("thoughtSignature"), kind=kind, data=json.dumps(part),
                                  provider=self.provider))

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
