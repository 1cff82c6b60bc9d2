"""AWS Bedrock Converse: the exact JSON sent, event-stream decoding, credentials and SigV4,
errors, recordings, FakeServer."""
import base64
import datetime
import hashlib
import hmac
import json
import os
import subprocess
import sys
import zlib

import pytest
import responses

import llmsync
from llmsync import (CacheOptions, Document, FinishReason, Image, Message, ReasoningBlock, ToolCall,
                     ToolDefinition, Usage)
from llmsync.errors import (AuthenticationError, ContextLengthError, InvalidRequestError, ProviderError,
                            RateLimitError, StreamError)
from llmsync.events import ReasoningDelta, TextDelta, ToolCallDelta, ToolCallEnd, ToolCallStart, UsageUpdate
from llmsync.options import Request
from llmsync.providers.bedrock import BedrockProvider
from llmsync.providers.bedrock_auth import AwsSigner
from llmsync.registry import get_provider
from llmsync.testing import Reply
from llmsync.testing.bedrock_wire import event_frame, frame

HERE = os.path.dirname(os.path.dirname(__file__))
RECORDED_CLOUD = os.path.join(HERE, "fixtures", "recorded_cloud")
HOST = "https://bedrock-runtime.us-east-1.amazonaws.com"
NOVA = "us.amazon.nova-micro-v1:0"
SONNET = "us.anthropic.claude-sonnet-4-5-20250929-v1:0"
NOVA_URL = f"{HOST}/model/us.amazon.nova-micro-v1%3A0/converse"
OK_BODY = {"output": {"message": {"role": "assistant", "content": [{"text": "ok"}]}}, "stopReason": "end_turn",
           "usage": {"inputTokens": 3, "outputTokens": 1, "totalTokens": 4}, "metrics": {"latencyMs": 1}}
WEATHER = ToolDefinition("get_weather", "Weather for a city",
                         {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]})
AWS_VARS = ("AWS_REGION", "AWS_DEFAULT_REGION", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN",
            "AWS_PROFILE", "AWS_DEFAULT_PROFILE", "AWS_BEARER_TOKEN_BEDROCK", "AWS_WEB_IDENTITY_TOKEN_FILE",
            "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI", "AWS_CONTAINER_CREDENTIALS_FULL_URI", "BEDROCK_BASE_URL")


@pytest.fixture(autouse=True)
def no_aws_environment(monkeypatch, tmp_path):
    """No AWS settings of the machine running the tests; no instance-metadata lookups."""
    for name in AWS_VARS:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "no-config"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "no-credentials"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    monkeypatch.setenv("LLMSYNC_AUTH_FILE", str(tmp_path / "no-auth.json"))
    monkeypatch.setattr(get_provider("bedrock"), "_signer", AwsSigner())  # no credentials from earlier tests


@pytest.fixture
def aws_credentials(monkeypatch):
    monkeypatch.setenv("AWS_REGION", "us-east-1")
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AKIDEXAMPLE")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY")
    monkeypatch.setenv("AWS_SESSION_TOKEN", "session-token-SECRET-1")


@pytest.fixture
def bedrock_client():
    with llmsync.Client(api_keys={"bedrock": "bedrock-api-key-SECRET"}, base_urls={"bedrock": HOST},
                        retry=llmsync.RetryPolicy.none()) as client:
        yield client


def load_cloud(name):
    with open(os.path.join(RECORDED_CLOUD, name), encoding="utf-8") as handle:
        return json.load(handle)


def plan(model=NOVA, messages="Hi", **options):
    provider = BedrockProvider()
    request = Request(model="bedrock/" + model, messages=messages, **options)
    provider.validate_request(request)
    return provider.build_request(request, model)


def body(model=NOVA, messages="Hi", **options):
    return plan(model, messages, **options).body


def feed_frames(data, size, model=NOVA):
    """The events and final Response a parser makes of ``data`` read ``size`` bytes at a time."""
    provider = BedrockProvider()
    parser = provider.stream_parser(model)
    events = []
    for name, payload in provider.decode_stream(iter([data[i:i + size] for i in range(0, len(data), size)])):
        events.extend(parser.feed(name, payload))
    return events, parser.finish()


def assert_matches(response, expected):
    assert (response.content or "") == expected["text"]
    assert response.reasoning == expected["reasoning"]
    assert [{"id": c.id, "name": c.name, "arguments": c.parsed_arguments()} for c in response.tool_calls] == \
        expected["tool_calls"]
    assert response.finish_reason.value == expected["finish_reason"]
    usage = expected["usage"]
    assert (response.usage.prompt_tokens, response.usage.completion_tokens, response.usage.total_tokens) == \
        (usage["prompt_tokens"], usage["completion_tokens"], usage["total_tokens"])
    assert response.usage.cache_read_tokens == usage.get("cache_read_tokens", 0)


