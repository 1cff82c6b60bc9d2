"""Vertex AI: Gemini (``vertex``) and Claude (``vertex-anthropic``) on a Google Cloud project.

Provider-level tests need no HTTP; recorded real Vertex replies parse to their ``expected``
blocks; credentials come from a fake google-auth (never the network); FakeServer speaks both
Vertex URL shapes.
"""
import datetime
import json
import os
import pickle
import subprocess
import sys
import threading

import pytest

import llmsync
from llmsync.auth import ApiKey, AuthStore
from llmsync.catalog import lookup, models
from llmsync.errors import AuthenticationError, InvalidRequestError, StreamError
from llmsync.options import Request
from llmsync.providers import vertex, vertex_auth
from llmsync.providers.anthropic import AnthropicProvider
from llmsync.providers.gemini import GeminiProvider
from llmsync.registry import get_provider
from llmsync.testing import FakeServer, Reply
from llmsync.testing.vertex_wire import VertexAnthropicFormat, VertexGeminiFormat
from llmsync.testing.wire import format_for
from llmsync.types import FinishReason, Message, Usage

from ..conftest import assert_matches_expected

RECORDED_CLOUD = os.path.join(os.path.dirname(__file__), os.pardir, "fixtures", "recorded_cloud")
PROJECT_ENV = {"GOOGLE_CLOUD_PROJECT": "my-project"}
TOKEN = "ya29.fake-access-token-for-tests"


def recording(name):
    with open(os.path.join(RECORDED_CLOUD, name), encoding="utf-8") as handle:
        return json.load(handle)


def vertex_recordings():
    return sorted(n for n in os.listdir(RECORDED_CLOUD) if n.startswith("vertex_") and n.endswith(".json"))


def request(model, stream=False, **options):
    return Request(model=model, messages=[Message.user("Hi")], stream=stream, **options)


def plan(model, stream=False, **options):
    provider_id, model_id = model.split("/", 1)
    provider = get_provider(provider_id)
    wire_request = request(model, stream, **options)
    provider.validate_request(wire_request)
    return provider.build_request(wire_request, model_id)


# -- registry and URLs ------------------------------------------------------------------------


class TestRegistry:
    def test_both_ids_resolve_to_the_vertex_module(self):
        assert isinstance(get_provider("vertex"), vertex.VertexProvider)
        assert isinstance(get_provider("vertex-anthropic"), vertex.VertexAnthropicProvider)

    def test_they_reuse_the_gemini_and_anthropic_providers(self):
        assert isinstance(get_provider("vertex"), GeminiProvider)
        assert isinstance(get_provider("vertex-anthropic"), AnthropicProvider)

    def test_claude_shares_the_vertex_credentials_and_settings(self):
        assert get_provider("vertex-anthropic").key_id == "vertex"

    def test_there_is_no_fixed_base_url_to_send_a_token_to(self):
        assert get_provider("vertex").default_base_url is None
        assert get_provider("vertex-anthropic").default_base_url is None

    def test_base_urls_are_overridden_by_vertex_base_url(self):
        assert get_provider("vertex").base_url_env == "VERTEX_BASE_URL"


class TestBaseUrlFromEnvironment:
    def test_the_default_location_is_global_on_the_global_host(self):
        url = get_provider("vertex").base_url_from_environment(PROJECT_ENV)
        assert url == "https://aiplatform.googleapis.com/v1/projects/my-project/locations/global"

    def test_a_region_gets_its_regional_host(self):
        env = {**PROJECT_ENV, "GOOGLE_CLOUD_LOCATION": "us-east5"}
        url = get_provider("vertex-anthropic").base_url_from_environment(env)
        assert url == "https://us-east5-aiplatform.googleapis.com/v1/projects/my-project/locations/us-east5"

    @pytest.mark.parametrize("location", ["us", "eu"])
    def test_multi_regions_get_their_rep_host(self, location):
        env = {**PROJECT_ENV, "GOOGLE_CLOUD_LOCATION": location}
        url = get_provider("vertex").base_url_from_environment(env)
        assert url.startswith(f"https://aiplatform.{location}.rep.googleapis.com/v1/projects/my-project/")

    @pytest.mark.parametrize("provider_id", ["vertex", "vertex-anthropic"])
    @pytest.mark.parametrize("env", [{}, {"GOOGLE_CLOUD_PROJECT": "  "}, {"GOOGLE_CLOUD_LOCATION": "global"}])
    def test_a_missing_project_names_google_cloud_project(self, provider_id, env):
        with pytest.raises(InvalidRequestError, match="GOOGLE_CLOUD_PROJECT"):
            get_provider(provider_id).base_url_from_environment(env)

    @pytest.mark.parametrize("env, name", [
        ({"GOOGLE_CLOUD_PROJECT": "my-project/../other"}, "GOOGLE_CLOUD_PROJECT"),
        ({"GOOGLE_CLOUD_PROJECT": "my-project", "GOOGLE_CLOUD_LOCATION": "us-central1/x"}, "GOOGLE_CLOUD_LOCATION"),
    ])
    def test_values_that_would_reshape_the_url_are_refused(self, env, name):
        with pytest.raises(InvalidRequestError, match=name):
            get_provider("vertex").base_url_from_environment(env)

    def test_domain_scoped_and_numeric_projects_are_accepted(self):
        provider = get_provider("vertex")
        assert "/projects/example.com:proj/" in provider.base_url_from_environment(
            {"GOOGLE_CLOUD_PROJECT": "example.com:proj"})
        assert "/projects/123456789/" in provider.base_url_from_environment({"GOOGLE_CLOUD_PROJECT": "123456789"})


# -- requests -----------------------------------------------------------------------------------


