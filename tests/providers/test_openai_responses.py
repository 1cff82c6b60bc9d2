"""The OpenAI Responses API provider: wire requests, stream events, stateless reasoning."""
import json

import pytest
import responses

import llmsync
from llmsync import (Completed, ContextLengthError, Document, FinishReason, Image, InvalidRequestError,
                     Message, ProviderError, ReasoningBlock, ReasoningDelta, ServerToolCall, StreamError, Text,
                     TextDelta, ThinkingLevel, TokenLogprob, ToolCall, ToolCallDelta, ToolCallEnd,
                     ToolCallStart, ToolChoice, ToolDefinition, Usage, UsageUpdate)
from llmsync.providers.openai_responses import OpenAIResponsesProvider, ResponsesParser, providers
from llmsync.registry import get_provider
from llmsync.testing import Reply
from llmsync.testing.responses_wire import FORMAT

from tests.conftest import load_recording

URL = "https://api.openai.com/v1/responses"
MODEL = "openai-responses/gpt-5-mini"
WEATHER = ToolDefinition("get_weather", "Current weather.",
                         {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]})
OK_BODY = {"id": "resp_1", "object": "response", "status": "completed", "model": "gpt-5-mini",
           "output": [{"id": "msg_1", "type": "message", "role": "assistant", "status": "completed",
                       "content": [{"type": "output_text", "text": "ok", "annotations": []}]}],
           "usage": {"input_tokens": 3, "output_tokens": 1, "total_tokens": 4}}


@pytest.fixture
def api(monkeypatch):
    monkeypatch.delenv("OPENAI_RESPONSES_BASE_URL", raising=False)
    with responses.RequestsMock() as mock, llmsync.Client(
            api_keys={"openai-responses": "sk-test"}, retry=llmsync.RetryPolicy.none()) as client:
        mock.add(responses.POST, URL, json=OK_BODY)
        yield client, mock


def sent(api, messages="Hi", model=MODEL, **options):
    """The JSON body the provider sent for one generate call."""
    client, mock = api
    client.generate(model, messages, **options)
    return json.loads(mock.calls[-1].request.body)


def plan(model, messages="Hi", **options):
    """What explain() says would be sent; nothing is sent."""
    with llmsync.Client(api_keys={"openai-responses": "sk-test"}) as client:
        return client.explain(model, messages, **options)


def feed_all(parser, *payloads):
    events = []
    for payload in payloads:
        events.extend(parser.feed(payload["type"], json.dumps(payload)))
    return events


# -- the provider object ---------------------------------------------------------------------


def test_provider_is_registered_with_openai_key_and_base_url():
    provider = get_provider("openai-responses")
    assert isinstance(provider, OpenAIResponsesProvider)
    assert provider.env_keys == ("OPENAI_API_KEY",)
    assert provider.default_base_url == "https://api.openai.com/v1"
    assert provider.path == "/responses"
    assert provider.base_url_env == "OPENAI_RESPONSES_BASE_URL"
    assert [p.id for p in providers()] == ["openai-responses"]


def test_request_goes_to_responses_path_with_bearer_key(api):
    client, mock = api
    client.generate(MODEL, "Hi")
    assert mock.calls[0].request.url == URL
    assert mock.calls[0].request.headers["Authorization"] == "Bearer sk-test"


# -- request mapping ---------------------------------------------------------------------------


def test_minimal_request_is_stateless_with_encrypted_reasoning(api):
    assert sent(api, "Hi") == {
        "model": "gpt-5-mini",
        "input": [{"type": "message", "role": "user", "content": [{"type": "input_text", "text": "Hi"}]}],
        "store": False,
        "include": ["reasoning.encrypted_content"],
    }


def test_non_reasoning_model_is_not_asked_for_encrypted_reasoning(api):
    body = sent(api, "Hi", model="openai-responses/gpt-4o-mini")
    assert body["store"] is False
    assert "include" not in body


def test_system_prompt_and_system_messages_become_instructions(api):
    body = sent(api, [Message.system("Be terse."), Message.user("Hi")], system_prompt="You are kind.")
    assert body["instructions"] == "You are kind.\n\nBe terse."
    assert [item["role"] for item in body["input"]] == ["user"]


