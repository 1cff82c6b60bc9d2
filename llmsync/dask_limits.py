"""Rate limits for a whole Dask cluster: ``ClusterLimiter``.

One schedule per limit lives in the Dask scheduler (a small extension installed with
``run_on_scheduler``, as Dask's own ``Semaphore`` lives there), so it outlives any worker,
and every request of every worker reserves its send time there: one round trip, about a
millisecond. A 429 that names a wait pauses the schedule, so every worker on every node
waits. It implements ``llmsync.batch.Limiter``; ``llmsync.dask`` uses it.
"""
import logging
import threading
import time
import uuid
from collections import deque
from typing import Any, Callable, Deque, Dict, List, Optional, Tuple

from .batch import STOPPED, check_stop, wait_for_turn
from .errors import CancelledError, InvalidRequestError

__all__ = ["ClusterLimiter", "check_limits"]

log = logging.getLogger("llmsync")

MAX_BURST_SECONDS = 2.0  # DESIGN.md: a burst is at most 2 seconds' worth of the rate
# A request that waited this long for its turn asks the scheduler again whether a pause
# began meanwhile, so a 429 elsewhere stops it even when this process sent nothing since.
_RECHECK_AFTER = 0.05
_EXTENSION = "llmsync-limits"
_UNDO_DEPTH = 256  # the latest bookings that can still be given back


# -- the schedule, kept in the Dask scheduler ----------------------------------------------


class _Bucket:
    """A token bucket kept as the time it is full again, so it can grant future turns."""

    def __init__(self, per_minute: float, burst_seconds: float, now: float) -> None:
        self.rate = per_minute / 60.0
        self.capacity = max(1.0, self.rate * burst_seconds)
        self.full_at = now

    def earliest(self, amount: float) -> float:
        """The first moment ``amount`` is there, after every turn already granted."""
        return self.full_at - (self.capacity - amount) / self.rate

    def take(self, amount: float, at: float) -> None:
        self.full_at = max(self.full_at, at) + amount / self.rate

    def empty_at(self, moment: float) -> None:
        """Start again from empty at ``moment``: no burst right after a pause."""
        self.full_at = max(self.full_at, moment + self.capacity / self.rate)


class _Limits:
    """One limiter's buckets and pause; every method returns at once (no sleeping here)."""

    def __init__(self, requests_per_minute: Optional[float], tokens_per_minute: Optional[float],
                 burst_seconds: float, clock: Callable[[], float] = time.monotonic) -> None:
        now = clock()
        self.requests = _Bucket(requests_per_minute, burst_seconds, now) if requests_per_minute else None
        self.tokens = _Bucket(tokens_per_minute, burst_seconds, now) if tokens_per_minute else None
        self.paused_until = now
        self.clock = clock
        self.bookings = 0
        # [booking, how far it moved each bucket, given back?] for the latest bookings.
        self._undo: Deque[List[Any]] = deque(maxlen=_UNDO_DEPTH)

    def reserve(self, tokens: float, settled: float = 0.0) -> Tuple[float, float]:
        """Book the next turn for one request of ``tokens``; ``(delay, pause left)`` in seconds.

        ``settled`` is tokens used beyond estimates since the last call (negative: fewer).
        The booking's number (for ``release``) is ``bookings`` afterwards.
        """
        now = self.clock()
        if self.tokens is not None:
            self.tokens.full_at += settled / self.tokens.rate
        before = self._full_at()
        at = max(now, self.paused_until)
        if self.requests is not None:
            at = max(at, self.requests.earliest(1.0))
        if self.tokens is not None:
            # A request larger than the bucket waits for a full bucket and leaves a debt.
            at = max(at, self.tokens.earliest(min(float(tokens), self.tokens.capacity)))
            self.tokens.take(float(tokens), at)
        if self.requests is not None:
            self.requests.take(1.0, at)
        self.bookings += 1
        self._undo.append([self.bookings, [a - b for a, b in zip(self._full_at(), before)], False])
        return at - now, max(0.0, self.paused_until - now)

    def _full_at(self) -> List[float]:
        return [bucket.full_at for bucket in (self.requests, self.tokens) if bucket is not None]

    def release(self, booking: int) -> bool:
        """Give back a booked turn that will not be used; False when it cannot be.

        The schedule is one moment per bucket, with no room for holes: a turn goes back
        only once every turn booked after it went back too (as when a whole batch is
        cancelled). Otherwise later turns stay where they are and the freed moment is
        lost: the limit is never exceeded, a little throughput is.
        """
        entry = next((entry for entry in self._undo if entry[0] == booking), None)
        if entry is None:
            return False
        entry[2] = True
        while self._undo and self._undo[-1][2]:
            moved = self._undo.pop()[1]
            for bucket, seconds in zip([b for b in (self.requests, self.tokens) if b is not None], moved):
                bucket.full_at -= seconds
        return True

    def pause(self, seconds: float) -> float:
        now = self.clock()
        self._undo.clear()  # the buckets start again from the pause: nothing to give back
        self.paused_until = max(self.paused_until, now + seconds)
        for bucket in (self.requests, self.tokens):
            if bucket is not None:
                bucket.empty_at(self.paused_until)
        return self.paused_until - now

    def pause_left(self) -> float:
        return max(0.0, self.paused_until - self.clock())


