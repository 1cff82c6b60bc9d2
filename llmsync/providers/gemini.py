"""Google Gemini API (generativelanguage ``v1beta``): ``models/{model}:generateContent``
and ``:streamGenerateContent?alt=sse``.

Wire reference: ai.google.dev/api/generate-content (REST), the thought-signature guide
ai.google.dev/gemini-api/docs/thought-signatures, and googleapis/python-genai
``google/genai/types.py`` for the enums (FinishReason, FunctionCallingConfigMode,
ThinkingLevel).
"""
import json
import mimetypes
import uuid
from typing import Any, Dict, List, Optional, Tuple

from ..auth import ApiKey
from ..errors import InvalidRequestError, ProviderError
from ..events import Event
from ..options import Request, ThinkingLevel
from ..types import (
    Document, FinishReason, Image, Message, ReasoningBlock, Response, Role, Text, ToolChoice,
    ToolDefinition, Usage,
)
from .base import ErrorInfo, Provider, StreamParser, WirePlan
from .gemini_schema import json_schema
from .base import clamp_level

__all__ = ["GeminiProvider", "GeminiParser", "providers", "parse_usage", "FINISH_REASONS"]

PROVIDER_ID = "gemini"

FINISH_REASONS = {"STOP": FinishReason.STOP, "MAX_TOKENS": FinishReason.LENGTH}
FINISH_REASONS.update((name, FinishReason.CONTENT_FILTER) for name in (
    "SAFETY", "RECITATION", "BLOCKLIST", "PROHIBITED_CONTENT", "SPII", "IMAGE_SAFETY",
    "IMAGE_PROHIBITED_CONTENT", "IMAGE_RECITATION", "MODEL_ARMOR"))
# Every other finishReason (OTHER, LANGUAGE, MALFORMED_FUNCTION_CALL, UNEXPECTED_TOOL_CALL,
# TOO_MANY_TOOL_CALLS, values added later) is an abnormal stop: FinishReason.ERROR.

_TOOL_MODES = {"auto": "AUTO", "none": "NONE", "any": "ANY"}

# Documented placeholder for a functionCall Gemini did not produce (history from another
# model, injected calls): "skip_thought_signature_validator" (thought-signatures FAQ).
DUMMY_SIGNATURE = "skip_thought_signature_validator"

# thinkingBudget per ThinkingLevel, clamped into the model's range below.
_BUDGETS = {ThinkingLevel.MINIMAL: 512, ThinkingLevel.LOW: 1024, ThinkingLevel.MEDIUM: 8192,
            ThinkingLevel.HIGH: 24576, ThinkingLevel.XHIGH: 32768}

# Gemini 2.5 thinkingBudget ranges (ai.google.dev/gemini-api/docs/thinking, "Set budget"):
# (id fragment, lowest budget, highest budget, whether 0 turns thinking off).
_BUDGET_RANGES: List[Tuple[str, int, int, bool]] = [
    ("pro", 128, 32768, False),
    ("flash-lite", 512, 24576, True),
    ("flash", 1, 24576, True),
    ("", 1, 24576, True),
]

# Gemini 3 thinkingLevel values for ids the catalog does not know (docs/thinking,
# "Thinking levels"): 3 Pro takes low|high, later Pros low|medium|high, Flash all four.
_LEVEL_RULES: List[Tuple[str, List[str]]] = [
    ("gemini-3-pro", ["low", "high"]),
    ("pro", ["low", "medium", "high"]),
    ("", ["minimal", "low", "medium", "high"]),
]

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
    error = error if isinstance(error, dict) else {"message": str(error)}
    status = error.get("status")
    return ProviderError(
        f"error in reply: {error.get('message') or error}",
        provider=provider,
        error_type=str(status) if status else None,
        retryable=status in _RETRYABLE_STATUSES,
    )


