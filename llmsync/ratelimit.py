"""Rate-limit figures from response headers: OpenAI's ``x-ratelimit-*`` and Anthropic's
``anthropic-ratelimit-*``. A header that is absent or malformed reads as None."""
import re
from datetime import datetime, timezone
from typing import Any, Dict, Mapping, Optional

from .types import RateLimitInfo

__all__ = ["rate_limit_info"]

# OpenAI: x-ratelimit-{limit,remaining,reset}-{requests,tokens}; resets are durations
# such as "1s", "6m0s", "20ms" (platform.openai.com/docs/guides/rate-limits).
# Anthropic: anthropic-ratelimit-{requests,tokens}-{limit,remaining,reset}; resets are
# RFC 3339 times (docs.anthropic.com/en/api/rate-limits#response-headers).
_NAMES = {
    "limit_requests": ("x-ratelimit-limit-requests", "anthropic-ratelimit-requests-limit"),
    "remaining_requests": ("x-ratelimit-remaining-requests", "anthropic-ratelimit-requests-remaining"),
    "reset_requests": ("x-ratelimit-reset-requests", "anthropic-ratelimit-requests-reset"),
    "limit_tokens": ("x-ratelimit-limit-tokens", "anthropic-ratelimit-tokens-limit"),
    "remaining_tokens": ("x-ratelimit-remaining-tokens", "anthropic-ratelimit-tokens-remaining"),
    "reset_tokens": ("x-ratelimit-reset-tokens", "anthropic-ratelimit-tokens-reset"),
}
_DURATION = re.compile(r"(\d+(?:\.\d+)?)(ms|h|m|s)")
_UNIT_SECONDS = {"h": 3600.0, "m": 60.0, "s": 1.0, "ms": 0.001}


def _count(value: str) -> Optional[int]:
    try:
        return int(value)
    except ValueError:
        return None


def _seconds(value: str, now: Optional[datetime] = None) -> Optional[float]:
    """Seconds from a duration ("6m0s", "1.5s", "20ms", "30") or an RFC 3339 time."""
    value = value.strip()
    try:
        return max(float(value), 0.0)
    except ValueError:
        pass
    parts = _DURATION.findall(value)
    if parts and "".join(number + unit for number, unit in parts) == value:
        return sum(float(number) * _UNIT_SECONDS[unit] for number, unit in parts)
    try:
        when = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    if when.tzinfo is None:
        return None
    return max((when - (now or datetime.now(timezone.utc))).total_seconds(), 0.0)


def rate_limit_info(headers: Mapping[str, str], now: Optional[datetime] = None) -> Optional[RateLimitInfo]:
    """The ``RateLimitInfo`` the headers carry, or None when they carry none."""
    found: Dict[str, Any] = {}
    for field_name, names in _NAMES.items():
        value = next((headers[name] for name in names if name in headers), None)
        if value is None:
            continue
        found[field_name] = _seconds(value, now) if field_name.startswith("reset") else _count(value.strip())
    if not found:
        return None
    return RateLimitInfo(**found)