def test_user_parts_become_input_text_image_and_file(api):
    parts = [Text("Look:"), Image(url="https://x/cat.png"), Image(data="QUJD", media_type="image/jpeg"),
             Document(data="UERG", media_type="application/pdf"), Document(url="https://x/a.pdf")]
    body = sent(api, [Message.user(parts)])
    assert body["input"][0]["content"] == [
        {"type": "input_text", "text": "Look:"},
        {"type": "input_image", "image_url": "https://x/cat.png", "detail": "auto"},
        {"type": "input_image", "image_url": "data:image/jpeg;base64,QUJD", "detail": "auto"},
        {"type": "input_file", "filename": "document.pdf", "file_data": "data:application/pdf;base64,UERG"},
        {"type": "input_file", "file_url": "https://x/a.pdf"},
    ]


def test_assistant_text_is_replayed_as_output_text_message(api):
    body = sent(api, [Message.user("Hi"), Message.assistant("Hello!"), Message.user("Bye")])
    assert body["input"][1] == {"type": "message", "role": "assistant",
                                "content": [{"type": "output_text", "text": "Hello!"}]}
    assert body["input"][2]["role"] == "user"


def test_tool_calls_and_results_become_function_call_items(api):
    call = ToolCall("call_1", "get_weather", '{"city": "Paris"}')
    body = sent(api, [Message.user("Weather?"), Message.assistant_with_tools(None, [call]),
                      Message.tool_response("call_1", "21C")], tools=[WEATHER])
    assert body["input"][1:] == [
        {"type": "function_call", "call_id": "call_1", "name": "get_weather", "arguments": '{"city": "Paris"}'},
        {"type": "function_call_output", "call_id": "call_1", "output": "21C"},
    ]


def test_tools_are_flat_function_tools_with_strict_false(api):
    body = sent(api, tools=[WEATHER])
    assert body["tools"] == [{"type": "function", "name": "get_weather", "description": "Current weather.",
                              "parameters": WEATHER.parameters, "strict": False}]
    assert "parallel_tool_calls" not in body


@pytest.mark.parametrize("choice, wire", [
    (ToolChoice.auto(), "auto"),
    (ToolChoice.none(), "none"),
    (ToolChoice.any(), "required"),
    (ToolChoice.function("get_weather"), {"type": "function", "name": "get_weather"}),
])
def test_tool_choice_forms(api, choice, wire):
    assert sent(api, tools=[WEATHER], tool_choice=choice)["tool_choice"] == wire


def test_parallel_tool_calls_follow_the_flag_and_sequential_config(api):
    assert sent(api, tools=[WEATHER], parallel_tool_calls=True)["parallel_tool_calls"] is True
    config = llmsync.ParallelToolConfig.sequential_only()
    assert sent(api, tools=[WEATHER], parallel_tool_config=config)["parallel_tool_calls"] is False


def test_max_tokens_becomes_max_output_tokens(api):
    body = sent(api, max_tokens=321)
    assert body["max_output_tokens"] == 321
    assert "max_tokens" not in body


def test_thinking_level_sets_effort_and_asks_for_streamed_summaries(api):
    assert sent(api, thinking=ThinkingLevel.HIGH)["reasoning"] == {"effort": "high", "summary": "auto"}


def test_thinking_level_is_clamped_to_what_the_model_accepts():
    wire = plan("openai-responses/o3", thinking="minimal")
    assert wire.body["reasoning"] == {"effort": "low", "summary": "auto"}
    assert any("'minimal'" in note and "'low'" in note for note in wire.adjustments)


def test_thinking_off_on_a_model_with_none_sends_effort_none_without_summary():
    wire = plan("openai-responses/gpt-5.1", thinking="off", temperature=0.3)
    assert wire.body["reasoning"] == {"effort": "none"}
    assert wire.body["temperature"] == 0.3


def test_thinking_on_a_non_reasoning_model_is_dropped_with_a_note():
    wire = plan("openai-responses/gpt-4o", thinking="high", temperature=0.2)
    assert "reasoning" not in wire.body
    assert wire.body["temperature"] == 0.2
    assert any("ignored" in note for note in wire.adjustments)