class GeminiParser(StreamParser):
    """``GenerateContentResponse`` chunks: whole parts, whole function calls, cumulative usage.

    The SSE stream has no end marker (no ``[DONE]``): a ``finishReason`` or a
    ``promptFeedback.blockReason`` marks it complete.
    """

    def __init__(self, provider: str, model: str) -> None:
        super().__init__(provider, model)
        self._thought: List[str] = []
        self._calls = 0

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
        builder.id = builder.id or chunk.get("responseId")
        builder.model = chunk.get("modelVersion") or builder.model
        out: List[Event] = []
        candidates = chunk.get("candidates") or []
        if candidates:
            candidate = candidates[0]
            for part in (candidate.get("content") or {}).get("parts") or ():
                out.extend(self._part(part))
            if candidate.get("finishReason"):
                self._finish(candidate["finishReason"], candidate.get("finishMessage"))
        feedback = chunk.get("promptFeedback") or {}
        if feedback.get("blockReason"):
            builder.finish_reason = FinishReason.CONTENT_FILTER
            detail = feedback.get("blockReasonMessage")
            builder.error_message = f"Gemini blocked the prompt: {feedback['blockReason']}" + (
                f" ({detail})" if detail else "")
            self.complete = True
        usage = parse_usage(chunk.get("usageMetadata"))
        if usage is not None and usage != builder.usage:  # cumulative: the last one wins
            out.append(builder.set_usage(usage))
        return out

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
                self._keep(ReasoningBlock("".join(self._thought), signature, kind="thought", provider=PROVIDER_ID))
                self._thought = []
            return out
        if signature:
            # A signature on a text part (often an empty one closing the stream) belongs
            # to that part; the text itself is already in the visible content.
            self._keep(ReasoningBlock("", signature, kind="text", provider=PROVIDER_ID))
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


