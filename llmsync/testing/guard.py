"""Keep a test suite off the real providers: requests to any host but loopback fail.

``LLMSYNC_ALLOW_REAL_REQUESTS=0`` (also "false", "no", "off") in the environment, or the
``block_real_requests()`` context manager, makes every request to a host other than
127.0.0.0/8, ::1 or localhost raise ``LLMError`` before anything is sent (like
pydantic-ai's ``ALLOW_MODEL_REQUESTS = False``). ``FakeServer`` listens on loopback, so
tests that use it keep working.

The exchange calls ``check_request`` only when the variable is set or this module was
imported (``guard_active``), so ``import llmsync`` and ordinary calls never load it.
"""
import contextlib
import ipaddress
import os
import threading
from typing import Iterator, Optional
from urllib.parse import urlsplit

from ..errors import LLMError

__all__ = ["ENV_VAR", "block_real_requests", "real_requests_allowed", "check_request"]

ENV_VAR = "LLMSYNC_ALLOW_REAL_REQUESTS"
_OFF = {"0", "false", "no", "off"}

_lock = threading.Lock()
_blocks = 0  # open block_real_requests() contexts, process-wide (tests run calls on threads)


@contextlib.contextmanager
def block_real_requests() -> Iterator[None]:
    """Within the block, a request to a non-loopback host raises ``LLMError`` before it is sent."""
    global _blocks
    with _lock:
        _blocks += 1
    try:
        yield
    finally:
        with _lock:
            _blocks -= 1


def real_requests_allowed() -> bool:
    """False inside ``block_real_requests()`` or when ``$LLMSYNC_ALLOW_REAL_REQUESTS`` is off."""
    return _blocks == 0 and os.environ.get(ENV_VAR, "").strip().lower() not in _OFF


def _is_loopback(host: Optional[str]) -> bool:
    if not host:
        return False
    if host.lower() == "localhost" or host.lower().endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def check_request(url: str, provider: Optional[str] = None) -> None:
    """Raise ``LLMError`` if real requests are blocked and ``url`` leaves the machine."""
    if real_requests_allowed():
        return
    host = urlsplit(url).hostname
    if not _is_loopback(host):
        why = ("inside llmsync.testing.block_real_requests()" if _blocks
               else f"${ENV_VAR} is {os.environ.get(ENV_VAR)!r}")
        raise LLMError(f"real request to {host} blocked ({why}); only loopback hosts such as "
                       "a FakeServer may be called", provider=provider)