def test_temperature_and_stop_are_dropped_with_notes_on_a_reasoning_model():
    wire = plan(MODEL, temperature=0.2, stop=["END"])
    assert "temperature" not in wire.body and "stop" not in wire.body
    assert any("temperature dropped" in note for note in wire.adjustments)
    assert any("stop sequences dropped" in note for note in wire.adjustments)


def test_response_format_schema_becomes_text_format_json_schema(api):
    schema = {"title": "City info", "type": "object", "properties": {"name": {"type": "string"}}}
    assert sent(api, response_format=schema)["text"] == {
        "format": {"type": "json_schema", "name": "City_info", "schema": schema, "strict": False}}


def test_response_format_json_becomes_json_object(api):
    assert sent(api, response_format="json")["text"] == {"format": {"type": "json_object"}}


def test_streaming_request_sets_stream_true(client, server):
    server.add(Reply(text="ok"))
    with client.stream(MODEL, "Hi") as stream:
        list(stream)
    assert server.requests[0].path == "/v1/responses"
    assert server.requests[0].body["stream"] is True
    assert server.requests[0].body["store"] is False


def test_reasoning_blocks_of_other_providers_or_without_encrypted_content_are_not_replayed(api):
    blocks = [ReasoningBlock("thought", signature="sig", provider="anthropic"),
              ReasoningBlock("summary", signature=None, kind="reasoning", id="rs_1", provider="openai-responses")]
    body = sent(api, [Message.user("Hi"), Message(llmsync.Role.ASSISTANT, "Hello", reasoning=blocks),
                      Message.user("More")])
    assert [item["type"] for item in body["input"]] == ["message", "message", "message"]


# -- whole replies ---------------------------------------------------------------------------------


def test_recorded_nonstream_reply_parses_to_its_expected_values(api):
    recording = load_recording("openai_responses_text_nonstream.json")
    client, mock = api
    mock.replace(responses.POST, URL, body=recording["response"]["body"], content_type="application/json")
    reply = client.generate("openai-responses/gpt-5.5", "Reply with exactly: pong")
    expected = recording["expected"]
    assert reply.content == expected["text"]
    assert reply.reasoning == expected["reasoning"]
    assert reply.tool_calls == []
    assert reply.finish_reason.value == expected["finish_reason"]
    assert reply.usage == Usage(**expected["usage"])
    assert reply.id == "resp_08ddf351751647d60169fab1b8a7ac81a081b9e2400e87fb63"
    assert reply.model == "gpt-5.5-2026-04-23"


def test_whole_reply_with_reasoning_and_function_call_builds_blocks_and_calls():
    body = {"id": "resp_2", "status": "completed", "model": "gpt-5-mini", "output": [
        {"id": "rs_1", "type": "reasoning", "encrypted_content": "enc-1",
         "summary": [{"type": "summary_text", "text": "Need "}, {"type": "summary_text", "text": "weather."}]},
        {"id": "fc_1", "type": "function_call", "call_id": "call_9", "name": "get_weather",
         "arguments": '{"city":"Rome"}'}],
        "usage": {"input_tokens": 50, "input_tokens_details": {"cached_tokens": 32}, "output_tokens": 20,
                  "output_tokens_details": {"reasoning_tokens": 12}, "total_tokens": 70}}
    reply = OpenAIResponsesProvider().parse_response(body, "gpt-5-mini")
    assert reply.reasoning == "Need weather."
    assert reply.reasoning_blocks == [ReasoningBlock("Need weather.", signature="enc-1", kind="reasoning",
                                                     id="rs_1", provider="openai-responses")]
    assert reply.tool_calls == [ToolCall("call_9", "get_weather", '{"city":"Rome"}')]
    assert reply.finish_reason is FinishReason.TOOL_CALLS
    assert reply.usage == Usage(50, 20, 70, cache_read_tokens=32, reasoning_tokens=12)
    assert reply.to_message().reasoning == reply.reasoning_blocks


