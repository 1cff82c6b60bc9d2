"""Anthropic Messages: the exact JSON sent, thinking, caching, streams, errors, recordings."""
import json

import pytest
import responses

import llmsync
from llmsync import (CacheOptions, Document, FinishReason, Image, Message, ParallelToolConfig,
                     ReasoningBlock, Text, ToolCall, ToolChoice, ToolDefinition, Usage)
from llmsync.catalog import ModelMeta
from llmsync.events import ReasoningDelta, TextDelta, ToolCallDelta, ToolCallEnd, ToolCallStart, UsageUpdate
from llmsync.options import Request
from llmsync.providers.anthropic import AnthropicParser, AnthropicProvider
from llmsync.registry import get_provider
from llmsync.testing import Reply
from tests.conftest import assert_matches_expected, load_recording, recordings

URL = "https://api.anthropic.com/v1/messages"
WEATHER = ToolDefinition("get_weather", "Weather for a city",
                         {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]})
CLOCK = ToolDefinition("get_time", "Time in a city", {"type": "object", "properties": {}})
OK_BODY = {"id": "msg_1", "type": "message", "role": "assistant", "model": "claude-sonnet-4-5",
           "content": [{"type": "text", "text": "ok"}], "stop_reason": "end_turn", "stop_sequence": None,
           "usage": {"input_tokens": 3, "output_tokens": 1}}

# A fixed catalog, so these tests do not move when llmsync/data/models.json does.
CATALOG = {
    "claude-sonnet-4-5": ModelMeta("claude-sonnet-4-5", "anthropic", 200000, 64000, supports_reasoning=True,
                                   thinking_style="budget"),
    "claude-opus-4-5": ModelMeta("claude-opus-4-5", "anthropic", 200000, 64000, supports_reasoning=True,
                                 supports_reasoning_effort=True, thinking_style="budget"),
    "claude-sonnet-4-6": ModelMeta("claude-sonnet-4-6", "anthropic", 1000000, 128000, supports_reasoning=True,
                                   supports_reasoning_effort=True, thinking_style="adaptive"),
    "claude-opus-4": ModelMeta("claude-opus-4", "anthropic", 200000, 32000, supports_reasoning=True,
                               thinking_style="budget"),
    "claude-haiku-3": ModelMeta("claude-haiku-3", "anthropic", 200000, 4096),
}


@pytest.fixture(autouse=True)
def fixed_catalog(monkeypatch):
    monkeypatch.setattr(AnthropicProvider, "model_meta", lambda self, model: CATALOG.get(model))
    monkeypatch.delenv("ANTHROPIC_BASE_URL", raising=False)


@pytest.fixture
def anthropic_client():
    with llmsync.Client(api_keys={"anthropic": "sk-ant-test"}, retry=llmsync.RetryPolicy.none()) as client:
        yield client


def plan(model="claude-sonnet-4-5", messages="Hi", **options):
    """The WirePlan (body, headers, adjustments) the provider builds for these arguments."""
    provider = AnthropicProvider()
    request = Request(model="anthropic/" + model, messages=messages, **options)
    provider.validate_request(request)
    return provider.build_request(request, model)


def body(model="claude-sonnet-4-5", messages="Hi", **options):
    options.setdefault("max_tokens", 1000)
    return plan(model, messages, **options).body


def user(text):
    return {"role": "user", "content": [{"type": "text", "text": text}]}


