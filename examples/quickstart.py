"""Quickstart: ask a model once, then stream a reply as it is written.

    python examples/quickstart.py

With OPENAI_API_KEY set this talks to OpenAI. Without it, it runs offline against
llmsync's FakeServer, a local stand-in that answers in OpenAI's wire format.
"""
from typing import ContextManager

import llmsync
from llmsync.testing import Reply, client_or_fake

MODEL = "openai/gpt-4o-mini"


def open_client() -> ContextManager[llmsync.Client]:
    """A real client when OPENAI_API_KEY is set, else one aimed at a local FakeServer."""
    return client_or_fake([
        Reply(text="Hello! Nice to meet you."),
        Reply(text="A robot learned to paint.\nIts first picture was of you.", delay_between=0.02),
    ])


def main() -> llmsync.Response:
    with open_client() as client:
        # One question, one answer.
        response = client.generate(MODEL, "Say hello in five words.")
        print(response.content, "\n")

        # The same, streamed: print each piece of text as it arrives.
        with client.stream(MODEL, "Tell me a two-line story.", max_tokens=100) as stream:
            for event in stream:
                if isinstance(event, llmsync.TextDelta):
                    print(event.text, end="", flush=True)
        print()
        final = stream.response
        tokens = final.usage.total_tokens if final.usage else "?"
        print(f"\n[{tokens} tokens, finish reason: {final.finish_reason}]")
        return final


if __name__ == "__main__":
    main()