class TestGeminiRequest:
    def test_paths_sit_under_the_google_publisher(self):
        assert plan("vertex/gemini-2.5-flash").path == "/publishers/google/models/gemini-2.5-flash:generateContent"
        assert plan("vertex/gemini-2.5-flash", stream=True).path == \
            "/publishers/google/models/gemini-2.5-flash:streamGenerateContent?alt=sse"

    def test_the_url_matches_a_recorded_vertex_request(self):
        recorded = recording("vertex_prompt_blocked_model_armor.json")["request"]["url_path"]
        base = get_provider("vertex").base_url_from_environment(
            {"GOOGLE_CLOUD_PROJECT": "project", "GOOGLE_CLOUD_LOCATION": "europe-west4"})
        path = base.split("googleapis.com", 1)[1] + plan("vertex/gemini-2.5-flash").path
        # google-genai calls v1beta1; the stable v1 has the same resource path.
        assert path == recorded.replace("/v1beta1/", "/v1/").replace("PROJECT", "project")

    def test_the_body_is_the_gemini_body(self):
        options = dict(system_prompt="Be brief.", max_tokens=50, temperature=0.2, thinking="low",
                       tools=[{"name": "f", "description": "d", "input_schema": {"type": "object"}}])
        assert plan("vertex/gemini-2.5-flash", **options).body == \
            GeminiProvider().build_request(request("gemini/gemini-2.5-flash", **options), "gemini-2.5-flash").body

    def test_everything_gemini_supports_is_sent(self):
        body = plan("vertex/gemini-3-flash-preview", thinking="high", response_format={"type": "object"}).body
        assert body["generationConfig"]["thinkingConfig"] == {"thinkingLevel": "high", "includeThoughts": True}
        assert body["generationConfig"]["responseJsonSchema"] == {"type": "object"}

    def test_a_model_id_that_would_reshape_the_path_is_refused(self):
        with pytest.raises(InvalidRequestError, match="not a Vertex AI model id"):
            plan("vertex/../../endpoints/x")


class TestClaudeRequest:
    def test_raw_predict_paths_carry_the_model(self):
        assert plan("vertex-anthropic/claude-sonnet-4-5@20250929").path == \
            "/publishers/anthropic/models/claude-sonnet-4-5@20250929:rawPredict"
        assert plan("vertex-anthropic/claude-sonnet-4-5@20250929", stream=True).path == \
            "/publishers/anthropic/models/claude-sonnet-4-5@20250929:streamRawPredict"

    def test_the_version_is_in_the_body_and_the_model_is_not(self):
        body = plan("vertex-anthropic/claude-haiku-4-5@20251001", stream=True).body
        assert body["anthropic_version"] == "vertex-2023-10-16"
        assert "model" not in body
        assert body["stream"] is True
        headers = plan("vertex-anthropic/claude-haiku-4-5@20251001").headers
        assert "anthropic-version" not in {name.lower() for name in headers}

    def test_the_rest_is_the_anthropic_body(self):
        options = dict(system_prompt="Use parallel tool calling.", max_tokens=16000, stop=["END"],
                       tools=[{"name": "f", "description": "d", "input_schema": {"type": "object"}}])
        body = dict(plan("vertex-anthropic/claude-haiku-4-5@20251001", **options).body)
        direct = AnthropicProvider().build_request(request("anthropic/claude-haiku-4-5", **options),
                                                   "claude-haiku-4-5").body
        body.pop("anthropic_version")
        direct.pop("model")
        assert body == direct

    def test_the_recorded_request_shape(self):
        recorded = recording("vertex_anthropic_parallel_tool_use.json")["request"]
        base = get_provider("vertex-anthropic").base_url_from_environment(
            {"GOOGLE_CLOUD_PROJECT": "project", "GOOGLE_CLOUD_LOCATION": "us-east5"})
        wire = plan("vertex-anthropic/claude-haiku-4-5@20251001", max_tokens=16000,
                    system_prompt="Use parallel tool calling.")
        assert base.split("googleapis.com", 1)[1] + wire.path == recorded["url_path"].replace("PROJECT", "project")
        assert {k: wire.body[k] for k in ("max_tokens", "system", "anthropic_version")} == \
            {k: recorded["body"][k] for k in ("max_tokens", "system", "anthropic_version")}

    def test_vertex_version_ids_follow_their_models_thinking_rules(self):
        # Opus 4.7 takes adaptive thinking and no temperature; "@..." must not hide that.
        wire = plan("vertex-anthropic/claude-opus-4-7@20260101", thinking="high", temperature=0.5)
        assert wire.body["thinking"]["type"] == "adaptive"
        assert "temperature" not in wire.body

    def test_a_forced_tool_with_thinking_is_refused_before_sending(self):
        tools = [{"name": "f", "description": "d", "input_schema": {"type": "object"}}]
        with pytest.raises(InvalidRequestError, match="forces a tool call"):
            plan("vertex-anthropic/claude-sonnet-4-5@20250929", thinking="high", tools=tools, tool_choice="any")


# -- credentials -----------------------------------------------------------------------------------


class FakeCredentials:
    """The part of ``google.auth.credentials.Credentials`` the token provider uses."""

    def __init__(self, lifetime=datetime.timedelta(hours=1)):
        self.token = None
        self.expiry = None
        self.lifetime = lifetime
        self.refreshes = 0
        self.fail = None
        self.quota_project_id = None

    @property
    def expired(self):  # google-auth reports expiry 3m45s early; so does the fake
        return self.expiry is not None and datetime.datetime.utcnow() >= self.expiry - datetime.timedelta(minutes=4)

    def refresh(self, request):
        if self.fail is not None:
            raise self.fail
        self.refreshes += 1
        self.token = f"ya29.token-{self.refreshes}"
        self.expiry = datetime.datetime.utcnow() + self.lifetime


