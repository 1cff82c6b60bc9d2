"""Fallback chains: ``model=["anthropic/claude-sonnet-4-5", "openai/gpt-4.1"]``.

Each model gets its own exchange and so its own retries. When one fails after them with
a rate-limit, server, timeout or connection error, the next model is tried; after a
``ContextLengthError`` only a model whose catalog context window is larger than the one
that overflowed (or unknown) is tried. A stream falls back only before its first event:
once the caller has seen text from one model, another model's answer cannot follow it.
If every model fails, the last error is raised with ``.errors`` listing each model's.
"""
import logging
import threading
from typing import Any, Callable, Iterator, List, Optional

from .catalog import lookup
from .errors import (CancelledError, ContextLengthError, InvalidRequestError, LLMError, NetworkError, ProviderError,
                     RateLimitError, StreamError)
from .events import Event
from .registry import get_provider, split_model
from .types import Response

__all__ = ["models_of", "falls_back", "FallbackExchange"]

log = logging.getLogger("llmsync")


def models_of(model: Any) -> List[str]:
    """The models of a ``model`` argument: one "provider/model-id" string, or a list of them.

    Raises:
        InvalidRequestError: an empty list, an item that is not "provider/model-id", or
            an unknown provider.
    """
    if isinstance(model, str):
        return [model]
    if not isinstance(model, (list, tuple)):
        raise InvalidRequestError(f'model must be "provider/model-id" or a list of them, got {model!r}')
    if not model:
        raise InvalidRequestError("model is an empty list: name at least one \"provider/model-id\"")
    for position, item in enumerate(model):
        try:
            get_provider(split_model(item)[0])
        except InvalidRequestError as error:
            raise InvalidRequestError(f"model[{position}]: {error.message}") from None
    return list(model)


def falls_back(error: LLMError) -> bool:
    """Whether a model's failure (after its own retries) lets the next model try.

    Rate limits, server errors, timeouts and connection errors do, and so does a context
    overflow (to a larger model). A bad request, a missing key, a cancel or a stream that
    broke after events reached the caller does not.
    """
    if isinstance(error, (StreamError, CancelledError)):
        return False
    return isinstance(error, (RateLimitError, ProviderError, NetworkError, ContextLengthError))


def _context_window(model: str) -> Optional[int]:
    meta = lookup(*split_model(model))
    return meta.context_window if meta is not None else None


class FallbackExchange:
    """The exchanges of a fallback chain, tried in turn; used like one ``Exchange``.

    Args:
        models: the chain ("provider/model-id" strings, already checked).
        make: the ``Exchange`` for one model (``Client.exchange`` of the request with that
            model). The first is made at once, so its errors raise at the call.
    """

    def __init__(self, models: List[str], make: Callable[[str], Any]) -> None:
        self.models = models
        self._make = make
        self.errors: List[LLMError] = []
        self._index = 0
        self._stopped: Optional[str] = None
        self._overflowed_window: Optional[int] = None  # the largest window the prompt overflowed
        self.current = make(models[0])

    @property
    def model(self) -> str:
        """The model being tried (the one that answered, once one did)."""
        return self.models[self._index]

    @property
    def final(self) -> Optional[Response]:
        return self.current.final

    def partial(self) -> Response:
        return self.current.partial()

    @property
    def stopped(self) -> threading.Event:
        """The model being tried's ``Exchange.stopped``."""
        return self.current.stopped

    def stop(self, *reason: str) -> None:
        """Stop the model being tried, and try no other."""
        self._stopped = reason[0] if reason else "cancelled"
        self.current.stop(*reason)

    def response(self) -> Response:
        """The first whole reply a model of the chain gives.

        Raises:
            LLMError: the last model's error, with ``errors`` (every model's error).
        """
        while True:
            try:
                return self.current.response()
            except LLMError as error:
                self._fall_back(error)

    def events(self) -> Iterator[Event]:
        """The events of the first model whose stream starts; no fallback once one did."""
        while True:
            inner = self.current.events()
            delivered = False
            try:
                for event in inner:
                    delivered = True
                    yield event
                return
            except LLMError as error:
                if delivered:
                    self.errors.append(error)
                    error.errors = list(self.errors)
                    raise
                self._fall_back(error)
            finally:
                inner.close()

    def _fall_back(self, error: LLMError) -> None:
        """Move on to the next model that may succeed, or raise ``error``."""
        self.errors.append(error)
        error.errors = list(self.errors)
        if self._stopped is not None or not falls_back(error):
            raise error
        if isinstance(error, ContextLengthError):
            window = _context_window(self.model)
            if window is not None and (self._overflowed_window is None or window > self._overflowed_window):
                self._overflowed_window = window
        following = self._next_index()
        if following is None:
            raise error
        log.info("%s failed (%s); falling back to %s", self.model, type(error).__name__, self.models[following])
        self._index = following
        try:
            self.current = self._make(self.model)
        except LLMError as unprepared:  # the next model cannot even be asked (e.g. no key)
            self._fall_back(unprepared)
            return
        if self._stopped is not None:  # stopped while the next model's exchange was made
            self.current.stop(self._stopped)

    def _next_index(self) -> Optional[int]:
        for index in range(self._index + 1, len(self.models)):
            window = _context_window(self.models[index])
            if self._overflowed_window is None or window is None or window > self._overflowed_window:
                return index
        return None
