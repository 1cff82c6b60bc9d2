"""Chat Completions replies: the stream parser (``chat.completion.chunk``), which also reads
a whole ``chat.completion`` as one chunk, and its usage.

Wire reference: platform.openai.com/docs/api-reference/chat-streaming and openai-python
``src/openai/types/chat/`` (chat_completion_chunk.py, chat_completion.py).
"""
from typing import Any, Dict, List, Optional

from ..builder import token_count, usage_of
from ..errors import ProviderError
from ..events import Event
from ..types import Citation, FinishReason, TokenLogprob, Usage
from .base import StreamParser, reply_error
from .wire_json import decode_event

__all__ = ["ChatCompletionsParser", "parse_usage", "FINISH_REASONS"]

FINISH_REASONS = {
    "stop": FinishReason.STOP,
    "length": FinishReason.LENGTH,
    "tool_calls": FinishReason.TOOL_CALLS,
    "function_call": FinishReason.TOOL_CALLS,
    "content_filter": FinishReason.CONTENT_FILTER,
    "error": FinishReason.ERROR,
}


def parse_usage(usage: Any) -> Optional[Usage]:
    """Chat Completions usage in llmsync terms.

    ``prompt_tokens`` already includes cached tokens (``prompt_tokens_details.cached_tokens``,
    DeepSeek's ``prompt_cache_hit_tokens``). ``reasoning_tokens`` is part of
    ``completion_tokens`` at OpenAI, but xAI counts it "separately from completion_tokens,
    but ... in the total_tokens" (docs.x.ai, consumption and rate limits), as do vendors
    serving its models: then it is added to the completion.
    """
    if not isinstance(usage, dict) or not usage:
        return None
    prompt = token_count(usage.get("prompt_tokens"))
    completion = token_count(usage.get("completion_tokens"))
    prompt_details = usage.get("prompt_tokens_details") or {}
    completion_details = usage.get("completion_tokens_details") or {}
    cached = token_count(prompt_details.get("cached_tokens") if isinstance(prompt_details, dict) else 0) or \
        token_count(usage.get("prompt_cache_hit_tokens"))
    reasoning = token_count(completion_details.get("reasoning_tokens") if isinstance(completion_details, dict) else 0)
    total = usage.get("total_tokens")
    if reasoning and (reasoning > completion or total == prompt + completion + reasoning):
        completion += reasoning
    return usage_of(prompt, completion, cache_read=cached, reasoning=reasoning)


def _reasoning_text(delta: Dict[str, Any]) -> Optional[str]:
    # DeepSeek, xAI and others send "reasoning_content"; OpenRouter and Ollama "reasoning".
    text = delta.get("reasoning_content")
    if text is None:
        text = delta.get("reasoning")
    return text if isinstance(text, str) and text else None


def _logprobs(content: Any) -> List[TokenLogprob]:
    """``choices[0].logprobs.content`` entries as ``TokenLogprob``s."""
    out = []
    for entry in content if isinstance(content, list) else ():
        if isinstance(entry, dict) and isinstance(entry.get("token"), str):
            alternatives = entry.get("top_logprobs")
            top = [TokenLogprob(t["token"], float(t.get("logprob") or 0.0))
                   for t in (alternatives if isinstance(alternatives, list) else ())
                   if isinstance(t, dict) and isinstance(t.get("token"), str)]
            out.append(TokenLogprob(entry["token"], float(entry.get("logprob") or 0.0), top))
    return out


# A delta that carries nothing but text (a delta of nothing but tool calls has one key).
_TEXT_ONLY = frozenset({"content", "role"})


def _lone_delta(chunk: Dict[str, Any]) -> Optional[Dict[str, Any]]:
    """The delta of choice 0 when it is all the chunk carries (no usage, finish reason,
    logprobs or other choice), else None. Nearly every chunk of a reply is one."""
    choices = chunk.get("choices")
    if type(choices) is not list or len(choices) != 1 or chunk.get("usage"):
        return None
    choice = choices[0]
    if type(choice) is not dict or choice.get("index", 0) != 0 or choice.get("finish_reason") \
            or choice.get("logprobs"):
        return None
    delta = choice.get("delta")
    return delta if type(delta) is dict else None


