"""Every recorded real reply parses to its ``expected`` block, and to the same ``Response``
whether it is fed as a stream or as a whole body (one parse path).

A streamed recording is also folded into the whole body the provider would have sent
(as the official SDKs accumulate a stream); a whole recording is also cut into the
stream events that carry it. No HTTP: the providers' own ``decode_stream``,
``stream_parser`` and ``parse_response``.
"""
import json
import re

import pytest

import llmsync
from llmsync.registry import get_provider
from tests.conftest import load_recording, recordings

FAMILIES = {"anthropic": "anthropic", "gemini": "gemini", "openai-responses": "responses"}


def family(provider_id):
    return FAMILIES.get(provider_id, "chat")


def model_of(recording):
    path = recording["request"]["url_path"]
    if "/models/" in path:
        return path.split("/models/", 1)[1].split(":", 1)[0]
    return recording["request"]["body"]["model"]


def is_stream(recording):
    return "event-stream" in recording["response"]["headers"].get("content-type", "")


def sse(payload, event=None):
    data = payload if isinstance(payload, str) else json.dumps(payload)
    return (f"event: {event}\n" if event else "") + f"data: {data}\n\n"


def feed_stream(provider_id, model, text):
    provider = get_provider(provider_id)
    parser = provider.stream_parser(model)
    events = []
    for name, data in provider.decode_stream(iter([text.encode("utf-8")])):
        events.extend(parser.feed(name, data))
    return events, parser.finish()


def stream_payloads(provider_id, text):
    return [json.loads(data) for _, data in get_provider(provider_id).decode_stream(iter([text.encode()]))
            if data != "[DONE]"]


# -- a stream folded into its whole body -------------------------------------------------------


def chat_body(chunks):
    message = {"role": "assistant", "content": "", "refusal": "", "reasoning_content": ""}
    calls, finish, body = {}, None, {"object": "chat.completion"}
    for chunk in chunks:
        body.setdefault("id", chunk.get("id"))
        body.setdefault("model", chunk.get("model"))
        body.update({k: chunk[k] for k in ("usage", "search_results", "citations") if chunk.get(k)})
        for choice in chunk.get("choices") or ():
            delta = choice.get("delta") or {}
            for key in ("content", "refusal", "reasoning_content"):
                message[key] += delta.get(key) or ""
            for call in delta.get("tool_calls") or ():
                known = calls.setdefault(call["index"], {"id": None, "type": "function",
                                                         "function": {"name": "", "arguments": ""}})
                known["id"] = known["id"] or call.get("id")
                function = call.get("function") or {}
                known["function"]["name"] += function.get("name") or ""
                known["function"]["arguments"] += function.get("arguments") or ""
            finish = choice.get("finish_reason") or finish
    message = {k: v or None for k, v in message.items()}
    if calls:
        message["tool_calls"] = [calls[i] for i in sorted(calls)]
    body["choices"] = [{"index": 0, "message": message, "finish_reason": finish}]
    return body


def anthropic_body(events):
    message, json_parts = None, {}
    for event in events:
        kind = event["type"]
        if kind == "message_start":
            message = dict(event["message"], content=[])
        elif kind == "content_block_start":
            message["content"].append(dict(event["content_block"]))
        elif kind == "content_block_delta":
            block, delta = message["content"][event["index"]], event["delta"]
            if delta["type"] == "text_delta":
                block["text"] += delta["text"]
            elif delta["type"] == "thinking_delta":
                block["thinking"] += delta["thinking"]
            elif delta["type"] == "signature_delta":
                block["signature"] = delta["signature"]
            elif delta["type"] == "citations_delta":
                block.setdefault("citations", []).append(delta["citation"])
            elif delta["type"] == "input_json_delta":
                json_parts[event["index"]] = json_parts.get(event["index"], "") + delta["partial_json"]
        elif kind == "content_block_stop" and event["index"] in json_parts:
            message["content"][event["index"]]["input"] = json.loads(json_parts[event["index"]] or "{}")
        elif kind == "message_delta":
            message["stop_reason"] = event["delta"].get("stop_reason")
            message["usage"].update({k: v for k, v in (event.get("usage") or {}).items() if v is not None})
    return message


