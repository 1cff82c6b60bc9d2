"""Anthropic Messages API (``POST /v1/messages``).

Wire reference: docs.claude.com/en/api/messages and /en/api/messages-streaming;
anthropic-sdk-python ``src/anthropic/types/`` (message_create_params.py,
raw_message_stream_event.py, thinking_config_*_param.py, output_config_param.py,
tool_choice_*_param.py); anthropics/skills ``skills/claude-api/references/thinking-effort.md``
for which model takes which thinking and effort settings.
"""
import json
import re
from typing import Any, Callable, Dict, List, Optional, Tuple

from ..errors import InvalidRequestError, ProviderError
from ..events import Event
from ..options import Request, ThinkingLevel
from ..types import FinishReason, ReasoningBlock, Response, Usage
from .anthropic_messages import PROVIDER_ID, apply_cache, apply_tools, conversation
from .base import ErrorInfo, Provider, StreamParser, WirePlan

__all__ = ["AnthropicProvider", "AnthropicParser", "providers", "parse_usage", "STOP_REASONS"]

API_VERSION = "2023-06-01"

STOP_REASONS = {
    "end_turn": FinishReason.STOP,
    "stop_sequence": FinishReason.STOP,
    "max_tokens": FinishReason.LENGTH,
    "tool_use": FinishReason.TOOL_CALLS,
    "refusal": FinishReason.CONTENT_FILTER,
    "model_context_window_exceeded": FinishReason.LENGTH,
    # "pause_turn": a server-tool loop (web search, code execution) reached its iteration
    # limit mid-turn. The caller must append the assistant content unchanged and send the
    # request again so the model continues (docs: handling-stop-reasons). LENGTH already
    # means "incomplete, continue"; STOP would wrongly end a tool loop. (llmsync keeps no
    # server-tool blocks, so server tools, reachable only through `extra`, cannot resume.)
    "pause_turn": FinishReason.LENGTH,
}

# Stream error types worth another attempt (HTTP 529 and 500 as SSE events).
_RETRYABLE_ERRORS = ("overloaded_error", "api_error")

# Without a catalog entry, or for thinking models, a reply gets this much room.
_DEFAULT_MAX_TOKENS = 8192
# A non-streamed reply arrives only when complete. The Anthropic SDK refuses
# non-streaming calls whose max_tokens implies over ten minutes of generation (about
# 21,333 tokens: _base_client._calculate_nonstreaming_timeout) and proxies cut idle
# connections that long, so the catalog's full output limit (64K-128K) is only the
# default of streams.
_NONSTREAM_DEFAULT_CAP = 16384

# Manual thinking: budget_tokens per level; "must be >= 1024 and less than max_tokens"
# (thinking_config_enabled_param.py).
_BUDGETS = {ThinkingLevel.MINIMAL: 1024, ThinkingLevel.LOW: 4096, ThinkingLevel.MEDIUM: 10000,
            ThinkingLevel.HIGH: 16000, ThinkingLevel.XHIGH: 32000}
_MIN_BUDGET = 1024
_ANSWER_ROOM = 4096

# Adaptive thinking has no budget; its depth follows output_config.effort.
_EFFORT_ORDER = ["low", "medium", "high", "xhigh", "max"]
_LEVEL_EFFORT = {ThinkingLevel.MINIMAL: "low", ThinkingLevel.LOW: "low", ThinkingLevel.MEDIUM: "medium",
                 ThinkingLevel.HIGH: "high", ThinkingLevel.XHIGH: "xhigh"}

_MODEL_ID = re.compile(r"^claude-(opus|sonnet|haiku)-(\d+)(?:-(\d{1,2}))?(?:-|$)")
_ALWAYS_ADAPTIVE = ("claude-mythos", "claude-fable")


def _generation(model: str) -> Optional[Tuple[int, int]]:
    """(major, minor) of a ``claude-<family>-<major>[-<minor>][-date]`` id, else None."""
    match = _MODEL_ID.match(model)
    return (int(match.group(2)), int(match.group(3) or 0)) if match else None


def parse_usage(usage: Optional[Dict[str, Any]]) -> Optional[Usage]:
    """Anthropic usage in llmsync terms: ``input_tokens`` excludes cache reads and writes."""
    if not usage:
        return None
    read = usage.get("cache_read_input_tokens") or 0
    write = usage.get("cache_creation_input_tokens") or 0
    prompt = (usage.get("input_tokens") or 0) + read + write
    completion = usage.get("output_tokens") or 0
    return Usage(prompt, completion, prompt + completion, cache_read_tokens=read, cache_write_tokens=write)