def test_whole_incomplete_reply_reports_length_and_failed_reply_raises():
    provider = OpenAIResponsesProvider()
    incomplete = {"status": "incomplete", "incomplete_details": {"reason": "max_output_tokens"},
                  "output": [{"type": "message", "content": [{"type": "output_text", "text": "Once"}]}]}
    reply = provider.parse_response(incomplete, "gpt-5-mini")
    assert (reply.content, reply.finish_reason) == ("Once", FinishReason.LENGTH)
    failed = {"status": "failed", "error": {"code": "server_error", "message": "boom"}, "output": []}
    with pytest.raises(ProviderError, match="boom") as caught:
        provider.parse_response(failed, "gpt-5-mini")
    assert caught.value.error_type == "server_error"


def test_nonstream_fake_server_reply_round_trips(client, server):
    call = ToolCall("call_7", "get_weather", '{"city": "Oslo"}')
    server.add(Reply(text="Checking.", reasoning="Think.", tool_calls=[call], usage=Usage(9, 4, 13)))
    reply = client.generate(MODEL, "Weather in Oslo?", tools=[WEATHER])
    assert (reply.content, reply.reasoning, reply.tool_calls) == ("Checking.", "Think.", [call])
    assert reply.finish_reason is FinishReason.TOOL_CALLS
    assert reply.usage == Usage(9, 4, 13)
    assert reply.reasoning_blocks[0].signature == "sig-fake"


# -- streams ---------------------------------------------------------------------------------------


def test_stream_yields_reasoning_then_text_then_usage_and_completes(client, server):
    server.add(Reply(text="Hello there, friend.", reasoning="The user greets me.", signature="enc-abc",
                     usage=Usage(12, 30, 42, cache_read_tokens=4, reasoning_tokens=20), chunk_size=5))
    with client.stream(MODEL, "Hi", thinking="low") as stream:
        events = list(stream)
    assert "".join(e.text for e in events if isinstance(e, ReasoningDelta)) == "The user greets me."
    assert "".join(e.text for e in events if isinstance(e, TextDelta)) == "Hello there, friend."
    first_text = next(i for i, e in enumerate(events) if isinstance(e, TextDelta))
    assert all(not isinstance(e, ReasoningDelta) for e in events[first_text:])
    assert isinstance(events[-2], UsageUpdate) and isinstance(events[-1], Completed)
    final = events[-1].response
    assert final.usage == Usage(12, 30, 42, cache_read_tokens=4, reasoning_tokens=20)
    assert final.finish_reason is FinishReason.STOP
    assert final.id == "resp_fake"
    assert final.reasoning_blocks == [ReasoningBlock("The user greets me.", signature="enc-abc",
                                                     kind="reasoning", id="rs_fake", provider="openai-responses")]


def test_stream_tool_calls_use_call_id_and_accumulate_argument_deltas(client, server):
    server.add(Reply.tools(("get_weather", {"city": "Paris"}), ("get_weather", {"city": "Rome"}), chunk_size=4))
    with client.stream(MODEL, "Weather?", tools=[WEATHER]) as stream:
        events = list(stream)
    starts = [e for e in events if isinstance(e, ToolCallStart)]
    assert [(s.index, s.id, s.name) for s in starts] == [(0, "call_0_get_weather", "get_weather"),
                                                         (1, "call_1_get_weather", "get_weather")]
    assert "".join(e.arguments for e in events if isinstance(e, ToolCallDelta) and e.index == 1) \
        == '{"city": "Rome"}'
    ends = [e for e in events if isinstance(e, ToolCallEnd)]
    assert [e.tool_call.parsed_arguments() for e in ends] == [{"city": "Paris"}, {"city": "Rome"}]
    assert stream.response.finish_reason is FinishReason.TOOL_CALLS


@pytest.mark.parametrize("finish", [FinishReason.LENGTH, FinishReason.CONTENT_FILTER])
def test_incomplete_stream_maps_its_reason(client, server, finish):
    server.add(Reply(text="Once upon", finish_reason=finish))
    with client.stream(MODEL, "Story") as stream:
        list(stream)
    assert stream.response.finish_reason is finish
    assert stream.response.content == "Once upon"


def test_failed_event_raises_stream_error_with_the_partial_reply(client, server):
    server.add(Reply(text="Half an answer", finish_reason=FinishReason.ERROR, error_message="model crashed"))
    with pytest.raises(StreamError, match="model crashed") as caught:
        with client.stream(MODEL, "Hi") as stream:
            list(stream)
    assert caught.value.partial.content == "Half an answer"
    assert caught.value.partial.finish_reason is FinishReason.ERROR


