"""The one retry engine: exponential backoff with full jitter, from ``backoff``'s pieces.

It wraps *opening* a reply (sending the request and, for a stream, reading up to the
first event), never the iteration of a stream: once an event reached the caller,
retrying would show them duplicated output. ``generate``, ``stream``, ``run`` and
``batch`` all retry through ``call_with_retry``; a batch adds its shared rate limits
through the ``before_attempt`` and ``on_retry`` hooks.
"""
import logging
import threading
from typing import Callable, Optional, TypeVar

import backoff

from .errors import LLMError, NetworkError, RateLimitError, TimeoutError
from .options import RetryCondition, RetryPolicy

__all__ = ["call_with_retry", "is_retryable", "condition_of", "delays", "wait"]

log = logging.getLogger("llmsync")

T = TypeVar("T")


def condition_of(error: LLMError) -> RetryCondition:
    """Which ``RetryCondition`` an error falls under.

    A timeout or a lost connection after the request was fully sent is ``READ_TIMEOUT``:
    the provider may be generating (and billing) that reply.
    """
    if isinstance(error, RateLimitError):
        return RetryCondition.RATE_LIMIT
    if isinstance(error, NetworkError) and error.request_sent:
        return RetryCondition.READ_TIMEOUT
    if isinstance(error, TimeoutError):
        return RetryCondition.TIMEOUT
    if isinstance(error, NetworkError):
        return RetryCondition.CONNECTION_ERROR
    return RetryCondition.SERVER_ERROR


def is_retryable(error: LLMError, policy: RetryPolicy) -> bool:
    return error.retryable and condition_of(error) in policy.retry_on


def delays(policy: RetryPolicy) -> Callable[[LLMError], float]:
    """The delay before each retry, given the failure that caused it.

    The provider's ``Retry-After`` wins over the computed delay; both are capped by
    ``policy.max_delay``. Otherwise full jitter: uniform in [0, base * 2**attempt].
    """
    exponential = backoff.expo(factor=policy.base_delay, max_value=policy.max_delay)
    next(exponential)  # backoff's wait generators start with a bare yield

    def next_delay(error: LLMError) -> float:
        ceiling = min(next(exponential), policy.max_delay)
        if error.retry_after is not None:
            return min(error.retry_after, policy.max_delay)
        return backoff.full_jitter(ceiling)

    return next_delay


def wait(seconds: float, stop: Optional[threading.Event] = None) -> None:
    """Sleep between attempts; a set ``stop`` event ends the sleep early."""
    if stop is None:
        threading.Event().wait(seconds)
    else:
        stop.wait(seconds)


def call_with_retry(attempt: Callable[[], T], policy: RetryPolicy, *,
                    stop: Optional[threading.Event] = None,
                    before_attempt: Optional[Callable[[], None]] = None,
                    on_retry: Optional[Callable[[LLMError, int, float], None]] = None,
                    check: Optional[Callable[[], None]] = None) -> T:
    """Call ``attempt`` until it succeeds, a failure is not retryable, or tries run out.

    Args:
        stop: set to end a wait between attempts early (a cancel).
        before_attempt: called before every attempt (a batch's rate limits).
        on_retry: called with the failure, the attempt number and the delay before
            waiting (a batch pauses every worker on a 429; hooks and logs see it).
        check: called after each wait; raises to end the retries (a cancel).

    The error finally raised carries ``attempts``, the number of attempts made.
    """
    next_delay = delays(policy) if policy.max_retries else None
    tries = 0
    while True:
        tries += 1
        if before_attempt is not None:
            before_attempt()
        try:
            return attempt()
        except LLMError as error:
            error.attempts = tries
            if next_delay is None or tries > policy.max_retries or not is_retryable(error, policy):
                raise
            delay = next_delay(error)
            log.info("retrying in %.2fs after attempt %d failed: %s", delay, tries, error)
            if on_retry is not None:
                on_retry(error, tries, delay)
            wait(delay, stop)
            if check is not None:
                check()