class TestRequestBody:
    def test_generate_posts_the_exact_body_to_the_quoted_model_path_with_a_bearer_key(self, bedrock_client):
        with responses.RequestsMock() as mock:
            mock.post(NOVA_URL, json=OK_BODY)
            response = bedrock_client.generate("bedrock/" + NOVA, [Message.system("Be brief."), Message.user("Hi")],
                                               max_tokens=100, temperature=0.2, stop="END")
            sent = mock.calls[0].request
        assert json.loads(sent.body) == {
            "messages": [{"role": "user", "content": [{"text": "Hi"}]}], "system": [{"text": "Be brief."}],
            "inferenceConfig": {"maxTokens": 100, "stopSequences": ["END"], "temperature": 0.2}}
        assert sent.headers["Authorization"] == "Bearer bedrock-api-key-SECRET"
        assert response.content == "ok" and response.usage == Usage(3, 1, 4)

    def test_stream_uses_converse_stream_and_an_arn_is_quoted_whole(self):
        arn = "arn:aws:bedrock:us-east-1:123456789012:inference-profile/us.amazon.nova-micro-v1:0"
        assert plan(arn, stream=True).path == \
            "/model/arn%3Aaws%3Abedrock%3Aus-east-1%3A123456789012%3Ainference-profile%2Fus.amazon.nova-micro-v1%3A0" \
            "/converse-stream"

    def test_tools_and_each_tool_choice(self):
        tools = body(tools=[WEATHER], tool_choice="get_weather")["toolConfig"]
        assert tools == {"tools": [{"toolSpec": {"name": "get_weather", "description": "Weather for a city",
                                                 "inputSchema": {"json": WEATHER.parameters}}}],
                         "toolChoice": {"tool": {"name": "get_weather"}}}
        assert body(tools=[WEATHER], tool_choice="required")["toolConfig"]["toolChoice"] == {"any": {}}
        assert body(tools=[WEATHER], tool_choice="auto")["toolConfig"]["toolChoice"] == {"auto": {}}
        assert "toolConfig" not in body(tools=[WEATHER], tool_choice="none")

    def test_tool_choice_none_keeps_the_tools_a_conversation_with_tool_calls_needs(self):
        call = ToolCall("tooluse_1", "get_weather", '{"city": "Paris"}')
        messages = [Message.user("Weather?"), Message.assistant_with_tools(None, [call]),
                    Message.tool_response("tooluse_1", "sunny")]
        result = plan(messages=messages, tools=[WEATHER], tool_choice="none")
        assert "toolChoice" not in result.body["toolConfig"]
        assert any("'none'" in note for note in result.adjustments)

    def test_tool_calls_and_parallel_results_become_tool_use_and_one_user_turn(self):
        calls = [ToolCall("t1", "get_weather", '{"city": "Paris"}'), ToolCall("t2", "get_weather", "{}")]
        messages = [Message.user("Weather?"), Message.assistant_with_tools("Checking.", calls),
                    Message.tool_response("t1", "sunny"), Message.tool_response("t2", "")]
        turns = body(messages=messages, tools=[WEATHER])["messages"]
        assert turns[1] == {"role": "assistant", "content": [
            {"text": "Checking."},
            {"toolUse": {"toolUseId": "t1", "name": "get_weather", "input": {"city": "Paris"}}},
            {"toolUse": {"toolUseId": "t2", "name": "get_weather", "input": {}}}]}
        assert turns[2] == {"role": "user", "content": [
            {"toolResult": {"toolUseId": "t1", "content": [{"text": "sunny"}]}},
            {"toolResult": {"toolUseId": "t2", "content": []}}]}

    def test_images_and_documents_are_base64_blobs_with_formats_and_distinct_names(self):
        png = base64.b64encode(b"\x89PNG\r\n\x1a\nxx").decode()
        pdf = base64.b64encode(b"%PDF-1.4").decode()
        message = Message.user([Image(data=png, media_type="image/png"), Document(pdf),
                                Document(url=f"data:text/csv;base64,{pdf}", media_type="text/csv"),
                                Image(url="s3://bucket/cat.jpg", media_type="image/jpeg")])
        content = body(messages=[message])["messages"][0]["content"]
        assert content == [
            {"image": {"format": "png", "source": {"bytes": png}}},
            {"document": {"format": "pdf", "name": "document-1", "source": {"bytes": pdf}}},
            {"document": {"format": "csv", "name": "document-2", "source": {"bytes": pdf}}},
            {"image": {"format": "jpeg", "source": {"s3Location": {"uri": "s3://bucket/cat.jpg"}}}}]

    @pytest.mark.parametrize("part, words", [
        (Image(url="https://example.com/cat.png"), "cannot fetch"),
        (Image(data="aGk=", media_type="image/bmp"), "png, jpeg, gif or webp"),
        (Document("aGk=", media_type="application/zip"), "application/zip"),
    ])
    def test_parts_bedrock_cannot_take_are_invalid_requests_naming_the_problem(self, part, words):
        with pytest.raises(InvalidRequestError, match=words):
            body(messages=[Message.user([part])])

    def test_response_format_schema_is_sent_as_a_json_string(self):
        schema = {"type": "object", "properties": {"n": {"type": "integer"}}}
        text_format = body(response_format=schema)["outputConfig"]["textFormat"]
        assert text_format["type"] == "json_schema"
        assert json.loads(text_format["structure"]["jsonSchema"]["schema"]) == schema

    def test_cache_points_after_system_tools_and_recent_user_turns(self):
        messages = [Message.user("a"), Message.assistant("b"), Message.user("c")]
        sent = body(messages=messages, system_prompt="S", tools=[WEATHER],
                    cache=CacheOptions(cache_system_prompt=True, cache_tools=True, cache_recent_turns=1,
                                       extended_ttl=True))
        point = {"cachePoint": {"type": "default", "ttl": "1h"}}
        assert sent["system"] == [{"text": "S"}, point]
        assert sent["toolConfig"]["tools"][-1] == point
        assert sent["messages"][2]["content"] == [{"text": "c"}, point]
        assert point not in sent["messages"][0]["content"]


