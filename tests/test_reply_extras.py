"""What a reply carries besides text (DESIGN.md): refusals, citations and provider-run tools,
scripted on the FakeServer in each wire format, streamed and whole, and what goes back
in the next turn.
"""
import json

import pytest

import llmsync
from llmsync import Citation, FinishReason, Message, ServerToolCall
from llmsync.registry import get_provider
from llmsync.testing import Reply
from tests.conftest import each_format

WEB = Citation("https://example.org/paris", "Paris facts", "Paris is the capital")
SEARCH = ServerToolCall("srvtoolu_1", "web_search", {"query": "capital of France"},
                        [{"type": "web_search_result", "url": WEB.url, "title": WEB.title,
                          "encrypted_content": "enc-1"}])
CODE = ServerToolCall("code_0", "code_execution", {"language": "PYTHON", "code": "print(6 * 7)"},
                      {"outcome": "OUTCOME_OK", "output": "42\n"})


def reply_of(client, model, stream):
    if stream:
        with client.stream(model, "Hi") as events:
            delivered = list(events)
        return delivered, events.response
    return None, client.generate(model, "Hi")


def texts(events):
    return "".join(e.text for e in events or () if isinstance(e, llmsync.TextDelta))


@pytest.mark.parametrize("stream", [True, False], ids=["stream", "whole"])
class TestRefusals:
    @pytest.mark.parametrize("model", each_format(["openai/gpt-4o-mini", "openai-responses/gpt-5-mini"]))
    def test_an_explicit_refusal_is_response_refusal_never_content(self, client, server, model, stream):
        server.add(Reply(refusal="I can't help with that."))
        events, response = reply_of(client, model, stream)
        assert response.refusal == "I can't help with that."
        assert response.content is None and texts(events) == ""
        assert response.finish_reason is FinishReason.CONTENT_FILTER

    @pytest.mark.parametrize("model", each_format(["anthropic/claude-sonnet-4-5", "gemini/gemini-2.5-flash"]))
    def test_other_content_filter_endings_keep_their_text_in_content(self, client, server, model, stream):
        server.add(Reply(text="Partial answer. ", refusal="I won't continue."))
        events, response = reply_of(client, model, stream)
        assert response.content == "Partial answer. I won't continue."
        assert response.refusal is None
        assert response.finish_reason is FinishReason.CONTENT_FILTER


@pytest.mark.parametrize("stream", [True, False], ids=["stream", "whole"])
class TestCitations:
    @pytest.mark.parametrize("model", each_format())
    def test_citations_of_every_format_are_response_citations(self, client, server, model, stream):
        server.add(Reply(text="Paris is the capital of France.", citations=[WEB]))
        events, response = reply_of(client, model, stream)
        assert response.citations == [WEB]
        assert response.content == "Paris is the capital of France."
        if stream:
            assert texts(events) == response.content

    def test_an_anthropic_document_citation_keeps_its_title_and_text_without_a_url(self, client, server, stream):
        cited = Citation(None, "handbook.pdf", "Paris is the capital")
        server.add(Reply(text="Paris is the capital of France.", citations=[cited]))
        _, response = reply_of(client, "anthropic/claude-sonnet-4-5", stream)
        assert response.citations == [cited]


@pytest.mark.parametrize("stream", [True, False], ids=["stream", "whole"])
class TestServerToolCalls:
    @pytest.mark.parametrize("model, call", [
        pytest.param("anthropic/claude-sonnet-4-5", SEARCH, id="anthropic"),
        pytest.param("openai-responses/gpt-5-mini", ServerToolCall("ws_1", "web_search", {
            "type": "search", "query": "capital of France"}, [{"type": "url", "url": WEB.url}]), id="responses"),
        pytest.param("openai-responses/gpt-5-mini", ServerToolCall("ci_1", "code_interpreter", {
            "code": "print(6 * 7)", "container_id": "cntr_fake"}, [{"type": "logs", "logs": "42\n"}]),
            id="responses-code"),
        pytest.param("gemini/gemini-2.5-flash", CODE, id="gemini"),
    ])
    def test_provider_run_tools_are_server_tool_calls_never_tool_calls_or_text(
            self, client, server, model, call, stream):
        server.add(Reply(text="The answer is 42.", server_tool_calls=[call]))
        events, response = reply_of(client, model, stream)
        if call.name == "web_search" and model.startswith("openai-responses"):
            call = ServerToolCall(call.id, call.name, dict(call.input, sources=call.output), call.output)
        assert response.server_tool_calls == [call]
        assert response.tool_calls == [] and response.finish_reason is FinishReason.STOP
        assert response.content == "The answer is 42."
        if stream:
            assert texts(events) == "The answer is 42."
            assert not [e for e in events if isinstance(e, llmsync.ToolCallStart)]


