"""Gemini: the exact JSON sent, thinking, signatures, streamed and whole replies, errors, recordings."""
import json

import pytest
import responses

import llmsync
from llmsync import (Document, FinishReason, Image, Message, ReasoningBlock, Text, ToolCall, ToolChoice,
                     ToolDefinition)
from llmsync.providers.gemini import DUMMY_SIGNATURE, GeminiParser, GeminiProvider
from llmsync.registry import get_provider
from llmsync.testing import Reply
from tests.conftest import assert_matches_expected, load_recording, recordings

BASE = "https://generativelanguage.googleapis.com/v1beta"
KEY = "gm-test-key-123"
WEATHER = ToolDefinition("get_weather", "Weather for a city",
                         {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]})
OK_BODY = {"candidates": [{"content": {"role": "model", "parts": [{"text": "ok"}]}, "finishReason": "STOP",
                           "index": 0}],
           "usageMetadata": {"promptTokenCount": 3, "candidatesTokenCount": 1, "totalTokenCount": 4},
           "modelVersion": "gemini-2.5-flash", "responseId": "resp-1"}


@pytest.fixture
def gemini_client():
    with llmsync.Client(api_keys={"gemini": KEY}, retry=llmsync.RetryPolicy.none()) as client:
        yield client


def url(model="gemini-2.5-flash"):
    return f"{BASE}/models/{model}:generateContent"


def sent(gemini_client, model="gemini-2.5-flash", messages="Hi", **options):
    """The JSON body the client sends for these arguments."""
    with responses.RequestsMock() as mock:
        mock.post(url(model), json=OK_BODY)
        gemini_client.generate(f"gemini/{model}", messages, **options)
        return json.loads(mock.calls[0].request.body)


def plan(model="gemini-2.5-flash", messages="Hi", **options):
    return GeminiProvider().build_request(llmsync.Request(model=f"gemini/{model}", messages=messages, **options),
                                          model)


def feed(parser, *chunks):
    events = []
    for chunk in chunks:
        events += parser.feed("", json.dumps(chunk))
    return events


def chunk(parts, finish=None, usage=None, **extra):
    candidate = {"content": {"role": "model", "parts": parts}, "index": 0}
    if finish:
        candidate["finishReason"] = finish
    body = {"candidates": [candidate], **extra}
    if usage:
        body["usageMetadata"] = usage
    return body


class TestEndpointAndAuth:
    def test_key_goes_in_the_x_goog_api_key_header_and_never_in_the_url(self, gemini_client):
        with responses.RequestsMock() as mock:
            mock.post(url(), json=OK_BODY)
            assert gemini_client.generate("gemini/gemini-2.5-flash", "Hi").content == "ok"
            request = mock.calls[0].request
        assert request.url == url()
        assert request.headers["x-goog-api-key"] == KEY
        assert KEY not in request.url
        assert "Authorization" not in request.headers

    def test_streaming_uses_stream_generate_content_with_alt_sse(self):
        assert plan(stream=True).path == "/models/gemini-2.5-flash:streamGenerateContent?alt=sse"
        assert plan().path == "/models/gemini-2.5-flash:generateContent"

    def test_keys_come_from_gemini_or_google_env_vars(self):
        store = llmsync.auth.AuthStore(environ={"GOOGLE_API_KEY": "from-google"}, auth_file="/nonexistent")
        assert GeminiProvider().resolve_auth(store).reveal() == "from-google"

    def test_registry_resolves_the_gemini_provider(self):
        provider = get_provider("gemini")
        assert isinstance(provider, GeminiProvider)
        assert provider.default_base_url == BASE

    def test_explain_redacts_the_key(self):
        with llmsync.Client(api_keys={"gemini": KEY}) as client:
            shown = client.explain("gemini/gemini-2.5-flash", "Hi")
        assert shown.url == url() and shown.headers["x-goog-api-key"] == "***"


