"""Google Gemini API (generativelanguage ``v1beta``): ``models/{model}:generateContent``
and ``:streamGenerateContent?alt=sse``.

Wire reference: ai.google.dev/api/generate-content (REST), the thought-signature guide
ai.google.dev/gemini-api/docs/thought-signatures, and googleapis/python-genai
``google/genai/types.py`` for the enums (FunctionCallingConfigMode, ThinkingLevel). Replies
are read in ``gemini_stream.py``.
"""
import json
from typing import Any, Dict, List, Mapping, Optional

from ..auth import ApiKey
from ..errors import InvalidRequestError
from ..options import Request
from ..types import Document, Image, Message, ReasoningBlock, Role, Text, ToolChoice, ToolDefinition
from .base import ErrorInfo, Provider, WirePlan, split_data_url
from .gemini_schema import json_schema
from .gemini_stream import FINISH_REASONS, PROVIDER_ID, SERVER_PARTS, GeminiParser, parse_usage
from .reasoning import Reasoning, gemini_reasoning, gemini_thinking_config
from .sampling import unsupported

__all__ = ["GeminiProvider", "GeminiParser", "providers", "parse_usage", "FINISH_REASONS"]

_TOOL_MODES = {"auto": "AUTO", "none": "NONE", "any": "ANY"}

# Documented placeholder for a functionCall Gemini did not produce (history from another
# model, injected calls): "skip_thought_signature_validator" (thought-signatures FAQ).
DUMMY_SIGNATURE = "skip_thought_signature_validator"


def _sampling(request: Request, config: Dict[str, Any], adjustments: List[str]) -> None:
    """GenerationConfig ``topP``, ``topK``, ``seed``, ``responseLogprobs`` + ``logprobs``
    (the number of top candidates per step); Gemini has no end-user id."""
    unsupported(request, ("user",), "Gemini", adjustments)
    for name, wire in (("top_p", "topP"), ("top_k", "topK"), ("seed", "seed")):
        if getattr(request, name) is not None:
            config[wire] = getattr(request, name)
    if request.logprobs:
        config["responseLogprobs"] = True
        if request.top_logprobs is not None:
            config["logprobs"] = request.top_logprobs


class GeminiProvider(Provider):
    """The Gemini Developer API, keyed by ``x-goog-api-key``."""

    id = PROVIDER_ID
    otel_provider_name = "gcp.gemini"
    default_base_url = "https://generativelanguage.googleapis.com/v1beta"
    env_keys = ("GEMINI_API_KEY", "GOOGLE_API_KEY")

    def auth_headers(self, key: Optional[ApiKey]) -> Dict[str, str]:
        # The header, never ?key=: URLs end up in logs and proxies.
        return {"x-goog-api-key": key.reveal()} if key else {}

    # -- model knowledge (catalog first, then id rules) -----------------------------------

    def reasoning(self, model: str) -> Reasoning:
        """Thinking style ("level": Gemini 3 ``thinkingLevel``, "budget": 2.5
        ``thinkingBudget``, or None) and levels (``reasoning.gemini_reasoning``)."""
        return gemini_reasoning(model, self.model_meta(model))

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
        if request.effort is not None:
            adjustments.append(f"effort {request.effort.value!r} dropped: Gemini has no effort setting "
                               "(Anthropic's); thinking= sets thinkingConfig")
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
        _sampling(request, config, adjustments)
        if request.response_format is not None:
            config["responseMimeType"] = "application/json"
            if isinstance(request.response_format, dict):
                config["responseJsonSchema"] = json_schema(request.response_format)
        thinking = gemini_thinking_config(request.thinking_level, self.reasoning(model), model, adjustments)
        if thinking:
            config["thinkingConfig"] = thinking
        return config

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
        mine = [b for b in message.reasoning or () if b.provider == self.id]
        blocks = [b for b in mine if b.signature and b.kind not in SERVER_PARTS]
        parts = [_signed({"text": b.text, "thought": True}, b.signature) for b in blocks if b.kind == "thought"]
        parts += [part for part in map(_recorded_part, mine) if part is not None]  # code execution
        text_signatures = [b.signature for b in blocks if b.kind != "thought"]
        if message.text:
            parts.append(_signed({"text": message.text}, text_signatures.pop(0) if text_signatures else None))
        for index, call in enumerate(message.tool_calls or ()):
            signature = call.signature
            # Gemini 3 rejects a step whose first functionCall has no signature (400).
            if index == 0 and not signature and self.reasoning(model).style == "level":
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

    def stream_parser(self, model: str) -> GeminiParser:
        return self.priced(GeminiParser(self.id, model))

    def describe_error(self, status: int, payload: Any, text: str,
                       headers: Optional[Mapping[str, str]] = None) -> ErrorInfo:
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


def _recorded_part(block: ReasoningBlock) -> Optional[Dict[str, Any]]:
    """A kept ``executableCode``/``codeExecutionResult`` part, as it came."""
    if block.kind not in SERVER_PARTS:
        return None
    try:
        part = json.loads(block.data or "")
    except ValueError:
        return None
    return part if isinstance(part, dict) else None


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
            mime = part.media_type or _media_type_of(part.url)
            file_data = {"mimeType": mime, "fileUri": part.url} if mime else {"fileUri": part.url}
            return {"fileData": file_data}
    raise InvalidRequestError(f"unsupported content part {part!r}")


# A file URI's media type when the part names none (mimetypes.guess_type would read the
# system's mime.types: a provider does no I/O).
_MEDIA_TYPES = {".png": "image/png", ".jpg": "image/jpeg", ".jpeg": "image/jpeg", ".webp": "image/webp",
                ".gif": "image/gif", ".heic": "image/heic", ".pdf": "application/pdf"}


def _media_type_of(url: str) -> Optional[str]:
    path = url.split("?", 1)[0].lower()
    return next((media for suffix, media in _MEDIA_TYPES.items() if path.endswith(suffix)), None)


def _data_url(url: str) -> Dict[str, str]:
    media_type, data = split_data_url(url, "Gemini")
    return {"mimeType": media_type, "data": data}


def providers() -> List[Provider]:
    return [GeminiProvider()]