def test_error_event_before_any_output_raises_provider_error(client, server):
    error = {"type": "error", "code": "invalid_prompt", "message": "prompt flagged", "param": None,
             "sequence_number": 0}
    server.add(Reply(body=f"event: error\ndata: {json.dumps(error)}\n\n".encode()))
    with pytest.raises(ProviderError, match="prompt flagged") as caught:
        with client.stream(MODEL, "Hi") as stream:
            list(stream)
    assert caught.value.error_type == "invalid_prompt"


def test_stream_cut_before_a_terminal_event_raises_stream_error(client, server):
    server.add(Reply(text="abcdefghijklmnop", chunk_size=2, disconnect_after=8))
    with pytest.raises(StreamError) as caught:
        with client.stream(MODEL, "Hi") as stream:
            list(stream)
    assert caught.value.partial.content


def test_parser_skips_unknown_events_and_fills_arguments_sent_only_on_done():
    parser = ResponsesParser("openai-responses", "gpt-5-mini")
    events = feed_all(
        parser,
        {"type": "response.brand_new_event", "whatever": 1},
        {"type": "response.output_item.added", "output_index": 0,
         "item": {"id": "fc_1", "type": "function_call", "call_id": "call_1", "name": "f", "arguments": ""}},
        {"type": "response.function_call_arguments.done", "item_id": "fc_1", "output_index": 0,
         "arguments": '{"a":1}'},
        {"type": "response.output_item.done", "output_index": 0,
         "item": {"id": "fc_1", "type": "function_call", "call_id": "call_1", "name": "f",
                  "arguments": '{"a":1}'}},
        {"type": "response.completed", "response": {"id": "resp_9", "status": "completed"}},
    )
    assert [type(e) for e in events] == [ToolCallStart, ToolCallDelta, ToolCallEnd]
    assert parser.finish().tool_calls == [ToolCall("call_1", "f", '{"a":1}')]


def test_parser_takes_text_from_a_done_message_that_had_no_deltas():
    parser = ResponsesParser("openai-responses", "gpt-5-mini")
    events = feed_all(parser, {"type": "response.output_item.done", "output_index": 0, "item": {
        "id": "msg_1", "type": "message", "content": [{"type": "output_text", "text": "whole"}]}})
    assert events == [TextDelta("whole")]


def test_malformed_stream_data_raises_provider_error():
    with pytest.raises(ProviderError, match="malformed JSON"):
        ResponsesParser("openai-responses", "m").feed("response.output_text.delta", "{not json")


# -- the stateless tool loop ------------------------------------------------------------------------


def test_tool_loop_replays_reasoning_before_calls_on_every_later_turn(client, server):
    server.add(
        Reply.tools(("get_weather", {"city": "Paris"}), reasoning="Check Paris.", signature="enc-1"),
        Reply.tools(("get_weather", {"city": "Rome"}), reasoning="Now Rome.", signature="enc-2"),
        Reply(text="Paris 21C, Rome 25C."),
    )
    messages = [Message.user("Weather in Paris, then Rome?")]
    for _ in range(3):
        with client.stream(MODEL, messages, tools=[WEATHER]) as stream:
            list(stream)
        reply = stream.response
        messages.append(reply.to_message())
        for call in reply.tool_calls:
            messages.append(Message.tool_response(call.id, "21C"))
    assert reply.content == "Paris 21C, Rome 25C."
    second, third = server.requests[1].body["input"], server.requests[2].body["input"]
    turn_one = [
        {"type": "reasoning", "summary": [{"type": "summary_text", "text": "Check Paris."}],
         "encrypted_content": "enc-1"},
        {"type": "function_call", "call_id": "call_0_get_weather", "name": "get_weather",
         "arguments": '{"city": "Paris"}'},
        {"type": "function_call_output", "call_id": "call_0_get_weather", "output": "21C"},
    ]
    assert second[1:] == turn_one
    assert third[1:4] == turn_one
    assert [item["type"] for item in third[4:]] == ["reasoning", "function_call", "function_call_output"]
    assert third[4]["encrypted_content"] == "enc-2"


