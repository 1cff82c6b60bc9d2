"""ResponseBuilder and usage: one meaning of Usage on every wire format, refusals,
citations, provider-run tools, and the cost computed where the reply is built."""
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from llmsync import Citation, FinishReason, ServerToolCall, Usage
from llmsync.builder import ResponseBuilder, usage_of
from llmsync.catalog import lookup, price
from llmsync.providers.anthropic_stream import parse_usage as anthropic_usage
from llmsync.providers.gemini_stream import parse_usage as gemini_usage
from llmsync.providers.openai import parse_usage as chat_usage
from llmsync.providers.openai_responses import parse_usage as responses_usage
from llmsync.registry import get_provider

counts = st.one_of(st.none(), st.integers(min_value=0, max_value=10 ** 7), st.just(-1), st.just(2.5),
                   st.just("12"), st.just(True))


def block(**fields):
    """A usage block with each field present or absent (hypothesis drops None values)."""
    return st.fixed_dictionaries({}, optional=fields).map(lambda d: {k: v for k, v in d.items() if v is not None})


CHAT = block(prompt_tokens=counts, completion_tokens=counts, total_tokens=counts,
             prompt_tokens_details=st.fixed_dictionaries({"cached_tokens": counts}),
             completion_tokens_details=st.fixed_dictionaries({"reasoning_tokens": counts}),
             prompt_cache_hit_tokens=counts)
RESPONSES = block(input_tokens=counts, output_tokens=counts, total_tokens=counts,
                  input_tokens_details=st.fixed_dictionaries({"cached_tokens": counts}),
                  output_tokens_details=st.fixed_dictionaries({"reasoning_tokens": counts}))
ANTHROPIC = block(input_tokens=counts, output_tokens=counts, cache_read_input_tokens=counts,
                  cache_creation_input_tokens=counts)
GEMINI = block(promptTokenCount=counts, candidatesTokenCount=counts, totalTokenCount=counts,
               thoughtsTokenCount=counts, cachedContentTokenCount=counts, toolUsePromptTokenCount=counts)


def assert_one_meaning(usage):
    fields = (usage.prompt_tokens, usage.completion_tokens, usage.total_tokens, usage.cache_read_tokens,
              usage.cache_write_tokens, usage.reasoning_tokens)
    assert all(type(n) is int and n >= 0 for n in fields)
    assert usage.total_tokens == usage.prompt_tokens + usage.completion_tokens
    assert usage.cache_read_tokens + usage.cache_write_tokens <= usage.prompt_tokens
    assert usage.reasoning_tokens <= usage.completion_tokens


def whole(value):
    return value if type(value) is int and value > 0 else 0


class TestUsageHasOneMeaningOnEveryWireFormat:
    @settings(max_examples=300)
    @given(CHAT)
    def test_chat_completions(self, wire):
        usage = chat_usage(wire)
        if usage is None:
            return
        assert_one_meaning(usage)
        assert usage.prompt_tokens == whole(wire.get("prompt_tokens"))

    @settings(max_examples=300)
    @given(RESPONSES)
    def test_responses(self, wire):
        usage = responses_usage(wire)
        assert_one_meaning(usage)
        assert usage.completion_tokens == whole(wire.get("output_tokens"))

    @settings(max_examples=300)
    @given(ANTHROPIC)
    def test_anthropic_prompt_counts_cache_reads_and_writes(self, wire):
        usage = anthropic_usage(wire)
        if usage is None:
            return
        assert_one_meaning(usage)
        parts = ("input_tokens", "cache_read_input_tokens", "cache_creation_input_tokens")
        assert usage.prompt_tokens == sum(whole(wire.get(k)) for k in parts)

    @settings(max_examples=300)
    @given(GEMINI)
    def test_gemini_tool_use_prompt_is_input_and_thoughts_are_output(self, wire):
        usage = gemini_usage(wire)
        if usage is None:
            return
        assert_one_meaning(usage)
        assert usage.prompt_tokens == whole(wire.get("promptTokenCount")) + whole(wire.get("toolUsePromptTokenCount"))
        assert usage.completion_tokens == whole(wire.get("candidatesTokenCount")) + whole(
            wire.get("thoughtsTokenCount"))

    @settings(max_examples=200)
    @given(CHAT)
    def test_cost_follows_the_normalized_usage(self, wire):
        builder = ResponseBuilder("openai", "gpt-4o")
        usage = chat_usage(wire)
        if usage is None:
            return
        builder.set_usage(usage)
        assert builder.build().cost == pytest.approx(price(lookup("openai", "gpt-4o"), usage))


