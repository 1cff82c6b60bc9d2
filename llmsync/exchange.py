"""One request/response exchange: send, retry, watch deadlines and cancels, read.

``Exchange`` is the edge between a prepared request and a reply. For ``generate`` it
returns the whole ``Response``; for ``stream`` it is one generator of events whose first
event is read under the retry engine (nothing reached the caller yet) and whose rest is
never retried. Every attempt gets a ``Watch``: a cancel, ``Client.close()`` or a
deadline shuts it down, which wakes a thread blocked anywhere in connecting, sending,
waiting for headers or reading the body; the error that read then raises is explained
by the watch's reason.
"""
import os
import sys
import threading
import time
from dataclasses import dataclass
from itertools import chain, starmap
from typing import TYPE_CHECKING, Any, Callable, Dict, Generator, Iterator, Optional, Set, Tuple

from .cancel import Cancel, schedule
from .errors import CancelledError, InvalidRequestError, LLMError, NetworkError, StreamError, TimeoutError
from .events import Completed, Event
from .http_errors import check_stream_type, error_from_response, read_json, request_id
from .options import RetryPolicy
from .ratelimit import rate_limit_info
from .redaction import remember, scrub
from .retry import call_with_retry
from .structured import finish as finish_structured
from .transport import PARSE_ERRORS, HttpRequest, foreign_error, translated
from .types import Response
from .watch import Watch

if TYPE_CHECKING:
    from .auth import ApiKey
    from .providers.base import Provider, StreamParser

__all__ = ["Exchange", "Prepared", "Settings"]

CANCELLED, CLOSED, FIRST_EVENT, COMPLETE_REPLY = "cancelled", "closed", "first event", "complete reply"
_GUARD_ENV, _GUARD_MODULE = "LLMSYNC_ALLOW_REAL_REQUESTS", "llmsync.testing.guard"


@dataclass
class Prepared:
    """A request ready for the wire: everything but the credentials, added per attempt."""

    provider: "Provider"
    model: str
    url: str
    headers: Dict[str, str]
    body: Optional[bytes]
    key: "Optional[ApiKey]"
    request: Any = None  # the llmsync Request it came from
    method: str = "POST"


@dataclass
class Settings:
    """How one call is sent: timeouts, deadlines and retries."""

    timeout: Tuple[float, float]
    retry: RetryPolicy
    first_token_timeout: Optional[float] = None
    total_timeout: Optional[float] = None