class TestTheNextTurn:
    def second_body(self, client, server, model, reply, stream=True):
        server.add(reply, Reply(text="ok"))
        _, first = reply_of(client, model, stream)
        client.generate(model, [Message.user("Hi"), first.to_message(), Message.user("And Rome?")])
        return first, server.requests[1].body

    @pytest.mark.parametrize("stream", [True, False], ids=["stream", "whole"])
    def test_anthropic_server_tool_blocks_and_citations_go_back_exactly(self, client, server, stream):
        reply = Reply(text="Paris is the capital of France.", citations=[WEB], server_tool_calls=[SEARCH],
                      reasoning="Search first.")
        first, body = self.second_body(client, server, "anthropic/claude-sonnet-4-5", reply, stream)
        sent = body["messages"][1]
        assert sent["role"] == "assistant"
        assert [b["type"] for b in sent["content"]] == [
            "thinking", "server_tool_use", "web_search_tool_result", "text"]
        assert sent["content"][0] == {"type": "thinking", "thinking": "Search first.", "signature": "sig-fake"}
        assert sent["content"][1] == {"type": "server_tool_use", "id": "srvtoolu_1", "name": "web_search",
                                      "input": {"query": "capital of France"}}
        assert sent["content"][2]["content"] == SEARCH.output
        assert sent["content"][3]["text"] == "Paris is the capital of France."
        assert sent["content"][3]["citations"][0]["encrypted_index"] == "enc-fake"
        assert sent["content"][3]["citations"][0]["url"] == WEB.url

    def test_anthropic_edited_text_goes_back_instead_of_the_recorded_blocks(self, client, server):
        server.add(Reply(text="Paris.", citations=[WEB], server_tool_calls=[SEARCH]), Reply(text="ok"))
        message = client.generate("anthropic/claude-sonnet-4-5", "Hi").to_message()
        message.content = "Edited."
        client.generate("anthropic/claude-sonnet-4-5", [Message.user("Hi"), message, Message.user("More")])
        sent = server.requests[1].body["messages"][1]["content"]
        assert [b["type"] for b in sent] == ["server_tool_use", "web_search_tool_result", "text"]
        assert sent[-1] == {"type": "text", "text": "Edited."}

    def test_anthropic_redacted_thinking_goes_back_with_its_data(self):
        body = {"id": "msg_1", "type": "message", "role": "assistant", "model": "claude-sonnet-4-5",
                "content": [{"type": "redacted_thinking", "data": "opaque=="}, {"type": "text", "text": "Hi"}],
                "stop_reason": "end_turn", "usage": {"input_tokens": 1, "output_tokens": 1}}
        provider = get_provider("anthropic")
        message = provider.parse_response(body, "claude-sonnet-4-5").to_message()
        plan = provider.build_request(llmsync.Request(model="anthropic/claude-sonnet-4-5", messages=[
            Message.user("Hi"), message, Message.user("Again")]), "claude-sonnet-4-5")
        assert plan.body["messages"][1]["content"] == [
            {"type": "redacted_thinking", "data": "opaque=="}, {"type": "text", "text": "Hi"}]

    def test_gemini_code_execution_parts_go_back_as_they_came(self, client, server):
        reply = Reply(text="42.", server_tool_calls=[CODE])
        _, body = self.second_body(client, server, "gemini/gemini-2.5-flash", reply)
        parts = body["contents"][1]["parts"]
        assert parts[0] == {"executableCode": {"language": "PYTHON", "code": "print(6 * 7)"}}
        assert parts[1] == {"codeExecutionResult": {"outcome": "OUTCOME_OK", "output": "42\n"}}
        assert parts[2] == {"text": "42."}

    def test_responses_encrypted_reasoning_goes_back_before_the_message(self, client, server):
        reply = Reply(text="Paris.", reasoning="Think.", signature="enc-reasoning", citations=[WEB],
                      server_tool_calls=[ServerToolCall("ws_1", "web_search", {"query": "q"}, None)])
        first, body = self.second_body(client, server, "openai-responses/gpt-5-mini", reply)
        assert first.citations == [Citation(WEB.url, WEB.title, None)]  # "Paris." does not hold the cited text
        assert body["input"][1] == {"type": "reasoning", "summary": [{"type": "summary_text", "text": "Think."}],
                                    "encrypted_content": "enc-reasoning"}
        assert body["input"][2] == {"type": "web_search_call", "status": "completed",
                                    "action": {"type": "search", "query": "q"}}
        assert body["input"][3]["type"] == "message" and body["input"][3]["role"] == "assistant"

    def test_chat_completions_sends_text_and_no_refusal_back(self, client, server):
        _, body = self.second_body(client, server, "openai/gpt-4o-mini", Reply(refusal="No."))
        assert body["messages"][1] == {"role": "assistant", "content": None}


