"""Azure OpenAI: routes, auth, content filters, recorded replies, errors, FakeServer."""
import json
import os
import subprocess
import sys

import pytest
import responses

import llmsync
from llmsync import ApiKey, FinishReason, Message
from llmsync.errors import AuthenticationError, InvalidRequestError, ProviderError
from llmsync.events import TextDelta
from llmsync.providers.azure import (DEFAULT_API_VERSION, AzureProvider, AzureResponsesProvider,
                                     filtered_categories)
from llmsync.registry import get_provider
from llmsync.testing import FakeServer, Reply
from tests.conftest import assert_matches_expected, fast_client

HERE = os.path.dirname(os.path.abspath(__file__))
RECORDED_CLOUD = os.path.join(HERE, "..", "fixtures", "recorded_cloud")
ENDPOINT = "https://res.openai.azure.com"
AZURE_VARS = ("AZURE_OPENAI_ENDPOINT", "AZURE_OPENAI_API_KEY", "AZURE_OPENAI_API_VERSION", "AZURE_BASE_URL",
              "AZURE_RESPONSES_BASE_URL")


@pytest.fixture(autouse=True)
def no_azure_settings(monkeypatch, tmp_path):
    for name in AZURE_VARS:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("LLMSYNC_AUTH_FILE", str(tmp_path / "no-auth.json"))


def recording(name):
    with open(os.path.join(RECORDED_CLOUD, name), encoding="utf-8") as handle:
        return json.load(handle)


def azure_recordings():
    return sorted(n for n in os.listdir(RECORDED_CLOUD) if n.startswith("azure_") and n.endswith(".json"))


def parse_stream(provider, model, body):
    parser = provider.stream_parser(model)
    events = []
    for name, data in provider.decode_stream(iter([body])):
        events.extend(parser.feed(name, data))
    return events, parser.finish()


def chat_chunk(choices, **fields):
    return "data: " + json.dumps({"id": "c1", "model": "gpt-4o-2024-11-20", "choices": choices, **fields}) + "\n\n"


SAFE = {"hate": {"filtered": False, "severity": "safe"}, "violence": {"filtered": False, "severity": "safe"}}
FILTERED = {"hate": {"filtered": False, "severity": "safe"}, "violence": {"filtered": True, "severity": "high"}}


class TestRoutes:
    def test_deployments_route_with_the_default_ga_api_version(self):
        plan = AzureProvider().build_request(llmsync.Request(model="azure/prod-4o", messages="hi"), "prod-4o")
        assert plan.path == f"/openai/deployments/prod-4o/chat/completions?api-version={DEFAULT_API_VERSION}"
        assert DEFAULT_API_VERSION == "2024-10-21"
        assert plan.body["model"] == "prod-4o"

    def test_api_version_comes_from_the_environment(self, monkeypatch):
        monkeypatch.setenv("AZURE_OPENAI_API_VERSION", "2025-04-01-preview")
        plan = AzureProvider().build_request(llmsync.Request(model="azure/d", messages="hi"), "d")
        assert plan.path == "/openai/deployments/d/chat/completions?api-version=2025-04-01-preview"

    @pytest.mark.parametrize("version, path", [
        ("v1", "/openai/v1/chat/completions"),
        ("latest", "/openai/v1/chat/completions"),
        ("preview", "/openai/v1/chat/completions?api-version=preview"),
    ])
    def test_v1_route_takes_the_deployment_as_model(self, monkeypatch, version, path):
        monkeypatch.setenv("AZURE_OPENAI_API_VERSION", version)
        plan = AzureProvider().build_request(llmsync.Request(model="azure/d", messages="hi"), "d")
        assert (plan.path, plan.body["model"]) == (path, "d")

    def test_constructor_api_version_beats_the_environment(self, monkeypatch):
        monkeypatch.setenv("AZURE_OPENAI_API_VERSION", "2024-06-01")
        plan = AzureProvider(api_version="v1").build_request(llmsync.Request(model="azure/d", messages="hi"), "d")
        assert plan.path == "/openai/v1/chat/completions"

    def test_a_deployment_name_is_quoted_into_the_path(self):
        plan = AzureProvider().build_request(llmsync.Request(model="azure/a b", messages="hi"), "a b")
        assert plan.path.startswith("/openai/deployments/a%20b/chat/completions?")

    def test_responses_default_to_the_v1_route(self):
        plan = AzureResponsesProvider().build_request(llmsync.Request(model="azure-responses/d", messages="hi"), "d")
        assert plan.path == "/openai/v1/responses"
        assert plan.body["model"] == "d" and plan.body["store"] is False

    def test_responses_with_a_dated_preview_version_use_the_preview_route(self, monkeypatch):
        monkeypatch.setenv("AZURE_OPENAI_API_VERSION", "2025-03-01-preview")
        plan = AzureResponsesProvider().build_request(llmsync.Request(model="azure-responses/d", messages="hi"), "d")
        assert plan.path == "/openai/responses?api-version=2025-03-01-preview"

    def test_models_path(self, monkeypatch):
        assert AzureProvider().models_path == f"/openai/models?api-version={DEFAULT_API_VERSION}"
        monkeypatch.setenv("AZURE_OPENAI_API_VERSION", "v1")
        assert AzureProvider().models_path == "/openai/v1/models"