class TestRequestBody:
    def test_generate_posts_the_exact_body_and_headers(self, anthropic_client):
        with responses.RequestsMock() as mock:
            mock.post(URL, json=OK_BODY)
            response = anthropic_client.generate(
                "anthropic/claude-sonnet-4-5", [Message.system("Be brief."), Message.user("Hi")],
                max_tokens=100, temperature=0.2, stop="END")
            sent = mock.calls[0].request
        assert json.loads(sent.body) == {
            "model": "claude-sonnet-4-5", "max_tokens": 100, "system": "Be brief.",
            "messages": [user("Hi")], "temperature": 0.2, "stop_sequences": ["END"]}
        assert sent.headers["x-api-key"] == "sk-ant-test"
        assert sent.headers["anthropic-version"] == "2023-06-01"
        assert "anthropic-beta" not in sent.headers
        assert "Authorization" not in sent.headers
        assert response.content == "ok"

    def test_system_prompt_and_system_messages_are_hoisted_in_order(self):
        sent = body(messages=[Message.system("rules"), Message.user("Hi"), Message.system("late rule")],
                    system_prompt="brief")
        assert sent["system"] == "brief\n\nrules\n\nlate rule"
        assert sent["messages"] == [user("Hi")]

    def test_consecutive_same_role_messages_merge_into_one_turn(self):
        sent = body(messages=[Message.user("a"), Message.user("b"), Message.assistant("c"),
                              Message.assistant("d"), Message.user("e")])
        assert sent["messages"] == [
            {"role": "user", "content": [{"type": "text", "text": "a"}, {"type": "text", "text": "b"}]},
            {"role": "assistant", "content": [{"type": "text", "text": "c"}, {"type": "text", "text": "d"}]},
            user("e"),
        ]

    def test_assistant_tool_calls_become_tool_use_blocks_with_parsed_input(self):
        calls = [ToolCall("toolu_1", "get_weather", '{"city": "Paris"}'), ToolCall("toolu_2", "get_time", "")]
        sent = body(messages=[Message.user("Weather?"), Message.assistant_with_tools("Checking.", calls)],
                    tools=[WEATHER, CLOCK])
        assert sent["messages"][1] == {"role": "assistant", "content": [
            {"type": "text", "text": "Checking."},
            {"type": "tool_use", "id": "toolu_1", "name": "get_weather", "input": {"city": "Paris"}},
            {"type": "tool_use", "id": "toolu_2", "name": "get_time", "input": {}},
        ]}

    def test_tool_result_blocks_share_one_user_turn_in_call_order(self):
        calls = [ToolCall("toolu_1", "get_weather", '{"city": "Paris"}'),
                 ToolCall("toolu_2", "get_weather", '{"city": "Rome"}')]
        sent = body(messages=[Message.user("Weather?"), Message.assistant_with_tools(None, calls),
                              Message.tool_response("toolu_1", "18C"), Message.tool_response("toolu_2", "21C"),
                              Message.user("And tomorrow?")], tools=[WEATHER])
        assert sent["messages"][2] == {"role": "user", "content": [
            {"type": "tool_result", "tool_use_id": "toolu_1", "content": "18C"},
            {"type": "tool_result", "tool_use_id": "toolu_2", "content": "21C"},
            {"type": "text", "text": "And tomorrow?"},
        ]}
        assert len(sent["messages"]) == 3

    def test_image_and_document_parts_become_blocks(self):
        message = Message.user([Text("What is this?"), Image(url="https://x/cat.png"),
                                Image(data="aGk=", media_type="image/jpeg"),
                                Image(url="data:image/webp;base64,UklG"), Document(data="JVBE"),
                                Document(url="https://x/paper.pdf"),
                                Document(data="aGVsbG8=", media_type="text/plain")])
        assert body(messages=[message])["messages"][0]["content"] == [
            {"type": "text", "text": "What is this?"},
            {"type": "image", "source": {"type": "url", "url": "https://x/cat.png"}},
            {"type": "image", "source": {"type": "base64", "media_type": "image/jpeg", "data": "aGk="}},
            {"type": "image", "source": {"type": "base64", "media_type": "image/webp", "data": "UklG"}},
            {"type": "document", "source": {"type": "base64", "media_type": "application/pdf", "data": "JVBE"}},
            {"type": "document", "source": {"type": "url", "url": "https://x/paper.pdf"}},
            {"type": "document", "source": {"type": "text", "media_type": "text/plain", "data": "hello"}},
        ]

    def test_an_image_without_media_type_is_rejected(self):
        with pytest.raises(llmsync.InvalidRequestError, match="media_type"):
            body(messages=[Message.user([Image(data="aGk=")])])

    def test_empty_text_is_not_sent_as_a_block(self):
        calls = [ToolCall("toolu_1", "get_weather", "{}")]
        sent = body(messages=[Message.user("Hi"), Message.assistant_with_tools("", calls)], tools=[WEATHER])
        assert sent["messages"][1]["content"] == [
            {"type": "tool_use", "id": "toolu_1", "name": "get_weather", "input": {}}]

    def test_tools_carry_input_schema(self):
        assert body(tools=[WEATHER])["tools"] == [
            {"name": "get_weather", "description": "Weather for a city", "input_schema": WEATHER.parameters}]

    @pytest.mark.parametrize("choice, wire", [
        (ToolChoice.auto(), {"type": "auto"}), (ToolChoice.none(), {"type": "none"}),
        (ToolChoice.any(), {"type": "any"}),
        (ToolChoice.function("get_weather"), {"type": "tool", "name": "get_weather"}),
    ])
    def test_every_tool_choice_form(self, choice, wire):
        assert body(tools=[WEATHER], tool_choice=choice)["tool_choice"] == wire

    def test_sequential_parallel_config_disables_parallel_tool_use(self):
        sent = body(tools=[WEATHER], parallel_tool_config=ParallelToolConfig.sequential_only())
        assert sent["tool_choice"] == {"type": "auto", "disable_parallel_tool_use": True}

    def test_parallel_tool_calls_false_keeps_the_chosen_tool(self):
        sent = body(tools=[WEATHER], tool_choice="get_weather", parallel_tool_calls=False)
        assert sent["tool_choice"] == {"type": "tool", "name": "get_weather", "disable_parallel_tool_use": True}

    def test_parallel_tool_use_is_left_to_the_default_otherwise(self):
        assert "tool_choice" not in body(tools=[WEATHER], parallel_tool_config=ParallelToolConfig())

    def test_max_tokens_defaults_to_the_catalog_limit_when_streaming(self):
        assert plan(stream=True).body["max_tokens"] == 64000

    def test_max_tokens_default_is_capped_without_streaming(self):
        assert plan().body["max_tokens"] == 16384

    def test_max_tokens_defaults_to_a_constant_for_unknown_models(self):
        assert plan("claude-next-preview").body["max_tokens"] == 8192

    def test_max_tokens_given_is_sent_as_is(self):
        assert plan(max_tokens=123).body["max_tokens"] == 123

    def test_json_schema_response_format_goes_to_output_config(self):
        schema = {"type": "object", "properties": {"a": {"type": "string"}}}
        assert body(response_format=schema)["output_config"] == {
            "format": {"type": "json_schema", "schema": schema}}

    def test_streaming_sets_stream(self):
        assert body(stream=True)["stream"] is True
        assert "stream" not in body()

    def test_explain_redacts_the_key_and_sends_nothing(self, anthropic_client):
        with responses.RequestsMock():
            explained = anthropic_client.explain("anthropic/claude-sonnet-4-5", "Hi", max_tokens=10)
        assert explained.url == URL
        assert explained.headers["x-api-key"] == "***"
        assert explained.headers["anthropic-version"] == "2023-06-01"

    def test_the_registry_resolves_the_anthropic_provider(self):
        assert isinstance(get_provider("anthropic"), AnthropicProvider)