class TestRequestBody:
    def test_minimal_request(self, gemini_client):
        assert sent(gemini_client, model="gemini-2.0-flash") == {
            "contents": [{"role": "user", "parts": [{"text": "Hi"}]}]}

    def test_system_prompt_and_system_messages_become_system_instruction(self, gemini_client):
        body = sent(gemini_client, model="gemini-2.0-flash", system_prompt="brief",
                    messages=[Message.system("rules"), Message.user("Hi"), Message.assistant("Hello"),
                              Message.user("Bye")])
        assert body == {
            "systemInstruction": {"parts": [{"text": "brief"}, {"text": "rules"}]},
            "contents": [{"role": "user", "parts": [{"text": "Hi"}]},
                         {"role": "model", "parts": [{"text": "Hello"}]},
                         {"role": "user", "parts": [{"text": "Bye"}]}],
        }

    def test_inline_images_and_pdfs_become_inline_data(self, gemini_client):
        message = Message.user([Text("What is this?"), Image(data="aGk=", media_type="image/jpeg"),
                                Image(url="data:image/webp;base64,d2Vi"), Document(data="JVBE")])
        assert sent(gemini_client, messages=[message])["contents"][0]["parts"] == [
            {"text": "What is this?"},
            {"inlineData": {"mimeType": "image/jpeg", "data": "aGk="}},
            {"inlineData": {"mimeType": "image/webp", "data": "d2Vi"}},
            {"inlineData": {"mimeType": "application/pdf", "data": "JVBE"}},
        ]

    def test_file_uris_become_file_data(self, gemini_client):
        files = f"{BASE}/files/abc123"
        message = Message.user([Image(url="https://example.com/cat.png"),
                                Document(url=files, media_type="application/pdf")])
        assert sent(gemini_client, messages=[message])["contents"][0]["parts"] == [
            {"fileData": {"mimeType": "image/png", "fileUri": "https://example.com/cat.png"}},
            {"fileData": {"mimeType": "application/pdf", "fileUri": files}},
        ]

    def test_a_non_base64_data_url_is_refused_before_sending(self):
        with pytest.raises(llmsync.InvalidRequestError, match="base64"):
            plan(messages=[Message.user([Image(url="data:image/png,rawbytes")])])

    def test_generation_config_fields(self, gemini_client):
        body = sent(gemini_client, model="gemini-2.0-flash", max_tokens=200, temperature=0.2,
                    stop=["END", "STOP"])
        assert body["generationConfig"] == {"maxOutputTokens": 200, "temperature": 0.2,
                                            "stopSequences": ["END", "STOP"]}

    def test_json_schema_response_format_uses_response_json_schema(self, gemini_client):
        schema = {"$schema": "https://json-schema.org/draft/2020-12/schema", "type": "object",
                  "properties": {"answer": {"type": "string"}}, "required": ["answer"],
                  "additionalProperties": False}
        config = sent(gemini_client, model="gemini-2.0-flash", response_format=schema)["generationConfig"]
        assert config == {"responseMimeType": "application/json", "responseJsonSchema": {
            "type": "object", "properties": {"answer": {"type": "string"}}, "required": ["answer"],
            "additionalProperties": False}}
        assert "responseSchema" not in config

    def test_free_form_json_sets_only_the_mime_type(self, gemini_client):
        config = sent(gemini_client, model="gemini-2.0-flash", response_format="json")["generationConfig"]
        assert config == {"responseMimeType": "application/json"}

    def test_tools_become_function_declarations_with_parameters_json_schema(self, gemini_client):
        bare = ToolDefinition("now")
        body = sent(gemini_client, model="gemini-2.0-flash", tools=[WEATHER, bare])
        assert body["tools"] == [{"functionDeclarations": [
            {"name": "get_weather", "description": "Weather for a city", "parametersJsonSchema": WEATHER.parameters},
            {"name": "now", "parametersJsonSchema": {"type": "object", "properties": {}}},
        ]}]
        assert "parameters" not in body["tools"][0]["functionDeclarations"][0]

    @pytest.mark.parametrize("choice, wire", [
        (ToolChoice.auto(), {"mode": "AUTO"}),
        (ToolChoice.none(), {"mode": "NONE"}),
        (ToolChoice.any(), {"mode": "ANY"}),
        (ToolChoice.function("get_weather"), {"mode": "ANY", "allowedFunctionNames": ["get_weather"]}),
    ])
    def test_every_tool_choice_form(self, gemini_client, choice, wire):
        body = sent(gemini_client, model="gemini-2.0-flash", tools=[WEATHER], tool_choice=choice)
        assert body["toolConfig"] == {"functionCallingConfig": wire}

    def test_disabling_parallel_calls_is_reported_not_sent(self):
        shown = plan(tools=[WEATHER], parallel_tool_calls=False)
        assert "parallel" not in json.dumps(shown.body)
        assert any("parallel" in a for a in shown.adjustments)

    def test_extra_is_merged_into_the_body(self, gemini_client):
        body = sent(gemini_client, model="gemini-2.0-flash",
                    extra={"safetySettings": [{"category": "HARM_CATEGORY_HARASSMENT", "threshold": "BLOCK_NONE"}]})
        assert body["safetySettings"][0]["threshold"] == "BLOCK_NONE"