class TestEndpoint:
    def test_endpoint_from_the_environment(self):
        assert AzureProvider().base_url_from_environment({"AZURE_OPENAI_ENDPOINT": ENDPOINT + "/"}) == ENDPOINT

    @pytest.mark.parametrize("suffix", ["/openai/v1/", "/openai"])
    def test_a_copied_route_suffix_is_dropped(self, suffix):
        environ = {"AZURE_OPENAI_ENDPOINT": ENDPOINT + suffix}
        assert AzureResponsesProvider().base_url_from_environment(environ) == ENDPOINT

    @pytest.mark.parametrize("provider", [AzureProvider(), AzureResponsesProvider()])
    def test_a_missing_endpoint_names_the_variable(self, provider):
        with pytest.raises(InvalidRequestError, match="AZURE_OPENAI_ENDPOINT") as caught:
            provider.base_url_from_environment({})
        assert caught.value.provider == provider.id

    @responses.activate
    def test_client_uses_the_endpoint_variable(self, monkeypatch):
        monkeypatch.setenv("AZURE_OPENAI_ENDPOINT", ENDPOINT)
        url = f"{ENDPOINT}/openai/deployments/d/chat/completions?api-version={DEFAULT_API_VERSION}"
        responses.post(url, json={"choices": [{"index": 0, "message": {"content": "ok"}, "finish_reason": "stop"}]})
        with llmsync.Client(api_keys={"azure": "k"}) as client:
            assert client.generate("azure/d", "hi").content == "ok"

    def test_client_names_the_endpoint_variable_before_any_http(self):
        with llmsync.Client(api_keys={"azure": "k"}) as client:
            with pytest.raises(InvalidRequestError, match="AZURE_OPENAI_ENDPOINT"):
                client.explain("azure/d", "hi")

    def test_a_missing_key_names_the_variable(self):
        with llmsync.Client(base_urls={"azure": ENDPOINT}) as client:
            with pytest.raises(AuthenticationError, match="AZURE_OPENAI_API_KEY"):
                client.generate("azure/d", "hi")

    def test_responses_share_azures_key(self):
        store = llmsync.AuthStore(api_keys={"azure": "the-key"}, environ={})
        assert AzureResponsesProvider().resolve_auth(store).reveal() == "the-key"


class TestAuth:
    def test_a_key_goes_in_the_api_key_header(self):
        assert AzureProvider().auth_headers(ApiKey("k1")) == {"api-key": "k1"}

    def test_a_token_provider_is_a_bearer_token_fetched_per_request(self):
        tokens = iter(["t1", "t2"])
        key = ApiKey(token_provider=lambda: next(tokens))
        provider = AzureProvider()
        assert provider.auth_headers(key) == {"Authorization": "Bearer t1"}
        assert provider.auth_headers(key) == {"Authorization": "Bearer t2"}
        assert "t1" not in repr(key) and "t2" not in repr(key)

    def test_no_key_no_header(self):
        assert AzureResponsesProvider().auth_headers(None) == {}

    def test_explain_redacts_both_kinds(self):
        token = ApiKey(token_provider=lambda: "secret-token")
        for key, header in [("secret-key", "api-key"), (token, "Authorization")]:
            with llmsync.Client(api_keys={"azure": key}, base_urls={"azure": ENDPOINT}) as client:
                plan = client.explain("azure/d", "hi")
            assert plan.headers[header] == "***"
            assert "secret" not in json.dumps(plan.headers)


