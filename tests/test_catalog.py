"""The model catalog: entries, lookups of dated ids, capabilities, prices and cost."""
import subprocess
import sys

import pytest

import llmsync
from llmsync import Usage
from llmsync.catalog import ModelMeta, cost_of, lookup
from llmsync.providers.base import Provider
from llmsync.registry import get_provider
from llmsync.testing import Reply


class TestModels:
    def test_has_at_least_forty_entries_across_providers(self):
        entries = llmsync.models()
        assert len(entries) >= 40
        assert all(isinstance(meta, ModelMeta) for meta in entries)
        assert {"openai", "anthropic", "gemini", "xai", "deepseek", "groq", "mistral", "openrouter"} <= \
            {meta.provider for meta in entries}

    def test_provider_filter_returns_only_that_provider(self):
        anthropic = llmsync.models(provider="anthropic")
        assert anthropic
        assert {meta.provider for meta in anthropic} == {"anthropic"}
        assert len(anthropic) < len(llmsync.models())

    def test_unknown_provider_has_no_entries(self):
        assert llmsync.models(provider="no-such-provider") == []

    @pytest.mark.parametrize("meta", llmsync.models(), ids=lambda m: m.qualified_id)
    def test_every_entry_has_prices_and_limits(self, meta):
        assert meta.input_price is not None and meta.input_price >= 0
        assert meta.output_price is not None and meta.output_price >= 0
        assert meta.context_window and meta.context_window > 0
        assert meta.max_output_tokens and 0 < meta.max_output_tokens <= meta.context_window
        if meta.cache_read_price is not None:
            assert meta.cache_read_price <= meta.input_price

    def test_ids_are_unique_per_provider(self):
        ids = [meta.qualified_id for meta in llmsync.models()]
        assert len(ids) == len(set(ids))


class TestLookup:
    def test_model_info_finds_an_entry(self):
        meta = llmsync.Client().model_info("openai/gpt-4o")
        assert (meta.provider, meta.id, meta.qualified_id) == ("openai", "gpt-4o", "openai/gpt-4o")
        assert meta.context_window == 128000

    @pytest.mark.parametrize("dated, base", [
        ("openai/gpt-4o-2024-08-06", "gpt-4o"),
        ("openai/gpt-4o-mini-2024-07-18", "gpt-4o-mini"),
        ("anthropic/claude-sonnet-4-5-20250929", "claude-sonnet-4-5"),
    ])
    def test_dated_ids_find_their_base_entry(self, dated, base):
        assert llmsync.Client().model_info(dated).id == base

    def test_longest_prefix_wins(self):
        # gpt-4o-mini-2024-07-18 starts with both "gpt-4o-" and "gpt-4o-mini-".
        assert lookup("openai", "gpt-4o-mini-2024-07-18").id == "gpt-4o-mini"

    @pytest.mark.parametrize("model", ["openai/gpt-unknown-9", "anthropic/claude-nonexistent",
                                       "nobody/some-model", "openai/gpt-4oX"])
    def test_unknown_models_return_none(self, model):
        assert llmsync.Client().model_info(model) is None

    def test_model_info_rejects_a_string_without_provider(self):
        with pytest.raises(llmsync.InvalidRequestError, match="provider/model-id"):
            llmsync.Client().model_info("gpt-4o")

    def test_unknown_model_still_works_end_to_end(self, client, server):
        server.add(Reply(text="Fine.", usage=Usage(10, 2, 12)))
        response = client.generate("openai/totally-new-model-7", "Hi")
        assert response.content == "Fine."
        assert response.usage.total_tokens == 12
        assert response.cost is None
        assert client.model_info("openai/totally-new-model-7") is None


