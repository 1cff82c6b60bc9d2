"""One reasoning mapping per provider family (llmsync.providers.reasoning), and nothing
dropped silently: every adapted or dropped option is an ``LLMSyncWarning`` and an entry of
``explain().adjustments``; a model the catalog does not know gets thinking as asked;
OpenAI fine-tunes follow their base model's catalog entry."""
import warnings

import pytest

import llmsync
from llmsync import LLMSyncWarning, ThinkingLevel
from llmsync.catalog import lookup
from llmsync.providers import reasoning
from llmsync.providers.anthropic import AnthropicProvider
from llmsync.providers.azure import AzureProvider, AzureResponsesProvider
from llmsync.providers.bedrock import BedrockProvider
from llmsync.providers.openai import OpenAIProvider, fine_tune_base
from llmsync.providers.openai_responses import OpenAIResponsesProvider
from llmsync.providers.vertex import VertexAnthropicProvider

FINE_TUNE = "ft:o4-mini-2025-04-16:acme::abc123"
KEYS = {name: "sk-" + name for name in ("openai", "anthropic", "gemini", "azure", "bedrock", "vertex", "together")}
URLS = {"openai-compatible": "http://127.0.0.1:9/v1", "azure": "https://res.openai.azure.com",
        "bedrock": "https://bedrock-runtime.us-east-1.amazonaws.com",
        "vertex": "https://aiplatform.googleapis.com/v1/projects/p/locations/global",
        "vertex-anthropic": "https://aiplatform.googleapis.com/v1/projects/p/locations/global"}


@pytest.fixture
def client(monkeypatch):
    monkeypatch.delenv("AZURE_OPENAI_API_VERSION", raising=False)
    with llmsync.Client(api_keys=KEYS, base_urls=URLS) as client:
        yield client


def quiet(client, model, **options):
    """``explain`` that fails if any LLMSyncWarning is raised."""
    with warnings.catch_warnings():
        warnings.simplefilter("error", LLMSyncWarning)
        return client.explain(model, "Hi", **options)


def warned(client, model, words, **options):
    """``explain``, checking that an LLMSyncWarning and an adjustment both say ``words``."""
    with pytest.warns(LLMSyncWarning, match=words):
        plan = client.explain(model, "Hi", **options)
    assert any(words in note for note in plan.adjustments), plan.adjustments
    return plan


def options(body):
    return {k: v for k, v in body.items() if k not in ("model", "messages", "input", "store", "contents")}


# -- the shared clamp ------------------------------------------------------------------------------


class TestClamp:
    @pytest.mark.parametrize("level, accepted, wire", [
        ("minimal", ["low", "medium", "high"], "low"),
        ("xhigh", ["low", "medium", "high"], "high"),
        ("off", ["minimal", "low"], "minimal"),
        ("medium", ["low", "high"], "high"),  # a tie goes up
        ("xhigh", ["high", "max"], "max"),
        ("high", ["none", "low", "medium", "high", "xhigh"], "high"),
    ])
    def test_nearest_accepted_level(self, level, accepted, wire):
        assert reasoning.clamp_level(ThinkingLevel(level), accepted) == wire

    def test_base_still_offers_the_clamp(self):
        from llmsync.providers import base

        assert base.clamp_level is reasoning.clamp_level and base.LEVEL_WIRE is reasoning.LEVEL_WIRE

    @pytest.mark.parametrize("level", list(ThinkingLevel))
    def test_a_model_nobody_knows_gets_every_level_as_asked(self, level):
        notes = []
        assert reasoning.effort_for(level, reasoning.UNKNOWN, "m", notes) == reasoning.LEVEL_WIRE[level]
        assert notes == []

    def test_a_model_known_to_take_no_effort_gets_none_and_a_note(self):
        notes = []
        assert reasoning.effort_for(ThinkingLevel.HIGH, reasoning.Reasoning(), "m", notes) is None
        assert notes == ["thinking 'high' ignored: m takes no reasoning effort"]
        assert reasoning.effort_for(ThinkingLevel.OFF, reasoning.Reasoning(), "m", notes) is None
        assert len(notes) == 1  # off on a model that does not reason: nothing to adapt


# -- OpenAI: unknown models, fine-tunes ----------------------------------------------------------------