class TestRecorded:
    @pytest.mark.parametrize("name", azure_recordings())
    def test_recorded_replies_parse_to_their_expected_blocks(self, name):
        case = recording(name)
        provider = get_provider("azure-responses" if case["api"] == "responses" else "azure")
        model = case["request"]["body"].get("model", "d")
        body = case["response"]["body"]
        expected = case["expected"]
        if case["response"]["status"] != 200:
            info = provider.describe_error(case["response"]["status"], json.loads(body), body)
            assert info.message.startswith(expected["error"]["message"])
            assert info.error_type == expected["error"]["code"]
            return
        if "stream" in case["covers"]:
            _, response = parse_stream(provider, model, body.encode("utf-8"))
        else:
            response = provider.parse_response(json.loads(body), model)
        assert_matches_expected(response, expected)
        assert response.error_message is None  # annotations, nothing filtered

    def test_content_filter_error_names_the_category(self):
        case = recording("azure_deployments_400_content_filter.json")
        body = case["response"]["body"]
        info = AzureProvider().describe_error(400, json.loads(body), body)
        assert "self_harm (severity medium)" in info.message
        assert "hate" not in info.message  # only what was filtered

    @responses.activate
    def test_content_filter_error_is_an_invalid_request_error(self):
        case = recording("azure_deployments_400_content_filter.json")
        url = f"{ENDPOINT}/openai/deployments/gpt-4o-mini/chat/completions?api-version={DEFAULT_API_VERSION}"
        responses.post(url, status=400, body=case["response"]["body"], content_type="application/json")
        with llmsync.Client(api_keys={"azure": "k"}, base_urls={"azure": ENDPOINT},
                            retry=llmsync.RetryPolicy(max_retries=0)) as client:
            with pytest.raises(InvalidRequestError, match=r"filtered: self_harm \(severity medium\)") as caught:
                client.generate("azure/gpt-4o-mini", "hi")
        assert caught.value.status == 400

    def test_recorded_reply_is_priced_as_the_underlying_openai_model(self):
        case = recording("azure_deployments_chat_text_reasoning_tokens.json")
        response = AzureProvider().parse_response(json.loads(case["response"]["body"]), "my-deployment")
        assert response.model == "gpt-5-nano-2025-08-07"
        openai_meta = llmsync.models("openai")
        nano = next(m for m in openai_meta if m.id == "gpt-5-nano")
        expected = (11 * nano.input_price + 203 * nano.output_price) / 1_000_000
        assert response.cost == pytest.approx(expected)


class TestContentFilters:
    def test_filtered_categories(self):
        results = {**FILTERED, "jailbreak": {"filtered": True, "detected": True},
                   "custom_blocklists": {"filtered": True, "details": [{"filtered": True, "id": "words"}]},
                   "protected_material_text": {"filtered": False, "detected": True}}
        assert filtered_categories(results) == ["violence (severity high)", "jailbreak (detected)",
                                                "custom_blocklists (words)"]
        assert filtered_categories(None) == [] and filtered_categories({}) == []

    def test_a_filtered_stream_keeps_its_text_and_names_the_category(self):
        body = (chat_chunk([], prompt_filter_results=[{"prompt_index": 0, "content_filter_results": SAFE}])
                + chat_chunk([{"index": 0, "delta": {"content": "Once upon"}, "content_filter_results": SAFE}])
                + chat_chunk([{"index": 0, "delta": {}, "finish_reason": "content_filter",
                               "content_filter_results": FILTERED}])
                + "data: [DONE]\n\n")
        events, response = parse_stream(AzureProvider(), "d", body.encode())
        assert [e.text for e in events if isinstance(e, TextDelta)] == ["Once upon"]
        assert response.content == "Once upon"
        assert response.finish_reason is FinishReason.CONTENT_FILTER
        assert response.error_message == "filtered by Azure's content filter (completion: violence (severity high))"

    def test_a_late_annotation_chunk_marks_the_reply_filtered(self):
        # Asynchronous Filter mode: annotations (empty id and model) may follow the finish.
        body = (chat_chunk([{"index": 0, "delta": {"content": "text"}, "finish_reason": "stop"}])
                + "data: " + json.dumps({"id": "", "model": "", "object": "", "created": 0, "choices": [
                    {"index": 0, "finish_reason": None, "content_filter_results": FILTERED,
                     "content_filter_offsets": {"check_offset": 4, "start_offset": 0, "end_offset": 4}}]}) + "\n\n"
                + "data: [DONE]\n\n")
        _, response = parse_stream(AzureProvider(), "d", body.encode())
        assert response.content == "text"
        assert response.finish_reason is FinishReason.CONTENT_FILTER
        assert response.model == "gpt-4o-2024-11-20" and response.id == "c1"

    def test_a_filtered_whole_reply(self):
        body = {"id": "c", "model": "gpt-4o", "choices": [{"index": 0, "finish_reason": "content_filter",
                                                           "message": {"role": "assistant", "content": None},
                                                           "content_filter_results": FILTERED}],
                "prompt_filter_results": [{"prompt_index": 0, "content_filter_results": SAFE}]}
        response = AzureProvider().parse_response(body, "d")
        assert response.content is None
        assert response.finish_reason is FinishReason.CONTENT_FILTER
        assert "violence (severity high)" in response.error_message

    def test_responses_content_filters(self):
        body = {"id": "resp_1", "object": "response", "status": "incomplete", "model": "gpt-4o",
                "incomplete_details": {"reason": "content_filter"},
                "output": [{"type": "message", "id": "m", "role": "assistant",
                            "content": [{"type": "output_text", "text": "partial", "annotations": []}]}],
                "content_filters": [{"blocked": False, "source_type": "prompt", "content_filter_results": SAFE},
                                    {"blocked": True, "source_type": "completion",
                                     "content_filter_results": FILTERED}],
                "usage": {"input_tokens": 5, "output_tokens": 2, "total_tokens": 7}}
        response = AzureResponsesProvider().parse_response(body, "d")
        assert response.content == "partial"
        assert response.finish_reason is FinishReason.CONTENT_FILTER
        assert "completion: violence (severity high)" in response.error_message

    def test_responses_content_filter_error(self):
        error = {"error": {"message": "The response was filtered", "type": "invalid_request_error",
                           "param": "prompt", "code": "content_filter",
                           "content_filters": [{"blocked": True, "source_type": "prompt", "content_filter_results": {
                               "jailbreak": {"detected": True, "filtered": True}}}]}}
        info = AzureResponsesProvider().describe_error(400, error, json.dumps(error))
        assert info.error_type == "content_filter"
        assert "filtered: jailbreak (detected)" in info.message