# -- errors -------------------------------------------------------------------------------------------


def test_http_error_carries_openai_message_and_type(client, server):
    server.add(Reply.error(400, "Unsupported parameter: 'temperature'.", error_type="invalid_request_error"))
    with pytest.raises(InvalidRequestError, match="Unsupported parameter") as caught:
        client.generate(MODEL, "Hi")
    assert caught.value.error_type == "invalid_request_error"
    assert caught.value.status == 400


def test_context_length_error_body_becomes_context_length_error():
    info = OpenAIResponsesProvider().describe_error(
        400, {"error": {"message": "Your input exceeds the context window of this model.",
                        "type": "invalid_request_error", "code": "context_length_exceeded", "param": "input"}},
        "")
    assert info.context_length and info.message.startswith("Your input exceeds")
    assert issubclass(ContextLengthError, InvalidRequestError)


def test_fake_format_claims_only_responses_paths():
    assert FORMAT.matches("/v1/responses")
    assert not FORMAT.matches("/v1/chat/completions")


# -- logprobs (responses_logprobs.py) ------------------------------------------------------------

PLAIN = "openai-responses/gpt-4o-mini"  # a model that does not reason: it takes logprobs
TOKENS = [{"token": "Hi", "bytes": [72, 105], "logprob": -0.25,
           "top_logprobs": [{"token": "Hi", "bytes": [72, 105], "logprob": -0.25},
                            {"token": "Hello", "bytes": [72, 101, 108, 108, 111], "logprob": -1.5}]},
          {"token": "!", "bytes": [33], "logprob": -0.5, "top_logprobs": []}]
EXPECTED_LOGPROBS = [TokenLogprob("Hi", -0.25, [TokenLogprob("Hi", -0.25), TokenLogprob("Hello", -1.5)]),
                     TokenLogprob("!", -0.5, [])]


def sse_body(*payloads):
    """Responses stream bytes, each event named by its type as the API names them."""
    return "".join(f"event: {p['type']}\ndata: {json.dumps(p)}\n\n" for p in payloads).encode()


def logprob_stream_events(text_pieces=("Hi", "!"), tokens=TOKENS):
    """A message streamed as the API streams it when logprobs were asked for: every delta,
    the text's done event and the done item carry them."""
    message = {"id": "msg_1", "type": "message", "role": "assistant", "status": "completed",
               "content": [{"type": "output_text", "text": "".join(text_pieces), "annotations": [],
                            "logprobs": tokens}]}
    at = {"item_id": "msg_1", "output_index": 0, "content_index": 0}
    return [
        {"type": "response.created", "response": {"id": "resp_lp", "model": "gpt-4o-mini", "status": "in_progress",
                                                  "output": [], "top_logprobs": 2}},
        {"type": "response.output_item.added", "output_index": 0,
         "item": {**message, "status": "in_progress", "content": []}},
        {"type": "response.content_part.added", "part": {"type": "output_text", "text": "", "annotations": [],
                                                         "logprobs": []}, **at},
        *[{"type": "response.output_text.delta", "delta": piece, "logprobs": [token], **at}
          for piece, token in zip(text_pieces, tokens)],
        {"type": "response.output_text.done", "text": "".join(text_pieces), "logprobs": tokens, **at},
        {"type": "response.content_part.done", "part": message["content"][0], **at},
        {"type": "response.output_item.done", "output_index": 0, "item": message},
        {"type": "response.completed", "response": {"id": "resp_lp", "model": "gpt-4o-mini", "status": "completed",
                                                    "output": [message], "usage": OK_BODY["usage"]}},
    ]


def test_logprobs_are_asked_for_with_the_include_and_top_logprobs(api):
    body = sent(api, model=PLAIN, logprobs=True, top_logprobs=2)
    assert body["include"] == ["message.output_text.logprobs"]
    assert body["top_logprobs"] == 2
    assert "logprobs" not in body  # Chat Completions' flag: no such field here
    alone = sent(api, model=PLAIN, logprobs=True)
    assert alone["include"] == ["message.output_text.logprobs"] and "top_logprobs" not in alone
    assert "include" not in sent(api, model=PLAIN)


