"""The OpenAI-compatible family: one ``Vendor`` row per vendor, on the Chat Completions code.

A row names the documented base URL, the key variable, whether a key is needed, the
max-tokens field, how the vendor takes a reasoning effort, and its quirks (small functions
over the built ``WirePlan``, or a parser subclass for reply shapes OpenAI does not use).
``CompatProvider`` is ``ChatCompletionsProvider`` configured by a row. A custom vendor can
be a row too: ``register_provider(CompatProvider(Vendor("mycorp", URL, "MYCORP_API_KEY")))``.
"""
import copy
import hashlib
import json
import os
import re
from dataclasses import dataclass
from typing import Any, Callable, Dict, FrozenSet, List, Mapping, Optional, Tuple, Type

from ..options import Request, ThinkingLevel
from ..errors import InvalidRequestError
from ..registry import split_model
from ..types import Document, Image, Message, Part, ReasoningBlock, Role
from .base import ErrorInfo, Provider, WirePlan
from .compat_stream import CompatParser, MistralParser, OpenRouterParser, PerplexityParser
from .openai import ChatCompletionsProvider
from .reasoning import LEVEL_ORDER, UNKNOWN, Reasoning, effort_for
from .sampling import SAMPLING

__all__ = ["Vendor", "VENDORS", "CompatProvider", "OpenRouterProvider", "CompatParser", "providers",
           "mistral_tool_call_id"]

Quirk = Callable[["CompatProvider", Request, str, WirePlan], None]
Unreadable = Callable[[str, Part], Optional[str]]  # (model, part) -> why it cannot read it, or None


def _same(*levels: str) -> Dict[str, str]:
    """Effort words for a vendor that names levels as OpenAI does."""
    return {level: level for level in levels}


# -- request quirks ------------------------------------------------------------------------

_MISTRAL_ID = re.compile(r"[A-Za-z0-9]{9}")
_BASE62 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"


def mistral_tool_call_id(call_id: str) -> str:
    """A tool call id Mistral accepts: exactly 9 characters from ``[a-zA-Z0-9]``.

    Mistral rejects others ("Tool call id was call_PTLP8x... but must be a-z, A-Z, 0-9,
    with a length of 9": mistral-common's validator); other ids are hashed, so the same
    id always maps to the same valid one.
    """
    if _MISTRAL_ID.fullmatch(call_id):
        return call_id
    number = int.from_bytes(hashlib.sha256(call_id.encode("utf-8")).digest(), "big")
    chars = []
    for _ in range(9):
        number, digit = divmod(number, 62)
        chars.append(_BASE62[digit])
    return "".join(chars)


def _mistral_tool_ids(provider: "CompatProvider", request: Request, model: str, plan: WirePlan) -> None:
    for message in plan.body.get("messages") or ():
        for call in message.get("tool_calls") or ():
            call["id"] = mistral_tool_call_id(call["id"])
        if message.get("tool_call_id"):
            message["tool_call_id"] = mistral_tool_call_id(message["tool_call_id"])


def _tool_choice_any(provider: "CompatProvider", request: Request, model: str, plan: WirePlan) -> None:
    # Mistral's tool_choice enum is auto|none|any|required ("any or required means the
    # model must call one or more tools"); "any" is the value every API version knows.
    if plan.body.get("tool_choice") == "required":
        plan.body["tool_choice"] = "any"


def _no_stream_options(provider: "CompatProvider", request: Request, model: str, plan: WirePlan) -> None:
    # Mistral answers 422 "extra_forbidden" to stream_options (openai-agents-python#442,
    # cline#582) and puts usage in the last chunk anyway.
    plan.body.pop("stream_options", None)


def _random_seed(provider: "CompatProvider", request: Request, model: str, plan: WirePlan) -> None:
    # Mistral names the seed random_seed (docs.mistral.ai API, chat completion request).
    if "seed" in plan.body:
        plan.body["random_seed"] = plan.body.pop("seed")


def _no_stop_on_reasoning(provider: "CompatProvider", request: Request, model: str, plan: WirePlan) -> None:
    # docs.x.ai reasoning guide: "presencePenalty, frequencyPenalty and stop parameters are
    # not supported by reasoning models. Adding them in the request would result in an error."
    if "stop" in plan.body and provider.supports_reasoning(model):
        del plan.body["stop"]
        plan.adjustments.append(f"stop dropped: xAI rejects stop on reasoning models such as {model}")


