"""OpenAI Chat Completions shapes in and out: messages, replies, tool dicts, response_format."""
import base64
import json

import pytest

import llmsync
from llmsync import (Document, FinishReason, Image, InvalidRequestError, Message, Request, Response,
                     Role, Text, ToolCall, ToolDefinition, Usage, tool)
from llmsync.openai_format import normalize_response_format
from llmsync.types import ReasoningBlock

PNG = b"\x89PNG\r\n\x1a\n" + bytes(range(24))
PNG_B64 = base64.b64encode(PNG).decode()
PDF_B64 = base64.b64encode(b"%PDF-1.7 fake").decode()
WEATHER_SCHEMA = {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}

# A stored conversation as the openai SDK takes it: developer instructions, an image by
# data URL and by https URL, a PDF, a tool call and its result, then a follow-up.
CONVERSATION = [
    {"role": "developer", "content": "You are terse."},
    {"role": "user", "content": [
        {"type": "text", "text": "Where is this, and what is the weather there?"},
        {"type": "image_url", "image_url": {"url": f"data:image/png;base64,{PNG_B64}"}}]},
    {"role": "assistant", "content": None, "tool_calls": [
        {"id": "call_1", "type": "function",
         "function": {"name": "get_weather", "arguments": '{"city": "Paris"}'}}]},
    {"role": "tool", "tool_call_id": "call_1", "content": "Sunny, 21C"},
    {"role": "assistant", "content": "Paris: sunny, 21C."},
    {"role": "user", "content": [
        {"type": "text", "text": "And in this photo and this report?"},
        {"type": "image_url", "image_url": {"url": "https://example.com/rome.jpg"}},
        {"type": "file", "file": {"filename": "report.pdf",
                                  "file_data": f"data:application/pdf;base64,{PDF_B64}"}}]},
]
OPENAI_TOOL = {"type": "function",
               "function": {"name": "get_weather", "description": "Weather.", "parameters": WEATHER_SCHEMA}}


def explain(model, messages, **options):
    keys = {provider_id: "sk-test" for provider_id in ("openai", "anthropic", "gemini")}
    with llmsync.Client(api_keys=keys) as client:
        return client.explain(model, messages, **options).body


class TestMessageFromOpenAI:
    def test_developer_is_read_as_system(self):
        assert Message.from_openai({"role": "developer", "content": "Be brief."}) == Message.system("Be brief.")

    def test_image_url_parts_become_images(self):
        message = Message.from_openai(CONVERSATION[1])
        assert message.content == [Text("Where is this, and what is the weather there?"),
                                   Image(data=PNG_B64, media_type="image/png")]
        url_only = Message.from_openai({"role": "user", "content": [
            {"type": "image_url", "image_url": "https://example.com/a.png"}]})
        assert url_only.content == [Image(url="https://example.com/a.png")]

    def test_a_file_part_becomes_a_document_with_its_filename(self):
        document = Message.from_openai(CONVERSATION[5]).content[2]
        assert document == Document(data=PDF_B64, media_type="application/pdf", filename="report.pdf")

    def test_file_data_as_bare_base64_takes_its_type_from_the_filename(self):
        part = {"type": "file", "file": {"filename": "notes.txt", "file_data": "aGk="}}
        document = Message.from_openai({"role": "user", "content": [part]}).content[0]
        assert (document.media_type, document.data) == ("text/plain", "aGk=")

    def test_assistant_tool_calls_and_tool_results(self):
        assistant = Message.from_openai(CONVERSATION[2])
        assert assistant.role is Role.ASSISTANT and assistant.content is None
        assert assistant.tool_calls == [ToolCall("call_1", "get_weather", '{"city": "Paris"}')]
        result = Message.from_openai(CONVERSATION[3])
        assert result == Message.tool_response("call_1", "Sunny, 21C")

    def test_arguments_given_as_an_object_are_encoded(self):
        call = {"id": "c", "type": "function", "function": {"name": "f", "arguments": {"x": 1}}}
        message = Message.from_openai({"role": "assistant", "tool_calls": [call]})
        assert message.tool_calls[0].parsed_arguments() == {"x": 1}

    def test_an_sdk_model_dump_with_null_keys_and_refusal_is_accepted(self):
        dumped = {"role": "assistant", "content": None, "refusal": "I can't help with that.",
                  "annotations": [], "audio": None, "function_call": None, "tool_calls": None}
        assert Message.from_openai(dumped) == Message.assistant("I can't help with that.")

    def test_llmsync_own_dict_form_is_accepted_too(self):
        message = Message(Role.ASSISTANT, [Text("hi"), Image(url="https://x/y.png")],
                          tool_calls=[ToolCall("c1", "f", "{}", "sig")],
                          reasoning=[ReasoningBlock("thought", "s1", provider="anthropic")])
        assert Message.from_openai(message.to_dict()) == message