class TestReasoning:
    def test_claude_budget_thinking_drops_temperature_and_leaves_room_for_the_answer(self):
        result = plan(SONNET, thinking="medium", temperature=0.5)
        assert result.body["additionalModelRequestFields"] == {"thinking": {"type": "enabled", "budget_tokens": 10000}}
        assert result.body["inferenceConfig"]["maxTokens"] > 10000
        assert "temperature" not in result.body["inferenceConfig"]
        assert any("temperature dropped" in note for note in result.adjustments)

    def test_claude_budget_is_clamped_below_a_max_tokens_the_caller_set(self):
        sent = body(SONNET, thinking="high", max_tokens=3000)
        assert sent["inferenceConfig"]["maxTokens"] == 3000
        assert sent["additionalModelRequestFields"]["thinking"]["budget_tokens"] < 3000

    def test_adaptive_claude_sends_adaptive_thinking_and_an_effort(self):
        sent = body("us.anthropic.claude-sonnet-4-6", thinking="high")
        assert sent["additionalModelRequestFields"] == {"thinking": {"type": "adaptive", "display": "summarized"}}
        assert sent["outputConfig"] == {"effort": "high"}

    def test_effort_is_clamped_to_the_levels_the_claude_model_has(self):
        result = plan("us.anthropic.claude-sonnet-4-6", thinking="xhigh")
        assert result.body["outputConfig"] == {"effort": "high"}
        assert any("'xhigh' is not available" in note for note in result.adjustments)
        assert body("us.anthropic.claude-opus-4-5-20251101-v1:0", effort="low")["outputConfig"] == {"effort": "low"}
        assert any("effort ignored" in note for note in plan(NOVA, effort="low").adjustments)

    def test_nova_2_and_gpt_oss_take_their_own_reasoning_fields(self):
        assert body("us.amazon.nova-2-lite-v1:0", thinking="xhigh")["additionalModelRequestFields"] == \
            {"reasoningConfig": {"type": "enabled", "maxReasoningEffort": "high"}}
        assert body("openai.gpt-oss-120b-1:0", thinking="low")["additionalModelRequestFields"] == \
            {"reasoning_effort": "low"}

    def test_a_model_without_a_known_reasoning_setting_gets_none_and_an_adjustment(self):
        result = plan(NOVA, thinking="high")
        assert "additionalModelRequestFields" not in result.body
        assert any("thinking 'high' ignored" in note for note in result.adjustments)

    def test_forcing_a_tool_while_claude_thinks_is_refused_before_any_http(self):
        with pytest.raises(InvalidRequestError, match="forces a tool call"):
            plan(SONNET, tools=[WEATHER], tool_choice="required", thinking="low")

    def test_signed_and_redacted_reasoning_round_trip_in_the_next_turn(self):
        recorded = load_cloud("bedrock_converse_reasoning_text_tool_use.json")
        response = BedrockProvider().parse_response(json.loads(recorded["response"]["body"]), SONNET)
        assistant = response.to_message()
        assistant.reasoning.append(ReasoningBlock(kind="redacted_content", data="c2VjcmV0", provider="bedrock"))
        assistant.reasoning.append(ReasoningBlock("other", "sig", "thinking", provider="anthropic"))
        messages = [Message.user("Largest city?"), assistant,
                    Message.tool_response("tooluse_W9DaUFg4Tj2cRPpndqxWSg", "France")]
        turn = body(SONNET, messages, tools=[ToolDefinition("get_user_country")])["messages"][1]["content"]
        assert turn[0]["reasoningContent"]["reasoningText"] == {
            "text": response.reasoning, "signature": response.reasoning_blocks[0].signature}
        assert turn[0]["reasoningContent"]["reasoningText"]["signature"].startswith("ErcBCkgIBhAB")
        assert turn[1] == {"reasoningContent": {"redactedContent": "c2VjcmV0"}}
        assert turn[2] == {"text": "I'll need to check what country you're from to answer that question."}
        assert turn[3]["toolUse"]["toolUseId"] == "tooluse_W9DaUFg4Tj2cRPpndqxWSg"
        assert len(turn) == 4  # the anthropic provider's block is not sent to Bedrock