def _deepseek_unreadable(model: str, part: Part) -> Optional[str]:
    # api-docs.deepseek.com/guides/vision: deepseek-flash reads JPEG, PNG, GIF and WebP images
    # ("detected from the actual file content"), also under the retired deepseek-v4-flash*
    # names; deepseek-v4-pro reads none (deepseek-ai/deepseek-harness#7454), no model a PDF.
    if isinstance(part, Document):
        return f"deepseek/{model} reads no documents (images only: JPEG, PNG, GIF, WebP); send the text"
    if isinstance(part, Image) and model.startswith("deepseek-v4-pro"):
        return f"deepseek/{model} reads text only; deepseek-flash reads images"
    return None


# -- the row and the provider it configures --------------------------------------------------


@dataclass(frozen=True)
class Vendor:
    """One OpenAI-compatible vendor, as data.

    Attributes:
        id: the provider id (the model-string prefix).
        base_url: the documented base URL, or None when the user must give one.
        key_env: the environment variable that holds the API key.
        requires_key: False for servers that work without a key.
        max_tokens_field: the body field that carries ``max_tokens``.
        effort: ``(model-id prefix, words)`` pairs for models whose catalog entry lists no
            reasoning levels, or that the catalog does not know; ``words`` maps each level
            taken ("none" ... "xhigh") to the vendor's word. First match wins; "" matches all.
        effort_path: where the effort goes: ``("reasoning_effort",)`` or nested keys.
        thinking_off: body fields that turn thinking off on a model with no "none" level.
        echo_reasoning: the assistant-message field the reasoning must come back in.
        quirks: functions that adjust the built ``WirePlan``, in order.
        parser: the stream parser class.
        provider_class: the ``CompatProvider`` subclass built from this row.
        context_errors: lower-case words of the vendor's error type, code or message that
            mark a context overflow (a ``ContextLengthError``).
        sampling: the sampling options it takes (``top_p``, ``top_k``, ``seed``, ``user``,
            ``logprobs``); the others are dropped with an adjustment.
        structured: "strict" (``json_schema`` with ``strict: true``), "json_schema" (no
            strict flag) or "json_object" (JSON mode; the schema goes in the system prompt).
    """

    id: str
    base_url: Optional[str]
    key_env: str
    requires_key: bool = True
    max_tokens_field: str = "max_tokens"
    effort: Tuple[Tuple[str, Mapping[str, str]], ...] = ()
    effort_path: Tuple[str, ...] = ("reasoning_effort",)
    thinking_off: Optional[Mapping[str, Any]] = None
    echo_reasoning: Optional[str] = None
    quirks: Tuple[Quirk, ...] = ()
    parser: Type[CompatParser] = CompatParser
    provider_class: Optional[Type["CompatProvider"]] = None
    context_errors: Tuple[str, ...] = ()
    sampling: FrozenSet[str] = SAMPLING
    structured: str = "json_schema"
    otel_name: Optional[str] = None  # gen_ai.provider.name, when the convention names it
    image_urls: bool = True  # False: the server cannot fetch an image by URL
    unreadable: Optional[Unreadable] = None  # parts a model cannot read, refused before sending


