"""Batches: many requests on a thread pool, under shared rate limits.

Results come back as they finish. Requests-per-minute and tokens-per-minute limits are
token buckets shared by every worker, and a 429 that names a wait pauses every worker,
not just the one that got it. Items are retried by the one retry engine
(``llmsync.retry``); the limits join it through its ``before_attempt`` and ``on_retry``
hooks, so every attempt, retries included, is counted against them. A worker waiting
for its turn wakes when its call is stopped (the batch's ``Cancel``, ``Client.close()``).
"""
import contextvars
import inspect
import logging
import threading
import time
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any, Callable, Dict, Iterable, Iterator, Optional, Protocol, Set, Tuple

from .errors import CancelledError, InvalidRequestError, LLMError, RateLimitError
from .cancel import Cancel
from .options import Request
from .types import Response

if TYPE_CHECKING:
    from .client import Client

__all__ = ["BatchResult", "TokenBucket", "Limiter", "LocalLimiter", "run_batch", "as_request", "wait_for_turn",
           "check_stop"]

log = logging.getLogger("llmsync")
STOPPED = "stopped while waiting for a turn under the rate limit"


def wait_for_turn(seconds: float, stop: Optional[threading.Event],
                  sleep: Callable[[float], None] = time.sleep) -> None:
    """Sleep ``seconds`` (nothing when not positive) for a limiter; a set ``stop`` ends the
    sleep at once, or prevents it, with ``CancelledError``."""
    if stop is None:
        if seconds > 0:
            sleep(seconds)
    elif stop.wait(seconds) if seconds > 0 else stop.is_set():
        raise CancelledError(STOPPED)


def check_stop(stop: Any) -> None:
    """Refuse a ``stop`` that is not a ``threading.Event`` (an ``llmsync.Cancel`` is not one)."""
    if stop is not None and not isinstance(stop, threading.Event):
        raise InvalidRequestError(f"stop must be a threading.Event or None, got {stop!r}")


@dataclass
class BatchResult:
    """One finished item of a batch: ``index`` in the input, and a response or an error."""

    index: int
    response: Optional[Response] = None
    error: Optional[LLMError] = None

    @property
    def ok(self) -> bool:
        return self.error is None


class TokenBucket:
    """A token bucket refilled at ``per_minute``; ``take`` blocks until tokens are there.

    The bucket holds one second's worth of the rate (at least one request; DESIGN.md
    allows up to two), so a batch never bursts above the limit when it starts or after a
    lull, even against a server whose own bucket is as small and whose clock runs a
    little differently. A debt
    (more used than taken, as when a reply used more tokens than estimated) makes later
    callers wait longer.
    """

    BURST_SECONDS = 1.0

    def __init__(self, per_minute: float, clock: Callable[[], float] = time.monotonic,
                 sleep: Callable[[float], None] = time.sleep) -> None:
        if isinstance(per_minute, bool) or not isinstance(per_minute, (int, float)) or per_minute <= 0:
            raise InvalidRequestError(f"a rate limit must be a number > 0, got {per_minute!r}")
        self.rate = per_minute / 60.0
        self.capacity = max(self.rate * self.BURST_SECONDS, 1.0)
        self._tokens = self.capacity
        self._clock = clock
        self._sleep = sleep
        self._updated = clock()
        self._lock = threading.Lock()

    def _refill(self) -> None:
        now = self._clock()
        self._tokens = min(self.capacity, self._tokens + (now - self._updated) * self.rate)
        self._updated = now

    def take(self, amount: float = 1.0, stop: Optional[threading.Event] = None) -> None:
        """Take ``amount`` (at most a bucketful), waiting until it is there.

        Raises:
            CancelledError: ``stop`` was set before the tokens were taken (none were).
        """
        amount = min(amount, self.capacity)
        while True:
            if stop is not None and stop.is_set():
                raise CancelledError(STOPPED)
            with self._lock:
                self._refill()
                if self._tokens >= amount:
                    self._tokens -= amount
                    return
                shortfall = (amount - self._tokens) / self.rate
            wait_for_turn(shortfall, stop, self._sleep)

    def give_back(self, amount: float) -> None:
        """Return what a ``take`` took for a request that will not be sent."""
        with self._lock:
            self._refill()
            self._tokens = min(self.capacity, self._tokens + min(amount, self.capacity))

    def charge(self, amount: float) -> None:
        """Account for tokens used beyond what was taken (may leave a debt)."""
        with self._lock:
            self._refill()
            self._tokens -= amount