class TestRecordedReplies:
    def test_converse_body_with_reasoning_text_and_tool_use(self):
        recorded = load_cloud("bedrock_converse_reasoning_text_tool_use.json")
        response = BedrockProvider().parse_response(json.loads(recorded["response"]["body"]), SONNET)
        assert_matches(response, recorded["expected"])
        assert response.reasoning_blocks[0].kind == "reasoning_text"

    @pytest.mark.parametrize("name", ["bedrock_converse_stream_text.json",
                                      "bedrock_converse_stream_text_then_tool_use_input_deltas.json"])
    @pytest.mark.parametrize("size", [1, 97, 10 ** 6])
    def test_event_stream_recordings_read_in_any_chunking(self, name, size):
        recorded = load_cloud(name)
        events, response = feed_frames(base64.b64decode(recorded["response"]["body_base64"]), size)
        assert_matches(response, recorded["expected"])
        assert "".join(e.text for e in events if isinstance(e, TextDelta)) == recorded["expected"]["text"]
        assert isinstance(events[-1], UsageUpdate)

    def test_tool_input_deltas_become_tool_call_events(self):
        recorded = load_cloud("bedrock_converse_stream_text_then_tool_use_input_deltas.json")
        events, _ = feed_frames(base64.b64decode(recorded["response"]["body_base64"]), 64)
        kinds = [type(e) for e in events if not isinstance(e, TextDelta)]
        assert kinds == [ToolCallStart] + [ToolCallDelta] * 4 + [ToolCallEnd, UsageUpdate]

    def test_recorded_validation_error_reads_the_type_from_the_header(self):
        recorded = load_cloud("bedrock_converse_400_validation_exception.json")
        reply = recorded["response"]
        info = BedrockProvider().describe_error(400, json.loads(reply["body"]), reply["body"], reply["headers"])
        assert info.error_type == recorded["expected"]["error"]["type"]
        assert info.message.startswith(recorded["expected"]["error"]["message"])
        assert "AWS_REGION" in info.message and not info.context_length


def stream_of(*payloads):
    return b"".join(event_frame(name, payload) for name, payload in payloads)