class ChatCompletionsParser(StreamParser):
    """Chat Completions chunks: deltas of choice 0, tool calls by index, usage last.

    A whole ``chat.completion`` goes through ``feed_body``: the same steps, with the
    ``message`` of choice 0 read as one delta. Subclasses fold a vendor's own delta shapes
    into OpenAI's by overriding ``adapt``.
    """

    def feed(self, event: str, data: str) -> List[Event]:
        if data == "[DONE]":
            self.complete = True
            return []
        chunk = decode_event(data, self.provider)
        if not isinstance(chunk, dict):
            raise ProviderError(f"unexpected stream chunk: {data[:200]!r}", provider=self.provider)
        return self.feed_chunk(chunk)

    def feed_body(self, body: Any) -> List[Event]:
        """A whole (non-streamed) ``chat.completion``, complete by definition.

        Raises:
            ProviderError: the body is an error or has no ``choices``.
        """
        if not isinstance(body, dict) or not isinstance(body.get("choices"), list):
            if isinstance(body, dict) and body.get("error"):
                raise _stream_error(body, self.provider)
            raise ProviderError(f"unexpected reply body: {str(body)[:200]!r}", provider=self.provider)
        events = self.feed_chunk(body)
        events.extend(self.builder.end_open_calls())
        self.complete = True
        return events

    def feed_chunk(self, chunk: Dict[str, Any]) -> List[Event]:
        """Translate one decoded ``chat.completion.chunk`` (or a whole ``chat.completion``).

        Raises:
            ProviderError: the chunk carries an ``error`` object.
        """
        if chunk.get("error"):
            raise _stream_error(chunk, self.provider)
        builder = self.builder
        if not builder.id:
            builder.id = chunk.get("id")
        builder.model = chunk.get("model") or builder.model
        delta = _lone_delta(chunk)
        if delta is not None:
            # Nearly every chunk is a piece of text or of a tool call and nothing else: read
            # without the look-ups the rarer fields need (tests/test_fast_path.py checks that
            # both ways give the same events and Response on every recorded reply).
            text = delta.get("content")
            if type(text) is str and delta.keys() <= _TEXT_ONLY:
                return [builder.text(text)] if text else []
            calls = delta.get("tool_calls")
            if calls is not None and len(delta) == 1:
                return self._tool_calls(calls)
        out: List[Event] = []
        for choice in chunk.get("choices") or ():
            if isinstance(choice, dict) and choice.get("index", 0) == 0:
                out.extend(self._choice(choice))
        usage = parse_usage(chunk.get("usage"))
        if usage is not None:
            out.append(builder.set_usage(usage))
        return out

    def _choice(self, choice: Dict[str, Any]) -> List[Event]:
        builder = self.builder
        delta = choice.get("delta", choice.get("message"))
        if delta is None:
            delta = {}
        if not isinstance(delta, dict):
            raise ProviderError(f"unexpected reply choice: {str(choice)[:200]!r}", provider=self.provider)
        self.adapt(delta)
        out: List[Event] = []
        reasoning = _reasoning_text(delta)
        if reasoning:
            out.append(builder.reasoning(reasoning))
        content = delta.get("content")
        if content:
            out.append(builder.text(content))
        if isinstance(delta.get("refusal"), str) and delta["refusal"]:
            builder.refusal(delta["refusal"])  # DESIGN: a refusal is never content
        out.extend(self._tool_calls(delta.get("tool_calls")))
        for annotation in delta.get("annotations") or ():
            self._annotation(annotation)
        logprobs = choice.get("logprobs")
        if isinstance(logprobs, dict):
            for entry in _logprobs(logprobs.get("content")):
                builder.logprob(entry)
        finish = choice.get("finish_reason")
        if finish:
            out.extend(builder.end_open_calls())
            builder.finish_reason = FINISH_REASONS.get(finish, FinishReason.STOP)
        return out

    def _annotation(self, annotation: Any) -> None:
        # Search models: {"type": "url_citation", "url_citation": {url, title, start_index,
        # end_index}} (openai-python chat_completion_message.py, Annotation).
        if not isinstance(annotation, dict) or annotation.get("type") != "url_citation":
            return
        cited = annotation.get("url_citation") or {}
        start, end = cited.get("start_index"), cited.get("end_index")
        text = None
        if isinstance(start, int) and isinstance(end, int) and end > start:
            text = self.builder.text_so_far()[start:end] or None
        self.builder.citation(Citation(cited.get("url"), cited.get("title"), text))

    def adapt(self, delta: Dict[str, Any]) -> None:
        """Rewrite one delta or message in place into the OpenAI shape (OpenAI's already is).

        A delta of nothing but a string ``content`` (and ``role``), or nothing but
        ``tool_calls``, is read without it (``feed_chunk``).
        """

    def _tool_calls(self, calls: Any) -> List[Event]:
        """Pieces of tool calls, keyed by their ``index``: the first piece names the call."""
        builder = self.builder
        out: List[Event] = []
        for position, call in enumerate(calls or ()):
            if not isinstance(call, dict):
                continue
            key = call.get("index", position)
            function = call.get("function") or {}
            if key not in builder.calls:
                out.append(builder.tool_start(key, call.get("id") or f"call_{key}", function.get("name") or ""))
            arguments = function.get("arguments")
            if arguments:
                out.append(builder.tool_delta(key, arguments))
        return out


def _stream_error(body: Dict[str, Any], provider: str) -> ProviderError:
    return reply_error(body["error"], provider, "error in stream", ("type", "code"), ("server_error",))
