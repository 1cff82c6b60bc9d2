"""``Stream``: the blocking iterator over one streamed reply."""
from typing import TYPE_CHECKING, Any, Iterator, Optional

from .events import Completed, Event
from .structured import finish as finish_structured
from .types import Response

if TYPE_CHECKING:
    from .exchange import Exchange

__all__ = ["Stream"]


class Stream:
    """A blocking iterator over one reply's events; use it in a ``with`` block.

    The request is sent when iteration starts. ``response`` holds the final ``Response``
    once the stream is exhausted, or what arrived so far after ``close()`` or an error.
    ``close()`` is idempotent and safe to call from another thread at any stage
    (connecting, waiting for the headers or the first event, reading); the iteration
    then ends quietly. Leaving the ``with`` block, or a ``break`` out of a ``for`` loop
    that holds the only reference, closes the connection at once. A stream is
    single-use and belongs to one thread (``close`` excepted).
    """

    def __init__(self, exchange: "Exchange", request: Any = None) -> None:
        self._exchange = exchange
        self._iterator: Optional[Iterator[Event]] = None
        # What a structured reply is parsed into (``llmsync.structured``), whatever the exchange.
        if request is None:
            request = getattr(getattr(exchange, "prepared", None), "request", None)
        self._request = request

    @property
    def response(self) -> Response:
        """The final ``Response``, or what has arrived so far."""
        return self._exchange.partial()

    def __iter__(self) -> Iterator[Event]:
        """The events themselves: a ``for`` loop reads them with no call through ``Stream``."""
        return self._events()

    def __next__(self) -> Event:
        return next(self._events())

    def _events(self) -> Iterator[Event]:
        if self._iterator is None:
            # The generator refers to the exchange, never to this object: dropping it (a
            # `break` out of a for loop) closes the connection, whoever holds the Stream.
            events: Iterator[Event] = self._exchange.events()
            if getattr(self._request, "structured_output", None) is not None:
                events = _parsed_at_completion(events, self._request)
            self._iterator = events
        return self._iterator

    def close(self) -> None:
        """Stop the stream and release its connection at once (from any thread)."""
        self._exchange.stop()

    def __enter__(self) -> "Stream":
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()
        iterator = self._iterator
        if iterator is not None:
            try:
                iterator.close()  # type: ignore[attr-defined]
            except ValueError:  # still running on another thread: stop() ends it
                pass


def _parsed_at_completion(events: Iterator[Event], request: Any) -> Iterator[Event]:
    """``events``, the reply parsed into the request's type (``llmsync.structured``) at ``Completed``."""
    try:
        for event in events:
            if isinstance(event, Completed):
                finish_structured(event.response, request)
            yield event
    finally:
        events.close()  # type: ignore[attr-defined]