@pytest.fixture(autouse=True)
def no_google_environment(monkeypatch, tmp_path):
    """No Google settings or gcloud files of the machine running the tests."""
    for name in ("GOOGLE_CLOUD_QUOTA_PROJECT", "GOOGLE_GENAI_USE_VERTEXAI", "GOOGLE_APPLICATION_CREDENTIALS"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("CLOUDSDK_CONFIG", str(tmp_path / "no-gcloud"))


@pytest.fixture
def adc(monkeypatch):
    """Fake application-default credentials, loaded afresh for each test."""
    import google.auth

    credentials = FakeCredentials()
    calls = []

    def default(scopes=None, **kwargs):
        calls.append(scopes)
        return credentials, "adc-project"

    monkeypatch.setattr(google.auth, "default", default)
    monkeypatch.setattr(vertex_auth, "_ADC", vertex_auth.ApplicationDefaultTokens())
    credentials.calls = calls
    return credentials


class TestCredentials:
    @pytest.mark.parametrize("provider_id", ["vertex", "vertex-anthropic"])
    def test_an_explicit_vertex_key_is_the_bearer_access_token(self, provider_id):
        provider = get_provider(provider_id)
        key = provider.resolve_auth(AuthStore(api_keys={"vertex": TOKEN}, environ={}))
        assert provider.auth_headers(key) == {"Authorization": f"Bearer {TOKEN}"}

    def test_no_api_key_or_version_header_is_sent(self):
        headers = get_provider("vertex-anthropic").auth_headers(ApiKey(TOKEN))
        assert set(headers) == {"Authorization"}
        assert set(get_provider("vertex").auth_headers(ApiKey(TOKEN))) == {"Authorization"}

    def test_claude_may_have_its_own_explicit_token(self):
        store = AuthStore(api_keys={"vertex": "ya29.shared", "vertex-anthropic": TOKEN}, environ={})
        assert get_provider("vertex-anthropic").resolve_auth(store).reveal() == TOKEN

    def test_gemini_api_keys_in_the_environment_are_never_used(self, adc):
        store = AuthStore(environ={"GEMINI_API_KEY": "AIza-not-for-vertex", "GOOGLE_API_KEY": "AIza-no"})
        assert get_provider("vertex").resolve_auth(store).reveal() == "ya29.token-1"

    def test_without_a_key_application_default_credentials_are_used(self, adc):
        key = get_provider("vertex").resolve_auth(AuthStore(environ={}))
        assert key.reveal() == "ya29.token-1"
        assert adc.calls == [["https://www.googleapis.com/auth/cloud-platform"]]

    def test_credentials_are_loaded_once_and_refreshed_only_near_expiry(self, adc):
        key = get_provider("vertex").resolve_auth(AuthStore(environ={}))
        assert [key.reveal() for _ in range(5)] == ["ya29.token-1"] * 5
        assert adc.refreshes == 1 and len(adc.calls) == 1
        adc.expiry = datetime.datetime.utcnow() + datetime.timedelta(minutes=2)  # inside the margin
        assert key.reveal() == "ya29.token-2"
        assert len(adc.calls) == 1

    def test_both_providers_share_one_set_of_credentials(self, adc):
        store = AuthStore(environ={})
        get_provider("vertex").resolve_auth(store).reveal()
        get_provider("vertex-anthropic").resolve_auth(store).reveal()
        assert adc.refreshes == 1 and len(adc.calls) == 1

    def test_concurrent_requests_refresh_once(self, adc):
        key = get_provider("vertex").resolve_auth(AuthStore(environ={}))
        start = threading.Barrier(8)
        tokens = []

        def reveal():
            start.wait()
            tokens.append(key.reveal())

        threads = [threading.Thread(target=reveal) for _ in range(8)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert tokens == ["ya29.token-1"] * 8
        assert adc.refreshes == 1

    def test_a_failed_refresh_is_an_authentication_error(self, adc):
        from google.auth.exceptions import RefreshError

        adc.fail = RefreshError("invalid_grant: Token has been expired or revoked.")
        key = get_provider("vertex").resolve_auth(AuthStore(environ={}))
        with pytest.raises(AuthenticationError, match="application-default login") as caught:
            key.reveal()
        assert "invalid_grant" in str(caught.value)

    def test_no_default_credentials_is_an_authentication_error(self, monkeypatch):
        import google.auth
        from google.auth.exceptions import DefaultCredentialsError

        def default(scopes=None, **kwargs):
            raise DefaultCredentialsError("Your default credentials were not found.")

        monkeypatch.setattr(google.auth, "default", default)
        monkeypatch.setattr(vertex_auth, "_ADC", vertex_auth.ApplicationDefaultTokens())
        key = get_provider("vertex").resolve_auth(AuthStore(environ={}))
        with pytest.raises(AuthenticationError, match="GOOGLE_APPLICATION_CREDENTIALS"):
            key.reveal()

    def test_without_google_auth_the_error_names_the_extra(self, monkeypatch):
        monkeypatch.setitem(sys.modules, "google.auth", None)
        with pytest.raises(AuthenticationError, match=r"llmsync\[vertex\]"):
            get_provider("vertex").resolve_auth(AuthStore(environ={}))

    def test_an_explicit_token_needs_no_google_auth(self, monkeypatch):
        monkeypatch.setitem(sys.modules, "google.auth", None)
        key = get_provider("vertex").resolve_auth(AuthStore(api_keys={"vertex": TOKEN}, environ={}))
        assert key.reveal() == TOKEN

    def test_the_token_never_shows_in_a_repr(self, adc):
        key = get_provider("vertex").resolve_auth(AuthStore(environ={}))
        token = key.reveal()
        assert token not in repr(key) and token not in repr(vertex_auth._ADC)

    def test_a_key_over_default_credentials_pickles_to_this_process_credentials(self, adc):
        key = get_provider("vertex").resolve_auth(AuthStore(environ={}))
        assert pickle.loads(pickle.dumps(key)).reveal() == "ya29.token-1"


class TestQuotaProject:
    """``x-goog-user-project``, as google-auth's ``Credentials.apply`` and google-genai send it."""

    def test_the_credentials_quota_project_is_sent(self, adc):
        adc.quota_project_id = "billing-project"
        provider = get_provider("vertex")
        key = provider.resolve_auth(AuthStore(environ={}))
        assert provider.auth_headers(key) == {"Authorization": "Bearer ya29.token-1",
                                              "x-goog-user-project": "billing-project"}

    def test_credentials_without_one_send_no_header(self, adc):
        key = get_provider("vertex").resolve_auth(AuthStore(environ={}))
        assert set(get_provider("vertex").auth_headers(key)) == {"Authorization"}

    def test_google_cloud_quota_project_overrides_the_credentials(self, adc, monkeypatch):
        adc.quota_project_id = "billing-project"
        monkeypatch.setenv("GOOGLE_CLOUD_QUOTA_PROJECT", "other-project")
        key = get_provider("vertex-anthropic").resolve_auth(AuthStore(environ={}))
        assert get_provider("vertex-anthropic").auth_headers(key)["x-goog-user-project"] == "other-project"

    def test_an_explicit_token_takes_it_from_the_environment(self, monkeypatch):
        monkeypatch.setenv("GOOGLE_CLOUD_QUOTA_PROJECT", "billing-project")
        headers = get_provider("vertex").auth_headers(ApiKey(TOKEN))
        assert headers == {"Authorization": f"Bearer {TOKEN}", "x-goog-user-project": "billing-project"}

    def test_a_token_provider_of_ones_own_may_carry_one(self):
        class Tokens:
            quota_project_id = "mine-project"

            def __call__(self):
                return TOKEN

        headers = get_provider("vertex").auth_headers(ApiKey(token_provider=Tokens()))
        assert headers["x-goog-user-project"] == "mine-project"

    @pytest.mark.parametrize("value", ["bad\r\nX-Injected: 1", "Upper Case", "-leading"])
    def test_a_value_that_is_no_project_id_is_refused(self, monkeypatch, value):
        monkeypatch.setenv("GOOGLE_CLOUD_QUOTA_PROJECT", value)
        with pytest.raises(InvalidRequestError, match="GOOGLE_CLOUD_QUOTA_PROJECT"):
            get_provider("vertex").auth_headers(ApiKey(TOKEN))

    def test_real_google_auth_reads_it_from_the_credentials_file(self, monkeypatch, tmp_path):
        """google-auth itself loads the file (only the token endpoint is faked)."""
        path = tmp_path / "adc.json"
        path.write_text(json.dumps({"type": "authorized_user", "client_id": "cid", "client_secret": "cs",
                                    "refresh_token": "rt", "quota_project_id": "billing-project"}))
        monkeypatch.setenv("GOOGLE_APPLICATION_CREDENTIALS", str(path))
        monkeypatch.setenv("GOOGLE_CLOUD_PROJECT", "my-project")
        token_endpoint = fake_token_endpoint(monkeypatch)
        provider = get_provider("vertex")
        store = AuthStore(environ=dict(os.environ))
        assert provider.credential_headers(store) == ("Authorization", "x-goog-user-project")
        assert token_endpoint == [], "explain's view loads nothing and fetches no token"
        headers = provider.auth_headers(provider.resolve_auth(store))
        assert headers == {"Authorization": "Bearer ya29.from-the-token-endpoint",
                           "x-goog-user-project": "billing-project"}
        assert token_endpoint == ["https://oauth2.googleapis.com/token"]


def fake_token_endpoint(monkeypatch):
    """google-auth's HTTP request for a token, answered here; returns the URLs asked."""
    asked = []

    class Answer:
        status = 200
        headers = {}
        data = json.dumps({"access_token": "ya29.from-the-token-endpoint", "expires_in": 3600}).encode()

    def request(url, method="GET", body=None, headers=None, **kwargs):
        asked.append(url)
        return Answer()

    monkeypatch.setattr(vertex_auth, "_auth_request", lambda: request)
    monkeypatch.setattr(vertex_auth, "_ADC", vertex_auth.ApplicationDefaultTokens())
    return asked


class TestExplainCredentials:
    """What explain() shows is what auth_headers will send; nothing is loaded or fetched."""

    def test_default_credentials_show_authorization_without_a_token(self, adc):
        assert get_provider("vertex").credential_headers(AuthStore(environ={})) == ("Authorization",)
        assert adc.calls == [] and adc.refreshes == 0

    def test_the_quota_project_shows_when_it_will_be_sent(self, adc, tmp_path):
        path = tmp_path / "sa.json"
        path.write_text(json.dumps({"type": "service_account", "quota_project_id": "billing-project"}))
        store = AuthStore(environ={"GOOGLE_APPLICATION_CREDENTIALS": str(path)})
        names = get_provider("vertex").credential_headers(store)
        assert names == ("Authorization", "x-goog-user-project")
        assert adc.calls == []

    def test_once_loaded_the_credentials_say_it(self, adc):
        adc.quota_project_id = "billing-project"
        provider = get_provider("vertex")
        provider.resolve_auth(AuthStore(environ={})).reveal()
        assert provider.credential_headers(AuthStore(environ={})) == ("Authorization", "x-goog-user-project")

    def test_the_environment_variable_shows_for_an_explicit_token(self):
        store = AuthStore(api_keys={"vertex": TOKEN}, environ={"GOOGLE_CLOUD_QUOTA_PROJECT": "billing-project"})
        assert get_provider("vertex-anthropic").credential_headers(store) == ("Authorization", "x-goog-user-project")

    def test_without_google_auth_nothing_would_be_sent(self, monkeypatch):
        monkeypatch.setitem(sys.modules, "google.auth", None)
        assert get_provider("vertex").credential_headers(AuthStore(environ={})) == ()


# -- express mode ------------------------------------------------------------------------------------


EXPRESS_ENV = {"GOOGLE_GENAI_USE_VERTEXAI": "true", "GOOGLE_API_KEY": "AIza-express-key-for-tests"}


class TestExpressMode:
    """An API key instead of OAuth, on the global endpoint without a project, exactly when
    google-genai takes one (python-genai ``_api_client.py``)."""

    @pytest.mark.parametrize("env, expected", [
        (EXPRESS_ENV, "GOOGLE_API_KEY"),
        ({"GOOGLE_GENAI_USE_VERTEXAI": "1", "GEMINI_API_KEY": "k"}, "GEMINI_API_KEY"),
        ({**EXPRESS_ENV, "GEMINI_API_KEY": "k"}, "GOOGLE_API_KEY"),
        ({"GOOGLE_API_KEY": "k"}, None),
        ({**EXPRESS_ENV, "GOOGLE_GENAI_USE_VERTEXAI": "false"}, None),
        ({**EXPRESS_ENV, "GOOGLE_CLOUD_PROJECT": "my-project"}, None),
        ({**EXPRESS_ENV, "GOOGLE_CLOUD_LOCATION": "us-central1"}, None),
        ({"GOOGLE_GENAI_USE_VERTEXAI": "true"}, None),
    ])
    def test_when_google_genai_would_use_a_key(self, env, expected):
        assert vertex_auth.express_key_env(env) == expected

    def test_the_key_goes_in_x_goog_api_key_on_the_global_endpoint(self):
        provider = get_provider("vertex")
        key = provider.resolve_auth(AuthStore(environ=EXPRESS_ENV))
        assert provider.auth_headers(key) == {"x-goog-api-key": "AIza-express-key-for-tests"}
        assert provider.base_url_from_environment(EXPRESS_ENV) == "https://aiplatform.googleapis.com/v1"
        assert provider.credential_headers(AuthStore(environ=EXPRESS_ENV)) == ("x-goog-api-key",)
        assert "AIza" not in repr(key)

    def test_the_key_stays_an_express_key_when_pickled(self):
        key = get_provider("vertex").resolve_auth(AuthStore(environ=EXPRESS_ENV))
        assert get_provider("vertex").auth_headers(pickle.loads(pickle.dumps(key))) == {
            "x-goog-api-key": "AIza-express-key-for-tests"}

    def test_an_explicit_token_still_wins(self):
        store = AuthStore(api_keys={"vertex": TOKEN}, environ=EXPRESS_ENV)
        assert get_provider("vertex").auth_headers(get_provider("vertex").resolve_auth(store)) == {
            "Authorization": f"Bearer {TOKEN}"}

    def test_a_project_in_the_environment_wins_over_the_key(self, adc):
        env = {**EXPRESS_ENV, "GOOGLE_CLOUD_PROJECT": "my-project"}
        provider = get_provider("vertex")
        assert provider.auth_headers(provider.resolve_auth(AuthStore(environ=env))) == {
            "Authorization": "Bearer ya29.token-1"}
        assert "/projects/my-project/" in provider.base_url_from_environment(env)

    def test_claude_on_vertex_takes_no_express_key(self, adc):
        provider = get_provider("vertex-anthropic")
        assert not isinstance(provider.resolve_auth(AuthStore(environ=EXPRESS_ENV)), vertex_auth.ExpressModeKey)
        with pytest.raises(InvalidRequestError, match="express mode API keys .* serve only Gemini"):
            provider.base_url_from_environment(EXPRESS_ENV)


def test_import_llmsync_and_other_providers_never_import_google_auth():
    code = (
        "import sys, llmsync\n"
        "from llmsync.registry import get_provider\n"
        "from llmsync.options import Request\n"
        "from llmsync.auth import AuthStore\n"
        "for pid, model in [('gemini', 'gemini-2.5-flash'), ('anthropic', 'claude-sonnet-4-5')]:\n"
        "    p = get_provider(pid)\n"
        "    p.build_request(Request(model=pid + '/' + model, messages='hi'), model)\n"
        "    p.resolve_auth(AuthStore(api_keys={pid: 'k'}, environ={}))\n"
        "v = get_provider('vertex')\n"
        "v.build_request(Request(model='vertex/gemini-2.5-flash', messages='hi'), 'gemini-2.5-flash')\n"
        "v.resolve_auth(AuthStore(api_keys={'vertex': 'ya29.t'}, environ={}))\n"
        "assert not any(m == 'google.auth' or m.startswith('google.auth.') for m in sys.modules), "
        "sorted(m for m in sys.modules if m.startswith('google'))\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, timeout=60)


# -- replies ---------------------------------------------------------------------------------------


def parse_recording(name):
    case = recording(name)
    provider = get_provider(case["provider"])
    model = case["request"]["url_path"].rsplit("/", 1)[1].split(":", 1)[0]
    body = case["response"]["body"]
    if not case["api"].startswith("stream"):
        return provider.parse_response(json.loads(body), model), case["expected"]
    parser = provider.stream_parser(model)
    # Split mid-event so the SSE framing (CRLF CRLF on Vertex Gemini) is reassembled.
    raw = body.encode("utf-8")
    chunks = [raw[i:i + 97] for i in range(0, len(raw), 97)]
    for event, data in provider.decode_stream(iter(chunks)):
        parser.feed(event, data)
    return parser.finish(), case["expected"]


@pytest.mark.parametrize("name", vertex_recordings())
def test_recorded_vertex_replies_parse_to_their_expected_blocks(name):
    response, expected = parse_recording(name)
    if expected["usage"] is not None:
        assert_matches_expected(response, expected)
        return
    # A reply without token counts (a blocked prompt) has no usage, not zeros.
    assert response.usage is None
    assert (response.content or "") == expected["text"] and response.tool_calls == expected["tool_calls"]
    assert response.reasoning == expected["reasoning"]
    assert response.finish_reason.value == expected["finish_reason"]


def test_there_are_recordings_of_both_vertex_providers():
    providers = {recording(name)["provider"] for name in vertex_recordings()}
    assert providers == {"vertex", "vertex-anthropic"}


class TestVertexEndings:
    def test_a_blocked_prompt_says_why(self):
        response, _ = parse_recording("vertex_prompt_blocked_model_armor.json")
        assert response.finish_reason is FinishReason.CONTENT_FILTER
        assert "MODEL_ARMOR" in response.error_message
        assert "Prompt Injection" in response.error_message

    @pytest.mark.parametrize("reason", ["MODEL_ARMOR", "SAFETY", "PROHIBITED_CONTENT", "SPII", "BLOCKLIST",
                                        "RECITATION", "IMAGE_SAFETY"])
    def test_safety_finishes_are_content_filter_with_the_text_kept(self, reason):
        body = {"candidates": [{"content": {"role": "model", "parts": [{"text": "Partial"}]},
                                "finishReason": reason}],
                "usageMetadata": {"promptTokenCount": 3, "candidatesTokenCount": 1, "totalTokenCount": 4}}
        response = get_provider("vertex").parse_response(body, "gemini-2.5-flash")
        assert response.finish_reason is FinishReason.CONTENT_FILTER
        assert response.content == "Partial"

    def test_a_usage_report_without_counts_is_no_usage(self):
        parser = get_provider("vertex").stream_parser("gemini-2.5-flash")
        chunk = {"candidates": [{"content": {"role": "model", "parts": [{"text": "Hi"}]}}],
                 "usageMetadata": {"trafficType": "ON_DEMAND"}}
        events = parser.feed("", json.dumps(chunk))
        assert [type(e).__name__ for e in events] == ["TextDelta"]
        with pytest.raises(StreamError) as caught:  # cut before the last chunk
            parser.finish()
        assert caught.value.partial.usage is None
        assert caught.value.partial.content == "Hi"

    def test_the_recorded_thought_signature_is_kept_for_the_next_turn(self):
        response, _ = parse_recording("vertex_generate_function_call_id_thought_signature.json")
        assert response.tool_calls[0].signature.startswith("AY89a19")
        follow = Request(model="vertex/gemini-3-flash-preview",
                         messages=[Message.user("Hi"), response.to_message()])
        parts = get_provider("vertex").build_request(follow, "gemini-3-flash-preview").body["contents"][1]["parts"]
        assert parts[0]["thoughtSignature"] == response.tool_calls[0].signature
        assert parts[0]["functionCall"]["id"] == "vcyiitct"


# -- errors ------------------------------------------------------------------------------------------


def google_error(code, status, message, reason=None):
    error = {"code": code, "message": message, "status": status}
    if reason:
        error["details"] = [{"@type": "type.googleapis.com/google.rpc.ErrorInfo", "reason": reason,
                             "domain": "googleapis.com"}]
    return {"error": error}


class TestErrors:
    @pytest.mark.parametrize("provider_id", ["vertex", "vertex-anthropic"])
    def test_api_not_enabled_says_how_to_enable_it(self, provider_id):
        body = google_error(403, "PERMISSION_DENIED", "Vertex AI API has not been used in project 123 before "
                            "or it is disabled.", "SERVICE_DISABLED")
        info = get_provider(provider_id).describe_error(403, body, json.dumps(body))
        assert info.message.startswith("Vertex AI API has not been used")
        assert "gcloud services enable aiplatform.googleapis.com" in info.message
        assert info.error_type == "PERMISSION_DENIED"

    @pytest.mark.parametrize("provider_id", ["vertex", "vertex-anthropic"])
    def test_permission_denied_names_the_role(self, provider_id):
        body = google_error(403, "PERMISSION_DENIED", "Permission 'aiplatform.endpoints.predict' denied on "
                            "resource", "IAM_PERMISSION_DENIED")
        info = get_provider(provider_id).describe_error(403, body, json.dumps(body))
        assert "roles/aiplatform.user" in info.message

    @pytest.mark.parametrize("provider_id", ["vertex", "vertex-anthropic"])
    def test_a_model_not_in_the_location_points_at_the_location(self, provider_id):
        body = [google_error(404, "NOT_FOUND", "Publisher Model `projects/p/locations/global/publishers/google/"
                                               "models/gemini-x` was not found or your project does not have "
                                               "access to it.")]
        info = get_provider(provider_id).describe_error(404, body, json.dumps(body))
        assert "was not found" in info.message and "GOOGLE_CLOUD_LOCATION" in info.message
        assert info.error_type == "NOT_FOUND"

    def test_an_expired_token_says_how_to_get_a_new_one(self):
        body = google_error(401, "UNAUTHENTICATED", "Request had invalid authentication credentials.",
                            "ACCESS_TOKEN_EXPIRED")
        info = get_provider("vertex").describe_error(401, body, json.dumps(body))
        assert "application-default login" in info.message

    def test_claudes_own_errors_keep_the_anthropic_reading(self):
        error = {"type": "invalid_request_error", "message": "prompt is too long: 210000 tokens > 200000 maximum"}
        body = {"type": "error", "error": error}
        info = get_provider("vertex-anthropic").describe_error(400, body, json.dumps(body))
        assert info.error_type == "invalid_request_error" and info.context_length


# -- FakeServer ---------------------------------------------------------------------------------------


class TestFakeServerFormats:
    def test_both_vertex_url_shapes_have_a_format(self):
        base = "/v1/projects/p/locations/global"
        assert isinstance(format_for(f"{base}/publishers/google/models/gemini-2.5-flash:generateContent"),
                          VertexGeminiFormat)
        assert isinstance(format_for(f"{base}/publishers/anthropic/models/claude-haiku-4-5@20251001:rawPredict"),
                          VertexAnthropicFormat)
        assert format_for("/v1beta/models/gemini-2.5-flash:generateContent").name == "gemini"

    def test_claude_streams_are_chosen_by_the_path(self):
        wire = VertexAnthropicFormat()
        assert wire.is_stream("/x/publishers/anthropic/models/m:streamRawPredict", {})
        assert not wire.is_stream("/x/publishers/anthropic/models/m:rawPredict", {"stream": True})

    def test_gemini_chunks_carry_counts_only_at_the_end_and_parse_back(self):
        reply = Reply(text="one two three four", usage=Usage(5, 7, 12))
        events = VertexGeminiFormat().stream_events(reply, "gemini-2.5-flash")
        chunks = [json.loads(e.decode()[len("data: "):]) for e in events]
        assert all(c["usageMetadata"] == {"trafficType": "ON_DEMAND"} for c in chunks[:-1])
        assert chunks[-1]["usageMetadata"]["totalTokenCount"] == 12
        parser = get_provider("vertex").stream_parser("gemini-2.5-flash")
        for event, data in get_provider("vertex").decode_stream(iter(events)):
            parser.feed(event, data)
        response = parser.finish()
        assert response.content == "one two three four"
        assert (response.usage.prompt_tokens, response.usage.total_tokens) == (5, 12)

    def test_claude_replies_name_the_model_as_vertex_does(self):
        body = VertexAnthropicFormat().body(Reply(text="Hi"), "claude-haiku-4-5@20251001")
        response = get_provider("vertex-anthropic").parse_response(body, "claude-haiku-4-5@20251001")
        assert response.model == "claude-haiku-4-5-20251001" and response.content == "Hi"


# -- through Client and FakeServer ----------------------------------------------------------------------


@pytest.fixture
def fake():
    with FakeServer() as server:
        yield server


def vertex_client(server, **options):
    base = f"{server.url}/v1/projects/my-project/locations/global"
    options.setdefault("api_keys", {"vertex": TOKEN})
    return llmsync.Client(base_urls={"vertex": base, "vertex-anthropic": base}, timeout=5.0, **options)


class TestThroughClient:
    def test_gemini_generate(self, fake):
        fake.add(Reply(text="Hello from Gemini on Vertex", usage=Usage(5, 7, 12)))
        with vertex_client(fake) as client:
            response = client.generate("vertex/gemini-2.5-flash", "Hi")
        assert response.content == "Hello from Gemini on Vertex"
        assert response.usage.total_tokens == 12
        received = fake.requests[0]
        assert received.path == "/v1/projects/my-project/locations/global/publishers/google/models/" \
                                "gemini-2.5-flash:generateContent"
        assert received.headers["Authorization"] == f"Bearer {TOKEN}"
        assert "x-goog-api-key" not in {name.lower() for name in received.headers}

    def test_claude_stream(self, fake):
        fake.add(Reply(text="Claude on Vertex", usage=Usage(5, 7, 12)))
        with vertex_client(fake) as client:
            with client.stream("vertex-anthropic/claude-sonnet-4-5@20250929", "Hi") as stream:
                text = "".join(e.text for e in stream if isinstance(e, llmsync.TextDelta))
            response = stream.response
        assert text == "Claude on Vertex"
        assert response.usage.completion_tokens == 7
        received = fake.requests[0]
        assert received.path.endswith("/publishers/anthropic/models/claude-sonnet-4-5@20250929:streamRawPredict")
        assert received.body["anthropic_version"] == "vertex-2023-10-16" and "model" not in received.body
        assert received.headers["Authorization"] == f"Bearer {TOKEN}"
        assert not {"x-api-key", "anthropic-version"} & {name.lower() for name in received.headers}

    def test_default_credentials_reach_the_server_and_never_show_in_explain(self, fake, adc):
        fake.add(Reply(text="ok"))
        with vertex_client(fake, api_keys={}) as client:
            assert client.generate("vertex/gemini-2.5-flash", "Hi").content == "ok"
            shown = client.explain("vertex/gemini-2.5-flash", "Hi")
        assert fake.requests[0].headers["Authorization"] == "Bearer ya29.token-1"
        assert "ya29.token-1" not in json.dumps(shown.headers)

    def test_an_explicit_token_never_shows_in_explain_or_errors(self, fake):
        fake.add(Reply(status=403, body=google_error(403, "PERMISSION_DENIED", f"denied for {TOKEN}",
                                                     "IAM_PERMISSION_DENIED")))
        with vertex_client(fake) as client:
            shown = client.explain("vertex-anthropic/claude-sonnet-4-5@20250929", "Hi")
            with pytest.raises(AuthenticationError) as caught:
                client.generate("vertex-anthropic/claude-sonnet-4-5@20250929", "Hi")
        assert TOKEN not in json.dumps(shown.headers)
        assert TOKEN not in str(caught.value)
        assert "roles/aiplatform.user" in str(caught.value)

    def test_the_quota_project_reaches_the_server_and_shows_redacted_in_explain(self, fake, adc):
        adc.quota_project_id = "billing-project"
        fake.add(Reply(text="ok"))
        with vertex_client(fake, api_keys={}) as client:
            assert client.generate("vertex/gemini-2.5-flash", "Hi").content == "ok"
            shown = client.explain("vertex/gemini-2.5-flash", "Hi")
        assert fake.requests[0].headers["x-goog-user-project"] == "billing-project"
        assert shown.headers["Authorization"] == "***" and shown.headers["x-goog-user-project"] == "***"

    def test_the_quota_project_id_is_no_secret_errors_still_name_it(self, fake, adc):
        adc.quota_project_id = "billing-project"
        denied = "Caller does not have required permission to use project billing-project (ya29.token-1)"
        fake.add(Reply(text="ok"), Reply(status=403, body=google_error(403, "PERMISSION_DENIED", denied,
                                                                       "USER_PROJECT_DENIED")))
        with vertex_client(fake, api_keys={}) as client:
            client.generate("vertex/gemini-2.5-flash", "Hi")
            with pytest.raises(AuthenticationError) as caught:
                client.generate("vertex/gemini-2.5-flash", "Hi")
        assert fake.requests[0].headers["x-goog-user-project"] == "billing-project"
        assert "project billing-project" in str(caught.value) and "ya29.token-1" not in str(caught.value)

    def test_explain_before_any_request_fetches_no_token(self, fake, adc):
        with vertex_client(fake, api_keys={}) as client:
            shown = client.explain("vertex-anthropic/claude-sonnet-4-5@20250929", "Hi")
        assert shown.headers["Authorization"] == "***"
        assert adc.calls == [] and adc.refreshes == 0 and fake.requests == []

    def test_the_quota_project_is_a_credential_header_extra_headers_may_not_replace(self, fake, adc):
        adc.quota_project_id = "billing-project"
        with vertex_client(fake, api_keys={}) as client:
            with pytest.raises(InvalidRequestError, match="x-goog-user-project"):
                client.generate("vertex/gemini-2.5-flash", "Hi", extra_headers={"x-goog-user-project": "other"})
        assert fake.requests == []

    def test_the_quota_project_does_not_follow_a_redirect_to_another_host(self, fake, adc, redirector):
        adc.quota_project_id = "billing-project"
        fake.add(Reply(text="ok"))
        port = int(fake.url.rsplit(":", 1)[1])
        redirector.target = f"http://localhost:{port}"
        base = f"http://127.0.0.1:{redirector.server_address[1]}/v1/projects/my-project/locations/global"
        with llmsync.Client(base_urls={"vertex": base}, timeout=5.0, retry=0) as client:
            client.generate("vertex/gemini-2.5-flash", "Hi")
        assert redirector.seen[0]["x-goog-user-project"] == "billing-project"
        assert len(fake.requests) == 1
        assert not {"authorization", "x-goog-user-project"} & {name.lower() for name in fake.requests[0].headers}

    def test_express_mode_from_the_environment(self, fake, monkeypatch):
        monkeypatch.delenv("GOOGLE_CLOUD_PROJECT", raising=False)
        monkeypatch.delenv("GOOGLE_CLOUD_LOCATION", raising=False)
        monkeypatch.delenv("VERTEX_BASE_URL", raising=False)
        for name, value in EXPRESS_ENV.items():
            monkeypatch.setenv(name, value)
        fake.add(Reply(text="express"))
        with llmsync.Client(base_urls={"vertex": f"{fake.url}/v1"}, timeout=5.0) as client:
            assert client.generate("vertex/gemini-2.5-flash", "Hi").content == "express"
            shown = client.explain("vertex/gemini-2.5-flash", "Hi")
        received = fake.requests[0]
        assert received.path == "/v1/publishers/google/models/gemini-2.5-flash:generateContent"
        assert received.headers["x-goog-api-key"] == "AIza-express-key-for-tests"
        assert "authorization" not in {name.lower() for name in received.headers}
        assert shown.headers["x-goog-api-key"] == "***" and "AIza" not in json.dumps(shown.headers)
        with llmsync.Client() as client:  # no base_urls: Google's global endpoint, no project in the path
            assert client.explain("vertex/gemini-2.5-flash", "Hi").url == (
                "https://aiplatform.googleapis.com/v1/publishers/google/models/gemini-2.5-flash:generateContent")

    def test_a_missing_project_fails_before_any_http(self, fake, monkeypatch):
        monkeypatch.delenv("GOOGLE_CLOUD_PROJECT", raising=False)
        monkeypatch.delenv("VERTEX_BASE_URL", raising=False)
        with llmsync.Client(api_keys={"vertex": TOKEN}) as client:
            with pytest.raises(InvalidRequestError, match="GOOGLE_CLOUD_PROJECT"):
                client.generate("vertex/gemini-2.5-flash", "Hi")
        assert fake.requests == []

    def test_the_url_is_built_from_project_and_location(self, monkeypatch):
        monkeypatch.setenv("GOOGLE_CLOUD_PROJECT", "my-project")
        monkeypatch.setenv("GOOGLE_CLOUD_LOCATION", "us-east5")
        monkeypatch.delenv("VERTEX_BASE_URL", raising=False)
        with llmsync.Client(api_keys={"vertex": TOKEN}) as client:
            url = client.explain("vertex-anthropic/claude-haiku-4-5@20251001", "Hi").url
        assert url == ("https://us-east5-aiplatform.googleapis.com/v1/projects/my-project/locations/us-east5"
                       "/publishers/anthropic/models/claude-haiku-4-5@20251001:rawPredict")


# -- catalog ---------------------------------------------------------------------------------------------


class TestCatalog:
    def test_vertex_claude_ids_find_their_entries_and_prices(self):
        meta = lookup("vertex-anthropic", "claude-sonnet-4-5@20250929")
        assert meta is not None and meta.id == "claude-sonnet-4-5"
        assert (meta.input_price, meta.output_price) == (3.0, 15.0)
        assert lookup("vertex-anthropic", "claude-opus-4-1@20250805").id == "claude-opus-4-1"

    def test_vertex_gemini_entries(self):
        meta = lookup("vertex", "gemini-2.5-pro")
        assert meta is not None and meta.thinking_style == "budget"
        assert get_provider("vertex").supports_reasoning_effort("gemini-3-flash-preview")

    @pytest.mark.parametrize("provider_id", ["vertex", "vertex-anthropic"])
    def test_every_entry_has_limits_and_prices(self, provider_id):
        entries = models(provider_id)
        assert entries
        for meta in entries:
            assert meta.context_window and meta.max_output_tokens, meta.id
            assert meta.input_price is not None and meta.output_price is not None, meta.id


# -- docs -------------------------------------------------------------------------------------------------


DOCS = os.path.join(os.path.dirname(__file__), os.pardir, os.pardir, "docs", "vertex.rst")


@pytest.mark.skipif(not os.path.exists(DOCS), reason="docs/vertex.rst not written yet")
def test_the_docs_offline_example_runs():
    with open(DOCS, encoding="utf-8") as handle:
        text = handle.read()
    start = text.index(".. offline-example-start")
    block = text[start:text.index(".. offline-example-end")]
    code = "\n".join(line[4:] for line in block.splitlines() if line.startswith("    "))
    namespace = {}
    exec(compile(code, "docs/vertex.rst", "exec"), namespace)
    assert namespace["reply"].content
