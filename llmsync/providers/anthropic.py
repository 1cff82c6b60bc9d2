"""Anthropic Messages API (``POST /v1/messages``).

Wire reference: docs.claude.com/en/api/messages and /en/api/messages-streaming;
anthropic-sdk-python ``src/anthropic/types/`` (message_create_params.py,
raw_message_stream_event.py, thinking_config_*_param.py, output_config_param.py,
tool_choice_*_param.py); anthropics/skills ``skills/claude-api/references/thinking-effort.md``
for which model takes which thinking and effort settings.
"""
from typing import Any, Dict, List, Mapping, Optional

from ..errors import InvalidRequestError
from ..options import Request, ThinkingLevel
from ..registry import split_model
from .anthropic_messages import PROVIDER_ID, apply_cache, apply_tools, conversation
from .anthropic_stream import STOP_REASONS, AnthropicParser, parse_usage
from .base import ErrorInfo, Provider, StreamParser, WirePlan
from .reasoning import (CLAUDE_ALWAYS_ADAPTIVE, CLAUDE_LEVEL_EFFORT, Reasoning, claude_effort, claude_generation,
                        claude_reasoning, claude_thinking)
from .sampling import unsupported
from .structured_forms import ANTHROPIC, adapt, fallback_instructions

__all__ = ["AnthropicProvider", "AnthropicParser", "providers", "parse_usage", "STOP_REASONS"]

API_VERSION = "2023-06-01"


# Without a catalog entry, or for thinking models, a reply gets this much room.
_DEFAULT_MAX_TOKENS = 8192
# A non-streamed reply arrives only when complete. The Anthropic SDK refuses
# non-streaming calls whose max_tokens implies over ten minutes of generation (about
# 21,333 tokens: _base_client._calculate_nonstreaming_timeout) and proxies cut idle
# connections that long, so the catalog's full output limit (64K-128K) is only the
# default of streams.
_NONSTREAM_DEFAULT_CAP = 16384


