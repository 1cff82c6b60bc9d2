"""OpenAI Responses API (``POST /v1/responses``), used statelessly (``store: false``).

Reasoning models return ``reasoning`` output items. With ``store: false`` nothing is
kept server-side, so llmsync asks for ``include: ["reasoning.encrypted_content"]``,
keeps each reasoning and ``web_search_call`` item as a ``ReasoningBlock`` on the assistant
message and sends them back in order, before that turn's message and ``function_call``
items (``responses_items.py``; logprobs: ``responses_logprobs.py``). Replies are read in
``responses_stream.py``.

Wire reference: openai-python ``src/openai/types/responses/`` (response_create_params.py,
response_stream_event.py, response_reasoning_item_param.py, function_tool_param.py,
response_error_event.py).
"""
from typing import Any, Dict, List, Mapping, Optional

from ..catalog import ModelMeta, lookup, models
from ..options import Request
from ..types import ToolChoice
from .base import ErrorInfo, Provider, StreamParser, WirePlan
from .openai import describe_openai_error, fine_tune_base
from .reasoning import Reasoning, effort_for, openai_reasoning, reasons_at
from .responses_items import PROVIDER_ID, instructions, wire_input
from .responses_logprobs import wire_logprobs
from .responses_stream import ResponsesParser, parse_usage
from .sampling import chat_sampling
from .structured_forms import json_schema_form

__all__ = ["OpenAIResponsesProvider", "ResponsesParser", "parse_usage", "providers"]


def _text_format(request: Request, adjustments: List[str]) -> Dict[str, Any]:
    """``text.format``: flat ``{"type": "json_schema", "name", "schema", "strict"}``
    (response_format_text_json_schema_config_param.py)."""
    if request.response_format == "json":
        return {"format": {"type": "json_object"}}
    form = json_schema_form(request, adjustments)
    # strict: false for a schema the caller wrote: an arbitrary schema is rarely
    # strict-compatible (strict needs additionalProperties: false, every property required).
    form.setdefault("strict", False)
    return {"format": {"type": "json_schema", **form}}


# top_p, safety_identifier and logprobs (an include: responses_logprobs.py); no seed or top_k.
_RESPONSES_SAMPLING = frozenset({"top_p", "user", "logprobs"})


class OpenAIResponsesProvider(Provider):
    """OpenAI's Responses API: the same key and base URL as ``openai``, path ``/responses``."""

    id = PROVIDER_ID
    otel_provider_name = "openai"
    default_base_url = "https://api.openai.com/v1"
    env_keys = ("OPENAI_API_KEY",)
    key_id = "openai"
    path = "/responses"

    # -- model knowledge: this provider's catalog entries, else OpenAI's -----------------

    def models(self) -> List[ModelMeta]:
        return models(self.id) or models("openai")

    def base_model(self, model: str) -> str:
        """The OpenAI model id whose catalog entry and rules ``model`` follows (a fine-tune's base)."""
        return fine_tune_base(model)

    def model_meta(self, model: str) -> Optional[ModelMeta]:
        base = self.base_model(model)
        return lookup(self.id, base) or lookup("openai", base)

    def price_meta(self, model: str) -> Optional[ModelMeta]:
        # A fine-tune runs at prices of its own, not its base model's: unpriced, not wrong.
        return None if fine_tune_base(model) != model else self.model_meta(model)

    def reasoning(self, model: str) -> Reasoning:
        """OpenAI's reasoning rules (``reasoning.openai_reasoning``)."""
        return openai_reasoning(self.base_model(model), self.model_meta(model))

    def may_reason(self, model: str) -> bool:
        """Whether to ask for encrypted reasoning: yes unless the model is known not to reason."""
        reasoning = self.reasoning(model)
        return reasoning.reasons or not reasoning.known

    # -- request ---------------------------------------------------------------------------

    def build_request(self, request: Request, model: str) -> WirePlan:
        adjustments: List[str] = []
        body: Dict[str, Any] = {"model": model, "input": wire_input(request.messages, self.id)}
        system = instructions(request)
        if system:
            body["instructions"] = system
        self._apply_tools(request, body)
        if request.max_tokens is not None:
            body["max_output_tokens"] = request.max_tokens
        effort = self._apply_reasoning(request, model, body, adjustments)
        levels = self.reasoning(model).levels
        if request.temperature is not None:
            if reasons_at(levels, effort):
                adjustments.append(f"temperature dropped: {model} takes only the default "
                                   "temperature while it reasons")
            else:
                body["temperature"] = request.temperature
        if request.stop:
            adjustments.append("stop sequences dropped: the Responses API has no stop parameter")
        chat_sampling(request, body, adjustments, _RESPONSES_SAMPLING, f"the Responses API ({model})",
                      "safety_identifier", reasons_at(levels, effort))
        if request.effort is not None:
            adjustments.append(f"effort {request.effort.value!r} dropped: the Responses API has no effort "
                               "setting (Anthropic's); thinking= sets reasoning.effort")
        if request.response_format is not None:
            body["text"] = _text_format(request, adjustments)
        body["store"] = False
        include = ["reasoning.encrypted_content"] if self.may_reason(model) else []
        wire_logprobs(body, include)
        if include:
            body["include"] = include
        if request.stream:
            body["stream"] = True
        return WirePlan(self.path, body, {}, adjustments)

    def _apply_tools(self, request: Request, body: Dict[str, Any]) -> None:
        tools = request.tool_definitions
        if tools:
            # Flat function tools (function_tool_param.py); strict defaults to true there.
            body["tools"] = [{"type": "function", "name": t.name, "description": t.description,
                              "parameters": t.parameters, "strict": False} for t in tools]
            parallel = request.parallel_tool_calls
            config = request.parallel_tool_config
            if config is not None and config.disable_parallel_tool_use:
                parallel = False
            if parallel is not None:
                body["parallel_tool_calls"] = parallel
        if request.tool_choice is not None:
            body["tool_choice"] = self.wire_tool_choice(request.tool_choice)

    def wire_tool_choice(self, choice: ToolChoice) -> Any:
        if choice.mode == "function":
            return {"type": "function", "name": choice.name}  # flat: tool_choice_function_param.py
        return {"auto": "auto", "none": "none", "any": "required"}[choice.mode]

    def _apply_reasoning(self, request: Request, model: str, body: Dict[str, Any],
                         adjustments: List[str]) -> Optional[str]:
        """Set ``reasoning`` from the thinking level; return the effort sent, if any."""
        level = request.thinking_level
        if level is None:
            return None
        wire = effort_for(level, self.reasoning(model), model, adjustments, "reasoning.effort")
        if wire is None:
            return None
        body["reasoning"] = {"effort": wire} if wire == "none" else {"effort": wire, "summary": "auto"}
        return wire

    # -- responses ---------------------------------------------------------------------------

    def stream_parser(self, model: str) -> StreamParser:
        return self.priced(ResponsesParser(self.id, model))

    def describe_error(self, status: int, payload: Any, text: str,
                       headers: Optional[Mapping[str, str]] = None) -> ErrorInfo:
        """OpenAI error bodies: ``{"error": {"message", "type", "code", "param"}}``."""
        return describe_openai_error(status, payload, text) or super().describe_error(status, payload, text)


def providers() -> List[Provider]:
    return [OpenAIResponsesProvider()]
