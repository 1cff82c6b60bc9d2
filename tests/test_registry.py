"""The registry: providers resolved once by id, and providers added at run time."""
import pytest

import llmsync
from llmsync.providers.anthropic import AnthropicProvider
from llmsync.providers.gemini import GeminiProvider
from llmsync.providers.openai_responses import OpenAIResponsesProvider
from llmsync.registry import _providers
from llmsync.testing import Reply


@pytest.fixture
def registered():
    """Register providers for one test only."""
    added = []

    def register(provider):
        added.append(provider.id)
        return llmsync.register_provider(provider)

    yield register
    for provider_id in added:
        _providers.pop(provider_id, None)


def test_a_registered_provider_is_found_by_id(registered):
    class Mine(AnthropicProvider):
        id = "mine"

    provider = registered(Mine())
    assert llmsync.get_provider("mine") is provider


def test_registering_something_that_is_not_a_provider_is_refused():
    with pytest.raises(llmsync.InvalidRequestError, match="Provider with an id"):
        llmsync.register_provider(object())


@pytest.mark.parametrize("base, model, path", [
    (AnthropicProvider, "claude-sonnet-4-5", "/v1"),
    (GeminiProvider, "gemini-3-flash-preview", "/v1beta"),
    (OpenAIResponsesProvider, "gpt-5-mini", "/v1"),
])
def test_a_subclass_under_its_own_id_sends_its_reasoning_back(server, registered, base, model, path):
    """Reasoning blocks are tagged with the id that produced them and replayed to it."""
    subclass = type("Gateway", (base,), {"id": f"gateway-{base.__name__.lower()}"})
    provider_id = registered(subclass()).id
    server.add(Reply(text="answer", reasoning="thinking it over", signature="SIG-1"))
    client = server.client(base_urls={provider_id: server.url + path}, api_keys={provider_id: "k"})
    first = client.generate(f"{provider_id}/{model}", "Hi")
    assert first.reasoning_blocks and {b.provider for b in first.reasoning_blocks} == {provider_id}
    messages = [llmsync.Message.user("Hi"), first.to_message(), llmsync.Message.user("And then?")]
    assert "SIG-1" in str(client.explain(f"{provider_id}/{model}", messages).body)