class CompatProvider(ChatCompletionsProvider):
    """A Chat Completions vendor, configured by its ``Vendor`` row."""

    def __init__(self, vendor: Vendor) -> None:
        self.vendor = vendor
        self.id = vendor.id
        self.default_base_url = vendor.base_url
        self.env_keys = (vendor.key_env,)
        self.requires_key = vendor.requires_key
        self.max_tokens_field = vendor.max_tokens_field
        self.sampling = vendor.sampling
        self.structured_mode = vendor.structured
        self.otel_provider_name = vendor.otel_name

    def validate_request(self, request: Request) -> None:
        """Also refuse an image by URL where the server cannot fetch one, and a part the
        model cannot read (the row's ``unreadable``)."""
        super().validate_request(request)
        model = split_model(request.model)[1]
        for position, message in enumerate(request.messages):
            for index, part in enumerate(message.parts):
                url = part.url if isinstance(part, Image) and not self.vendor.image_urls else None
                if url and not url.startswith("data:"):
                    raise InvalidRequestError(
                        f"messages[{position}]: {self.id} cannot fetch an image by URL ({url[:60]!r}); "
                        "pass its bytes: Image.from_path(...) or Image.from_bytes(...)", provider=self.id)
                why = self.vendor.unreadable(model, part) if self.vendor.unreadable else None
                if why:
                    raise InvalidRequestError(f"messages[{position}].content[{index}] is "
                                              f"{type(part).__name__}: {why}", provider=self.id)

    # -- reasoning effort: the catalog first, then the row's prefix rules -----------------

    def effort_words(self, model: str) -> Optional[Dict[str, str]]:
        """The effort levels ``model`` takes (llmsync level -> vendor word), or None when it
        takes none or nobody knows (``reasoning(model).known`` tells which)."""
        meta = self.model_meta(model)
        if meta is not None:
            if meta.reasoning_levels:
                return _same(*meta.reasoning_levels)
            if not meta.supports_reasoning_effort:
                return None
        for prefix, words in self.vendor.effort:
            if model.startswith(prefix):
                return dict(words)
        return None

    def reasoning(self, model: str) -> Reasoning:
        """The row's effort levels; ``known`` is False when neither the catalog nor a row
        rule names them (a model the catalog lacks, or one it says takes an unnamed effort)."""
        meta = self.model_meta(model)
        reasons = bool(meta and meta.supports_reasoning)
        words = self.effort_words(model)
        if words is not None:
            return Reasoning(reasons, True, "effort", tuple(w for w in words if w in LEVEL_ORDER))
        if meta is not None and not meta.supports_reasoning_effort:
            return Reasoning(reasons)
        return UNKNOWN if meta is None else Reasoning(reasons, known=False)

    def apply_reasoning(self, request: Request, model: str, body: Dict[str, Any],
                        adjustments: List[str]) -> None:
        level = request.thinking_level
        if level is None:
            return
        reasoning = self.reasoning(model)
        takes_none = reasoning.known and "none" in (reasoning.levels or ())
        if level is ThinkingLevel.OFF and self.vendor.thinking_off and not takes_none \
                and (reasoning.levels or not reasoning.known):
            body.update(copy.deepcopy(dict(self.vendor.thinking_off)))
            return
        words = self.effort_words(model) or {}
        wire = effort_for(level, reasoning, model, adjustments, "effort", f"{self.id}/{model}", words)
        if wire is None:
            return
        target = body
        for key in self.vendor.effort_path[:-1]:
            target = target.setdefault(key, {})
        target[self.vendor.effort_path[-1]] = words.get(wire, wire)

    # -- request -----------------------------------------------------------------------------

    def build_request(self, request: Request, model: str) -> WirePlan:
        plan = super().build_request(request, model)
        for quirk in self.vendor.quirks:
            quirk(self, request, model, plan)
        return plan

    def wire_message(self, message: Message, system_role: str) -> Dict[str, Any]:
        wire = super().wire_message(message, system_role)
        if message.role is Role.ASSISTANT:
            for block in message.reasoning or ():
                if block.provider == self.id:
                    self.echo_block(block, wire)
        return wire

    def echo_block(self, block: ReasoningBlock, wire: Dict[str, Any]) -> None:
        """Put one of this vendor's reasoning blocks back on an assistant message."""
        if self.vendor.echo_reasoning and block.kind == self.vendor.echo_reasoning:
            wire[block.kind] = block.text

    # -- replies -------------------------------------------------------------------------------

    def describe_error(self, status: int, payload: Any, text: str,
                       headers: Optional[Mapping[str, str]] = None) -> ErrorInfo:
        """OpenAI's error body; also vLLM's unwrapped ``{"object": "error", "message", "type",
        "code"}`` (vllm ``ErrorResponse`` before 0.10), and the row's context-overflow words."""
        if isinstance(payload, dict) and "error" not in payload and isinstance(payload.get("message"), str):
            payload = {"error": payload}
        info = super().describe_error(status, payload, text, headers)
        described = f"{info.error_type or ''} {info.message}".lower()
        if any(marker in described for marker in self.vendor.context_errors):
            info.context_length = True
        return info

    def stream_parser(self, model: str) -> CompatParser:
        return self.priced(self.vendor.parser(self.id, model, self.vendor.echo_reasoning))