class TestToolSchemas:
    """Tool parameters go out as JSON Schema (parametersJsonSchema), kept as written."""

    def declared(self, parameters):
        tool = ToolDefinition("t", "", parameters)
        return plan(tools=[tool]).body["tools"][0]["functionDeclarations"][0]["parametersJsonSchema"]

    def test_nested_objects_are_kept(self):
        schema = {"type": "object", "properties": {"address": {"type": "object", "properties": {
            "street": {"type": "string"}, "geo": {"type": "object", "properties": {"lat": {"type": "number"}},
                                                  "additionalProperties": False}}, "required": ["street"]}}}
        assert self.declared(schema) == schema

    def test_enums_are_kept(self):
        schema = {"type": "object", "properties": {"unit": {"type": "string", "enum": ["C", "F"]},
                                                   "level": {"type": "integer", "enum": [1, 2, 3]}}}
        assert self.declared(schema) == schema

    def test_optional_fields_keep_any_of_with_null_and_type_arrays(self):
        schema = {"type": "object", "properties": {
            "note": {"anyOf": [{"type": "string"}, {"type": "null"}], "default": None},
            "count": {"type": ["integer", "null"]}}, "required": []}
        assert self.declared(schema) == schema

    def test_arrays_and_tuples_are_kept(self):
        schema = {"type": "object", "properties": {
            "tags": {"type": "array", "items": {"type": "string"}, "minItems": 1, "maxItems": 5},
            "point": {"type": "array", "prefixItems": [{"type": "number"}, {"type": "number"}]},
            "rows": {"type": "array", "items": {"type": "object", "properties": {"id": {"type": "integer"}}}}}}
        assert self.declared(schema) == schema

    def test_refs_and_defs_are_kept_and_meta_keywords_dropped(self):
        schema = {"$schema": "https://json-schema.org/draft/2020-12/schema", "type": "object",
                  "$defs": {"Item": {"type": "object", "$comment": "x", "properties": {"n": {"type": "string"}}}},
                  "properties": {"items": {"type": "array", "items": {"$ref": "#/$defs/Item"}},
                                 "$comment": {"type": "string"}}}
        assert self.declared(schema) == {
            "type": "object",
            "$defs": {"Item": {"type": "object", "properties": {"n": {"type": "string"}}}},
            "properties": {"items": {"type": "array", "items": {"$ref": "#/$defs/Item"}},
                           "$comment": {"type": "string"}}}

    def test_the_callers_schema_is_not_modified(self):
        schema = {"$schema": "x", "type": "object", "properties": {}}
        self.declared(schema)
        assert schema["$schema"] == "x"


