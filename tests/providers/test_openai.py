"""OpenAI Chat Completions: the exact JSON sent, streamed and whole replies, recordings."""
import json

import pytest
import responses

import llmsync
from llmsync import (CacheOptions, Document, FinishReason, Image, Message, ParallelToolConfig, Text,
                     ToolCall, ToolChoice, ToolDefinition)
from llmsync.testing import Reply
from tests.conftest import assert_matches_expected, load_recording, recordings

URL = "https://api.openai.com/v1/chat/completions"
WEATHER = ToolDefinition("get_weather", "Weather for a city",
                         {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]})
OK_BODY = {"id": "chatcmpl-1", "model": "gpt-4o-mini", "choices": [
    {"index": 0, "message": {"role": "assistant", "content": "ok"}, "finish_reason": "stop"}],
    "usage": {"prompt_tokens": 3, "completion_tokens": 1, "total_tokens": 4}}


@pytest.fixture
def openai_client():
    with llmsync.Client(api_keys={"openai": "sk-test"}, retry=llmsync.RetryPolicy.none()) as client:
        yield client


def sent(openai_client, model="openai/gpt-4o-mini", messages="Hi", **options):
    """The JSON body the client sends for these arguments."""
    with responses.RequestsMock() as mock:
        mock.post(URL, json=OK_BODY)
        openai_client.generate(model, messages, **options)
        return json.loads(mock.calls[0].request.body)