def gemini_body(chunks):
    parts, candidate, body = [], {}, {}
    for chunk in chunks:
        body.update({k: v for k, v in chunk.items() if k != "candidates"})
        for found in chunk.get("candidates") or ()[:1]:
            parts += (found.get("content") or {}).get("parts") or []
            candidate.update({k: v for k, v in found.items() if k != "content"})
    body["candidates"] = [dict(candidate, content={"role": "model", "parts": parts})]
    return body


def responses_body(events):
    # The items as each output_item.done event carried them: in this recording the final
    # response object carries the reasoning items' encrypted_content encrypted anew.
    final = next(e["response"] for e in events if e["type"] in ("response.completed", "response.incomplete"))
    return dict(final, output=[e["item"] for e in events if e["type"] == "response.output_item.done"])


WHOLE = {"chat": chat_body, "anthropic": anthropic_body, "gemini": gemini_body, "responses": responses_body}


# -- a whole body cut into stream events -------------------------------------------------------


def chat_stream(body):
    choice = body["choices"][0]
    delta = dict(choice["message"])
    delta["tool_calls"] = [dict(call, index=i) for i, call in enumerate(delta.get("tool_calls") or ())]
    chunk = dict(body, object="chat.completion.chunk",
                 choices=[{"index": 0, "delta": delta, "finish_reason": choice["finish_reason"]}])
    return sse(chunk) + sse("[DONE]")


def anthropic_stream(body):
    out = [sse({"type": "message_start", "message": dict(body, content=[], stop_reason=None)})]
    for index, block in enumerate(body["content"]):
        start, deltas = dict(block), []
        if block["type"] == "text":
            start.update(text="", citations=[])
            deltas = [{"type": "text_delta", "text": block["text"]}]
            deltas += [{"type": "citations_delta", "citation": c} for c in block.get("citations") or ()]
        elif block["type"] in ("tool_use", "server_tool_use"):
            start["input"] = {}
            deltas = [{"type": "input_json_delta", "partial_json": json.dumps(block["input"])}]
        elif block["type"] == "thinking":
            start.update(thinking="", signature="")
            deltas = [{"type": "thinking_delta", "thinking": block["thinking"]},
                      {"type": "signature_delta", "signature": block["signature"]}]
        out.append(sse({"type": "content_block_start", "index": index, "content_block": start}))
        out += [sse({"type": "content_block_delta", "index": index, "delta": d}) for d in deltas]
        out.append(sse({"type": "content_block_stop", "index": index}))
    out.append(sse({"type": "message_delta", "delta": {"stop_reason": body["stop_reason"]}, "usage": body["usage"]}))
    return "".join(out) + sse({"type": "message_stop"})


def gemini_stream(body):
    return "".join(sse(chunk) for chunk in (body if isinstance(body, list) else [body]))


def responses_stream(body):
    out = [sse({"type": "response.created", "response": dict(body, output=[], status="in_progress")})]
    out += [sse({"type": "response.output_item.done", "output_index": i, "item": item})
            for i, item in enumerate(body["output"])]
    done = "response.incomplete" if body.get("status") == "incomplete" else "response.completed"
    return "".join(out) + sse({"type": done, "response": body})


STREAM = {"chat": chat_stream, "anthropic": anthropic_stream, "gemini": gemini_stream, "responses": responses_stream}


# -- the checks --------------------------------------------------------------------------------

_MADE_UP_ID = re.compile(r"^call_[0-9a-f]{32}$")  # Gemini calls without an id get a fresh one


def comparable(response):
    data = response.to_dict()
    for call in data["tool_calls"]:
        if _MADE_UP_ID.match(call["id"]):
            call["id"] = None
    return data


