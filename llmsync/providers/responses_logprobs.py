"""Token logprobs on the OpenAI Responses API: how they are asked for and read.

A request asks with ``include: ["message.output_text.logprobs"]`` and ``top_logprobs``
("an integer between 0 and 20"); Chat Completions' ``logprobs: true`` has no place here,
and ``top_logprobs`` alone gives empty lists (openai-python response_create_params.py).
Reasoning models refuse them ("logprobs are not supported with reasoning models.",
param ``include``), so ``chat_sampling`` drops them, noted, while a model reasons.

They arrive on each ``output_text`` part of a message item as ``logprobs``:
``[{token, bytes, logprob, top_logprobs: [{token, bytes, logprob}]}]``
(response_output_text.py), in a whole response and in the stream's
``response.output_item.done`` alike. Stream text deltas carry them as well
(response_text_delta_event.py) but are not read for them: the done item holds the same
tokens (openai-python's own stream accumulator, lib/streaming/responses/_responses.py,
builds its final response from the finished items, never from delta logprobs), and the
per-delta path does no work for a feature most replies do not use.
"""
from typing import Any, Dict, List

from ..builder import ResponseBuilder
from ..errors import InvalidRequestError
from ..types import TokenLogprob

__all__ = ["LOGPROBS_INCLUDE", "wire_logprobs", "read_logprobs"]

LOGPROBS_INCLUDE = "message.output_text.logprobs"
MAX_TOP_LOGPROBS = 20


def wire_logprobs(body: Dict[str, Any], include: List[str]) -> None:
    """Turn the Chat Completions fields ``chat_sampling`` set in ``body`` into the
    Responses form: no ``logprobs`` flag, the include entry, ``top_logprobs`` as it is.

    Raises:
        InvalidRequestError: ``top_logprobs`` is not a whole number from 0 to 20.
    """
    if not body.pop("logprobs", None):
        return
    top = body.get("top_logprobs")
    if top is not None and (isinstance(top, bool) or not isinstance(top, int)
                            or not 0 <= top <= MAX_TOP_LOGPROBS):
        raise InvalidRequestError(f"top_logprobs must be a whole number from 0 to {MAX_TOP_LOGPROBS} "
                                  f"on the Responses API, got {top!r}")
    include.append(LOGPROBS_INCLUDE)


def _number(value: Any) -> float:
    return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else 0.0


def read_logprobs(builder: ResponseBuilder, entries: Any) -> None:
    """Add an ``output_text`` part's ``logprobs`` to ``builder``, in order; entries
    without a string token are skipped."""
    if not entries or not isinstance(entries, list):
        return
    for entry in entries:
        if isinstance(entry, dict) and isinstance(entry.get("token"), str):
            alternatives = entry.get("top_logprobs")
            top = [TokenLogprob(t["token"], _number(t.get("logprob")))
                   for t in (alternatives if isinstance(alternatives, list) else ())
                   if isinstance(t, dict) and isinstance(t.get("token"), str)]
            builder.logprob(TokenLogprob(entry["token"], _number(entry.get("logprob")), top))
