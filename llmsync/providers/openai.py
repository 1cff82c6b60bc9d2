"""OpenAI Chat Completions (``POST /v1/chat/completions``), and the base of the
OpenAI-compatible family in ``compat.py``.

Wire reference: platform.openai.com/docs/api-reference/chat and openai-python
``src/openai/types/chat/`` (chat_completion_chunk.py, completion_create_params.py).
"""
from typing import Any, Dict, List, Mapping, Optional

from ..errors import InvalidRequestError, ProviderError
from ..events import Event
from ..options import Request, ThinkingLevel
from ..types import Document, FinishReason, Image, Message, Response, Role, Text, ToolChoice, Usage
from .base import (LEVEL_WIRE, ErrorInfo, Provider, StreamParser, WirePlan, clamp_level, data_url, reasons_at,
                   reply_error)

__all__ = ["ChatCompletionsProvider", "ChatCompletionsParser", "OpenAIProvider", "providers", "parse_usage"]

FINISH_REASONS = {
    "stop": FinishReason.STOP,
    "length": FinishReason.LENGTH,
    "tool_calls": FinishReason.TOOL_CALLS,
    "function_call": FinishReason.TOOL_CALLS,
    "content_filter": FinishReason.CONTENT_FILTER,
    "error": FinishReason.ERROR,
}


def parse_usage(usage: Optional[Dict[str, Any]]) -> Optional[Usage]:
    """Chat Completions usage; ``prompt_tokens`` already includes cached tokens."""
    if not usage:
        return None
    prompt = usage.get("prompt_tokens") or 0
    completion = usage.get("completion_tokens") or 0
    prompt_details = usage.get("prompt_tokens_details") or {}
    completion_details = usage.get("completion_tokens_details") or {}
    cached = prompt_details.get("cached_tokens") or usage.get("prompt_cache_hit_tokens") or 0
    return Usage(
        prompt_tokens=prompt,
        completion_tokens=completion,
        total_tokens=usage.get("total_tokens") or prompt + completion,
        cache_read_tokens=cached,
        reasoning_tokens=completion_details.get("reasoning_tokens") or 0,
    )


def _reasoning_text(delta: Dict[str, Any]) -> Optional[str]:
    # DeepSeek, xAI and others send "reasoning_content"; OpenRouter and Ollama "reasoning".
    text = delta.get("reasoning_content")
    if text is None:
        text = delta.get("reasoning")
    return text if isinstance(text, str) and text else None


