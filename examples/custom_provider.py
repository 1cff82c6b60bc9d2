"""Add your own OpenAI-compatible provider at run time, and stream from it.

Runs offline: a local ``FakeServer`` stands in for the company's gateway. Against a real
gateway, drop the server and set ``MYCORP_API_KEY`` (and ``MYCORP_BASE_URL`` if the
gateway is not at the default address below).

    python examples/custom_provider.py
"""
import llmsync
from llmsync.providers.openai import ChatCompletionsProvider
from llmsync.testing import FakeServer, Reply


class MyCorpProvider(ChatCompletionsProvider):
    """The company LLM gateway: Chat Completions under its own URL and key variable."""

    id = "mycorp"
    default_base_url = "https://llm.mycorp.example/v1"
    env_keys = ("MYCORP_API_KEY",)
    max_tokens_field = "max_tokens"


def main() -> llmsync.Response:
    """Register "mycorp", stream one reply from the fake gateway, and return it."""
    llmsync.register_provider(MyCorpProvider())
    with FakeServer([Reply(text="Hello from the MyCorp gateway!", chunk_size=6)]) as server:
        with llmsync.Client(api_keys={"mycorp": "demo-key"},
                            base_urls={"mycorp": f"{server.url}/v1"}) as client:
            with client.stream("mycorp/house-model-1", "Say hello.", max_tokens=50) as stream:
                for event in stream:
                    if isinstance(event, llmsync.TextDelta):
                        print(event.text, end="", flush=True)
            print()
            return stream.response


if __name__ == "__main__":
    main()