def _error_in(where: str, error: Any, provider: str) -> ProviderError:
    """The error of an ``error`` event or of an error body inside a 200 reply."""
    error = error if isinstance(error, dict) else {"message": str(error)}
    error_type = error.get("type")
    return ProviderError(f"error in {where}: {error.get('message') or error}", provider=provider,
                         error_type=error_type, retryable=error_type in _RETRYABLE_ERRORS)


class _Block:
    __slots__ = ("kind", "text", "signature", "data")

    def __init__(self, kind: str, text: str = "", signature: str = "", data: Optional[str] = None) -> None:
        self.kind = kind
        self.text = [text] if text else []
        self.signature = signature
        self.data = data


class AnthropicParser(StreamParser):
    """Messages stream events: blocks by index, usage cumulative in ``message_delta``."""

    def __init__(self, provider: str, model: str) -> None:
        super().__init__(provider, model)
        self._blocks: Dict[int, _Block] = {}
        self._usage: Dict[str, Any] = {}

    def feed(self, event: str, data: str) -> List[Event]:
        payload = self.decode(data)
        if not isinstance(payload, dict):
            raise ProviderError(f"unexpected stream event: {data[:200]!r}", provider=self.provider)
        # Unknown event types are skipped, as the streaming docs ask of clients.
        handler = self._HANDLERS.get(payload.get("type") or event)
        return handler(self, payload) if handler else []

    def replay(self, message: Dict[str, Any]) -> Response:
        """Build the ``Response`` of a whole (non-streamed) message through the same steps."""
        self._message_start({"message": {**message, "content": []}})
        for index, block in enumerate(message.get("content") or ()):
            self._block_start({"index": index, "content_block": block})
            self._block_stop({"index": index})
        self._message_delta({"delta": {"stop_reason": message.get("stop_reason")},
                             "usage": message.get("usage")})
        self._message_stop({})
        return self.builder.build()

    def _message_start(self, payload: Dict[str, Any]) -> List[Event]:
        message = payload.get("message") or {}
        self.builder.id = message.get("id") or self.builder.id
        self.builder.model = message.get("model") or self.builder.model
        self._usage = dict(message.get("usage") or {})
        # No UsageUpdate yet: an error right after message_start is then still retried,
        # since no event reached the caller.
        self.builder.usage = parse_usage(self._usage)
        return []

    def _block_start(self, payload: Dict[str, Any]) -> List[Event]:
        index, block = payload["index"], payload.get("content_block") or {}
        kind = block.get("type")
        if kind == "tool_use":
            out: List[Event] = [self.builder.tool_start(index, block.get("id") or f"toolu_{index}",
                                                        block.get("name") or "")]
            if block.get("input"):  # whole messages carry the input here; streams send {}
                out.append(self.builder.tool_delta(index, json.dumps(block["input"])))
            return out
        if kind == "thinking":
            self._blocks[index] = _Block(kind, block.get("thinking") or "", block.get("signature") or "")
            return [self.builder.reasoning(block["thinking"])] if block.get("thinking") else []
        if kind == "redacted_thinking":
            self._blocks[index] = _Block(kind, data=block.get("data"))
        elif kind == "text" and block.get("text"):
            return [self.builder.text(block["text"])]
        return []

    def _block_delta(self, payload: Dict[str, Any]) -> List[Event]:
        index, delta = payload["index"], payload.get("delta") or {}
        kind = delta.get("type")
        if kind == "text_delta" and delta.get("text"):
            return [self.builder.text(delta["text"])]
        if kind == "input_json_delta" and delta.get("partial_json") and self.builder.has_call(index):
            return [self.builder.tool_delta(index, delta["partial_json"])]
        block = self._blocks.get(index)
        if block is None:
            return []
        if kind == "thinking_delta" and delta.get("thinking"):
            block.text.append(delta["thinking"])
            return [self.builder.reasoning(delta["thinking"])]
        if kind == "signature_delta":
            block.signature += delta.get("signature") or ""
        return []

    def _block_stop(self, payload: Dict[str, Any]) -> List[Event]:
        index = payload["index"]
        if self.builder.has_call(index):
            return [self.builder.tool_end(index)]
        block = self._blocks.pop(index, None)
        if block is not None and block.kind == "thinking":
            self.builder.reasoning_blocks.append(ReasoningBlock(
                "".join(block.text), block.signature or None, "thinking", provider=self.provider))
        elif block is not None:
            self.builder.reasoning_blocks.append(ReasoningBlock(
                kind="redacted_thinking", data=block.data, provider=self.provider))
        return []

    def _message_delta(self, payload: Dict[str, Any]) -> List[Event]:
        reason = (payload.get("delta") or {}).get("stop_reason")
        if reason:
            self.builder.finish_reason = STOP_REASONS.get(reason, FinishReason.STOP)
        # "The token counts shown in the usage field of the message_delta event are
        # cumulative": newer values replace, absent ones keep message_start's.
        self._usage.update({k: v for k, v in (payload.get("usage") or {}).items() if v is not None})
        usage = parse_usage(self._usage)
        return [self.builder.set_usage(usage)] if usage is not None else []

    def _message_stop(self, payload: Dict[str, Any]) -> List[Event]:
        self.complete = True
        return list(self.builder.end_open_calls())

    def _error(self, payload: Dict[str, Any]) -> List[Event]:
        raise _error_in("stream", payload.get("error"), self.provider)

    _HANDLERS: Dict[str, Callable[["AnthropicParser", Dict[str, Any]], List[Event]]] = {
        "message_start": _message_start,
        "content_block_start": _block_start,
        "content_block_delta": _block_delta,
        "content_block_stop": _block_stop,
        "message_delta": _message_delta,
        "message_stop": _message_stop,
        "error": _error,
    }


