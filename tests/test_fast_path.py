"""The per-event fast paths give exactly what the plain paths give.

Three shortcuts sit on the per-event path (benchmarks/README.rst, "Where the time goes"):
``wire_json.decode_event`` decodes an event's JSON without ``json.loads``'s whitespace
scans; Chat Completions reads a chunk that is nothing but a text or tool-call delta
(``openai_stream._lone_delta``), and Gemini a part that is nothing but text
(``gemini_stream._text_only``), without the look-ups the rarer fields need. Every
recorded reply (tests/fixtures/recorded and recorded_cloud) must give the same events and
the same ``Response``, or the same error, with the shortcuts turned off.
"""
import base64
import json
import os
import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from llmsync.errors import LLMError
from llmsync.providers import gemini_stream
from llmsync.providers import openai_stream as chat
from llmsync.providers import wire_json
from llmsync.providers.base import decode_json
from llmsync.registry import get_provider
from llmsync.transport import PARSE_ERRORS

FIXTURES = os.path.join(os.path.dirname(__file__), "fixtures")
_MADE_UP_ID = re.compile(r"call_[0-9a-f]{32}")  # Gemini calls without an id get a fresh one


def recorded():
    return [pytest.param(folder, name, id=name)
            for folder in ("recorded", "recorded_cloud")
            for name in sorted(os.listdir(os.path.join(FIXTURES, folder))) if name.endswith(".json")]


def _body(response):
    if "body_base64" in response:
        return base64.b64decode(response["body_base64"])
    return response["body"].encode("utf-8")


def _is_stream(provider_id, response):
    content_type = response["headers"].get("content-type") or response["headers"].get("Content-Type") or ""
    return any(kind in content_type for kind in get_provider(provider_id).stream_content_types)


def outcome(provider_id, model, body, stream):
    """Every event and the ``Response`` (or the error) a provider makes of ``body``, as text."""
    provider = get_provider(provider_id)
    events = []
    try:
        if stream:
            parser = provider.stream_parser(model)
            # Cut into 7-byte pieces: events straddle reads, as they do on the wire.
            pieces = (body[i:i + 7] for i in range(0, len(body), 7))
            for name, data in provider.decode_stream(pieces):
                events.extend(parser.feed(name, data))
            result = parser.finish().to_dict()
        else:
            result = provider.parse_response(json.loads(body), model).to_dict()
    except (LLMError,) + PARSE_ERRORS as error:  # the exchange reports the others as ProviderError
        result = f"{type(error).__name__}: {error}"
    return _MADE_UP_ID.sub("call_*", repr((events, result)))


def plain_paths(monkeypatch):
    """Turn the shortcuts off: every event goes through ``json.loads`` and the whole parser."""
    def never(*args):
        raise ValueError("fast path off")

    monkeypatch.setattr(wire_json, "_scan_once", never)
    monkeypatch.setattr(chat, "_lone_delta", lambda chunk: None)
    monkeypatch.setattr(gemini_stream, "_text_only", lambda part: None)


@pytest.mark.parametrize("folder, name", recorded())
def test_every_recording_reads_the_same_with_the_fast_paths_off(folder, name, monkeypatch):
    with open(os.path.join(FIXTURES, folder, name), encoding="utf-8") as handle:
        recording = json.load(handle)
    response = recording["response"]
    if response.get("status", 200) >= 300:
        pytest.skip("an error reply never reaches a parser")
    body = recording["request"].get("body")
    model = body.get("model") if isinstance(body, dict) and body.get("model") else "recorded-model"
    provider_id = recording["provider"]
    args = (provider_id, model, _body(response), _is_stream(provider_id, response))
    fast = outcome(*args)
    plain_paths(monkeypatch)
    assert outcome(*args) == fast


def _chat_sse(*chunks):
    return b"".join(b"data: " + json.dumps(chunk).encode() + b"\n\n" for chunk in chunks) + b"data: [DONE]\n\n"


def _choice(delta, **fields):
    return {"choices": [dict({"index": 0, "delta": delta}, **fields)]}