class OpenRouterProvider(CompatProvider):
    """OpenRouter, with its optional app attribution headers.

    Register a configured instance to set them in code::

        llmsync.register_provider(OpenRouterProvider(app_url="https://my.app", app_title="My App"))

    Args:
        app_url: sent as ``HTTP-Referer`` (default: ``$OPENROUTER_APP_URL``).
        app_title: sent as ``X-OpenRouter-Title`` and ``X-Title`` (default:
            ``$OPENROUTER_APP_TITLE``).
        vendor: the row to use (default: the ``openrouter`` row of ``VENDORS``).
    """

    def __init__(self, app_url: Optional[str] = None, app_title: Optional[str] = None,
                 vendor: Optional[Vendor] = None) -> None:
        super().__init__(vendor or _row("openrouter"))
        self.app_url = app_url
        self.app_title = app_title

    def attribution_headers(self) -> Dict[str, str]:
        # openrouter.ai/docs/app-attribution: HTTP-Referer identifies the app;
        # "X-OpenRouter-Title ... X-Title is still supported for backwards compatibility".
        url = self.app_url or os.environ.get("OPENROUTER_APP_URL")
        title = self.app_title or os.environ.get("OPENROUTER_APP_TITLE")
        headers = {"HTTP-Referer": url} if url else {}
        if title:
            headers.update({"X-OpenRouter-Title": title, "X-Title": title})
        return headers

    def build_request(self, request: Request, model: str) -> WirePlan:
        plan = super().build_request(request, model)
        plan.headers.update(self.attribution_headers())
        return plan

    def echo_block(self, block: ReasoningBlock, wire: Dict[str, Any]) -> None:
        super().echo_block(block, wire)
        if block.kind.startswith("reasoning.") and block.data:
            try:
                detail = json.loads(block.data)
            except ValueError:
                return
            wire.setdefault("reasoning_details", []).append(detail)


# -- the table -----------------------------------------------------------------------------------