class AnthropicProvider(Provider):
    """The Anthropic Messages API."""

    id = PROVIDER_ID
    default_base_url = "https://api.anthropic.com/v1"
    env_keys = ("ANTHROPIC_API_KEY",)

    def auth_headers(self, key: Any) -> Dict[str, str]:
        headers = {"anthropic-version": API_VERSION}
        if key is not None:
            headers["x-api-key"] = key.reveal()
        return headers

    # -- model knowledge (catalog first, then rules by model id) --------------------------

    def thinking_style(self, model: str) -> Optional[str]:
        """"adaptive", "budget", or None for a model without extended thinking."""
        meta = self.model_meta(model)
        if meta is not None:
            if not meta.supports_reasoning:
                return None
            if meta.thinking_style in ("adaptive", "budget"):
                return meta.thinking_style
        if model.startswith(_ALWAYS_ADAPTIVE):
            return "adaptive"
        if model.startswith("claude-3") and not model.startswith("claude-3-7"):
            return None
        generation = _generation(model)
        # Adaptive thinking arrived with the 4.6 models; budgets are deprecated there and
        # rejected from Opus 4.7 on (thinking-effort.md).
        return "adaptive" if generation and generation >= (4, 6) else "budget"

    def takes_sampling(self, model: str) -> bool:
        """False where temperature/top_p/top_k were removed (Opus 4.7+, 5.x: a 400)."""
        generation = _generation(model)
        return not (model.startswith(_ALWAYS_ADAPTIVE) or (generation and generation >= (4, 7)))

    def effort_levels(self, model: str) -> Optional[List[str]]:
        """The ``output_config.effort`` values the model takes, or None."""
        meta = self.model_meta(model)
        if meta is not None and not meta.supports_reasoning_effort:
            return None
        generation = _generation(model)
        if model.startswith(_ALWAYS_ADAPTIVE) or (generation and generation >= (4, 7)):
            return list(_EFFORT_ORDER)
        if generation == (4, 6):
            return ["low", "medium", "high", "max"]
        if model.startswith("claude-opus-4-5") or meta is not None:
            return ["low", "medium", "high"]
        return None

    def supports_reasoning(self, model: str) -> bool:
        return self.thinking_style(model) is not None

    def supports_reasoning_effort(self, model: str) -> bool:
        return self.effort_levels(model) is not None

    def _thinking_on(self, request: Request, model: str) -> bool:
        level = request.thinking_level
        return level not in (None, ThinkingLevel.OFF) and self.thinking_style(model) is not None

    # -- validation ----------------------------------------------------------------------

    def validate_request(self, request: Request) -> None:
        super().validate_request(request)
        choice, level = request.tool_choice, request.thinking_level
        model = request.model.split("/", 1)[-1]
        if choice is not None and choice.forces_tool and level and self._thinking_on(request, model):
            raise InvalidRequestError(
                f"tool_choice {choice.mode!r} forces a tool call, which Anthropic rejects while "
                f"thinking is on (thinking={level.value!r}); use tool_choice='auto' or thinking='off'",
                provider=self.id)

    # -- request -------------------------------------------------------------------------

    def build_request(self, request: Request, model: str) -> WirePlan:
        adjustments: List[str] = []
        system, turns = conversation(request)
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
        apply_tools(request, body)
        if request.response_format is not None:
            if isinstance(request.response_format, dict):
                body.setdefault("output_config", {})["format"] = {
                    "type": "json_schema", "schema": request.response_format}
            else:
                adjustments.append('response_format "json" ignored: Anthropic takes only a JSON Schema')
        if request.cache is not None:
            apply_cache(request.cache, body, adjustments)
        if request.stream:
            body["stream"] = True
        # No anthropic-beta header: adaptive thinking, effort, 1h cache TTL and PDFs are GA.
        return WirePlan("/messages", body, {}, adjustments)

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
        level = request.thinking_level
        # OFF sends nothing: omitting `thinking` means no thinking on every model that can
        # turn it off, while {"type": "disabled"} is a 400 on Fable 5 (thinking-effort.md).
        if level is None or level is ThinkingLevel.OFF:
            return
        style = self.thinking_style(model)
        if style is None:
            adjustments.append(f"thinking {level.value!r} ignored: {model} has no extended thinking")
        elif style == "adaptive":
            # Opus 4.7+ default to display "omitted" (empty thinking text); ask for the summary.
            body["thinking"] = {"type": "adaptive", "display": "summarized"}
            if request.effort is None and self.effort_levels(model):
                self._set_effort(model, _LEVEL_EFFORT[level], body, adjustments, f"thinking {level.value!r}")
        else:
            budget, max_tokens = _fit_budget(_BUDGETS[level], body["max_tokens"],
                                             request.max_tokens is not None,
                                             getattr(self.model_meta(model), "max_output_tokens", None),
                                             adjustments)
            body["thinking"] = {"type": "enabled", "budget_tokens": budget}
            body["max_tokens"] = max_tokens

    def _set_effort(self, model: str, wanted: str, body: Dict[str, Any], adjustments: List[str],
                    source: str) -> None:
        levels = self.effort_levels(model)
        if not levels:
            adjustments.append(f"{source} ignored: {model} does not take output_config.effort")
            return
        rank = _EFFORT_ORDER.index(wanted)
        chosen = wanted if wanted in levels else max(
            (v for v in levels if _EFFORT_ORDER.index(v) <= rank), key=_EFFORT_ORDER.index)
        if chosen != wanted:
            adjustments.append(f"{source}: effort {wanted!r} is not available on {model}; sent {chosen!r}")
        body.setdefault("output_config", {})["effort"] = chosen

    # -- responses -----------------------------------------------------------------------

    def stream_parser(self, model: str) -> StreamParser:
        return AnthropicParser(self.id, model)

    def parse_response(self, body: Any, model: str) -> Response:
        """A non-streamed message, through the same builder a stream uses."""
        if not isinstance(body, dict) or not isinstance(body.get("content"), list):
            if isinstance(body, dict) and body.get("error"):
                raise _error_in("reply", body["error"], self.id)
            raise ProviderError(f"unexpected reply body: {str(body)[:200]!r}", provider=self.id)
        return AnthropicParser(self.id, model).replay(body)

    def describe_error(self, status: int, payload: Any, text: str) -> ErrorInfo:
        """Read ``{"type": "error", "error": {"type", "message"}}``."""
        error = payload.get("error") if isinstance(payload, dict) else None
        if isinstance(error, dict):
            message = str(error.get("message") or text[:500])
            lowered = message.lower()
            context = "prompt is too long" in lowered or "exceed context limit" in lowered
            return ErrorInfo(message, error.get("type"), context)
        return super().describe_error(status, payload, text)