class ChatCompletionsParser(StreamParser):
    """Chat Completions chunks: deltas of choice 0, tool calls by index, usage last.

    ``feed`` decodes; ``feed_chunk`` translates one decoded chunk and ``replay`` a whole
    (non-streamed) completion through the same builder. Subclasses fold a vendor's own
    delta shapes into OpenAI's by overriding ``adapt``.
    """

    def feed(self, event: str, data: str) -> List[Event]:
        if data == "[DONE]":
            self.complete = True
            return []
        chunk = self.decode(data)
        if not isinstance(chunk, dict):
            raise ProviderError(f"unexpected stream chunk: {data[:200]!r}", provider=self.provider)
        return self.feed_chunk(chunk)

    def feed_chunk(self, chunk: Dict[str, Any]) -> List[Event]:
        """Translate one decoded ``chat.completion.chunk``.

        Raises:
            ProviderError: the chunk carries an ``error`` object.
        """
        if chunk.get("error"):
            raise _stream_error(chunk, self.provider)
        self._adapt_choices(chunk, "delta")
        builder = self.builder
        builder.id = builder.id or chunk.get("id")
        builder.model = chunk.get("model") or builder.model
        out: List[Event] = []
        for choice in chunk.get("choices") or ():
            if choice.get("index", 0) != 0:
                continue
            delta = choice.get("delta") or {}
            reasoning = _reasoning_text(delta)
            if reasoning:
                out.append(builder.reasoning(reasoning))
            content = delta.get("content")
            if content:
                out.append(builder.text(content))
            for position, call in enumerate(delta.get("tool_calls") or ()):
                out.extend(self._tool_call_delta(call, position))
            finish = choice.get("finish_reason")
            if finish:
                out.extend(builder.end_open_calls())
                builder.finish_reason = FINISH_REASONS.get(finish, FinishReason.STOP)
        usage = parse_usage(chunk.get("usage"))
        if usage is not None:
            out.append(builder.set_usage(usage))
        return out

    def replay(self, body: Dict[str, Any]) -> Response:
        """Build the ``Response`` of a whole ``chat.completion`` through the same builder."""
        self._adapt_choices(body, "message")
        builder = self.builder
        builder.id = body.get("id")
        builder.model = body.get("model") or builder.model
        choice = (body.get("choices") or [{}])[0]
        message = choice.get("message") or {}
        reasoning = _reasoning_text(message)
        if reasoning:
            builder.reasoning(reasoning)
        if message.get("content"):
            builder.text(message["content"])
        elif message.get("refusal"):
            builder.text(message["refusal"])
        for position, call in enumerate(message.get("tool_calls") or ()):
            self._tool_call_delta({**call, "index": position}, position)
        builder.end_open_calls()
        finish = choice.get("finish_reason")
        builder.finish_reason = FINISH_REASONS.get(finish, FinishReason.STOP) if finish else None
        usage = parse_usage(body.get("usage"))
        if usage is not None:
            builder.set_usage(usage)
        self.complete = True
        return self.finish()

    def adapt(self, delta: Dict[str, Any]) -> None:
        """Rewrite one delta or message in place into the OpenAI shape (OpenAI's already is)."""

    def _adapt_choices(self, body: Dict[str, Any], key: str) -> None:
        for choice in body.get("choices") or ():  # only choice 0 is read, so only it is adapted
            if isinstance(choice, dict) and choice.get("index", 0) == 0 and isinstance(choice.get(key), dict):
                self.adapt(choice[key])

    def _tool_call_delta(self, call: Dict[str, Any], position: int) -> List[Event]:
        key = call.get("index", position)
        function = call.get("function") or {}
        out: List[Event] = []
        if not self.builder.has_call(key):
            call_id = call.get("id") or f"call_{key}"
            out.append(self.builder.tool_start(key, call_id, function.get("name") or ""))
        arguments = function.get("arguments")
        if arguments:
            out.append(self.builder.tool_delta(key, arguments))
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

    # -- model knowledge (catalog first, then the provider's own rules) -------------------

    def reasoning_levels(self, model: str) -> Optional[List[str]]:
        """The ``reasoning_effort`` values the model takes, or None if it takes none."""
        meta = self.model_meta(model)
        if meta is not None:
            return list(meta.reasoning_levels) if meta.reasoning_levels else None
        return None

    def is_reasoning_model(self, model: str) -> bool:
        return self.supports_reasoning(model)

    def system_role(self, model: str) -> str:
        return "system"

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
        if request.temperature is not None:
            if reasons_at(self.reasoning_levels(model), body.get("reasoning_effort")):
                adjustments.append(
                    f"temperature dropped: {model} is a reasoning model and takes only the default"
                )
            else:
                body["temperature"] = request.temperature
        if request.stop:
            body["stop"] = list(request.stop)
        if request.response_format is not None:
            body["response_format"] = _response_format(request.response_format)
        if request.stream:
            body["stream"] = True
            body["stream_options"] = {"include_usage": True}
        return WirePlan(self.path, body, dict(self.extra_headers), adjustments)

    def apply_reasoning(self, request: Request, model: str, body: Dict[str, Any],
                        adjustments: List[str]) -> None:
        """Set ``reasoning_effort`` from the thinking level, clamped to the model's levels."""
        level = request.thinking_level
        if level is None:
            return
        accepted = self.reasoning_levels(model)
        if not accepted:
            if level is not ThinkingLevel.OFF:
                adjustments.append(f"thinking {level.value!r} ignored: {model} takes no reasoning_effort")
            return
        wire = clamp_level(level, accepted)
        if wire != LEVEL_WIRE[level]:
            adjustments.append(f"thinking {level.value!r} is not available on {model}; "
                               f"sent reasoning_effort {wire!r}")
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
        return ChatCompletionsParser(self.id, model)

    def parse_response(self, body: Any, model: str) -> Response:
        """A non-streamed reply, through the same parser (and builder) a stream uses."""
        if not isinstance(body, dict) or "choices" not in body:
            if isinstance(body, dict) and body.get("error"):
                raise _stream_error(body, self.id)
            raise ProviderError(f"unexpected reply body: {str(body)[:200]!r}", provider=self.id)
        return self.stream_parser(model).replay(body)

    def describe_error(self, status: int, payload: Any, text: str,
                       headers: Optional[Mapping[str, str]] = None) -> ErrorInfo:
        error = payload.get("error") if isinstance(payload, dict) else None
        if isinstance(error, dict):
            message = str(error.get("message") or text[:500])
            code = error.get("code")
            error_type = error.get("type") or (str(code) if code is not None else None)
            context = code == "context_length_exceeded" or "context length" in message.lower()
            return ErrorInfo(message, error_type, context)
        if isinstance(error, str):
            return ErrorInfo(error)
        return super().describe_error(status, payload, text)


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


