"""Attempts that can be aborted from another thread: the ``Watch``, and the urllib3
connections that attach their sockets to it.

A cancel, ``Client.close()`` or a deadline shuts an attempt's watch down; that shuts its
socket down, which wakes a thread blocked anywhere in connecting, sending, waiting for
the headers or reading (closing a socket would not wake a blocked ``recv``). The
connections also record when the request was fully sent (``Watch.sent``), which decides
whether a failure may be retried without billing twice.
"""
import functools
import socket
import threading
from contextlib import contextmanager
from typing import Any, Callable, Iterator, List, Optional, Tuple

import requests
from requests.adapters import HTTPAdapter
from urllib3.connection import HTTPConnection, HTTPSConnection
from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool
from urllib3.exceptions import ConnectTimeoutError, NewConnectionError
from urllib3.util import connection as urllib3_connection

__all__ = ["Watch", "WatchedAdapter", "watching", "quietly"]


class Watch:
    """One attempt as cancellation sees it: ``shutdown`` aborts whatever is attached.

    ``reason`` says why it was shut down ("cancelled", "closed", or a deadline's name),
    so the error a blocked read then raises can be explained. ``sent`` is set once the
    request was fully sent.
    """

    __slots__ = ("reason", "sent", "_closers", "_lock")

    def __init__(self) -> None:
        self.reason: Optional[str] = None
        self.sent = False
        self._closers: List[Callable[[], None]] = []
        self._lock = threading.Lock()

    def attach(self, closer: Callable[[], None]) -> None:
        """Run ``closer`` on ``shutdown`` (at once if that already happened)."""
        with self._lock:
            if self.reason is None:
                self._closers.append(closer)
                return
        quietly(closer)

    def take_closers(self) -> List[Callable[[], None]]:
        """Hand the closers over (to the watch that replaces this one)."""
        with self._lock:
            closers, self._closers = self._closers, []
        return closers

    def retire(self) -> None:
        """The attempt is over: forget the closers (a pooled socket now serves others)."""
        with self._lock:
            self._closers = []
            if self.reason is None:
                self.reason = "done"

    def shutdown(self, reason: str) -> None:
        with self._lock:
            if self.reason is not None:
                return
            self.reason = reason
            closers, self._closers = self._closers, []
        for closer in closers:
            quietly(closer)


def quietly(closer: Callable[[], None]) -> None:
    """Run ``closer``, ignoring that what it closes is already gone."""
    try:
        closer()
    except (OSError, RuntimeError, ValueError, AttributeError, requests.RequestException):
        pass  # already closed, released, or never connected


_attempt = threading.local()  # the Watch of the request this thread is sending


@contextmanager
def watching(watch: Watch) -> Iterator[Watch]:
    """Within it, the connections this thread opens or uses attach to ``watch``."""
    _attempt.watch = watch
    try:
        yield watch
    finally:
        _attempt.watch = None


def _current_watch() -> Optional[Watch]:
    return getattr(_attempt, "watch", None)


def _create_connection(address: Tuple[str, int], timeout: Any, source_address: Any = None,
                       socket_options: Any = None) -> socket.socket:
    """urllib3's ``create_connection``, with the socket attached to the current watch
    before ``connect``: shutting a connecting socket down wakes the connect (Linux)."""
    host, port = address
    if host.startswith("["):
        host = host.strip("[]")
    error: Optional[OSError] = None
    for family, kind, proto, _, address_info in socket.getaddrinfo(
            host, port, urllib3_connection.allowed_gai_family(), socket.SOCK_STREAM):
        sock = socket.socket(family, kind, proto)
        try:
            for option in socket_options or ():
                sock.setsockopt(*option)
            if isinstance(timeout, (int, float)):
                sock.settimeout(timeout)
            if source_address:
                sock.bind(source_address)
            watch = _current_watch()
            if watch is not None:
                watch.attach(functools.partial(sock.shutdown, socket.SHUT_RDWR))
            sock.connect(address_info)
            return sock
        except OSError as exc:
            error = exc
            sock.close()
    raise error or OSError("getaddrinfo returned an empty list")


class _WatchedConnectionMixin:
    """Attaches the socket to the current attempt's watch, and records when the request
    was fully sent."""

    sock: Any

    def _new_conn(self) -> socket.socket:
        # As urllib3's, through the connect above.
        this: Any = self
        try:
            return _create_connection((this._dns_host, this.port), this.timeout,
                                      source_address=this.source_address, socket_options=this.socket_options)
        except socket.timeout as exc:
            raise ConnectTimeoutError(
                this, f"Connection to {this.host} timed out. (connect timeout={this.timeout})") from exc
        except OSError as exc:
            raise NewConnectionError(this, f"Failed to establish a new connection: {exc}") from exc

    def request(self, *args: Any, **kwargs: Any) -> None:
        watch = _current_watch()
        if watch is not None and self.sock is not None:  # a kept-alive connection
            watch.attach(functools.partial(self.sock.shutdown, socket.SHUT_RDWR))
        super().request(*args, **kwargs)  # type: ignore[misc]
        if watch is not None:
            watch.sent = True


class WatchedHTTPConnection(_WatchedConnectionMixin, HTTPConnection):
    pass


class WatchedHTTPSConnection(_WatchedConnectionMixin, HTTPSConnection):
    pass


class WatchedHTTPConnectionPool(HTTPConnectionPool):
    ConnectionCls = WatchedHTTPConnection


class WatchedHTTPSConnectionPool(HTTPSConnectionPool):
    ConnectionCls = WatchedHTTPSConnection


_WATCHED_POOLS = {"http": WatchedHTTPConnectionPool, "https": WatchedHTTPSConnectionPool}


class WatchedAdapter(HTTPAdapter):
    """An adapter whose pools (proxied ones too) make watched connections."""

    def init_poolmanager(self, *args: Any, **kwargs: Any) -> None:
        super().init_poolmanager(*args, **kwargs)
        self.poolmanager.pool_classes_by_scheme = _WATCHED_POOLS

    def proxy_manager_for(self, proxy: str, **kwargs: Any):
        manager = super().proxy_manager_for(proxy, **kwargs)
        manager.pool_classes_by_scheme = _WATCHED_POOLS
        return manager
