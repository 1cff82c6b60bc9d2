"""OpenAI Chat Completions (``POST /v1/chat/completions``), and the base of the
OpenAI-compatible family in ``compat.py``.

Wire reference: platform.openai.com/docs/api-reference/chat and openai-python
``src/openai/types/chat/`` (chat_completion_chunk.py, completion_create_params.py).
"""
from typing import Any, Dict, FrozenSet, List, Mapping, Optional

from ..builder import token_count, usage_of
from ..catalog import ModelMeta, lookup
from ..errors import InvalidRequestError, ProviderError
from ..events import Event
from ..options import Request
from ..types import Citation, Document, FinishReason, Image, Message, Role, Text, TokenLogprob, ToolChoice, Usage
from .base import ErrorInfo, Provider, StreamParser, WirePlan, data_url, reply_error
from .reasoning import Reasoning, effort_for, is_chat_model, openai_reasoning, reasons_at
from .sampling import SAMPLING, chat_sampling
from .structured_forms import add_system_text, fallback_instructions, json_schema_form
from .wire_json import decode_event

__all__ = ["ChatCompletionsProvider", "ChatCompletionsParser", "OpenAIProvider", "providers", "parse_usage",
           "describe_openai_error", "fine_tune_base"]

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
            top = [TokenLogprob(t["token"], float(t.get("logprob") or 0.0))
                   for t in entry.get("top_logprobs") or () if isinstance(t, dict) and isinstance(t.get("token"), str)]
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


class ChatCompletionsProvider(Provider):
    """The Chat Completions wire format, shared by OpenAI and the compatible vendors.

    Subclasses (a row of ``compat.VENDORS``) change the class attributes below.
    """

    path = "/chat/completions"
    max_tokens_field = "max_tokens"
    extra_headers: Dict[str, str] = {}
    sampling: FrozenSet[str] = SAMPLING  # the sampling options the endpoint takes
    user_field = "user"
    # "strict": json_schema with strict: true for a type's schema; "json_schema": without
    # strict; "json_object": JSON mode, the schema in the system prompt.
    structured_mode = "strict"

    # -- model knowledge: ``reasoning(model)`` (catalog first, then the family's rules) ------

    def system_role(self, model: str) -> str:
        return "system"

    def takes_stop(self, model: str) -> bool:
        """Whether ``model`` takes ``stop`` (here every model; not OpenAI's newer reasoning ones)."""
        return True

    # -- request ---------------------------------------------------------------------------

    def build_request(self, request: Request, model: str) -> WirePlan:
        adjustments: List[str] = []
        body: Dict[str, Any] = {"model": model, "messages": self.wire_messages(request, model)}
        tools = request.tool_definitions
        if tools:
            body["tools"] = [
                {"type": "function", "function": {"name": t.name, "description": t.description,
                                                  "parameters": t.parameters}}
                for t in tools
            ]
            parallel = request.parallel_tool_calls
            if request.parallel_tool_config and request.parallel_tool_config.disable_parallel_tool_use:
                parallel = False
            if parallel is not None:
                body["parallel_tool_calls"] = parallel
        if request.tool_choice is not None:
            body["tool_choice"] = self.wire_tool_choice(request.tool_choice)
        if request.max_tokens is not None:
            body[self.max_tokens_field] = request.max_tokens
        self.apply_reasoning(request, model, body, adjustments)
        levels = self.reasoning(model).levels
        if request.temperature is not None:
            if reasons_at(levels, body.get("reasoning_effort")):
                adjustments.append(
                    f"temperature dropped: {model} is a reasoning model and takes only the default"
                )
            else:
                body["temperature"] = request.temperature
        if request.stop and self.takes_stop(model):
            body["stop"] = list(request.stop)
        elif request.stop:
            adjustments.append(f"stop dropped: {model} is a reasoning model that rejects stop sequences")
        chat_sampling(request, body, adjustments, self.sampling, f"{self.id}/{model}", self.user_field,
                      reasons_at(levels, body.get("reasoning_effort")))
        if request.effort is not None:
            adjustments.append(f"effort {request.effort.value!r} dropped: {self.id} has no effort setting "
                               "(Anthropic's); thinking= sets the reasoning effort")
        if request.response_format is not None:
            self.apply_response_format(request, body, adjustments)
        if request.stream:
            body["stream"] = True
            body["stream_options"] = {"include_usage": True}
        return WirePlan(self.path, body, dict(self.extra_headers), adjustments)

    def apply_response_format(self, request: Request, body: Dict[str, Any], adjustments: List[str]) -> None:
        """``response_format`` as this endpoint takes it (see ``structured_mode``)."""
        value = request.response_format
        if not isinstance(value, dict):
            body["response_format"] = {"type": "json_object"}
        elif self.structured_mode == "json_object":
            body["response_format"] = {"type": "json_object"}
            add_system_text(body["messages"], fallback_instructions(value))
            adjustments.append(f"{self.id} takes JSON mode but no JSON Schema: sent json_object, "
                               "the schema in the system prompt")
        else:
            body["response_format"] = {"type": "json_schema", "json_schema": json_schema_form(
                request, adjustments, strict=self.structured_mode == "strict")}

    def apply_reasoning(self, request: Request, model: str, body: Dict[str, Any],
                        adjustments: List[str]) -> None:
        """Set ``reasoning_effort`` from the thinking level, clamped to the model's levels
        (as asked for a model the catalog does not know)."""
        level = request.thinking_level
        if level is None:
            return
        wire = effort_for(level, self.reasoning(model), model, adjustments)
        if wire is not None:
            body["reasoning_effort"] = wire

    def wire_tool_choice(self, choice: ToolChoice) -> Any:
        if choice.mode == "function":
            return {"type": "function", "function": {"name": choice.name}}
        return {"auto": "auto", "none": "none", "any": "required"}[choice.mode]

    def wire_messages(self, request: Request, model: str) -> List[Dict[str, Any]]:
        out: List[Dict[str, Any]] = []
        system_role = self.system_role(model)
        if request.system_prompt:
            out.append({"role": system_role, "content": request.system_prompt})
        for message in request.messages:
            out.append(self.wire_message(message, system_role))
        return out

    def wire_message(self, message: Message, system_role: str) -> Dict[str, Any]:
        if message.role is Role.SYSTEM:
            return {"role": system_role, "content": message.text}
        if message.role is Role.TOOL:
            return {"role": "tool", "tool_call_id": message.tool_call_id, "content": message.text}
        if message.role is Role.ASSISTANT:
            wire: Dict[str, Any] = {"role": "assistant", "content": message.text or None}
            if message.tool_calls:
                wire["tool_calls"] = [
                    {"id": call.id, "type": "function",
                     "function": {"name": call.name, "arguments": call.arguments or "{}"}}
                    for call in message.tool_calls
                ]
            return wire
        content = message.content
        if isinstance(content, str) or content is None:
            return {"role": "user", "content": content or ""}
        return {"role": "user", "content": [_wire_part(part) for part in content]}

    # -- responses ---------------------------------------------------------------------------

    def stream_parser(self, model: str) -> ChatCompletionsParser:
        return self.priced(ChatCompletionsParser(self.id, model))

    def describe_error(self, status: int, payload: Any, text: str,
                       headers: Optional[Mapping[str, str]] = None) -> ErrorInfo:
        return describe_openai_error(status, payload, text) or super().describe_error(status, payload, text)


