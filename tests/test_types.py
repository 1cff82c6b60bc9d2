"""Types: JSON round trips, string-friendly enums, tool calls and definitions."""
import pytest

from llmsync import (Document, FinishReason, Image, InvalidRequestError, Message, ReasoningBlock,
                     Response, Role, Text, ToolCall, ToolChoice, ToolDefinition, Usage)


class TestMessageJson:
    def test_plain_text_message_round_trips(self):
        message = Message.user("Hello")
        assert Message.from_json(message.to_json()) == message

    def test_message_with_every_part_kind_round_trips(self):
        message = Message.user([Text("look"), Image(url="https://x/y.png"),
                                Image(data="aGk=", media_type="image/png"), Document(data="JVBE")])
        restored = Message.from_json(message.to_json())
        assert restored == message
        assert isinstance(restored.content[1], Image)
        assert isinstance(restored.content[3], Document)

    def test_assistant_with_tool_calls_and_reasoning_round_trips(self):
        message = Message(Role.ASSISTANT, "calling", tool_calls=[ToolCall("c1", "f", '{"a": 1}', "sig")],
                          reasoning=[ReasoningBlock("thought", "s1", provider="anthropic")])
        assert Message.from_json(message.to_json()) == message

    def test_role_serialises_as_its_string_value(self):
        assert Message.tool_response("c1", "42").to_dict()["role"] == "tool"

    def test_unknown_role_is_a_clear_error(self):
        with pytest.raises(InvalidRequestError, match="role must be one of"):
            Message("robot", "hi")

    def test_unknown_part_type_is_a_clear_error(self):
        with pytest.raises(InvalidRequestError, match="unknown content part"):
            Message.from_dict({"role": "user", "content": [{"type": "video", "url": "x"}]})


class TestEnums:
    def test_enums_accept_their_string_values_in_any_case(self):
        assert Role("USER") is Role.USER
        assert FinishReason("tool_calls") is FinishReason.TOOL_CALLS

    def test_enum_members_compare_equal_to_their_values(self):
        assert Role.ASSISTANT == "assistant"
        assert str(FinishReason.LENGTH) == "length"


class TestToolCall:
    def test_parsed_arguments_returns_a_dict(self):
        assert ToolCall("c", "f", '{"city": "Paris"}').parsed_arguments() == {"city": "Paris"}

    def test_empty_arguments_are_an_empty_object(self):
        assert ToolCall("c", "f", "").parsed_arguments() == {}

    def test_invalid_json_names_the_tool_and_the_problem(self):
        with pytest.raises(InvalidRequestError, match="'f'.*invalid JSON"):
            ToolCall("c", "f", '{"city": ').parsed_arguments()

    def test_non_object_arguments_are_rejected(self):
        with pytest.raises(InvalidRequestError, match="must be a JSON object, got list"):
            ToolCall("c", "f", "[1, 2]").parsed_arguments()


class TestToolDefinition:
    def test_valid_definition_passes(self):
        ToolDefinition("get_weather", "w", {"type": "object", "properties": {}}).validate()

    @pytest.mark.parametrize("name", ["", "has space", "x" * 65, "dots.not.ok"])
    def test_bad_names_are_rejected(self, name):
        with pytest.raises(InvalidRequestError, match="tool name"):
            ToolDefinition(name).validate()

    def test_parameters_must_be_an_object_schema(self):
        with pytest.raises(InvalidRequestError, match='"type": "object"'):
            ToolDefinition("f", "", {"type": "string"}).validate()


class TestToolChoice:
    @pytest.mark.parametrize("value, expected", [
        ("auto", ToolChoice.auto()), ("none", ToolChoice.none()), ("any", ToolChoice.any()),
        ("required", ToolChoice.any()), ("get_weather", ToolChoice.function("get_weather")),
    ])
    def test_coerce_accepts_strings(self, value, expected):
        assert ToolChoice.coerce(value) == expected

    def test_forces_tool_only_for_any_and_function(self):
        assert ToolChoice.any().forces_tool and ToolChoice.function("f").forces_tool
        assert not ToolChoice.auto().forces_tool


class TestUsageAndResponse:
    def test_usages_add_field_by_field(self):
        total = Usage(10, 5, 15, 2, 1, 3) + Usage(1, 1, 2, 0, 0, 1)
        assert total == Usage(11, 6, 17, 2, 1, 4)

    def test_to_message_carries_text_tool_calls_and_reasoning_blocks(self):
        block = ReasoningBlock("t", "sig", provider="anthropic")
        response = Response(content="hi", tool_calls=[ToolCall("c", "f", "{}")], reasoning_blocks=[block])
        message = response.to_message()
        assert message.role is Role.ASSISTANT
        assert message.tool_calls == [ToolCall("c", "f", "{}")]
        assert message.reasoning == [block]

    def test_response_round_trips_through_json(self):
        response = Response(content="x", usage=Usage(1, 2, 3), finish_reason=FinishReason.STOP,
                            model="m", provider="openai")
        assert Response.from_json(response.to_json()) == response

    def test_cost_is_a_plain_field_none_unless_the_reply_was_priced(self):
        assert Response(usage=Usage(1, 1, 2), model="gpt-4o", provider="openai").cost is None
        assert Response(cost=0.5).cost == 0.5