class TestFunctionCalling:
    def test_tool_calls_become_function_call_parts_and_responses_resolve_their_names(self, gemini_client):
        messages = [
            Message.user("Weather?"),
            Message.assistant_with_tools("Checking.", [ToolCall("c1", "get_weather", '{"city":"Paris"}', "SIG1")]),
            Message.tool_response("c1", "sunny"),
        ]
        body = sent(gemini_client, messages=messages, tools=[WEATHER])
        assert body["contents"][1:] == [
            {"role": "model", "parts": [
                {"text": "Checking."},
                {"functionCall": {"id": "c1", "name": "get_weather", "args": {"city": "Paris"}},
                 "thoughtSignature": "SIG1"}]},
            {"role": "user", "parts": [
                {"functionResponse": {"id": "c1", "name": "get_weather", "response": {"output": "sunny"}}}]},
        ]

    def test_parallel_calls_are_answered_in_one_user_turn_after_all_calls(self, gemini_client):
        messages = [
            Message.user("Paris and Rome?"),
            Message.assistant_with_tools(None, [ToolCall("a", "get_weather", '{"city":"Paris"}', "SIG"),
                                                ToolCall("b", "get_weather", '{"city":"Rome"}')]),
            Message.tool_response("a", "sunny"),
            Message.tool_response("b", "rainy"),
            Message.user("Thanks"),
        ]
        contents = sent(gemini_client, messages=messages)["contents"]
        assert [c["role"] for c in contents] == ["user", "model", "user", "user"]
        assert [p["functionCall"]["id"] for p in contents[1]["parts"]] == ["a", "b"]
        assert "thoughtSignature" not in contents[1]["parts"][1]
        assert contents[2]["parts"] == [
            {"functionResponse": {"id": "a", "name": "get_weather", "response": {"output": "sunny"}}},
            {"functionResponse": {"id": "b", "name": "get_weather", "response": {"output": "rainy"}}}]
        assert contents[3] == {"role": "user", "parts": [{"text": "Thanks"}]}

    def test_a_response_to_an_unknown_call_id_is_refused(self):
        with pytest.raises(llmsync.InvalidRequestError, match="'nope'"):
            plan(messages=[Message.user("Hi"), Message.tool_response("nope", "x")])

    def test_a_response_naming_its_function_needs_no_matching_call(self):
        body = plan(messages=[Message.user("Hi"), Message.tool_response("x1", "42", name="lookup")]).body
        assert body["contents"][1]["parts"][0]["functionResponse"]["name"] == "lookup"

    def test_gemini_3_gets_the_documented_placeholder_for_an_unsigned_first_call(self):
        messages = [Message.user("Hi"),
                    Message.assistant_with_tools(None, [ToolCall("a", "f", "{}"), ToolCall("b", "f", "{}")]),
                    Message.tool_response("a", "1"), Message.tool_response("b", "2")]
        shown = plan(model="gemini-3-flash-preview", messages=messages)
        parts = shown.body["contents"][1]["parts"]
        assert parts[0]["thoughtSignature"] == DUMMY_SIGNATURE
        assert "thoughtSignature" not in parts[1]
        assert any(DUMMY_SIGNATURE in a for a in shown.adjustments)

    def test_gemini_2_5_sends_unsigned_calls_unchanged(self):
        messages = [Message.user("Hi"), Message.assistant_with_tools(None, [ToolCall("a", "f", "{}")]),
                    Message.tool_response("a", "1")]
        shown = plan(model="gemini-2.5-flash", messages=messages)
        assert "thoughtSignature" not in shown.body["contents"][1]["parts"][0]
        assert shown.adjustments == []

    def test_signed_thoughts_and_text_go_back_on_their_own_parts(self):
        reasoning = [ReasoningBlock("I thought.", "TSIG", kind="thought", provider="gemini"),
                     ReasoningBlock("", "XSIG", kind="text", provider="gemini"),
                     ReasoningBlock("foreign", "ASIG", kind="thinking", provider="anthropic")]
        message = Message(llmsync.Role.ASSISTANT, "Answer.", reasoning=reasoning)
        parts = plan(messages=[Message.user("Q"), message, Message.user("Q2")]).body["contents"][1]["parts"]
        assert parts == [{"text": "I thought.", "thought": True, "thoughtSignature": "TSIG"},
                         {"text": "Answer.", "thoughtSignature": "XSIG"}]

    def test_a_signature_without_text_goes_back_on_an_empty_text_part(self):
        message = Message(llmsync.Role.ASSISTANT, None, tool_calls=[ToolCall("a", "f", "{}", "FSIG")],
                          reasoning=[ReasoningBlock("", "XSIG", kind="text", provider="gemini")])
        body = plan(messages=[Message.user("Q"), message, Message.tool_response("a", "1")]).body
        parts = body["contents"][1]["parts"]
        assert parts == [{"functionCall": {"id": "a", "name": "f", "args": {}}, "thoughtSignature": "FSIG"},
                         {"text": "", "thoughtSignature": "XSIG"}]