class Exchange:
    """One request and its reply, over as many attempts as the retry policy allows.

    Args:
        transport: sends one attempt (``llmsync.transport``'s protocol).
        prepared: the request.
        settings: timeouts, deadlines and the retry policy.
        cancel: the caller's ``Cancel``, if any.
        live: the client's set of exchanges under way (``Client.close()`` stops them).
        redact: hides every secret the exchange sent in an error's message.
        before_attempt, on_retry: the retry engine's hooks (a batch's shared limits).
    """

    def __init__(self, transport: Any, prepared: Prepared, settings: Settings, cancel: Optional[Cancel] = None,
                 live: Optional[Set["Exchange"]] = None, redact: Optional[Callable[[LLMError, Set[str]], Any]] = None,
                 before_attempt: Optional[Callable[[], None]] = None,
                 on_retry: Optional[Callable[[LLMError, int, float], None]] = None) -> None:
        self.transport = transport
        self.prepared = prepared
        self.provider = prepared.provider
        self.settings = settings
        self.cancel = cancel
        self.live = live
        self.redact = redact
        self.before_attempt = before_attempt
        self.on_retry = on_retry
        self.attempts = 0
        self.status: Optional[int] = None  # set when a reply is stamped
        self.parser: "Optional[StreamParser]" = None
        self.final: Optional[Response] = None
        self.stop_reason: Optional[str] = None
        self._stopped = threading.Event()
        self._watch: Optional[Watch] = None
        self._secrets: Set[str] = set()
        self._started = 0.0
        self._first_event_at: Optional[float] = None
        self._total_at: Optional[float] = None
        self._unsubscribe: Callable[[], Any] = lambda: None

    # -- stopping ---------------------------------------------------------------------------

    def stop(self, reason: str = CANCELLED) -> None:
        """End the exchange from any thread: the current attempt is shut down at once."""
        if self.stop_reason is None:
            self.stop_reason = reason
        self._stopped.set()
        watch = self._watch
        if watch is not None:
            watch.shutdown(reason)

    @property
    def stopped(self) -> threading.Event:
        """Set once the exchange is stopped (a cancel, ``Client.close()``): a ``before_attempt``
        hook that waits (a batch's rate limit) waits on it too."""
        return self._stopped

    def _check_stopped(self) -> None:
        if self.stop_reason is not None:
            raise self._cancelled_error()

    def _cancelled_error(self) -> CancelledError:
        what = "the client was closed" if self.stop_reason == CLOSED else "the call was cancelled"
        partial = self.parser.builder.build() if self.parser is not None else None
        return CancelledError(what, provider=self.provider.id, partial=partial)

    def _begin(self) -> None:
        self._started = time.monotonic()
        if self.settings.total_timeout is not None:
            self._total_at = self._started + self.settings.total_timeout
        if self.live is not None:
            self.live.add(self)
        if self.cancel is not None:
            self._unsubscribe = self.cancel.subscribe(self.stop)

    def _end(self) -> None:
        self._unsubscribe()
        if self.live is not None:
            self.live.discard(self)
        watch = self._watch
        if watch is not None:
            watch.retire()

    # -- one attempt ----------------------------------------------------------------------------

    def _send(self, first_event_deadline: bool) -> Any:
        """Send one attempt; return the response once its headers are in and its status is OK."""
        self._check_stopped()
        if _GUARD_ENV in os.environ or _GUARD_MODULE in sys.modules:  # llmsync.testing.guard
            from .testing.guard import check_request

            check_request(self.prepared.url, self.provider.id)
        self.attempts += 1
        provider, prepared = self.provider, self.prepared
        watch = Watch()
        previous, self._watch = self._watch, watch
        if previous is not None:
            previous.retire()
        if self.stop_reason is not None:  # stopped while we were setting up
            watch.shutdown(self.stop_reason)
        credentials = provider.auth_headers(prepared.key)
        credentials.update(provider.sign_request(prepared.key, prepared.url, {**prepared.headers, **credentials},
                                                 prepared.body or b""))
        public = provider.public_credential_headers
        fresh = {value for name, value in credentials.items() if value and name.lower() not in public} - self._secrets
        if fresh:
            self._secrets.update(fresh)
            remember(fresh)  # so logs and errors never show them
        user_headers = getattr(prepared.request, "extra_headers", None)
        if user_headers:
            clash = {name.lower() for name in user_headers} & {name.lower() for name in credentials}
            if clash:
                raise InvalidRequestError(
                    f"extra_headers would replace the credential header(s) {sorted(clash)}; "
                    "pass the key through api_keys instead", provider=provider.id)
        request = HttpRequest(prepared.method, prepared.url, {**prepared.headers, **credentials}, prepared.body,
                              credential_headers=tuple(credentials))
        if self._total_at is not None:
            schedule(self._total_at, watch, COMPLETE_REPLY)
        if first_event_deadline and self.settings.first_token_timeout is not None:
            schedule(time.monotonic() + self.settings.first_token_timeout, watch, FIRST_EVENT)
        try:
            response = self.transport.send(request, self.settings.timeout, watch, provider.id)
        except LLMError as error:
            raise self._explained(error) from None
        if response.status >= 300:
            try:
                with translated(provider.id, sent=True):
                    content = response.read()
            finally:
                response.close()
            raise self._without_secrets(error_from_response(response.status, response.headers, content, provider))
        return response

    def _explained(self, error: LLMError) -> LLMError:
        """The real cause of ``error`` when the watch was shut down under it."""
        watch = self._watch
        reason = watch.reason if watch is not None else None
        if reason in (CANCELLED, CLOSED) or self.stop_reason is not None:
            cancelled = self._cancelled_error()
            cancelled.__cause__ = error
            return cancelled
        if reason == FIRST_EVENT:
            return TimeoutError(f"no first event within {self.settings.first_token_timeout}s",
                                provider=self.provider.id, sent=True)
        if reason == COMPLETE_REPLY:
            return TimeoutError(f"no complete reply within {self.settings.total_timeout}s",
                                provider=self.provider.id, retryable=False)
        return self._without_secrets(error)

    def _without_secrets(self, error: LLMError) -> LLMError:
        if self.redact is not None:
            self.redact(error, self._secrets)
        return error

    def _stamp(self, response: Response, http: Any, first_event_at: Optional[float] = None) -> Response:
        """Add what the HTTP exchange says about the reply."""
        now = time.monotonic()
        response.request_id = request_id(http.headers)
        # Nothing secret: no cookies, and no key a gateway echoes back in a header.
        response.headers = {name: scrub(value) for name, value in http.headers.items()
                            if name.lower() != "set-cookie"}
        response.rate_limit = rate_limit_info(http.headers)
        response.attempts = self.attempts
        self.status = http.status  # the answering attempt's status, for the log (llmsync.observe)
        response.latency = now - self._started
        if first_event_at is not None:
            response.time_to_first_token = first_event_at - self._started
        return response

    def _retrying(self, attempt: Callable[[], Any]) -> Any:
        return call_with_retry(attempt, self.settings.retry, stop=self._stopped, before_attempt=self.before_attempt,
                               on_retry=self.on_retry, check=self._check_stopped)

    # -- a whole reply ------------------------------------------------------------------------

    def response(self) -> Response:
        """Send the request and return the whole reply.

        Raises:
            LLMError: the last attempt's error (``attempts`` says how many were made);
                ``CancelledError`` when cancelled or when the client was closed.
        """
        self._begin()
        try:
            return finish_structured(self._retrying(self._whole_reply), self.prepared.request)
        except LLMError as error:
            if self.stop_reason is not None and not isinstance(error, CancelledError):
                raise self._cancelled_error() from error
            raise
        finally:
            self._end()

    def json(self) -> Any:
        """Send the request and return its JSON body (for replies that are not a model's)."""
        self._begin()
        try:
            return self._retrying(lambda: self._read_json()[1])
        finally:
            self._end()

    def _read_json(self) -> Tuple[Any, Any]:
        http = self._send(first_event_deadline=False)
        try:
            content = http.read()
        except LLMError as error:
            http.shutdown()
            raise self._explained(error) from None
        http.close()
        return http, read_json(http, content, self.provider)

    def _whole_reply(self) -> Response:
        http, payload = self._read_json()
        with translated(self.provider.id):
            response = self.provider.parse_response(payload, self.prepared.model)
        return self._stamp(response, http)

    # -- a stream ---------------------------------------------------------------------------------

    def events(self) -> Generator[Event, None, None]:
        """Send the request and yield its events; ``Completed`` is last on success.

        A cancel ends the iteration quietly (``Client.close()`` raises ``CancelledError``);
        a failure after events were delivered raises with ``partial`` set.
        """
        self._begin()
        http = None
        try:
            try:
                first, rest, http = self._retrying(self._open_stream)
            except LLMError as error:
                if self.stop_reason == CANCELLED:
                    return
                if self.stop_reason is not None and not isinstance(error, CancelledError):
                    raise self._cancelled_error() from error
                raise
            yield first
            try:
                for event in rest:
                    if self.stop_reason is not None:
                        break
                    yield event
            except (LLMError,) + PARSE_ERRORS as exc:
                if self.stop_reason != CANCELLED:
                    broken = self._broken(self._read_error(exc))
                    if broken is exc:
                        raise  # as it is, with its cause (the foreign error under it)
                    raise broken from exc
            if self.stop_reason == CLOSED:
                raise self._cancelled_error()
        finally:
            if http is not None:
                if self.final is not None and self.stop_reason is None:
                    http.close()
                else:
                    http.shutdown()
            self._end()

    def _open_stream(self) -> Tuple[Event, Iterator[Event], Any]:
        """One attempt at a stream, read up to its first event (all still retryable)."""
        http = self._send(first_event_deadline=True)
        self.parser = self.provider.stream_parser(self.prepared.model)
        try:
            check_stream_type(http, self.provider)
            try:  # a custom transport or decoder may start reading as soon as it is called
                events = self._read_events(http, self.parser)
                first = next(events)
            except PARSE_ERRORS as exc:
                raise self._read_error(exc) from exc
        except LLMError as error:
            http.shutdown()
            explained = self._explained(error)
            if explained.partial is None:
                explained.partial = self.parser.builder.build()
            raise explained from (error.__cause__ if explained is error else error)
        first_event_at = time.monotonic()
        watch = self._watch
        if watch is not None and watch.reason is None:
            self._rearm(watch)
        self._first_event_at = first_event_at
        return first, events, http

    def _rearm(self, watch: Watch) -> None:
        """After the first event only the total deadline (and cancels) may end the stream:
        a fresh watch replaces the one whose first-event deadline is still scheduled."""
        fresh = Watch()
        fresh.sent = True
        closers = watch.take_closers()
        for closer in closers:
            fresh.attach(closer)
        self._watch = fresh
        watch.retire()
        if self.stop_reason is not None:
            fresh.shutdown(self.stop_reason)
        elif self._total_at is not None:
            schedule(self._total_at, fresh, COMPLETE_REPLY)

    def _read_events(self, http: Any, parser: "StreamParser") -> Iterator[Event]:
        """The reply's events, then ``Completed``.

        Built from iterator combinators: between the SSE decoder's generator and
        ``events`` an event costs only the parser's ``feed`` (benchmarks/README.rst,
        "Where the time goes"). A parser's foreign exceptions come out as they are; the
        reader translates them (``_read_error``).
        """
        events = chain.from_iterable(starmap(parser.feed, self.provider.decode_stream(http.iter_bytes())))
        return chain(events, self._completion(http, parser))

    def _completion(self, http: Any, parser: "StreamParser") -> Iterator[Event]:
        with translated(self.provider.id):
            response = parser.finish()
        self.final = self._stamp(response, http, self._first_event_at)
        yield Completed(self.final)

    def _read_error(self, exc: BaseException) -> LLMError:
        """The llmsync error for what reading the stream raised (a parser's is foreign)."""
        return exc if isinstance(exc, LLMError) else foreign_error(exc, self.provider.id)

    def _broken(self, error: LLMError) -> LLMError:
        """The error for a stream that failed after events reached the caller."""
        error = self._explained(error)
        partial = self.parser.builder.build() if self.parser is not None else None
        if isinstance(error, (StreamError, TimeoutError, CancelledError)):
            error.partial = partial
            error.retryable = False  # a retry would show the caller these events again
            return error
        kind = "connection lost" if isinstance(error, NetworkError) else "stream broken"
        return StreamError(f"{kind} after events were delivered: {error.message}", status=error.status,
                           provider=error.provider, request_id=error.request_id, error_type=error.error_type,
                           partial=partial)

    def partial(self) -> Response:
        """The reply so far: the final one after ``Completed``, else what has arrived."""
        if self.final is not None:
            return self.final
        if self.parser is not None:
            return self.parser.builder.build()
        return Response()