def describe_openai_error(status: int, payload: Any, text: str) -> Optional[ErrorInfo]:
    """OpenAI's ``{"error": {"message", "type", "code", "param"}}`` body, or None if not one."""
    error = payload.get("error") if isinstance(payload, dict) else None
    if isinstance(error, dict):
        message = str(error.get("message") or text[:500])
        code = error.get("code")
        error_type = error.get("type") or (str(code) if code is not None else None)
        context = code == "context_length_exceeded" or "context length" in message.lower()
        return ErrorInfo(message, error_type, context)
    if isinstance(error, str):
        return ErrorInfo(error)
    return None


def _wire_part(part: Any) -> Dict[str, Any]:
    if isinstance(part, Text):
        return {"type": "text", "text": part.text}
    if isinstance(part, Image):
        url = part.url or data_url(part.media_type or "image/png", part.data)
        return {"type": "image_url", "image_url": {"url": url}}
    if isinstance(part, Document):
        if part.data is None:
            raise InvalidRequestError("Chat Completions takes documents as base64 data, not URLs")
        return {"type": "file", "file": {"filename": "document.pdf",
                                         "file_data": data_url(part.media_type, part.data)}}
    raise InvalidRequestError(f"unsupported content part {part!r}")


def fine_tune_base(model: str) -> str:
    """The base model of a fine-tune, else ``model``: ``ft:BASE:ORG:NAME:ID`` (NAME may be
    empty; a checkpoint adds ``:ckpt-step-N``) at OpenAI, ``BASE.ft-ID`` at Azure OpenAI
    (its fine-tuning API's ``fine_tuned_model``). A fine-tune takes its base model's
    parameters, so it has its base's catalog entry."""
    if model.startswith("ft:"):
        base = model.split(":", 2)[1]
        return base or model
    head, dot, _ = model.partition(".ft-")
    return head if dot and head else model


class OpenAIProvider(ChatCompletionsProvider):
    """OpenAI's own Chat Completions endpoint."""

    id = "openai"
    otel_provider_name = "openai"
    default_base_url = "https://api.openai.com/v1"
    env_keys = ("OPENAI_API_KEY",)
    # max_tokens "is not compatible with o-series models" (completion_create_params.py)
    max_tokens_field = "max_completion_tokens"
    # No top_k. `user` is deprecated: "replaced by safety_identifier and
    # prompt_cache_key" (completion_create_params.py).
    sampling = SAMPLING - {"top_k"}
    user_field = "safety_identifier"

    def base_model(self, model: str) -> str:
        """The OpenAI model id whose catalog entry and rules ``model`` follows."""
        return fine_tune_base(model)

    def model_meta(self, model: str) -> Optional[ModelMeta]:
        return lookup(self.id, self.base_model(model))

    def price_meta(self, model: str) -> Optional[ModelMeta]:
        # A fine-tune runs at prices of its own, not its base model's: unpriced, not wrong.
        return None if fine_tune_base(model) != model else self.model_meta(model)

    def reasoning(self, model: str) -> Reasoning:
        return openai_reasoning(self.base_model(model), self.model_meta(model))

    def takes_stop(self, model: str) -> bool:
        # 400 "Unsupported parameter: 'stop' is not supported with this model": "o3 and
        # o4-mini" (API reference, stop), the GPT-5 family (smolagents#1662, #1868, #1893),
        # o1-mini and o1-preview; o1 and o3-mini take it (community.openai.com/t/1113029).
        base = self.base_model(model)
        return is_chat_model(base) or base.startswith("o3-mini") or \
            not base.startswith(("o1-mini", "o1-preview", "o3", "o4", "gpt-5"))

    def system_role(self, model: str) -> str:
        # "With o1 models and newer, developer messages replace previous system messages."
        return "developer" if self.reasoning(model).takes_effort else "system"


def providers() -> List[Provider]:
    return [OpenAIProvider()]