class TestRequestBody:
    def test_minimal_request(self, openai_client):
        assert sent(openai_client) == {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "Hi"}]}

    def test_system_prompt_and_system_messages_use_the_system_role(self, openai_client):
        body = sent(openai_client, messages=[Message.system("rules"), Message.user("Hi")], system_prompt="brief")
        assert body["messages"] == [{"role": "system", "content": "brief"}, {"role": "system", "content": "rules"},
                                    {"role": "user", "content": "Hi"}]

    def test_reasoning_models_get_the_developer_role(self, openai_client):
        body = sent(openai_client, model="openai/o3-mini", system_prompt="brief")
        assert body["messages"][0] == {"role": "developer", "content": "brief"}

    def test_tool_round_trip_messages(self, openai_client):
        messages = [
            Message.user("Weather?"),
            Message.assistant_with_tools(None, [ToolCall("call_1", "get_weather", '{"city":"Paris"}')]),
            Message.tool_response("call_1", "sunny"),
        ]
        body = sent(openai_client, messages=messages, tools=[WEATHER])
        assert body["messages"][1:] == [
            {"role": "assistant", "content": None, "tool_calls": [
                {"id": "call_1", "type": "function",
                 "function": {"name": "get_weather", "arguments": '{"city":"Paris"}'}}]},
            {"role": "tool", "tool_call_id": "call_1", "content": "sunny"},
        ]
        assert body["tools"] == [{"type": "function", "function": {
            "name": "get_weather", "description": "Weather for a city", "parameters": WEATHER.parameters}}]

    def test_image_and_document_parts(self, openai_client):
        message = Message.user([Text("What is this?"), Image(url="https://x/cat.png"),
                                Image(data="aGk=", media_type="image/jpeg"), Document(data="JVBE")])
        assert sent(openai_client, messages=[message])["messages"][0]["content"] == [
            {"type": "text", "text": "What is this?"},
            {"type": "image_url", "image_url": {"url": "https://x/cat.png"}},
            {"type": "image_url", "image_url": {"url": "data:image/jpeg;base64,aGk="}},
            {"type": "file", "file": {"filename": "document.pdf", "file_data": "data:application/pdf;base64,JVBE"}},
        ]

    @pytest.mark.parametrize("choice, wire", [
        (ToolChoice.auto(), "auto"), (ToolChoice.none(), "none"), (ToolChoice.any(), "required"),
        (ToolChoice.function("get_weather"), {"type": "function", "function": {"name": "get_weather"}}),
    ])
    def test_every_tool_choice_form(self, openai_client, choice, wire):
        assert sent(openai_client, tools=[WEATHER], tool_choice=choice)["tool_choice"] == wire

    def test_parallel_tool_calls_flag_and_sequential_config(self, openai_client):
        assert sent(openai_client, tools=[WEATHER], parallel_tool_calls=True)["parallel_tool_calls"] is True
        body = sent(openai_client, tools=[WEATHER], parallel_tool_config=ParallelToolConfig.sequential_only())
        assert body["parallel_tool_calls"] is False

    def test_max_tokens_uses_max_completion_tokens(self, openai_client):
        body = sent(openai_client, model="openai/o3-mini", max_tokens=100)
        assert body["max_completion_tokens"] == 100 and "max_tokens" not in body

    def test_temperature_and_stop(self, openai_client):
        body = sent(openai_client, temperature=0.2, stop=["END", "STOP"])
        assert body["temperature"] == 0.2 and body["stop"] == ["END", "STOP"]

    @pytest.mark.parametrize("model", ["o3", "o3-2025-04-16", "o4-mini", "o1-mini", "gpt-5", "gpt-5-mini",
                                       "gpt-5.1", "gpt-5.2", "ft:o4-mini-2025-04-16:acme::abc123"])
    def test_stop_is_dropped_and_reported_where_openai_rejects_it(self, openai_client, model):
        # 400 "Unsupported parameter: 'stop' is not supported with this model" otherwise;
        # gpt-5.1 rejects it even at its default effort of none (smolagents#1868).
        with pytest.warns(llmsync.LLMSyncWarning, match="stop dropped"):
            body = sent(openai_client, model=f"openai/{model}", stop=["END"])
        assert "stop" not in body
        plan = openai_client.explain(f"openai/{model}", "Hi", stop=["END"])
        assert "stop" not in plan.body
        assert [note for note in plan.adjustments if note.startswith("stop dropped")] == [
            f"stop dropped: {model} is a reasoning model that rejects stop sequences"]

    @pytest.mark.parametrize("model", ["gpt-4o-mini", "gpt-4.1", "o1", "o3-mini", "gpt-5-chat-latest"])
    def test_stop_is_sent_where_the_model_takes_it(self, openai_client, model):
        assert sent(openai_client, model=f"openai/{model}", stop=["END"])["stop"] == ["END"]
        assert not any("stop" in note for note in openai_client.explain(f"openai/{model}", "Hi",
                                                                        stop=["END"]).adjustments)

    def test_no_stop_asked_means_nothing_to_report(self, openai_client):
        plan = openai_client.explain("openai/o3", "Hi")
        assert "stop" not in plan.body and not any("stop" in note for note in plan.adjustments)

    def test_thinking_level_becomes_reasoning_effort(self, openai_client):
        assert sent(openai_client, model="openai/o3-mini", thinking="low")["reasoning_effort"] == "low"

    def test_thinking_level_is_clamped_to_what_the_model_takes(self, openai_client):
        plan = openai_client.explain("openai/o3-mini", "Hi", thinking="xhigh")
        assert plan.body["reasoning_effort"] == "high"
        assert any("xhigh" in note for note in plan.adjustments)

    def test_minimal_on_gpt_5_1_becomes_a_level_it_takes(self, openai_client):
        body = openai_client.explain("openai/gpt-5.1", "Hi", thinking="minimal").body
        assert body["reasoning_effort"] in ("none", "low")

    def test_thinking_on_a_model_without_reasoning_is_dropped_and_reported(self, openai_client):
        plan = openai_client.explain("openai/gpt-4o", "Hi", thinking="high")
        assert "reasoning_effort" not in plan.body
        assert any("ignored" in note for note in plan.adjustments)

    def test_temperature_is_dropped_on_reasoning_models(self, openai_client):
        plan = openai_client.explain("openai/o3-mini", "Hi", temperature=0.3, thinking="low")
        assert "temperature" not in plan.body and any("temperature" in n for n in plan.adjustments)

    def test_temperature_is_dropped_on_o_series_even_at_their_default_effort(self, openai_client):
        plan = openai_client.explain("openai/o3-mini", "Hi", temperature=0.3)
        assert "temperature" not in plan.body

    def test_gpt_5_1_keeps_temperature_at_its_default_effort_of_none(self, openai_client):
        assert openai_client.explain("openai/gpt-5.1", "Hi", temperature=0.3).body["temperature"] == 0.3

    def test_chat_snapshots_of_reasoning_families_do_not_reason(self, openai_client):
        plan = openai_client.explain("openai/gpt-5-chat-latest", "Hi", thinking="low", system_prompt="s")
        assert "reasoning_effort" not in plan.body
        assert plan.body["messages"][0]["role"] == "system"

    def test_json_schema_response_format(self, openai_client):
        schema = {"type": "object", "properties": {"a": {"type": "integer"}}}
        assert sent(openai_client, response_format=schema)["response_format"] == {
            "type": "json_schema", "json_schema": {"name": "response", "schema": schema}}
        assert sent(openai_client, response_format="json")["response_format"] == {"type": "json_object"}

    def test_streaming_asks_for_usage(self, openai_client):
        body = openai_client.explain("openai/gpt-4o-mini", "Hi", stream=True).body
        assert body["stream"] is True and body["stream_options"] == {"include_usage": True}

    def test_extra_is_merged_last(self, openai_client):
        body = sent(openai_client, temperature=0.5, extra={"temperature": 0.9, "seed": 7})
        assert body["temperature"] == 0.9 and body["seed"] == 7

    def test_cache_options_change_nothing_on_openai(self, openai_client):
        assert sent(openai_client, cache=CacheOptions(cache_system_prompt=True)) == sent(openai_client)

    def test_auth_header_is_a_bearer_token(self, openai_client):
        with responses.RequestsMock() as mock:
            mock.post(URL, json=OK_BODY)
            openai_client.generate("openai/gpt-4o-mini", "Hi")
            assert mock.calls[0].request.headers["Authorization"] == "Bearer sk-test"