class TestThinking:
    @pytest.mark.parametrize("level, budget", [("minimal", 512), ("low", 1024), ("medium", 8192), ("high", 24576)])
    def test_gemini_2_5_takes_a_thinking_budget(self, level, budget):
        config = plan(thinking=level).body["generationConfig"]["thinkingConfig"]
        assert config == {"thinkingBudget": budget, "includeThoughts": True}

    def test_off_is_a_zero_budget_where_the_model_allows_it(self):
        shown = plan(model="gemini-2.5-flash-lite", thinking="off")
        assert shown.body["generationConfig"]["thinkingConfig"] == {"thinkingBudget": 0}
        assert shown.adjustments == []

    def test_off_on_2_5_pro_sends_the_minimum_budget_and_says_so(self):
        shown = plan(model="gemini-2.5-pro", thinking="off")
        assert shown.body["generationConfig"]["thinkingConfig"] == {"thinkingBudget": 128, "includeThoughts": True}
        assert any("cannot be turned off" in a for a in shown.adjustments)

    def test_budgets_are_clamped_to_the_model_range(self):
        shown = plan(model="gemini-2.5-flash", thinking="xhigh")
        assert shown.body["generationConfig"]["thinkingConfig"]["thinkingBudget"] == 24576
        assert any("24576" in a for a in shown.adjustments)
        assert plan(model="gemini-2.5-pro", thinking="xhigh").body["generationConfig"]["thinkingConfig"][
            "thinkingBudget"] == 32768

    def test_gemini_3_takes_a_thinking_level_never_a_budget(self):
        config = plan(model="gemini-3-flash-preview", thinking="low").body["generationConfig"]["thinkingConfig"]
        assert config == {"thinkingLevel": "low", "includeThoughts": True}

    @pytest.mark.parametrize("model, level, wire", [
        ("gemini-3-pro-preview", "minimal", "low"),
        ("gemini-3-pro-preview", "medium", "high"),
        ("gemini-3.1-pro-preview", "off", "low"),
        ("gemini-3-flash-preview", "off", "minimal"),
        ("gemini-3-flash-preview", "xhigh", "high"),
    ])
    def test_levels_are_clamped_to_what_the_model_accepts_and_reported(self, model, level, wire):
        shown = plan(model=model, thinking=level)
        assert shown.body["generationConfig"]["thinkingConfig"] == {"thinkingLevel": wire, "includeThoughts": True}
        assert any(repr(wire) in a for a in shown.adjustments)

    @pytest.mark.parametrize("model, levels", [
        ("gemini-3-pro-exp-0101", {"low", "high"}),
        ("gemini-3.9-pro", {"low", "medium", "high"}),
        ("gemini-3.9-flash", {"minimal", "low", "medium", "high"}),
    ])
    def test_unknown_gemini_3_ids_follow_the_id_rules(self, model, levels):
        provider = GeminiProvider()
        assert provider.model_meta(model) is None
        assert provider.reasoning(model).style == "level"
        assert set(provider.reasoning(model).levels) == levels

    def test_thinking_models_ask_for_thought_summaries_by_default(self):
        assert plan(model="gemini-3-flash-preview").body["generationConfig"] == {
            "thinkingConfig": {"includeThoughts": True}}

    def test_a_model_without_thinking_gets_no_thinking_config(self):
        shown = plan(model="gemini-2.0-flash", thinking="high")
        assert "generationConfig" not in shown.body
        assert any("ignored" in a for a in shown.adjustments)

    @pytest.mark.parametrize("level, wire", [("high", "high"), ("minimal", "minimal"), ("xhigh", "high"),
                                             ("off", "minimal")])
    def test_a_model_nobody_knows_gets_a_thinking_level_as_asked(self, level, wire):
        shown = plan(model="gemini-experimental-0909", thinking=level)
        assert shown.body["generationConfig"]["thinkingConfig"] == {"thinkingLevel": wire, "includeThoughts": True}
        assert (shown.adjustments == []) is (level == wire)
        assert "generationConfig" not in plan(model="gemini-experimental-0909").body

    def test_reasoning_capabilities_follow_the_thinking_style(self):
        provider = GeminiProvider()
        assert provider.supports_reasoning("gemini-2.5-flash")
        assert not provider.supports_reasoning_effort("gemini-2.5-flash")
        assert provider.supports_reasoning_effort("gemini-3-pro-preview")
        assert not provider.supports_reasoning("gemini-2.0-flash")