class TestErrors:
    def describe(self, status, payload):
        return AzureProvider().describe_error(status, payload, json.dumps(payload))

    def test_deployment_not_found_says_what_to_check(self):
        info = self.describe(404, {"error": {"code": "DeploymentNotFound", "message": "The API deployment for "
                                             "this resource does not exist."}})
        assert "does not exist" in info.message and "name a deployment" in info.message

    def test_wrong_api_version(self):
        info = self.describe(400, {"error": {"code": "BadRequest", "message": "API version not supported"}})
        assert "AZURE_OPENAI_API_VERSION" in info.message and DEFAULT_API_VERSION in info.message

    def test_expired_token_in_the_gateway_shape(self):
        info = self.describe(401, {"statusCode": 401, "message": "Unauthorized. Access token is missing, invalid, "
                                   "audience is incorrect (https://cognitiveservices.azure.com), or have expired."})
        assert info.message.startswith("Unauthorized. Access token")
        assert "cognitiveservices.azure.com/.default" in info.message

    def test_resource_not_found_points_at_the_endpoint(self):
        info = self.describe(404, {"error": {"code": "404", "message": "Resource not found"}})
        assert "AZURE_OPENAI_ENDPOINT" in info.message

    def test_context_overflow_is_still_a_context_length_error(self):
        info = self.describe(400, {"error": {"code": "context_length_exceeded", "message": "This model's maximum "
                                             "context length is 128000 tokens."}})
        assert info.context_length


class TestCatalog:
    def test_a_deployment_named_after_a_model_uses_its_openai_entry(self):
        assert AzureProvider().model_meta("gpt-4o-mini").id == "gpt-4o-mini"
        assert AzureProvider().model_meta("prod-chat") is None

    def test_a_mapped_deployment_takes_its_models_knowledge(self):
        provider = AzureProvider(deployments={"prod-reasoner": "o3-mini"})
        assert provider.model_meta("prod-reasoner").id == "o3-mini"
        plan = provider.build_request(llmsync.Request(model="azure/prod-reasoner", messages="hi", thinking="high"),
                                      "prod-reasoner")
        assert plan.body["reasoning_effort"] == "high"
        assert plan.body["messages"][0]["role"] == "user"

    def test_the_catalog_lists_no_deployments(self):
        assert llmsync.models("azure") == []