class GeminiProvider(Provider):
    """The Gemini Developer API, keyed by ``x-goog-api-key``."""

    id = PROVIDER_ID
    default_base_url = "https://generativelanguage.googleapis.com/v1beta"
    env_keys = ("GEMINI_API_KEY", "GOOGLE_API_KEY")

    def auth_headers(self, key: Optional[ApiKey]) -> Dict[str, str]:
        # The header, never ?key=: URLs end up in logs and proxies.
        return {"x-goog-api-key": key.reveal()} if key else {}

    # -- model knowledge (catalog first, then id rules) -----------------------------------

    def thinking_style(self, model: str) -> Optional[str]:
        """"level" (Gemini 3 ``thinkingLevel``), "budget" (2.5 ``thinkingBudget``) or None."""
        meta = self.model_meta(model)
        if meta is not None:
            return meta.thinking_style if meta.thinking_style in ("level", "budget") else None
        if model.startswith("gemini-3"):
            return "level"
        if model.startswith("gemini-2.5"):
            return "budget"
        return None

    def thinking_levels(self, model: str) -> List[str]:
        """The ``thinkingLevel`` values a Gemini 3 model takes."""
        meta = self.model_meta(model)
        if meta is not None and meta.reasoning_levels:
            return list(meta.reasoning_levels)
        return next(levels for fragment, levels in _LEVEL_RULES if fragment in model)

    def supports_reasoning(self, model: str) -> bool:
        return self.thinking_style(model) is not None

    def supports_reasoning_effort(self, model: str) -> bool:
        return self.thinking_style(model) == "level"

    # -- request ----------------------------------------------------------------------------

    def build_request(self, request: Request, model: str) -> WirePlan:
        adjustments: List[str] = []
        body: Dict[str, Any] = {"contents": self.wire_contents(request, model, adjustments)}
        system = [{"text": text} for text in _system_texts(request) if text]
        if system:
            body["systemInstruction"] = {"parts": system}
        tools = request.tool_definitions
        if tools:
            body["tools"] = [{"functionDeclarations": [_declaration(t) for t in tools]}]
        if request.tool_choice is not None:
            body["toolConfig"] = {"functionCallingConfig": _calling_config(request.tool_choice)}
        config = request.parallel_tool_config
        if request.parallel_tool_calls is False or (config and config.disable_parallel_tool_use):
            adjustments.append("Gemini has no switch to turn off parallel function calls; ignored")
        generation = self.generation_config(request, model, adjustments)
        if generation:
            body["generationConfig"] = generation
        method = "streamGenerateContent?alt=sse" if request.stream else "generateContent"
        return WirePlan(f"/models/{model}:{method}", body, {}, adjustments)

    def generation_config(self, request: Request, model: str, adjustments: List[str]) -> Dict[str, Any]:
        config: Dict[str, Any] = {}
        if request.max_tokens is not None:
            config["maxOutputTokens"] = request.max_tokens
        if request.temperature is not None:
            config["temperature"] = request.temperature
        if request.stop:
            config["stopSequences"] = list(request.stop)
        if request.response_format is not None:
            config["responseMimeType"] = "application/json"
            if isinstance(request.response_format, dict):
                config["responseJsonSchema"] = json_schema(request.response_format)
        thinking = self.thinking_config(request.thinking_level, model, adjustments)
        if thinking:
            config["thinkingConfig"] = thinking
        return config

    def thinking_config(self, level: Optional[ThinkingLevel], model: str,
                        adjustments: List[str]) -> Optional[Dict[str, Any]]:
        """``thinkingLevel`` on Gemini 3, ``thinkingBudget`` on 2.5, never both.

        "Gemini 2.5 series models don't support thinkingLevel; use thinkingBudget
        instead" (docs/thinking). ``includeThoughts`` asks for thought summaries.
        """
        style = self.thinking_style(model)
        if style is None:
            if level not in (None, ThinkingLevel.OFF):
                adjustments.append(f"thinking {level.value!r} ignored: {model} has no thinking setting")
            return None
        if level is None:
            return {"includeThoughts": True}
        if style == "level":
            wire = clamp_level(level, self.thinking_levels(model))
            if wire != level.value:
                adjustments.append(f"thinking {level.value!r} is not available on {model}; "
                                   f"sent thinkingLevel {wire!r}")
            return {"thinkingLevel": wire, "includeThoughts": True}
        low, high, can_disable = next(r[1:] for r in _BUDGET_RANGES if r[0] in model)
        if level is ThinkingLevel.OFF:
            if can_disable:
                return {"thinkingBudget": 0}
            adjustments.append(f"thinking cannot be turned off on {model}; sent the minimum "
                               f"thinkingBudget {low}")
            return {"thinkingBudget": low, "includeThoughts": True}
        wanted = _BUDGETS[level]
        budget = min(max(wanted, low), high)
        if budget != wanted:
            adjustments.append(f"thinking {level.value!r} ({wanted} tokens) is outside {model}'s "
                               f"thinkingBudget range {low}..{high}; sent {budget}")
        return {"thinkingBudget": budget, "includeThoughts": True}

    def wire_contents(self, request: Request, model: str, adjustments: List[str]) -> List[Dict[str, Any]]:
        """``contents``: user/model turns; the tool responses of one step share one user turn."""
        contents: List[Dict[str, Any]] = []
        call_names: Dict[str, str] = {}
        responses: Optional[Dict[str, Any]] = None  # the user turn collecting functionResponses
        for position, message in enumerate(request.messages):
            if message.role is Role.SYSTEM:
                continue
            if message.role is Role.TOOL:
                part = _function_response(message, call_names, position)
                if responses is None:
                    responses = {"role": "user", "parts": []}
                    contents.append(responses)
                responses["parts"].append(part)
                continue
            responses = None
            if message.role is Role.ASSISTANT:
                for call in message.tool_calls or ():
                    call_names[call.id] = call.name
                parts = self.model_parts(message, model, position, adjustments)
                if parts:
                    contents.append({"role": "model", "parts": parts})
            else:
                contents.append({"role": "user", "parts": [_user_part(p) for p in message.parts]})
        return contents

    def model_parts(self, message: Message, model: str, position: int,
                    adjustments: List[str]) -> List[Dict[str, Any]]:
        """An assistant message as model parts, each signature back on its own kind of part."""
        blocks = [b for b in message.reasoning or () if b.provider == PROVIDER_ID and b.signature]
        parts = [_signed({"text": b.text, "thought": True}, b.signature) for b in blocks if b.kind == "thought"]
        text_signatures = [b.signature for b in blocks if b.kind != "thought"]
        if message.text:
            parts.append(_signed({"text": message.text}, text_signatures.pop(0) if text_signatures else None))
        for index, call in enumerate(message.tool_calls or ()):
            signature = call.signature
            # Gemini 3 rejects a step whose first functionCall has no signature (400).
            if index == 0 and not signature and self.thinking_style(model) == "level":
                signature = DUMMY_SIGNATURE
                adjustments.append(f"messages[{position}]: tool call {call.name!r} has no "
                                   f"thoughtSignature (not made by Gemini?); sent {DUMMY_SIGNATURE!r}")
            parts.append(_signed({"functionCall": {"id": call.id, "name": call.name,
                                                   "args": call.parsed_arguments()}}, signature))
        # "the model may return the thought signature in a part with an empty text content
        # part" (thought-signatures FAQ): send such signatures back the same way.
        parts.extend({"text": "", "thoughtSignature": s} for s in text_signatures)
        return parts

    # -- responses --------------------------------------------------------------------------

    def stream_parser(self, model: str) -> StreamParser:
        return GeminiParser(self.id, model)

    def parse_response(self, body: Any, model: str) -> Response:
        """A whole ``generateContent`` reply, through the same parser a stream uses."""
        chunks = body if isinstance(body, list) else [body]
        if not chunks or not all(isinstance(c, dict) for c in chunks):
            raise ProviderError(f"unexpected reply body: {str(body)[:200]!r}", provider=self.id)
        if not any("error" in c or "candidates" in c or "promptFeedback" in c for c in chunks):
            raise ProviderError(f"unexpected reply body: {str(body)[:200]!r}", provider=self.id)
        parser = GeminiParser(self.id, model)
        for chunk in chunks:
            parser.feed_chunk(chunk)
        return parser.builder.build()

    def describe_error(self, status: int, payload: Any, text: str) -> ErrorInfo:
        """Google's ``{"error": {"code", "message", "status", "details"}}`` body.

        The ``status`` ("INVALID_ARGUMENT", "RESOURCE_EXHAUSTED", ...) becomes
        ``error_type``. An invalid key comes back as 400 INVALID_ARGUMENT with the reason
        ``API_KEY_INVALID`` in ``details``; that reason becomes the ``error_type``.
        """
        if isinstance(payload, list) and payload:  # the non-SSE stream wraps it in an array
            payload = payload[0]
        error = payload.get("error") if isinstance(payload, dict) else None
        if not isinstance(error, dict):
            return super().describe_error(status, payload, text)
        message = str(error.get("message") or text[:500])
        if "API_KEY_INVALID" in _reasons(error) or message.startswith("API key not valid"):
            return ErrorInfo(f"{message} (API_KEY_INVALID: check $GEMINI_API_KEY or $GOOGLE_API_KEY)",
                             "API_KEY_INVALID", authentication=True)
        # "The input token count (N) exceeds the maximum number of tokens allowed (M)."
        context = "input token count" in message and "exceeds the maximum" in message
        return ErrorInfo(message, str(error.get("status") or "") or None, context)