# Chunks at the edge of what the Chat Completions shortcut takes.
EDGES = {
    "text and role": [_choice({"role": "assistant", "content": "Hi"}), _choice({"content": ""}),
                      _choice({}, finish_reason="stop")],
    "index null": [_choice({"content": "a"}, index=None), _choice({"content": "b"}, finish_reason="stop")],
    "empty usage and logprobs": [dict(_choice({"content": "a"}, logprobs={}), usage={}),
                                 _choice({"content": "b"}, logprobs=None, finish_reason="stop")],
    "null content": [_choice({"content": None}), _choice({"role": "assistant"}), _choice({}, finish_reason="stop")],
    "not a string": [_choice({"content": 5})],
    "two choices": [{"choices": [{"index": 1, "delta": {"content": "x"}}, {"index": 0, "delta": {"content": "y"}}]},
                    _choice({}, finish_reason="stop")],
    "tool calls": [_choice({"tool_calls": [{"index": 0, "id": "c1", "function": {"name": "f", "arguments": ""}}]}),
                   _choice({"tool_calls": [{"index": 0, "function": {"arguments": "{\"a\""}}]}),
                   _choice({"tool_calls": [{"function": {"arguments": ":1}"}}, "junk"]}),
                   _choice({"tool_calls": None}),
                   _choice({}, finish_reason="tool_calls")],
    "tool call text and usage together": [
        dict(_choice({"content": "a", "tool_calls": [{"index": 0, "id": "c", "function": {"name": "f"}}]}),
             usage={"prompt_tokens": 1, "completion_tokens": 2}),
        _choice({}, finish_reason="stop")],
}


@pytest.mark.parametrize("provider_id", ["openai", "mistral", "openrouter", "azure"])
@pytest.mark.parametrize("edge", sorted(EDGES) + ["padded JSON"])
def test_chat_chunks_at_the_edge_of_the_shortcut_read_the_same_without_it(edge, provider_id, monkeypatch):
    body = _chat_sse(*EDGES[edge]) if edge != "padded JSON" else b'data:  {"choices": []} \n\ndata: [DONE]\n\n'
    fast = outcome(provider_id, "gpt-4o-mini", body, stream=True)
    plain_paths(monkeypatch)
    assert outcome(provider_id, "gpt-4o-mini", body, stream=True) == fast


def _gemini_sse(*parts, finish="STOP"):
    chunks = [{"candidates": [{"content": {"role": "model", "parts": [part]}}]} for part in parts]
    chunks[-1]["candidates"][0]["finishReason"] = finish
    return b"".join(b"data: " + json.dumps(chunk).encode() + b"\r\n\r\n" for chunk in chunks)


@pytest.mark.parametrize("parts", [
    [{"text": "a"}, {"text": ""}, {"text": "b", "thought": True}, {"text": "c", "thoughtSignature": "sig"}],
    [{"text": 5}, {"functionCall": {"name": "f", "args": {"x": 1}}, "thoughtSignature": "s"}, {"text": "d"}],
    [{"executableCode": {"language": "PYTHON", "code": "1"}}, {"codeExecutionResult": {"output": "1"}}],
], ids=["text and thoughts", "odd parts", "code execution"])
def test_gemini_parts_at_the_edge_of_the_shortcut_read_the_same_without_it(parts, monkeypatch):
    body = _gemini_sse(*parts)
    fast = outcome("gemini", "gemini-2.5-flash", body, stream=True)
    plain_paths(monkeypatch)
    assert outcome("gemini", "gemini-2.5-flash", body, stream=True) == fast


def _decoded(data):
    try:
        return "value", wire_json.decode_event(data, "p")
    except LLMError as error:
        return "error", str(error)


def _loaded(data):
    try:
        return "value", decode_json(data, "p")
    except LLMError as error:
        return "error", str(error)


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=5),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=3), inner, max_size=3),
    max_leaves=8)


@settings(max_examples=300, deadline=None)
@given(value=json_values, before=st.sampled_from(["", " ", "\n", "\ufeff", "x"]),
       after=st.sampled_from(["", " ", "\r\n", "}", "x", " 1"]))
def test_decode_event_gives_what_json_loads_gives(value, before, after):
    data = before + json.dumps(value) + after
    assert _decoded(data) == _loaded(data)


