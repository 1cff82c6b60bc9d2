"""Auth: explicit > environment > auth file, and keys that never show themselves."""
import json
import os
import pickle

import pytest

from llmsync import ApiKey, AuthenticationError, AuthStore


@pytest.fixture
def auth_file(tmp_path):
    path = tmp_path / "auth.json"
    path.write_text(json.dumps({"openai": "sk-from-file", "anthropic": "ant-from-file"}))
    os.chmod(path, 0o600)
    return str(path)


def test_explicit_key_wins_over_environment_and_file(auth_file):
    store = AuthStore({"openai": "sk-explicit"}, environ={"OPENAI_API_KEY": "sk-env"}, auth_file=auth_file)
    assert store.get("openai", ["OPENAI_API_KEY"]).reveal() == "sk-explicit"


def test_environment_wins_over_file(auth_file):
    store = AuthStore(environ={"OPENAI_API_KEY": "sk-env"}, auth_file=auth_file)
    assert store.get("openai", ["OPENAI_API_KEY"]).reveal() == "sk-env"


def test_env_vars_are_tried_in_order():
    store = AuthStore(environ={"GOOGLE_API_KEY": "g2"}, auth_file="/nonexistent")
    assert store.get("gemini", ["GEMINI_API_KEY", "GOOGLE_API_KEY"]).reveal() == "g2"


def test_file_is_the_last_resort(auth_file):
    key = AuthStore(environ={}, auth_file=auth_file).get("anthropic", ["ANTHROPIC_API_KEY"])
    assert key.reveal() == "ant-from-file"


def test_auth_file_from_environment_variable(auth_file):
    store = AuthStore(environ={"LLMSYNC_AUTH_FILE": auth_file})
    assert store.get("openai").reveal() == "sk-from-file"


@pytest.mark.parametrize("mode", [0o640, 0o604, 0o644])
def test_file_readable_by_others_is_refused(auth_file, mode):
    os.chmod(auth_file, mode)
    with pytest.raises(AuthenticationError, match="readable by other users.*chmod 600"):
        AuthStore(environ={}, auth_file=auth_file).get("openai")


def test_missing_key_names_the_env_var_to_set():
    with pytest.raises(AuthenticationError, match=r"\$OPENAI_API_KEY"):
        AuthStore(environ={}, auth_file="/nonexistent").require("openai", ["OPENAI_API_KEY"])


def test_api_key_repr_and_str_are_redacted():
    key = ApiKey("sk-secret-value")
    assert "sk-secret" not in repr(key) and "sk-secret" not in str(key)
    assert "sk-secret" not in repr(AuthStore({"openai": key}))
    assert key.reveal() == "sk-secret-value"


def test_empty_key_is_rejected():
    with pytest.raises(AuthenticationError, match="non-empty"):
        ApiKey("  ")


def test_malformed_file_error_does_not_echo_its_content(tmp_path):
    path = tmp_path / "auth.json"
    path.write_text('{"openai": "sk-leaky-secret"')
    os.chmod(path, 0o600)
    with pytest.raises(AuthenticationError) as info:
        AuthStore(environ={}, auth_file=str(path)).get("openai")
    assert "sk-leaky" not in str(info.value)


def test_a_provider_that_needs_no_key_ignores_a_refused_auth_file(auth_file, server, monkeypatch):
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    os.chmod(auth_file, 0o644)
    client = server.client(api_keys={}, auth_file=auth_file)
    assert client.generate("ollama/llama3", "Hi").content
    with pytest.raises(AuthenticationError, match="readable by other users"):
        client.generate("openai/gpt-4o-mini", "Hi")


def test_a_token_provider_is_readable_without_being_called():
    calls = []

    def tokens():
        calls.append(1)
        return "tok-123456789"

    key = ApiKey(token_provider=tokens)
    assert key.token_provider is tokens and ApiKey("sk-fixed").token_provider is None
    assert calls == []


class OwnKindOfKey(ApiKey):
    """A provider's own kind of key (as Vertex's express mode key)."""

    __slots__ = ()


def test_a_subclass_of_key_stays_that_kind_when_pickled():
    copy = pickle.loads(pickle.dumps(OwnKindOfKey("sk-own-kind", "test")))
    assert type(copy) is OwnKindOfKey and copy.reveal() == "sk-own-kind" and copy.source == "test"