class _Pause:
    """A pause shared by all workers, set when the provider asks everyone to wait."""

    def __init__(self, sleep: Callable[[float], None] = time.sleep) -> None:
        self._until = 0.0
        self._lock = threading.Lock()
        self._sleep = sleep

    def extend(self, seconds: float) -> None:
        with self._lock:
            self._until = max(self._until, time.monotonic() + seconds)

    def wait(self, stop: Optional[threading.Event] = None) -> None:
        """Wait for the pause to end; a set ``stop`` ends the wait with ``CancelledError``."""
        while True:
            with self._lock:
                remaining = self._until - time.monotonic()
            if remaining <= 0:
                return
            wait_for_turn(remaining, stop, self._sleep)


class Limiter(Protocol):
    """Shared rate limits for a batch's workers (local threads, or a whole cluster)."""

    def acquire(self, tokens: int, stop: Optional[threading.Event] = None) -> None:
        """Block until one request and ``tokens`` estimated tokens may be spent (and any
        shared pause is over).

        A set ``stop`` (the call was cancelled, or its client closed) ends the wait at
        once with ``CancelledError``, and what was taken for the request is given back
        (as far as the limiter can: see its own docs). ``stop`` is optional: a limiter
        whose ``acquire`` takes only ``tokens`` still works, but its waits do not wake.
        """

    def settle(self, estimated: int, used: int) -> None:
        """Account for the tokens a reply really used."""

    def pause(self, seconds: float) -> None:
        """The provider asked to wait (a 429 with Retry-After): every worker waits."""


class LocalLimiter:
    """Token buckets and a pause shared by the threads of one process."""

    def __init__(self, requests_per_minute: Optional[float] = None,
                 tokens_per_minute: Optional[float] = None) -> None:
        self.requests = TokenBucket(requests_per_minute) if requests_per_minute is not None else None
        self.tokens = TokenBucket(tokens_per_minute) if tokens_per_minute is not None else None
        self._pause = _Pause()

    def acquire(self, tokens: int, stop: Optional[threading.Event] = None) -> None:
        """Wait for any pause, then take a request and ``tokens`` from the buckets.

        Raises:
            CancelledError: ``stop`` was set first; nothing stays taken (a request
                already taken from its bucket is given back).
            InvalidRequestError: ``stop`` is not a ``threading.Event``.
        """
        check_stop(stop)
        self._pause.wait(stop)
        if self.requests is not None:
            self.requests.take(1, stop)
        try:
            if self.tokens is not None:
                self.tokens.take(tokens, stop)
            if stop is not None and stop.is_set():  # stopped as the last take returned
                if self.tokens is not None:
                    self.tokens.give_back(tokens)
                raise CancelledError(STOPPED)
        except CancelledError:
            if self.requests is not None:
                self.requests.give_back(1)
            raise

    def settle(self, estimated: int, used: int) -> None:
        if self.tokens is not None:
            # take() took at most a bucketful: the rest of the reply's use is a debt.
            self.tokens.charge(used - min(estimated, self.tokens.capacity))

    def pause(self, seconds: float) -> None:
        self._pause.extend(seconds)


def as_request(item: Any) -> Request:
    """A batch item as a ``Request``: a ``Request``, or a dict of its fields where
    ``prompt`` may stand for ``messages``."""
    if isinstance(item, Request):
        return item
    if isinstance(item, dict):
        fields = dict(item)
        if "prompt" in fields:
            fields["messages"] = fields.pop("prompt")
        unknown = set(fields) - set(Request.option_names()) - {"model", "messages"}
        if unknown:
            raise InvalidRequestError(f"unknown field(s) {sorted(unknown)} in batch item")
        if "model" not in fields:
            raise InvalidRequestError("a batch item needs a model")
        return Request(**fields)
    raise InvalidRequestError(f"batch items must be Request objects or dicts, got {item!r}")


def _estimated_tokens(request: Request) -> int:
    # About four characters a token in English; the reply is bounded by max_tokens.
    characters = sum(len(m.text) for m in request.messages) + len(request.system_prompt or "")
    return characters // 4 + (request.max_tokens or 256)


def _takes_stop(limiter: Any) -> bool:
    """Whether ``limiter.acquire`` takes ``stop`` (a user's limiter may predate it)."""
    try:
        parameters = inspect.signature(limiter.acquire).parameters.values()
    except (TypeError, ValueError):
        return False
    return any(p.name == "stop" or p.kind is p.VAR_KEYWORD for p in parameters)


