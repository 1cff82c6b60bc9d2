"""Streaming with a thinking level, safe to stop with Ctrl-C.

    python examples/streaming.py ["your prompt"]

Reasoning text (when the provider streams it) and the answer are printed as they
arrive. Ctrl-C stops the reply at once: leaving the ``with`` block closes the HTTP
connection, and ``stream.response`` keeps what arrived so far.

With OPENAI_API_KEY set this talks to OpenAI; without it, to a local FakeServer.
"""
import sys
from typing import ContextManager, Optional

import llmsync
from llmsync.testing import Reply, client_or_fake

MODEL = "openai/o4-mini"

_OFFLINE_REASONING = "The user wants a short explanation. Keep it to three sentences."
_OFFLINE_TEXT = (
    "A synchronous client blocks the calling thread while it waits for the model. "
    "That sounds slow, but threads make it fast: each request waits on its own thread, "
    "and the operating system wakes whichever one has data. "
    "No event loop, no async functions, and Ctrl-C still stops everything at once."
)


def open_client(pace: float = 0.05) -> ContextManager[llmsync.Client]:
    """A real client when OPENAI_API_KEY is set, else one aimed at a local FakeServer
    that streams at ``pace`` seconds per piece, like a real model."""
    reply = Reply(text=_OFFLINE_TEXT, reasoning=_OFFLINE_REASONING, chunk_size=6, delay_between=pace)
    return client_or_fake(default=reply)


def stream_reply(client: llmsync.Client, prompt: str) -> Optional[llmsync.Response]:
    """Print the reply as it streams; on Ctrl-C stop it and return what arrived."""
    stream = None
    thinking = False
    try:
        stream = client.stream(MODEL, prompt, thinking=llmsync.ThinkingLevel.LOW, max_tokens=400)
        with stream:
            for event in stream:
                if isinstance(event, llmsync.ReasoningDelta):
                    if not thinking:
                        print("[thinking] ", end="")
                        thinking = True
                    print(event.text, end="", flush=True)
                elif isinstance(event, llmsync.TextDelta):
                    if thinking:
                        print("\n[answer] ", end="")
                        thinking = False
                    print(event.text, end="", flush=True)
        print()
    except KeyboardInterrupt:
        # The with block has already closed the connection; nothing more will arrive.
        print("\n[stopped with Ctrl-C]")
    return stream.response if stream is not None else None


def main(argv: Optional[list] = None, pace: float = 0.05) -> Optional[llmsync.Response]:
    args = sys.argv[1:] if argv is None else argv
    prompt = args[0] if args else "Why can a synchronous client be fast? Three sentences."
    with open_client(pace) as client:
        response = stream_reply(client, prompt)
    if response is not None:
        print(f"[{len(response.content or '')} characters of answer received]")
    return response


if __name__ == "__main__":
    main()