class TestOpenAIFamily:
    @pytest.mark.parametrize("model, base", [
        (FINE_TUNE, "o4-mini-2025-04-16"),
        ("ft:gpt-4o-mini-2024-07-18:acme:support-bot:9xYz", "gpt-4o-mini-2024-07-18"),
        ("ft:gpt-4.1-2025-04-14:acme::abc:ckpt-step-100", "gpt-4.1-2025-04-14"),
        ("gpt-35-turbo-0125.ft-b044a9d3cf9c4228b5d393567f693b83", "gpt-35-turbo-0125"),
        ("o3", "o3"), ("ft:", "ft:"),
    ])
    def test_fine_tune_base(self, model, base):
        assert fine_tune_base(model) == base

    @pytest.mark.parametrize("provider", [OpenAIProvider(), OpenAIResponsesProvider(),
                                          AzureProvider(deployments={"bot": FINE_TUNE}),
                                          AzureResponsesProvider(deployments={"bot": FINE_TUNE})])
    def test_a_fine_tune_has_its_base_models_entry_levels_and_prices(self, provider):
        model = "bot" if provider.id.startswith("azure") else FINE_TUNE
        meta = provider.model_meta(model)
        assert meta is not None and meta.id == "o4-mini"
        assert meta.input_price == lookup("openai", "o4-mini").input_price
        assert provider.reasoning(model).levels == ("low", "medium", "high")
        assert provider.supports_reasoning(model) and provider.supports_reasoning_effort(model)

    def test_a_fine_tune_sends_the_level_and_the_developer_role_of_its_base(self, client):
        plan = quiet(client, "openai/" + FINE_TUNE, thinking="high", system_prompt="Be brief.")
        assert plan.body["reasoning_effort"] == "high"
        assert plan.body["messages"][0]["role"] == "developer"
        assert "temperature" not in quiet(client, "openai/" + FINE_TUNE).body

    def test_a_fine_tune_is_clamped_to_its_base_models_levels(self, client):
        plan = warned(client, "openai/" + FINE_TUNE, "sent reasoning_effort 'low'", thinking="minimal")
        assert plan.body["reasoning_effort"] == "low"

    def test_a_fine_tune_of_a_model_without_reasoning_drops_thinking_with_a_warning(self, client):
        plan = warned(client, "openai/ft:gpt-4o-mini-2024-07-18:acme::x1", "takes no reasoning effort",
                      thinking="high")
        assert "reasoning_effort" not in plan.body

    def test_a_fine_tune_on_the_responses_api(self, client):
        body = quiet(client, "openai-responses/" + FINE_TUNE, thinking="medium").body
        assert body["reasoning"] == {"effort": "medium", "summary": "auto"}
        assert body["include"] == ["reasoning.encrypted_content"]

    def test_an_azure_fine_tune_deployment(self, client):
        body = quiet(client, "azure/gpt-4o-mini-2024-07-18.ft-0123abcd", temperature=0.5).body
        assert body["temperature"] == 0.5 and "reasoning_effort" not in body

    @pytest.mark.parametrize("model, thinking, wire", [
        ("openai/my-new-reasoner", "xhigh", "xhigh"),
        ("openai/my-new-reasoner", "off", "none"),
        ("openai-compatible/openai/gpt-oss-120b", "high", "high"),
        ("openai-compatible/openai/gpt-oss-120b", "minimal", "minimal"),
    ])
    def test_a_model_the_catalog_does_not_know_gets_thinking_as_asked(self, client, model, thinking, wire):
        assert quiet(client, model, thinking=thinking).body["reasoning_effort"] == wire

    def test_the_responses_api_sends_an_unknown_models_level_as_asked(self, client):
        assert quiet(client, "openai-responses/my-new-reasoner", thinking="low").body["reasoning"] == \
            {"effort": "low", "summary": "auto"}

    def test_rules_still_know_the_families_the_catalog_lacks(self, client):
        assert quiet(client, "openai/o3-2099-01-01", thinking="high").body["reasoning_effort"] == "high"
        warned(client, "openai/gpt-4-turbo-preview", "takes no reasoning effort", thinking="high")
        warned(client, "openai/gpt-5-chat-latest", "takes no reasoning effort", thinking="high")


# -- options a provider cannot honour: always a warning and an adjustment ------------------------------


class TestNothingDroppedSilently:
    def test_stop_on_the_responses_api(self, client):
        plan = warned(client, "openai-responses/gpt-4.1", "stop sequences dropped", stop=["END"])
        assert "stop" not in plan.body

    @pytest.mark.parametrize("model", ["openai/gpt-4.1", "openai-responses/gpt-4.1", "gemini/gemini-2.5-flash",
                                       "azure/gpt-4o", "together/meta-llama/Llama-3.3-70B-Instruct-Turbo"])
    def test_anthropics_effort_elsewhere(self, client, model):
        plan = warned(client, model, "effort 'high' dropped", effort="high")
        assert "high" not in str(options(plan.body))

    def test_effort_on_claude_is_not_a_warning(self, client):
        assert quiet(client, "anthropic/claude-opus-4-5", effort="low").body["output_config"] == {"effort": "low"}

    def test_an_unknown_claude_gets_effort_as_asked(self, client):
        assert quiet(client, "anthropic/claude-nova-9", effort="high").body["output_config"] == {"effort": "high"}

    def test_a_claude_known_to_lack_effort_warns(self, client):
        plan = warned(client, "anthropic/claude-sonnet-4-5", "does not take output_config.effort", effort="high")
        assert "output_config" not in plan.body

    def test_gpt_oss_on_bedrock_cannot_stop_reasoning(self, client):
        plan = warned(client, "bedrock/openai.gpt-oss-120b-1:0", "sent reasoning_effort 'low'", thinking="off")
        assert plan.body["additionalModelRequestFields"] == {"reasoning_effort": "low"}

    @pytest.mark.parametrize("level, wire", [("minimal", "low"), ("xhigh", "high")])
    def test_nova_2_levels_it_lacks_are_clamped_with_a_warning(self, client, level, wire):
        plan = warned(client, "bedrock/us.amazon.nova-2-lite-v1:0", f"sent maxReasoningEffort {wire!r}",
                      thinking=level)
        assert plan.body["additionalModelRequestFields"]["reasoningConfig"]["maxReasoningEffort"] == wire

    def test_an_unknown_gemini_gets_a_thinking_level(self, client):
        body = quiet(client, "gemini/gemini-exp-2099", thinking="low").body
        assert body["generationConfig"]["thinkingConfig"] == {"thinkingLevel": "low", "includeThoughts": True}

    def test_a_warning_names_the_provider_and_model(self, client):
        with pytest.warns(LLMSyncWarning, match=r"^openai-responses/gpt-4\.1: stop sequences dropped"):
            client.explain("openai-responses/gpt-4.1", "Hi", stop=["x"])