class TestThinking:
    @pytest.mark.parametrize("level, budget", [("minimal", 1024), ("low", 4096), ("medium", 10000),
                                               ("high", 16000)])
    def test_levels_become_budgets_below_max_tokens(self, level, budget):
        sent = body(thinking=level, max_tokens=40000)
        assert sent["thinking"] == {"type": "enabled", "budget_tokens": budget}
        assert sent["max_tokens"] == 40000

    def test_a_budget_above_a_given_max_tokens_is_clamped_and_reported(self):
        result = plan(thinking="high", max_tokens=6000)
        assert result.body["thinking"] == {"type": "enabled", "budget_tokens": 3000}
        assert result.body["max_tokens"] == 6000
        assert any("clamped" in a and "3000" in a for a in result.adjustments)

    def test_a_tiny_max_tokens_is_raised_to_fit_the_minimum_budget(self):
        result = plan(thinking="minimal", max_tokens=500)
        assert result.body["thinking"]["budget_tokens"] == 1024
        assert result.body["max_tokens"] == 1524
        assert any("max_tokens raised" in a for a in result.adjustments)

    def test_a_defaulted_max_tokens_grows_to_leave_room_for_the_answer(self):
        result = plan(thinking="high")  # non-streaming default 16384
        assert result.body["thinking"]["budget_tokens"] == 16000
        assert result.body["max_tokens"] == 20096
        assert any("max_tokens set to 20096" in a for a in result.adjustments)

    def test_the_budget_never_reaches_the_models_output_limit(self):
        result = plan("claude-opus-4", thinking="xhigh", stream=True)
        assert result.body["max_tokens"] == 32000
        assert result.body["thinking"]["budget_tokens"] == 16000

    def test_temperature_is_dropped_and_reported_when_thinking(self):
        result = plan(thinking="low", temperature=0.3, max_tokens=9000)
        assert "temperature" not in result.body
        assert any("temperature dropped" in a for a in result.adjustments)

    def test_thinking_off_sends_no_thinking(self):
        result = plan(thinking="off", temperature=0.3, max_tokens=100)
        assert "thinking" not in result.body
        assert result.body["temperature"] == 0.3

    def test_adaptive_models_from_the_catalog_get_adaptive_thinking_and_effort(self):
        result = plan("claude-sonnet-4-6", thinking="medium", max_tokens=5000)
        assert result.body["thinking"] == {"type": "adaptive", "display": "summarized"}
        assert result.body["output_config"] == {"effort": "medium"}
        assert result.body["max_tokens"] == 5000

    def test_unknown_4_7_ids_are_adaptive_by_rule_and_take_no_temperature(self):
        result = plan("claude-opus-4-7-20260101", thinking="xhigh", temperature=0.5, max_tokens=5000)
        assert result.body["thinking"] == {"type": "adaptive", "display": "summarized"}
        assert result.body["output_config"] == {"effort": "xhigh"}
        assert "temperature" not in result.body
        assert any("sampling" in a for a in result.adjustments)

    def test_xhigh_is_clamped_to_what_a_4_6_model_takes(self):
        result = plan("claude-sonnet-4-6", thinking="xhigh", max_tokens=5000)
        assert result.body["output_config"] == {"effort": "high"}
        assert any("'xhigh' is not available" in a for a in result.adjustments)

    def test_explicit_effort_wins_over_the_thinking_level(self):
        sent = body("claude-sonnet-4-6", thinking="low", effort="high")
        assert sent["output_config"] == {"effort": "high"}

    def test_effort_is_sent_in_output_config_where_supported(self):
        sent = body("claude-opus-4-5", effort="low")
        assert sent["output_config"] == {"effort": "low"}
        assert "thinking" not in sent

    def test_effort_is_ignored_and_reported_where_unsupported(self):
        result = plan(effort="low", max_tokens=100)
        assert "output_config" not in result.body
        assert any("effort" in a and "ignored" in a for a in result.adjustments)

    def test_thinking_on_a_model_without_it_is_ignored_and_reported(self):
        result = plan("claude-haiku-3", thinking="high", max_tokens=100)
        assert "thinking" not in result.body
        assert any("ignored" in a for a in result.adjustments)

    @pytest.mark.parametrize("choice", [ToolChoice.any(), ToolChoice.function("get_weather")])
    def test_forced_tool_choice_with_thinking_fails_before_any_http(self, anthropic_client, choice):
        with responses.RequestsMock() as mock:
            with pytest.raises(llmsync.InvalidRequestError, match="thinking") as info:
                anthropic_client.generate("anthropic/claude-sonnet-4-5", "Hi", tools=[WEATHER],
                                          tool_choice=choice, thinking="low")
            assert len(mock.calls) == 0
        assert "tool_choice" in str(info.value)

    def test_auto_tool_choice_with_thinking_is_fine(self):
        assert body(tools=[WEATHER], tool_choice="auto", thinking="low", max_tokens=9000)["thinking"]