class TestStreamEvents:
    @pytest.mark.parametrize("wire, reason", [
        ("guardrail_intervened", FinishReason.CONTENT_FILTER), ("content_filtered", FinishReason.CONTENT_FILTER),
        ("max_tokens", FinishReason.LENGTH), ("model_context_window_exceeded", FinishReason.LENGTH),
        ("stop_sequence", FinishReason.STOP), ("malformed_tool_use", FinishReason.ERROR)])
    def test_stop_reasons(self, wire, reason):
        data = stream_of(("contentBlockDelta", {"contentBlockIndex": 0, "delta": {"text": "partial"}}),
                         ("messageStop", {"stopReason": wire}))
        _, response = feed_frames(data, 5)
        assert response.finish_reason is reason and response.content == "partial"
        assert (response.error_message is not None) == (reason is FinishReason.ERROR)

    def test_cache_reads_and_writes_count_in_the_prompt(self):
        usage = {"inputTokens": 10, "outputTokens": 5, "totalTokens": 415, "cacheReadInputTokens": 300,
                 "cacheWriteInputTokens": 100}
        _, response = feed_frames(stream_of(("messageStop", {"stopReason": "end_turn"}),
                                            ("metadata", {"usage": usage, "metrics": {"latencyMs": 1}})), 9)
        assert response.usage == Usage(410, 5, 415, cache_read_tokens=300, cache_write_tokens=100)
        assert response.cost is not None and response.cost > 0

    def test_streamed_reasoning_keeps_text_signature_and_redacted_blocks(self):
        data = stream_of(
            ("messageStart", {"role": "assistant"}),
            ("contentBlockDelta", {"contentBlockIndex": 0, "delta": {"reasoningContent": {"text": "Let me "}}}),
            ("contentBlockDelta", {"contentBlockIndex": 0, "delta": {"reasoningContent": {"text": "think."}}}),
            ("contentBlockDelta", {"contentBlockIndex": 0, "delta": {"reasoningContent": {"signature": "SIG"}}}),
            ("contentBlockStop", {"contentBlockIndex": 0}),
            ("contentBlockDelta", {"contentBlockIndex": 1, "delta": {"reasoningContent": {"redactedContent": "b3Bh"}}}),
            ("contentBlockStop", {"contentBlockIndex": 1}),
            ("contentBlockDelta", {"contentBlockIndex": 2, "delta": {"text": "Done."}}),
            ("someFutureEvent", {"x": 1}),
            ("messageStop", {"stopReason": "end_turn"}))
        events, response = feed_frames(data, 3)
        assert [e.text for e in events if isinstance(e, ReasoningDelta)] == ["Let me ", "think."]
        assert response.reasoning_blocks == [
            ReasoningBlock("Let me think.", "SIG", "reasoning_text", provider="bedrock"),
            ReasoningBlock(kind="redacted_content", data="b3Bh", provider="bedrock")]
        assert response.content == "Done."

    def test_a_stream_cut_before_message_stop_is_a_stream_error_with_the_partial_reply(self):
        data = stream_of(("contentBlockDelta", {"contentBlockIndex": 0, "delta": {"text": "Hel"}}),
                         ("contentBlockStop", {"contentBlockIndex": 0}))
        with pytest.raises(StreamError) as caught:
            feed_frames(data[:-7], 4)  # the last frame is cut off mid-way
        assert caught.value.partial.content == "Hel"

    def test_a_corrupted_frame_fails_its_checksum(self):
        data = bytearray(stream_of(("contentBlockDelta", {"contentBlockIndex": 0, "delta": {"text": "Hello"}})))
        data[-10] ^= 0xFF
        with pytest.raises(ProviderError, match="malformed AWS event stream"):
            feed_frames(bytes(data), 16)

    @pytest.mark.parametrize("kind, message, error, retryable", [
        ("throttlingException", "Too many requests", RateLimitError, True),
        ("modelStreamErrorException", "Model crashed", ProviderError, True),
        ("serviceUnavailableException", "Unavailable", ProviderError, True),
        ("validationException", "Input is too long for requested model.", ContextLengthError, False),
        ("validationException", "Malformed input request", InvalidRequestError, False),
    ])
    def test_exception_frames_raise_the_matching_error(self, kind, message, error, retryable):
        bad = frame({":exception-type": kind, ":content-type": "application/json", ":message-type": "exception"},
                    json.dumps({"message": message}).encode())
        with pytest.raises(error) as caught:
            feed_frames(stream_of(("messageStart", {"role": "assistant"})) + bad, 11)
        assert type(caught.value) is error
        assert caught.value.retryable is retryable and caught.value.error_type == kind
        assert message in str(caught.value)

    def test_frame_header_crc_is_the_one_the_spec_defines(self):
        encoded = event_frame("messageStop", {"stopReason": "end_turn"})
        assert int.from_bytes(encoded[8:12], "big") == zlib.crc32(encoded[:8])


