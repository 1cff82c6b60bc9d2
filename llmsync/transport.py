"""The transport seam, and the default transport over ``requests``.

A transport sends one prepared HTTP request and hands back a response whose headers
have arrived and whose body is still unread; the exchange (``llmsync.exchange``) does
everything else. This module and ``llmsync.watch`` (the connections a cancel can abort)
are the only ones that touch ``requests``; this is the only place foreign exceptions
(requests, urllib3, socket, json, unicode) become ``llmsync`` errors.

The protocol a custom transport implements (``Client(transport=...)``)::

    class MyTransport:
        def send(self, request: HttpRequest, timeout: Tuple[float, float],
                 watch: Watch) -> HttpResponse: ...   # raise LLMError on failure
        def close(self) -> None: ...

    class MyResponse:                   # what send returns
        status: int
        headers: Mapping[str, str]      # case-insensitive
        def iter_bytes(self) -> Iterator[bytes]: ...
        def read(self) -> bytes: ...
        def shutdown(self) -> None: ... # from another thread: wake a blocked read, drop the connection
        def close(self) -> None: ...    # release (back to the pool when fully read)

A transport may call ``watch.attach(callable)`` with something that aborts the attempt
(a socket's shutdown) before the headers arrive, so a cancel also ends that wait, and
sets ``watch.sent = True`` once the request is fully sent (it decides whether a failure
may be retried without billing twice).
"""
import json
import logging
import os
import threading
import weakref
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, Dict, Iterator, Mapping, Optional, Protocol, Tuple, Union
from urllib.parse import urlparse

import requests
from urllib3.exceptions import HTTPError as Urllib3Error

from . import __version__
from .errors import InvalidRequestError, LLMError, NetworkError, ProviderError, TimeoutError
from .watch import Watch, WatchedAdapter, quietly, watching

__all__ = ["HttpRequest", "HttpResponse", "Watch", "RequestsTransport", "RequestsResponse", "Timeout"]

log = logging.getLogger("llmsync")

Timeout = Union[float, Tuple[float, float]]
USER_AGENT = f"llmsync/{__version__} python-requests/{requests.__version__}"


@dataclass
class HttpRequest:
    """One HTTP request as it goes on the wire."""

    method: str
    url: str
    headers: Dict[str, str]
    body: Optional[bytes] = None
    credential_headers: Tuple[str, ...] = ()  # dropped on a redirect to another origin


class HttpResponse(Protocol):
    """A response whose headers have arrived and whose body is still unread."""

    status: int
    headers: Mapping[str, str]

    def iter_bytes(self) -> Iterator[bytes]: ...

    def read(self) -> bytes: ...

    def shutdown(self) -> None: ...

    def close(self) -> None: ...


class _CredentialSafeSession(requests.Session):
    """A session that drops every credential header when a redirect leaves the origin.

    requests strips only ``Authorization`` on a cross-host redirect
    (``Session.rebuild_auth``); a provider's own key header would follow it.
    """

    credential_headers: Tuple[str, ...] = ()

    def rebuild_auth(self, prepared_request, response):
        if self.should_strip_auth(response.request.url, prepared_request.url):
            doomed = {name.lower() for name in self.credential_headers} | {"authorization"}
            for name in [h for h in prepared_request.headers if h.lower() in doomed]:
                del prepared_request.headers[name]
        super().rebuild_auth(prepared_request, response)

    def should_strip_auth(self, old_url: str, new_url: str) -> bool:
        old, new = urlparse(old_url), urlparse(new_url)
        # Any change of scheme, host or port (requests lets http -> https on default ports pass).
        return (old.scheme, old.hostname, old.port) != (new.scheme, new.hostname, new.port)


_READ_SIZE = 65536


