"""Fuzzing the providers' stream parsers and body parsers with hypothesis.

Realistic replies (the fake server's renderings and the recorded real ones) are mutated:
events dropped, repeated, renamed or truncated, fields deleted or given values of the
wrong type, unknown events inserted, bodies split at random. Whatever comes in, only
well-formed llmsync events or ``llmsync.LLMError``s may come out.
"""
import json

import pytest
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

import llmsync
from llmsync.errors import LLMError
from llmsync.events import (Completed, ReasoningDelta, TextDelta, ToolCallDelta, ToolCallEnd,
                            ToolCallStart, UsageUpdate)
from llmsync.registry import get_provider, split_model
from llmsync.testing import FakeServer, Reply, sse
from llmsync.transport import PARSE_ERRORS, translated
from llmsync.types import FinishReason, Response, ToolCall, Usage
from tests.conftest import FORMAT_MODELS, sse_events, each_format, load_recording, recordings, wire_format

# model -> the model whose FakeServer wire format seeds it (compatible vendors speak OpenAI's)
SEED_MODEL = {**{model: model for model in FORMAT_MODELS},
              "openrouter/moonshotai/kimi-k2": "openai/gpt-4o-mini",
              "mistral/magistral-medium-latest": "openai/gpt-4o-mini"}

# Derandomized and without a database, so a run is repeatable and writes nothing; no
# shrinking, to stay fast (the explicit regression tests below hold minimal examples).
SETTINGS = dict(deadline=None, database=None, derandomize=True, report_multiple_bugs=False,
                phases=[Phase.explicit, Phase.generate],
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture,
                                       HealthCheck.data_too_large])
MAX_SEED_EVENTS = 40


# -- seeds: realistic replies to mutate ----------------------------------------------------------

RICH = Reply(text="Hé, 日本 😀 done.", reasoning="Let me think.", chunk_size=5,
             tool_calls=[ToolCall("call_1", "lookup", '{"city": "Paris", "days": [1, 2]}')])


def _decoded(data):
    try:
        return json.loads(data)
    except ValueError:
        return RawData(data)


class RawData(str):
    """Event data that is not JSON, kept as it came."""


def _recordings(provider_id):
    """This provider's recorded successful replies."""
    for name in recordings((provider_id,)):
        recording = load_recording(name)
        if recording["response"]["status"] == 200:
            yield recording


_SEEDS = {}


def seeds(model):
    """(streams, bodies): streams as lists of (event name, decoded data), bodies as JSON."""
    if model not in _SEEDS:
        provider_id, model_id = split_model(model)
        wire = wire_format(SEED_MODEL[model])
        streams = [[(name, _decoded(data)) for name, data in
                    sse_events(wire.stream_events(reply, model_id), provider_id)]
                   for reply in (RICH, Reply(text="short"))]
        bodies = [wire.body(RICH, model_id), wire.body(Reply(text="short"), model_id)]
        for recording in _recordings(provider_id):
            body = recording["response"]["body"]
            if "stream" in recording["covers"]:
                events = sse_events([body.encode("utf-8")], provider_id)
                streams.append([(name, _decoded(data)) for name, data in events][:MAX_SEED_EVENTS])
            else:
                bodies.append(json.loads(body))
        _SEEDS[model] = (streams, bodies)
    return _SEEDS[model]


# -- mutations ---------------------------------------------------------------------------------

KEYS = ["type", "index", "id", "name", "text", "content", "delta", "choices", "usage", "message",
        "candidates", "parts", "role", "arguments", "function", "tool_calls", "finish_reason",
        "stop_reason", "item", "output", "response", "error", "partial_json", "thinking", "args"]
EVENT_NAMES = ["message", "message_start", "content_block_start", "content_block_delta",
               "content_block_stop", "message_delta", "message_stop", "ping", "error",
               "response.output_text.delta", "response.completed", "response.failed", "mystery"]

json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-2 ** 70, 2 ** 70)
    | st.floats(allow_nan=False) | st.text(max_size=8),
    lambda children: st.lists(children, max_size=3)
    | st.dictionaries(st.sampled_from(KEYS) | st.text(max_size=4), children, max_size=3),
    max_leaves=6,
)


