"""The provider contract: a ``Request`` in, a wire request out; wire data in, events out.

A provider never does I/O, never sleeps and never retries (``llmsync.transport`` and
``llmsync.retry`` do). Everything a provider knows about its API lives in its module.
"""
import json
import operator
from dataclasses import dataclass, field
from typing import Any, Dict, FrozenSet, Iterable, Iterator, List, Mapping, Optional, Sequence, Tuple, TypeVar

from ..auth import ApiKey, AuthStore
from ..builder import ResponseBuilder
from ..catalog import ModelMeta, lookup, models
from ..errors import InvalidRequestError, ProviderError, StreamError
from ..events import Event
from ..options import Request
from ..types import Message, Response, Role
from .reasoning import LEVEL_ORDER, LEVEL_WIRE, Reasoning, clamp_level, from_catalog, reasons_at

__all__ = [
    "Provider", "WirePlan", "ErrorInfo", "StreamParser", "decode_json", "clamp_level", "LEVEL_ORDER", "LEVEL_WIRE",
    "reasons_at", "reply_error", "data_url", "split_data_url", "validate_for_provider",
]


@dataclass
class WirePlan:
    """What a provider would send: path (appended to the base URL), headers, JSON body.

    ``adjustments`` lists what was adapted to fit the model (clamped levels, dropped
    parameters), in words a person can act on.
    """

    path: str
    body: Dict[str, Any]
    headers: Dict[str, str] = field(default_factory=dict)
    adjustments: List[str] = field(default_factory=list)


@dataclass
class ErrorInfo:
    """The provider's own account of an HTTP error."""

    message: str
    error_type: Optional[str] = None
    context_length: bool = False
    authentication: bool = False  # a bad key the provider reports with another status
    retryable: Optional[bool] = None  # None: as the status says (e.g. refreshed credentials)


def data_url(media_type: str, data: Optional[str]) -> str:
    """An RFC 2397 ``data:`` URL for base64 ``data``.

    Raises:
        InvalidRequestError: there is no data (a part with neither url nor data).
    """
    if not data:
        raise InvalidRequestError("an image or document needs a url, or base64 data with its media_type")
    return f"data:{media_type};base64,{data}"


def split_data_url(url: str, provider: str) -> Tuple[str, str]:
    """(media type, base64 data) of a base64 ``data:`` URL.

    Raises:
        InvalidRequestError: the URL is not base64 (the providers take no other encoding).
    """
    head, _, data = url.partition(",")
    if not head.startswith("data:") or not head.endswith(";base64"):
        raise InvalidRequestError(f"{provider} takes base64 data URLs only, got {url[:40]!r}...")
    return head[len("data:"):-len(";base64")] or "application/octet-stream", data


def add_turn(turns: List[Dict[str, Any]], role: str, content: List[Any]) -> None:
    """Append a ``{"role", "content"}`` turn, or extend the last one of the same role: APIs
    with strictly alternating turns (Anthropic Messages, Bedrock Converse) take parallel
    tool results as one user turn, in call order."""
    if turns and turns[-1]["role"] == role:
        turns[-1]["content"].extend(content)
    else:
        turns.append({"role": role, "content": content})


def reply_error(error: Any, provider: str, what: str, type_keys: Sequence[str] = ("type",),
                retryable_types: Iterable[str] = ()) -> ProviderError:
    """The ``ProviderError`` for an error object found inside a 200 reply (a stream event
    or a body): its message, its type (the first of ``type_keys`` present), and whether
    that type is worth another attempt."""
    if not isinstance(error, dict):
        error = {"message": str(error) if error else None}
    error_type = next((error[key] for key in type_keys if error.get(key)), None)
    return ProviderError(f"{what}: {error.get('message') or 'no message'}", provider=provider,
                         error_type=str(error_type) if error_type is not None else None,
                         retryable=error_type in set(retryable_types))


def validate_for_provider(message: Message, provider_id: str) -> None:
    """``Message.validate_for_provider``: the registered provider checks the message.

    Raises:
        InvalidRequestError: the message cannot be sent there, or no such provider.
    """
    from ..registry import get_provider

    get_provider(provider_id).validate_messages([message])


def decode_json(data: str, provider: str, what: str = "stream event") -> Any:
    """``json.loads`` that raises ``ProviderError`` naming the bad payload."""
    try:
        return json.loads(data)
    except (ValueError, RecursionError) as exc:  # not JSON, or nested past the decoder's depth
        raise ProviderError(
            f"malformed JSON in {what}: {exc}: {data[:200]!r}", provider=provider
        ) from exc


_NAME_AND_DATA = operator.attrgetter("event", "data")  # of an sseclient-py Event, in C