def _fit_budget(budget: int, max_tokens: int, user_set: bool, model_max: Optional[int],
                adjustments: List[str]) -> Tuple[int, int]:
    """A thinking budget >= 1024 and below max_tokens: raise max_tokens or shrink the budget.

    The budget counts toward max_tokens, so a defaulted max_tokens grows to leave the
    answer room; one the caller set is kept and the budget shrinks instead.
    """
    if not user_set and max_tokens < budget + _ANSWER_ROOM:
        raised = min(budget + _ANSWER_ROOM, model_max or budget + _ANSWER_ROOM)
        if raised > max_tokens:
            adjustments.append(f"max_tokens set to {raised} to leave room for the answer after "
                               f"the thinking budget ({budget})")
            max_tokens = raised
    if budget < max_tokens:
        return budget, max_tokens
    clamped = max(_MIN_BUDGET, max_tokens // 2)
    if clamped < max_tokens:
        adjustments.append(f"thinking budget clamped from {budget} to {clamped} tokens to stay "
                           f"below max_tokens ({max_tokens})")
        return clamped, max_tokens
    raised = _MIN_BUDGET + max_tokens
    adjustments.append(f"max_tokens raised from {max_tokens} to {raised}: a thinking budget is at "
                       f"least {_MIN_BUDGET} tokens and must stay below max_tokens")
    return _MIN_BUDGET, raised


def providers() -> List[Provider]:
    return [AnthropicProvider()]
