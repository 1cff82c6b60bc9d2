"""The llmsync exception hierarchy.

Every error llmsync raises is an ``LLMError``; foreign exceptions (requests, json,
sseclient) are translated in ``llmsync.transport`` and chained with ``raise ... from``::

    LLMError
    ├── AuthenticationError          401/403, or no key configured
    ├── RateLimitError               429; .retry_after (seconds or None)
    ├── InvalidRequestError          400/404/422 and local validation (also ValueError)
    │   └── ContextLengthError       the prompt does not fit the model's context window
    ├── NetworkError                 connection refused, DNS, reset
    │   └── TimeoutError             connect/read/first-token/total deadline (also builtin)
    ├── ProviderError                5xx, overloaded, malformed bodies
    │   └── StreamError              a stream broke after events reached the caller
    ├── CancelledError               ended by ``Cancel.cancel()`` or ``Client.close()``
    └── OutputParseError             a structured reply that does not parse; .response

    LLMSyncWarning (a UserWarning)   an option was adapted or dropped to fit the provider

Whether an error may be retried is part of its type (``retryable``), refined per
instance for HTTP errors (a 5xx is retryable, a malformed 200 body is not).
"""
import builtins
from typing import TYPE_CHECKING, List, Optional

if TYPE_CHECKING:
    from .types import Response

__all__ = [
    "LLMError",
    "AuthenticationError",
    "RateLimitError",
    "InvalidRequestError",
    "ContextLengthError",
    "NetworkError",
    "TimeoutError",
    "ProviderError",
    "StreamError",
    "CancelledError",
    "OutputParseError",
    "LLMSyncWarning",
]


class LLMError(Exception):
    """Root of every llmsync error.

    Attributes:
        message: what went wrong, with the provider's own error text when there is one.
        status: the HTTP status, or None for errors raised before or without a reply.
        provider: the provider id ("openai", "anthropic", ...), when known.
        request_id: the provider's request id from the response headers, when sent.
        error_type: the provider's own error type or code (e.g. "overloaded_error").
        attempts: how many HTTP attempts were made before this error was raised.
        partial: the ``Response`` accumulated before a stream broke, else None.
        retry_after: seconds the provider asked to wait before a retry, or None.
        request_sent: whether the request had been fully sent when a connection failed
            or timed out (the provider may then be generating, and billing, the reply).
        errors: for a call with a list of models (a fallback chain) that all failed, every
            model's error in order, this one last; else empty.
    """

    retryable = False

    def __init__(
        self,
        message: str,
        *,
        status: Optional[int] = None,
        provider: Optional[str] = None,
        request_id: Optional[str] = None,
        error_type: Optional[str] = None,
        retryable: Optional[bool] = None,
        partial: "Optional[Response]" = None,
        retry_after: Optional[float] = None,
        sent: bool = False,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.status = status
        self.provider = provider
        self.request_id = request_id
        self.error_type = error_type
        self.attempts = 1
        self.partial = partial
        self.retry_after = retry_after
        self.request_sent = sent
        self.errors: "List[LLMError]" = []
        if retryable is not None:
            self.retryable = retryable

    def __str__(self) -> str:
        context = [
            f"{name}={value}"
            for name, value in (
                ("provider", self.provider),
                ("status", self.status),
                ("request_id", self.request_id),
            )
            if value is not None
        ]
        if self.attempts > 1:
            context.append(f"attempts={self.attempts}")
        return f"{self.message} ({', '.join(context)})" if context else self.message

    def __repr__(self) -> str:
        return f"{type(self).__name__}({str(self)!r})"

    def __reduce__(self):  # keeps keyword context when pickled to worker processes
        return (_rebuild, (type(self), self.message, self.__dict__))


def _rebuild(cls, message, state):
    error = cls.__new__(cls)
    Exception.__init__(error, message)
    error.__dict__.update(state)
    return error


class AuthenticationError(LLMError):
    """The key is missing, invalid or lacks permission (401/403)."""


class RateLimitError(LLMError):
    """The provider asked us to slow down (429); see ``retry_after``."""

    retryable = True


class InvalidRequestError(LLMError, ValueError):
    """The request cannot be served as built: rejected by the provider or by llmsync."""


class ContextLengthError(InvalidRequestError):
    """The prompt is longer than the model's context window."""


class NetworkError(LLMError):
    """The connection failed (refused, reset, DNS)."""

    retryable = True


class TimeoutError(NetworkError, builtins.TimeoutError):
    """A connect, read, first-token or total deadline passed."""


class ProviderError(LLMError):
    """The provider failed (5xx, overloaded) or sent a body llmsync cannot read."""


class StreamError(ProviderError):
    """A stream broke after events reached the caller; ``partial`` holds what arrived."""


class CancelledError(LLMError):
    """The call was cancelled (``Cancel.cancel()`` or ``Client.close()``); ``partial``
    holds what arrived before."""


class OutputParseError(LLMError):
    """A structured reply did not parse or validate; ``response`` holds the raw reply."""

    def __init__(self, message: str, *, response: "Optional[Response]" = None, **context) -> None:
        super().__init__(message, **context)
        self.response = response


class LLMSyncWarning(UserWarning):
    """An option was adapted or dropped to fit the provider or model (see ``explain()``)."""