def _paths(value, prefix=()):
    yield prefix
    if isinstance(value, dict):
        for key, item in value.items():
            yield from _paths(item, prefix + (key,))
    elif isinstance(value, list):
        for position, item in enumerate(value):
            yield from _paths(item, prefix + (position,))


def _copy(value):
    return json.loads(json.dumps(value))


def _replace(value, path, new):
    if not path:
        return new
    value = _copy(value)
    holder = value
    for step in path[:-1]:
        holder = holder[step]
    holder[path[-1]] = new
    return value


def _delete(value, path):
    value = _copy(value)
    holder = value
    for step in path[:-1]:
        holder = holder[step]
    del holder[path[-1]]
    return value


@st.composite
def mutated_value(draw, value):
    """``value`` with one field deleted or set to a value of any type (or left alone)."""
    if isinstance(value, RawData):
        return value
    paths = list(_paths(value))
    op = draw(st.sampled_from(["keep", "set", "set", "delete"]))
    if op == "keep":
        return value
    path = draw(st.sampled_from(paths))
    if op == "delete" and path:
        return _delete(value, path)
    return _replace(value, path, draw(json_values))


def _text(data):
    return data if isinstance(data, RawData) else json.dumps(data, ensure_ascii=False)


OPS = ["keep"] * 5 + ["drop", "repeat", "mutate", "mutate", "retype", "truncate", "rename", "insert"]


@st.composite
def mutated_stream(draw, streams):
    """A list of (event name, data text): a seed stream, mutated event by event."""
    out = []
    for name, data in draw(st.sampled_from(streams)):
        op = draw(st.sampled_from(OPS))
        if op == "drop":
            continue
        if op == "insert":
            out.append((draw(st.sampled_from(EVENT_NAMES)), _text(draw(json_values))))
        if op == "mutate":
            data = draw(mutated_value(data))
        if op == "retype":
            data = draw(json_values)
        if op == "rename":
            name = draw(st.sampled_from(EVENT_NAMES))
        text = _text(data)
        if op == "truncate":
            text = text[:draw(st.integers(0, max(len(text) - 1, 0)))]
        out.append((name, text))
        if op == "repeat":
            out.append((name, text))
    if draw(st.booleans()):  # the stream is cut short
        out = out[:draw(st.integers(0, len(out)))]
    return out


def sse_bytes(events):
    lines = []
    for name, data in events:
        head = "" if name == "message" else f"event: {name}\n"
        body = "\n".join(f"data: {line}" for line in (data.split("\n") or [""]))
        lines.append(f"{head}{body}\n\n")
    return "".join(lines).encode("utf-8")


# -- what may come out ------------------------------------------------------------------------


def _is_count(value):
    return isinstance(value, int) and not isinstance(value, bool)


def _is_text(value):
    return isinstance(value, str)


def check_usage(usage):
    assert isinstance(usage, Usage)
    for name in ("prompt_tokens", "completion_tokens", "total_tokens", "cache_read_tokens",
                 "cache_write_tokens", "reasoning_tokens"):
        assert _is_count(getattr(usage, name)), f"usage.{name} = {getattr(usage, name)!r}"


def check_call(call):
    assert isinstance(call, ToolCall)
    assert _is_text(call.id) and _is_text(call.name) and _is_text(call.arguments), f"{call!r}"


def check_response(response):
    assert isinstance(response, Response)
    assert response.content is None or _is_text(response.content)
    assert response.reasoning is None or _is_text(response.reasoning)
    assert response.finish_reason is None or isinstance(response.finish_reason, FinishReason)
    for call in response.tool_calls:
        check_call(call)
    if response.usage is not None:
        check_usage(response.usage)


def check_event(event):
    if isinstance(event, (TextDelta, ReasoningDelta)):
        assert _is_text(event.text), f"{event!r}"
    elif isinstance(event, ToolCallStart):
        assert _is_count(event.index) and _is_text(event.id) and _is_text(event.name), f"{event!r}"
    elif isinstance(event, ToolCallDelta):
        assert _is_count(event.index) and _is_text(event.arguments), f"{event!r}"
    elif isinstance(event, ToolCallEnd):
        assert _is_count(event.index), f"{event!r}"
        check_call(event.tool_call)
    elif isinstance(event, UsageUpdate):
        check_usage(event.usage)
    elif isinstance(event, Completed):
        check_response(event.response)
    else:
        raise AssertionError(f"not an llmsync event: {event!r}")


