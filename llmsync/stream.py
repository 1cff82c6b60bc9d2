"""``Stream``: the blocking iterator over one streamed reply."""
import threading
import time
from typing import Callable, Generator, Iterator, List, Optional, Tuple

import requests

from .errors import LLMError, NetworkError, StreamError, TimeoutError
from .events import Completed, Event
from .providers.base import Provider, StreamParser
from .transport import (PARSE_ERRORS, Timeout, check_event_stream, foreign_error, iter_sse, set_read_timeout,
                        shutdown, translated)
from .types import Response

__all__ = ["Stream", "StreamConnection", "Cancellation", "Deadline", "bounded_timeout"]


class Deadline:
    """An optional deadline for a reply (the first event, or the whole of it).

    It bounds the socket read timeout of each attempt, and a timer shuts the response
    down when it passes (closing a socket does not wake a thread blocked reading it;
    shutting it down does). ``expired`` tells a read that failed because of it.
    """

    def __init__(self, seconds: Optional[float], what: str, retryable: bool = True) -> None:
        self.seconds = seconds
        self.what = what
        self.retryable = retryable
        self._ends_at = None if seconds is None else time.monotonic() + seconds
        self._fired = False
        self._timer: Optional[threading.Timer] = None

    def remaining(self) -> Optional[float]:
        return None if self._ends_at is None else max(self._ends_at - time.monotonic(), 0.0)

    @property
    def expired(self) -> bool:
        remaining = self.remaining()
        return self._fired or (remaining is not None and remaining <= 0.005)

    def arm(self, response: requests.Response) -> None:
        """Watch ``response`` (replacing any earlier one) until ``cancel``."""
        remaining = self.remaining()
        if remaining is None:
            return
        self.cancel()

        def expire() -> None:
            self._fired = True
            shutdown(response)

        self._timer = threading.Timer(remaining, expire)
        self._timer.daemon = True
        self._timer.start()

    def cancel(self) -> None:
        timer, self._timer = self._timer, None  # close() may race the reader's own cancel
        if timer is not None:
            timer.cancel()

    def error(self, provider: str) -> TimeoutError:
        return TimeoutError(f"no {self.what} within {self.seconds}s", provider=provider,
                            retryable=self.retryable)


def bounded_timeout(timeout: Timeout, *deadlines: Deadline) -> Tuple[float, float]:
    """``timeout`` with its read part cut to the nearest deadline's remaining time."""
    connect, read = timeout if isinstance(timeout, tuple) else (timeout, timeout)
    for deadline in deadlines:
        remaining = deadline.remaining()
        if remaining is not None:
            read = min(read, max(remaining, 0.001))
    return (connect, read)


class Cancellation:
    """Lets ``close()`` on one thread abort the attempt another thread is waiting on."""

    def __init__(self) -> None:
        self.cancelled = False
        self._response: Optional[requests.Response] = None
        self._lock = threading.Lock()

    def watch(self, response: requests.Response) -> None:
        """The response now being read; shut down at once if already cancelled."""
        with self._lock:
            self._response = response
            cancelled = self.cancelled
        if cancelled:
            shutdown(response)

    def cancel(self) -> None:
        with self._lock:
            self.cancelled = True
            response = self._response
        if response is not None:
            shutdown(response)  # leaves a response already back in the pool alone