class TestReasoningContinuity:
    def test_thinking_blocks_go_back_first_in_the_assistant_turn(self):
        message = Message.assistant_with_tools("Let me check.", [ToolCall("toolu_1", "get_weather", "{}")])
        message.reasoning = [ReasoningBlock("hmm", "sig-1", provider="anthropic"),
                             ReasoningBlock(kind="redacted_thinking", data="opaque", provider="anthropic"),
                             ReasoningBlock("gemini thought", "g-sig", provider="gemini")]
        sent = body(messages=[Message.user("Weather?"), message], tools=[WEATHER])
        assert sent["messages"][1]["content"] == [
            {"type": "thinking", "thinking": "hmm", "signature": "sig-1"},
            {"type": "redacted_thinking", "data": "opaque"},
            {"type": "text", "text": "Let me check."},
            {"type": "tool_use", "id": "toolu_1", "name": "get_weather", "input": {}},
        ]

    def test_two_turn_tool_loop_echoes_thinking_and_groups_results(self, client, server):
        calls = [ToolCall("toolu_1", "get_weather", '{"city": "Paris"}'),
                 ToolCall("toolu_2", "get_weather", '{"city": "Rome"}')]
        server.add(Reply(reasoning="Both cities.", signature="sig-abc", tool_calls=calls),
                   Reply(text="Sunny in both."))
        model = "anthropic/claude-sonnet-4-5"
        messages = [Message.user("Weather in Paris and Rome?")]
        with client.stream(model, messages, tools=[WEATHER], thinking="low") as stream:
            list(stream)
        first = stream.response
        assert first.reasoning_blocks == [ReasoningBlock("Both cities.", "sig-abc", "thinking",
                                                         provider="anthropic")]
        messages += [first.to_message(), Message.tool_response("toolu_1", "18C"),
                     Message.tool_response("toolu_2", "21C")]
        second = client.generate(model, messages, tools=[WEATHER], thinking="low")
        assert second.content == "Sunny in both."
        sent = server.requests[1].body["messages"]
        assert sent[1] == {"role": "assistant", "content": [
            {"type": "thinking", "thinking": "Both cities.", "signature": "sig-abc"},
            {"type": "tool_use", "id": "toolu_1", "name": "get_weather", "input": {"city": "Paris"}},
            {"type": "tool_use", "id": "toolu_2", "name": "get_weather", "input": {"city": "Rome"}},
        ]}
        assert sent[2] == {"role": "user", "content": [
            {"type": "tool_result", "tool_use_id": "toolu_1", "content": "18C"},
            {"type": "tool_result", "tool_use_id": "toolu_2", "content": "21C"},
        ]}

    def test_redacted_thinking_in_a_whole_message_is_kept(self):
        message = {**OK_BODY, "content": [{"type": "redacted_thinking", "data": "EmwKAhgB"},
                                          {"type": "thinking", "thinking": "ok so", "signature": "s1"},
                                          {"type": "text", "text": "Hi"}]}
        response = AnthropicProvider().parse_response(message, "claude-sonnet-4-5")
        assert response.reasoning_blocks == [
            ReasoningBlock(kind="redacted_thinking", data="EmwKAhgB", provider="anthropic"),
            ReasoningBlock("ok so", "s1", "thinking", provider="anthropic")]
        assert response.reasoning == "ok so"
        assert response.to_message().reasoning == response.reasoning_blocks


