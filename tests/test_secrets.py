"""API keys stay secret: never in a repr, str, error, warning, log record or URL, never
sent along a redirect to another host, never sent to another provider, and never read
from an auth file others can read.
"""
import json
import logging
import os
import pickle
import stat
import traceback
import warnings

import pytest

import llmsync
from llmsync.errors import AuthenticationError, LLMError
from llmsync.providers.openai import ChatCompletionsProvider
from llmsync.registry import register_provider
from llmsync.testing import FakeServer, Reply
from tests.conftest import FORMAT_MODELS, each_format, fast_client, quick_retry


def provider_of(model):
    return model.split("/", 1)[0]


# Distinct, recognisable secrets, one per provider id.
KEYS = {provider_of(model): f"sk-{provider_of(model)}-SECRET-{n}1f9c2e7d" for n, model in enumerate(FORMAT_MODELS)}
KEY_HEADERS = ("authorization", "x-api-key", "x-goog-api-key", "api-key", "proxy-authorization")
ENV_KEYS = ("OPENAI_API_KEY", "ANTHROPIC_API_KEY", "GEMINI_API_KEY", "GOOGLE_API_KEY", "LLMSYNC_AUTH_FILE")


@pytest.fixture(autouse=True)
def no_keys_in_the_environment(monkeypatch):
    for name in ENV_KEYS:
        monkeypatch.delenv(name, raising=False)


@pytest.fixture
def everything_logged(caplog):
    """Capture every log record, DEBUG included (llmsync, urllib3, root)."""
    caplog.set_level(logging.DEBUG)
    for name in ("llmsync", "urllib3", "requests"):
        caplog.set_level(logging.DEBUG, logger=name)
    return caplog


def texts_of_error(error):
    """Every rendering of an exception and its whole chain: str, repr, traceback, pickle."""
    out = ["".join(traceback.format_exception(type(error), error, error.__traceback__))]
    seen = set()
    while error is not None and id(error) not in seen:
        seen.add(id(error))
        out += [str(error), repr(error), repr(getattr(error, "args", ""))]
        error = error.__cause__ or error.__context__
    return out


def assert_no_key(texts, keys=tuple(KEYS.values())):
    for text in texts:
        text = text.decode("utf-8", "replace") if isinstance(text, bytes) else str(text)
        for key in keys:
            assert key not in text, f"a key leaked into: {text[:300]!r}"


def log_texts(caplog):
    out = []
    for record in caplog.records:
        out.append(record.getMessage())
        if record.exc_info:
            out.append("".join(traceback.format_exception(*record.exc_info)))
    out.append(caplog.text)
    return out


def request_texts(server):
    """What the server saw apart from the key headers: paths (URLs) and bodies."""
    return [r.path for r in server.requests] + [json.dumps(r.body) for r in server.requests]


def keyed_client(server, **options):
    options.setdefault("retry", quick_retry(max_retries=2))
    return fast_client(server, api_keys=dict(KEYS), **options)


# -- nothing shows a key -----------------------------------------------------------------------


@pytest.mark.parametrize("model", each_format())
def test_no_key_in_logs_reprs_or_urls_on_success(server, everything_logged, model):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        with keyed_client(server) as client:
            response = client.generate(model, "hi")
            with client.stream(model, "hi") as stream:
                events = list(stream)
            plan = client.explain(model, "hi", stream=True)
            renderings = [repr(client), str(client), repr(response), repr(events), repr(stream),
                          repr(plan), str(plan.headers), plan.url]
    assert response.content and events
    assert all(value == "***" for name, value in plan.headers.items() if name.lower() in KEY_HEADERS)
    assert_no_key(renderings + log_texts(everything_logged) + request_texts(server))
    assert_no_key(str(w.message) for w in caught)
    assert any("POST" in r.getMessage() or "HTTP" in r.getMessage() for r in everything_logged.records), \
        "DEBUG logging was captured"
    sent = server.requests[0].headers
    assert any(KEYS[provider_of(model)] in sent.get(h.title(), sent.get(h, "")) for h in KEY_HEADERS), \
        "the key is sent, in a header"