class TestModelList:
    def test_openai_shape(self):
        body = {"object": "list", "data": [{"id": "gpt-4o-2024-08-06", "object": "model"}, {"id": "o3-mini"}]}
        assert AzureProvider().parse_model_list(body) == ["gpt-4o-2024-08-06", "o3-mini"]

    @pytest.mark.parametrize("body", [{"models": []}, {"data": [{"name": "x"}]}, [], None])
    def test_a_wrong_shape_is_a_provider_error(self, body):
        with pytest.raises(ProviderError, match="model list"):
            AzureProvider().parse_model_list(body)

    @responses.activate
    def test_client_lists_the_resources_models(self):
        responses.get(f"{ENDPOINT}/openai/models?api-version={DEFAULT_API_VERSION}",
                      json={"data": [{"id": "gpt-4o"}]}, match=[responses.matchers.header_matcher({"api-key": "k"})])
        with llmsync.Client(api_keys={"azure": "k"}, base_urls={"azure": ENDPOINT}) as client:
            assert client.list_models("azure") == ["gpt-4o"]

    @responses.activate
    def test_cli_lists_an_azure_resources_models(self, capsys, monkeypatch):
        from llmsync.cli import main

        monkeypatch.setenv("AZURE_OPENAI_API_KEY", "k")
        responses.get(f"{ENDPOINT}/openai/models?api-version={DEFAULT_API_VERSION}",
                      json={"data": [{"id": "gpt-4o"}, {"id": "o3-mini"}]})
        assert main(["models", "--provider", "azure", "--base-url", ENDPOINT]) == 0
        assert capsys.readouterr().out.splitlines() == ["azure/gpt-4o", "azure/o3-mini"]


class TestFakeServer:
    def test_deployments_route_offline(self, server):
        server.add(Reply(text="Hello from Azure"))
        with fast_client(server) as client:
            response = client.generate("azure/prod-4o", "hi")
        assert response.content == "Hello from Azure"
        received = server.requests[-1]
        assert received.path.endswith(f"/openai/deployments/prod-4o/chat/completions?api-version={DEFAULT_API_VERSION}")
        assert "api-key" in {name.lower() for name in received.headers}

    def test_stream_starts_with_the_prompt_annotation_chunk(self, server):
        server.add(Reply(text="streamed text", chunk_size=4))
        with fast_client(server) as client, client.stream("azure/d", "hi") as stream:
            texts = [e.text for e in stream if isinstance(e, TextDelta)]
        assert "".join(texts) == "streamed text"
        assert stream.response.finish_reason is FinishReason.STOP

    def test_fake_server_first_chunk_is_azures(self):
        from llmsync.testing.wire import format_for

        wire = format_for("/openai/deployments/d/chat/completions")
        first = json.loads(wire.stream_events(Reply(text="x"), "d")[0][len(b"data: "):])
        assert first["choices"] == [] and first["id"] == "" and "prompt_filter_results" in first

    def test_filtered_reply_offline(self, server):
        server.add(Reply(text="partial", finish_reason=FinishReason.CONTENT_FILTER, error_type="content_filter:sexual"))
        with fast_client(server) as client, client.stream("azure/d", "hi") as stream:
            list(stream)
        assert stream.response.content == "partial"
        assert stream.response.finish_reason is FinishReason.CONTENT_FILTER
        assert "sexual" in stream.response.error_message

    def test_filtered_prompt_offline(self, server):
        server.add(Reply.error(400, "The response was filtered", error_type="content_filter:self_harm"))
        with fast_client(server) as client:
            with pytest.raises(InvalidRequestError, match=r"self_harm \(severity medium\)"):
                client.generate("azure/d", "hi")

    @pytest.mark.parametrize("stream", [False, True])
    def test_responses_route_offline(self, server, stream):
        server.add(Reply(text="via responses", finish_reason=FinishReason.CONTENT_FILTER))
        with fast_client(server) as client:
            if stream:
                with client.stream("azure-responses/d", [Message.user("hi")]) as s:
                    list(s)
                response = s.response
            else:
                response = client.generate("azure-responses/d", "hi")
        assert server.requests[-1].path.endswith("/openai/v1/responses")
        assert response.content == "via responses"
        assert response.finish_reason is FinishReason.CONTENT_FILTER
        assert "hate" in response.error_message

    def test_deployment_not_found_offline(self, server):
        server.add(Reply.error(404, "The API deployment for this resource does not exist.",
                               error_type="DeploymentNotFound"))
        with fast_client(server) as client:
            with pytest.raises(InvalidRequestError, match="name a deployment"):
                client.generate("azure/typo", "hi")


def test_fake_server_serves_an_example_offline():
    with FakeServer([Reply(text="offline")]) as server, server.client() as client:
        assert client.generate("azure/my-deployment", "Hello").content == "offline"


def test_importing_llmsync_does_not_import_azure():
    code = "import sys, llmsync; llmsync.Client(); print('llmsync.providers.azure' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=30)
    assert out.stdout.strip() == "False", out.stderr