class TestParser:
    def test_one_chunk_may_carry_several_parts_and_whole_function_calls(self):
        parser = GeminiParser("gemini", "gemini-3-flash-preview")
        events = feed(parser, chunk([
            {"text": "Let me look.", "thought": True},
            {"text": "Looking."},
            {"functionCall": {"id": "f1", "name": "get_weather", "args": {"city": "Paris"}}, "thoughtSignature": "S1"},
            {"functionCall": {"id": "f2", "name": "get_weather", "args": {"city": "Rome"}}},
        ], finish="STOP"))
        kinds = [type(e).__name__ for e in events]
        assert kinds == ["ReasoningDelta", "TextDelta", "ToolCallStart", "ToolCallDelta", "ToolCallEnd",
                         "ToolCallStart", "ToolCallDelta", "ToolCallEnd"]
        response = parser.finish()
        assert [(c.id, c.name, c.parsed_arguments(), c.signature) for c in response.tool_calls] == [
            ("f1", "get_weather", {"city": "Paris"}, "S1"), ("f2", "get_weather", {"city": "Rome"}, None)]
        assert response.finish_reason is FinishReason.TOOL_CALLS
        assert response.reasoning == "Let me look." and response.content == "Looking."

    def test_calls_without_ids_get_unique_ids(self):
        ids = []
        for _ in range(2):
            parser = GeminiParser("gemini", "m")
            feed(parser, chunk([{"functionCall": {"name": "f", "args": {}}},
                                {"functionCall": {"name": "f"}}], finish="STOP"))
            ids += [c.id for c in parser.finish().tool_calls]
        assert len(set(ids)) == 4 and all(i.startswith("call_") for i in ids)

    def test_thought_signatures_become_reasoning_blocks(self):
        parser = GeminiParser("gemini", "m")
        feed(parser, chunk([{"text": "Step one. ", "thought": True}]),
             chunk([{"text": "Step two.", "thought": True, "thoughtSignature": "TS"}]),
             chunk([{"text": "Done."}]),
             chunk([{"text": "", "thoughtSignature": "XS"}], finish="STOP"))
        response = parser.finish()
        assert response.reasoning == "Step one. Step two."
        assert response.reasoning_blocks == [
            ReasoningBlock("Step one. Step two.", "TS", kind="thought", provider="gemini"),
            ReasoningBlock("", "XS", kind="text", provider="gemini")]
        assert response.to_message().reasoning == response.reasoning_blocks

    @pytest.mark.parametrize("reason, mapped", [
        ("STOP", FinishReason.STOP), ("MAX_TOKENS", FinishReason.LENGTH), ("SAFETY", FinishReason.CONTENT_FILTER),
        ("RECITATION", FinishReason.CONTENT_FILTER), ("PROHIBITED_CONTENT", FinishReason.CONTENT_FILTER),
        ("OTHER", FinishReason.ERROR), ("SOMETHING_NEW", FinishReason.ERROR),
    ])
    def test_finish_reasons_are_mapped(self, reason, mapped):
        parser = GeminiParser("gemini", "m")
        feed(parser, chunk([{"text": "x"}], finish=reason))
        assert parser.complete and parser.finish().finish_reason is mapped

    def test_a_malformed_function_call_is_an_error_with_its_message(self):
        parser = GeminiParser("gemini", "m")
        feed(parser, {"candidates": [{"finishReason": "MALFORMED_FUNCTION_CALL", "finishMessage": "bad args"}]})
        response = parser.finish()
        assert response.finish_reason is FinishReason.ERROR
        assert "MALFORMED_FUNCTION_CALL" in response.error_message and "bad args" in response.error_message

    def test_a_blocked_prompt_is_a_complete_content_filter_reply(self):
        parser = GeminiParser("gemini", "m")
        feed(parser, {"promptFeedback": {"blockReason": "SAFETY"},
                      "usageMetadata": {"promptTokenCount": 7, "totalTokenCount": 7}})
        response = parser.finish()
        assert response.finish_reason is FinishReason.CONTENT_FILTER
        assert "SAFETY" in response.error_message and response.usage.prompt_tokens == 7

    def test_usage_counts_thoughts_as_completion_and_the_last_chunk_wins(self):
        parser = GeminiParser("gemini", "m")
        feed(parser, chunk([{"text": "a"}], usage={"promptTokenCount": 100, "candidatesTokenCount": 1,
                                                   "totalTokenCount": 101}),
             chunk([{"text": "b"}], finish="STOP", usage={
                 "promptTokenCount": 100, "cachedContentTokenCount": 60, "candidatesTokenCount": 5,
                 "thoughtsTokenCount": 20, "totalTokenCount": 125}))
        usage = parser.finish().usage
        assert (usage.prompt_tokens, usage.completion_tokens, usage.total_tokens) == (100, 25, 125)
        assert (usage.cache_read_tokens, usage.reasoning_tokens) == (60, 20)
        assert usage.total_tokens == usage.prompt_tokens + usage.completion_tokens

    def test_a_stream_that_ends_without_a_finish_reason_is_an_error(self):
        parser = GeminiParser("gemini", "m")
        feed(parser, chunk([{"text": "half"}]))
        with pytest.raises(llmsync.StreamError) as caught:
            parser.finish()
        assert caught.value.partial.content == "half"

    def test_an_error_object_in_the_stream_is_raised(self):
        parser = GeminiParser("gemini", "m")
        with pytest.raises(llmsync.ProviderError, match="overloaded") as caught:
            feed(parser, {"error": {"code": 503, "message": "The model is overloaded.", "status": "UNAVAILABLE"}})
        assert caught.value.error_type == "UNAVAILABLE" and caught.value.retryable

    def test_parse_response_builds_the_same_response_a_stream_would(self):
        body = chunk([{"text": "Thinking", "thought": True}, {"text": "Hi!", "thoughtSignature": "X"}],
                     finish="STOP", usage={"promptTokenCount": 2, "candidatesTokenCount": 2, "totalTokenCount": 4},
                     responseId="r9", modelVersion="gemini-2.5-flash-001")
        response = GeminiProvider().parse_response(body, "gemini-2.5-flash")
        assert (response.content, response.reasoning, response.id, response.model) == (
            "Hi!", "Thinking", "r9", "gemini-2.5-flash-001")
        assert response.reasoning_blocks == [ReasoningBlock("", "X", kind="text", provider="gemini")]

    def test_a_body_of_the_wrong_shape_is_a_provider_error(self):
        with pytest.raises(llmsync.ProviderError, match="unexpected reply"):
            GeminiProvider().parse_response({"hello": 1}, "m")