def both_ways(recording):
    provider_id, model = recording["provider"], model_of(recording)
    text = recording["response"]["body"]
    kind = family(provider_id)
    if is_stream(recording):
        events, native = feed_stream(provider_id, model, text)
        whole = get_provider(provider_id).parse_response(WHOLE[kind](stream_payloads(provider_id, text)), model)
        return events, native, whole
    body = json.loads(text)
    native = get_provider(provider_id).parse_response(body, model)
    events, streamed = feed_stream(provider_id, model, STREAM[kind](body))
    return events, native, streamed


def successes():
    return [name for name in recordings() if "error" not in load_recording(name)["expected"]]


@pytest.mark.parametrize("name", successes())
def test_recording_parses_to_its_expected_block(name):
    recording = load_recording(name)
    expected = recording["expected"]
    events, response, _ = both_ways(recording)
    assert (response.content or "") == expected["text"]
    assert "".join(e.text for e in events if isinstance(e, llmsync.TextDelta)) == expected["text"]
    assert response.reasoning == expected["reasoning"]
    calls = [{"id": None if _MADE_UP_ID.match(c.id) else c.id, "name": c.name, "arguments": c.parsed_arguments()}
             for c in response.tool_calls]
    assert calls == expected["tool_calls"]
    assert response.finish_reason.value == expected["finish_reason"]
    assert response.refusal == expected.get("refusal")
    usage = response.usage
    for field, value in expected["usage"].items():
        assert getattr(usage, field) == value, field
    assert usage.total_tokens == usage.prompt_tokens + usage.completion_tokens


@pytest.mark.parametrize("name", successes())
def test_a_stream_and_its_whole_body_give_the_same_response(name):
    _, native, other = both_ways(load_recording(name))
    assert comparable(native) == comparable(other)


def test_a_refusal_is_never_content_nor_a_text_delta():
    events, response, _ = both_ways(load_recording("openai_chat_stream_refusal.json"))
    assert response.refusal == "I'm very sorry, but I can't assist with that request."
    assert response.content is None
    assert not [e for e in events if isinstance(e, llmsync.TextDelta)]
    assert response.finish_reason is llmsync.FinishReason.CONTENT_FILTER


def test_gemini_grounding_chunks_are_citations_and_tool_prompt_tokens_are_input():
    _, response, _ = both_ways(load_recording("gemini_stream_grounding_metadata.json"))
    [citation] = response.citations
    assert citation.url.startswith("https://vertexaisearch.cloud.google.com/grounding-api-redirect/")
    assert citation.title == "morningstar.com"
    assert citation.cited_text == "On January 1, 2026, the price of Bitcoin traded at $88,151.80."
    assert response.usage.prompt_tokens == 32 + 253  # promptTokenCount + toolUsePromptTokenCount
    assert response.content == "On January 1, 2026, the price of Bitcoin traded at $88,151.80."


def test_responses_web_search_is_a_server_tool_call_and_reasoning_stays_encrypted():
    _, response, _ = both_ways(load_recording("openai_responses_stream_web_search_call_encrypted_reasoning.json"))
    [search] = response.server_tool_calls
    assert search.id.startswith("ws_") and search.name == "web_search"
    assert search.input["query"] == "weather: San Francisco, CA"
    assert search.output == [{"type": "api", "name": "oai-weather"}]
    assert response.tool_calls == []
    # The search call goes back in its place between the reasoning items (stateless turns).
    assert [b.kind for b in response.reasoning_blocks] == ["reasoning", "web_search_call", "reasoning"]
    assert all(b.signature.startswith("gAAAA") for b in response.reasoning_blocks if b.kind == "reasoning")


def test_cost_follows_the_normalized_usage():
    _, response, _ = both_ways(load_recording("anthropic_cache_write_and_read.json"))
    meta = get_provider("anthropic").model_meta(response.model)
    usage = response.usage
    uncached = usage.prompt_tokens - usage.cache_read_tokens - usage.cache_write_tokens
    assert uncached == 3
    assert response.cost == pytest.approx((uncached * meta.input_price + usage.cache_read_tokens
                                           * meta.cache_read_price + usage.cache_write_tokens
                                           * meta.cache_write_price + usage.completion_tokens
                                           * meta.output_price) / 1e6)
