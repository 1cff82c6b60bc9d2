"""The data model shared by every provider: messages, content parts, tools, usage, responses.

All types are plain dataclasses with a JSON round trip through dataclasses-json
(``Message.from_json(m.to_json()) == m``). Nothing here knows a wire format: each
provider module maps these types to and from its own.
"""
import json
import re
from dataclasses import dataclass, field
from enum import Enum
from typing import Any, Dict, List, Optional, Union

from dataclasses_json import config, dataclass_json

from .errors import InvalidRequestError
from .parts import Document, Image, Part, Text, decode_content, encode_content

__all__ = [
    "Role",
    "FinishReason",
    "Text",
    "Image",
    "Document",
    "Part",
    "ReasoningBlock",
    "ToolCall",
    "ToolDefinition",
    "ToolChoice",
    "Message",
    "Usage",
    "Citation",
    "ServerToolCall",
    "RateLimitInfo",
    "TokenLogprob",
    "Response",
]


class _StrEnum(str, Enum):
    """An enum whose members also accept their string values, in any case."""

    @classmethod
    def _missing_(cls, value):
        if isinstance(value, str):
            for member in cls:
                if member.value == value.lower():
                    return member
        return None

    def __str__(self) -> str:
        return self.value


class Role(_StrEnum):
    SYSTEM = "system"
    USER = "user"
    ASSISTANT = "assistant"
    TOOL = "tool"


class FinishReason(_StrEnum):
    STOP = "stop"
    LENGTH = "length"
    TOOL_CALLS = "tool_calls"
    CONTENT_FILTER = "content_filter"
    ERROR = "error"


@dataclass_json
@dataclass
class ReasoningBlock:
    """Provider reasoning kept on an assistant message so it can be sent back unchanged.

    Attributes:
        text: the visible reasoning (thinking or summary) text, possibly empty.
        signature: an opaque token the provider needs back (Anthropic ``signature``,
            Gemini ``thoughtSignature``, OpenAI ``encrypted_content``).
        kind: the provider's own block kind ("thinking", "redacted_thinking", ...).
        data: the opaque payload of a redacted block.
        id: the provider's id for the block, when it has one.
        provider: the provider id that produced it; other providers skip it.
    """

    text: str = ""
    signature: Optional[str] = None
    kind: str = "thinking"
    data: Optional[str] = None
    id: Optional[str] = None
    provider: Optional[str] = None


@dataclass_json
@dataclass
class ToolCall:
    """A tool call requested by the model.

    ``arguments`` is the raw JSON string as the model produced it; ``signature`` keeps
    a provider's opaque token for the call (Gemini ``thoughtSignature``).
    """

    id: str
    name: str
    arguments: str = "{}"
    signature: Optional[str] = None

    def parsed_arguments(self) -> Dict[str, Any]:
        """Return the arguments as a dict.

        Raises:
            InvalidRequestError: the arguments are not a JSON object.
        """
        if not self.arguments or not self.arguments.strip():
            return {}
        try:
            value = json.loads(self.arguments)
        except ValueError as exc:
            raise InvalidRequestError(
                f"tool call {self.name!r} ({self.id}) has invalid JSON arguments: {exc}: "
                f"{self.arguments[:200]!r}"
            ) from exc
        if not isinstance(value, dict):
            raise InvalidRequestError(
                f"tool call {self.name!r} ({self.id}) arguments must be a JSON object, "
                f"got {type(value).__name__}"
            )
        return value


_TOOL_NAME = re.compile(r"^[A-Za-z0-9_-]{1,64}$")


@dataclass_json
@dataclass
class ToolDefinition:
    """A tool the model may call: a name, a description and a JSON Schema object."""

    name: str
    description: str = ""
    parameters: Dict[str, Any] = field(
        default_factory=lambda: {"type": "object", "properties": {}}
    )

    def validate(self) -> None:
        """Raise ``InvalidRequestError`` unless every provider would accept this tool."""
        if not _TOOL_NAME.match(self.name or ""):
            raise InvalidRequestError(
                f"tool name must match [A-Za-z0-9_-]{{1,64}}, got {self.name!r}"
            )
        if not isinstance(self.parameters, dict) or self.parameters.get("type") != "object":
            raise InvalidRequestError(
                f"tool {self.name!r}: parameters must be a JSON Schema with "
                f'"type": "object", got {self.parameters!r}'
            )