@settings(max_examples=300, deadline=None)
@given(data=st.text(max_size=30))
def test_decode_event_on_any_text_gives_what_json_loads_gives(data):
    assert _decoded(data) == _loaded(data)


# -- per-event work only a few vendors need lives in their own parser --------------------------


def _read_stream(provider_id, body):
    provider = get_provider(provider_id)
    parser = provider.stream_parser("sonar")
    for name, data in provider.decode_stream(iter([body])):
        parser.feed(name, data)
    return parser.finish()


def test_perplexity_sources_on_every_chunk_are_its_citations_once_each():
    sources = [{"title": "A", "url": "https://a.example", "date": None}, {"title": "B", "url": "https://b.example"}]
    body = _chat_sse(dict(_choice({"content": "Hi"}), search_results=sources),
                     dict(_choice({"content": " there"}), search_results=sources),
                     dict(_choice({}, finish_reason="stop"), search_results=sources))
    response = _read_stream("perplexity", body)
    assert response.content == "Hi there"
    assert [(c.url, c.title) for c in response.citations] == [("https://a.example", "A"), ("https://b.example", "B")]


def test_perplexity_older_citation_urls_are_read_too():
    body = _chat_sse(dict(_choice({"content": "Hi"}, finish_reason="stop"), citations=["https://a.example", 3]))
    assert [c.url for c in _read_stream("perplexity", body).citations] == ["https://a.example"]


def test_other_chat_vendors_do_not_look_for_perplexity_sources():
    body = _chat_sse(dict(_choice({"content": "Hi"}, finish_reason="stop"), citations=["https://a.example"]))
    assert _read_stream("openai", body).citations == []


def _anthropic_sse(*events):
    return b"".join(f"event: {e['type']}\ndata: {json.dumps(e)}\n\n".encode() for e in events)


def test_anthropic_text_blocks_are_read_back_whole_at_the_end_when_a_reply_cites():
    citation = {"type": "web_search_result_location", "url": "https://a.example", "title": "A",
                "cited_text": "w", "encrypted_index": "enc"}
    body = _anthropic_sse(
        {"type": "message_start", "message": {"id": "m", "model": "claude", "usage": {"input_tokens": 1}}},
        {"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}},
        {"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": "Hel"}},
        {"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": "lo "}},
        {"type": "content_block_stop", "index": 0},
        {"type": "content_block_start", "index": 1, "content_block": {"type": "text", "text": "wo"}},
        {"type": "content_block_delta", "index": 1, "delta": {"type": "citations_delta", "citation": citation}},
        {"type": "content_block_delta", "index": 1, "delta": {"type": "text_delta", "text": "rld"}},
        {"type": "content_block_stop", "index": 1},
        {"type": "message_delta", "delta": {"stop_reason": "end_turn"}, "usage": {"output_tokens": 3}},
        {"type": "message_stop"})
    provider = get_provider("anthropic")
    parser = provider.stream_parser("claude-sonnet-4-5")
    for name, data in provider.decode_stream(iter([body])):
        parser.feed(name, data)
    response = parser.finish()
    assert response.content == "Hello world"
    assert [(b.kind, b.text) for b in response.reasoning_blocks] == [("text", "Hello "), ("text", "world")]
    assert json.loads(response.reasoning_blocks[1].data) == {"type": "text", "text": "world", "citations": [citation]}
    assert [c.url for c in response.citations] == ["https://a.example"]


@pytest.mark.parametrize("name, module, shortcut", [
    ("openai_chat_stream_text_include_usage.json", chat, "_lone_delta"),
    ("gemini_stream_grounding_metadata.json", gemini_stream, "_text_only"),
])
def test_the_shortcuts_take_the_recorded_streams_deltas(name, module, shortcut, monkeypatch):
    """So the comparison above compares two different paths."""
    taken = []
    original = getattr(module, shortcut)

    def counted(value):
        found = original(value)
        taken.append(found is not None)
        return found

    monkeypatch.setattr(module, shortcut, counted)
    with open(os.path.join(FIXTURES, "recorded", name), encoding="utf-8") as handle:
        recording = json.load(handle)
    outcome(recording["provider"], "recorded-model", _body(recording["response"]), stream=True)
    assert sum(taken) >= 1 and sum(taken) >= len(taken) // 2
