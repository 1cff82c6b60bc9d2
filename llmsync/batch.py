"""Batches: many requests on a thread pool, under shared rate limits.

Results come back as they finish. Requests-per-minute and tokens-per-minute limits are
token buckets shared by every worker, and a 429 that names a wait pauses every worker,
not just the one that got it: hammering on would only earn more 429s.
"""
import logging
import threading
import time
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any, Callable, Dict, Iterable, Iterator, Optional, Set

from .errors import InvalidRequestError, LLMError, RateLimitError
from .options import Request, RetryCondition
from .retry import waits
from .types import Response

if TYPE_CHECKING:
    from .client import Client

__all__ = ["BatchResult", "TokenBucket", "run_batch", "as_request"]

log = logging.getLogger("llmsync")


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

    The bucket starts full (one minute's worth), so a batch may burst up to the limit.
    A debt (more used than taken, as when a reply used more tokens than estimated)
    makes later callers wait longer.
    """

    def __init__(self, per_minute: float, clock: Callable[[], float] = time.monotonic,
                 sleep: Callable[[float], None] = time.sleep) -> None:
        if per_minute <= 0:
            raise InvalidRequestError(f"a rate limit must be positive, got {per_minute}")
        self.capacity = float(per_minute)
        self.rate = per_minute / 60.0
        self._tokens = self.capacity
        self._clock = clock
        self._sleep = sleep
        self._updated = clock()
        self._lock = threading.Lock()

    def _refill(self) -> None:
        now = self._clock()
        self._tokens = min(self.capacity, self._tokens + (now - self._updated) * self.rate)
        self._updated = now

    def take(self, amount: float = 1.0) -> None:
        amount = min(amount, self.capacity)
        while True:
            with self._lock:
                self._refill()
                if self._tokens >= amount:
                    self._tokens -= amount
                    return
                shortfall = (amount - self._tokens) / self.rate
            self._sleep(shortfall)

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

    def wait(self) -> None:
        while True:
            with self._lock:
                remaining = self._until - time.monotonic()
            if remaining <= 0:
                return
            self._sleep(remaining)


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


class _BatchRunner:
    def __init__(self, client: "Client", rpm: Optional[float], tpm: Optional[float]) -> None:
        self.client = client
        self.requests_bucket = TokenBucket(rpm) if rpm else None
        self.tokens_bucket = TokenBucket(tpm) if tpm else None
        self.pause = _Pause()
        policy = client.retry
        # 429s are retried here, so that one 429 pauses every worker.
        self.retry_policy = replace(policy, retry_on=policy.retry_on - {RetryCondition.RATE_LIMIT})
        self.rate_limit_retries = policy.max_retries if RetryCondition.RATE_LIMIT in policy.retry_on else 0

    def run_one(self, index: int, item: Any) -> BatchResult:
        try:
            request = replace(as_request(item), stream=False)
            estimate = _estimated_tokens(request)
            delays = waits(self.client.retry)
            next(delays)
            for attempt in range(self.rate_limit_retries + 1):
                self.pause.wait()
                if self.requests_bucket:
                    self.requests_bucket.take(1)
                if self.tokens_bucket:
                    self.tokens_bucket.take(estimate)
                try:
                    response = self.client._send(request, retry=self.retry_policy)
                except RateLimitError as error:
                    if attempt == self.rate_limit_retries:
                        raise
                    delay = delays.send(error) or 0.0
                    log.info("batch item %d rate limited; pausing all workers %.2fs", index, delay)
                    self.pause.extend(delay)
                    continue
                if self.tokens_bucket and response.usage:
                    self.tokens_bucket.charge(response.usage.total_tokens - estimate)
                return BatchResult(index, response=response)
        except LLMError as error:
            return BatchResult(index, error=error)
        raise AssertionError("unreachable")  # pragma: no cover


def run_batch(client: "Client", items: Iterable[Any], max_workers: int = 8,
              requests_per_minute: Optional[float] = None, tokens_per_minute: Optional[float] = None,
              on_progress: Optional[Callable[[int, BatchResult], None]] = None) -> Iterator[BatchResult]:
    """Run ``items`` (``Request``s or dicts) on ``max_workers`` threads.

    Yields ``BatchResult``s as they finish; a failed item is a result with ``error``,
    never an exception that stops the batch. ``on_progress(done, result)`` is called
    after each result. Closing the iterator early cancels what has not started.
    """
    if max_workers < 1:
        raise InvalidRequestError(f"max_workers must be at least 1, got {max_workers}")
    runner = _BatchRunner(client, requests_per_minute, tokens_per_minute)
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
                pending.add(pool.submit(runner.run_one, index, item))
            if not pending:
                return
            finished, pending = wait(pending, return_when=FIRST_COMPLETED)
            for future in finished:
                result = future.result()
                done_count += 1
                if on_progress is not None:
                    on_progress(done_count, result)
                yield result
    finally:
        for future in pending:
            future.cancel()
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
