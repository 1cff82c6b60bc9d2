"""``Client``: routes "provider/model" to a provider, prepares requests, and hands them to
the exchange (``llmsync.exchange``) that sends them."""
import logging
import os
import threading
import warnings
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from typing import (TYPE_CHECKING, Any, Callable, Dict, Iterable, Iterator, List, Mapping, Optional, Set, Tuple,
                    Union)
from urllib.parse import urlencode

from .auth import ApiKey, AuthStore
from .catalog import ModelMeta
from .errors import InvalidRequestError, LLMError, LLMSyncWarning
from .events import Event
from .cancel import Cancel
from .exchange import CLOSED, Exchange, Prepared, Settings
from .fallback import FallbackExchange, models_of
from .observe import Hooks, watch
from .options import Request, RetryPolicy
from .providers.base import Provider
from .redaction import redact, remember
from .registry import get_provider, split_model
from .stream import Stream
from .structured import with_output_retries
from .transport import RequestsTransport, Timeout, dumps
from .types import Message, Response

if TYPE_CHECKING:
    from .tools import RunResult

__all__ = ["Client", "Plan"]

log = logging.getLogger("llmsync")

DEFAULT_TIMEOUT = (10.0, 600.0)


@dataclass
class Plan:
    """The exact wire request ``explain`` would send (keys redacted), and why it looks so."""

    provider: str
    model: str
    url: str
    headers: Dict[str, str]
    body: Dict[str, Any]
    adjustments: List[str] = field(default_factory=list)


def _timeout_pair(timeout: Timeout) -> Tuple[float, float]:
    if isinstance(timeout, (int, float)) and not isinstance(timeout, bool) and timeout > 0:
        return (float(timeout), float(timeout))
    if (isinstance(timeout, tuple) and len(timeout) == 2
            and all(isinstance(t, (int, float)) and not isinstance(t, bool) and t > 0 for t in timeout)):
        return (float(timeout[0]), float(timeout[1]))
    raise InvalidRequestError(f"timeout must be seconds > 0 or a (connect, read) tuple of them, got {timeout!r}")