class TestVendorQuirks:
    def test_xai_reasoning_reported_outside_completion_is_added_to_it(self):
        # docs.x.ai: reasoning tokens are "counted separately from completion_tokens, but
        # will be counted in the total_tokens" (grok-3-mini: 1 + 386 = 387 of 399).
        usage = chat_usage({"prompt_tokens": 12, "completion_tokens": 1, "total_tokens": 399,
                            "completion_tokens_details": {"reasoning_tokens": 386}})
        assert usage == Usage(12, 387, 399, reasoning_tokens=386)

    def test_openai_reasoning_inside_completion_is_left_there(self):
        usage = chat_usage({"prompt_tokens": 7, "completion_tokens": 87, "total_tokens": 94,
                            "completion_tokens_details": {"reasoning_tokens": 64}})
        assert usage == Usage(7, 87, 94, reasoning_tokens=64)

    def test_gemini_tool_use_prompt_tokens_are_prompt_tokens(self):
        usage = gemini_usage({"promptTokenCount": 32, "candidatesTokenCount": 49, "totalTokenCount": 764,
                              "toolUsePromptTokenCount": 253, "thoughtsTokenCount": 430})
        assert usage == Usage(285, 479, 764, reasoning_tokens=430)

    def test_usage_of_clamps_parts_into_their_whole(self):
        assert usage_of(10, 5, cache_read=30, cache_write=4, reasoning=9) == Usage(10, 5, 15, 10, 0, 5)


class TestBuilder:
    def test_a_refusal_is_not_text_and_ends_as_content_filter(self):
        builder = ResponseBuilder("openai", "gpt-4o")
        assert builder.refusal("No.") is None  # no event: a refusal is never a TextDelta
        builder.finish_reason = FinishReason.STOP
        response = builder.build()
        assert (response.refusal, response.content, response.finish_reason) == (
            "No.", None, FinishReason.CONTENT_FILTER)

    def test_a_refusal_in_a_failed_or_unfinished_reply_keeps_that_finish_reason(self):
        builder = ResponseBuilder("openai", "gpt-4o")
        builder.refusal("No")
        assert builder.build().finish_reason is None
        builder.finish_reason = FinishReason.ERROR
        assert builder.build().finish_reason is FinishReason.ERROR

    def test_citations_keep_order_and_drop_repeats(self):
        builder = ResponseBuilder("gemini", "m")
        for citation in (Citation("u1"), Citation(None, "doc", "text"), Citation("u1")):
            builder.citation(citation)
        assert builder.build().citations == [Citation("u1"), Citation(None, "doc", "text")]

    def test_a_server_tool_result_joins_its_call_by_id(self):
        builder = ResponseBuilder("anthropic", "m")
        builder.server_tool_call(ServerToolCall("s1", "web_search", {"query": "q"}))
        builder.server_tool_output("s1", [{"url": "u"}])
        builder.server_tool_output("s2", "lonely")
        assert builder.build().server_tool_calls == [
            ServerToolCall("s1", "web_search", {"query": "q"}, [{"url": "u"}]),
            ServerToolCall("s2", "", None, "lonely")]

    def test_cost_uses_the_requested_model_when_the_reply_names_an_unknown_snapshot(self):
        builder = ResponseBuilder("openai", "gpt-4o")
        builder.model = "gpt-4o-unheard-of-snapshot"
        builder.set_usage(Usage(1000, 0, 1000))
        assert builder.build().cost == pytest.approx(1000 * lookup("openai", "gpt-4o").input_price / 1e6)

    def test_cost_is_none_for_an_unknown_provider_or_model(self):
        for provider, model in (("no-such-provider", "gpt-4o"), ("openai", "gpt-unknown-9")):
            builder = ResponseBuilder(provider, model)
            builder.set_usage(Usage(1, 1, 2))
            assert builder.build().cost is None

    def test_a_provider_prices_with_its_own_catalog_view(self):
        provider = get_provider("openai-responses")  # falls back to OpenAI's entries
        parser = provider.stream_parser("gpt-4o")
        parser.builder.set_usage(Usage(0, 1_000_000, 1_000_000))
        assert parser.builder.build().cost == pytest.approx(provider.model_meta("gpt-4o").output_price)

    def test_cost_survives_the_json_round_trip(self):
        builder = ResponseBuilder("openai", "gpt-4o")
        builder.set_usage(Usage(10, 10, 20))
        response = builder.build()
        assert type(response).from_json(response.to_json()).cost == response.cost > 0