class TestErrors:
    @pytest.mark.parametrize("status, error_type, message, error, retryable", [
        (429, "ThrottlingException", "Too many requests, please wait before trying again.", RateLimitError, True),
        (429, "ModelNotReadyException", "Model is not ready", RateLimitError, True),
        (503, "ServiceUnavailableException", "Service unavailable", ProviderError, True),
        (400, "ValidationException", "Input is too long for requested model.", ContextLengthError, False),
        (400, "ValidationException", "The model returned the following errors: prompt is too long: "
                                     "212345 tokens > 200000 maximum", ContextLengthError, False),
        (403, "AccessDeniedException", "You don't have access to the model with the specified model ID.",
         AuthenticationError, False),
    ])
    def test_http_errors_map_by_the_header_type(self, bedrock_client, status, error_type, message, error, retryable):
        headers = {"x-amzn-errortype": f"{error_type}:http://internal.amazon.com/coral/com.amazon.bedrock/",
                   "x-amzn-RequestId": "req-123"}
        with responses.RequestsMock() as mock:
            mock.post(NOVA_URL, json={"message": message}, status=status, headers=headers)
            with pytest.raises(error) as caught:
                bedrock_client.generate("bedrock/" + NOVA, "Hi")
        assert type(caught.value) is error
        assert caught.value.error_type == error_type and caught.value.retryable is retryable
        assert message in str(caught.value) and caught.value.request_id == "req-123"

    def test_access_denied_says_to_grant_model_access(self):
        info = BedrockProvider().describe_error(
            403, {"message": "You don't have access to the model with the specified model ID."}, "",
            {"X-Amzn-ErrorType": "AccessDeniedException:http://internal.amazon.com/coral/com.amazon.bedrock/"})
        assert "Model access" in info.message

    def test_the_type_may_come_from_the_body(self):
        info = BedrockProvider().describe_error(
            400, {"__type": "com.amazon.coral.validate#ValidationException", "Message": "Input is too long"}, "")
        assert info.error_type == "ValidationException" and info.context_length

    def test_an_echoed_session_token_is_cut_from_signature_errors(self):
        text = ("The request signature we calculated does not match.\n\nThe Canonical String for this request "
                "should have been\n'POST\n/model/x/converse\n\nhost:h\nx-amz-security-token:SECRETTOKEN'")
        info = BedrockProvider().describe_error(403, {"message": text}, "", {})
        assert "SECRETTOKEN" not in info.message
        echoed = BedrockProvider().describe_error(400, {"message": "bad x-amz-security-token:SECRETTOKEN x"}, "")
        assert "SECRETTOKEN" not in echoed.message


