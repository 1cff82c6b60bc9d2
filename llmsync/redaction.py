"""Redaction by value: every secret llmsync has held or sent shows as ``***`` in error
messages and log records, whatever header, query parameter or echoed body carried it."""
import logging
import threading
from typing import Iterable, Set

from .errors import LLMError

__all__ = ["remember", "scrub", "redact"]

_MIN_LENGTH = 8  # shorter values would scrub ordinary words
_secrets: Set[str] = set()
_lock = threading.Lock()


def remember(secrets: Iterable[str]) -> None:
    """Add secrets (credential header values, keys) to those scrubbed everywhere."""
    fresh = set()
    for secret in secrets:
        for shown in (secret, secret.split(" ", 1)[-1]):  # "Bearer sk-..." -> "sk-..."
            if len(shown) >= _MIN_LENGTH:
                fresh.add(shown)
    if fresh - _secrets:
        with _lock:
            _secrets.update(fresh)


def scrub(text: str) -> str:
    """``text`` with every remembered secret replaced by ``***`` (longest first)."""
    for secret in sorted(_secrets, key=len, reverse=True):
        if secret in text:
            text = text.replace(secret, "***")
    return text


def redact(error: LLMError) -> LLMError:
    """``error`` with every remembered secret in its message replaced (some servers echo keys)."""
    message = scrub(error.message)
    if message != error.message:
        error.message = message
        error.args = (message,)
    return error


class _RedactingFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        if _secrets:
            message = record.getMessage()
            scrubbed = scrub(message)
            if scrubbed != message:
                record.msg, record.args = scrubbed, ()
        return True


logging.getLogger("llmsync").addFilter(_RedactingFilter())