class TestCaching:
    def test_breakpoints_on_system_last_tool_and_recent_user_turns(self):
        messages = [Message.user("one"), Message.assistant("a"), Message.user("two"), Message.assistant("b"),
                    Message.user("three")]
        sent = body(messages=messages, system_prompt="long rules", tools=[WEATHER, CLOCK],
                    cache=CacheOptions(cache_system_prompt=True, cache_tools=True, cache_recent_turns=2))
        marker = {"type": "ephemeral"}
        assert sent["system"] == [{"type": "text", "text": "long rules", "cache_control": marker}]
        assert "cache_control" not in sent["tools"][0]
        assert sent["tools"][1]["cache_control"] == marker
        assert [t["content"][-1].get("cache_control") for t in sent["messages"]] == \
            [None, None, marker, None, marker]

    def test_extended_ttl_asks_for_one_hour(self):
        sent = body(system_prompt="rules", cache=CacheOptions(cache_system_prompt=True, extended_ttl=True))
        assert sent["system"][0]["cache_control"] == {"type": "ephemeral", "ttl": "1h"}

    def test_never_more_than_four_breakpoints_oldest_turns_dropped_first(self):
        messages = [m for n in range(5) for m in (Message.user(f"u{n}"), Message.assistant(f"a{n}"))]
        result = plan(messages=messages, system_prompt="rules", tools=[WEATHER], max_tokens=100,
                      cache=CacheOptions(cache_system_prompt=True, cache_tools=True, cache_recent_turns=4))
        marked = [t["content"][0]["text"] for t in result.body["messages"] if "cache_control" in t["content"][-1]]
        assert marked == ["u3", "u4"]
        assert "rules" in json.dumps(result.body["system"]) and "cache_control" in result.body["tools"][0]
        assert any("dropped" in a and "4" in a for a in result.adjustments)

    def test_no_cache_options_no_breakpoints(self):
        assert "cache_control" not in json.dumps(body(system_prompt="rules", tools=[WEATHER]))

    def test_usage_counts_cache_reads_and_writes_in_the_prompt(self):
        message = {**OK_BODY, "usage": {"input_tokens": 50, "output_tokens": 120,
                                        "cache_creation_input_tokens": 2048, "cache_read_input_tokens": 1000}}
        usage = AnthropicProvider().parse_response(message, "claude-sonnet-4-5").usage
        assert usage == Usage(3098, 120, 3218, cache_read_tokens=1000, cache_write_tokens=2048)


