"""AWS Bedrock Runtime: Converse (``POST /model/{modelId}/converse``) and ConverseStream
(``POST /model/{modelId}/converse-stream``, an AWS event stream).

Wire reference: the Converse and ConverseStream API reference
(docs.aws.amazon.com/bedrock/latest/APIReference/API_runtime_Converse.html) and
botocore's service model ``botocore/data/bedrock-runtime/2023-09-30/service-2.json``,
the shapes botocore itself serialises. Model families take reasoning settings through
``additionalModelRequestFields``: Claude its Anthropic ``thinking`` object, Nova 2
``reasoningConfig``, gpt-oss ``reasoning_effort`` (Bedrock user guide, "Inference
request parameters" per model).

Credentials: a Bedrock API key sent as a Bearer token, else botocore's credential chain
and SigV4 (``bedrock_auth``). botocore is imported only when needed.
"""
import json
import re
from typing import Any, Dict, Iterator, List, Mapping, Optional, Tuple
from urllib.parse import quote

from ..auth import ApiKey, AuthStore
from ..errors import InvalidRequestError, ProviderError
from ..options import Request, ThinkingLevel
from ..types import Response
from .base import ErrorInfo, Provider, StreamParser, WirePlan
from .reasoning import (CLAUDE_LEVEL_EFFORT, Reasoning, claude_effort, claude_reasoning, claude_thinking,
                        effort_for)
from .bedrock_auth import AwsSigner, environment_region
from .bedrock_messages import apply_cache, conversation, tool_config
from .bedrock_stream import BedrockParser, decode_event_stream, is_context_length, require_botocore
from .sampling import unsupported
from .structured_forms import ANTHROPIC, adapt, fallback_instructions, wire_name

__all__ = ["BedrockProvider", "providers"]

PROVIDER_ID = "bedrock"

# Nova 2 maxReasoningEffort and gpt-oss reasoning_effort: low|medium|high (Bedrock user
# guide, inference parameters of each model).
_EFFORT_MODELS = Reasoning(True, True, "effort", ("low", "medium", "high"))

# What a user meets first, and what to do about it (Bedrock user guide, "Troubleshooting
# Amazon Bedrock API error codes"; "Access Amazon Bedrock foundation models").
_HINTS: Tuple[Tuple[str, "re.Pattern[str]", str], ...] = (
    ("AccessDeniedException", re.compile(r"don't have access to the model", re.I),
     "grant access to this model in the Bedrock console (Model access) for this region, and allow "
     "bedrock:InvokeModel (bedrock:InvokeModelWithResponseStream for streams) in IAM"),
    ("ValidationException", re.compile(r"model identifier is invalid", re.I),
     "check the model id and that it is offered in $AWS_REGION: cross-region profiles need a region "
     "of their geography (us.* a US region, eu.* a European one)"),
    ("ValidationException", re.compile(r"on-demand throughput", re.I),
     "this model is served only through an inference profile: use e.g. 'bedrock/us.<model id>' or "
     "'bedrock/global.<model id>'"),
    ("ResourceNotFoundException", re.compile(r".", re.S),
     "check the model id and $AWS_REGION (the model may not be offered in this region)"),
    ("ExpiredTokenException", re.compile(r".", re.S),
     "the AWS session token has expired: renew it ('aws sso login', or a fresh $AWS_SESSION_TOKEN); "
     "llmsync reads the credential chain again on the next request"),
    ("UnrecognizedClientException", re.compile(r".", re.S),
     "check $AWS_ACCESS_KEY_ID / $AWS_SESSION_TOKEN, or the Bedrock API key"),
    ("InvalidSignatureException", re.compile(r".", re.S),
     "check $AWS_SECRET_ACCESS_KEY and that the system clock is right"),
)
# AWS echoes the canonical request (with x-amz-security-token) in signature errors.
_ECHOED_TOKEN = re.compile(r"(x-amz-security-token[:=]\s*)[^\s'\"&]+", re.I)