class TestCapabilities:
    """``Provider.supports_reasoning`` is answered from the catalog."""

    class CatalogOnly(Provider):
        id = "anthropic"

    def test_base_provider_reads_reasoning_from_the_catalog(self):
        provider = self.CatalogOnly()
        assert provider.supports_reasoning("claude-sonnet-4-5")
        assert provider.supports_reasoning("claude-sonnet-4-5-20250929")
        assert not provider.supports_reasoning("claude-unknown")
        assert [m.id for m in provider.models()] == [m.id for m in llmsync.models(provider="anthropic")]

    @pytest.mark.parametrize("model, reasoning", [
        ("xai/grok-3-mini", True), ("xai/grok-3", False),
        ("deepseek/deepseek-reasoner", True), ("deepseek/deepseek-chat", False),
        ("groq/openai/gpt-oss-120b", True), ("groq/llama-3.3-70b-versatile", False),
        ("mistral/magistral-medium-latest", True), ("mistral/codestral-latest", False),
        ("openai/o3", True), ("openai/gpt-4o", False),
    ])
    def test_supports_reasoning_matches_the_catalog(self, model, reasoning):
        provider_id, model_id = model.split("/", 1)
        assert get_provider(provider_id).supports_reasoning(model_id) is reasoning
        assert llmsync.Client().model_info(model).supports_reasoning is reasoning


def usage(prompt, completion, read=0, write=0):
    return Usage(prompt, completion, prompt + completion, cache_read_tokens=read, cache_write_tokens=write)


class TestCost:
    def test_openai_cached_input_is_priced_at_the_cached_rate(self):
        meta = lookup("openai", "gpt-4o")
        assert meta.cache_read_price < meta.input_price
        cost = cost_of("openai", "gpt-4o-2024-08-06", usage(1000, 500, read=400))
        expected = (600 * meta.input_price + 400 * meta.cache_read_price + 500 * meta.output_price) / 1e6
        assert cost == pytest.approx(expected)
        assert cost < cost_of("openai", "gpt-4o", usage(1000, 500))

    def test_anthropic_cache_writes_and_reads_have_their_own_prices(self):
        meta = lookup("anthropic", "claude-sonnet-4-5")
        assert meta.cache_write_price > meta.input_price > meta.cache_read_price
        # prompt_tokens is all input: 2,000 uncached + 6,000 read + 2,000 written.
        cost = cost_of("anthropic", "claude-sonnet-4-5-20250929", usage(10_000, 100, read=6000, write=2000))
        expected = (2000 * meta.input_price + 6000 * meta.cache_read_price
                    + 2000 * meta.cache_write_price + 100 * meta.output_price) / 1e6
        assert cost == pytest.approx(expected)

    def test_cost_is_in_dollars(self):
        # One million output tokens of gpt-4o cost its output price per million.
        price = lookup("openai", "gpt-4o").output_price
        assert cost_of("openai", "gpt-4o", usage(0, 1_000_000)) == pytest.approx(price)

    def test_missing_cache_price_falls_back_to_the_input_price(self):
        meta = lookup("groq", "llama-3.3-70b-versatile")
        assert meta.cache_read_price is None
        assert cost_of("groq", meta.id, usage(1000, 0, read=500)) == pytest.approx(1000 * meta.input_price / 1e6)

    @pytest.mark.parametrize("provider, model, tokens", [
        ("openai", "gpt-unknown-9", usage(10, 10)), (None, "gpt-4o", usage(10, 10)),
        ("openai", None, usage(10, 10)), ("openai", "gpt-4o", None)])
    def test_cost_is_none_when_model_or_usage_is_unknown(self, provider, model, tokens):
        assert llmsync.Response(usage=tokens, provider=provider, model=model).cost is None

    def test_cost_of_a_reply_through_the_fake_server(self, client, server):
        server.add(Reply(text="Hi", usage=usage(2000, 100, read=1000)))
        response = client.generate("openai/gpt-4o-mini", "Hello")
        meta = lookup("openai", "gpt-4o-mini")
        assert response.usage.cache_read_tokens == 1000
        assert response.cost == pytest.approx(
            (1000 * meta.input_price + 1000 * meta.cache_read_price + 100 * meta.output_price) / 1e6)


def test_catalog_file_is_not_read_at_import():
    code = (
        "import sys, llmsync\n"
        "catalog = sys.modules.get('llmsync.catalog')\n"
        "print(catalog is None or catalog._by_provider is None)\n"
        "llmsync.models()\n"
        "print(sys.modules['llmsync.catalog']._by_provider is not None)\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True)
    assert result.stdout.split() == ["True", "True"]