class _LimitService:
    """The scheduler extension: named ``_Limits``, reached through scheduler handlers."""

    def __init__(self) -> None:
        self.limits: Dict[str, _Limits] = {}
        self.lock = threading.Lock()

    def open(self, name: str, requests_per_minute: Optional[float], tokens_per_minute: Optional[float],
             burst_seconds: float) -> None:
        with self.lock:
            self.limits[name] = _Limits(requests_per_minute, tokens_per_minute, burst_seconds)

    def close(self, name: str) -> None:
        with self.lock:
            self.limits.pop(name, None)

    def reserve(self, name: str, tokens: float, settled: float) -> Tuple[float, float, int]:
        with self.lock:
            limits = self.limits[name]
            delay, pause = limits.reserve(tokens, settled)
            return delay, pause, limits.bookings

    def release(self, name: str, booking: int) -> bool:
        with self.lock:
            limits = self.limits.get(name)  # gone when the driver already closed the limiter
            return limits.release(booking) if limits is not None else False

    def pause(self, name: str, seconds: float) -> float:
        with self.lock:
            return self.limits[name].pause(seconds)

    def pause_left(self, name: str) -> float:
        with self.lock:
            return self.limits[name].pause_left()


def _install_service(dask_scheduler: Any = None) -> None:
    """Run on the scheduler (``Client.run_on_scheduler``): add the handlers, once."""
    if _EXTENSION in dask_scheduler.extensions:
        return
    service = _LimitService()
    dask_scheduler.extensions[_EXTENSION] = service
    dask_scheduler.handlers.update({
        "llmsync_limits_open": service.open, "llmsync_limits_close": service.close,
        "llmsync_limits_reserve": service.reserve, "llmsync_limits_pause": service.pause,
        "llmsync_limits_pause_left": service.pause_left, "llmsync_limits_release": service.release,
    })


# -- the limiter, as workers hold it ---------------------------------------------------------


