"""Cancelling: the public ``Cancel`` button, and the watchdog thread that fires deadlines.

Both end an attempt the same way, by shutting its ``Watch`` down (``llmsync.transport``):
that wakes a thread blocked anywhere in connecting, sending or reading.
"""
import heapq
import itertools
import threading
import time
from typing import TYPE_CHECKING, Callable, Dict, List, Optional, Tuple

if TYPE_CHECKING:
    from .watch import Watch

__all__ = ["Cancel", "schedule"]


class Cancel:
    """A cancel button: ``cancel()`` from any thread ends every call it was given to.

    Pass it as ``cancel=`` to ``generate``, ``stream``, ``run``, ``run_stream`` or
    ``batch``. Blocking calls then raise ``CancelledError``; a stream ends quietly.
    Cancelling twice is harmless; a call given an already cancelled ``Cancel`` ends
    before any HTTP.
    """

    def __init__(self) -> None:
        self._event = threading.Event()
        self._lock = threading.Lock()
        self._subscribers: Dict[int, Callable[[], None]] = {}
        self._ids = itertools.count()

    @property
    def cancelled(self) -> bool:
        return self._event.is_set()

    def cancel(self) -> None:
        """End every call using this ``Cancel``, now and later."""
        with self._lock:
            self._event.set()
            subscribers = list(self._subscribers.values())
        for callback in subscribers:
            callback()

    def subscribe(self, callback: Callable[[], None]) -> Callable[[], None]:
        """Call ``callback`` on ``cancel`` (at once if cancelled); returns an unsubscribe."""
        with self._lock:
            if not self._event.is_set():
                key = next(self._ids)
                self._subscribers[key] = callback

                def unsubscribe() -> None:
                    with self._lock:
                        self._subscribers.pop(key, None)

                return unsubscribe
        callback()
        return lambda: None

    def __repr__(self) -> str:
        return f"Cancel(cancelled={self.cancelled})"


class _Watchdog:
    """One daemon thread that fires deadlines (shutting a watch down) at their time."""

    def __init__(self) -> None:
        self._heap: List[Tuple[float, int, "Watch", str]] = []
        self._ids = itertools.count()
        self._condition = threading.Condition()
        self._thread: Optional[threading.Thread] = None

    def schedule(self, at: float, watch: "Watch", reason: str) -> None:
        with self._condition:
            heapq.heappush(self._heap, (at, next(self._ids), watch, reason))
            if self._thread is None or not self._thread.is_alive():  # also after a fork
                self._thread = threading.Thread(target=self._run, name="llmsync-deadlines", daemon=True)
                self._thread.start()
            self._condition.notify()

    def _run(self) -> None:
        while True:
            with self._condition:
                while not self._heap or self._heap[0][0] > time.monotonic():
                    timeout = self._heap[0][0] - time.monotonic() if self._heap else None
                    self._condition.wait(timeout)
                _, _, watch, reason = heapq.heappop(self._heap)
            watch.shutdown(reason)  # a retired watch ignores it


_watchdog = _Watchdog()


def schedule(at: float, watch: "Watch", reason: str) -> None:
    """Shut ``watch`` down for ``reason`` at ``at`` (``time.monotonic()``), unless it is
    retired first."""
    _watchdog.schedule(at, watch, reason)