class TestStreaming:
    def test_text_deltas_usage_and_completed_last(self, client, server):
        server.add(Reply(text="Hello streaming world", chunk_size=5))
        with client.stream("openai/gpt-4o-mini", "Hi") as stream:
            events = list(stream)
        texts = [e.text for e in events if isinstance(e, llmsync.TextDelta)]
        assert texts == ["Hello", " stre", "aming", " worl", "d"]
        assert isinstance(events[-1], llmsync.Completed)
        assert isinstance(events[-2], llmsync.UsageUpdate)
        assert stream.response.content == "Hello streaming world"
        assert stream.response.usage == llmsync.Usage(10, 5, 15)

    def test_stop_on_a_reasoning_model_end_to_end(self, client, server):
        server.add(Reply(text="Done."), Reply(text="Done."))
        with pytest.warns(llmsync.LLMSyncWarning, match="stop dropped: o4-mini"):
            assert client.generate("openai/o4-mini", "Hi", stop=["END"]).content == "Done."
        client.generate("openai/gpt-4o-mini", "Hi", stop=["END"])
        assert "stop" not in server.requests[0].body
        assert server.requests[1].body["stop"] == ["END"]

    def test_parallel_tool_calls_are_reassembled_by_index(self, client, server):
        server.add(Reply.tools(("get_weather", {"city": "Paris"}), ("get_weather", {"city": "Rome"}), chunk_size=3))
        with client.stream("openai/gpt-4o-mini", "Weather?", tools=[WEATHER]) as stream:
            events = list(stream)
        starts = [e for e in events if isinstance(e, llmsync.ToolCallStart)]
        ends = [e for e in events if isinstance(e, llmsync.ToolCallEnd)]
        assert [(s.index, s.name) for s in starts] == [(0, "get_weather"), (1, "get_weather")]
        assert [e.tool_call.parsed_arguments() for e in ends] == [{"city": "Paris"}, {"city": "Rome"}]
        assert stream.response.finish_reason is FinishReason.TOOL_CALLS

    def test_interleaved_tool_call_chunks_are_kept_apart(self):
        provider = llmsync.get_provider("openai")
        parser = provider.stream_parser("gpt-4o")

        def chunk(calls, finish=None):
            return json.dumps({"choices": [{"index": 0, "delta": {"tool_calls": calls}, "finish_reason": finish}]})

        parser.feed("message", chunk([{"index": 0, "id": "a", "function": {"name": "f", "arguments": '{"x":'}},
                                      {"index": 1, "id": "b", "function": {"name": "g", "arguments": '{"y":'}}]))
        parser.feed("message", chunk([{"index": 1, "function": {"arguments": "2}"}},
                                      {"index": 0, "function": {"arguments": "1}"}}], "tool_calls"))
        parser.feed("message", "[DONE]")
        calls = parser.finish().tool_calls
        assert [(c.id, c.name, c.arguments) for c in calls] == [("a", "f", '{"x":1}'), ("b", "g", '{"y":2}')]

    def test_reasoning_and_cached_tokens_are_reported(self, client, server):
        usage = llmsync.Usage(100, 50, 150, cache_read_tokens=60, reasoning_tokens=30)
        server.add(Reply(text="x", reasoning="thinking...", usage=usage))
        response = client.generate("openai/o3-mini", "Hi")
        assert response.usage == usage
        assert response.reasoning == "thinking..."

    @pytest.mark.parametrize("finish", list(FinishReason))
    def test_finish_reasons_are_mapped(self, client, server, finish):
        server.add(Reply(text="x", finish_reason=finish))
        assert client.generate("openai/gpt-4o-mini", "Hi").finish_reason is finish

    def test_generate_returns_the_same_response_a_consumed_stream_does(self, client, server):
        reply = Reply(text="same either way", reasoning="hmm", usage=llmsync.Usage(5, 6, 11, 2, 0, 1))
        server.add(reply, reply)
        whole = client.generate("openai/gpt-4o-mini", "Hi")
        with client.stream("openai/gpt-4o-mini", "Hi") as stream:
            for _ in stream:
                pass
        assert stream.response == whole

    def test_a_stream_without_done_is_an_error(self, client, server):
        body = b'data: {"choices":[{"index":0,"delta":{"content":"hi"},"finish_reason":null}]}\n\n'
        server.add(Reply(body=body, content_type="text/event-stream"))
        with pytest.raises(llmsync.StreamError, match="ended before") as info:
            list(client.stream("openai/gpt-4o-mini", "Hi"))
        assert info.value.partial.content == "hi"

    def test_malformed_json_mid_stream_keeps_the_partial(self, client, server):
        body = (b'data: {"choices":[{"index":0,"delta":{"content":"hi"},"finish_reason":null}]}\n\n'
                b'data: {"choices": [oops\n\n')
        server.add(Reply(body=body, content_type="text/event-stream"))
        with pytest.raises(llmsync.StreamError, match="malformed JSON") as info:
            list(client.stream("openai/gpt-4o-mini", "Hi"))
        assert info.value.partial.content == "hi"

    def test_an_error_chunk_in_the_stream_is_raised_with_its_message(self, client, server):
        body = (b'data: {"choices":[{"index":0,"delta":{"content":"a"},"finish_reason":null}]}\n\n'
                b'data: {"error": {"message": "model overloaded", "type": "server_error"}}\n\n')
        server.add(Reply(body=body, content_type="text/event-stream"))
        with pytest.raises(llmsync.StreamError, match="model overloaded"):
            list(client.stream("openai/gpt-4o-mini", "Hi"))