class _Gate:
    """What the threads of one process share for one limiter: the Dask client, the last
    pause heard of, and token use not yet reported (sent with the next reservation)."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.dask_client: Any = None
        self.paused_until = 0.0
        self.unsettled = 0.0
        self.lock = threading.Lock()

    def connect(self) -> Any:
        if self.dask_client is None:
            import distributed

            self.dask_client = distributed.get_client()
        return self.dask_client

    def call(self, handler: str, **arguments: Any) -> Any:
        rpc = getattr(self.connect().scheduler, handler)
        return self.dask_client.sync(rpc, name=self.name, **arguments)

    def heard_pause(self, seconds: float) -> None:
        with self.lock:
            self.paused_until = max(self.paused_until, time.monotonic() + seconds)

    def pause_left(self) -> float:
        return self.paused_until - time.monotonic()


def check_limits(requests_per_minute: Optional[float], tokens_per_minute: Optional[float]) -> None:
    for label, limit in (("requests_per_minute", requests_per_minute), ("tokens_per_minute", tokens_per_minute)):
        if limit is not None and (isinstance(limit, bool) or not limit > 0):
            raise InvalidRequestError(f"{label} must be positive, got {limit!r}")


_GATES: Dict[str, _Gate] = {}
_GATES_LOCK = threading.Lock()


def _gate(name: str) -> _Gate:
    with _GATES_LOCK:
        return _GATES.setdefault(name, _Gate(name))


class ClusterLimiter:
    """Requests- and tokens-per-minute limits for every worker of a Dask cluster.

    Pass it as ``client.batch(..., limiter=...)`` in Dask tasks (``run_batch_on_dask``
    does). Each ``acquire`` books the request's turn in the scheduler and sleeps until
    it; the bucket's burst is ``burst_seconds`` of the rate (at most 2 s; default 1 s),
    so in any window of T seconds the cluster sends at most ``burst + rate * T``.
    ``pause(seconds)`` (a 429 with Retry-After) holds every worker. Pickles by name:
    the copies in a worker process share one view of the limiter.

    Args:
        dask_client: a ``distributed.Client`` of the cluster.
        requests_per_minute: the request limit, or None.
        tokens_per_minute: the token limit (estimated before, settled after), or None.
        burst_seconds: the bucket's size, in seconds of the rate.

    Raises:
        InvalidRequestError: a limit that is not positive, or a bad ``burst_seconds``.
    """

    def __init__(self, dask_client: Any, requests_per_minute: Optional[float] = None,
                 tokens_per_minute: Optional[float] = None, burst_seconds: float = 1.0) -> None:
        check_limits(requests_per_minute, tokens_per_minute)
        if not 0 < burst_seconds <= MAX_BURST_SECONDS:
            raise InvalidRequestError(f"burst_seconds must be in (0, {MAX_BURST_SECONDS}], got {burst_seconds!r}")
        self.name = f"llmsync-limits-{uuid.uuid4().hex}"
        dask_client.run_on_scheduler(_install_service)
        self._gate = _gate(self.name)
        self._gate.dask_client = dask_client
        self._gate.call("llmsync_limits_open", requests_per_minute=requests_per_minute,
                        tokens_per_minute=tokens_per_minute, burst_seconds=burst_seconds)

    def __getstate__(self) -> Dict[str, Any]:
        return {"name": self.name}

    def __setstate__(self, state: Dict[str, Any]) -> None:
        self.name = state["name"]
        self._gate = _gate(self.name)

    def __repr__(self) -> str:
        return f"ClusterLimiter({self.name!r})"

    def bind(self) -> None:
        """Find the Dask client now (call in a task's own thread; later threads reuse it)."""
        self._gate.connect()

    def acquire(self, tokens: int = 0, stop: Optional[threading.Event] = None) -> None:
        """Block until this request's turn, and any pause, have come.

        Raises:
            CancelledError: ``stop`` was set first (the call was cancelled, or its client
                closed). The turn booked is given back to the schedule when no turn was
                booked after it that is still wanted; otherwise it is lost.
            InvalidRequestError: ``stop`` is not a ``threading.Event``.
        """
        check_stop(stop)
        gate = self._gate
        while True:
            wait_for_turn(gate.pause_left(), stop)
            with gate.lock:
                settled, gate.unsettled = gate.unsettled, 0.0
            reply = gate.call("llmsync_limits_reserve", tokens=tokens, settled=settled)
            delay = reply[0]
            gate.heard_pause(reply[1])
            # Stopped during the round trip, or during the wait for the turn booked.
            if stop is not None and (stop.is_set() or (delay > 0 and stop.wait(delay))):
                self._give_back(reply)
                raise CancelledError(STOPPED)
            if delay <= 0:
                return
            if stop is None:
                time.sleep(delay)
            if delay >= _RECHECK_AFTER:
                gate.heard_pause(gate.call("llmsync_limits_pause_left"))
            if gate.pause_left() <= 0:
                return
            # A pause began while this request waited: book a new turn after it.

    def _give_back(self, reply: Any) -> None:
        """Give a booked turn back, as far as the scheduler can; never an error of its own
        (a cancel must raise ``CancelledError``, whatever the scheduler's state)."""
        if len(reply) <= 2:  # a scheduler running an older llmsync cannot take it back
            return
        try:
            self._gate.call("llmsync_limits_release", booking=reply[2])
        except Exception as exc:  # noqa: B902 - giving back is best effort: the turn is lost
            log.debug("a cancelled turn could not be given back: %s", exc)

    def settle(self, estimated: int, used: int) -> None:
        """Account for a reply's real token use (reported with the next reservation)."""
        with self._gate.lock:
            self._gate.unsettled += used - estimated

    def pause(self, seconds: float) -> None:
        """Hold every worker of the cluster for ``seconds`` (a 429 with Retry-After)."""
        self._gate.heard_pause(seconds)
        self._gate.heard_pause(self._gate.call("llmsync_limits_pause", seconds=float(seconds)))

    def close(self) -> None:
        """Drop the limiter from the scheduler."""
        self._gate.call("llmsync_limits_close")
        with _GATES_LOCK:
            _GATES.pop(self.name, None)


# -- running a batch -------------------------------------------------------------------------
