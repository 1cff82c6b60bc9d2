"""OpenAI Chat Completions (``POST /v1/chat/completions``), and the base of the
OpenAI-compatible family in ``compat.py``; replies are read in ``openai_stream.py``.

Wire reference: platform.openai.com/docs/api-reference/chat and openai-python
``src/openai/types/chat/`` (chat_completion_chunk.py, completion_create_params.py).
"""
from typing import Any, Dict, FrozenSet, List, Mapping, Optional

from ..catalog import ModelMeta, lookup
from ..errors import InvalidRequestError
from ..options import Request
from ..types import Document, Image, Message, Role, Text, ToolChoice
from .base import ErrorInfo, Provider, WirePlan, data_url
from .openai_stream import ChatCompletionsParser, parse_usage
from .reasoning import Reasoning, effort_for, is_chat_model, openai_reasoning, reasons_at
from .sampling import SAMPLING, chat_sampling
from .structured_forms import add_system_text, fallback_instructions, json_schema_form

__all__ = ["ChatCompletionsProvider", "ChatCompletionsParser", "OpenAIProvider", "providers", "parse_usage",
           "describe_openai_error", "fine_tune_base"]


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