class TestErrors:
    def test_openai_error_body_maps_to_typed_error(self, openai_client):
        with responses.RequestsMock() as mock:
            mock.post(URL, status=400, headers={"x-request-id": "req_9"}, json={"error": {
                "message": "This model's maximum context length is 128000 tokens.",
                "type": "invalid_request_error", "code": "context_length_exceeded"}})
            with pytest.raises(llmsync.ContextLengthError) as info:
                openai_client.generate("openai/gpt-4o-mini", "Hi")
        error = info.value
        assert (error.status, error.provider, error.request_id) == (400, "openai", "req_9")
        assert "maximum context length" in error.message

    @pytest.mark.parametrize("status, kind", [(401, llmsync.AuthenticationError), (403, llmsync.AuthenticationError),
                                              (404, llmsync.InvalidRequestError), (422, llmsync.InvalidRequestError),
                                              (429, llmsync.RateLimitError), (500, llmsync.ProviderError)])
    def test_statuses_map_to_error_types(self, openai_client, status, kind):
        with responses.RequestsMock() as mock:
            mock.post(URL, status=status, json={"error": {"message": "nope", "type": "x"}})
            with pytest.raises(kind, match="nope"):
                openai_client.generate("openai/gpt-4o-mini", "Hi")

    def test_a_200_html_page_is_a_provider_error(self, openai_client):
        with responses.RequestsMock() as mock:
            mock.post(URL, body="<html><title>Gateway</title></html>", content_type="text/html")
            with pytest.raises(llmsync.ProviderError, match="HTML page.*Gateway"):
                openai_client.generate("openai/gpt-4o-mini", "Hi")

    def test_a_body_of_the_wrong_shape_is_a_provider_error(self, openai_client):
        with responses.RequestsMock() as mock:
            mock.post(URL, json={"choices": [{"message": "not a dict"}]})
            with pytest.raises(llmsync.ProviderError, match="unexpected reply"):
                openai_client.generate("openai/gpt-4o-mini", "Hi")


@pytest.mark.parametrize("name", recordings(["openai"]))
def test_recording_parses_to_what_its_body_says(name, client, server):
    recording = load_recording(name)
    response_spec, expected = recording["response"], recording["expected"]
    body = recording["request"]["body"]
    server.add(Reply(body=response_spec["body"].encode("utf-8"), status=response_spec["status"],
                     content_type=response_spec["headers"].get("content-type")))
    model = "openai/" + body["model"]
    if body.get("stream"):
        with client.stream(model, "Hi") as stream:
            events = list(stream)
        response = stream.response
        assert isinstance(events[-1], llmsync.Completed)
        assert "".join(e.text for e in events if isinstance(e, llmsync.TextDelta)) == expected["text"]
    else:
        response = client.generate(model, "Hi")
    assert_matches_expected(response, expected)