FAILURES = {
    "401": [Reply.error(401, "invalid api key")],
    "429-then-500s": [Reply.error(429, "slow down", headers={"Retry-After": "0"}),
                      Reply.error(500, "boom"), Reply.error(503, "boom")],
    "400": [Reply.error(400, "bad request")],
    "html-502": [Reply(status=502, body=b"<html><title>Bad Gateway</title></html>", content_type="text/html")] * 3,
    "broken-stream": [Reply(text="partial text, long enough for many events", chunk_size=2, disconnect_after=8)],
}


@pytest.mark.parametrize("failure", sorted(FAILURES))
@pytest.mark.parametrize("model", each_format())
def test_no_key_in_errors_logs_or_warnings_on_http_failures_and_retries(server, everything_logged, model, failure):
    server.add(*FAILURES[failure])
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        with keyed_client(server) as client:
            with pytest.raises(LLMError) as raised:
                with client.stream(model, "hi") as stream:
                    list(stream)
    error = raised.value
    assert_no_key(texts_of_error(error) + [pickle.dumps(error)] + log_texts(everything_logged)
                  + request_texts(server) + [repr(error.partial)])
    assert_no_key(str(w.message) for w in caught)


@pytest.mark.parametrize("model", each_format())
def test_no_key_in_network_errors_and_their_retries(everything_logged, model):
    with FakeServer() as dead:
        urls = dead.base_urls()
    with llmsync.Client(api_keys=dict(KEYS), base_urls=urls, timeout=1.0,
                        retry=quick_retry(max_retries=2)) as client:
        with pytest.raises(llmsync.NetworkError) as raised:
            client.generate(model, "hi")
    assert raised.value.attempts == 3
    assert any("retrying" in r.getMessage() for r in everything_logged.records)
    assert_no_key(texts_of_error(raised.value) + log_texts(everything_logged))


@pytest.mark.parametrize("model", each_format())
def test_no_key_in_timeouts(server, everything_logged, model):
    server.add(Reply(text="late", delay_before=0.5))
    with keyed_client(server, timeout=(1.0, 0.1), retry=llmsync.RetryPolicy.none()) as client:
        with pytest.raises(llmsync.TimeoutError) as raised:
            client.generate(model, "hi")
    assert_no_key(texts_of_error(raised.value) + log_texts(everything_logged))


def test_api_key_and_auth_store_reprs_are_redacted():
    key = llmsync.ApiKey(KEYS["openai"])
    store = llmsync.AuthStore({"openai": KEYS["openai"]})
    assert_no_key([repr(key), str(key), f"{key}", repr(store), str(store), repr([key])])
    assert key.reveal() == KEYS["openai"]


def test_a_key_echoed_in_an_error_body_is_redacted(server):
    key = KEYS["openai"]
    server.add(Reply.error(401, f"Incorrect API key provided: {key}. Find your key at ..."))
    with keyed_client(server) as client:
        with pytest.raises(AuthenticationError) as raised:
            client.generate("openai/gpt-4o-mini", "hi")
    assert "Incorrect API key provided" in raised.value.message
    assert_no_key(texts_of_error(raised.value))


def test_a_key_with_a_line_break_is_refused_without_showing_it(server):
    key = "sk-first-SECRET-line\nsk-second-SECRET-line"
    with pytest.raises(LLMError) as raised:
        with server.client(api_keys={"openai": key}, retry=llmsync.RetryPolicy.none()) as client:
            client.generate("openai/gpt-4o-mini", "hi")
    assert_no_key(texts_of_error(raised.value), keys=("SECRET-line",))
    assert not server.requests


def test_a_key_with_a_non_ascii_character_is_refused_clearly(server):
    key = "sk-pasted-SECRET…"
    with pytest.raises(AuthenticationError) as raised:
        with server.client(api_keys={"openai": key}, retry=llmsync.RetryPolicy.none()) as client:
            client.generate("openai/gpt-4o-mini", "hi")
    assert "API key" in str(raised.value)
    assert_no_key(texts_of_error(raised.value), keys=("pasted-SECRET",))


# -- redirects ---------------------------------------------------------------------------------


def _base_path(model, server):
    return server.base_urls()[provider_of(model)][len(server.url):]