class TestStreaming:
    MODEL = "anthropic/claude-sonnet-4-5"

    def test_text_deltas_usage_and_completed_last(self, client, server):
        server.add(Reply(text="Hello there, world", usage=Usage(12, 4, 16)))
        with client.stream(self.MODEL, "Hi") as stream:
            events = list(stream)
        assert "".join(e.text for e in events if isinstance(e, TextDelta)) == "Hello there, world"
        assert [e for e in events if isinstance(e, UsageUpdate)][-1].usage == Usage(12, 4, 16)
        assert isinstance(events[-1], llmsync.Completed)
        assert events[-1].response.finish_reason is FinishReason.STOP
        assert events[-1].response.id == "msg_fake"

    def test_thinking_and_signature_arrive_as_a_reasoning_block(self, client, server):
        server.add(Reply(reasoning="First, the sky.", signature="EuYBCkQ", text="Blue."))
        with client.stream(self.MODEL, "Sky?", thinking="low") as stream:
            events = list(stream)
        assert "".join(e.text for e in events if isinstance(e, ReasoningDelta)) == "First, the sky."
        response = stream.response
        assert response.reasoning == "First, the sky." and response.content == "Blue."
        assert response.reasoning_blocks == [ReasoningBlock("First, the sky.", "EuYBCkQ", "thinking",
                                                            provider="anthropic")]

    def test_tool_use_json_arrives_split_and_is_reassembled(self, client, server):
        server.add(Reply.tools(("get_weather", {"city": "Paris", "unit": "C"}),
                               ("get_time", {"city": "Rome"}), chunk_size=5))
        with client.stream(self.MODEL, "Hi", tools=[WEATHER, CLOCK]) as stream:
            events = list(stream)
        starts = [e for e in events if isinstance(e, ToolCallStart)]
        assert [(s.index, s.name) for s in starts] == [(0, "get_weather"), (1, "get_time")]
        fragments = [e.arguments for e in events if isinstance(e, ToolCallDelta) and e.index == 0]
        assert len(fragments) > 1
        assert json.loads("".join(fragments)) == {"city": "Paris", "unit": "C"}
        ends = [e for e in events if isinstance(e, ToolCallEnd)]
        assert [e.tool_call.parsed_arguments() for e in ends] == [{"city": "Paris", "unit": "C"}, {"city": "Rome"}]
        assert stream.response.finish_reason is FinishReason.TOOL_CALLS

    def test_usage_reports_cache_fields(self, client, server):
        server.add(Reply(text="ok", usage=Usage(1500, 7, 1507, cache_read_tokens=1000, cache_write_tokens=400)))
        with client.stream(self.MODEL, "Hi") as stream:
            list(stream)
        assert stream.response.usage == Usage(1500, 7, 1507, cache_read_tokens=1000, cache_write_tokens=400)

    def test_an_error_event_mid_stream_raises_stream_error_with_the_partial(self, client, server):
        server.add(Reply(text="partial answer", finish_reason=FinishReason.ERROR,
                         error_type="overloaded_error", error_message="Overloaded"))
        seen = []
        with pytest.raises(llmsync.StreamError) as info:
            with client.stream(self.MODEL, "Hi") as stream:
                for event in stream:
                    seen.append(event)
        assert "Overloaded" in str(info.value)
        assert info.value.error_type == "overloaded_error"
        assert info.value.partial.content == "partial answer"
        assert "".join(e.text for e in seen if isinstance(e, TextDelta)) == "partial answer"
        assert len(server.requests) == 1

    def test_an_overloaded_error_before_any_event_is_retried(self, client, server):
        server.add(Reply(finish_reason=FinishReason.ERROR, error_type="overloaded_error"), Reply(text="ok"))
        with client.stream(self.MODEL, "Hi") as stream:
            list(stream)
        assert stream.response.content == "ok"
        assert len(server.requests) == 2

    def test_a_stream_without_message_stop_is_an_error(self, client, server):
        server.add(Reply(text="cut off here", disconnect_after=5))
        with pytest.raises(llmsync.StreamError) as info:
            with client.stream(self.MODEL, "Hi") as stream:
                list(stream)
        assert info.value.partial.content

    def test_generate_returns_what_a_consumed_stream_does(self, client, server):
        reply = dict(text="Fine.", reasoning="hm", tool_calls=[ToolCall("toolu_9", "get_weather", '{"city": "Oslo"}')],
                     usage=Usage(20, 10, 30, cache_read_tokens=5))
        server.add(Reply(**reply), Reply(**reply))
        whole = client.generate(self.MODEL, "Hi", tools=[WEATHER], thinking="low")
        with client.stream(self.MODEL, "Hi", tools=[WEATHER], thinking="low") as stream:
            list(stream)
        exchange = ("request_id", "headers", "rate_limit", "attempts", "latency", "time_to_first_token")
        assert {k: v for k, v in whole.to_dict().items() if k not in exchange} == {
            k: v for k, v in stream.response.to_dict().items() if k not in exchange}