class TestMessageToOpenAI:
    @pytest.mark.parametrize("index", range(1, len(CONVERSATION)))
    def test_the_conversation_round_trips(self, index):
        assert Message.from_openai(CONVERSATION[index]).to_openai() == CONVERSATION[index]

    def test_system_is_written_as_system(self):
        assert Message.from_openai(CONVERSATION[0]).to_openai() == {"role": "system", "content": "You are terse."}

    def test_reasoning_is_left_out(self):
        message = Message(Role.ASSISTANT, "ok", reasoning=[ReasoningBlock("thought", "sig")])
        assert message.to_openai() == {"role": "assistant", "content": "ok"}

    def test_a_document_by_url_cannot_be_written(self):
        with pytest.raises(InvalidRequestError, match="file_data"):
            Message.user([Document(url="https://x/a.pdf")]).to_openai()


class TestResponseToOpenAI:
    def test_a_reply_with_tool_calls_is_a_chat_completion(self):
        response = Response(content="Checking.", tool_calls=[ToolCall("call_9", "get_weather", '{"city": "Rome"}')],
                            usage=Usage(100, 20, 120, cache_read_tokens=40, reasoning_tokens=5),
                            finish_reason=FinishReason.TOOL_CALLS, model="gpt-4o-mini", id="chatcmpl-1")
        out = response.to_openai()
        assert out["object"] == "chat.completion" and out["id"] == "chatcmpl-1"
        assert out["model"] == "gpt-4o-mini" and isinstance(out["created"], int)
        choice = out["choices"][0]
        assert choice["finish_reason"] == "tool_calls" and choice["index"] == 0
        assert choice["message"] == {
            "role": "assistant", "content": "Checking.", "refusal": None,
            "tool_calls": [{"id": "call_9", "type": "function",
                            "function": {"name": "get_weather", "arguments": '{"city": "Rome"}'}}]}
        assert out["usage"] == {"prompt_tokens": 100, "completion_tokens": 20, "total_tokens": 120,
                                "prompt_tokens_details": {"cached_tokens": 40},
                                "completion_tokens_details": {"reasoning_tokens": 5}}
        json.dumps(out)

    def test_its_message_reads_back_as_the_reply_message(self):
        response = Response(content="Hi.", finish_reason=FinishReason.STOP)
        message = response.to_openai()["choices"][0]["message"]
        assert Message.from_openai(message) == response.to_message()


class TestRequestCoercion:
    def test_openai_dicts_are_messages(self):
        request = Request("openai/gpt-4o-mini", CONVERSATION)
        assert [m.role for m in request.messages] == [Role.SYSTEM, Role.USER, Role.ASSISTANT, Role.TOOL,
                                                      Role.ASSISTANT, Role.USER]

    @pytest.mark.parametrize("messages, problem", [
        ([{"role": "user", "content": "a"}, {"role": "user", "content": "b"},
          {"role": "user", "content": [{"type": "text", "text": "c"}, {"type": "input_audio"}]}],
         r"^messages\[2\]\.content\[1\]: unknown content part type 'input_audio'"),
        ([{"role": "bot", "content": "x"}], r"^messages\[0\]\.role: .*unknown role 'bot'"),
        ([{"role": "user", "content": 42}], r"^messages\[0\]\.content: must be a string or a list"),
        ([{"role": "assistant", "tool_calls": [{"type": "function", "function": {"name": "f"}}]}],
         r"^messages\[0\]\.tool_calls\[0\]\.id: a tool call needs its id"),
        ([{"role": "user", "content": [{"type": "file", "file": {"file_id": "file-abc"}}]}],
         r"^messages\[0\]\.content\[0\]\.file\.file_data: file_id names a file uploaded to OpenAI"),
        ([{"role": "assistant", "function_call": {"name": "f", "arguments": "{}"}}],
         r"^messages\[0\]\.function_call: .*use tool_calls"),
        ([{"role": "user", "content": [{"type": "image_url", "image_url": {"url": 5}}]}],
         r"^messages\[0\]\.content\[0\]\.image_url: needs"),
        ([{"role": "user", "content": [{"type": "image", "path": "/tmp/x.png"}]}],
         r"^messages\[0\]\.content\[0\]\.path: unknown Image field"),
    ])
    def test_bad_dicts_name_the_key_and_index(self, messages, problem):
        with pytest.raises(InvalidRequestError, match=problem):
            Request("openai/gpt-4o-mini", messages)