class StreamParser:
    """Turns one reply's wire data into llmsync events; one instance per reply.

    ``feed`` takes an SSE event name and its data and returns the events it yields;
    ``feed_body`` takes a whole (non-streamed) reply, already decoded, and reads it
    through the same steps; ``finish`` is called when the body ends and returns the final
    ``Response`` or raises ``StreamError`` when the stream stopped before the provider
    said it was complete. A non-streamed reply is ``feed_body`` then ``finish``: one parse
    path for both.
    """

    def __init__(self, provider: str, model: str) -> None:
        self.provider = provider
        self.builder = ResponseBuilder(provider, model)
        self.complete = False

    def feed(self, event: str, data: str) -> List[Event]:
        raise NotImplementedError

    def feed_body(self, body: Any) -> List[Event]:
        """Read a whole decoded reply body; it is complete by definition.

        Raises:
            ProviderError: the body is not a reply (or carries an error).
        """
        raise NotImplementedError

    def finish(self) -> Response:
        if not self.complete:
            raise StreamError(
                "the stream ended before the provider marked it complete",
                provider=self.provider,
                partial=self.builder.build(),
            )
        return self.builder.build()

    def decode(self, data: str) -> Any:
        return decode_json(data, self.provider)


ParserT = TypeVar("ParserT", bound=StreamParser)


def _stand_in_token() -> str:
    return "***"  # what explain() shows; the real token provider is never called there


