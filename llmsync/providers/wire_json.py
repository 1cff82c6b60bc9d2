"""Decoding one stream event's JSON data: ``json.loads``'s result, at a lower cost.

``json.loads`` skips the whitespace around a document with two regular-expression
matches and reaches its C scanner through two Python layers (``decode``,
``raw_decode``); on a small object such as a stream event those cost about half of the
whole decoding (benchmarks/README.rst, "Where the time goes"). An event's data rarely
has whitespace around it, so it goes straight to the scanner; only when something is
left around it (whitespace, or an error) does ``decode_json`` (``json.loads``) read it
again and decide.
"""
import json
import json.scanner
from typing import Any

from .base import decode_json

__all__ = ["decode_event"]

# What JSONDecoder.raw_decode calls: (value, end), or StopIteration where no value starts.
_scan_once = json.scanner.make_scanner(json.JSONDecoder())  # type: ignore[arg-type]  # typeshed: a class


def decode_event(data: str, provider: str) -> Any:
    """``decode_json(data, provider)``: the same value, or the same ``ProviderError``."""
    try:
        value, end = _scan_once(data, 0)
    except (StopIteration, ValueError, RecursionError):
        return decode_json(data, provider)
    if end != len(data):
        return decode_json(data, provider)
    return value