# -- the conversation on every provider's wire ------------------------------------------------

class TestConversationOnTheWire:
    def test_openai_chat(self):
        body = explain("openai/gpt-4o-mini", CONVERSATION, tools=[OPENAI_TOOL])
        sent = body["messages"]
        assert sent[0] == {"role": "system", "content": "You are terse."}
        assert sent[1]["content"][1] == {"type": "image_url",
                                         "image_url": {"url": f"data:image/png;base64,{PNG_B64}"}}
        assert sent[2]["tool_calls"][0]["function"] == {"name": "get_weather", "arguments": '{"city": "Paris"}'}
        assert sent[3] == {"role": "tool", "tool_call_id": "call_1", "content": "Sunny, 21C"}
        assert sent[5]["content"][1] == {"type": "image_url", "image_url": {"url": "https://example.com/rome.jpg"}}
        assert sent[5]["content"][2]["file"]["file_data"] == f"data:application/pdf;base64,{PDF_B64}"
        assert body["tools"][0]["function"]["parameters"] == WEATHER_SCHEMA

    def test_anthropic(self):
        body = explain("anthropic/claude-sonnet-4-5", CONVERSATION, tools=[OPENAI_TOOL])
        assert "You are terse." in json.dumps(body["system"])
        sent = body["messages"]
        assert [m["role"] for m in sent] == ["user", "assistant", "user", "assistant", "user"]
        assert sent[0]["content"][1] == {
            "type": "image", "source": {"type": "base64", "media_type": "image/png", "data": PNG_B64}}
        assert sent[1]["content"][-1] == {"type": "tool_use", "id": "call_1", "name": "get_weather",
                                          "input": {"city": "Paris"}}
        assert sent[2]["content"][0]["type"] == "tool_result" and sent[2]["content"][0]["tool_use_id"] == "call_1"
        assert "Sunny, 21C" in json.dumps(sent[2]["content"][0])
        assert {"type": "url", "url": "https://example.com/rome.jpg"} in [b.get("source") for b in sent[4]["content"]]
        assert {"type": "base64", "media_type": "application/pdf", "data": PDF_B64} in [
            b.get("source") for b in sent[4]["content"]]
        assert body["tools"][0]["input_schema"] == WEATHER_SCHEMA

    def test_gemini(self):
        body = explain("gemini/gemini-2.5-flash", CONVERSATION, tools=[OPENAI_TOOL])
        assert "You are terse." in json.dumps(body["systemInstruction"])
        contents = body["contents"]
        assert [c["role"] for c in contents] == ["user", "model", "user", "model", "user"]
        assert {"inlineData": {"mimeType": "image/png", "data": PNG_B64}} in contents[0]["parts"]
        call = contents[1]["parts"][-1]["functionCall"]
        assert (call["name"], call["args"]) == ("get_weather", {"city": "Paris"})
        assert contents[2]["parts"][0]["functionResponse"]["name"] == "get_weather"
        assert {"inlineData": {"mimeType": "application/pdf", "data": PDF_B64}} in contents[4]["parts"]
        assert body["tools"][0]["functionDeclarations"][0]["name"] == "get_weather"

    def test_openai_responses(self):
        body = explain("openai-responses/gpt-5-mini", CONVERSATION, tools=[OPENAI_TOOL])
        assert body["instructions"] == "You are terse."
        items = body["input"]
        assert {"type": "input_image", "image_url": f"data:image/png;base64,{PNG_B64}"}.items() <= \
            next(p for p in items[0]["content"] if p["type"] == "input_image").items()
        call = next(i for i in items if i.get("type") == "function_call")
        assert (call["call_id"], call["name"], call["arguments"]) == ("call_1", "get_weather", '{"city": "Paris"}')
        output = next(i for i in items if i.get("type") == "function_call_output")
        assert output == {"type": "function_call_output", "call_id": "call_1", "output": "Sunny, 21C"}
        files = [p for i in items if isinstance(i.get("content"), list) for p in i["content"]
                 if p.get("type") == "input_file"]
        assert files and files[0]["file_data"] == f"data:application/pdf;base64,{PDF_B64}"
        assert body["tools"][0]["parameters"] == WEATHER_SCHEMA

    @pytest.mark.parametrize("model", ["groq/llama-3.3-70b-versatile", "mistral/mistral-large-latest",
                                       "openrouter/openai/gpt-4o"])
    def test_compatible_vendors_get_the_chat_form(self, model):
        keys = {model.split("/")[0]: "sk-test"}
        with llmsync.Client(api_keys=keys) as client:
            body = client.explain(model, CONVERSATION[:5]).body
        call_id = body["messages"][2]["tool_calls"][0]["id"]  # Mistral rewrites ids to its own form
        assert body["messages"][2]["tool_calls"][0]["function"]["name"] == "get_weather"
        assert body["messages"][3]["tool_call_id"] == call_id
        assert body["messages"][1]["content"][1]["image_url"]["url"].startswith("data:image/png;base64,")