# -- parsers, directly --------------------------------------------------------------------------


@pytest.mark.parametrize("model", each_format(SEED_MODEL))
def test_stream_parser_raises_only_llmsync_or_translated_errors(model):
    provider_id, model_id = split_model(model)
    provider = get_provider(provider_id)
    streams, _ = seeds(model)

    @settings(max_examples=100, **SETTINGS)
    @given(mutated_stream(streams))
    def run(events):
        parser = provider.stream_parser(model_id)
        try:
            for name, data in events:
                for event in parser.feed(name, data):
                    check_event(event)
            check_response(parser.finish())
        except LLMError:
            pass
        except PARSE_ERRORS:  # turned into ProviderError by llmsync.transport.translated
            pass

    run()


@pytest.mark.parametrize("model", each_format(SEED_MODEL))
def test_parse_response_raises_only_llmsync_errors_through_translated(model):
    provider_id, model_id = split_model(model)
    provider = get_provider(provider_id)
    _, bodies = seeds(model)

    @settings(max_examples=100, **SETTINGS)
    @given(st.sampled_from(bodies).flatmap(mutated_value) | json_values)
    def run(body):
        try:
            with translated(provider_id):  # as Client._generate calls it
                response = provider.parse_response(body, model_id)
        except LLMError:
            return
        check_response(response)

    run()


# -- the whole library path, over loopback HTTP ------------------------------------------------


@pytest.fixture(scope="module")
def fuzz_server():
    with FakeServer() as server:
        yield server


@pytest.fixture(scope="module")
def fuzz_client(fuzz_server):
    with fuzz_server.client(retry=llmsync.RetryPolicy.none(), timeout=5.0) as client:
        yield client


@pytest.mark.parametrize("model", each_format(SEED_MODEL))
def test_streamed_garbage_yields_valid_events_or_an_llm_error(fuzz_server, fuzz_client, model):
    streams, _ = seeds(model)

    @settings(max_examples=30, **SETTINGS)
    @given(mutated_stream(streams), st.none() | st.integers(1, 64))
    def run(events, split):
        fuzz_server.add(Reply(body=sse_bytes(events), split_bytes=split))
        delivered = []
        try:
            with fuzz_client.stream(model, "hi") as stream:
                for event in stream:
                    check_event(event)
                    delivered.append(event)
        except LLMError as error:
            if error.partial is not None:
                check_response(error.partial)
            assert not any(isinstance(e, Completed) for e in delivered)
            return
        assert isinstance(delivered[-1], Completed)

    run()


@pytest.mark.parametrize("model", each_format(SEED_MODEL))
def test_garbage_bodies_give_a_valid_response_or_an_llm_error(fuzz_server, fuzz_client, model):
    _, bodies = seeds(model)

    @settings(max_examples=30, **SETTINGS)
    @given(st.sampled_from(bodies).flatmap(mutated_value) | json_values,
           st.none() | st.integers(0, 40), st.none() | st.integers(1, 64))
    def run(body, cut, split):
        raw = json.dumps(body, ensure_ascii=False).encode("utf-8")
        fuzz_server.add(Reply(body=raw if cut is None else raw[:cut], split_bytes=split))
        try:
            response = fuzz_client.generate(model, "hi")
        except LLMError:
            return
        check_response(response)

    run()


# -- regressions: wrongly typed wire values ------------------------------------------------------

def _openai_chunk(delta):
    return sse({"id": "c", "object": "chat.completion.chunk", "created": 0, "model": "m",
                "choices": [{"index": 0, "delta": delta, "finish_reason": None}]})


def test_non_string_text_in_a_stream_is_never_passed_on(fuzz_server, fuzz_client):
    fuzz_server.add(Reply(body=_openai_chunk({"content": 1.0}) + _openai_chunk({"content": "ok"})
                          + b"data: [DONE]\n\n"))
    delivered = []
    with pytest.raises(llmsync.ProviderError):
        with fuzz_client.stream("openai/gpt-4o-mini", "hi") as stream:
            for event in stream:
                delivered.append(event)
    assert all(isinstance(e.text, str) for e in delivered if isinstance(e, TextDelta)), delivered


