"""What an HTTP reply says about itself: the typed error for a failed status, the JSON of
a successful body, the request id and the provider's requested wait."""
import email.utils
import json
import re
import time
from typing import TYPE_CHECKING, Any, Dict, Mapping, Optional

from .errors import (AuthenticationError, ContextLengthError, InvalidRequestError, LLMError, ProviderError,
                     RateLimitError)

if TYPE_CHECKING:
    from .providers.base import Provider
    from .transport import HttpResponse

__all__ = ["error_from_response", "read_json", "check_stream_type", "request_id", "retry_after_seconds"]

_REQUEST_ID_HEADERS = ("x-request-id", "request-id", "x-goog-request-id", "x-amzn-requestid",
                       "apim-request-id", "cf-ray")
_TITLE = re.compile(rb"<title[^>]*>(.*?)</title>", re.I | re.S)


def request_id(headers: Mapping[str, str]) -> Optional[str]:
    """The provider's request id from the response headers, if it sent one."""
    for name in _REQUEST_ID_HEADERS:
        value = headers.get(name)
        if value:
            return value
    return None


def retry_after_seconds(headers: Mapping[str, str]) -> Optional[float]:
    """Seconds from ``retry-after-ms`` or ``Retry-After`` (seconds or an HTTP date)."""
    value = headers.get("retry-after-ms")
    if value:
        try:
            return max(float(value) / 1000.0, 0.0)
        except ValueError:
            pass
    value = headers.get("retry-after")
    if not value:
        return None
    try:
        return max(float(value), 0.0)
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(when.timestamp() - time.time(), 0.0)


def _html_summary(content: bytes) -> str:
    match = _TITLE.search(content)
    if match:
        return match.group(1).decode("utf-8", "replace").strip()
    text = re.sub(r"<[^>]+>", " ", content[:2000].decode("utf-8", "replace"))
    return re.sub(r"\s+", " ", text).strip()[:200]


def _is_html(headers: Mapping[str, str], content: bytes) -> bool:
    content_type = headers.get("content-type", "")
    return "html" in content_type or content.lstrip()[:15].lower().startswith((b"<!doctype", b"<html"))


def error_from_response(status: int, headers: Mapping[str, str], content: bytes, provider: "Provider") -> LLMError:
    """The typed error for an HTTP error response, with the provider's own message."""
    context: Dict[str, Any] = {
        "status": status,
        "provider": provider.id,
        "request_id": request_id(headers),
        "retry_after": retry_after_seconds(headers),
    }
    if _is_html(headers, content):
        message = (f"HTTP {status}: the server sent an HTML page, not an API reply "
                   f"(a proxy or gateway error?): {_html_summary(content)!r}")
        info_type, context_length, authentication = None, False, False
    else:
        text = content.decode("utf-8", "replace")
        try:
            payload = json.loads(text)
        except (ValueError, RecursionError):  # not JSON, or nested past the decoder's depth
            payload = None
        info = provider.describe_error(status, payload, text, headers=headers)
        message = f"HTTP {status}: {info.message}" if info.message else f"HTTP {status}"
        info_type, context_length, authentication = info.error_type, info.context_length, info.authentication
        if info.retryable is not None:
            context["retryable"] = info.retryable
    context["error_type"] = info_type
    should_retry = headers.get("x-should-retry")
    if should_retry in ("true", "false"):
        context["retryable"] = should_retry == "true"
    if status in (401, 403) or authentication:
        return AuthenticationError(message, **context)
    if status == 429:
        return RateLimitError(message, **context)
    if context_length:
        return ContextLengthError(message, **context)
    if status in (408, 409) or status >= 500:
        context.setdefault("retryable", True)
        return ProviderError(message, **context)
    if 300 <= status < 400:
        return ProviderError(f"HTTP {status}: unexpected redirect ({message})", **context)
    return InvalidRequestError(message, **context)


def read_json(response: "HttpResponse", content: bytes, provider: "Provider") -> Any:
    """The JSON body of a successful response, or ``ProviderError`` saying what came."""
    context: Dict[str, Any] = dict(status=response.status, provider=provider.id,
                                   request_id=request_id(response.headers))
    if _is_html(response.headers, content):
        raise ProviderError(
            f"expected JSON, got an HTML page (a proxy or gateway error?): {_html_summary(content)!r}", **context)
    try:
        return json.loads(content)
    except (ValueError, RecursionError) as exc:  # not JSON, or nested past the decoder's depth
        shown = content[:200].decode("utf-8", "replace")
        raise ProviderError(
            f"expected a JSON body, got {shown!r}" if content else "expected a JSON body, got an empty body",
            **context) from exc


def check_stream_type(response: "HttpResponse", provider: "Provider") -> None:
    """Raise a clear error when a streaming request got something other than a stream.

    A JSON body with an ``error`` is the provider's error; anything else is named.
    """
    content_type = response.headers.get("content-type", "")
    if not content_type or any(kind in content_type for kind in provider.stream_content_types):
        return
    content = response.read()
    payload = read_json(response, content, provider)
    context: Dict[str, Any] = dict(status=response.status, provider=provider.id,
                                   request_id=request_id(response.headers))
    if isinstance(payload, dict) and "error" in payload:
        info = provider.describe_error(response.status, payload, json.dumps(payload), headers=response.headers)
        raise ProviderError(f"error in a 200 reply: {info.message}", error_type=info.error_type, **context)
    raise ProviderError(f"expected an event stream, got {content_type}", **context)