# -- one mapping, several clouds -----------------------------------------------------------------------


class TestOneMappingPerFamily:
    @pytest.mark.parametrize("level", ["minimal", "low", "medium", "high", "xhigh"])
    @pytest.mark.parametrize("anthropic_id, bedrock_id, vertex_id", [
        ("claude-sonnet-4-6", "us.anthropic.claude-sonnet-4-6", "claude-sonnet-4-6"),
        ("claude-opus-4-5", "us.anthropic.claude-opus-4-5-20251101-v1:0", "claude-opus-4-5@20251101"),
    ])
    def test_claude_thinks_alike_on_anthropic_bedrock_and_vertex(self, client, level, anthropic_id, bedrock_id,
                                                                 vertex_id):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", LLMSyncWarning)
            direct = client.explain("anthropic/" + anthropic_id, "Hi", thinking=level, max_tokens=40000).body
            bedrock = client.explain("bedrock/" + bedrock_id, "Hi", thinking=level, max_tokens=40000).body
            vertex = client.explain("vertex-anthropic/" + vertex_id, "Hi", thinking=level, max_tokens=40000).body
        assert bedrock["additionalModelRequestFields"]["thinking"] == direct["thinking"] == vertex["thinking"]
        assert bedrock.get("outputConfig", {}).get("effort") == direct.get("output_config", {}).get("effort") \
            == vertex.get("output_config", {}).get("effort")

    @pytest.mark.parametrize("provider, model", [
        (AnthropicProvider(), "claude-sonnet-4-6"), (VertexAnthropicProvider(), "claude-sonnet-4-6@20260101"),
    ])
    def test_claude_knowledge_has_one_source(self, provider, model):
        assert provider.reasoning(model) == reasoning.claude_reasoning("claude-sonnet-4-6",
                                                                       lookup("anthropic", "claude-sonnet-4-6"))

    def test_bedrock_reads_claude_knowledge_through_public_names(self):
        import inspect

        from llmsync.providers import bedrock

        source = inspect.getsource(bedrock)
        assert "anthropic._" not in source and "._set_effort" not in source

    @pytest.mark.parametrize("model, style, levels", [
        ("gemini-2.5-flash", "budget", None),
        ("gemini-3-pro-preview", "level", ("low", "high")),
        ("gemini-3.9-flash", "level", ("minimal", "low", "medium", "high")),
        ("gemini-2.0-flash", None, None),
    ])
    def test_gemini_reasoning(self, model, style, levels):
        found = reasoning.gemini_reasoning(model, lookup("gemini", model))
        assert (found.style, found.levels, found.known) == (style, levels, True)
        assert not reasoning.gemini_reasoning("gemini-exp-2099", None).known

    def test_bedrock_provider_keeps_its_unknown_model_note(self):
        notes = BedrockProvider().build_request(
            llmsync.Request(model="bedrock/mistral.mistral-large-2407-v1:0", messages="Hi", thinking="high"),
            "mistral.mistral-large-2407-v1:0").adjustments
        assert any("does not know how" in note for note in notes)


class TestFineTunePrices:
    @pytest.mark.parametrize("model", ["openai/ft:gpt-4o-mini-2024-07-18:acme::abc123",
                                       "openai-responses/ft:gpt-4o-mini-2024-07-18:acme:name:abc123"])
    def test_a_fine_tune_is_unpriced_rather_than_priced_as_its_base(self, model):
        from llmsync.testing import FakeServer, Reply

        with FakeServer() as server:
            server.add(Reply(text="ok", usage=llmsync.Usage(1000, 1000, 2000)),
                       Reply(text="ok", usage=llmsync.Usage(1000, 1000, 2000)))
            client = server.client()
            assert client.generate(model, "hi").cost is None
            base = model.split("/", 1)[0] + "/gpt-4o-mini"
            assert client.generate(base, "hi").cost > 0

    def test_model_info_finds_a_fine_tunes_base_entry(self):
        info = llmsync.Client(api_keys={"openai": "sk-test-1234567890"}).model_info(
            "openai/ft:gpt-4o-mini-2024-07-18:acme::abc123")
        assert info is not None and info.id.startswith("gpt-4o-mini")