class TestBadInput:
    def test_unknown_block_types_are_skipped_in_every_format(self):
        cases = {
            "anthropic": {"id": "m", "type": "message", "model": "m", "stop_reason": "end_turn",
                          "content": [{"type": "hologram", "x": 1}, {"type": "text", "text": "Hi"}],
                          "usage": {"input_tokens": 1, "output_tokens": 1}},
            "gemini": {"candidates": [{"content": {"parts": [{"hologram": {}}, {"text": "Hi"}]},
                                       "finishReason": "STOP"}]},
            "openai-responses": {"id": "r", "status": "completed", "output": [
                {"type": "hologram_call", "id": "h"},
                {"type": "message", "content": [{"type": "hologram"}, {"type": "output_text", "text": "Hi"}]}]},
            "openai": {"id": "c", "choices": [{"index": 0, "finish_reason": "stop",
                                               "message": {"content": "Hi", "hologram": [1]}}]},
        }
        for provider_id, body in cases.items():
            response = get_provider(provider_id).parse_response(body, "m")
            assert response.content == "Hi", provider_id
            assert response.server_tool_calls == [] and response.tool_calls == [], provider_id

    def test_a_whole_gemini_body_without_finish_reason_keeps_its_usage(self):
        body = {"candidates": [{"content": {"parts": [{"text": "Hi"}]}}],
                "usageMetadata": {"promptTokenCount": 3, "candidatesTokenCount": 2, "totalTokenCount": 5}}
        response = get_provider("gemini").parse_response(body, "gemini-2.5-flash")
        assert response.usage == llmsync.Usage(3, 2, 5)

    def test_a_server_tool_input_that_is_not_json_keeps_the_call(self):
        parser = get_provider("anthropic").stream_parser("claude-sonnet-4-5")
        events = [
            {"type": "message_start", "message": {"id": "m", "usage": {"input_tokens": 1}}},
            {"type": "content_block_start", "index": 0,
             "content_block": {"type": "server_tool_use", "id": "s1", "name": "web_search", "input": {}}},
            {"type": "content_block_delta", "index": 0, "delta": {"type": "input_json_delta", "partial_json": "{"}},
            {"type": "content_block_stop", "index": 0},
            {"type": "message_delta", "delta": {"stop_reason": "end_turn"}, "usage": {"output_tokens": 1}},
            {"type": "message_stop"},
        ]
        for event in events:
            parser.feed(event["type"], json.dumps(event))
        assert parser.finish().server_tool_calls == [ServerToolCall("s1", "web_search", {}, None)]