class Client:
    """One client for every provider, shared freely across threads.

    Args:
        api_keys: keys per provider id; else environment variables, else the auth file.
        base_urls: base URL overrides per provider id (else ``<PROVIDER>_BASE_URL``).
        timeout: seconds, or a (connect, read) tuple; read is the idle gap between bytes
            (default ``(10, 600)``: a non-streamed reasoning reply may send nothing for minutes).
        retry: the ``RetryPolicy`` (default: 3 retries with jittered backoff), or an int.
        max_connections: kept-alive connections per host, per thread.
        first_token_timeout: optional deadline for a stream's first event.
        total_timeout: optional deadline for a whole reply.
        auth_file: the JSON key file (default ``$LLMSYNC_AUTH_FILE`` or
            ``~/.config/llmsync/auth.json``).
        default_headers: headers sent with every request.
        proxies: a requests proxies dict; ``HTTP(S)_PROXY``/``NO_PROXY`` are honoured anyway.
        verify: a CA bundle path, or False to skip certificate checks.
        transport: sends the HTTP requests (``llmsync.transport``'s protocol); default
            ``RequestsTransport``.
        hooks: objects with any of ``on_request``, ``on_response``, ``on_retry``,
            ``on_error``, ``on_tool_call``, ``on_tool_result`` (``llmsync.observe``). They
            belong to this process: a pickled client (Dask, multiprocessing) has none.
    """

    def __init__(
        self,
        api_keys: Optional[Mapping[str, Union[str, ApiKey]]] = None,
        base_urls: Optional[Mapping[str, str]] = None,
        timeout: Timeout = DEFAULT_TIMEOUT,
        retry: Union[RetryPolicy, int, None] = None,
        max_connections: int = 32,
        first_token_timeout: Optional[float] = None,
        total_timeout: Optional[float] = None,
        auth_file: Optional[str] = None,
        default_headers: Optional[Mapping[str, str]] = None,
        proxies: Optional[Mapping[str, str]] = None,
        verify: Union[bool, str, None] = None,
        transport: Any = None,
        hooks: Optional[Iterable[Any]] = None,
    ) -> None:
        self.hooks = Hooks(hooks)  # checked first: a bad hook is an InvalidRequestError
        self._config = dict(
            api_keys=dict(api_keys or {}), base_urls=dict(base_urls or {}), timeout=timeout,
            retry=retry, max_connections=max_connections, first_token_timeout=first_token_timeout,
            total_timeout=total_timeout, auth_file=auth_file, default_headers=dict(default_headers or {}),
            proxies=dict(proxies or {}), verify=verify,
        )
        self.timeout = _timeout_pair(timeout)
        self.retry = RetryPolicy.coerce(retry) or RetryPolicy()
        self.first_token_timeout = first_token_timeout
        self.total_timeout = total_timeout
        self._auth = AuthStore(api_keys, auth_file=auth_file)
        self._base_urls = dict(base_urls or {})
        self._transport = transport or RequestsTransport(max_connections, proxies=proxies, verify=verify,
                                                         default_headers=default_headers)
        self._live: Set[Any] = set()  # calls under way (exchanges, batches): close() stops each
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

    def generate(self, model: str, messages: Union[str, List[Message]], *, cancel: Optional[Cancel] = None,
                 **options: Any) -> Response:
        """Send a request and wait for the whole reply.

        Keyword options are the fields of ``Request`` (system_prompt, tools, ...);
        ``cancel`` is a ``Cancel`` that ends the call from another thread.

        Raises:
            LLMError: the typed error; ``CancelledError`` when cancelled.
        """
        return self.send(self._request(model, messages, options, stream=False), cancel=cancel)

    def stream(self, model: str, messages: Union[str, List[Message]], *, cancel: Optional[Cancel] = None,
               **options: Any) -> Stream:
        """Check the request and return a ``Stream`` of its events (use it in ``with``).

        The request is sent when iteration starts.
        """
        return self.send(self._request(model, messages, options, stream=True), cancel=cancel)

    def send(self, request: Request, cancel: Optional[Cancel] = None) -> Any:
        """Send a ``Request``: a ``Stream`` if ``request.stream``, else a ``Response``."""
        if request.stream:
            return Stream(self.exchange(request, cancel), request)
        if request.output_retries:  # a structured reply that does not parse is asked for again
            return with_output_retries(request, lambda again: self.exchange(again, cancel).response())
        return self.exchange(request, cancel).response()

    def explain(self, model: str, messages: Union[str, List[Message]], **options: Any) -> Plan:
        """The exact wire request that would be sent, with keys redacted; nothing is sent.

        Every credential header the request will carry shows as ``***``, including tokens
        fetched per request and signatures, which are neither fetched nor computed here.
        """
        stream = bool(options.pop("stream", False))
        request = self._request(model, messages, options, stream=stream)
        provider, model_id, plan = self._plan(request)
        credentials = {name: "***" for name in provider.credential_headers(self._auth)}
        headers = {**self._headers(plan.headers, request, credentials), **credentials}
        return Plan(provider.id, model_id, self._url(provider, plan.path, request), headers,
                    self._body(plan.body, request), plan.adjustments)

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
              tokens_per_minute: Optional[float] = None, on_progress: Any = None,
              cancel: Optional[Cancel] = None, limiter: Any = None) -> Iterator[Any]:
        """Run many requests on a thread pool; yield ``BatchResult``s as they finish.

        ``limiter`` replaces the local rate limits with a shared one (``llmsync.batch``).
        """
        from .batch import run_batch

        return run_batch(self, requests, max_workers, requests_per_minute, tokens_per_minute, on_progress,
                         cancel=cancel, limiter=limiter)

    def list_models(self, provider_id: str) -> List[str]:
        """Ask a provider's server which models it serves (``GET <base URL>/models``).

        Raises:
            LLMError: the server could not be asked, or answered in another shape.
        """
        provider = get_provider(provider_id)
        prepared = Prepared(provider, "", self.base_url(provider) + provider.models_path, {}, None,
                            provider.resolve_auth(self._auth), method="GET")
        exchange = Exchange(self._transport, prepared, Settings(self.timeout, self.retry), live=self._live,
                            redact=self._redact)
        return provider.parse_model_list(exchange.json())

    def model_info(self, model: str) -> Optional[ModelMeta]:
        """The catalog entry for "provider/model-id" as its provider reads it (an OpenAI
        fine-tune gets its base model's), or None when unknown."""
        provider_id, model_id = split_model(model)
        try:
            provider = get_provider(provider_id)
        except InvalidRequestError:  # no such provider: nothing known about its models
            return None
        return provider.model_meta(model_id)

    def executor(self) -> ThreadPoolExecutor:
        """The client's shared worker pool (for tools and batches), created on first use."""
        with self._pool_lock:
            # A pool inherited through fork() has no threads in the child: start a new one.
            if self._pool is None or self._pool_pid != os.getpid():
                self._pool = ThreadPoolExecutor(max_workers=32, thread_name_prefix="llmsync")
                self._pool_pid = os.getpid()
            return self._pool

    def close(self) -> None:
        """End calls under way in other threads (``CancelledError``), release pooled
        connections and worker threads. The client may be used again."""
        for exchange in list(self._live):
            exchange.stop(CLOSED)
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

    def exchange(self, request: Request, cancel: Optional[Cancel] = None,
                 before_attempt: Optional[Callable[[], None]] = None,
                 on_retry: Optional[Callable[[LLMError, int, float], None]] = None) -> Exchange:
        """The ``Exchange`` that will send ``request`` (nothing is sent yet).

        Raises:
            InvalidRequestError, AuthenticationError: the request cannot be sent as built.
        """
        if cancel is not None and not isinstance(cancel, Cancel):
            raise InvalidRequestError(f"cancel must be an llmsync.Cancel, got {cancel!r}")
        if isinstance(request.model, (list, tuple)):  # a fallback chain (llmsync.fallback)
            return FallbackExchange(models_of(request.model), lambda model: self.exchange(
                replace(request, model=model), cancel, before_attempt, on_retry))
        provider, model, plan = self._plan(request)
        key = provider.resolve_auth(self._auth)
        prepared = Prepared(provider, model, self._url(provider, plan.path, request),
                            self._headers(plan.headers, request, {}),
                            dumps(self._body(plan.body, request)), key, request)
        settings = Settings(
            timeout=_timeout_pair(request.timeout) if request.timeout is not None else self.timeout,
            retry=request.retry or self.retry,
            first_token_timeout=request.first_token_timeout or self.first_token_timeout,
            total_timeout=request.total_timeout or self.total_timeout,
        )
        exchange = Exchange(self._transport, prepared, settings, cancel=cancel, live=self._live,
                            redact=self._redact, before_attempt=before_attempt, on_retry=on_retry)
        return watch(exchange, self.hooks, plan.adjustments)  # hooks, logs, spans (llmsync.observe)

    def _redact(self, error: LLMError, sent: Set[str]) -> LLMError:
        remember(sent | self._auth.known_secrets())
        return redact(error)

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
        """The base URL for ``provider``: ``base_urls``, else its env var, else its default.

        A provider that uses another's key (``key_id``) follows that provider's base URL
        settings unless its own are given: a key only goes where its owner sends it.
        """
        environ = self._auth.environ
        ids = [provider.id] + ([provider.key_id] if provider.key_id else [])
        url = next((self._base_urls[i] for i in ids if self._base_urls.get(i)), None)
        if url is None:
            owner = get_provider(provider.key_id) if provider.key_id else None
            url = next((environ.get(p.base_url_env) for p in (provider, owner)
                        if p is not None and environ.get(p.base_url_env)), None)
        url = url or provider.base_url_from_environment(environ)
        if not url:
            raise InvalidRequestError(
                f"provider {provider.id!r} has no default base URL: pass "
                f"base_urls={{{provider.id!r}: 'https://host/v1'}} or set ${provider.base_url_env}",
                provider=provider.id,
            )
        return url.rstrip("/")

    def _plan(self, request: Request) -> Tuple[Provider, str, Any]:
        provider_id, model = split_model(request.model)
        provider = get_provider(provider_id)
        provider.validate_request(request)
        plan = provider.build_request(request, model)
        for adjustment in plan.adjustments:
            log.info("%s/%s: %s", provider.id, model, adjustment)
            warnings.warn(f"{provider.id}/{model}: {adjustment}", LLMSyncWarning, stacklevel=4)
        return provider, model, plan

    def _url(self, provider: Provider, path: str, request: Request) -> str:
        url = self.base_url(provider) + path
        if request.extra_query:
            url += ("&" if "?" in url else "?") + urlencode(request.extra_query)
        return url

    @staticmethod
    def _headers(headers: Dict[str, str], request: Request, credentials: Mapping[str, str]) -> Dict[str, str]:
        headers = {"Content-Type": "application/json", **headers}
        if request.extra_headers:
            taken = {name.lower() for name in credentials}
            for name in request.extra_headers:
                if name.lower() in taken:
                    raise InvalidRequestError(
                        f"extra_headers would replace the credential header {name!r}; "
                        "pass the key through api_keys instead")
            headers.update(request.extra_headers)
        return headers

    @staticmethod
    def _body(body: Dict[str, Any], request: Request) -> Dict[str, Any]:
        extra = request.extra_body if request.extra_body is not None else request.extra
        return {**body, **extra} if extra else body
