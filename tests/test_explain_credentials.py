"""explain() shows every credential header a request will carry, redacted, for every kind of
credential: stored keys, token providers (Azure Entra ID, Vertex application-default
credentials) and request signing (Bedrock SigV4). Nothing is fetched, signed or sent."""
import json

import pytest

import llmsync
from llmsync import ApiKey
from llmsync.auth import AuthStore
from llmsync.providers.bedrock_auth import AwsSigner
from llmsync.registry import get_provider
from llmsync.testing import FakeServer, Reply

AWS_VARS = ("AWS_REGION", "AWS_DEFAULT_REGION", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN",
            "AWS_SECURITY_TOKEN", "AWS_PROFILE", "AWS_DEFAULT_PROFILE", "AWS_BEARER_TOKEN_BEDROCK",
            "AWS_WEB_IDENTITY_TOKEN_FILE", "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI",
            "AWS_CONTAINER_CREDENTIALS_FULL_URI", "BEDROCK_BASE_URL")
AZURE = "https://res.openai.azure.com"


@pytest.fixture(autouse=True)
def no_machine_credentials(monkeypatch, tmp_path):
    """No keys, AWS settings or auth file of the machine running the tests."""
    for name in AWS_VARS + ("AZURE_OPENAI_API_KEY", "OPENAI_API_KEY", "GOOGLE_CLOUD_QUOTA_PROJECT"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "no-config"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "no-credentials"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    monkeypatch.setenv("LLMSYNC_AUTH_FILE", str(tmp_path / "no-auth.json"))
    monkeypatch.setattr(get_provider("bedrock"), "_signer", AwsSigner())


class CountingTokens:
    def __init__(self):
        self.calls = 0

    def __call__(self):
        self.calls += 1
        return f"entra-token-SECRET-{self.calls}"


class TestTokenProviders:
    def test_azure_entra_id_shows_authorization_without_calling_the_provider(self):
        tokens = CountingTokens()
        with llmsync.Client(api_keys={"azure": ApiKey(token_provider=tokens)}, base_urls={"azure": AZURE}) as client:
            plan = client.explain("azure/my-deployment", "Hi")
        assert plan.headers["Authorization"] == "***"
        assert "api-key" not in plan.headers
        assert tokens.calls == 0

    def test_a_token_provider_failing_does_not_break_explain(self):
        def broken():
            raise RuntimeError("token service down")

        with llmsync.Client(api_keys={"azure": ApiKey(token_provider=broken)}, base_urls={"azure": AZURE}) as client:
            assert client.explain("azure/d", "Hi").headers["Authorization"] == "***"

    def test_extra_headers_may_not_replace_a_token_providers_header(self):
        tokens = CountingTokens()
        with llmsync.Client(api_keys={"azure": ApiKey(token_provider=tokens)}, base_urls={"azure": AZURE}) as client:
            with pytest.raises(llmsync.InvalidRequestError, match="(?i)credential header .authorization"):
                client.explain("azure/d", "Hi", extra_headers={"authorization": "Bearer mine"})
        assert tokens.calls == 0

    def test_a_stored_key_keeps_its_own_header(self):
        with llmsync.Client(api_keys={"azure": "azure-key-SECRET"}, base_urls={"azure": AZURE}) as client:
            plan = client.explain("azure/d", "Hi")
        assert plan.headers["api-key"] == "***" and "Authorization" not in plan.headers


class TestSigning:
    def test_sigv4_shows_its_headers_without_resolving_credentials(self, monkeypatch):
        monkeypatch.setenv("AWS_REGION", "us-east-1")
        signer = get_provider("bedrock")._signer
        with llmsync.Client() as client:
            plan = client.explain("bedrock/anthropic.claude-3-haiku-20240307-v1:0", "Hi")
        assert plan.headers["Authorization"] == "***" and plan.headers["X-Amz-Date"] == "***"
        assert "X-Amz-Security-Token" not in plan.headers
        assert signer._credentials is None, "no credential chain was read"

    def test_temporary_credentials_in_the_environment_show_the_token_header(self, monkeypatch):
        monkeypatch.setenv("AWS_REGION", "us-east-1")
        monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AKIDEXAMPLE")
        monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY")
        monkeypatch.setenv("AWS_SESSION_TOKEN", "session-token-SECRET-1")
        with llmsync.Client() as client:
            plan = client.explain("bedrock/anthropic.claude-3-haiku-20240307-v1:0", "Hi")
        assert {plan.headers[name] for name in ("Authorization", "X-Amz-Date", "X-Amz-Security-Token")} == {"***"}
        assert "SECRET" not in json.dumps(plan.headers)

    def test_a_bedrock_api_key_is_a_bearer_token_and_nothing_is_signed(self, monkeypatch):
        monkeypatch.setenv("AWS_REGION", "us-east-1")
        with llmsync.Client(api_keys={"bedrock": "bedrock-api-key-SECRET"}) as client:
            plan = client.explain("bedrock/anthropic.claude-3-haiku-20240307-v1:0", "Hi")
        assert plan.headers["Authorization"] == "***" and "X-Amz-Date" not in plan.headers


class TestTheSeam:
    def test_a_provider_that_needs_no_key_shows_one_it_will_send(self):
        store = AuthStore(api_keys={"ollama": "ollama-key-SECRET"}, environ={})
        assert get_provider("ollama").credential_headers(store) == ("Authorization",)
        assert get_provider("ollama").credential_headers(AuthStore(environ={})) == ()

    def test_a_shared_key_shows_under_its_users_header(self):
        store = AuthStore(api_keys={"openai": "sk-SECRET-shared"}, environ={})
        assert get_provider("openai-responses").credential_headers(store) == ("Authorization",)

    def test_every_header_explain_names_is_one_the_request_carries(self):
        """As a user checks it: explain, then send, against FakeServer."""
        tokens = CountingTokens()
        with FakeServer() as server:
            server.add(Reply(text="ok"))
            with llmsync.Client(api_keys={"azure": ApiKey(token_provider=tokens)},
                                base_urls={"azure": server.url}) as client:
                plan = client.explain("azure/d", "Hi")
                assert tokens.calls == 0
                client.generate("azure/d", "Hi")
            sent = {name.lower(): value for name, value in server.requests[0].headers.items()}
        shown = {name.lower() for name, value in plan.headers.items() if value == "***"}
        assert shown == {"authorization"}
        assert sent["authorization"] == "Bearer entra-token-SECRET-1" and tokens.calls == 1