def test_a_stream_breaking_after_non_string_text_raises_an_llm_error(fuzz_server, fuzz_client):
    fuzz_server.add(Reply(body=_openai_chunk({"content": True}) + b"data: {broken\n\n"))
    with pytest.raises(LLMError):
        with fuzz_client.stream("openai/gpt-4o-mini", "hi") as stream:
            list(stream)


def test_non_integer_usage_is_not_passed_on(fuzz_server, fuzz_client):
    body = {"id": "c", "object": "chat.completion", "created": 0, "model": "m",
            "choices": [{"index": 0, "message": {"role": "assistant", "content": "ok"}, "finish_reason": "stop"}],
            "usage": {"prompt_tokens": "10", "completion_tokens": 5, "total_tokens": 15}}
    fuzz_server.add(Reply(body=json.dumps(body).encode("utf-8")))
    try:
        usage = fuzz_client.generate("openai/gpt-4o-mini", "hi").usage
    except llmsync.ProviderError:
        return
    assert usage is None or isinstance(usage.prompt_tokens, int), usage


def test_string_text_and_integer_usage_pass_unchanged(fuzz_server, fuzz_client):
    fuzz_server.add(Reply(text="fine", usage=Usage(3, 2, 5)))
    response = fuzz_client.generate("openai/gpt-4o-mini", "hi")
    assert response.content == "fine" and response.usage.total_tokens == 5


# -- found by review: values no mutation above makes ----------------------------------------------

DEEP = "[" * 100_000 + "]" * 100_000  # past the JSON decoder's recursion limit


@pytest.mark.parametrize("model", each_format())
def test_json_nested_past_the_decoders_depth_is_a_provider_error(fuzz_server, fuzz_client, model):
    fuzz_server.add(Reply(body=DEEP.encode()))
    with pytest.raises(llmsync.ProviderError):
        fuzz_client.generate(model, "hi")
    fuzz_server.add(Reply(body=sse(DEEP)))
    with pytest.raises(llmsync.ProviderError):
        list(fuzz_client.stream(model, "hi"))


def test_a_logprob_too_large_for_a_float_is_a_provider_error(fuzz_server, fuzz_client):
    body = {"id": "c", "object": "chat.completion", "created": 0, "model": "m",
            "choices": [{"index": 0, "message": {"role": "assistant", "content": "ok"}, "finish_reason": "stop",
                         "logprobs": {"content": [{"token": "ok", "logprob": 10 ** 400, "top_logprobs": []}]}}]}
    fuzz_server.add(Reply(body=json.dumps(body).encode("utf-8")))
    with pytest.raises(llmsync.ProviderError, match="OverflowError"):
        fuzz_client.generate("openai/gpt-4o-mini", "hi", logprobs=True)


@pytest.mark.parametrize("model", ["openai/gpt-4o-mini", "openai-responses/gpt-4o"])
def test_top_logprobs_that_are_not_a_list_keep_the_reply(fuzz_server, fuzz_client, model):
    entry = {"token": "ok", "logprob": -0.5, "bytes": [111, 107], "top_logprobs": 5}
    if model.startswith("openai-responses"):
        body = {"id": "r", "object": "response", "status": "completed", "model": "m", "output": [
            {"type": "message", "id": "m1", "role": "assistant", "status": "completed",
             "content": [{"type": "output_text", "text": "ok", "annotations": [], "logprobs": [entry]}]}]}
    else:
        body = {"id": "c", "object": "chat.completion", "created": 0, "model": "m",
                "choices": [{"index": 0, "message": {"role": "assistant", "content": "ok"},
                             "finish_reason": "stop", "logprobs": {"content": [entry]}}]}
    fuzz_server.add(Reply(body=json.dumps(body).encode("utf-8")))
    response = fuzz_client.generate(model, "hi", logprobs=True)
    assert response.content == "ok"
    assert [(p.token, p.logprob, p.top) for p in response.logprobs] == [("ok", -0.5, [])]