class TestStreaming:
    def test_thoughts_text_usage_and_completed_last(self, client, server):
        server.add(Reply(text="Hello there", reasoning="Hmm, greet.", chunk_size=4,
                         usage=llmsync.Usage(10, 9, 19, reasoning_tokens=4)))
        with client.stream("gemini/gemini-2.5-flash", "Hi") as stream:
            events = list(stream)
        assert server.requests[0].path == "/v1beta/models/gemini-2.5-flash:streamGenerateContent?alt=sse"
        assert server.requests[0].headers["x-goog-api-key"] == llmsync.testing.FAKE_KEY
        assert "".join(e.text for e in events if isinstance(e, llmsync.ReasoningDelta)) == "Hmm, greet."
        assert [e.text for e in events if isinstance(e, llmsync.TextDelta)] == ["Hell", "o th", "ere"]
        assert isinstance(events[-1], llmsync.Completed)
        final = events[-1].response
        assert final == stream.response
        assert final.usage == llmsync.Usage(10, 9, 19, reasoning_tokens=4)
        updates = [e.usage for e in events if isinstance(e, llmsync.UsageUpdate)]
        assert updates == [final.usage]  # cumulative on the wire: reported once, when complete
        assert final.reasoning_blocks == [ReasoningBlock("", "sig-fake", kind="text", provider="gemini")]

    def test_streamed_tool_calls_keep_their_signature(self, client, server):
        server.add(Reply.tools(("get_weather", {"city": "Paris"}), ("get_weather", {"city": "Rome"})))
        with client.stream("gemini/gemini-3-flash-preview", "Weather?", tools=[WEATHER]) as stream:
            ends = [e.tool_call for e in stream if isinstance(e, llmsync.ToolCallEnd)]
        assert [(c.id, c.parsed_arguments(), c.signature) for c in ends] == [
            ("call_0_get_weather", {"city": "Paris"}, "sig-fake"), ("call_1_get_weather", {"city": "Rome"}, None)]
        assert stream.response.finish_reason is FinishReason.TOOL_CALLS

    def test_a_dropped_stream_is_a_stream_error_with_the_partial_reply(self, client, server):
        server.add(Reply(text="abcdefghijklmnop", chunk_size=4, disconnect_after=2))
        with pytest.raises(llmsync.StreamError) as caught:
            with client.stream("gemini/gemini-2.5-flash", "Hi") as stream:
                list(stream)
        assert caught.value.partial.content == "abcdefgh"

    def test_generate_returns_the_same_response_a_consumed_stream_does(self, client, server):
        reply = Reply(text="Same either way", reasoning="think")
        server.add(reply, reply)
        with client.stream("gemini/gemini-2.5-flash", "Hi") as stream:
            list(stream)
        whole = client.generate("gemini/gemini-2.5-flash", "Hi")
        assert server.requests[1].path == "/v1beta/models/gemini-2.5-flash:generateContent"
        assert (whole.content, whole.reasoning, whole.usage, whole.finish_reason) == (
            stream.response.content, stream.response.reasoning, stream.response.usage, stream.response.finish_reason)


class TestToolLoop:
    def test_second_turn_sends_the_signed_function_call_and_the_named_response(self, client, server):
        server.add(Reply.tools(("get_weather", {"city": "Paris"}), signature="SIG-A"), Reply(text="Sunny in Paris."))
        messages = [Message.user("Weather in Paris?")]
        first = client.generate("gemini/gemini-3-flash-preview", messages, tools=[WEATHER])
        call = first.tool_calls[0]
        assert call.signature == "SIG-A"
        messages += [first.to_message(), Message.tool_response(call.id, "18C, sunny")]
        second = client.generate("gemini/gemini-3-flash-preview", messages, tools=[WEATHER])
        assert second.content == "Sunny in Paris."
        assert server.requests[1].body["contents"] == [
            {"role": "user", "parts": [{"text": "Weather in Paris?"}]},
            {"role": "model", "parts": [
                {"functionCall": {"id": call.id, "name": "get_weather", "args": {"city": "Paris"}},
                 "thoughtSignature": "SIG-A"}]},
            {"role": "user", "parts": [
                {"functionResponse": {"id": call.id, "name": "get_weather", "response": {"output": "18C, sunny"}}}]},
        ]