class AnthropicProvider(Provider):
    """The Anthropic Messages API."""

    id = PROVIDER_ID
    otel_provider_name = "anthropic"
    default_base_url = "https://api.anthropic.com/v1"
    env_keys = ("ANTHROPIC_API_KEY",)

    def auth_headers(self, key: Any) -> Dict[str, str]:
        return {"x-api-key": key.reveal()} if key is not None else {}

    # -- model knowledge (catalog first, then rules by model id) --------------------------

    def reasoning(self, model: str) -> Reasoning:
        """Thinking style ("adaptive", "budget" or None) and ``output_config.effort`` levels
        (``reasoning.claude_reasoning``)."""
        return claude_reasoning(model, self.model_meta(model))

    def takes_sampling(self, model: str) -> bool:
        """False where temperature/top_p/top_k were removed (Opus 4.7+, 5.x: a 400)."""
        generation = claude_generation(model)
        return not (model.startswith(CLAUDE_ALWAYS_ADAPTIVE) or (generation and generation >= (4, 7)))

    def _thinking_on(self, request: Request, model: str) -> bool:
        level = request.thinking_level
        return level not in (None, ThinkingLevel.OFF) and self.reasoning(model).style is not None

    # -- validation ----------------------------------------------------------------------

    def validate_request(self, request: Request) -> None:
        super().validate_request(request)
        choice, level = request.tool_choice, request.thinking_level
        model = split_model(request.model)[1]
        if choice is not None and choice.forces_tool and level and self._thinking_on(request, model):
            raise InvalidRequestError(
                f"tool_choice {choice.mode!r} forces a tool call, which Anthropic rejects while "
                f"thinking is on (thinking={level.value!r}); use tool_choice='auto' or thinking='off'",
                provider=self.id)

    # -- request -------------------------------------------------------------------------

    def build_request(self, request: Request, model: str) -> WirePlan:
        adjustments: List[str] = []
        system, turns = conversation(request, self.id)
        body: Dict[str, Any] = {"model": model, "max_tokens": self._max_tokens(request, model)}
        if system:
            body["system"] = "\n\n".join(system)
        body["messages"] = turns
        self._apply_thinking(request, model, body, adjustments)
        if request.effort is not None:
            self._set_effort(model, request.effort.value, body, adjustments, "effort")
        if request.temperature is not None:
            if not self.takes_sampling(model):
                adjustments.append(f"temperature dropped: {model} does not accept sampling parameters")
            elif "thinking" in body:
                adjustments.append("temperature dropped: Anthropic does not allow it with thinking on")
            else:
                body["temperature"] = request.temperature
        if request.stop:
            body["stop_sequences"] = list(request.stop)
        self._apply_sampling(request, model, body, adjustments)
        apply_tools(request, body)
        if request.response_format is not None:
            self._apply_format(request, model, body, adjustments)
        if request.cache is not None:
            apply_cache(request.cache, body, adjustments)
        if request.stream:
            body["stream"] = True
        # No anthropic-beta header: adaptive thinking, effort, 1h cache TTL and PDFs are GA.
        return WirePlan("/messages", body, {"anthropic-version": API_VERSION}, adjustments)

    def takes_output_format(self, model: str) -> bool:
        """Structured outputs (``output_config.format``): GA, no beta header, on Claude
        Haiku/Sonnet/Opus 4.5 and later (build-with-claude/structured-outputs)."""
        generation = claude_generation(model)
        if generation is not None:
            return generation >= (4, 5)
        return not model.startswith(("claude-3", "claude-2", "claude-instant"))

    def _apply_format(self, request: Request, model: str, body: Dict[str, Any], adjustments: List[str]) -> None:
        value = request.response_format
        if not isinstance(value, dict):
            adjustments.append('response_format "json" ignored: Anthropic takes only a JSON Schema')
            return
        schema: Optional[Dict[str, Any]] = value
        if request.structured_output is not None:  # a type's schema: made fit for constrained decoding
            schema, notes = adapt(value, ANTHROPIC)
            adjustments.extend(notes)
        if schema is not None and self.takes_output_format(model):
            body.setdefault("output_config", {})["format"] = {"type": "json_schema", "schema": schema}
            return
        reason = "the schema does not fit" if schema is None else f"{model} has no structured outputs"
        adjustments.append(f"response_format sent as instructions in the system prompt: {reason}")
        text = fallback_instructions(value)
        body["system"] = f"{body['system']}\n\n{text}" if body.get("system") else text

    def _apply_sampling(self, request: Request, model: str, body: Dict[str, Any], adjustments: List[str]) -> None:
        """``top_p``/``top_k`` where the model takes sampling parameters; with thinking on,
        "top_p ... between 1 and 0.95" and no top_k (extended-thinking docs);
        ``metadata.user_id`` for the user. No seed or logprobs."""
        unsupported(request, ("seed", "logprobs"), "Anthropic", adjustments)
        if request.user is not None:
            body["metadata"] = {"user_id": request.user}
        if not self.takes_sampling(model):
            unsupported(request, ("top_p", "top_k"), model, adjustments)
            return
        if request.top_k is not None:
            if "thinking" in body:
                adjustments.append("top_k dropped: Anthropic does not allow it with thinking on")
            else:
                body["top_k"] = request.top_k
        if request.top_p is not None:
            if "thinking" in body and request.top_p < 0.95:
                adjustments.append("top_p dropped: with thinking on Anthropic takes only 0.95 to 1")
            else:
                body["top_p"] = request.top_p

    def _max_tokens(self, request: Request, model: str) -> int:
        if request.max_tokens is not None:
            return request.max_tokens
        meta = self.model_meta(model)
        if meta is None or not meta.max_output_tokens:
            return _DEFAULT_MAX_TOKENS
        if request.stream:
            return meta.max_output_tokens
        return min(meta.max_output_tokens, _NONSTREAM_DEFAULT_CAP)

    def _apply_thinking(self, request: Request, model: str, body: Dict[str, Any],
                        adjustments: List[str]) -> None:
        level, reasoning = request.thinking_level, self.reasoning(model)
        thinking, body["max_tokens"] = claude_thinking(
            level, reasoning, model, body["max_tokens"], request.max_tokens is not None,
            getattr(self.model_meta(model), "max_output_tokens", None), adjustments)
        if thinking is None or level is None:
            return
        body["thinking"] = thinking
        if thinking["type"] == "adaptive" and request.effort is None and reasoning.levels:
            self._set_effort(model, CLAUDE_LEVEL_EFFORT[level], body, adjustments, f"thinking {level.value!r}")

    def _set_effort(self, model: str, wanted: str, body: Dict[str, Any], adjustments: List[str],
                    source: str) -> None:
        chosen = claude_effort(wanted, self.reasoning(model), model, source, adjustments)
        if chosen is not None:
            body.setdefault("output_config", {})["effort"] = chosen

    # -- responses -----------------------------------------------------------------------

    def stream_parser(self, model: str) -> StreamParser:
        return self.priced(AnthropicParser(self.id, model))

    def describe_error(self, status: int, payload: Any, text: str,
                       headers: Optional[Mapping[str, str]] = None) -> ErrorInfo:
        """Read ``{"type": "error", "error": {"type", "message"}}``."""
        error = payload.get("error") if isinstance(payload, dict) else None
        if isinstance(error, dict):
            message = str(error.get("message") or text[:500])
            lowered = message.lower()
            context = "prompt is too long" in lowered or "exceed context limit" in lowered
            return ErrorInfo(message, error.get("type"), context)
        return super().describe_error(status, payload, text)


def providers() -> List[Provider]:
    return [AnthropicProvider()]