@dataclass_json
@dataclass(frozen=True)
class ToolChoice:
    """Whether and which tool the model must call.

    ``mode`` is "auto", "none", "any" (some tool must be called) or "function"
    (the tool ``name`` must be called).
    """

    mode: str = "auto"
    name: Optional[str] = None

    @classmethod
    def auto(cls) -> "ToolChoice":
        return cls("auto")

    @classmethod
    def none(cls) -> "ToolChoice":
        return cls("none")

    @classmethod
    def any(cls) -> "ToolChoice":
        return cls("any")

    @classmethod
    def function(cls, name: str) -> "ToolChoice":
        return cls("function", name)

    @classmethod
    def coerce(cls, value: Union["ToolChoice", str, None]) -> Optional["ToolChoice"]:
        """Accept a ``ToolChoice``, "auto"/"none"/"any"/"required", or a tool name."""
        if value is None or isinstance(value, ToolChoice):
            return value
        if not isinstance(value, str) or not value:
            raise InvalidRequestError(f"tool_choice must be a ToolChoice or str, got {value!r}")
        if value in ("auto", "none", "any"):
            return cls(value)
        if value == "required":
            return cls("any")
        return cls.function(value)

    @property
    def forces_tool(self) -> bool:
        return self.mode in ("any", "function")


@dataclass_json
@dataclass
class Message:
    """One turn of a conversation.

    ``content`` is a string or a list of parts (``Text``, ``Image``, ``Document``).
    Assistant messages may carry ``tool_calls`` and provider ``reasoning`` blocks;
    tool messages carry the ``tool_call_id`` they answer.
    """

    # Decoded by __post_init__, so from_dict reads "developer" and names a bad role as we do.
    role: Role = field(metadata=config(decoder=lambda value: value))
    content: Union[str, List[Part], None] = field(
        default=None, metadata=config(encoder=encode_content, decoder=decode_content)
    )
    tool_calls: Optional[List[ToolCall]] = None
    tool_call_id: Optional[str] = None
    name: Optional[str] = None
    reasoning: Optional[List[ReasoningBlock]] = None

    def __post_init__(self) -> None:
        if isinstance(self.role, str) and self.role.lower() == "developer":
            self.role = Role.SYSTEM  # OpenAI's name for system instructions on newer models
        if not isinstance(self.role, Role):
            try:
                self.role = Role(self.role)
            except ValueError:
                raise InvalidRequestError(
                    f"role must be one of {[r.value for r in Role]}, got {self.role!r}"
                ) from None
        if self.content is not None and not isinstance(self.content, str) or self.tool_calls:
            from .openai_format import check_message

            check_message(self)

    @classmethod
    def from_openai(cls, data: Dict[str, Any]) -> "Message":
        """A message from an OpenAI Chat Completions message dict (or llmsync's own dict form).

        Raises:
            InvalidRequestError: an unknown role or part type, naming the key.
        """
        from .openai_format import message_from_openai

        return message_from_openai(data)

    def to_openai(self) -> Dict[str, Any]:
        """This message as an OpenAI Chat Completions message dict (reasoning is left out)."""
        from .openai_format import message_to_openai

        return message_to_openai(self)

    @classmethod
    def system(cls, text: str) -> "Message":
        return cls(Role.SYSTEM, text)

    @classmethod
    def user(cls, content: Union[str, List[Part]]) -> "Message":
        return cls(Role.USER, content)

    @classmethod
    def assistant(cls, text: Optional[str]) -> "Message":
        return cls(Role.ASSISTANT, text)

    @classmethod
    def assistant_with_tools(cls, text: Optional[str], calls: List[ToolCall]) -> "Message":
        return cls(Role.ASSISTANT, text, tool_calls=list(calls))

    @classmethod
    def tool_response(cls, tool_call_id: str, content: str, name: Optional[str] = None) -> "Message":
        return cls(Role.TOOL, content, tool_call_id=tool_call_id, name=name)

    @property
    def text(self) -> str:
        """The message's text: the string content, or its text parts joined."""
        if self.content is None:
            return ""
        if isinstance(self.content, str):
            return self.content
        return "".join(part.text for part in self.content if isinstance(part, Text))

    @property
    def parts(self) -> List[Part]:
        """The content as a list of parts (a string becomes one ``Text``)."""
        if self.content is None or self.content == "":
            return []
        if isinstance(self.content, str):
            return [Text(self.content)]
        return list(self.content)

    def validate_for_provider(self, provider_id: str) -> None:
        """Raise ``InvalidRequestError`` if this message cannot be sent to the provider."""
        from .providers.base import validate_for_provider  # the model knows no provider

        validate_for_provider(self, provider_id)