class TestCredentials:
    def test_region_builds_the_base_url_and_its_absence_is_named(self):
        provider = BedrockProvider()
        assert provider.base_url_from_environment({"AWS_DEFAULT_REGION": "eu-west-3"}) == \
            "https://bedrock-runtime.eu-west-3.amazonaws.com"
        with pytest.raises(InvalidRequestError, match="AWS_REGION"):
            provider.base_url_from_environment({})
        with pytest.raises(InvalidRequestError, match="AWS_REGION"):
            provider.base_url_from_environment({"AWS_REGION": "evil.example.com/"})

    def test_a_missing_region_fails_at_the_call_before_any_http(self):
        with llmsync.Client(api_keys={"bedrock": "k"}) as client, responses.RequestsMock():
            with pytest.raises(InvalidRequestError, match="AWS_REGION"):
                client.generate("bedrock/" + NOVA, "Hi")

    def test_no_key_and_no_credentials_is_an_authentication_error_naming_both(self, monkeypatch):
        monkeypatch.setenv("AWS_REGION", "us-east-1")
        with llmsync.Client() as client, responses.RequestsMock():
            with pytest.raises(AuthenticationError) as caught:
                client.generate("bedrock/" + NOVA, "Hi")
        assert "AWS_BEARER_TOKEN_BEDROCK" in str(caught.value) and "credential chain" in str(caught.value)

    def test_without_botocore_a_key_still_works_and_the_rest_says_how_to_install_it(
            self, monkeypatch, bedrock_client):
        monkeypatch.setitem(sys.modules, "botocore", None)
        monkeypatch.setenv("AWS_REGION", "us-east-1")
        with responses.RequestsMock() as mock:
            mock.post(NOVA_URL, json=OK_BODY)
            assert bedrock_client.generate("bedrock/" + NOVA, "Hi").content == "ok"
        with pytest.raises(InvalidRequestError, match=r"llmsync\[bedrock\]"):
            bedrock_client.stream("bedrock/" + NOVA, "Hi")
        with llmsync.Client() as client:
            with pytest.raises(AuthenticationError, match=r"AWS_BEARER_TOKEN_BEDROCK.*bedrock\]"):
                client.generate("bedrock/" + NOVA, "Hi")

    def test_the_api_key_comes_from_its_environment_variable(self, monkeypatch):
        monkeypatch.setenv("AWS_REGION", "us-east-1")
        monkeypatch.setenv("AWS_BEARER_TOKEN_BEDROCK", "env-bedrock-key")
        with llmsync.Client(retry=0) as client, responses.RequestsMock() as mock:
            mock.post(NOVA_URL, json=OK_BODY)
            client.generate("bedrock/" + NOVA, "Hi")
            assert mock.calls[0].request.headers["Authorization"] == "Bearer env-bedrock-key"

    def test_sigv4_signature_verifies_against_the_spec(self, aws_credentials):
        url, payload = NOVA_URL, b'{"messages":[]}'
        signed = BedrockProvider().sign_request(None, url, {"Content-Type": "application/json"}, payload)
        amz_date = signed["X-Amz-Date"]
        assert signed["X-Amz-Security-Token"] == "session-token-SECRET-1"
        # AWS SigV4 by hand: non-S3 services encode the already-encoded path once more.
        canonical = "\n".join([
            "POST", "/model/us.amazon.nova-micro-v1%253A0/converse", "",
            "content-type:application/json", "host:bedrock-runtime.us-east-1.amazonaws.com",
            f"x-amz-date:{amz_date}", "x-amz-security-token:session-token-SECRET-1", "",
            "content-type;host;x-amz-date;x-amz-security-token", hashlib.sha256(payload).hexdigest()])
        scope = f"{amz_date[:8]}/us-east-1/bedrock/aws4_request"
        to_sign = "\n".join(["AWS4-HMAC-SHA256", amz_date, scope, hashlib.sha256(canonical.encode()).hexdigest()])
        key = ("AWS4" + os.environ["AWS_SECRET_ACCESS_KEY"]).encode()
        for part in (amz_date[:8], "us-east-1", "bedrock", "aws4_request"):
            key = hmac.new(key, part.encode(), hashlib.sha256).digest()
        signature = hmac.new(key, to_sign.encode(), hashlib.sha256).hexdigest()
        assert signed["Authorization"] == (f"AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/{scope}, "
                                           "SignedHeaders=content-type;host;x-amz-date;x-amz-security-token, "
                                           f"Signature={signature}")
        signed_at = datetime.datetime.strptime(amz_date, "%Y%m%dT%H%M%SZ").replace(tzinfo=datetime.timezone.utc)
        assert abs(signed_at - datetime.datetime.now(datetime.timezone.utc)) < datetime.timedelta(minutes=5)

    def test_a_bedrock_api_key_is_not_signed(self, aws_credentials):
        assert BedrockProvider().sign_request(llmsync.ApiKey("k"), NOVA_URL, {}, b"{}") == {}

    def test_generate_signs_each_request_and_no_secret_reaches_an_error(self, aws_credentials):
        with llmsync.Client(retry=0) as client, responses.RequestsMock() as mock:
            mock.post(NOVA_URL, json={"message": "echo session-token-SECRET-1"}, status=400,
                      headers={"x-amzn-errortype": "ValidationException:http://x/"})
            with pytest.raises(InvalidRequestError) as caught:
                client.generate("bedrock/" + NOVA, "Hi")
            sent = mock.calls[0].request.headers
        assert sent["Authorization"].startswith("AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/")
        assert sent["X-Amz-Security-Token"] == "session-token-SECRET-1"
        assert "session-token-SECRET-1" not in str(caught.value)

    def test_an_expired_token_is_refreshed_once_in_the_call_then_reported(self, aws_credentials, monkeypatch):
        expired = {"x-amzn-errortype": "ExpiredTokenException:http://internal.amazon.com/coral/"}
        with llmsync.Client(retry=llmsync.RetryPolicy(max_retries=3, base_delay=0.001)) as client, \
                responses.RequestsMock() as mock:
            mock.post(NOVA_URL, json={"message": "The security token included in the request is expired"},
                      status=403, headers=expired)
            monkeypatch.setenv("AWS_SESSION_TOKEN", "session-token-SECRET-1")
            with pytest.raises(AuthenticationError, match="aws sso login") as caught:
                client.generate("bedrock/" + NOVA, "Hi")
            assert len(mock.calls) == 2 and caught.value.attempts == 2  # read the chain again once, then report

    def test_a_refreshed_token_succeeds_within_the_same_call(self, aws_credentials, monkeypatch):
        expired = {"x-amzn-errortype": "ExpiredTokenException:http://internal.amazon.com/coral/"}
        with llmsync.Client(retry=llmsync.RetryPolicy(max_retries=3, base_delay=0.001)) as client, \
                responses.RequestsMock() as mock:
            def expire_then_renew(request):
                if request.headers["X-Amz-Security-Token"] == "session-token-SECRET-1":
                    monkeypatch.setenv("AWS_SESSION_TOKEN", "session-token-SECRET-2")  # renewed meanwhile
                    message = "The security token included in the request is expired"
                    return 403, expired, json.dumps({"message": message})
                return 200, {}, json.dumps(OK_BODY)

            mock.add_callback(responses.POST, NOVA_URL, callback=expire_then_renew)
            assert client.generate("bedrock/" + NOVA, "Hi").content == "ok"
            assert [c.request.headers["X-Amz-Security-Token"] for c in mock.calls] == [
                "session-token-SECRET-1", "session-token-SECRET-2"]

    def test_an_expired_token_is_reported_then_the_chain_is_read_again(self, aws_credentials, monkeypatch):
        expired = {"x-amzn-errortype": "ExpiredTokenException:http://internal.amazon.com/coral/"}
        with llmsync.Client(retry=0) as client, responses.RequestsMock() as mock:
            mock.post(NOVA_URL, json={"message": "The security token included in the request is expired"},
                      status=403, headers=expired)
            mock.post(NOVA_URL, json=OK_BODY)
            with pytest.raises(AuthenticationError, match="aws sso login"):
                client.generate("bedrock/" + NOVA, "Hi")
            monkeypatch.setenv("AWS_SESSION_TOKEN", "session-token-SECRET-2")
            assert client.generate("bedrock/" + NOVA, "Hi").content == "ok"
            assert mock.calls[1].request.headers["X-Amz-Security-Token"] == "session-token-SECRET-2"

    def test_explain_shows_no_secret(self, bedrock_client):
        shown = bedrock_client.explain("bedrock/" + NOVA, "Hi")
        assert shown.url == NOVA_URL
        assert "bedrock-api-key-SECRET" not in repr(shown)


