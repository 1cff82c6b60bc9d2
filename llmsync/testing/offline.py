"""``client_or_fake``: a real client when a key is set, else one aimed at a FakeServer.

For demos, examples and notebooks that must run anywhere: with the key they talk to the
provider, without it they say so and run offline against scripted replies.
"""
import contextlib
import os
from typing import Any, Callable, Iterable, Iterator, Optional

from .reply import Reply
from .server import FakeServer, ReceivedRequest

__all__ = ["client_or_fake"]


@contextlib.contextmanager
def client_or_fake(replies: Iterable[Reply] = (), *, default: Optional[Reply] = None,
                   responder: Optional[Callable[[ReceivedRequest], Reply]] = None,
                   key_env: str = "OPENAI_API_KEY", **client_options: Any) -> Iterator[Any]:
    """Yield a ``Client``: a real one if ``$key_env`` is set, else one aimed at a
    ``FakeServer`` answering with ``replies``, then ``responder`` or ``default``.

    Both are closed on exit (and the server stopped).
    """
    from ..client import Client

    if os.environ.get(key_env):
        with Client(**client_options) as client:
            yield client
        return
    print(f"(offline: {key_env} is not set, so llmsync's FakeServer answers)\n", flush=True)
    with FakeServer(replies, default=default, responder=responder) as server, \
            server.client(**client_options) as client:
        yield client