class TestParser:
    def feed(self, *events):
        parser = AnthropicParser("anthropic", "claude-sonnet-4-5")
        out = []
        for payload in events:
            out += parser.feed(payload["type"], json.dumps(payload))
        return parser, out

    def test_ping_and_unknown_events_are_skipped(self):
        parser, out = self.feed({"type": "ping"}, {"type": "brand_new_event", "x": 1},
                                {"type": "content_block_delta", "index": 0,
                                 "delta": {"type": "citations_delta", "citation": {}}})
        assert out == [] and not parser.complete

    def test_message_delta_usage_replaces_and_keeps_message_start_values(self):
        parser, out = self.feed(
            {"type": "message_start", "message": {"id": "msg_x", "model": "m", "content": [],
                                                  "usage": {"input_tokens": 40, "cache_read_input_tokens": 60,
                                                            "output_tokens": 1}}},
            {"type": "message_delta", "delta": {"stop_reason": "max_tokens"}, "usage": {"output_tokens": 30}},
            {"type": "message_delta", "delta": {}, "usage": {"output_tokens": 35}},
            {"type": "message_stop"})
        assert parser.complete
        assert out[-1].usage == Usage(100, 35, 135, cache_read_tokens=60)
        assert parser.finish().finish_reason is FinishReason.LENGTH

    @pytest.mark.parametrize("wire, finish", [
        ("end_turn", FinishReason.STOP), ("stop_sequence", FinishReason.STOP), ("max_tokens", FinishReason.LENGTH),
        ("tool_use", FinishReason.TOOL_CALLS), ("refusal", FinishReason.CONTENT_FILTER),
        ("model_context_window_exceeded", FinishReason.LENGTH), ("pause_turn", FinishReason.LENGTH),
    ])
    def test_stop_reasons_are_mapped(self, wire, finish):
        message = {**OK_BODY, "stop_reason": wire}
        assert AnthropicProvider().parse_response(message, "m").finish_reason is finish

    @pytest.mark.parametrize("error_type, retryable", [("overloaded_error", True), ("api_error", True),
                                                       ("invalid_request_error", False)])
    def test_error_events_raise_provider_errors(self, error_type, retryable):
        with pytest.raises(llmsync.ProviderError, match="went wrong") as info:
            self.feed({"type": "error", "error": {"type": error_type, "message": "went wrong"}})
        assert info.value.error_type == error_type
        assert info.value.retryable is retryable


