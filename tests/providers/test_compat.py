"""The OpenAI-compatible family: one table, the exact JSON per vendor, quirks, recordings."""
import json
import os
import re
import runpy

import pytest
import responses

import llmsync
from llmsync import Message, ToolCall, ToolDefinition
from llmsync import registry
from llmsync.providers.compat import (VENDORS, CompatProvider, OpenRouterProvider, Vendor,
                                      mistral_tool_call_id, providers)
from llmsync.providers.openai import ChatCompletionsParser, ChatCompletionsProvider
from llmsync.testing import Reply, sse
from tests.conftest import assert_matches_expected, load_recording, recordings

HERE = os.path.dirname(os.path.abspath(__file__))
EXAMPLE = os.path.join(HERE, "..", "..", "examples", "custom_provider.py")

KEY_VARS = {"openrouter": "OPENROUTER_API_KEY", "xai": "XAI_API_KEY", "deepseek": "DEEPSEEK_API_KEY",
            "groq": "GROQ_API_KEY", "mistral": "MISTRAL_API_KEY"}
URLS = {
    "openrouter": "https://openrouter.ai/api/v1/chat/completions",
    "xai": "https://api.x.ai/v1/chat/completions",
    "deepseek": "https://api.deepseek.com/chat/completions",
    "groq": "https://api.groq.com/openai/v1/chat/completions",
    "mistral": "https://api.mistral.ai/v1/chat/completions",
    "ollama": "http://localhost:11434/v1/chat/completions",
}
WEATHER = ToolDefinition("get_weather", "Weather for a city",
                         {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]})
OK_BODY = {"id": "chatcmpl-1", "model": "m", "choices": [
    {"index": 0, "message": {"role": "assistant", "content": "ok"}, "finish_reason": "stop"}],
    "usage": {"prompt_tokens": 3, "completion_tokens": 1, "total_tokens": 4}}
SSE_BODY = (sse({"id": "c", "choices": [{"index": 0, "delta": {"content": "ok"}, "finish_reason": "stop"}]})
            + b"data: [DONE]\n\n")


@pytest.fixture(autouse=True)
def clean_env(monkeypatch, tmp_path):
    """No keys, base URLs or attribution from the developer's shell; no auth file."""
    for name in list(os.environ):
        if name.endswith(("_API_KEY", "_BASE_URL")) or name.startswith("OPENROUTER_APP_"):
            monkeypatch.delenv(name)
    monkeypatch.setenv("LLMSYNC_AUTH_FILE", str(tmp_path / "missing-auth.json"))


@pytest.fixture
def isolated_registry(monkeypatch):
    """Providers registered by a test disappear after it."""
    monkeypatch.setattr(registry, "_providers", dict(registry._providers))


@pytest.fixture
def keyed():
    with llmsync.Client(api_keys={vendor: "sk-" + vendor for vendor in KEY_VARS},
                        retry=llmsync.RetryPolicy.none()) as client:
        yield client


def sent(client, model, messages="Hi", **options):
    """The one request the client sends for these arguments (through ``responses``)."""
    url = URLS.get(model.split("/", 1)[0], re.compile(r".*/chat/completions$"))
    stream = options.get("stream", False)
    with responses.RequestsMock() as mock:
        if stream:
            mock.post(url, body=SSE_BODY, content_type="text/event-stream")
            with client.send(llmsync.Request(model=model, messages=messages, **options)) as reply:
                list(reply)
        else:
            mock.post(url, json=OK_BODY)
            client.generate(model, messages, **options)
        return mock.calls[0].request


def body_of(request):
    return json.loads(request.body)


class TestTable:
    def test_providers_returns_one_instance_per_row(self):
        built = providers()
        assert [p.id for p in built] == [v.id for v in VENDORS]
        assert {"openrouter", "xai", "deepseek", "groq", "mistral", "ollama", "openai-compatible"} <= {
            p.id for p in built}
        assert all(isinstance(p, ChatCompletionsProvider) for p in built)
        assert isinstance(built[0], OpenRouterProvider)

    @pytest.mark.parametrize("vendor", VENDORS, ids=lambda v: v.id)
    def test_registry_resolves_each_id_to_its_row(self, vendor):
        provider = registry.get_provider(vendor.id)
        assert isinstance(provider, CompatProvider)
        assert provider.vendor is vendor
        assert provider.default_base_url == vendor.base_url
        assert tuple(provider.env_keys) == (vendor.key_env,)
        assert isinstance(provider.stream_parser("m"), ChatCompletionsParser)

    def test_catalog_models_are_listed_per_vendor(self):
        assert {m.provider for m in registry.get_provider("groq").models()} == {"groq"}
        assert registry.get_provider("openai-compatible").models() == []