class RequestsResponse:
    """A ``requests`` response behind the transport protocol."""

    __slots__ = ("_response", "status", "headers", "_provider")

    def __init__(self, response: requests.Response, provider: Optional[str]) -> None:
        self._response = response
        self.status = response.status_code
        self.headers = response.headers
        self._provider = provider

    def iter_bytes(self) -> Iterator[bytes]:
        raw = self._response.raw
        with translated(self._provider, sent=True):
            if raw.chunked and raw.supports_chunked_reads():
                yield from raw.read_chunked(decode_content=True)  # what iter_content runs, minus 2 layers
                return
            if not hasattr(raw, "read1"):  # urllib3 < 2.3
                yield from self._response.iter_content(chunk_size=None)
                return
            # Not chunked (an HTTP/1.0 proxy; a body ended by closing the connection):
            # iter_content(None) would wait for the whole body, so read what has arrived.
            while True:
                data = raw.read1(_READ_SIZE, decode_content=True)
                if not data:
                    return
                yield data

    def read(self) -> bytes:
        with translated(self._provider, sent=True):
            return self._response.content

    def set_read_timeout(self, seconds: float) -> None:
        """Change the open socket's read timeout (urllib3 sets it per request)."""
        connection = getattr(self._response.raw, "connection", None)
        sock = getattr(connection, "sock", None)
        if sock is not None:
            quietly(lambda: sock.settimeout(seconds))

    def shutdown(self) -> None:
        """Wake a thread blocked reading and drop the connection (urllib3 >= 2.3
        ``HTTPResponse.shutdown``: closing a socket does not wake a blocked ``recv``)."""
        shutdown_raw = getattr(self._response.raw, "shutdown", None)
        if shutdown_raw is not None:
            quietly(shutdown_raw)
        quietly(self._response.close)

    def close(self) -> None:
        quietly(self._response.close)


class RequestsTransport:
    """Sends requests on one ``requests.Session`` per thread.

    ``requests.Session`` is not documented as thread-safe (psf/requests#2766), so each
    thread gets its own, with at most ``max_connections`` kept-alive connections per
    host. After ``os.fork()`` the child starts with fresh sessions and never touches the
    parent's sockets.

    Args:
        max_connections: kept-alive connections per host, per thread.
        proxies: a requests proxies dict (``HTTP(S)_PROXY``/``NO_PROXY`` are honoured anyway).
        verify: a CA bundle path, or False to skip certificate checks.
        default_headers: headers sent with every request.
    """

    def __init__(self, max_connections: int = 32, proxies: Optional[Mapping[str, str]] = None,
                 verify: Union[bool, str, None] = None,
                 default_headers: Optional[Mapping[str, str]] = None) -> None:
        self.max_connections = max_connections
        self.proxies = dict(proxies or {})
        self.verify = verify
        self.default_headers = dict(default_headers or {})
        self._reset()

    def _reset(self) -> None:
        self._pid = os.getpid()
        self._local = threading.local()
        self._lock = threading.Lock()
        self._sessions: "weakref.WeakSet[requests.Session]" = weakref.WeakSet()
        self._environment: Dict[str, Tuple[Dict[str, str], Any]] = {}

    def _settings_for(self, url: str) -> Tuple[Dict[str, str], Any]:
        """(proxies, verify) for ``url``'s origin, from the environment once per origin.

        requests reads ``HTTP(S)_PROXY``, ``NO_PROXY``, ``REQUESTS_CA_BUNDLE`` and
        ``~/.netrc`` again on every request, a third of a small request's cost; the
        sessions here do not (``trust_env = False``), and this reads the environment
        once per origin instead. Explicit ``proxies``/``verify`` win over it.
        """
        origin = url.split("/", 3)
        key = "/".join(origin[:3])
        settings = self._environment.get(key)
        if settings is None:
            found = requests.Session().merge_environment_settings(key, {}, None, None, None)
            proxies = {**found["proxies"], **self.proxies}
            settings = (proxies, self.verify if self.verify is not None else found["verify"])
            self._environment[key] = settings
        return settings

    def session(self) -> _CredentialSafeSession:
        """This thread's session, created on first use (and anew after a fork)."""
        if self._pid != os.getpid():
            self._reset()
        session = getattr(self._local, "session", None)
        if session is None:
            session = _CredentialSafeSession()
            session.trust_env = False  # the environment is read once per origin: _settings_for
            session.headers["User-Agent"] = USER_AGENT
            session.headers.update(self.default_headers)
            adapter = WatchedAdapter(pool_connections=4, pool_maxsize=self.max_connections, max_retries=0)
            session.mount("http://", adapter)
            session.mount("https://", adapter)
            self._local.session = session
            with self._lock:
                self._sessions.add(session)
        return session

    def send(self, request: HttpRequest, timeout: Tuple[float, float], watch: Watch,
             provider: Optional[str] = None) -> RequestsResponse:
        """Send ``request``; return once the response headers are in.

        Raises:
            LLMError: the connection failed, timed out or was shut down by ``watch``.
        """
        session = self.session()
        session.credential_headers = request.credential_headers
        proxies, verify = self._settings_for(request.url)
        with watching(watch), translated(provider, watch=watch):
            response = session.request(request.method, request.url, data=request.body,
                                       headers=request.headers, timeout=timeout, stream=True,
                                       proxies=proxies, verify=verify)
        wrapped = RequestsResponse(response, provider)
        watch.attach(wrapped.shutdown)
        return wrapped

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


