"""Sampling options (``top_p``, ``top_k``, ``seed``, ``user``, ``logprobs``) on the wire.

Each provider says which of them its endpoint takes; one it lacks is dropped and listed
in the plan's adjustments (so the caller gets an ``LLMSyncWarning``), never sent to fail.
"""
from typing import Any, Dict, FrozenSet, Iterable, List

__all__ = ["SAMPLING", "unsupported", "chat_sampling"]

SAMPLING: FrozenSet[str] = frozenset({"top_p", "top_k", "seed", "user", "logprobs"})


def unsupported(request: Any, names: Iterable[str], where: str, adjustments: List[str]) -> None:
    """Note each option in ``names`` that ``request`` sets but ``where`` does not take."""
    for name in names:
        value = getattr(request, name, None)
        if value is not None and value is not False:
            adjustments.append(f"{name} dropped: {where} does not take it")


def chat_sampling(request: Any, body: Dict[str, Any], adjustments: List[str], takes: FrozenSet[str],
                  where: str, user_field: str = "user", reasoning: bool = False) -> None:
    """The Chat Completions fields: ``top_p``, ``top_k``, ``seed``, the user id in
    ``user_field``, ``logprobs`` + ``top_logprobs``.

    ``reasoning``: the model reasons on this request, so (OpenAI) it takes neither
    ``top_p`` nor ``logprobs`` ("not supported with reasoning models": API reference).
    """
    not_taken = SAMPLING - takes
    if reasoning:  # each dropped option is noted once: here only those the endpoint takes
        unsupported(request, [name for name in ("top_p", "logprobs") if name in takes],
                    f"{where} while it reasons", adjustments)
        takes = takes - {"top_p", "logprobs"}
    unsupported(request, sorted(not_taken), where, adjustments)
    for name in ("top_p", "top_k", "seed"):
        if name in takes and getattr(request, name) is not None:
            body[name] = getattr(request, name)
    if "user" in takes and request.user is not None:
        body[user_field] = request.user
    if "logprobs" in takes and request.logprobs:
        body["logprobs"] = True
        if request.top_logprobs is not None:
            body["top_logprobs"] = request.top_logprobs
