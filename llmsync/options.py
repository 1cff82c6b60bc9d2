"""Request options: the ``Request`` object and the knobs it carries."""
from dataclasses import dataclass, field, fields, replace
from enum import Enum
from typing import Any, Dict, FrozenSet, List, Optional, Tuple, Union

from .errors import InvalidRequestError
from .openai_format import message_from_openai, normalize_response_format, tool_definition_from_dict
from .types import Message, ToolChoice, ToolDefinition, _StrEnum

__all__ = [
    "ThinkingLevel",
    "EffortLevel",
    "CacheOptions",
    "ParallelToolConfig",
    "RetryCondition",
    "RetryPolicy",
    "Request",
]


class ThinkingLevel(_StrEnum):
    """How much the model should reason before answering; mapped per provider."""

    OFF = "off"
    MINIMAL = "minimal"
    LOW = "low"
    MEDIUM = "medium"
    HIGH = "high"
    XHIGH = "xhigh"


class EffortLevel(_StrEnum):
    """Anthropic's effort setting (ignored by other providers)."""

    LOW = "low"
    MEDIUM = "medium"
    HIGH = "high"


@dataclass(frozen=True)
class CacheOptions:
    """Prompt-caching breakpoints (Anthropic ``cache_control``; at most 4 per request).

    On providers with automatic caching these only affect what llmsync reports.
    """

    cache_system_prompt: bool = False
    cache_tools: bool = False
    cache_recent_turns: int = 0
    extended_ttl: bool = False
    global_scope: bool = False


@dataclass(frozen=True)
class ParallelToolConfig:
    """How many tool calls the model may request, and llmsync runs, at once."""

    disable_parallel_tool_use: bool = False
    max_parallel_tools: int = 5
    encourage_parallel: bool = True

    @classmethod
    def anthropic_optimized(cls) -> "ParallelToolConfig":
        """Parallel calls allowed and encouraged, up to 8 run at once."""
        return cls(max_parallel_tools=8, encourage_parallel=True)

    @classmethod
    def sequential_only(cls) -> "ParallelToolConfig":
        """One tool call per turn from the model; tools run one at a time, in order."""
        return cls(disable_parallel_tool_use=True, max_parallel_tools=1, encourage_parallel=False)


class RetryCondition(Enum):
    """Failure classes a ``RetryPolicy`` may retry.

    A request is retried only when the provider cannot be generating it, unless
    ``READ_TIMEOUT`` is asked for: a retry after the request was fully sent may bill the
    same request twice.
    """

    RATE_LIMIT = "rate_limit"  # 429
    SERVER_ERROR = "server_error"  # 408/409/5xx, overloaded, x-should-retry: true
    TIMEOUT = "timeout"  # connect timeout: nothing was sent
    CONNECTION_ERROR = "connection_error"  # refused or reset before the request was sent
    READ_TIMEOUT = "read_timeout"  # opt-in: no reply or first event in time after sending


_DEFAULT_RETRY_ON = frozenset({RetryCondition.RATE_LIMIT, RetryCondition.SERVER_ERROR,
                               RetryCondition.TIMEOUT, RetryCondition.CONNECTION_ERROR})


