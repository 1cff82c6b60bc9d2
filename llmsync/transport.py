"""HTTP for llmsync: per-thread sessions, error mapping, and SSE decoding.

This is the only module that touches ``requests`` and the only place foreign
exceptions (requests, urllib3, socket, json, unicode) become ``llmsync`` errors.
"""
import email.utils
import json
import logging
import os
import re
import threading
import time
import weakref
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any, Dict, Iterator, Mapping, Optional, Tuple, Union

import requests
from requests.adapters import HTTPAdapter
from sseclient import SSEClient

from . import __version__
from .errors import (
    AuthenticationError,
    ContextLengthError,
    InvalidRequestError,
    LLMError,
    NetworkError,
    ProviderError,
    RateLimitError,
    TimeoutError,
)

if TYPE_CHECKING:
    from .providers.base import Provider

__all__ = [
    "Transport", "Timeout", "iter_sse", "read_json", "error_from_response", "translated",
    "foreign_error", "PARSE_ERRORS", "shutdown", "check_event_stream", "retry_after_seconds",
    "set_read_timeout",
]

log = logging.getLogger("llmsync")

Timeout = Union[float, Tuple[float, float]]

# Headers that carry a key. requests strips only Authorization on a cross-host
# redirect (Session.rebuild_auth); the others would follow the redirect.
SECRET_HEADERS = frozenset({"authorization", "proxy-authorization", "x-api-key", "x-goog-api-key", "api-key"})
USER_AGENT = f"llmsync/{__version__} python-requests/{requests.__version__}"
_REQUEST_ID_HEADERS = ("x-request-id", "request-id", "x-goog-request-id", "cf-ray")


class _KeySafeSession(requests.Session):
    """A session that drops every key header when a redirect leaves the host."""

    def rebuild_auth(self, prepared_request, response):
        if self.should_strip_auth(response.request.url, prepared_request.url):
            for name in [h for h in prepared_request.headers if h.lower() in SECRET_HEADERS]:
                del prepared_request.headers[name]
        super().rebuild_auth(prepared_request, response)