class Provider:
    """Base class of every provider. Capabilities are class attributes.

    Subclasses set ``id``, ``default_base_url`` and ``env_keys`` and implement
    ``build_request``, ``parse_response``, ``stream_parser`` and ``describe_error``.
    """

    id: str = ""
    default_base_url: Optional[str] = None
    env_keys: Sequence[str] = ()
    key_id: Optional[str] = None  # another provider id whose key this one may use
    requires_key: bool = True
    supports_streaming: bool = True
    # The OpenTelemetry GenAI convention's gen_ai.provider.name; None: the llmsync id.
    otel_provider_name: Optional[str] = None
    # Content types a streamed reply may carry (matched as substrings).
    stream_content_types: Tuple[str, ...] = ("event-stream",)
    # GET path (appended to the base URL) listing the models a server serves.
    models_path: str = "/models"
    # Credential headers (lower case) whose values are not secret, such as a billing project
    # id: dropped on a redirect like the others, but never redacted by value (which would
    # blank that word in every later error and log line).
    public_credential_headers: FrozenSet[str] = frozenset()

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.id!r}>"

    @property
    def base_url_env(self) -> str:
        """The environment variable that overrides the base URL, e.g. ``OPENAI_BASE_URL``."""
        return self.id.upper().replace("-", "_") + "_BASE_URL"

    def base_url_from_environment(self, environ: Mapping[str, str]) -> Optional[str]:
        """The base URL when neither ``base_urls`` nor ``<ID>_BASE_URL`` gives one.

        ``default_base_url`` here; a cloud provider builds it from its own variables
        (region, project) and raises ``InvalidRequestError`` naming a missing one.
        """
        return self.default_base_url

    # -- catalog ------------------------------------------------------------------

    def models(self) -> List[ModelMeta]:
        return models(self.id)

    def model_meta(self, model: str) -> Optional[ModelMeta]:
        return lookup(self.id, model)

    def price_meta(self, model: str) -> Optional[ModelMeta]:
        """The catalog entry whose prices ``model`` is billed at; None leaves it unpriced."""
        return self.model_meta(model)

    def reasoning(self, model: str) -> Reasoning:
        """How ``model`` reasons and takes a thinking level (``llmsync.providers.reasoning``):
        the catalog entry here; a provider family adds its rules by model id."""
        return from_catalog(self.model_meta(model))

    def supports_reasoning(self, model: str) -> bool:
        return self.reasoning(model).reasons

    def supports_reasoning_effort(self, model: str) -> bool:
        return self.reasoning(model).takes_effort

    # -- auth -----------------------------------------------------------------------

    def resolve_auth(self, auth_store: AuthStore) -> Optional[ApiKey]:
        """The key to send, or None for a provider that needs none.

        Raises:
            AuthenticationError: the provider needs a key and none is configured.
        """
        # A provider that needs no key must not fail over an auth file it never needed.
        key = auth_store.get(self.id, self.env_keys, strict=self.requires_key)
        if key is None and self.key_id:
            key = auth_store.get(self.key_id, strict=self.requires_key)
        if key is None and self.requires_key:
            auth_store.require(self.id, self.env_keys)  # raises, naming where a key goes
        return key

    def auth_headers(self, key: Optional[ApiKey]) -> Dict[str, str]:
        """The headers that carry ``key``; every one of them is a credential header."""
        return {"Authorization": f"Bearer {key.reveal()}"} if key else {}

    def sign_request(self, key: Optional[ApiKey], url: str, headers: Mapping[str, str],
                     body: bytes) -> Dict[str, str]:
        """Headers that sign one attempt (AWS SigV4, say), computed anew for every attempt.

        Credential headers too. None by default.
        """
        return {}

    def credential_headers(self, auth_store: AuthStore) -> Tuple[str, ...]:
        """The names of the credential headers a request will carry (from ``auth_headers``
        and ``sign_request``), for ``explain()``, which shows them redacted.

        Found without calling a token provider, signing or reaching the network: explain
        sends nothing. Empty when no key is configured (explain needs none). By default, the
        headers ``auth_headers`` builds for the configured key, with a stand-in for a token
        provider's token; a provider that signs, or adds headers of its own, overrides it.
        """
        key = auth_store.get(self.id, self.env_keys, strict=False)
        if key is None and self.key_id:
            key = auth_store.get(self.key_id, strict=False)
        if key is None:
            return ()
        if key.is_token_provider:
            key = ApiKey(token_provider=_stand_in_token, source=key.source)
        return tuple(self.auth_headers(key))

    # -- validation -------------------------------------------------------------------

    def validate_request(self, request: Request) -> None:
        """Raise ``InvalidRequestError`` for what no provider could send."""
        if not request.messages and not request.system_prompt:
            raise InvalidRequestError("the request has no messages")
        self.validate_messages(request.messages)
        for definition in request.tool_definitions:
            definition.validate()
        choice = request.tool_choice
        if choice is not None and choice.mode == "function":
            names = {d.name for d in request.tool_definitions}
            if choice.name not in names:
                raise InvalidRequestError(
                    f"tool_choice names {choice.name!r}, which is not among the tools {sorted(names)}"
                )

    def validate_messages(self, messages: Iterable[Message]) -> None:
        """Check roles, tool call ids and tool-call arguments."""
        for position, message in enumerate(messages):
            where = f"messages[{position}]"
            if message.role is Role.TOOL and not message.tool_call_id:
                raise InvalidRequestError(
                    f"{where} is a tool message without tool_call_id; use "
                    "Message.tool_response(tool_call_id, content)"
                )
            for call in message.tool_calls or ():
                if message.role is not Role.ASSISTANT:
                    raise InvalidRequestError(f"{where}: only assistant messages carry tool_calls")
                if not call.id or not call.name:
                    raise InvalidRequestError(f"{where}: a tool call needs an id and a name")
                call.parsed_arguments()

    # -- wire format --------------------------------------------------------------------

    def build_request(self, request: Request, model: str) -> WirePlan:
        raise NotImplementedError

    def parse_response(self, body: Any, model: str) -> Response:
        """A whole (non-streamed) reply: the stream parser fed the whole body, then ``finish``."""
        parser = self.stream_parser(model)
        parser.feed_body(body)
        return parser.finish()

    def stream_parser(self, model: str) -> StreamParser:
        raise NotImplementedError

    def priced(self, parser: "ParserT") -> "ParserT":
        """``parser``, pricing its replies (``Response.cost``) with this provider's catalog view."""
        parser.builder.model_meta = self.price_meta
        return parser

    def decode_stream(self, chunks: Iterator[bytes]) -> Iterator[Tuple[str, str]]:
        """Split a streamed body into ``(event name, data)`` pairs: server-sent events here.

        Providers with another framing (AWS event streams) override it; the pairs go to
        their ``StreamParser.feed``.
        """
        from sseclient import SSEClient

        return map(_NAME_AND_DATA, SSEClient(chunks).events())

    def describe_error(self, status: int, payload: Any, text: str,
                       headers: Optional[Mapping[str, str]] = None) -> ErrorInfo:
        """Pull the provider's message out of an error body (``payload`` is None if not JSON).

        ``headers`` are the response headers (some providers put the error type there).
        """
        return ErrorInfo(message=text[:500] or f"HTTP {status}")

    def parse_model_list(self, body: Any) -> List[str]:
        """The model ids in a ``GET models_path`` reply: OpenAI's ``{"data": [{"id": ...}]}``.

        Raises:
            ProviderError: the body has another shape.
        """
        data = body.get("data") if isinstance(body, dict) else None
        if not isinstance(data, list) or not all(isinstance(m, dict) and isinstance(m.get("id"), str)
                                                 for m in data):
            raise ProviderError(f'expected a model list {{"data": [{{"id": ...}}]}}, got {str(body)[:200]!r}',
                                provider=self.id)
        return [m["id"] for m in data]
