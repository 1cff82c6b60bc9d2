"""Client: routing, validation before any HTTP, explain, threads, pickling."""
import pickle
import threading

import pytest

import llmsync
from llmsync import InvalidRequestError, Message, ToolCall
from llmsync.testing import Reply
from tests.conftest import text_of


class TestRouting:
    @pytest.mark.parametrize("model", ["gpt-4o", "/gpt-4o", "openai/", "", None])
    def test_malformed_model_strings_are_rejected(self, client, server, model):
        with pytest.raises(InvalidRequestError, match="provider/model-id"):
            client.generate(model, "Hi")
        assert server.requests == []

    def test_unknown_provider_lists_the_known_ones(self, client, server):
        with pytest.raises(InvalidRequestError, match="unknown provider 'nope'.*openai"):
            client.generate("nope/model", "Hi")
        assert server.requests == []

    def test_model_ids_may_contain_slashes(self, client, server):
        client.generate("openai/org/model-x", "Hi")
        assert server.requests[0].body["model"] == "org/model-x"

    def test_unknown_options_are_named(self, client):
        with pytest.raises(InvalidRequestError, match="unknown option.*'temprature'"):
            client.generate("openai/gpt-4o", "Hi", temprature=0.1)


class TestValidationBeforeHttp:
    def test_tool_message_without_tool_call_id(self, client, server):
        with pytest.raises(InvalidRequestError, match="without tool_call_id"):
            client.generate("openai/gpt-4o", [Message.user("x"), Message("tool", "42")])
        assert server.requests == []

    def test_tool_call_with_invalid_json_arguments(self, client, server):
        bad = Message.assistant_with_tools(None, [ToolCall("c1", "f", "{not json")])
        with pytest.raises(InvalidRequestError, match="invalid JSON"):
            client.generate("openai/gpt-4o", [Message.user("x"), bad, Message.tool_response("c1", "r")])
        assert server.requests == []

    def test_tool_choice_naming_a_missing_tool(self, client, server):
        tool = llmsync.ToolDefinition("f")
        with pytest.raises(InvalidRequestError, match="'g', which is not among the tools"):
            client.generate("openai/gpt-4o", "x", tools=[tool], tool_choice=llmsync.ToolChoice.function("g"))

    def test_validate_for_provider_on_a_message(self):
        with pytest.raises(InvalidRequestError):
            Message("tool", "x").validate_for_provider("openai")


class TestExplain:
    def test_explain_returns_the_wire_request_without_sending(self, client, server):
        plan = client.explain("openai/gpt-4o-mini", "Hi", max_tokens=5)
        assert plan.url == server.url + "/v1/chat/completions"
        assert plan.body == {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "Hi"}],
                             "max_completion_tokens": 5}
        assert plan.headers["Authorization"] == "***"
        assert server.requests == []

    def test_explain_works_without_a_key(self, monkeypatch, tmp_path):
        monkeypatch.delenv("OPENAI_API_KEY", raising=False)
        client = llmsync.Client(auth_file=str(tmp_path / "none.json"))
        assert client.explain("openai/gpt-4o", "Hi").headers.get("Authorization") is None

    def test_missing_key_fails_before_http(self, monkeypatch, tmp_path):
        monkeypatch.delenv("OPENAI_API_KEY", raising=False)
        client = llmsync.Client(auth_file=str(tmp_path / "none.json"), base_urls={"openai": "http://127.0.0.1:9"})
        with pytest.raises(llmsync.AuthenticationError, match="OPENAI_API_KEY"):
            client.generate("openai/gpt-4o", "Hi")


class TestBaseUrls:
    def test_env_var_overrides_the_default(self, monkeypatch):
        monkeypatch.setenv("OPENAI_BASE_URL", "http://proxy.local/v1/")
        client = llmsync.Client(api_keys={"openai": "k"})
        assert client.explain("openai/gpt-4o", "Hi").url == "http://proxy.local/v1/chat/completions"

    def test_explicit_base_url_wins(self, monkeypatch):
        monkeypatch.setenv("OPENAI_BASE_URL", "http://proxy.local/v1")
        client = llmsync.Client(api_keys={"openai": "k"}, base_urls={"openai": "http://mine/v1"})
        assert client.explain("openai/gpt-4o", "Hi").url == "http://mine/v1/chat/completions"


def test_send_takes_a_request_object(client, server):
    server.add(Reply(text="via send"))
    assert client.send(llmsync.Request("openai/gpt-4o", "Hi")).content == "via send"


def test_one_client_serves_32_threads_streaming_20_replies_each(server, fast_retry):
    """Every reply complete and none mixed with another (each echoes its own token)."""

    def echo(received):
        return Reply(text=f"<{received.body['messages'][0]['content']}>" * 5, chunk_size=3)

    server.responder = echo
    errors, mismatches = [], []
    with server.client(retry=fast_retry, timeout=10.0) as client:
        def worker(thread):
            try:
                for i in range(20):
                    token = f"t{thread}-{i}"
                    with client.stream("openai/gpt-4o-mini", token) as stream:
                        text = text_of(stream)
                    if text != f"<{token}>" * 5 or stream.response.content != text:
                        mismatches.append((token, text))
            except Exception as exc:  # noqa: BLE001 - collected and asserted below
                errors.append(exc)

        threads = [threading.Thread(target=worker, args=(n,)) for n in range(32)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(60)
    assert errors == [] and mismatches == []
    assert len(server.requests) == 32 * 20
    assert server.connections_opened <= 32 * 2  # connections are reused, not opened per request


def test_client_pickles_its_configuration_only(server):
    client = server.client(timeout=7.0)
    client.generate("openai/gpt-4o-mini", "warm up")
    clone = pickle.loads(pickle.dumps(client))
    assert clone.timeout == (7.0, 7.0)
    assert clone.generate("openai/gpt-4o-mini", "Hi").content


def test_stream_is_not_an_option_of_generate(client, server):
    with pytest.raises(InvalidRequestError, match="call client.stream"):
        client.generate("openai/gpt-4o", "Hi", stream=True)
    assert server.requests == []


def test_a_malformed_batch_item_is_an_error_result_not_an_abort(client, server):
    items = [{"model": "openai/gpt-4o-mini", "prompt": "a"},
             {"model": "openai/gpt-4o-mini", "messages": [{"content": "no role"}]},
             {"model": "openai/gpt-4o-mini", "prompt": "c"}]
    results = sorted(client.batch(items), key=lambda r: r.index)
    assert [r.ok for r in results] == [True, False, True]
    assert isinstance(results[1].error, InvalidRequestError)