def test_botocore_is_imported_only_for_bedrock_signing_or_streams():
    code = (
        "import os, sys, llmsync\n"
        "from llmsync.registry import get_provider\n"
        "from llmsync.testing import FakeServer, Reply\n"
        "os.environ['AWS_REGION'] = 'us-east-1'\n"
        "get_provider('bedrock')\n"
        "with FakeServer() as server:\n"
        "    client = server.client()\n"
        "    client.generate('openai/gpt-4o-mini', 'Hi')\n"
        "    client.generate('anthropic/claude-sonnet-4-5', 'Hi')\n"
        "    client.generate('bedrock/us.amazon.nova-micro-v1:0', 'Hi')\n"
        "    client.explain('bedrock/us.amazon.nova-micro-v1:0', 'Hi', stream=True)\n"
        "print('botocore' in sys.modules)\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "False"


class TestFakeServer:
    def test_generate_with_reasoning_tools_and_cached_usage(self, server):
        server.add(Reply.tools(("get_weather", {"city": "Paris"}), text="Checking.", reasoning="Think.",
                               usage=Usage(30, 5, 35, cache_read_tokens=20)))
        with server.client(retry=0) as client:
            response = client.generate("bedrock/" + SONNET, "Weather?", tools=[WEATHER])
        assert response.content == "Checking." and response.reasoning == "Think."
        assert response.tool_calls[0].parsed_arguments() == {"city": "Paris"}
        assert response.finish_reason is FinishReason.TOOL_CALLS
        assert response.usage == Usage(30, 5, 35, cache_read_tokens=20)
        assert response.reasoning_blocks[0].signature == "sig-fake"
        assert server.requests[0].path.endswith("/model/us.anthropic.claude-sonnet-4-5-20250929-v1%3A0/converse")

    def test_stream_frames_split_across_reads(self, server):
        server.add(Reply(text="Hello from Bedrock", reasoning="hmm", chunk_size=3, split_bytes=7))
        with server.client(retry=0) as client, client.stream("bedrock/" + NOVA, "Hi") as stream:
            events = list(stream)
        assert "".join(e.text for e in events if isinstance(e, TextDelta)) == "Hello from Bedrock"
        assert stream.response.reasoning == "hmm"
        assert server.requests[0].path.endswith("/converse-stream")

    def test_a_throttling_frame_before_any_event_is_retried(self, server):
        throttled = frame({":exception-type": "throttlingException", ":content-type": "application/json",
                           ":message-type": "exception"}, b'{"message": "slow down"}')
        server.add(Reply(body=throttled, content_type="application/vnd.amazon.eventstream"), Reply(text="again"))
        retry = llmsync.RetryPolicy(max_retries=2, base_delay=0.001, max_delay=0.01)
        with server.client(retry=retry) as client, client.stream("bedrock/" + NOVA, "Hi") as stream:
            assert "".join(e.text for e in stream if isinstance(e, TextDelta)) == "again"
        assert stream.response.attempts == 2

    def test_a_model_stream_error_after_text_is_a_stream_error(self, server):
        server.add(Reply(text="partial", finish_reason=FinishReason.ERROR, error_message="model crashed"))
        with server.client(retry=0) as client:
            with pytest.raises(StreamError, match="model crashed") as caught:
                with client.stream("bedrock/" + NOVA, "Hi") as stream:
                    list(stream)
        assert caught.value.partial.content == "partial"

    def test_errors_carry_the_type_header(self, server):
        server.add(Reply.error(429, "Too many requests"))
        with server.client(retry=0) as client:
            with pytest.raises(RateLimitError) as caught:
                client.generate("bedrock/" + NOVA, "Hi")
        assert caught.value.error_type == "ThrottlingException"