def _reasons(error: Dict[str, Any]) -> List[str]:
    details = error.get("details")
    return [str(d.get("reason")) for d in details if isinstance(d, dict)] if isinstance(details, list) else []


def _system_texts(request: Request) -> List[str]:
    texts = [request.system_prompt or ""]
    texts += [m.text for m in request.messages if m.role is Role.SYSTEM]
    return texts


def _declaration(tool: ToolDefinition) -> Dict[str, Any]:
    declaration: Dict[str, Any] = {"name": tool.name}
    if tool.description:
        declaration["description"] = tool.description
    declaration["parametersJsonSchema"] = json_schema(tool.parameters)
    return declaration


def _calling_config(choice: ToolChoice) -> Dict[str, Any]:
    if choice.mode == "function":
        return {"mode": "ANY", "allowedFunctionNames": [choice.name]}
    return {"mode": _TOOL_MODES[choice.mode]}


def _signed(part: Dict[str, Any], signature: Optional[str]) -> Dict[str, Any]:
    if signature:
        part["thoughtSignature"] = signature
    return part


def _function_response(message: Message, call_names: Dict[str, str], position: int) -> Dict[str, Any]:
    name = call_names.get(message.tool_call_id or "") or message.name
    if not name:
        raise InvalidRequestError(
            f"messages[{position}] answers tool call {message.tool_call_id!r}, but no earlier "
            "assistant message made a call with that id; Gemini needs the function's name"
        )
    # FunctionResponse.response must be an object: 'Use "output" key to specify function
    # output and "error" key to specify error details' (v1beta FunctionResponse).
    return {"functionResponse": {"id": message.tool_call_id, "name": name,
                                 "response": {"output": message.text}}}


def _user_part(part: Any) -> Dict[str, Any]:
    if isinstance(part, Text):
        return {"text": part.text}
    if isinstance(part, (Image, Document)):
        default = "image/png" if isinstance(part, Image) else "application/pdf"
        if part.data is not None:
            return {"inlineData": {"mimeType": part.media_type or default, "data": part.data}}
        if part.url and part.url.startswith("data:"):
            return {"inlineData": _data_url(part.url)}
        if part.url:
            mime = part.media_type or mimetypes.guess_type(part.url)[0]
            file_data = {"mimeType": mime, "fileUri": part.url} if mime else {"fileUri": part.url}
            return {"fileData": file_data}
    raise InvalidRequestError(f"unsupported content part {part!r}")


def _data_url(url: str) -> Dict[str, str]:
    head, _, data = url.partition(",")
    if not head.endswith(";base64"):
        raise InvalidRequestError(f"Gemini takes base64 data URLs only, got {url[:40]!r}...")
    return {"mimeType": head[len("data:"):-len(";base64")] or "application/octet-stream", "data": data}


def providers() -> List[Provider]:
    return [GeminiProvider()]