# -- tools in every shape ---------------------------------------------------------------------

@tool
def get_weather(city: str) -> str:
    """Weather."""
    return city


class TestToolShapes:
    SHAPES = [
        ToolDefinition("get_weather", "Weather.", WEATHER_SCHEMA),
        get_weather,
        OPENAI_TOOL,
        {"name": "get_weather", "description": "Weather.", "input_schema": WEATHER_SCHEMA},
        {"type": "custom", "name": "get_weather", "description": "Weather.", "input_schema": WEATHER_SCHEMA},
        {"type": "function", "name": "get_weather", "description": "Weather.", "parameters": WEATHER_SCHEMA},
        ToolDefinition("get_weather", "Weather.", WEATHER_SCHEMA).to_dict(),
    ]

    @pytest.mark.parametrize("shape", SHAPES)
    def test_every_shape_gives_the_same_definition(self, shape):
        definition = Request("openai/gpt-4o-mini", "hi", tools=[shape]).tool_definitions[0]
        assert definition == ToolDefinition("get_weather", "Weather.", WEATHER_SCHEMA)

    @pytest.mark.parametrize("shape", SHAPES)
    @pytest.mark.parametrize("model, schema_of", [
        ("openai/gpt-4o-mini", lambda body: body["tools"][0]["function"]["parameters"]),
        ("anthropic/claude-sonnet-4-5", lambda body: body["tools"][0]["input_schema"]),
    ])
    def test_every_shape_gives_the_same_wire_schema(self, shape, model, schema_of):
        assert schema_of(explain(model, "hi", tools=[shape])) == WEATHER_SCHEMA

    @pytest.mark.parametrize("tools, problem", [
        ([OPENAI_TOOL, {"description": "x"}], r"^tools\[1\]\.name: a tool dict needs a name"),
        ([{"type": "function", "function": {"description": "x"}}], r"^tools\[0\]\.function\.name: "),
        ([{"type": "web_search_20250305", "name": "web_search"}], r"^tools\[0\]\.type: .* not a function tool"),
        ([{"name": "f", "parameters": {}, "input_schema": {}}], r"^tools\[0\]: give parameters .* not both"),
        ([{"name": "f", "input_schema": "object"}], r"^tools\[0\]\.input_schema: must be a JSON Schema"),
        ([42], r"^tools\[0\]: tools must be"),
    ])
    def test_bad_tools_name_the_index(self, tools, problem):
        with pytest.raises(InvalidRequestError, match=problem):
            Request("openai/gpt-4o-mini", "hi", tools=tools).tool_definitions


# -- response_format --------------------------------------------------------------------------

