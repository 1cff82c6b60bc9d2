"""``Stream``: the blocking iterator over one streamed reply."""
import threading
import time
from typing import Callable, Iterator, List, Optional

import requests

from .errors import LLMError, NetworkError, StreamError, TimeoutError
from .events import Completed, Event
from .providers.base import Provider, StreamParser
from .transport import PARSE_ERRORS, check_event_stream, foreign_error, iter_sse, shutdown, translated
from .types import Response

__all__ = ["Stream", "StreamConnection", "Deadline"]


class Deadline:
    """A deadline that shuts the current response down when it passes.

    Closing a socket does not wake a thread blocked reading it; shutting it down does,
    so a passed deadline ends a blocked read, and ``expired`` says why it ended.
    """

    def __init__(self, seconds: Optional[float], what: str) -> None:
        self.seconds = seconds
        self.what = what
        self.expired = False
        self._ends_at = None if seconds is None else time.monotonic() + seconds
        self._timer: Optional[threading.Timer] = None

    def arm(self, response: requests.Response) -> None:
        """Watch ``response`` (replacing any earlier one) until ``cancel``."""
        if self._ends_at is None:
            return
        self.cancel()

        def expire() -> None:
            self.expired = True
            shutdown(response)

        self._timer = threading.Timer(max(self._ends_at - time.monotonic(), 0.0), expire)
        self._timer.daemon = True
        self._timer.start()

    def cancel(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    def error(self, provider: str) -> TimeoutError:
        return TimeoutError(f"no {self.what} within {self.seconds}s", provider=provider)


class StreamConnection:
    """One HTTP attempt at a stream, read up to its first event by ``open``.

    Everything up to the first event is still retryable: nothing reached the caller.
    """

    def __init__(self, response: requests.Response, parser: StreamParser, provider: Provider,
                 first_token: Deadline, total: Deadline) -> None:
        self.response = response
        self.parser = parser
        self.provider = provider
        self.first_token = first_token
        self.total = total
        self.pending: List[Event] = []
        self.closed = False
        self._raw = iter_sse(response, provider.id)

    def open(self) -> "StreamConnection":
        """Read until the first event; on failure release the connection and raise."""
        self.first_token.arm(self.response)
        try:
            check_event_stream(self.response, self.provider)
            while not self.pending:
                if not self._read_one():
                    break
        except LLMError as error:
            self.release()
            raise self._explain(error) from error
        finally:
            self.first_token.cancel()
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

    def release(self) -> None:
        """Give the connection back: to the pool if the body was read, else abort it."""
        self.closed = True
        if self.parser.complete:
            self.response.close()
        else:
            shutdown(self.response)


class Stream:
    """A blocking iterator over one reply's events; use it in a ``with`` block.

    ``response`` holds the final ``Response`` once the stream is exhausted, or what
    arrived so far after ``close()`` or an error. ``close()`` is idempotent and safe to
    call from another thread; the iteration then ends quietly. A stream is single-use.
    """

    def __init__(self, open_connection: Callable[[], StreamConnection], total: Deadline) -> None:
        self._total = total
        self._connection: Optional[StreamConnection] = None
        self._response: Optional[Response] = None
        self._closed = False
        self._lock = threading.Lock()
        self._connection = open_connection()
        self._iterator = self._run()

    @property
    def response(self) -> Optional[Response]:
        if self._response is not None:
            return self._response
        return self._connection.parser.builder.build() if self._connection else None

    def __iter__(self) -> "Stream":
        return self

    def __next__(self) -> Event:
        return next(self._iterator)

    def _run(self) -> Iterator[Event]:
        connection = self._connection
        assert connection is not None
        delivered = False
        try:
            for event in connection.events():
                if isinstance(event, Completed):
                    self._response = event.response
                delivered = True
                yield event
        except LLMError as error:
            if self._closed:
                return
            raise self._broken(error, delivered) from error
        finally:
            self._total.cancel()
            connection.release()

    def _broken(self, error: LLMError, delivered: bool) -> LLMError:
        connection = self._connection
        assert connection is not None
        partial = connection.parser.builder.build()
        if self._total.expired:
            error = self._total.error(connection.provider.id)
        if isinstance(error, (StreamError, TimeoutError)) or not delivered:
            error.partial = partial
            return error
        kind = "connection lost" if isinstance(error, NetworkError) else "stream broken"
        broken = StreamError(f"{kind} after events were delivered: {error.message}",
                             status=error.status, provider=error.provider,
                             request_id=error.request_id, error_type=error.error_type,
                             partial=partial)
        return broken

    def close(self) -> None:
        """Stop the stream and release its connection at once (from any thread)."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
        self._total.cancel()
        if self._connection is not None:
            self._connection.release()

    def __enter__(self) -> "Stream":
        return self

    def __exit__(self, *exc_info) -> None:
        self.close()
        self._iterator.close()

    def __del__(self) -> None:
        try:
            self.close()
        except Exception:  # noqa: BLE001 - never raise from a finalizer
            pass