def test_logprobs_are_dropped_with_a_warning_while_the_model_reasons(api):
    # "logprobs are not supported with reasoning models." (400, param "include")
    wire = plan(MODEL, logprobs=True, top_logprobs=2)
    assert wire.body["include"] == ["reasoning.encrypted_content"]
    assert "top_logprobs" not in wire.body and "logprobs" not in wire.body
    assert any(note.startswith("logprobs dropped") and "reasons" in note for note in wire.adjustments)
    with pytest.warns(llmsync.LLMSyncWarning, match="logprobs dropped"):
        body = sent(api, logprobs=True)
    assert body["include"] == ["reasoning.encrypted_content"]


def test_logprobs_go_with_encrypted_reasoning_when_the_model_does_not_reason_on_this_request():
    wire = plan("openai-responses/gpt-5.1", thinking="off", logprobs=True)
    assert wire.body["reasoning"] == {"effort": "none"}
    assert wire.body["include"] == ["reasoning.encrypted_content", "message.output_text.logprobs"]


@pytest.mark.parametrize("top", [21, -1, 2.5, True])
def test_top_logprobs_outside_0_to_20_is_a_typed_error(top):
    with pytest.raises(InvalidRequestError, match="top_logprobs must be a whole number from 0 to 20"):
        plan(PLAIN, top_logprobs=top)


def test_whole_reply_logprobs_become_token_logprobs():
    body = {**OK_BODY, "output": [{**OK_BODY["output"][0], "content": [
        {"type": "output_text", "text": "Hi!", "annotations": [], "logprobs": TOKENS},
        {"type": "output_text", "text": "?", "annotations": [],
         "logprobs": [{"token": "?", "logprob": -3, "bytes": [63], "top_logprobs": []},
                      {"token": None, "logprob": -1}, "junk"]}]}]}
    reply = OpenAIResponsesProvider().parse_response(body, "gpt-4o-mini")
    assert reply.content == "Hi!?"
    assert reply.logprobs == EXPECTED_LOGPROBS + [TokenLogprob("?", -3.0, [])]


def test_a_reply_without_logprobs_has_none():
    # Every output_text part carries "logprobs": [] whether or not they were asked for.
    assert OpenAIResponsesProvider().parse_response(OK_BODY, "gpt-5-mini").logprobs is None
    recording = load_recording("openai_responses_text_nonstream.json")
    body = json.loads(recording["response"]["body"])
    assert OpenAIResponsesProvider().parse_response(body, "gpt-5.5").logprobs is None


def test_stream_reads_logprobs_once_from_the_done_item_not_per_delta():
    parser = ResponsesParser("openai-responses", "gpt-4o-mini")
    payloads = logprob_stream_events()
    events = feed_all(parser, *payloads[:5])  # up to the last text delta
    assert events == [TextDelta("Hi"), TextDelta("!")]
    assert parser.builder.logprobs is None  # the per-delta path does no logprob work
    feed_all(parser, *payloads[5:])
    reply = parser.finish()
    assert reply.content == "Hi!"
    assert reply.logprobs == EXPECTED_LOGPROBS  # once, though the deltas, done events and item all carry them


def test_stream_with_logprobs_end_to_end(client, server):
    server.add(Reply(body=sse_body(*logprob_stream_events()), content_type="text/event-stream"))
    with client.stream(PLAIN, "Say hi", logprobs=True, top_logprobs=2) as stream:
        text = "".join(e.text for e in stream if isinstance(e, TextDelta))
    assert text == "Hi!"
    assert stream.response.logprobs == EXPECTED_LOGPROBS
    sent_body = server.requests[0].body
    assert sent_body["include"] == ["message.output_text.logprobs"] and sent_body["top_logprobs"] == 2


# -- web_search_call items go back (responses_items.py) -----------------------------------------

WEB_SEARCH = {"id": "ws_1", "type": "web_search_call", "status": "completed",
              "action": {"type": "search", "query": "weather: San Francisco, CA",
                         "sources": [{"type": "api", "name": "oai-weather"}]}}
WEB_SEARCH_INPUT = {"type": "web_search_call", "status": "completed",
                    "action": {"type": "search", "query": "weather: San Francisco, CA"}}


