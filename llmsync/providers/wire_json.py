"""Decoding one stream event's JSON data: ``json.loads``'s result, at a lower cost.

``json.loads`` skips the whitespace around a document with two regular-expression
matches, and on a small object such as a stream event those cost about a third of the
whole decoding (benchmarks/README.rst, "Where the time goes"). An event's data rarely
has any, so it is decoded at once; only when something is left around it (whitespace,
or an error) does ``decode_json`` (``json.loads``) read it again and decide.
"""
import json
from typing import Any

from .base import decode_json

__all__ = ["decode_event"]

_raw_decode = json.JSONDecoder().raw_decode


def decode_event(data: str, provider: str) -> Any:
    """``decode_json(data, provider)``: the same value, or the same ``ProviderError``."""
    try:
        value, end = _raw_decode(data)
    except ValueError:
        return decode_json(data, provider)
    if end != len(data):
        return decode_json(data, provider)
    return value
