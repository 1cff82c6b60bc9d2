"""Request options: coercion of strings and shortcuts, and clear errors."""
import pytest

from llmsync import (EffortLevel, InvalidRequestError, Message, ParallelToolConfig, Request,
                     RetryCondition, RetryPolicy, ThinkingLevel, ToolChoice)


def test_a_string_prompt_becomes_one_user_message():
    assert Request("openai/gpt-4o", "hi").messages == [Message.user("hi")]


def test_message_dicts_are_accepted():
    request = Request("openai/gpt-4o", [{"role": "user", "content": "hi"}])
    assert request.messages == [Message.user("hi")]


def test_levels_accept_strings():
    request = Request("openai/gpt-4o", "hi", thinking="HIGH", effort="low", tool_choice="required")
    assert request.thinking is ThinkingLevel.HIGH
    assert request.effort is EffortLevel.LOW
    assert request.tool_choice == ToolChoice.any()


def test_bad_level_names_the_choices():
    with pytest.raises(InvalidRequestError, match="thinking must be one of 'off', 'minimal'"):
        Request("openai/gpt-4o", "hi", thinking="extreme")


def test_reasoning_effort_is_an_alias_of_thinking():
    assert Request("openai/o3", "hi", reasoning_effort="low").thinking_level is ThinkingLevel.LOW


def test_a_single_stop_string_becomes_a_list():
    assert Request("openai/gpt-4o", "hi", stop="END").stop == ["END"]


def test_response_format_must_be_a_schema_or_json():
    with pytest.raises(InvalidRequestError, match="response_format"):
        Request("openai/gpt-4o", "hi", response_format="xml")


def test_bad_message_objects_are_rejected():
    with pytest.raises(InvalidRequestError, match="messages must be Message"):
        Request("openai/gpt-4o", [42])


def test_parallel_tool_config_presets():
    assert ParallelToolConfig.sequential_only().max_parallel_tools == 1
    assert ParallelToolConfig.sequential_only().disable_parallel_tool_use
    assert ParallelToolConfig.anthropic_optimized().encourage_parallel


def test_retry_policy_defaults_retry_every_condition_but_read_timeouts():
    assert RetryPolicy().retry_on == frozenset(RetryCondition) - {RetryCondition.READ_TIMEOUT}
    assert RetryPolicy.none().max_retries == 0


@pytest.mark.parametrize("messages, problem", [
    (None, "a string or a list"),
    ([{"content": "x"}], "needs a role"),
    ([{"role": "bot", "content": "x"}], "malformed message"),
])
def test_malformed_messages_are_invalid_requests(messages, problem):
    with pytest.raises(InvalidRequestError, match=problem):
        Request("openai/gpt-4o", messages)


def test_a_tool_dict_needs_a_name():
    with pytest.raises(InvalidRequestError, match="needs a name"):
        Request("openai/gpt-4o", "hi", tools=[{"description": "x"}]).tool_definitions