class TestErrors:
    def test_error_body_maps_to_a_typed_error(self, anthropic_client):
        error = {"type": "error", "error": {"type": "invalid_request_error", "message": "max_tokens: too big"},
                 "request_id": "req_1"}
        with responses.RequestsMock() as mock:
            mock.post(URL, json=error, status=400, headers={"request-id": "req_011abc"})
            with pytest.raises(llmsync.InvalidRequestError) as info:
                anthropic_client.generate("anthropic/claude-sonnet-4-5", "Hi")
        assert info.value.status == 400
        assert info.value.error_type == "invalid_request_error"
        assert info.value.request_id == "req_011abc"
        assert "max_tokens: too big" in str(info.value)
        assert not isinstance(info.value, llmsync.ContextLengthError)

    def test_overloaded_529_is_retried(self, client, server):
        server.add(Reply.error(529, "Overloaded"), Reply(text="ok"))
        assert client.generate("anthropic/claude-sonnet-4-5", "Hi").content == "ok"
        assert len(server.requests) == 2

    def test_overloaded_529_reports_its_type(self, server):
        server.add(Reply.error(529, "Overloaded"))
        with server.client(retry=llmsync.RetryPolicy.none()) as client:
            with pytest.raises(llmsync.ProviderError) as info:
                client.generate("anthropic/claude-sonnet-4-5", "Hi")
        assert info.value.status == 529 and info.value.retryable
        assert info.value.error_type == "overloaded_error"
        assert "Overloaded" in str(info.value)


@pytest.mark.parametrize("name", recordings(["anthropic"]))
def test_recording_parses_to_what_its_body_says(name, client, server):
    recording = load_recording(name)
    response_spec, expected = recording["response"], recording["expected"]
    request_body = recording["request"]["body"]
    server.add(Reply(body=response_spec["body"].encode("utf-8"), status=response_spec["status"],
                     content_type=response_spec["headers"].get("content-type")))
    model = "anthropic/" + request_body["model"]
    if "error" in expected:
        with pytest.raises(llmsync.LLMError) as info:
            client.generate(model, "Hi", max_tokens=10)
        error = expected["error"]
        assert info.value.status == error["status"]
        assert info.value.error_type == error["type"]
        assert error["message"] in str(info.value)
        if "prompt is too long" in error["message"]:
            assert isinstance(info.value, llmsync.ContextLengthError)
        return
    if request_body.get("stream"):
        with client.stream(model, "Hi", max_tokens=10) as stream:
            events = list(stream)
        response = stream.response
        assert isinstance(events[-1], llmsync.Completed)
        assert "".join(e.text for e in events if isinstance(e, TextDelta)) == expected["text"]
    else:
        response = client.generate(model, "Hi", max_tokens=10)
    assert_matches_expected(response, expected)
    if expected["reasoning"]:
        assert response.reasoning_blocks[0].signature


def test_a_data_url_that_is_not_base64_is_refused_before_any_http():
    from llmsync.providers.anthropic import AnthropicProvider

    request = llmsync.Request("anthropic/claude-sonnet-4-5", [llmsync.Message.user(
        [llmsync.Image(url="data:image/png,raw-bytes")])], max_tokens=10)
    with pytest.raises(llmsync.InvalidRequestError, match="base64 data URLs only"):
        AnthropicProvider().build_request(request, "claude-sonnet-4-5")