@pytest.mark.parametrize("target_host", ["localhost", "127.0.0.1"], ids=["other-host", "other-port"])
@pytest.mark.parametrize("model", each_format())
def test_no_key_follows_a_redirect_to_another_host(server, redirector, model, target_host):
    port = int(server.url.rsplit(":", 1)[1])
    redirector.target = f"http://{target_host}:{port}"
    base = f"http://127.0.0.1:{redirector.server_address[1]}{_base_path(model, server)}"
    with llmsync.Client(api_keys=dict(KEYS), base_urls={provider_of(model): base}, timeout=5.0,
                        retry=llmsync.RetryPolicy.none()) as client:
        try:
            client.generate(model, "hi")
        except LLMError as error:  # following or refusing the redirect are both fine
            assert_no_key(texts_of_error(error))
    key = KEYS[provider_of(model)]
    assert any(key in value for value in redirector.seen[0].values()), "the first host got the key"
    assert len(server.requests) == 1, "the redirect was followed (requests' default)"
    for received in server.requests:
        leaked = {name: value for name, value in received.headers.items()
                  if name.lower() in KEY_HEADERS or any(k in value for k in KEYS.values())}
        assert leaked == {}, f"sent along the redirect: {leaked}"


# -- the auth file -----------------------------------------------------------------------------


def _auth_file(tmp_path, mode):
    path = tmp_path / "auth.json"
    path.write_text(json.dumps({"openai": KEYS["openai"]}), encoding="utf-8")
    os.chmod(path, mode)
    return str(path)


@pytest.mark.skipif(os.name != "posix", reason="POSIX file modes")
@pytest.mark.parametrize("mode", [0o644, 0o640, 0o604, 0o660, 0o606], ids=oct)
@pytest.mark.parametrize("how", ["argument", "environment"])
def test_an_auth_file_readable_by_others_is_refused(server, tmp_path, monkeypatch, mode, how):
    path = _auth_file(tmp_path, mode)
    options = {"auth_file": path} if how == "argument" else {}
    if how == "environment":
        monkeypatch.setenv("LLMSYNC_AUTH_FILE", path)
    with pytest.raises(AuthenticationError) as raised:
        with llmsync.Client(base_urls=server.base_urls(), **options) as client:
            client.generate("openai/gpt-4o-mini", "hi")
    assert "chmod 600" in str(raised.value) and path in str(raised.value)
    assert_no_key(texts_of_error(raised.value))
    assert server.requests == []


@pytest.mark.skipif(os.name != "posix", reason="POSIX file modes")
def test_a_private_auth_file_is_used(server, tmp_path):
    path = _auth_file(tmp_path, stat.S_IRUSR | stat.S_IWUSR)
    with llmsync.Client(base_urls=server.base_urls(), auth_file=path) as client:
        assert client.generate("openai/gpt-4o-mini", "hi").content
        assert_no_key([repr(client)])
    assert server.requests[0].headers["Authorization"] == f"Bearer {KEYS['openai']}"


# -- each key goes to its own provider only ---------------------------------------------------


class _OtherVendor(ChatCompletionsProvider):
    """A second Chat Completions provider, so two providers share one wire format."""

    id = "secrets-test-vendor"
    default_base_url = None
    env_keys = ()


def test_each_key_is_sent_only_to_its_own_providers_base_url():
    register_provider(_OtherVendor())
    models = FORMAT_MODELS + ["secrets-test-vendor/any-model"]
    keys = dict(KEYS, **{"secrets-test-vendor": "sk-other-vendor-SECRET-77"})
    servers = {provider_of(model): FakeServer().start() for model in models}
    try:
        base_urls = {pid: s.base_urls().get(pid, s.url + "/v1") for pid, s in servers.items()}
        with llmsync.Client(api_keys=keys, base_urls=base_urls, timeout=5.0) as client:
            for model in models:
                client.generate(model, "hi")
                with client.stream(model, "hi") as stream:
                    list(stream)
        for provider_id, server in servers.items():
            assert len(server.requests) == 2, provider_id
            for received in server.requests:
                values = " ".join(received.headers.values())
                assert keys[provider_id] in values
                others = [k for pid, k in keys.items() if pid != provider_id]
                assert_no_key([values, received.path, json.dumps(received.body)], keys=others)
    finally:
        for server in servers.values():
            server.stop()