# -- foreign exceptions -----------------------------------------------------------------------

# What a parser raises when a body has an unexpected shape.
PARSE_ERRORS = (KeyError, IndexError, TypeError, AttributeError, ValueError, OverflowError)


def foreign_error(exc: BaseException, provider_id: Optional[str], sent: bool = False) -> LLMError:
    """The llmsync error for a foreign exception (requests, urllib3, socket, parsing).

    ``sent`` tells whether the request had been fully sent: a connection lost after that
    may have reached a provider that is generating (and billing) the reply.
    """
    if isinstance(exc, LLMError):
        return exc
    if isinstance(exc, requests.exceptions.ConnectTimeout):
        return TimeoutError(f"timed out connecting: {exc}", provider=provider_id)
    if isinstance(exc, requests.exceptions.ReadTimeout):
        return TimeoutError(f"timed out waiting for data: {exc}", provider=provider_id, sent=True)
    if isinstance(exc, (requests.exceptions.InvalidURL, requests.exceptions.MissingSchema,
                        requests.exceptions.InvalidSchema, requests.exceptions.InvalidHeader)):
        return InvalidRequestError(f"cannot send the request: {exc}", provider=provider_id)
    if isinstance(exc, (requests.RequestException, OSError, Urllib3Error)):
        if "timed out" in str(exc).lower():
            return TimeoutError(f"timed out waiting for data: {exc}", provider=provider_id, sent=sent)
        return NetworkError(f"connection failed: {exc}", provider=provider_id, sent=sent)
    if isinstance(exc, UnicodeDecodeError):
        return ProviderError(f"the body is not valid UTF-8: {exc}", provider=provider_id)
    # A parser met a body of an unexpected shape (or urllib3 a response closed under it).
    return ProviderError(f"unexpected reply: {type(exc).__name__}: {exc}", provider=provider_id)


@contextmanager
def translated(provider_id: Optional[str], sent: bool = False, watch: Optional[Watch] = None) -> Iterator[None]:
    """Raise foreign exceptions as llmsync errors (``foreign_error``), chained."""
    try:
        yield
    except LLMError:
        raise
    except (requests.RequestException, OSError, Urllib3Error) + PARSE_ERRORS as exc:
        raise foreign_error(exc, provider_id, sent or (watch is not None and watch.sent)) from exc


def dumps(body: Any) -> bytes:
    """A JSON body as compact UTF-8 bytes."""
    return json.dumps(body, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