@dataclass(frozen=True)
class RetryPolicy:
    """Exponential backoff with full jitter; ``Retry-After`` honoured, capped by max_delay.

    ``max_retries`` counts retries, so a request is tried at most ``max_retries + 1`` times.
    ``retry_on`` takes ``RetryCondition`` members or their string values.

    Raises:
        InvalidRequestError: a negative count or delay, or an unknown condition.
    """

    max_retries: int = 3
    base_delay: float = 1.0
    max_delay: float = 30.0
    retry_on: FrozenSet[RetryCondition] = _DEFAULT_RETRY_ON

    def __post_init__(self) -> None:
        for name in ("max_retries", "base_delay", "max_delay"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, float)) or value < 0:
                raise InvalidRequestError(f"RetryPolicy.{name} must be a number >= 0, got {value!r}")
        if not isinstance(self.max_retries, int):
            raise InvalidRequestError(f"RetryPolicy.max_retries must be a whole number, got {self.max_retries!r}")
        if isinstance(self.retry_on, (str, RetryCondition)) or not hasattr(self.retry_on, "__iter__"):
            raise InvalidRequestError(f"RetryPolicy.retry_on must be a set of RetryCondition, got {self.retry_on!r}")
        conditions = frozenset(_coerce_enum(RetryCondition, c, "RetryPolicy.retry_on member") for c in self.retry_on)
        object.__setattr__(self, "retry_on", conditions)

    @classmethod
    def none(cls) -> "RetryPolicy":
        """No retries at all."""
        return cls(max_retries=0)

    @classmethod
    def coerce(cls, value: Any) -> "Optional[RetryPolicy]":
        """A ``RetryPolicy`` from a policy, an int (max_retries) or None."""
        if value is None or isinstance(value, RetryPolicy):
            return value
        if isinstance(value, int) and not isinstance(value, bool):
            return cls(max_retries=value)
        raise InvalidRequestError(f"retry must be a RetryPolicy or an int (max_retries), got {value!r}")


def _coerce_enum(enum_cls, value, name):
    if value is None or isinstance(value, enum_cls):
        return value
    try:
        return enum_cls(value)
    except (ValueError, TypeError):
        choices = ", ".join(repr(m.value) for m in enum_cls)
        raise InvalidRequestError(f"{name} must be one of {choices}, got {value!r}") from None