class Transport:
    """Sends requests on one ``requests.Session`` per thread.

    ``requests.Session`` is not documented as thread-safe (psf/requests#2766), so each
    thread gets its own, with at most ``max_connections`` kept-alive connections per
    host. After ``os.fork()`` the child starts with fresh sessions and never touches the
    parent's sockets.
    """

    def __init__(self, max_connections: int = 32) -> None:
        self.max_connections = max_connections
        self._reset()

    def _reset(self) -> None:
        self._pid = os.getpid()
        self._local = threading.local()
        self._lock = threading.Lock()
        self._sessions: "weakref.WeakSet[requests.Session]" = weakref.WeakSet()

    def session(self) -> requests.Session:
        """This thread's session, created on first use (and anew after a fork)."""
        if self._pid != os.getpid():
            self._reset()
        session = getattr(self._local, "session", None)
        if session is None:
            session = _KeySafeSession()
            session.headers["User-Agent"] = USER_AGENT
            adapter = HTTPAdapter(pool_connections=4, pool_maxsize=self.max_connections, max_retries=0)
            session.mount("http://", adapter)
            session.mount("https://", adapter)
            self._local.session = session
            with self._lock:
                self._sessions.add(session)
        return session

    def post(
        self,
        url: str,
        headers: Mapping[str, str],
        body: Any,
        timeout: Timeout,
        provider: "Provider",
    ) -> requests.Response:
        """POST ``body`` as JSON; return the response with its body still unread.

        Raises:
            LLMError: the mapped error for a failed connection or an HTTP error status.
        """
        data = json.dumps(body, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
        headers = {"Content-Type": "application/json", **headers}
        with translated(provider.id):
            response = self.session().post(url, data=data, headers=headers, timeout=timeout, stream=True)
        if log.isEnabledFor(logging.DEBUG):
            log.debug("POST %s -> %s (request id %s)", _strip_query(url), response.status_code,
                      _request_id(response.headers))
        if response.status_code >= 300:
            try:
                error = error_from_response(response, provider)
            finally:
                response.close()
            raise _without_keys(error, headers)
        return response

    def close(self) -> None:
        """Close every session's pooled connections. The transport stays usable."""
        with self._lock:
            sessions = list(self._sessions)
            self._sessions = weakref.WeakSet()
        for session in sessions:
            for adapter in set(session.adapters.values()):
                _close_pools(adapter)
            session.close()
        self._local = threading.local()


def _close_pools(adapter: Any) -> None:
    # urllib3 2.x PoolManager.clear() forgets its pools without closing them: their
    # sockets close when a pool is garbage collected, and a finished response (held by
    # a Stream) keeps its pool alive.
    pools = adapter.poolmanager.pools
    for key in pools.keys():
        pool = pools.get(key)
        if pool is not None:
            pool.close()


def _without_keys(error: LLMError, headers: Mapping[str, str]) -> LLMError:
    """``error`` with any key it quotes replaced by ``***``: some providers echo the key."""
    for name, value in headers.items():
        secret = value.split(" ", 1)[-1]  # "Bearer sk-..." -> "sk-..."
        if name.lower() in SECRET_HEADERS and len(secret) >= 8 and secret in error.message:
            error.message = error.message.replace(secret, "***")
            error.args = (error.message,)
    return error


def _strip_query(url: str) -> str:
    return url.split("?", 1)[0]


def _request_id(headers: Mapping[str, str]) -> Optional[str]:
    for name in _REQUEST_ID_HEADERS:
        if name in headers:
            return headers[name]
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


_TITLE = re.compile(rb"<title[^>]*>(.*?)</title>", re.I | re.S)


def _html_summary(content: bytes) -> str:
    match = _TITLE.search(content)
    if match:
        return match.group(1).decode("utf-8", "replace").strip()
    text = re.sub(r"<[^>]+>", " ", content[:2000].decode("utf-8", "replace"))
    return re.sub(r"\s+", " ", text).strip()[:200]


def _is_html(response: requests.Response, content: bytes) -> bool:
    content_type = response.headers.get("content-type", "")
    return "html" in content_type or content.lstrip()[:15].lower().startswith((b"<!doctype", b"<html"))


def error_from_response(response: requests.Response, provider: "Provider") -> LLMError:
    """The typed error for an HTTP error response, with the provider's own message."""
    status = response.status_code
    with translated(provider.id):
        content = response.content
    context: Dict[str, Any] = {
        "status": status,
        "provider": provider.id,
        "request_id": _request_id(response.headers),
        "retry_after": retry_after_seconds(response.headers),
    }
    if _is_html(response, content):
        message = (f"HTTP {status}: the server sent an HTML page, not an API reply "
                   f"(a proxy or gateway error?): {_html_summary(content)!r}")
        info_type, context_length, authentication = None, False, False
    else:
        text = content.decode("utf-8", "replace")
        try:
            payload = json.loads(text)
        except ValueError:
            payload = None
        info = provider.describe_error(status, payload, text)
        message = f"HTTP {status}: {info.message}" if info.message else f"HTTP {status}"
        info_type, context_length, authentication = info.error_type, info.context_length, info.authentication
    context["error_type"] = info_type
    should_retry = response.headers.get("x-should-retry")
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


def read_json(response: requests.Response, provider: "Provider") -> Any:
    """The JSON body of a successful response, or ``ProviderError`` saying what came."""
    with translated(provider.id):
        content = response.content
    if _is_html(response, content):
        raise ProviderError(
            f"expected JSON, got an HTML page (a proxy or gateway error?): {_html_summary(content)!r}",
            status=response.status_code, provider=provider.id, request_id=_request_id(response.headers),
        )
    try:
        return json.loads(content)
    except ValueError as exc:
        shown = content[:200].decode("utf-8", "replace")
        raise ProviderError(
            f"expected a JSON body, got {shown!r}" if content else "expected a JSON body, got an empty body",
            status=response.status_code, provider=provider.id, request_id=_request_id(response.headers),
        ) from exc


def check_event_stream(response: requests.Response, provider: "Provider") -> None:
    """Raise a clear error when a streaming request got something other than SSE."""
    content_type = response.headers.get("content-type", "")
    if "event-stream" in content_type or not content_type:
        return
    try:
        payload = read_json(response, provider)
    finally:
        response.close()
    if isinstance(payload, dict) and "error" in payload:
        info = provider.describe_error(response.status_code, payload, json.dumps(payload))
        raise ProviderError(f"error in a 200 reply: {info.message}", status=response.status_code,
                            provider=provider.id, error_type=info.error_type,
                            request_id=_request_id(response.headers))
    raise ProviderError(f"expected an event stream, got {content_type}", provider=provider.id,
                        status=response.status_code, request_id=_request_id(response.headers))


def iter_sse(response: requests.Response, provider_id: str) -> Iterator[Tuple[str, str]]:
    """Yield ``(event name, data)`` for each server-sent event of ``response``."""
    with translated(provider_id):
        for event in SSEClient(response.iter_content(chunk_size=None)).events():
            yield event.event, event.data


def shutdown(response: requests.Response) -> None:
    """Abort ``response``: wake a thread blocked reading it and drop its connection.

    Closing a socket does not wake a blocked ``recv``; ``shutdown`` does
    (urllib3 >= 2.3 ``HTTPResponse.shutdown``). A fully read response has already
    gone back to the pool and is left alone.
    """
    raw = getattr(response, "raw", None)
    shutdown_raw = getattr(raw, "shutdown", None)
    if shutdown_raw is not None:
        try:
            shutdown_raw()
        except (OSError, RuntimeError, ValueError):  # already released, or never connected
            pass
    try:
        response.close()
    except (OSError, AttributeError, requests.RequestException):
        pass


# What a parser raises when a body has an unexpected shape.
PARSE_ERRORS = (KeyError, IndexError, TypeError, AttributeError, ValueError)


def foreign_error(exc: BaseException, provider_id: Optional[str]) -> LLMError:
    """The llmsync error for a foreign exception (requests, urllib3, socket, parsing)."""
    if isinstance(exc, LLMError):
        return exc
    if isinstance(exc, requests.exceptions.ConnectTimeout):
        return TimeoutError(f"timed out connecting: {exc}", provider=provider_id)
    if isinstance(exc, requests.exceptions.ReadTimeout):
        return TimeoutError(f"timed out waiting for data: {exc}", provider=provider_id)
    if isinstance(exc, (requests.exceptions.InvalidURL, requests.exceptions.MissingSchema,
                        requests.exceptions.InvalidSchema, requests.exceptions.InvalidHeader)):
        return InvalidRequestError(f"cannot send the request: {exc}", provider=provider_id)
    if isinstance(exc, (requests.RequestException, OSError)):
        if "timed out" in str(exc).lower():
            return TimeoutError(f"timed out waiting for data: {exc}", provider=provider_id)
        return NetworkError(f"connection failed: {exc}", provider=provider_id)
    if isinstance(exc, UnicodeDecodeError):
        return ProviderError(f"the body is not valid UTF-8: {exc}", provider=provider_id)
    # A parser met a body of an unexpected shape (or urllib3 a response closed under it).
    return ProviderError(f"unexpected reply: {type(exc).__name__}: {exc}", provider=provider_id)


def set_read_timeout(response: requests.Response, seconds: float) -> None:
    """Change the read timeout of an open response's socket (urllib3 sets it per request)."""
    connection = getattr(response.raw, "connection", None)
    sock = getattr(connection, "sock", None)
    if sock is not None:
        try:
            sock.settimeout(seconds)
        except OSError:
            pass


@contextmanager
def translated(provider_id: Optional[str]) -> Iterator[None]:
    """Raise foreign exceptions as llmsync errors (``foreign_error``), chained."""
    try:
        yield
    except LLMError:
        raise
    except (requests.RequestException, OSError) + PARSE_ERRORS as exc:
        raise foreign_error(exc, provider_id) from exc