@dataclass_json
@dataclass
class Usage:
    """Token counts, with one meaning on every provider.

    ``prompt_tokens`` counts all input tokens, cached or not; ``cache_read_tokens`` and
    ``cache_write_tokens`` are parts of it. ``reasoning_tokens`` is part of
    ``completion_tokens``. ``total_tokens == prompt_tokens + completion_tokens``.
    """

    prompt_tokens: int = 0
    completion_tokens: int = 0
    total_tokens: int = 0
    cache_read_tokens: int = 0
    cache_write_tokens: int = 0
    reasoning_tokens: int = 0

    def __add__(self, other: "Usage") -> "Usage":
        return Usage(
            self.prompt_tokens + other.prompt_tokens,
            self.completion_tokens + other.completion_tokens,
            self.total_tokens + other.total_tokens,
            self.cache_read_tokens + other.cache_read_tokens,
            self.cache_write_tokens + other.cache_write_tokens,
            self.reasoning_tokens + other.reasoning_tokens,
        )


@dataclass_json
@dataclass
class Citation:
    """A source the reply cites: a web page, a document passage or a grounding chunk.

    ``url`` may be None (a document citation); ``title`` and ``cited_text`` are kept
    whenever the provider sends them.
    """

    url: Optional[str] = None
    title: Optional[str] = None
    cited_text: Optional[str] = None


@dataclass_json
@dataclass
class ServerToolCall:
    """Work the provider ran itself (web search, code execution): nothing for the caller to run.

    ``input`` is what the model asked for (a dict, e.g. ``{"query": ...}`` or
    ``{"code": ...}``); ``output`` what the tool returned, in the provider's shape.
    """

    id: Optional[str] = None
    name: str = ""
    input: Any = None
    output: Any = None


@dataclass_json
@dataclass
class RateLimitInfo:
    """Rate-limit state from the response headers; None where a header is absent.

    Counts are ints; ``reset_*`` are seconds until the limit resets, as floats.
    """

    limit_requests: Optional[int] = None
    remaining_requests: Optional[int] = None
    reset_requests: Optional[float] = None
    limit_tokens: Optional[int] = None
    remaining_tokens: Optional[int] = None
    reset_tokens: Optional[float] = None


@dataclass_json
@dataclass
class TokenLogprob:
    """One output token's log probability, with the most likely alternatives in ``top``."""

    token: str = ""
    logprob: float = 0.0
    top: List["TokenLogprob"] = field(default_factory=list)


@dataclass_json
@dataclass
class Response:
    """A model's complete reply, streamed or not.

    ``content`` is the visible text (None when there is none); ``reasoning`` the
    concatenated thinking text; ``reasoning_blocks`` what must be sent back with the
    next turn. ``error_message`` explains a ``FinishReason.ERROR``. ``refusal`` holds an
    explicit refusal's text (never ``content``); ``parsed`` the structured-output value
    (not serialised). ``citations`` and ``server_tool_calls`` are the sources and the
    provider-run tools of the reply. The metadata fields (``request_id``, ``headers``,
    ``rate_limit``, ``attempts``, ``latency``, ``time_to_first_token``) come from the
    HTTP exchange. ``cost`` is the price in USD from the catalog (None when unknown).
    """

    content: Optional[str] = None
    tool_calls: List[ToolCall] = field(default_factory=list)
    usage: Optional[Usage] = None
    finish_reason: Optional[FinishReason] = None
    reasoning: Optional[str] = None
    model: Optional[str] = None
    provider: Optional[str] = None
    id: Optional[str] = None
    reasoning_blocks: List[ReasoningBlock] = field(default_factory=list)
    error_message: Optional[str] = None
    refusal: Optional[str] = None
    parsed: Any = field(default=None, compare=False, metadata=config(exclude=lambda _value: True))
    citations: List[Citation] = field(default_factory=list)
    server_tool_calls: List[ServerToolCall] = field(default_factory=list)
    logprobs: Optional[List[TokenLogprob]] = None
    # How the reply travelled: filled by the exchange, and not part of equality.
    request_id: Optional[str] = field(default=None, compare=False)
    headers: Dict[str, str] = field(default_factory=dict, compare=False)
    rate_limit: Optional[RateLimitInfo] = field(default=None, compare=False)
    attempts: int = field(default=1, compare=False)
    latency: Optional[float] = field(default=None, compare=False)
    time_to_first_token: Optional[float] = field(default=None, compare=False)
    # USD at the catalog's prices, or None for an unknown model: filled where the reply
    # is built (the provider's ResponseBuilder), so a Response depends on no global state.
    cost: Optional[float] = None

    def to_openai(self) -> Dict[str, Any]:
        """This reply as an OpenAI ``chat.completion`` dict (one choice)."""
        from .openai_format import response_to_openai

        return response_to_openai(self)

    def to_message(self) -> Message:
        """The assistant message to append to the conversation for the next turn."""
        return Message(
            Role.ASSISTANT,
            self.content,
            tool_calls=list(self.tool_calls) or None,
            reasoning=list(self.reasoning_blocks) or None,
        )