def test_web_search_call_goes_back_in_its_place_among_the_reasoning_items(api):
    body = {"id": "resp_ws", "status": "completed", "model": "gpt-5", "output": [
        {"id": "rs_1", "type": "reasoning", "encrypted_content": "enc-1", "summary": []},
        WEB_SEARCH,
        {"id": "rs_2", "type": "reasoning", "encrypted_content": "enc-2", "summary": []},
        {"id": "msg_1", "type": "message", "role": "assistant",
         "content": [{"type": "output_text", "text": "Sunny, 71F.", "annotations": [], "logprobs": []}]}]}
    reply = OpenAIResponsesProvider().parse_response(body, "gpt-5")
    assert [call.name for call in reply.server_tool_calls] == ["web_search"]
    assert [(b.kind, b.id) for b in reply.reasoning_blocks] == [
        ("reasoning", "rs_1"), ("web_search_call", "ws_1"), ("reasoning", "rs_2")]
    wire = sent(api, [Message.user("Weather in SF?"), reply.to_message(), Message.user("Tomorrow?")])
    assert wire["input"][1:5] == [
        {"type": "reasoning", "summary": [], "encrypted_content": "enc-1"},
        WEB_SEARCH_INPUT,  # no id (store: false) and no sources (output only)
        {"type": "reasoning", "summary": [], "encrypted_content": "enc-2"},
        {"type": "message", "role": "assistant", "content": [{"type": "output_text", "text": "Sunny, 71F."}]},
    ]


def test_recorded_web_search_stream_replays_the_items_the_api_returned(client, server):
    recording = load_recording("openai_responses_stream_web_search_call_encrypted_reasoning.json")
    server.add(Reply(body=recording["response"]["body"].encode(), content_type="text/event-stream"),
               Reply(text="Tomorrow: fog, then sun."))
    messages = [Message.user("What is the weather in San Francisco today?")]
    with client.stream("openai-responses/gpt-5", messages) as stream:
        list(stream)
    messages += [stream.response.to_message(), Message.user("And tomorrow?")]
    assert client.generate("openai-responses/gpt-5", messages).content == "Tomorrow: fog, then sun."
    events = [json.loads(line[len("data:"):]) for line in recording["response"]["body"].splitlines()
              if line.startswith("data:")]
    output = [event["item"] for event in events if event["type"] == "response.output_item.done"]
    replayed = server.requests[1].body["input"]
    assert [item["type"] for item in replayed[1:-1]] == [item["type"] for item in output] == [
        "reasoning", "web_search_call", "reasoning", "message"]
    assert replayed[2] == WEB_SEARCH_INPUT
    assert [item.get("encrypted_content") for item in replayed[1:-2]] == [
        item.get("encrypted_content") for item in output[:-1]]


def test_fake_server_web_search_round_trips_over_two_turns(client, server):
    search = ServerToolCall("ws_7", "web_search", {"type": "search", "query": "llmsync"},
                            [{"type": "url", "url": "https://example.com"}])
    server.add(Reply(text="Found it.", server_tool_calls=[search]), Reply(text="Sure."))
    first = client.generate(MODEL, "Search llmsync")
    assert first.server_tool_calls[0].id == "ws_7"
    client.generate(MODEL, [Message.user("Search llmsync"), first.to_message(), Message.user("More?")])
    assert server.requests[1].body["input"][1] == {
        "type": "web_search_call", "status": "completed", "action": {"type": "search", "query": "llmsync"}}


def test_web_search_blocks_of_other_providers_or_unreadable_are_not_sent(api):
    other = ReasoningBlock(kind="web_search_call", data=json.dumps(WEB_SEARCH_INPUT), provider="azure-responses")
    broken = ReasoningBlock(kind="web_search_call", data="{not json", provider="openai-responses")
    body = sent(api, [Message.user("Hi"), Message(llmsync.Role.ASSISTANT, "Hello", reasoning=[other, broken])])
    assert [item["type"] for item in body["input"]] == ["message", "message"]
    no_action = OpenAIResponsesProvider().parse_response(
        {**OK_BODY, "output": [{"id": "ws_2", "type": "web_search_call", "status": "failed"}]}, "gpt-5")
    assert no_action.reasoning_blocks == [] and no_action.server_tool_calls[0].id == "ws_2"