VENDORS: Tuple[Vendor, ...] = (
    # openrouter.ai/docs/use-cases/reasoning-tokens: {"reasoning": {"effort": ...}} with
    # "xhigh", "high", "medium", "low", "minimal" or "none"; OpenRouter maps it per model.
    Vendor("openrouter", "https://openrouter.ai/api/v1", "OPENROUTER_API_KEY",
           effort=(("", _same(*LEVEL_ORDER)),), effort_path=("reasoning", "effort"),
           parser=OpenRouterParser, provider_class=OpenRouterProvider,
           structured="strict"),  # openrouter.ai/docs/structured-outputs: "strict": true
    # xAI API reference: max_tokens is "DEPRECATED in favor of max_completion_tokens".
    # reasoning_effort only on the models the catalog lists levels for: the others
    # answer 400 "does not support parameter reasoningEffort" (docs.x.ai reasoning guide).
    Vendor("xai", "https://api.x.ai/v1", "XAI_API_KEY", otel_name="x_ai", max_tokens_field="max_completion_tokens",
           quirks=(_no_stop_on_reasoning,), sampling=SAMPLING - {"top_k"}),
    # api-docs.deepseek.com/guides/thinking_mode: {"thinking": {"type": "disabled"}} turns
    # thinking off; reasoning_effort "low/high/max"; reasoning_content given during tool
    # calls "must be passed back" in later requests.
    Vendor("deepseek", "https://api.deepseek.com", "DEEPSEEK_API_KEY",
           effort=(("deepseek-v4", {"low": "low", "high": "high", "xhigh": "max"}),),
           thinking_off={"thinking": {"type": "disabled"}}, echo_reasoning="reasoning_content",
           # api-docs.deepseek.com/guides/json_mode: JSON Output is {"type": "json_object"}
           # with the format described in the prompt; the API takes no seed, top_k or user.
           structured="json_object", sampling=frozenset({"top_p", "logprobs"}), unreadable=_deepseek_unreadable),
    # Groq's API added max_completion_tokens in place of max_tokens (groq-python#175);
    # console.groq.com/docs/reasoning: gpt-oss takes low|medium|high, qwen3 none|default.
    # Groq 400s on reasoning_content in assistant messages (agentjido/req_llm#772): no echo.
    Vendor("groq", "https://api.groq.com/openai/v1", "GROQ_API_KEY",
           max_tokens_field="max_completion_tokens",
           effort=(("openai/gpt-oss", _same("low", "medium", "high")),
                   ("qwen/qwen3", {"none": "none", "medium": "default"})),
           # console.groq.com/docs/openai: logprobs and top_logprobs are not supported.
           sampling=frozenset({"top_p", "seed", "user"})),
    # Mistral Small 4: "Reasoning effort supported are only none and high" (SGLang's
    # Mistral-Small-4 cookbook, @ai-sdk/mistral). Mistral answers 422 "extra_forbidden"
    # to max_completion_tokens (editor-code-assistant/eca#231), so max_tokens it is.
    Vendor("mistral", "https://api.mistral.ai/v1", "MISTRAL_API_KEY", otel_name="mistral_ai",
           effort=(("mistral-small-2603", _same("none", "high")),
                   ("mistral-small-latest", _same("none", "high"))),
           quirks=(_mistral_tool_ids, _tool_choice_any, _no_stream_options, _random_seed), parser=MistralParser,
           # 422 "extra_forbidden" on fields it lacks: no top_k, user or logprobs.
           # docs.mistral.ai custom structured outputs: json_schema with "strict": true.
           sampling=frozenset({"top_p", "seed"}), structured="strict"),
    # docs.ollama.com/api/openai-compatibility: no key needed locally. ollama's
    # openai/openai.go reads max_tokens (not max_completion_tokens) and accepts
    # reasoning_effort "high", "medium", "low" or "none" for any model.
    # Its OpenAI-compatible endpoint takes base64 images only, no image URL
    # (github.com/ollama/ollama docs/openai.md, supported request fields).
    Vendor("ollama", "http://localhost:11434/v1", "OLLAMA_API_KEY", requires_key=False, image_urls=False,
           effort=(("", _same("none", "low", "medium", "high")),)),
    # Any Chat Completions server: the base URL is required, a key optional.
    Vendor("openai-compatible", None, "OPENAI_COMPATIBLE_API_KEY", requires_key=False),
    # -- self-hosted servers: no key unless the server was started with one ---------------------
    # docs.vllm.ai OpenAI-compatible server: `vllm serve` listens on port 8000; --api-key or
    # $VLLM_API_KEY makes it check "Authorization: Bearer". Overflow (vllm serving_engine.py):
    # "This model's maximum context length is N tokens. However, your request has M input
    # tokens..." or "'max_tokens' ... is too large: X. This model's maximum context length is
    # N tokens and your request has M input tokens"; older: "... is longer than the maximum
    # model length".
    Vendor("vllm", "http://localhost:8000/v1", "VLLM_API_KEY", requires_key=False,
           context_errors=("maximum context length", "longer than the maximum model length")),
    # llama.cpp tools/server/README.md: llama-server listens on 127.0.0.1:8080; --api-key or
    # $LLAMA_API_KEY. Overflow (server.cpp): {"error": {"code": 400, "type":
    # "exceed_context_size_error", "message": "request (N tokens) exceeds the available
    # context size (M tokens), try increasing it", "n_prompt_tokens", "n_ctx"}}.
    Vendor("llamacpp", "http://localhost:8080/v1", "LLAMA_API_KEY", requires_key=False,
           context_errors=("exceed_context_size_error", "exceeds the available context size")),
    # lmstudio.ai/docs/developer/core/server: port 1234; with "Require Authentication" (0.4+)
    # a token from $LM_API_TOKEN as a Bearer header. Its overflow message says "context length".
    Vendor("lmstudio", "http://localhost:1234/v1", "LM_API_TOKEN", requires_key=False,
           context_errors=("context length", "context the overflows")),
    # -- hosted -----------------------------------------------------------------------------------
    # docs.together.ai OpenAI compatibility: base https://api.together.xyz/v1, $TOGETHER_API_KEY.
    # Overflow: OpenAI's wording, or TGI's "`inputs` tokens + `max_new_tokens` must be <= N".
    Vendor("together", "https://api.together.xyz/v1", "TOGETHER_API_KEY",
           context_errors=("maximum context length", "`max_new_tokens` must be")),
    # docs.fireworks.ai OpenAI compatibility: base https://api.fireworks.ai/inference/v1.
    # Overflow: "The prompt is too long: N, model maximum context length: M".
    Vendor("fireworks", "https://api.fireworks.ai/inference/v1", "FIREWORKS_API_KEY",
           context_errors=("maximum context length", "prompt is too long")),
    # inference-docs.cerebras.ai OpenAI compatibility: base https://api.cerebras.ai/v1;
    # max_completion_tokens; gpt-oss takes reasoning_effort low|medium|high.
    Vendor("cerebras", "https://api.cerebras.ai/v1", "CEREBRAS_API_KEY", max_tokens_field="max_completion_tokens",
           effort=(("gpt-oss", _same("low", "medium", "high")),),
           context_errors=("context_length_exceeded", "maximum context length"), sampling=SAMPLING - {"top_k"}),
    # docs.perplexity.ai: POST https://api.perplexity.ai/chat/completions (no /v1);
    # sources come as top-level "search_results" / "citations" (PerplexityParser).
    Vendor("perplexity", "https://api.perplexity.ai", "PERPLEXITY_API_KEY",
           context_errors=("maximum context length",), parser=PerplexityParser),
)


def _row(vendor_id: str) -> Vendor:
    return next(vendor for vendor in VENDORS if vendor.id == vendor_id)


def providers() -> List[Provider]:
    """One provider per row of ``VENDORS`` (the registry imports this lazily)."""
    return [(vendor.provider_class or CompatProvider)(vendor=vendor) for vendor in VENDORS]
