"""``Client``: routes "provider/model" to a provider and runs requests over the transport."""
import logging
import os
import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Dict, Iterable, Iterator, List, Mapping, Optional, Union

from .auth import ApiKey, AuthStore
from .catalog import ModelMeta, lookup
from .errors import InvalidRequestError, LLMError
from .events import Event
from .options import Request, RetryPolicy
from .providers.base import Provider
from .registry import get_provider, split_model
from .retry import call_with_retry
from .stream import Cancellation, Deadline, Stream, StreamConnection, bounded_timeout
from .transport import SECRET_HEADERS, Timeout, Transport, read_json, translated
from .types import Message, Response

if TYPE_CHECKING:
    from .tools import RunResult

__all__ = ["Client", "Plan"]

log = logging.getLogger("llmsync")


@dataclass
class Plan:
    """The exact wire request ``explain`` would send (keys redacted), and why it looks so."""

    provider: str
    model: str
    url: str
    headers: Dict[str, str]
    body: Dict[str, Any]
    adjustments: List[str] = field(default_factory=list)


@dataclass
class _Prepared:
    provider: Provider
    model: str
    url: str
    headers: Dict[str, str]
    body: Dict[str, Any]
    adjustments: List[str]
    request: Request


class Client:
    """One client for every provider, shared freely across threads.

    Args:
        api_keys: keys per provider id; else environment variables, else the auth file.
        base_urls: base URL overrides per provider id (else ``<PROVIDER>_BASE_URL``).
        timeout: seconds, or a (connect, read) tuple; read is the idle gap between bytes.
        retry: the ``RetryPolicy`` (default: 3 retries with jittered backoff).
        max_connections: kept-alive connections per host, per thread.
        first_token_timeout: optional deadline for a stream's first event.
        total_timeout: optional deadline for a whole reply.
        auth_file: the JSON key file (default ``$LLMSYNC_AUTH_FILE`` or
            ``~/.config/llmsync/auth.json``).
    """

    def __init__(
        self,
        api_keys: Optional[Mapping[str, Union[str, ApiKey]]] = None,
        base_urls: Optional[Mapping[str, str]] = None,
        timeout: Timeout = 60.0,
        retry: Optional[RetryPolicy] = None,
        max_connections: int = 32,
        first_token_timeout: Optional[float] = None,
        total_timeout: Optional[float] = None,
        auth_file: Optional[str] = None,
    ) -> None:
        self._config = dict(
            api_keys=dict(api_keys or {}), base_urls=dict(base_urls or {}), timeout=timeout,
            retry=retry, max_connections=max_connections, first_token_timeout=first_token_timeout,
            total_timeout=total_timeout, auth_file=auth_file,
        )
        self.timeout = timeout
        self.retry = retry or RetryPolicy()
        self.first_token_timeout = first_token_timeout
        self.total_timeout = total_timeout
        self._auth = AuthStore(api_keys, auth_file=auth_file)
        self._base_urls = dict(base_urls or {})
        self._transport = Transport(max_connections)
        self._pool: Optional[ThreadPoolExecutor] = None
        self._pool_pid = os.getpid()
        self._pool_lock = threading.Lock()

    def __repr__(self) -> str:
        return f"Client(api_keys for {sorted(self._auth.explicit_providers)}, base_urls={self._base_urls})"

    # -- pickling: configuration only; connections and threads are rebuilt ----------------

    def __getstate__(self) -> Dict[str, Any]:
        return dict(self._config)

    def __setstate__(self, state: Dict[str, Any]) -> None:
        self.__init__(**state)  # type: ignore[misc]

    # -- public API ------------------------------------------------------------------------

    def generate(self, model: str, messages: Union[str, List[Message]], **options: Any) -> Response:
        """Send a request and wait for the whole reply.

        Keyword options are the fields of ``Request`` (system_prompt, tools, ...).
        """
        return self.send(self._request(model, messages, options, stream=False))

    def stream(self, model: str, messages: Union[str, List[Message]], **options: Any) -> Stream:
        """Send a request and return a ``Stream`` of its events (use it in ``with``)."""
        return self.send(self._request(model, messages, options, stream=True))

    def send(self, request: Request) -> Any:
        """Send a ``Request``: a ``Stream`` if ``request.stream``, else a ``Response``."""
        return self._send(request)

    def _send(self, request: Request, retry: Optional[RetryPolicy] = None) -> Any:
        prepared = self._prepare(request)
        policy = retry or self.retry
        if request.stream:
            return self._open_stream(prepared, policy)
        return self._generate(prepared, policy)

    def explain(self, model: str, messages: Union[str, List[Message]], **options: Any) -> Plan:
        """The exact wire request that would be sent, with keys redacted; nothing is sent."""
        stream = bool(options.pop("stream", False))
        prepared = self._prepare(self._request(model, messages, options, stream=stream), redact=True)
        return Plan(prepared.provider.id, prepared.model, prepared.url, prepared.headers,
                    prepared.body, prepared.adjustments)

    def run(self, model: str, messages: Union[str, List[Message]], tools: Iterable[Any],
            max_turns: int = 8, **options: Any) -> "RunResult":
        """Call the model, run its tool calls, and repeat until it answers without tools.

        ``tools`` are ``@tool`` functions, ``Tool`` objects or plain functions. Options are
        those of ``generate`` plus ``tool_timeout`` (seconds, for tools without their own).
        Returns a ``RunResult``; its ``stopped_reason`` is "max_turns" when cut short.
        """
        from .tools import run_loop

        return run_loop(self, model, messages, list(tools), max_turns, options)

    def run_stream(self, model: str, messages: Union[str, List[Message]], tools: Iterable[Any],
                   max_turns: int = 8, **options: Any) -> Iterator[Event]:
        """Like ``run``, yielding every turn's events and a ``ToolResult`` per tool call.

        The generator returns the ``RunResult`` (reachable with ``yield from``).
        """
        from .tools import run_loop_stream

        return run_loop_stream(self, model, messages, list(tools), max_turns, options)

    def batch(self, requests: Iterable[Any], max_workers: int = 8,
              requests_per_minute: Optional[float] = None,
              tokens_per_minute: Optional[float] = None, on_progress: Any = None) -> Iterator[Any]:
        """Run many requests on a thread pool; yield ``BatchResult``s as they finish."""
        from .batch import run_batch

        return run_batch(self, requests, max_workers, requests_per_minute, tokens_per_minute, on_progress)

    def model_info(self, model: str) -> Optional[ModelMeta]:
        """The catalog entry for "provider/model-id", or None when unknown."""
        provider_id, model_id = split_model(model)
        return lookup(provider_id, model_id)

    def executor(self) -> ThreadPoolExecutor:
        """The client's shared worker pool (for tools and batches), created on first use."""
        with self._pool_lock:
            # A pool inherited through fork() has no threads in the child: start a new one.
            if self._pool is None or self._pool_pid != os.getpid():
                self._pool = ThreadPoolExecutor(max_workers=32, thread_name_prefix="llmsync")
                self._pool_pid = os.getpid()
            return self._pool

    def close(self) -> None:
        """Release pooled connections and worker threads. The client may be used again."""
        with self._pool_lock:
            pool, self._pool = self._pool, None
        if pool is not None:
            # Work not yet started is dropped; tools still running are waited for.
            pool.shutdown(wait=True, cancel_futures=True)
        self._transport.close()

    def __enter__(self) -> "Client":
        return self

    def __exit__(self, *exc_info: Any) -> None:
        self.close()

    # -- internals ----------------------------------------------------------------------------

    def _request(self, model: str, messages: Any, options: Dict[str, Any], stream: bool) -> Request:
        if "stream" in options:
            raise InvalidRequestError("stream is not an option: call client.stream() for a stream, "
                                      "client.generate() for a whole reply")
        unknown = set(options) - set(Request.option_names())
        if unknown:
            raise InvalidRequestError(
                f"unknown option(s) {sorted(unknown)}; options are {Request.option_names()}"
            )
        return Request(model=model, messages=messages, stream=stream, **options)

    def base_url(self, provider: Provider) -> str:
        """The base URL for ``provider``: ``base_urls``, else its env var, else its default."""
        url = (self._base_urls.get(provider.id)
               or self._auth.environ.get(provider.base_url_env)
               or provider.default_base_url)
        if not url:
            raise InvalidRequestError(
                f"provider {provider.id!r} has no default base URL: pass "
                f"base_urls={{{provider.id!r}: 'https://host/v1'}} or set ${provider.base_url_env}",
                provider=provider.id,
            )
        return url.rstrip("/")

    def _prepare(self, request: Request, redact: bool = False) -> _Prepared:
        provider_id, model = split_model(request.model)
        provider = get_provider(provider_id)
        provider.validate_request(request)
        plan = provider.build_request(request, model)
        if request.extra:
            plan.body.update(request.extra)
        url = self.base_url(provider) + plan.path
        key = self._auth.get(provider.id, provider.env_keys) if redact else provider.resolve_auth(self._auth)
        headers = {**plan.headers, **provider.auth_headers(key)}
        if redact:
            headers = {name: ("***" if name.lower() in SECRET_HEADERS else value)
                       for name, value in headers.items()}
        for adjustment in plan.adjustments:
            log.info("%s/%s: %s", provider.id, model, adjustment)
        return _Prepared(provider, model, url, headers, plan.body, plan.adjustments, request)

    def _timeouts(self, request: Request) -> Dict[str, Optional[float]]:
        return {
            "first_token": request.first_token_timeout or self.first_token_timeout,
            "total": request.total_timeout or self.total_timeout,
        }

    def _generate(self, prepared: _Prepared, policy: RetryPolicy) -> Response:
        # Shared by every attempt: once it has passed, a retry could not finish either.
        total = Deadline(self._timeouts(prepared.request)["total"], "complete reply", retryable=False)
        provider = prepared.provider

        def attempt() -> Response:
            try:
                response = self._transport.post(prepared.url, prepared.headers, prepared.body,
                                                bounded_timeout(self.timeout, total), provider)
                total.arm(response)
                try:
                    payload = read_json(response, provider)
                finally:
                    total.cancel()
                    response.close()
            except LLMError:
                if total.expired:
                    raise total.error(provider.id) from None
                raise
            with translated(provider.id):
                return provider.parse_response(payload, prepared.model)

        return call_with_retry(attempt, policy)

    def _open_stream(self, prepared: _Prepared, policy: RetryPolicy) -> Stream:
        timeouts = self._timeouts(prepared.request)
        provider = prepared.provider

        def open_connection(cancellation: Cancellation) -> StreamConnection:
            total = Deadline(timeouts["total"], "complete reply", retryable=False)

            def attempt() -> StreamConnection:
                if cancellation.cancelled:
                    raise LLMError("the stream was closed", provider=provider.id, retryable=False)
                first_token = Deadline(timeouts["first_token"], "first event")
                try:
                    response = self._transport.post(prepared.url, prepared.headers, prepared.body,
                                                    bounded_timeout(self.timeout, first_token, total), provider)
                except LLMError as error:
                    for deadline in (first_token, total):
                        if deadline.expired:
                            raise deadline.error(provider.id) from error
                    raise
                cancellation.watch(response)
                connection = StreamConnection(response, provider.stream_parser(prepared.model), provider,
                                              first_token, total, cancellation)
                try:
                    return connection.open(self.timeout)
                except LLMError as error:
                    if cancellation.cancelled:
                        error.retryable = False  # closed by the caller: no retry
                    raise

            return call_with_retry(attempt, policy)

        return Stream(open_connection)