class BedrockProvider(Provider):
    """AWS Bedrock through the Converse API, for every model Bedrock serves."""

    id = PROVIDER_ID
    otel_provider_name = "aws.bedrock"
    default_base_url = None
    env_keys = ("AWS_BEARER_TOKEN_BEDROCK",)
    # botocore's credential chain may supply credentials when no API key is set.
    requires_key = False
    stream_content_types = ("application/vnd.amazon.eventstream",)

    def __init__(self) -> None:
        self._signer = AwsSigner()

    def base_url_from_environment(self, environ: Mapping[str, str]) -> Optional[str]:
        """``https://bedrock-runtime.{region}.amazonaws.com`` for ``$AWS_REGION``
        (or ``$AWS_DEFAULT_REGION``).

        Raises:
            InvalidRequestError: neither variable is set.
        """
        region = environment_region(environ)
        if region is None:
            raise InvalidRequestError(
                "no AWS region for 'bedrock': set $AWS_REGION (or $AWS_DEFAULT_REGION), e.g. "
                "AWS_REGION=us-east-1, or pass base_urls={'bedrock': "
                "'https://bedrock-runtime.us-east-1.amazonaws.com'}", provider=self.id)
        return f"https://bedrock-runtime.{region}.amazonaws.com"

    # -- auth --------------------------------------------------------------------------------

    def resolve_auth(self, auth_store: AuthStore) -> Optional[ApiKey]:
        """The Bedrock API key, or None when botocore's credential chain will sign instead.

        Raises:
            AuthenticationError: neither an API key nor AWS credentials are found.
        """
        key = super().resolve_auth(auth_store)
        if key is None:
            self._signer.credentials()
        return key

    def auth_headers(self, key: Optional[ApiKey]) -> Dict[str, str]:
        """``Authorization: Bearer`` for a Bedrock API key; nothing for SigV4 (signed per attempt)."""
        return {"Authorization": f"Bearer {key.reveal()}"} if key is not None else {}

    def sign_request(self, key: Optional[ApiKey], url: str, headers: Mapping[str, str],
                     body: bytes) -> Dict[str, str]:
        """SigV4 headers for this attempt's exact body, unless a Bedrock API key is used."""
        if key is not None:
            return {}
        return self._signer.sign(url, headers, body)

    def credential_headers(self, auth_store: AuthStore) -> Tuple[str, ...]:
        """``Authorization`` for a Bedrock API key, else the SigV4 headers, named without
        resolving credentials or signing.

        ``X-Amz-Security-Token`` is named when the environment holds temporary credentials
        (botocore's first provider reads ``AWS_SESSION_TOKEN`` or ``AWS_SECURITY_TOKEN``
        beside ``AWS_ACCESS_KEY_ID``); whether a profile, SSO or a role yields one is known
        only once the chain is resolved, which explain() does not do.
        """
        if auth_store.get(self.id, self.env_keys, strict=False) is not None:
            return ("Authorization",)
        environ = auth_store.environ
        temporary = environ.get("AWS_ACCESS_KEY_ID") and (
            environ.get("AWS_SESSION_TOKEN") or environ.get("AWS_SECURITY_TOKEN"))
        return ("Authorization", "X-Amz-Date") + (("X-Amz-Security-Token",) if temporary else ())

    # -- request -----------------------------------------------------------------------------

    def validate_request(self, request: Request) -> None:
        super().validate_request(request)
        choice, level = request.tool_choice, request.thinking_level
        model = request.model.split("/", 1)[-1]
        claude = _claude(model)
        if (choice is not None and choice.forces_tool and level not in (None, ThinkingLevel.OFF)
                and claude is not None and claude[0].reasoning(claude[1]).style is not None):
            raise InvalidRequestError(
                f"tool_choice {choice.mode!r} forces a tool call, which Claude rejects while thinking is on "
                f"(thinking={level.value!r}); use tool_choice='auto' or thinking='off'", provider=self.id)
        if request.stream:
            require_botocore("a Bedrock stream (its AWS event-stream decoder)")

    def build_request(self, request: Request, model: str) -> WirePlan:
        adjustments: List[str] = []
        system, turns = conversation(request, self.id)
        body: Dict[str, Any] = {"messages": turns}
        if system:
            body["system"] = system
        inference: Dict[str, Any] = {}
        if request.max_tokens is not None:
            inference["maxTokens"] = request.max_tokens
        if request.stop:
            inference["stopSequences"] = list(request.stop)
        self._apply_reasoning(request, model, body, inference, adjustments)
        if request.temperature is not None:
            if "thinking" in body.get("additionalModelRequestFields", {}):
                adjustments.append("temperature dropped: Claude does not allow it with thinking on")
            else:
                inference["temperature"] = request.temperature
        self._apply_sampling(request, model, body, inference, adjustments)
        if inference:
            body["inferenceConfig"] = inference
        tools = tool_config(request, turns, adjustments)
        if tools is not None:
            body["toolConfig"] = tools
        self._apply_format(request, body, adjustments)
        if request.cache is not None:
            apply_cache(request.cache, body, adjustments)
        if request.effort is not None and "effort" not in body.get("outputConfig", {}):
            self._apply_effort(request.effort.value, model, body, adjustments)
        operation = "converse-stream" if request.stream else "converse"
        # botocore percent-encodes the whole model id (":" of "...-v1:0", "/" of an ARN).
        return WirePlan(f"/model/{quote(model, safe='')}/{operation}", body, {}, adjustments)

    def _apply_format(self, request: Request, body: Dict[str, Any], adjustments: List[str]) -> None:
        """``outputConfig.textFormat`` (OutputFormat: ``json_schema``, the schema as a string).

        A type's schema gets the JSON Schema limits of Claude's structured outputs (which
        Bedrock documents for its models too); one that does not fit goes in the system
        prompt instead.
        """
        value = request.response_format
        if not isinstance(value, dict):
            if value is not None:
                adjustments.append('response_format "json" ignored: Bedrock Converse takes only a JSON Schema')
            return
        schema: Optional[Dict[str, Any]] = value
        if request.structured_output is not None:
            schema, notes = adapt(value, ANTHROPIC)
            adjustments.extend(notes)
        if schema is None:
            adjustments.append("response_format sent as instructions in the system prompt: the schema does not fit")
            body.setdefault("system", []).append({"text": fallback_instructions(value)})
            return
        body.setdefault("outputConfig", {})["textFormat"] = {
            "type": "json_schema",
            "structure": {"jsonSchema": {"schema": json.dumps(schema), "name": wire_name(schema)}}}

    def _apply_sampling(self, request: Request, model: str, body: Dict[str, Any], inference: Dict[str, Any],
                        adjustments: List[str]) -> None:
        """``inferenceConfig.topP``; ``top_k`` only for Claude, as a model field
        (``additionalModelRequestFields.top_k``, Bedrock's Anthropic parameters page).
        Converse has no seed, end-user id or logprobs."""
        unsupported(request, ("seed", "user", "logprobs"), "Bedrock Converse", adjustments)
        if request.top_p is not None:
            inference["topP"] = request.top_p
        if request.top_k is not None:
            if _claude(model) is None:
                adjustments.append(f"top_k dropped: Bedrock Converse takes it only for Claude, not {model}")
            elif "thinking" in body.get("additionalModelRequestFields", {}):
                adjustments.append("top_k dropped: Claude does not allow it with thinking on")
            else:
                body.setdefault("additionalModelRequestFields", {})["top_k"] = request.top_k

    def _apply_reasoning(self, request: Request, model: str, body: Dict[str, Any],
                         inference: Dict[str, Any], adjustments: List[str]) -> None:
        level = request.thinking_level
        if level is None:
            return
        if "openai.gpt-oss" in model:
            # gpt-oss cannot stop reasoning: off is clamped to "low", with a note.
            effort = effort_for(level, _EFFORT_MODELS, model, adjustments)
            body["additionalModelRequestFields"] = {"reasoning_effort": effort}
        elif level is ThinkingLevel.OFF:
            return  # Claude and Nova 2 do not reason unless asked to
        elif _claude(model) is not None:
            self._claude_thinking(request, model, level, body, inference, adjustments)
        elif "amazon.nova-2" in model:
            effort = effort_for(level, _EFFORT_MODELS, model, adjustments, "maxReasoningEffort")
            body["additionalModelRequestFields"] = {
                "reasoningConfig": {"type": "enabled", "maxReasoningEffort": effort}}
        else:
            adjustments.append(f"thinking {level.value!r} ignored: llmsync does not know how {model} takes a "
                               "reasoning setting on Bedrock (pass it in extra={'additionalModelRequestFields': "
                               "...})")

    def _apply_effort(self, effort: str, model: str, body: Dict[str, Any], adjustments: List[str],
                      source: str = "effort") -> None:
        """``outputConfig.effort`` for the Claude models that take one, clamped to the levels the
        model has by the Anthropic family's rules."""
        reasoning = self._claude_reasoning(model)
        if reasoning is None or (reasoning.known and not reasoning.levels):
            adjustments.append(f"{source} ignored: {model} takes no effort setting on Bedrock")
            return
        chosen = claude_effort(effort, reasoning, model, source, adjustments)
        if chosen is not None:
            body.setdefault("outputConfig", {})["effort"] = chosen

    def _claude_reasoning(self, model: str) -> Optional[Reasoning]:
        """The Claude family's rules for a Claude model id or profile, else None."""
        claude = _claude(model)
        return claude[0].reasoning(claude[1]) if claude is not None else None

    def _claude_thinking(self, request: Request, model: str, level: ThinkingLevel, body: Dict[str, Any],
                         inference: Dict[str, Any], adjustments: List[str]) -> None:
        """Claude's own ``thinking`` object, chosen by the Anthropic family's rules."""
        claude, claude_id = _claude(model) or (None, model)
        reasoning = claude.reasoning(claude_id) if claude is not None else claude_reasoning(model, None)
        meta = self.model_meta(model) or (claude.model_meta(claude_id) if claude is not None else None)
        thinking, max_tokens = claude_thinking(
            level, reasoning, model, inference.get("maxTokens", 0), request.max_tokens is not None,
            getattr(meta, "max_output_tokens", None), adjustments)
        if thinking is None:
            return
        body["additionalModelRequestFields"] = {"thinking": thinking}
        if thinking["type"] == "enabled":
            inference["maxTokens"] = max_tokens
        elif request.effort is None:
            self._apply_effort(CLAUDE_LEVEL_EFFORT[level], model, body, adjustments, f"thinking {level.value!r}")

    # -- replies -----------------------------------------------------------------------------

    def stream_parser(self, model: str) -> StreamParser:
        return BedrockParser(self.id, model)

    def parse_response(self, body: Any, model: str) -> Response:
        """A Converse body, replayed through the stream parser."""
        if not isinstance(body, dict) or not isinstance((body.get("output") or {}).get("message"), dict):
            raise ProviderError(f"unexpected reply body: {str(body)[:200]!r}", provider=self.id)
        return BedrockParser(self.id, model).replay(body)

    def decode_stream(self, chunks: Iterator[bytes]) -> Iterator[Tuple[str, str]]:
        """AWS event-stream frames as ``(event type, JSON payload)`` (botocore's decoder)."""
        return decode_event_stream(chunks, self.id)

    def describe_error(self, status: int, payload: Any, text: str,
                       headers: Optional[Mapping[str, str]] = None) -> ErrorInfo:
        """The type from ``x-amzn-errortype`` (``Type:http://...``) or the body's ``__type``;
        the message from ``message``/``Message``."""
        error_type = _header(headers, "x-amzn-errortype")
        body = payload if isinstance(payload, dict) else {}
        if not error_type and body.get("__type"):
            error_type = str(body["__type"]).rsplit("#", 1)[-1]  # "com.amazon.coral...#Type"
        error_type = error_type.split(":", 1)[0].strip() if error_type else None
        message = str(body.get("message") or body.get("Message") or text[:500] or f"HTTP {status}")
        message = _ECHOED_TOKEN.sub(r"\1***", message.split("\n\n", 1)[0])
        retry_with_fresh_credentials = None
        if error_type == "ExpiredTokenException" or "security token included in the request is expired" in message:
            error_type = error_type or "ExpiredTokenException"
            # Read the credential chain again and retry once; expired again: report it.
            retry_with_fresh_credentials = self._signer.forget()
        for kind, pattern, hint in _HINTS:
            if kind == error_type and pattern.search(message):
                message = f"{message} ({error_type}: {hint})"
                break
        else:
            if error_type:
                message = f"{message} ({error_type})"
        context = error_type in ("ValidationException", None) and is_context_length(message)
        authentication = error_type in ("ExpiredTokenException", "UnrecognizedClientException",
                                        "InvalidSignatureException")
        return ErrorInfo(message, error_type, context, authentication, retryable=retry_with_fresh_credentials)


def _claude(model: str) -> Optional[Tuple[Any, str]]:
    """(the Anthropic provider, the Anthropic model id) for a Claude model id or inference
    profile (``us.anthropic.claude-sonnet-4-5-20250929-v1:0``), else None. The Claude
    family's reasoning rules live in ``anthropic``; Bedrock only wraps them."""
    position = model.find("anthropic.claude")
    if position < 0:
        return None
    from .anthropic import AnthropicProvider

    return AnthropicProvider(), model[position + len("anthropic."):]


def _header(headers: Optional[Mapping[str, str]], name: str) -> Optional[str]:
    if not headers:
        return None
    value = headers.get(name)
    if value is None:  # a plain dict is case-sensitive; requests' headers are not
        value = next((v for k, v in headers.items() if k.lower() == name), None)
    return value


def providers() -> List[Provider]:
    return [BedrockProvider()]