def _response_format(value: Any) -> Dict[str, Any]:
    if value == "json":
        return {"type": "json_object"}
    return {"type": "json_schema",
            "json_schema": {"name": str(value.get("title") or "response"), "schema": value}}


# OpenAI reasoning models by family, for ids the catalog does not know (newest first).
# Source: platform.openai.com/docs/api-reference/chat/create#reasoning_effort
_OPENAI_LEVELS = [
    ("gpt-5-pro", ["high"]),
    ("gpt-5.1", ["none", "low", "medium", "high"]),
    ("gpt-5.", ["none", "low", "medium", "high", "xhigh"]),
    ("gpt-5", ["minimal", "low", "medium", "high"]),
    ("o1", ["low", "medium", "high"]),
    ("o3", ["low", "medium", "high"]),
    ("o4", ["low", "medium", "high"]),
]


def is_chat_model(model: str) -> bool:
    """The non-reasoning chat snapshots of reasoning families (``gpt-5-chat-latest``,
    ``gpt-5.1-chat-latest``), which a prefix match would take for their family."""
    return "-chat" in model and model.startswith("gpt-5")


class OpenAIProvider(ChatCompletionsProvider):
    """OpenAI's own Chat Completions endpoint."""

    id = "openai"
    default_base_url = "https://api.openai.com/v1"
    env_keys = ("OPENAI_API_KEY",)
    # max_tokens "is not compatible with o-series models" (completion_create_params.py)
    max_tokens_field = "max_completion_tokens"

    def reasoning_levels(self, model: str) -> Optional[List[str]]:
        if is_chat_model(model):
            return None
        if self.model_meta(model) is not None:
            return super().reasoning_levels(model)
        for prefix, levels in _OPENAI_LEVELS:
            if model.startswith(prefix):
                return levels
        return None

    def is_reasoning_model(self, model: str) -> bool:
        return self.reasoning_levels(model) is not None

    def supports_reasoning(self, model: str) -> bool:
        return self.is_reasoning_model(model)

    def supports_reasoning_effort(self, model: str) -> bool:
        return self.is_reasoning_model(model)

    def system_role(self, model: str) -> str:
        # "With o1 models and newer, developer messages replace previous system messages."
        return "developer" if self.is_reasoning_model(model) else "system"


def providers() -> List[Provider]:
    return [OpenAIProvider()]