SCHEMA = {"type": "object", "properties": {"answer": {"type": "string"}}, "required": ["answer"]}


class TestResponseFormat:
    @pytest.mark.parametrize("given, expected", [
        ("json", "json"),
        ({"type": "json_object"}, "json"),
        ({"type": "text"}, None),
        (SCHEMA, SCHEMA),
        ({"anyOf": [SCHEMA, {"type": "null"}]}, {"anyOf": [SCHEMA, {"type": "null"}]}),
        ({"type": "json_schema", "json_schema": {"name": "answer", "schema": SCHEMA, "strict": True}},
         {**SCHEMA, "title": "answer"}),
        ({"type": "json_schema", "json_schema": {"name": "answer", "schema": {**SCHEMA, "title": "Mine"}}},
         {**SCHEMA, "title": "Mine"}),
        ({"type": "json_schema", "json_schema": {"name": "free"}}, "json"),
    ])
    def test_one_canonical_form(self, given, expected):
        assert Request("openai/gpt-4o-mini", "hi", response_format=given).response_format == expected
        assert normalize_response_format(given) == expected

    @pytest.mark.parametrize("given, problem", [
        ({"type": "json_schema"}, "json_schema must be"),
        ({"type": "json_schema", "json_schema": {"name": "x", "schema": "object"}}, "must be a JSON Schema dict"),
        ({"type": "xml"}, "unknown type 'xml'"),
        (42, "response_format must be"),
    ])
    def test_bad_forms_are_refused(self, given, problem):
        with pytest.raises(InvalidRequestError, match=problem):
            Request("openai/gpt-4o-mini", "hi", response_format=given)

    def test_the_openai_form_is_not_wrapped_twice(self):
        form = {"type": "json_schema", "json_schema": {"name": "answer", "schema": SCHEMA, "strict": True}}
        sent = explain("openai/gpt-4o-mini", "hi", response_format=form)["response_format"]
        assert sent["type"] == "json_schema"
        assert sent["json_schema"]["name"] == "answer"
        assert sent["json_schema"]["schema"]["properties"] == SCHEMA["properties"]
        assert "json_schema" not in json.dumps(sent["json_schema"]["schema"])

    @pytest.mark.parametrize("model, schema_of", [
        ("anthropic/claude-sonnet-4-5", lambda body: body["output_config"]["format"]["schema"]),
        ("gemini/gemini-2.5-flash", lambda body: body["generationConfig"]["responseJsonSchema"]),
        ("openai-responses/gpt-5-mini", lambda body: body["text"]["format"]["schema"]),
    ])
    def test_other_providers_receive_the_schema_itself(self, model, schema_of):
        form = {"type": "json_schema", "json_schema": {"name": "answer", "schema": SCHEMA}}
        schema = schema_of(explain(model, "hi", response_format=form))
        assert schema["properties"] == SCHEMA["properties"]
        assert "json_schema" not in json.dumps(schema)


# -- the README's "Coming from the openai SDK" flow, against the fake server ------------------

@pytest.mark.parametrize("model", ["openai/gpt-4o-mini", "anthropic/claude-sonnet-4-5", "gemini/gemini-2.5-flash"])
def test_an_openai_shaped_loop_runs_on_any_provider(model, server, client):
    from llmsync.testing import Reply

    server.add(Reply.tools(("get_weather", {"city": "Paris"})), Reply(text="Sunny in Paris."))
    messages = [CONVERSATION[0], {"role": "user", "content": [
        {"type": "text", "text": "Weather where this was taken?"},
        {"type": "image_url", "image_url": {"url": f"data:image/png;base64,{PNG_B64}"}}]}]
    reply = client.generate(model, messages, tools=[OPENAI_TOOL])
    messages.append(reply.to_openai()["choices"][0]["message"])
    for call in reply.tool_calls:
        messages.append({"role": "tool", "tool_call_id": call.id,
                         "content": f"Sunny, 21C in {call.parsed_arguments()['city']}"})
    reply = client.generate(model, messages, tools=[OPENAI_TOOL])
    assert reply.content == "Sunny in Paris."
    assert "Sunny, 21C in Paris" in json.dumps(server.requests[1].body)
    assert PNG_B64 in json.dumps(server.requests[1].body)