@dataclass
class Request:
    """Everything one model call needs; the keyword options of ``generate``/``stream``.

    ``model`` is "provider/model-id". Strings are accepted and coerced where a field
    has a richer type: ``messages`` may be a string (one user message) or message dicts,
    ``thinking``/``effort`` their level names, ``tool_choice`` a mode or a tool name,
    ``stop`` one string.
    Per-call settings: ``timeout``, ``retry`` (a ``RetryPolicy`` or an int: max_retries),
    ``extra_headers``, ``extra_query`` and ``extra_body`` (``extra`` is its alias).
    ``response_format`` is a JSON Schema dict or "json" (OpenAI's ``json_schema`` and
    ``json_object`` forms are turned into these), or a type (a dataclass, TypedDict,
    pydantic model, ``List[T]``, ``Enum``, ``Literal``): its schema is then put in
    ``response_format`` and the type in ``structured_output`` (``llmsync.structured``),
    and ``Response.parsed`` is the instance; ``output_retries`` asks again that many
    times when a reply does not parse. Sampling: ``top_p``, ``top_k``, ``seed``,
    ``user`` (the end user's id), ``logprobs`` and ``top_logprobs`` (which implies
    ``logprobs``). ``extra`` is merged into the
    provider's wire body last, for anything llmsync does not model yet.
    """

    model: str
    messages: List[Message] = field(default_factory=list)
    system_prompt: Optional[str] = None
    tools: Optional[List[Any]] = None
    tool_choice: Optional[ToolChoice] = None
    max_tokens: Optional[int] = None
    temperature: Optional[float] = None
    thinking: Optional[ThinkingLevel] = None
    effort: Optional[EffortLevel] = None
    reasoning_effort: Optional[ThinkingLevel] = None
    cache: Optional[CacheOptions] = None
    parallel_tool_calls: Optional[bool] = None
    parallel_tool_config: Optional[ParallelToolConfig] = None
    response_format: Union[Dict[str, Any], str, Any, None] = None  # Any: a type
    stop: Optional[List[str]] = None
    top_p: Optional[float] = None
    top_k: Optional[int] = None
    seed: Optional[int] = None
    user: Optional[str] = None
    logprobs: Optional[bool] = None
    top_logprobs: Optional[int] = None
    output_retries: int = 0
    extra: Optional[Dict[str, Any]] = None
    stream: bool = False
    first_token_timeout: Optional[float] = None
    total_timeout: Optional[float] = None
    timeout: Union[float, Tuple[float, float], None] = None
    retry: Optional[RetryPolicy] = None
    extra_headers: Optional[Dict[str, str]] = None
    extra_query: Optional[Dict[str, str]] = None
    extra_body: Optional[Dict[str, Any]] = None
    # Set from a type given as response_format; not an option of its own.
    structured_output: Any = field(default=None, repr=False, compare=False)

    def __post_init__(self) -> None:
        messages: Any = self.messages
        if isinstance(messages, str):
            messages = [Message.user(messages)]
        elif isinstance(messages, Message):
            messages = [messages]
        elif not isinstance(messages, (list, tuple)):
            raise InvalidRequestError(f"messages must be a string or a list of messages, got {messages!r}")
        self.messages = [_coerce_message(m, i) for i, m in enumerate(messages)]
        self.tool_choice = ToolChoice.coerce(self.tool_choice)
        self.thinking = _coerce_enum(ThinkingLevel, self.thinking, "thinking")
        self.reasoning_effort = _coerce_enum(ThinkingLevel, self.reasoning_effort, "reasoning_effort")
        self.effort = _coerce_enum(EffortLevel, self.effort, "effort")
        if isinstance(self.stop, str):
            self.stop = [self.stop]
        self.retry = RetryPolicy.coerce(self.retry)
        if self.extra is not None and self.extra_body is not None:
            raise InvalidRequestError("give extra_body or extra (its alias), not both")
        for name in ("extra_headers", "extra_query", "extra_body", "extra"):
            value = getattr(self, name)
            if value is not None and not isinstance(value, dict):
                raise InvalidRequestError(f"{name} must be a dict, got {value!r}")
        self._structure()

    def _structure(self) -> None:
        """``response_format`` in the form providers take, a type's schema included."""
        value = self.response_format
        if isinstance(value, type) or (value is not None and not isinstance(value, str)
                                       and not hasattr(value, "keys")):
            from .structured import output_for

            self.structured_output = output_for(value)
            self.response_format = self.structured_output.schema
        else:
            self.response_format = normalize_response_format(value)
            if self.structured_output is not None and self.response_format != self.structured_output.schema:
                self.structured_output = None  # with_options(response_format=...) replaced the type
        if self.top_logprobs is not None and self.logprobs is None:
            self.logprobs = True
        if isinstance(self.output_retries, bool) or not isinstance(self.output_retries, int) \
                or self.output_retries < 0:
            raise InvalidRequestError(f"output_retries must be a whole number >= 0, got {self.output_retries!r}")
        if self.output_retries and self.stream:
            raise InvalidRequestError("output_retries works with generate and run, not with a stream: "
                                      "a stream cannot take back the events it has shown")

    @property
    def thinking_level(self) -> Optional[ThinkingLevel]:
        """``thinking``, or ``reasoning_effort`` (its alias) when only that is set."""
        return self.thinking if self.thinking is not None else self.reasoning_effort

    @property
    def tool_definitions(self) -> List[ToolDefinition]:
        """The tools as ``ToolDefinition``s (``@tool`` functions and ``Tool``s unwrapped)."""
        return [_definition_of(t, i) for i, t in enumerate(self.tools or [])]

    def with_options(self, **changes: Any) -> "Request":
        """A copy with some fields changed."""
        return replace(self, **changes)

    @classmethod
    def option_names(cls) -> List[str]:
        return [f.name for f in fields(cls) if f.name not in ("model", "messages", "structured_output")]


def _coerce_message(message: Any, index: int = 0) -> Message:
    """A ``Message`` from a message, an OpenAI Chat Completions dict or ``Message.to_dict()``."""
    if isinstance(message, Message):
        return message
    if isinstance(message, dict):
        return message_from_openai(message, f"messages[{index}]")
    raise InvalidRequestError(
        f"messages[{index}]: messages must be Message objects or dicts, got {type(message).__name__}")


def _definition_of(tool: Any, index: int = 0) -> ToolDefinition:
    """The ``ToolDefinition`` of a definition, an OpenAI or Anthropic tool dict, a ``Tool``
    (bound methods included) or a function (described as ``@tool`` would)."""
    if isinstance(tool, ToolDefinition):
        return tool
    if isinstance(tool, dict):
        return tool_definition_from_dict(tool, f"tools[{index}]")
    from .tool_binding import definition_of

    return definition_of(tool, f"tools[{index}]")