class _BatchRunner:
    def __init__(self, client: "Client", limiter: Limiter, cancel: Optional[Cancel]) -> None:
        self.client = client
        self.limiter = limiter
        self.cancel = cancel
        self.stoppable = _takes_stop(limiter)
        self.running: Set[Any] = set()  # the items' exchanges; all stopped when the batch ends
        self.ended = False
        self.reason: Tuple[str, ...] = ()  # why it ended, as Exchange.stop takes it (none: cancelled)

    def stop(self, *reason: str) -> None:
        """End the batch from any thread (its iterator closed, a cancel, ``Client.close()``,
        which stops every call under way): the items under way stop, with ``reason``, and
        the others give up instead of starting."""
        if not self.ended:
            self.reason = reason
        self.ended = True
        for exchange in list(self.running):
            exchange.stop(*reason)

    def run_one(self, index: int, item: Any) -> BatchResult:
        exchange = None
        try:
            request = replace(as_request(item), stream=False)
            estimate = _estimated_tokens(request)
            exchange = self.client.exchange(request, self.cancel,
                                            before_attempt=lambda: self._take_turn(exchange, estimate),
                                            on_retry=self._on_retry)
            self.running.add(exchange)
            if self.ended:
                exchange.stop(*self.reason)
            response = exchange.response()
        except LLMError as error:
            return BatchResult(index, error=error)
        finally:
            self.running.discard(exchange)
        if response.usage:
            self.limiter.settle(estimate, response.usage.total_tokens)
        return BatchResult(index, response=response)

    def _take_turn(self, exchange: Any, estimate: int) -> None:
        if not self.stoppable:
            self.limiter.acquire(estimate)
            return
        # The exchange's own stop (the batch's Cancel, Client.close(), the batch's end)
        # wakes the wait; the attempt then raises the CancelledError every stage raises.
        try:
            self.limiter.acquire(estimate, stop=exchange.stopped)
        except CancelledError:
            if not exchange.stopped.is_set():
                raise

    def _on_retry(self, error: LLMError, attempt: int, delay: float) -> None:
        if isinstance(error, RateLimitError):
            # One 429 pauses every worker: hammering on would only earn more 429s.
            log.info("rate limited; pausing all batch workers %.2fs", delay)
            self.limiter.pause(delay)


def run_batch(client: "Client", items: Iterable[Any], max_workers: int = 8,
              requests_per_minute: Optional[float] = None, tokens_per_minute: Optional[float] = None,
              on_progress: Optional[Callable[[int, BatchResult], None]] = None, *,
              cancel: Optional[Cancel] = None, limiter: Optional[Limiter] = None) -> Iterator[BatchResult]:
    """Run ``items`` (``Request``s or dicts) on ``max_workers`` threads.

    Yields ``BatchResult``s as they finish; a failed item is a result with ``error``,
    never an exception that stops the batch. ``on_progress(done, result)`` is called
    after each result. Closing the iterator early cancels what has not started.
    ``limiter`` (a ``Limiter``) replaces the local limits with shared ones, e.g. a
    cluster's. A ``cancel`` ends the batch: ``CancelledError`` is raised.
    """
    if max_workers < 1:
        raise InvalidRequestError(f"max_workers must be at least 1, got {max_workers}")
    if limiter is not None and (requests_per_minute is not None or tokens_per_minute is not None):
        raise InvalidRequestError("give a limiter or requests_per_minute/tokens_per_minute, not both")
    if cancel is not None and not isinstance(cancel, Cancel):
        raise InvalidRequestError(f"cancel must be an llmsync.Cancel, got {cancel!r}")
    runner = _BatchRunner(client, limiter or LocalLimiter(requests_per_minute, tokens_per_minute), cancel)
    # Client.close() stops the batch as it stops every call under way: each item not done
    # ends with its CancelledError ("the client was closed"), started or not.
    live: Set[Any] = client._live
    live.add(runner)
    pending: Set[Future] = set()
    done_count = 0
    source = enumerate(items)
    pool = ThreadPoolExecutor(max_workers=max_workers, thread_name_prefix="llmsync-batch")
    try:
        exhausted = False
        while True:
            while not exhausted and len(pending) < max_workers * 2:
                try:
                    index, item = next(source)
                except StopIteration:
                    exhausted = True
                    break
                # The caller's context (its OpenTelemetry span) follows each item onto its worker.
                pending.add(pool.submit(contextvars.copy_context().run, runner.run_one, index, item))
            if not pending:
                return
            finished, pending = wait(pending, return_when=FIRST_COMPLETED)
            if cancel is not None and cancel.cancelled:
                raise CancelledError("the batch was cancelled")
            for future in finished:
                result = future.result()
                done_count += 1
                if on_progress is not None:
                    on_progress(done_count, result)
                yield result
    finally:
        live.discard(runner)
        for future in pending:
            future.cancel()
        runner.stop()
        pool.shutdown(wait=True)


def summarize(results: Iterable[BatchResult]) -> Dict[str, Any]:
    """Totals of a batch: done, failed, tokens and cost (None when any price is unknown)."""
    done = failed = tokens = 0
    cost: Optional[float] = 0.0
    for result in results:
        if result.error is not None:
            failed += 1
            continue
        done += 1
        response = result.response
        assert response is not None
        if response.usage:
            tokens += response.usage.total_tokens
        item_cost = response.cost
        cost = None if cost is None or item_cost is None else cost + item_cost
    return {"done": done, "failed": failed, "tokens": tokens, "cost": cost}