class StreamConnection:
    """One HTTP attempt at a stream, read up to its first event by ``open``.

    Everything up to the first event is still retryable: nothing reached the caller.
    """

    def __init__(self, response: requests.Response, parser: StreamParser, provider: Provider,
                 first_token: Deadline, total: Deadline, cancellation: Optional[Cancellation] = None) -> None:
        self.response = response
        self.parser = parser
        self.provider = provider
        self.first_token = first_token
        self.total = total
        self.pending: List[Event] = []
        self.final: Optional[Response] = None
        self.cancellation = cancellation or Cancellation()
        self._lock = threading.Lock()
        self._released = False
        self._raw = iter_sse(response, provider.id)

    def open(self, read_timeout: Timeout) -> "StreamConnection":
        """Read until the first event; on failure release the connection and raise.

        Then the socket's read timeout goes back to ``read_timeout`` (it was cut to the
        first-event deadline) and the total deadline, if any, watches the rest.
        """
        self.first_token.arm(self.response)
        try:
            check_event_stream(self.response, self.provider)
            while not self.pending:
                if not self._read_one():
                    break
        except LLMError as error:
            self.release()
            explained = self._explain(error)
            if explained is error:
                raise
            raise explained from error
        finally:
            self.first_token.cancel()
        _, read = bounded_timeout(read_timeout, self.total)
        set_read_timeout(self.response, read)
        self.total.arm(self.response)
        return self

    def _read_one(self) -> bool:
        """Feed one wire event to the parser; False at the end of the body."""
        try:
            name, data = next(self._raw)
        except StopIteration:
            self.pending.append(Completed(self.finish()))
            return False
        with translated(self.provider.id):
            self.pending.extend(self.parser.feed(name, data))
        return True

    def finish(self) -> Response:
        with translated(self.provider.id):
            return self.parser.finish()

    def events(self) -> Iterator[Event]:
        """Every event: the ones read by ``open`` first, then the rest of the body."""
        pending, self.pending = self.pending, []
        yield from pending
        if pending and isinstance(pending[-1], Completed):
            return
        feed = self.parser.feed
        for name, data in self._raw:
            try:
                events = feed(name, data)
            except PARSE_ERRORS as exc:
                raise foreign_error(exc, self.provider.id) from exc
            yield from events
        yield Completed(self.finish())

    def _explain(self, error: LLMError) -> LLMError:
        """Name the real cause when a read failed because a deadline shut the socket."""
        for deadline in (self.first_token, self.total):
            if deadline.expired:
                return deadline.error(self.provider.id)
        return error

    def iterate(self) -> Generator[Event, None, None]:
        """The caller's view: events until ``Completed``, or a typed error with the partial."""
        delivered = False
        try:
            for event in self.events():
                if self.cancelled:
                    return
                if isinstance(event, Completed):
                    self.final = event.response
                delivered = True
                yield event
        except LLMError as error:
            if self.cancelled:
                return
            raise self._broken(error, delivered) from error
        finally:
            self.total.cancel()
            self.release()

    def _broken(self, error: LLMError, delivered: bool) -> LLMError:
        error = self._explain(error)
        partial = self.parser.builder.build()
        if isinstance(error, (StreamError, TimeoutError)) or not delivered:
            error.partial = partial
            if delivered:
                error.retryable = False  # a retry would show the caller these events again
            return error
        kind = "connection lost" if isinstance(error, NetworkError) else "stream broken"
        return StreamError(f"{kind} after events were delivered: {error.message}",
                           status=error.status, provider=error.provider, request_id=error.request_id,
                           error_type=error.error_type, partial=partial)

    @property
    def cancelled(self) -> bool:
        return self.cancellation.cancelled

    def cancel(self) -> None:
        """Stop from any thread: the iteration ends quietly and the connection is dropped."""
        self.cancellation.cancel()
        self.total.cancel()
        self.release()

    def release(self) -> None:
        """Give the connection back: to the pool if the body was read, else abort it."""
        with self._lock:
            if self._released:
                return
            self._released = True
        if self.parser.complete and not self.cancelled:
            self.response.close()
        else:
            shutdown(self.response)


class Stream:
    """A blocking iterator over one reply's events; use it in a ``with`` block.

    The request is sent when iteration starts. ``response`` holds the final ``Response``
    once the stream is exhausted, or what arrived so far after ``close()`` or an error.
    ``close()`` is idempotent and safe to call from another thread, also while the first
    event is awaited; the iteration then ends quietly. Leaving the ``with`` block, or a
    ``break`` out of a ``for`` loop that holds the only reference, closes the connection
    at once. A stream is single-use and belongs to one thread (``close`` excepted).
    """

    def __init__(self, open_connection: Callable[[Cancellation], StreamConnection]) -> None:
        self._open_connection = open_connection
        self._cancellation = Cancellation()
        self._connection: Optional[StreamConnection] = None
        self._iterator: Optional[Iterator[Event]] = None

    @property
    def response(self) -> Response:
        connection = self._connection
        if connection is None:
            return Response()
        return connection.final or connection.parser.builder.build()

    def __iter__(self) -> "Stream":
        return self

    def __next__(self) -> Event:
        if self._iterator is None:
            self._iterator = self._start()
        return next(self._iterator)

    def _start(self) -> Iterator[Event]:
        # The generator refers to the connection, never to this object, so dropping the
        # last reference to a Stream (a `break` out of a for loop) finalizes it at once.
        cancellation = self._cancellation
        try:
            if not cancellation.cancelled:
                self._connection = self._open_connection(cancellation)
        except LLMError:
            if not cancellation.cancelled:
                raise
        if self._connection is None:
            return iter(())
        if cancellation.cancelled:
            self._connection.cancel()
        return self._connection.iterate()

    def close(self) -> None:
        """Stop the stream and release its connection at once (from any thread)."""
        self._cancellation.cancel()
        if self._connection is not None:
            self._connection.cancel()

    def __enter__(self) -> "Stream":
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def __del__(self) -> None:
        connection = getattr(self, "_connection", None)
        if connection is not None:
            connection.cancel()
