"""Retries: exponential backoff with full jitter, through ``backoff``.

It wraps *opening* a reply (sending the request and, for a stream, reading up to the
first event), never the iteration of a stream: once an event reached the caller,
retrying would show them duplicated output.
"""
import logging
import random
from typing import Callable, Generator, Optional, TypeVar

import backoff

from .errors import LLMError, NetworkError, RateLimitError, TimeoutError
from .options import RetryCondition, RetryPolicy

__all__ = ["call_with_retry", "is_retryable", "waits"]

log = logging.getLogger("llmsync")

T = TypeVar("T")


def condition_of(error: LLMError) -> RetryCondition:
    """Which ``RetryCondition`` an error falls under."""
    if isinstance(error, RateLimitError):
        return RetryCondition.RATE_LIMIT
    if isinstance(error, TimeoutError):
        return RetryCondition.TIMEOUT
    if isinstance(error, NetworkError):
        return RetryCondition.CONNECTION_ERROR
    return RetryCondition.SERVER_ERROR


def is_retryable(error: LLMError, policy: RetryPolicy) -> bool:
    return error.retryable and condition_of(error) in policy.retry_on


def waits(policy: RetryPolicy) -> Generator[Optional[float], LLMError, None]:
    """A ``backoff`` wait generator: it is sent each failure and yields the next delay.

    The provider's ``Retry-After`` wins over the computed delay; both are capped by
    ``policy.max_delay``. Otherwise full jitter: uniform in [0, base * 2**attempt].
    """
    attempt = 0
    error = yield None
    while True:
        if error.retry_after is not None:
            delay = min(error.retry_after, policy.max_delay)
        else:
            delay = random.uniform(0, min(policy.max_delay, policy.base_delay * 2 ** attempt))
        attempt += 1
        error = yield delay


def call_with_retry(attempt: Callable[[], T], policy: RetryPolicy) -> T:
    """Call ``attempt`` until it succeeds, a failure is not retryable, or tries run out.

    The error finally raised carries ``attempts``, the number of calls made.
    """
    # The first call skips backoff: building its decorator for every call (functools,
    # inspect, a wait generator) costs ~10 us, a tenth of llmsync's own work on a
    # small request. A retryable failure hands over to backoff, which waits as usual.
    try:
        return attempt()
    except LLMError as error:
        if policy.max_retries < 1 or not is_retryable(error, policy):
            error.attempts = 1
            raise
        return _retry(attempt, policy, error)


def _retry(attempt: Callable[[], T], policy: RetryPolicy, first: LLMError) -> T:
    """Retry after ``first``, the first call's failure, through ``backoff``."""
    tries = 0

    def counted() -> T:
        nonlocal tries
        tries += 1
        if tries == 1:
            raise first  # replayed, so backoff counts it and waits before the second call
        return attempt()

    def log_backoff(details) -> None:
        log.info("retrying in %.2fs after attempt %d failed: %s",
                 details["wait"], details["tries"], details["exception"])

    retrying = backoff.on_exception(
        waits,  # type: ignore[arg-type]  # backoff's stubs predate wait generators that are sent errors
        LLMError,
        max_tries=policy.max_retries + 1,
        giveup=lambda error: not is_retryable(error, policy),  # type: ignore[arg-type]
        jitter=None,
        on_backoff=log_backoff,
        logger=None,
        policy=policy,
    )(counted)
    try:
        return retrying()
    except LLMError as error:
        error.attempts = tries
        raise
