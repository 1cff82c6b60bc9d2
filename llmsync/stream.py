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

    def __iter__(self) -> "Stream":
        return self

    def __next__(self) -> Event:
        if self._iterator is None:
            # The generator refers to the exchange, never to this object, so dropping
            # the last reference to a Stream (a `break` out of a for loop) finalizes it.
            self._iterator = self._exchange.events()
        event = next(self._iterator)
        if isinstance(event, Completed):  # the whole reply is in: parse a structured one
            finish_structured(event.response, self._request)
        return event

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

    def __del__(self) -> None:
        exchange = getattr(self, "_exchange", None)
        if exchange is not None and exchange.final is None:
            exchange.stop()