class TestRequestBody:
    @pytest.mark.parametrize("model, max_field", [
        ("openrouter/openai/gpt-4o-mini", "max_tokens"),
        ("xai/grok-3", "max_completion_tokens"),
        ("deepseek/deepseek-chat", "max_tokens"),
        ("groq/llama-3.3-70b-versatile", "max_completion_tokens"),
        ("mistral/mistral-large-latest", "max_tokens"),
        ("ollama/llama3.2", "max_tokens"),
    ])
    def test_exact_body_url_and_headers_per_vendor(self, keyed, model, max_field):
        vendor, model_id = model.split("/", 1)
        request = sent(keyed, model, system_prompt="Be brief.", tools=[WEATHER],
                       tool_choice=llmsync.ToolChoice.function("get_weather"), max_tokens=50)
        assert request.url == URLS[vendor]
        assert body_of(request) == {
            "model": model_id,
            "messages": [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Hi"}],
            "tools": [{"type": "function", "function": {"name": "get_weather", "description": "Weather for a city",
                                                        "parameters": WEATHER.parameters}}],
            "tool_choice": {"type": "function", "function": {"name": "get_weather"}},
            max_field: 50,
        }
        assert request.headers["Content-Type"] == "application/json"
        if vendor == "ollama":
            assert "Authorization" not in request.headers
        else:
            assert request.headers["Authorization"] == f"Bearer sk-{vendor}"

    @pytest.mark.parametrize("vendor, wire", [
        ("openrouter", "required"), ("xai", "required"), ("deepseek", "required"), ("groq", "required"),
        ("ollama", "required"), ("mistral", "any")])
    def test_tool_choice_any_takes_each_vendors_word(self, keyed, vendor, wire):
        request = sent(keyed, f"{vendor}/some-model", tools=[WEATHER], tool_choice="any")
        assert body_of(request)["tool_choice"] == wire

    def test_streaming_asks_for_usage_where_the_vendor_allows_it(self, keyed):
        assert body_of(sent(keyed, "groq/llama-3.1-8b-instant", stream=True))["stream_options"] == \
            {"include_usage": True}

    def test_mistral_stream_has_no_stream_options(self, keyed):
        body = body_of(sent(keyed, "mistral/mistral-large-latest", stream=True))
        assert body["stream"] is True
        assert "stream_options" not in body

    def test_openai_compatible_posts_to_the_configured_base_url_without_a_key(self):
        with llmsync.Client(base_urls={"openai-compatible": "http://llm.internal:8080/v1/"}) as client:
            request = sent(client, "openai-compatible/qwen2.5-7b")
        assert request.url == "http://llm.internal:8080/v1/chat/completions"
        assert "Authorization" not in request.headers
        assert body_of(request) == {"model": "qwen2.5-7b", "messages": [{"role": "user", "content": "Hi"}]}

    def test_openai_compatible_takes_base_url_and_key_from_env(self, monkeypatch):
        monkeypatch.setenv("OPENAI_COMPATIBLE_BASE_URL", "http://vllm.local:8000/v1")
        monkeypatch.setenv("OPENAI_COMPATIBLE_API_KEY", "sk-local")
        with llmsync.Client() as client:
            request = sent(client, "openai-compatible/llama")
        assert request.url == "http://vllm.local:8000/v1/chat/completions"
        assert request.headers["Authorization"] == "Bearer sk-local"

    def test_ollama_sends_its_key_when_one_is_set(self, monkeypatch):
        monkeypatch.setenv("OLLAMA_API_KEY", "ollama-cloud-key")
        with llmsync.Client() as client:
            request = sent(client, "ollama/llama3.2")
        assert request.headers["Authorization"] == "Bearer ollama-cloud-key"


class TestAuth:
    @pytest.mark.parametrize("vendor", sorted(KEY_VARS))
    def test_missing_key_names_the_vendors_env_var_before_any_http(self, vendor):
        with llmsync.Client() as client, responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
            with pytest.raises(llmsync.AuthenticationError) as caught:
                client.generate(f"{vendor}/any-model", "Hi")
            assert len(mock.calls) == 0
        message = str(caught.value)
        assert KEY_VARS[vendor] in message
        assert all(other not in message for v, other in KEY_VARS.items() if v != vendor)
        assert caught.value.provider == vendor

    def test_key_from_env_var_is_used(self, monkeypatch):
        monkeypatch.setenv("XAI_API_KEY", "xai-from-env")
        with llmsync.Client() as client:
            assert sent(client, "xai/grok-3").headers["Authorization"] == "Bearer xai-from-env"

    def test_openai_compatible_without_base_url_names_the_env_var(self):
        with llmsync.Client() as client, responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
            with pytest.raises(llmsync.InvalidRequestError, match="OPENAI_COMPATIBLE_BASE_URL"):
                client.generate("openai-compatible/some-model", "Hi")
            assert len(mock.calls) == 0


class TestReasoningEffort:
    """Effort levels come from the catalog first, then the vendor row's rules."""

    @pytest.mark.parametrize("model, thinking, expected", [
        ("xai/grok-3-mini", "high", {"reasoning_effort": "high"}),
        ("xai/grok-3-mini", "medium", {"reasoning_effort": "high"}),   # catalog: low|high
        ("deepseek/deepseek-v4-pro", "xhigh", {"reasoning_effort": "max"}),
        ("deepseek/deepseek-v4-pro", "low", {"reasoning_effort": "low"}),
        ("deepseek/deepseek-v4-pro", "off", {"thinking": {"type": "disabled"}}),
        ("groq/openai/gpt-oss-120b", "medium", {"reasoning_effort": "medium"}),
        ("groq/qwen/qwen3-32b", "high", {"reasoning_effort": "default"}),
        ("groq/qwen/qwen3-32b", "off", {"reasoning_effort": "none"}),
        ("mistral/mistral-small-latest", "off", {"reasoning_effort": "none"}),
        ("mistral/mistral-small-latest", "low", {"reasoning_effort": "high"}),
        ("openrouter/anthropic/claude-sonnet-4.5", "low", {"reasoning": {"effort": "low"}}),
        ("ollama/qwen3", "medium", {"reasoning_effort": "medium"}),
    ])
    def test_effort_is_sent_in_the_vendors_form(self, keyed, model, thinking, expected):
        body = body_of(sent(keyed, model, thinking=thinking))
        assert {k: v for k, v in body.items() if k not in ("model", "messages")} == expected

    @pytest.mark.parametrize("model", ["xai/grok-4", "deepseek/deepseek-chat", "groq/llama-3.3-70b-versatile",
                                       "mistral/magistral-medium-latest"])
    def test_models_without_an_effort_setting_get_none_and_say_so(self, model):
        with llmsync.Client(base_urls={"openai-compatible": "http://h/v1"}) as client:
            plan = client.explain(model, "Hi", thinking="high")
        assert "reasoning_effort" not in plan.body and "reasoning" not in plan.body
        assert any("takes no reasoning effort" in a for a in plan.adjustments)

    @pytest.mark.parametrize("model, thinking, expected", [
        ("openai-compatible/openai/gpt-oss-120b", "high", {"reasoning_effort": "high"}),
        ("openai-compatible/x", "minimal", {"reasoning_effort": "minimal"}),
        ("together/some-new-model", "off", {"reasoning_effort": "none"}),
        ("deepseek/deepseek-v9", "off", {"thinking": {"type": "disabled"}}),
        ("deepseek/deepseek-v9", "high", {"reasoning_effort": "high"}),
    ])
    def test_a_model_the_catalog_does_not_know_gets_the_level_as_asked(self, model, thinking, expected):
        keys = {vendor: "sk-" + vendor for vendor in KEY_VARS}
        with llmsync.Client(base_urls={"openai-compatible": "http://h/v1"}, api_keys=keys) as client:
            plan = client.explain(model, "Hi", thinking=thinking)
        assert {k: v for k, v in plan.body.items() if k not in ("model", "messages")} == expected
        assert plan.adjustments == []

    def test_clamped_level_is_listed_in_adjustments(self, keyed):
        plan = keyed.explain("xai/grok-3-mini", "Hi", thinking="medium")
        assert plan.adjustments == ["thinking 'medium' is not available on grok-3-mini; sent effort 'high'"]

    def test_supports_reasoning_effort_follows_catalog_and_rules(self):
        assert registry.get_provider("xai").supports_reasoning_effort("grok-3-mini")
        assert not registry.get_provider("xai").supports_reasoning_effort("grok-4")
        assert registry.get_provider("groq").supports_reasoning_effort("openai/gpt-oss-safeguard-20b")
        assert not registry.get_provider("deepseek").supports_reasoning_effort("deepseek-reasoner")

    def test_xai_drops_stop_on_reasoning_models_only(self, keyed):
        reasoning = keyed.explain("xai/grok-4", "Hi", stop=["END"])
        assert "stop" not in reasoning.body
        assert any("stop dropped" in a for a in reasoning.adjustments)
        assert keyed.explain("xai/grok-3", "Hi", stop=["END"]).body["stop"] == ["END"]


def chunk(delta, finish=None, **extra):
    return sse({"id": "gen-1", "model": "m", "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
                **extra})


class TestOpenRouter:
    def test_attribution_headers_come_from_env(self, keyed, monkeypatch):
        monkeypatch.setenv("OPENROUTER_APP_URL", "https://my.app")
        monkeypatch.setenv("OPENROUTER_APP_TITLE", "My App")
        headers = sent(keyed, "openrouter/openai/gpt-4o-mini").headers
        assert headers["HTTP-Referer"] == "https://my.app"
        assert headers["X-OpenRouter-Title"] == "My App"
        assert headers["X-Title"] == "My App"

    def test_registered_instance_sets_attribution_headers(self, keyed, isolated_registry):
        llmsync.register_provider(OpenRouterProvider(app_url="https://code.app", app_title="Code App"))
        headers = sent(keyed, "openrouter/openai/gpt-4o-mini").headers
        assert (headers["HTTP-Referer"], headers["X-OpenRouter-Title"]) == ("https://code.app", "Code App")

    def test_no_attribution_headers_unless_configured(self, keyed):
        headers = sent(keyed, "openrouter/openai/gpt-4o-mini").headers
        assert not {"HTTP-Referer", "X-Title", "X-OpenRouter-Title"} & set(headers)

    def test_sse_comment_lines_are_ignored(self, client, server):
        body = (b": OPENROUTER PROCESSING\n\n" + chunk({"role": "assistant", "content": "Hel"})
                + b": OPENROUTER PROCESSING\n\n" + chunk({"content": "lo"}, "stop")
                + b": OPENROUTER PROCESSING\n\ndata: [DONE]\n\n")
        server.add(Reply(body=body))
        with client.stream("openrouter/openai/gpt-4o-mini", "Hi") as stream:
            events = list(stream)
        assert [e.text for e in events if isinstance(e, llmsync.TextDelta)] == ["Hel", "lo"]
        assert isinstance(events[-1], llmsync.Completed)
        assert stream.response.content == "Hello"

    def test_reasoning_field_streams_as_reasoning_deltas(self, client, server):
        server.add(Reply(body=chunk({"reasoning": "Let me think."}) + chunk({"content": "4"}, "stop")
                         + b"data: [DONE]\n\n"))
        with client.stream("openrouter/deepseek/deepseek-chat-v3.1", "2+2?") as stream:
            events = list(stream)
        assert [e.text for e in events if isinstance(e, llmsync.ReasoningDelta)] == ["Let me think."]
        assert (stream.response.reasoning, stream.response.content) == ("Let me think.", "4")

    def test_reasoning_details_are_kept_and_sent_back_unchanged(self, client, server):
        details = [
            {"reasoning": "Check ", "reasoning_details": [
                {"type": "reasoning.text", "text": "Check ", "index": 0, "format": "anthropic-claude-v1"}]},
            {"reasoning": "weather.", "reasoning_details": [
                {"type": "reasoning.text", "text": "weather.", "index": 0, "signature": "sig-123"}]},
        ]
        call = {"index": 0, "id": "toolu_1", "type": "function",
                "function": {"name": "get_weather", "arguments": "{\"city\":\"Paris\"}"}}
        server.add(Reply(body=b"".join(chunk(d) for d in details) + chunk({"tool_calls": [call]}, "tool_calls")
                         + b"data: [DONE]\n\n"), Reply(text="Sunny."))
        model = "openrouter/anthropic/claude-sonnet-4.5"
        with client.stream(model, "Weather in Paris?", tools=[WEATHER]) as stream:
            events = list(stream)
        first = stream.response
        assert [e.text for e in events if isinstance(e, llmsync.ReasoningDelta)] == ["Check ", "weather."]
        assert first.reasoning == "Check weather."
        assert [(b.kind, b.text, b.signature) for b in first.reasoning_blocks] == \
            [("reasoning.text", "Check weather.", "sig-123")]
        history = [Message.user("Weather in Paris?"), first.to_message(),
                   Message.tool_response("toolu_1", "Sunny, 24C")]
        client.generate(model, history, tools=[WEATHER])
        assistant = server.requests[1].body["messages"][1]
        assert assistant["reasoning_details"] == [{"type": "reasoning.text", "text": "Check weather.", "index": 0,
                                                   "format": "anthropic-claude-v1", "signature": "sig-123"}]
        assert assistant["tool_calls"][0]["id"] == "toolu_1"

    def test_reasoning_details_alone_still_give_reasoning_text(self, client, server):
        server.add(Reply(body=chunk({"reasoning_details": [{"type": "reasoning.text", "text": "Hmm."}]})
                         + chunk({"content": "Yes."}, "stop") + b"data: [DONE]\n\n"))
        with client.stream("openrouter/anthropic/claude-opus-5", "Q?") as stream:
            events = list(stream)
        assert [e.text for e in events if isinstance(e, llmsync.ReasoningDelta)] == ["Hmm."]

    def test_whole_reply_keeps_encrypted_reasoning_details(self, keyed):
        body = {**OK_BODY, "choices": [{"index": 0, "finish_reason": "stop", "message": {
            "role": "assistant", "content": "ok", "reasoning": None,
            "reasoning_details": [{"type": "reasoning.encrypted", "data": "gAAAA", "id": "rs_1"}]}}]}
        with responses.RequestsMock() as mock:
            mock.post(URLS["openrouter"], json=body)
            response = keyed.generate("openrouter/openai/gpt-5.5", "Hi")
        assert response.reasoning is None
        assert [(b.kind, b.id, json.loads(b.data)) for b in response.reasoning_blocks] == \
            [("reasoning.encrypted", "rs_1", {"type": "reasoning.encrypted", "data": "gAAAA", "id": "rs_1"})]


class TestDeepSeek:
    def test_reasoning_content_streams_as_reasoning_deltas(self, client, server):
        server.add(Reply(reasoning="First, 2+2.", text="4"))
        with client.stream("deepseek/deepseek-reasoner", "2+2?") as stream:
            events = list(stream)
        assert "".join(e.text for e in events if isinstance(e, llmsync.ReasoningDelta)) == "First, 2+2."
        assert (stream.response.reasoning, stream.response.content) == ("First, 2+2.", "4")

    def test_cache_hit_tokens_become_cache_read_tokens_and_are_priced(self, keyed):
        usage = {"prompt_tokens": 1000, "completion_tokens": 100, "total_tokens": 1100,
                 "prompt_cache_hit_tokens": 800, "prompt_cache_miss_tokens": 200}
        with responses.RequestsMock() as mock:
            mock.post(URLS["deepseek"], json={**OK_BODY, "model": "deepseek-chat", "usage": usage})
            response = keyed.generate("deepseek/deepseek-chat", "Hi")
        assert (response.usage.prompt_tokens, response.usage.cache_read_tokens) == (1000, 800)
        meta = keyed.model_info("deepseek/deepseek-chat")
        assert meta.cache_read_price < meta.input_price
        expected = (200 * meta.input_price + 800 * meta.cache_read_price + 100 * meta.output_price) / 1e6
        assert response.cost == pytest.approx(expected)

    def test_reasoning_goes_back_with_the_tool_call_turn(self, client, server):
        server.add(Reply.tools(("get_weather", {"city": "Paris"}), reasoning="Need weather."), Reply(text="Sunny."))
        model = "deepseek/deepseek-v4-pro"
        first = client.generate(model, "Weather?", tools=[WEATHER])
        call = first.tool_calls[0]
        client.generate(model, [Message.user("Weather?"), first.to_message(),
                                Message.tool_response(call.id, "Sunny")], tools=[WEATHER])
        assistant = server.requests[1].body["messages"][1]
        assert assistant["reasoning_content"] == "Need weather."
        assert assistant["tool_calls"][0]["id"] == call.id


class TestGroq:
    def test_reasoning_is_not_sent_back(self, client, server):
        # Groq 400s on reasoning_content in assistant messages (agentjido/req_llm#772).
        server.add(Reply.tools(("get_weather", {"city": "Rome"}), reasoning="Think."), Reply(text="ok"))
        model = "groq/openai/gpt-oss-120b"
        first = client.generate(model, "Weather?", tools=[WEATHER])
        client.generate(model, [Message.user("Weather?"), first.to_message(),
                                Message.tool_response(first.tool_calls[0].id, "Hot")], tools=[WEATHER])
        assistant = server.requests[1].body["messages"][1]
        assert first.reasoning == "Think."
        assert set(assistant) == {"role", "content", "tool_calls"}


class TestMistral:
    def test_tool_call_ids_map_to_nine_alphanumerics_the_same_in_both_messages(self, keyed):
        foreign = "call_PTLP8xhu3uwZk4l3nlnrrJha"
        history = [Message.user("Weather?"),
                   Message.assistant_with_tools("", [ToolCall(foreign, "get_weather", "{\"city\":\"Oslo\"}"),
                                                     ToolCall("abcDEF123", "get_weather", "{\"city\":\"Rome\"}")]),
                   Message.tool_response(foreign, "Cold"), Message.tool_response("abcDEF123", "Warm")]
        messages = body_of(sent(keyed, "mistral/mistral-large-latest", history, tools=[WEATHER]))["messages"]
        ids = [c["id"] for c in messages[1]["tool_calls"]]
        assert all(re.fullmatch(r"[A-Za-z0-9]{9}", i) for i in ids)
        assert ids[1] == "abcDEF123"
        assert [messages[2]["tool_call_id"], messages[3]["tool_call_id"]] == ids
        assert ids[0] == mistral_tool_call_id(foreign)

    def test_mapped_ids_are_deterministic_and_distinct(self):
        assert mistral_tool_call_id("call_1") == mistral_tool_call_id("call_1")
        assert mistral_tool_call_id("call_1") != mistral_tool_call_id("call_2")
        assert mistral_tool_call_id("toolu_01A09q90qw90lq917835lq9") != "toolu_01A"

    def test_other_vendors_keep_tool_call_ids(self, keyed):
        history = [Message.user("Q"), Message.assistant_with_tools("", [ToolCall("call_abc_123", "get_weather", "{}")]),
                   Message.tool_response("call_abc_123", "R")]
        messages = body_of(sent(keyed, "groq/llama-3.3-70b-versatile", history, tools=[WEATHER]))["messages"]
        assert messages[1]["tool_calls"][0]["id"] == messages[2]["tool_call_id"] == "call_abc_123"

    def test_thinking_chunks_in_a_whole_reply(self, keyed):
        thinking = [{"type": "text", "text": "Count "}, {"type": "text", "text": "r's."}]
        content = [{"type": "thinking", "thinking": thinking}, {"type": "text", "text": "Three."}]
        body = {**OK_BODY, "choices": [{"index": 0, "finish_reason": "stop",
                                        "message": {"role": "assistant", "content": content}}]}
        with responses.RequestsMock() as mock:
            mock.post(URLS["mistral"], json=body)
            response = keyed.generate("mistral/magistral-medium-latest", "How many r's in strawberry?")
        assert (response.reasoning, response.content) == ("Count r's.", "Three.")

    def test_thinking_chunks_in_a_stream(self, client, server):
        server.add(Reply(body=chunk({"role": "assistant", "content": [
            {"type": "thinking", "thinking": [{"type": "text", "text": "Hmm"}]}]})
            + chunk({"content": "Plain "}) + chunk({"content": [{"type": "text", "text": "answer."}]}, "stop")
            + b"data: [DONE]\n\n"))
        with client.stream("mistral/magistral-small-latest", "Q") as stream:
            events = list(stream)
        assert [type(e).__name__ for e in events[:3]] == ["ReasoningDelta", "TextDelta", "TextDelta"]
        assert (stream.response.reasoning, stream.response.content) == ("Hmm", "Plain answer.")


@pytest.mark.parametrize("name", recordings(["openrouter", "groq"]))
def test_recording_parses_to_what_its_expected_says(name, client, server):
    recording = load_recording(name)
    spec, expected, body = recording["response"], recording["expected"], recording["request"]["body"]
    server.add(Reply(body=spec["body"].encode("utf-8"), status=spec["status"],
                     content_type=spec["headers"].get("content-type")))
    model = f"{recording['provider']}/{body['model']}"
    if "error" in expected:
        with pytest.raises(llmsync.InvalidRequestError) as caught:
            client.generate(model, "Hi")
        assert caught.value.status == expected["error"]["status"]
        assert caught.value.provider == recording["provider"]
        assert expected["error"]["message"] in str(caught.value)
        return
    if body.get("stream"):
        with client.stream(model, "Hi") as stream:
            events = list(stream)
        response = stream.response
        assert "".join(e.text for e in events if isinstance(e, llmsync.TextDelta)) == expected["text"]
    else:
        response = client.generate(model, "Hi")
    assert_matches_expected(response, expected)


class TestCustomProviders:
    def test_register_provider_adds_a_subclass_at_run_time(self, server, isolated_registry, monkeypatch):
        class AcmeProvider(ChatCompletionsProvider):
            id = "acme"
            default_base_url = "https://llm.acme.example/v1"
            env_keys = ("ACME_API_KEY",)

        llmsync.register_provider(AcmeProvider())
        assert "acme" in registry.provider_ids()
        monkeypatch.setenv("ACME_API_KEY", "acme-secret")
        monkeypatch.setenv("ACME_BASE_URL", f"{server.url}/v1")
        server.add(Reply(text="Hi from Acme"))
        with llmsync.Client() as client:
            assert client.generate("acme/acme-1", "Hello").content == "Hi from Acme"
        assert server.requests[0].path == "/v1/chat/completions"
        assert server.requests[0].headers["Authorization"] == "Bearer acme-secret"

    def test_a_vendor_row_is_a_provider_too(self, server, isolated_registry):
        llmsync.register_provider(CompatProvider(Vendor("rowcorp", None, "ROWCORP_API_KEY", requires_key=False,
                                                        max_tokens_field="max_completion_tokens")))
        server.add(Reply(text="row"))
        with llmsync.Client(base_urls={"rowcorp": f"{server.url}/v1"}) as client:
            assert client.generate("rowcorp/r1", "Hi", max_tokens=7).content == "row"
        assert server.requests[0].body["max_completion_tokens"] == 7

    def test_custom_provider_example_streams_end_to_end(self, isolated_registry, capsys):
        response = runpy.run_path(EXAMPLE)["main"]()
        assert response.content == "Hello from the MyCorp gateway!"
        assert response.provider == "mycorp"
        assert capsys.readouterr().out == "Hello from the MyCorp gateway!\n"
        assert isinstance(registry.get_provider("mycorp"), ChatCompletionsProvider)


# -- self-hosted and hosted servers (vllm, llamacpp, lmstudio, together, fireworks, cerebras, perplexity) --

SERVER_ROWS = {
    # id: (chat completions URL, key variable, needs a key)
    "vllm": ("http://localhost:8000/v1/chat/completions", "VLLM_API_KEY", False),
    "llamacpp": ("http://localhost:8080/v1/chat/completions", "LLAMA_API_KEY", False),
    "lmstudio": ("http://localhost:1234/v1/chat/completions", "LM_API_TOKEN", False),
    "together": ("https://api.together.xyz/v1/chat/completions", "TOGETHER_API_KEY", True),
    "fireworks": ("https://api.fireworks.ai/inference/v1/chat/completions", "FIREWORKS_API_KEY", True),
    "cerebras": ("https://api.cerebras.ai/v1/chat/completions", "CEREBRAS_API_KEY", True),
    "perplexity": ("https://api.perplexity.ai/chat/completions", "PERPLEXITY_API_KEY", True),
}


def error_of(vendor, status, payload):
    """The exception the client raises when ``vendor`` answers ``status`` with ``payload``."""
    url, _, _ = SERVER_ROWS[vendor]
    with llmsync.Client(api_keys={vendor: "sk-test"}, retry=llmsync.RetryPolicy(max_retries=0)) as client:
        with responses.RequestsMock() as mock:
            mock.post(url, status=status, json=payload)
            with pytest.raises(llmsync.LLMError) as caught:
                client.generate(f"{vendor}/m", "Hi")
    return caught.value


class TestServerRows:
    @pytest.mark.parametrize("vendor", sorted(SERVER_ROWS))
    def test_documented_url_and_key_variable(self, vendor, monkeypatch):
        url, key_env, _ = SERVER_ROWS[vendor]
        monkeypatch.setenv(key_env, "sk-from-env")
        with llmsync.Client(retry=llmsync.RetryPolicy(max_retries=0)) as client:
            request = sent(client, f"{vendor}/m")
        assert request.url == url
        assert request.headers["Authorization"] == "Bearer sk-from-env"

    @pytest.mark.parametrize("vendor", [v for v, row in sorted(SERVER_ROWS.items()) if not row[2]])
    def test_local_servers_need_no_key(self, vendor):
        with llmsync.Client(retry=llmsync.RetryPolicy(max_retries=0)) as client:
            request = sent(client, f"{vendor}/m")
        assert "Authorization" not in request.headers

    @pytest.mark.parametrize("vendor", [v for v, row in sorted(SERVER_ROWS.items()) if row[2]])
    def test_hosted_missing_key_names_its_variable(self, vendor):
        with llmsync.Client() as client:
            with pytest.raises(llmsync.AuthenticationError, match=SERVER_ROWS[vendor][1]):
                client.generate(f"{vendor}/m", "Hi")

    def test_cerebras_takes_max_completion_tokens_and_gpt_oss_effort(self):
        with llmsync.Client(api_keys={"cerebras": "k"}) as client:
            body = body_of(sent(client, "cerebras/gpt-oss-120b", max_tokens=9, thinking="high"))
        assert body["max_completion_tokens"] == 9 and "max_tokens" not in body
        assert body["reasoning_effort"] == "high"

    def test_vllm_unwrapped_context_overflow_is_a_context_length_error(self):
        # vllm ErrorResponse before 0.10: no "error" wrapper; message from serving_engine.py.
        error = error_of("vllm", 400, {
            "object": "error", "type": "BadRequestError", "param": None, "code": 400,
            "message": "This model's maximum context length is 4096 tokens. However, your request has 5000 "
                       "input tokens. Please reduce the length of the input messages."})
        assert isinstance(error, llmsync.ContextLengthError)
        assert "maximum context length is 4096" in str(error) and '"object"' not in str(error)

    def test_vllm_wrapped_max_tokens_overflow_is_a_context_length_error(self):
        error = error_of("vllm", 400, {"error": {
            "type": "BadRequestError", "param": None, "code": 400,
            "message": "'max_tokens' or 'max_completion_tokens' is too large: 9000. This model's maximum context "
                       "length is 8192 tokens and your request has 12 input tokens (9000 > 8192 - 12)."}})
        assert isinstance(error, llmsync.ContextLengthError)

    def test_vllm_other_errors_stay_invalid_requests_with_their_message(self):
        error = error_of("vllm", 400, {"object": "error", "message": "max_tokens must be at least 1, got -186.",
                                       "type": "BadRequestError", "param": None, "code": 400})
        assert type(error) is llmsync.InvalidRequestError
        assert "max_tokens must be at least 1" in str(error)

    def test_llamacpp_context_overflow(self):
        error = error_of("llamacpp", 400, {"error": {
            "code": 400, "type": "exceed_context_size_error", "n_prompt_tokens": 9412, "n_ctx": 8192,
            "message": "request (9412 tokens) exceeds the available context size (8192 tokens), try increasing it"}})
        assert isinstance(error, llmsync.ContextLengthError)

    @pytest.mark.parametrize("vendor, message", [
        ("fireworks", "The prompt is too long: 140000, model maximum context length: 131072"),
        ("together", "Input validation error: `inputs` tokens + `max_new_tokens` must be <= 8193. Given: 9000"),
        ("lmstudio", "Trying to keep the first 5000 tokens when context the overflows. However, the model is "
                     "loaded with context length of only 4096 tokens, which is not enough."),
    ])
    def test_hosted_context_overflow_wordings(self, vendor, message):
        error = error_of(vendor, 400, {"error": {"message": message, "type": "invalid_request_error"}})
        assert isinstance(error, llmsync.ContextLengthError)

    def test_served_models_are_parsed_from_the_openai_shape(self):
        body = {"object": "list", "data": [{"id": "llama3.2:latest", "object": "model"}]}
        assert registry.get_provider("ollama").parse_model_list(body) == ["llama3.2:latest"]
        assert registry.get_provider("vllm").models_path == "/models"

    def test_client_lists_an_ollama_servers_models(self):
        with responses.RequestsMock() as mock:
            mock.get("http://localhost:11434/v1/models", json={"data": [{"id": "qwen3:8b"}, {"id": "llama3.2"}]})
            with llmsync.Client() as client:
                assert client.list_models("ollama") == ["qwen3:8b", "llama3.2"]

    def test_cli_models_asks_a_server_the_catalog_does_not_cover(self, capsys):
        from llmsync.cli import main

        with responses.RequestsMock() as mock:
            mock.get("http://127.0.0.1:9999/v1/models", json={"data": [{"id": "qwen3:8b"}]})
            assert main(["models", "--provider", "vllm", "--base-url", "http://127.0.0.1:9999/v1"]) == 0
        assert capsys.readouterr().out == "vllm/qwen3:8b\n"

    def test_cli_base_url_needs_a_provider(self, capsys):
        from llmsync.cli import main

        assert main(["models", "--base-url", "http://127.0.0.1:9/v1"]) == 2
        assert "--base-url needs --provider" in capsys.readouterr().err


class TestImageUrls:
    def test_ollama_refuses_an_image_url_before_any_http_naming_the_fix(self):
        client = llmsync.Client()
        message = llmsync.Message.user([llmsync.Text("What is it?"), llmsync.Image(url="https://example.com/a.png")])
        with pytest.raises(llmsync.InvalidRequestError, match=r"ollama cannot fetch .*Image.from_path"):
            client.explain("ollama/llava", [message])

    def test_ollama_takes_the_same_image_as_bytes(self):
        png = b"\x89PNG\r\n\x1a\n" + b"\0" * 16
        message = llmsync.Message.user([llmsync.Text("What is it?"), llmsync.Image.from_bytes(png)])
        body = llmsync.Client().explain("ollama/llava", [message]).body
        assert body["messages"][0]["content"][1]["image_url"]["url"].startswith("data:image/png;base64,")

    def test_other_vendors_still_send_image_urls(self):
        message = llmsync.Message.user([llmsync.Image(url="https://example.com/a.png")])
        body = llmsync.Client(api_keys={"groq": "gsk-test-123456789"}).explain("groq/llama-4-scout", [message]).body
        assert body["messages"][0]["content"][0]["image_url"]["url"] == "https://example.com/a.png"


PNG = b"\x89PNG\r\n\x1a\n" + b"\0" * 16


class TestDeepSeekParts:
    """api-docs.deepseek.com/guides/vision: deepseek-flash reads JPEG/PNG/GIF/WebP images;
    deepseek-v4-pro reads text only; no model reads a document."""

    @pytest.mark.parametrize("part", [llmsync.Image.from_bytes(PNG), llmsync.Image(url="https://example.com/a.png")])
    def test_an_image_to_a_text_only_model_is_refused_before_any_http(self, keyed, part):
        message = Message.user([llmsync.Text("What is it?"), part])
        with responses.RequestsMock():  # any HTTP would fail: no URL is registered
            with pytest.raises(llmsync.InvalidRequestError) as caught:
                keyed.generate("deepseek/deepseek-v4-pro", [Message.user("Hi"), message])
        assert str(caught.value).startswith("messages[1].content[1] is Image: deepseek/deepseek-v4-pro reads "
                                            "text only; deepseek-flash reads images")
        assert caught.value.provider == "deepseek"

    @pytest.mark.parametrize("model", ["deepseek-flash", "deepseek-v4-pro"])
    def test_a_document_is_refused_on_every_model(self, keyed, model):
        message = Message.user([llmsync.Text("Summarise"), llmsync.Document(data=b"%PDF-1.4 ...")])
        with pytest.raises(llmsync.InvalidRequestError,
                           match=rf"^messages\[0\]\.content\[1\] is Document: deepseek/{model} reads no documents"):
            keyed.explain(f"deepseek/{model}", [message])

    @pytest.mark.parametrize("model", ["deepseek-flash", "deepseek-v4-flash"])
    def test_an_image_goes_to_a_model_that_reads_images(self, keyed, model):
        message = Message.user([llmsync.Text("What is it?"), llmsync.Image(url="https://example.com/a.png")])
        body = body_of(sent(keyed, f"deepseek/{model}", [message]))
        assert body["messages"][0]["content"] == [
            {"type": "text", "text": "What is it?"},
            {"type": "image_url", "image_url": {"url": "https://example.com/a.png"}}]

    def test_text_still_goes_to_a_text_only_model(self, keyed):
        body = body_of(sent(keyed, "deepseek/deepseek-v4-pro", [Message.user([llmsync.Text("Hi")])]))
        assert body["messages"] == [{"role": "user", "content": [{"type": "text", "text": "Hi"}]}]

    def test_other_vendors_send_documents_as_before(self, keyed):
        message = Message.user([llmsync.Document(data=b"%PDF-1.4 ...")])
        body = keyed.explain("openrouter/openai/gpt-4o-mini", [message]).body
        assert body["messages"][0]["content"][0]["type"] == "file"

    def test_end_to_end_the_server_sees_nothing_of_a_refused_request(self, client, server):
        server.add(Reply(text="A cat."))
        image = Message.user([llmsync.Text("What is it?"), llmsync.Image.from_bytes(PNG)])
        with pytest.raises(llmsync.InvalidRequestError, match="deepseek-v4-pro reads text only"):
            client.generate("deepseek/deepseek-v4-pro", [image])
        assert server.requests == []
        assert client.generate("deepseek/deepseek-flash", [image]).content == "A cat."
        sent_part = server.requests[0].body["messages"][0]["content"][1]
        assert sent_part["image_url"]["url"].startswith("data:image/png;base64,")