class TestErrors:
    def test_invalid_argument_is_an_invalid_request_with_its_status(self, gemini_client):
        body = {"error": {"code": 400, "message": "Invalid JSON payload received.", "status": "INVALID_ARGUMENT"}}
        with responses.RequestsMock() as mock:
            mock.post(url(), json=body, status=400)
            with pytest.raises(llmsync.InvalidRequestError, match="Invalid JSON payload") as caught:
                gemini_client.generate("gemini/gemini-2.5-flash", "Hi")
        assert caught.value.error_type == "INVALID_ARGUMENT" and caught.value.status == 400

    def test_an_invalid_key_is_recognised_from_the_error_details(self, gemini_client):
        body = {"error": {"code": 400, "message": "API key not valid. Please pass a valid API key.",
                          "status": "INVALID_ARGUMENT", "details": [
                              {"@type": "type.googleapis.com/google.rpc.ErrorInfo", "reason": "API_KEY_INVALID",
                               "domain": "googleapis.com"}]}}
        with responses.RequestsMock() as mock:
            mock.post(url(), json=body, status=400)
            with pytest.raises(llmsync.LLMError) as caught:
                gemini_client.generate("gemini/gemini-2.5-flash", "Hi")
        assert caught.value.error_type == "API_KEY_INVALID"
        assert "GEMINI_API_KEY" in str(caught.value) and KEY not in str(caught.value)

    def test_too_long_a_prompt_is_a_context_length_error(self, gemini_client):
        body = [{"error": {"code": 400, "status": "INVALID_ARGUMENT", "message":
                           "The input token count (1200293) exceeds the maximum number of tokens allowed (1048576)."}}]
        with responses.RequestsMock() as mock:
            mock.post(url(), json=body, status=400)
            with pytest.raises(llmsync.ContextLengthError):
                gemini_client.generate("gemini/gemini-2.5-flash", "Hi")

    def test_resource_exhausted_is_a_rate_limit(self, client, server):
        server.add(*[Reply.error(429, "Resource has been exhausted (e.g. check quota).")] * 4)
        with pytest.raises(llmsync.RateLimitError) as caught:
            client.generate("gemini/gemini-2.5-flash", "Hi")
        assert caught.value.error_type == "RESOURCE_EXHAUSTED" and caught.value.attempts == 4

    @pytest.mark.parametrize("status", [500, 503])
    def test_internal_and_unavailable_are_retried(self, client, server, status):
        server.add(Reply.error(status, "The model is overloaded."), Reply(text="ok"))
        assert client.generate("gemini/gemini-2.5-flash", "Hi").content == "ok"
        assert len(server.requests) == 2

    def test_the_fake_server_speaks_googles_error_body(self):
        body = llmsync.testing.wire.format_for("/v1beta/models/m:generateContent").error_body(
            Reply.error(503, "overloaded"))
        assert body == {"error": {"code": 503, "message": "overloaded", "status": "UNAVAILABLE"}}


@pytest.mark.parametrize("name", recordings(["gemini"]))
def test_recording_parses_to_what_its_body_says(name, client, server):
    recording = load_recording(name)
    response_spec, expected = recording["response"], recording["expected"]
    path = recording["request"]["url_path"]
    model = path.split("/models/", 1)[1].split(":", 1)[0]
    if ":streamGenerateContent" in path and "alt=sse" not in path:
        # A JSON array of GenerateContentResponse objects: each element is what one SSE
        # data payload would carry.
        parser = GeminiParser("gemini", model)
        events = []
        for element in json.loads(response_spec["body"]):
            events += parser.feed("", json.dumps(element))
        response = parser.finish()
        assert "".join(e.text for e in events if isinstance(e, llmsync.TextDelta)) == expected["text"]
    else:
        server.add(Reply(body=response_spec["body"].encode("utf-8"), status=response_spec["status"],
                         content_type=response_spec["headers"].get("content-type")))
        if "alt=sse" in path:
            with client.stream(f"gemini/{model}", "Hi") as stream:
                events = list(stream)
            response = stream.response
            assert "".join(e.text for e in events if isinstance(e, llmsync.TextDelta)) == expected["text"]
        else:
            response = client.generate(f"gemini/{model}", "Hi")
        assert server.requests[0].path == path
    # Calls Gemini sent without an id get a unique one of ours (tool results pair by id).
    calls = [dict(c, id=c["id"] or made.id) for c, made in zip(expected["tool_calls"], response.tool_calls)]
    assert all(c["id"] == made.id for c, made in zip(calls, response.tool_calls))
    assert_matches_expected(response, dict(expected, tool_calls=calls))


def test_the_recorded_function_call_keeps_its_thought_signature():
    recording = load_recording("gemini_stream_json_array_tool_call.json")
    parser = GeminiParser("gemini", "gemini-3-flash-preview")
    for element in json.loads(recording["response"]["body"]):
        parser.feed("", json.dumps(element))
    call = parser.finish().tool_calls[0]
    assert call.signature.startswith("EosJCogJAb4")
