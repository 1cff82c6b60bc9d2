"""Per-call settings, what a response says about itself, secrets by value, the transport seam."""
import json
import logging
import string
from datetime import datetime, timezone
from http.server import BaseHTTPRequestHandler, HTTPServer
import threading

import pytest
from hypothesis import given, settings, strategies as st

import llmsync
from llmsync import InvalidRequestError
from llmsync.testing import Reply
from llmsync.providers.openai import ChatCompletionsProvider
from llmsync.jsonl import result_line
from llmsync.ratelimit import rate_limit_info
from llmsync.testing import FakeServer
from llmsync.transport import HttpRequest, RequestsTransport

MODEL = "openai/gpt-4o-mini"


class CorpProvider(ChatCompletionsProvider):
    """A gateway that takes its key in its own header."""

    id = "corp-gateway"
    default_base_url = "https://llm.corp.example/v1"
    env_keys = ("CORP_GATEWAY_KEY",)

    def auth_headers(self, key):
        return {"X-Corp-Token": key.reveal()} if key else {}


@pytest.fixture
def corp():
    llmsync.register_provider(CorpProvider())
    return "corp-gateway/house-model"


def corp_client(server, secret, **options):
    return llmsync.Client(api_keys={"corp-gateway": secret}, base_urls={"corp-gateway": server.url + "/v1"},
                          retry=0, **options)


class TestPerCallSettings:
    def test_extra_headers_query_and_body_reach_the_wire(self, server):
        server.add(Reply(text="ok"))
        server.client().generate(MODEL, "hi", extra_headers={"X-Trace": "t-1"}, extra_query={"tenant": "a b"},
                                 extra_body={"service_tier": "flex"})
        received = server.requests[0]
        assert received.headers["X-Trace"] == "t-1"
        assert received.path.endswith("/chat/completions?tenant=a+b")
        assert received.body["service_tier"] == "flex"

    def test_explain_shows_their_effect(self, server):
        plan = server.client().explain(MODEL, "hi", extra_headers={"X-Trace": "t-1"}, extra_query={"q": "1"},
                                       extra={"seed_like": 1})
        assert plan.headers["X-Trace"] == "t-1" and plan.url.endswith("?q=1") and plan.body["seed_like"] == 1

    def test_extra_and_extra_body_together_are_refused(self, server):
        with pytest.raises(InvalidRequestError, match="extra_body or extra"):
            server.client().generate(MODEL, "hi", extra={"a": 1}, extra_body={"b": 2})

    def test_a_user_header_never_replaces_a_credential_header(self, server):
        with pytest.raises(InvalidRequestError, match="authorization"):
            server.client().generate(MODEL, "hi", extra_headers={"Authorization": "Bearer mine"})
        assert server.requests == []

    def test_per_call_retry_as_an_int_and_timeout(self, server):
        server.add(Reply.error(500), Reply.error(500), Reply(text="third"))
        client = server.client(retry=0)
        with pytest.raises(llmsync.ProviderError):
            client.generate(MODEL, "hi")
        assert client.generate(MODEL, "hi", retry=llmsync.RetryPolicy(max_retries=2, base_delay=0.001)).content
        server.add(Reply(text="slow", delay_before=1.0))
        with pytest.raises(llmsync.TimeoutError):
            client.generate(MODEL, "hi", timeout=0.2)

    @pytest.mark.parametrize("bad", [dict(timeout=-1), dict(timeout="soon"), dict(retry="often"),
                                     dict(extra_headers=["X"])])
    def test_malformed_settings_are_refused_before_any_http(self, server, bad):
        with pytest.raises(InvalidRequestError):
            server.client().generate(MODEL, "hi", **bad)
        assert server.requests == []

    def test_batch_items_carry_settings(self, server):
        server.default = Reply(text="ok")
        results = list(server.client().batch([{"model": MODEL, "prompt": "a", "retry": 1,
                                               "extra_headers": {"X-Item": "7"}}]))
        assert results[0].ok and server.requests[0].headers["X-Item"] == "7"

    def test_client_default_headers_go_with_every_request(self, server):
        server.add(Reply(text="ok"))
        server.client(default_headers={"X-Team": "search"}).generate(MODEL, "hi")
        assert server.requests[0].headers["X-Team"] == "search"


class TestResponseMetadata:
    def test_request_id_headers_rate_limit_attempts_latency(self, server):
        headers = {"x-request-id": "req_123", "x-ratelimit-limit-requests": "500",
                   "x-ratelimit-remaining-requests": "499", "x-ratelimit-reset-requests": "6m0s",
                   "x-ratelimit-reset-tokens": "20ms"}
        server.add(Reply.error(503), Reply(text="ok", headers=headers))
        response = server.client(retry=llmsync.RetryPolicy(base_delay=0.001)).generate(MODEL, "hi")
        assert response.request_id == "req_123" and response.headers["x-request-id"] == "req_123"
        assert response.rate_limit == llmsync.RateLimitInfo(limit_requests=500, remaining_requests=499,
                                                            reset_requests=360.0, reset_tokens=0.02)
        assert response.attempts == 2 and response.latency > 0

    def test_a_stream_has_time_to_first_token(self, server):
        server.add(Reply(text="hello there", chunk_size=2, delay_between=0.01, headers={"x-request-id": "r9"}))
        with server.client().stream(MODEL, "hi") as stream:
            list(stream)
        response = stream.response
        assert response.request_id == "r9" and 0 < response.time_to_first_token <= response.latency

    def test_metadata_is_not_part_of_equality(self):
        assert llmsync.Response(content="a", latency=1.0) == llmsync.Response(content="a", latency=2.0)


class TestRateLimitHeaders:
    @pytest.mark.parametrize("value, seconds", [("6m0s", 360.0), ("1.5s", 1.5), ("20ms", 0.02), ("1h2m3s", 3723.0),
                                                ("30", 30.0)])
    def test_openai_durations(self, value, seconds):
        assert rate_limit_info({"x-ratelimit-reset-requests": value}).reset_requests == pytest.approx(seconds)

    def test_anthropic_times_are_seconds_from_now(self):
        now = datetime(2026, 11, 29, 8, 0, 0, tzinfo=timezone.utc)
        info = rate_limit_info({"anthropic-ratelimit-tokens-reset": "2026-11-29T08:00:30Z",
                                "anthropic-ratelimit-tokens-limit": "80000"}, now=now)
        assert info.reset_tokens == 30.0 and info.limit_tokens == 80000

    @pytest.mark.parametrize("value", ["soon", "6x", "", "2026-13-99", "-"])
    def test_malformed_values_are_none(self, value):
        info = rate_limit_info({"x-ratelimit-reset-requests": value, "x-ratelimit-limit-requests": value})
        assert info.reset_requests is None and info.limit_requests is None

    def test_no_headers_no_info(self):
        assert rate_limit_info({"content-type": "application/json"}) is None


class TestSecretsByValue:
    SECRET = "corp-SECRET-0123456789abcdef"

    def test_explain_hides_a_custom_credential_header(self, server, corp):
        plan = corp_client(server, self.SECRET).explain(corp, "hi")
        assert plan.headers["X-Corp-Token"] == "***" and self.SECRET not in repr(plan)

    def test_an_echoed_key_is_redacted_from_the_error(self, server, corp):
        server.add(Reply.error(401, f"invalid token {self.SECRET}"))
        with pytest.raises(llmsync.AuthenticationError) as info:
            corp_client(server, self.SECRET).generate(corp, "hi")
        assert self.SECRET not in str(info.value) and "***" in str(info.value)

    def test_response_headers_keep_no_cookie_and_no_echoed_key(self, server, corp):
        server.add(Reply(text="ok", headers={"X-Echo": f"token={self.SECRET}", "Set-Cookie": "session=abc"}))
        response = corp_client(server, self.SECRET).generate(corp, "hi")
        assert response.headers["X-Echo"] == "token=***"
        assert not any(name.lower() == "set-cookie" for name in response.headers)
        assert self.SECRET not in response.to_json()

    def test_log_records_never_show_a_key(self, server, corp, caplog):
        server.add(Reply.error(401, f"invalid token {self.SECRET}"))
        with caplog.at_level(logging.DEBUG, logger="llmsync"):
            with pytest.raises(llmsync.AuthenticationError):
                corp_client(server, self.SECRET).generate(corp, "hi")
            logging.getLogger("llmsync").warning("echo %s", self.SECRET)
        assert self.SECRET not in caplog.text and "echo ***" in caplog.text

    def test_a_redirect_to_another_port_drops_every_credential_header(self, corp):
        seen = {}

        class Landing(BaseHTTPRequestHandler):
            def do_POST(self):
                seen.update(self.headers)
                self.send_response(500)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args):
                pass

        landing = HTTPServer(("127.0.0.1", 0), Landing)
        threading.Thread(target=landing.handle_request, daemon=True).start()
        with FakeServer() as server:
            server.add(Reply(status=307, body=b"", headers={"Location": f"http://127.0.0.1:{landing.server_port}/x"}))
            with pytest.raises(llmsync.LLMError):
                corp_client(server, self.SECRET).generate(corp, "hi")
        landing.server_close()
        assert seen, "the redirect was followed"
        assert "X-Corp-Token" not in seen and self.SECRET not in str(seen)

    @settings(max_examples=30, deadline=None)
    @given(secret=st.text(alphabet=string.ascii_letters + string.digits + "-_.", min_size=12, max_size=40))
    def test_random_keys_never_appear_in_any_output(self, secret):
        llmsync.register_provider(CorpProvider())
        with FakeServer() as server:
            server.add(Reply.error(403, f"bad key {secret} (echoed)"))
            client = corp_client(server, secret)
            plan = client.explain("corp-gateway/m", "hi")
            with pytest.raises(llmsync.LLMError) as info:
                client.generate("corp-gateway/m", "hi")
        record = logging.LogRecord("llmsync", logging.INFO, __file__, 1, "failed: %s", (info.value.message,), None)
        for log_filter in logging.getLogger("llmsync").filters:
            log_filter.filter(record)
        batch_line = json.dumps(result_line("item-1", error=info.value))
        for text in (repr(plan), str(plan.headers), str(info.value), repr(info.value), repr(client),
                     record.getMessage(), batch_line):
            assert secret not in text

    @pytest.mark.parametrize("bad", ["", "   ", "sk-abc\ndef"])
    def test_empty_or_multiline_keys_are_refused_before_any_http(self, server, bad):
        with pytest.raises(llmsync.AuthenticationError):
            llmsync.Client(api_keys={"openai": bad}, base_urls={"openai": server.url + "/v1"}).generate(MODEL, "hi")
        assert server.requests == []


class TestSharedKeysShareBaseUrls:
    def test_responses_follows_openai_base_url_setting(self, server):
        client = llmsync.Client(api_keys={"openai": "sk-test-1234567890"}, base_urls={"openai": "https://gw.corp/v1"})
        assert client.explain("openai-responses/gpt-5-mini", "hi").url == "https://gw.corp/v1/responses"

    def test_responses_follows_openai_base_url_env(self, monkeypatch):
        monkeypatch.setenv("OPENAI_BASE_URL", "https://gw.corp/v1")
        client = llmsync.Client(api_keys={"openai": "sk-test-1234567890"})
        assert client.explain("openai-responses/gpt-5-mini", "hi").url == "https://gw.corp/v1/responses"

    def test_its_own_setting_wins(self, monkeypatch):
        monkeypatch.setenv("OPENAI_BASE_URL", "https://gw.corp/v1")
        client = llmsync.Client(api_keys={"openai": "sk-test-1234567890"},
                                base_urls={"openai-responses": "https://other/v1"})
        assert client.explain("openai-responses/gpt-5-mini", "hi").url == "https://other/v1/responses"


class MockTransport:
    """A transport with no socket: answers every request with one canned reply."""

    def __init__(self, body):
        self.body = body
        self.sent = []

    def send(self, request, timeout, watch, provider=None):
        self.sent.append(request)
        watch.sent = True
        return MockResponse(self.body)

    def close(self):
        pass


class MockResponse:
    status = 200
    headers = {"content-type": "application/json", "x-request-id": "mock-1"}

    def __init__(self, body):
        self.body = body

    def read(self):
        return self.body

    def iter_bytes(self):
        yield self.body

    def shutdown(self):
        pass

    def close(self):
        pass


def test_a_custom_transport_needs_no_socket():
    body = (b'{"id":"c1","object":"chat.completion","model":"gpt-4o-mini","choices":[{"index":0,'
            b'"message":{"role":"assistant","content":"from the mock"},"finish_reason":"stop"}],'
            b'"usage":{"prompt_tokens":3,"completion_tokens":2,"total_tokens":5}}')
    transport = MockTransport(body)
    client = llmsync.Client(api_keys={"openai": "sk-test-1234567890"}, transport=transport)
    response = client.generate(MODEL, "hi")
    assert response.content == "from the mock" and response.request_id == "mock-1"
    sent = transport.sent[0]
    assert isinstance(sent, HttpRequest) and sent.url == "https://api.openai.com/v1/chat/completions"
    assert sent.headers["Authorization"] == "Bearer sk-test-1234567890" and b'"hi"' in sent.body


class _EagerResponse:
    """A custom transport's response whose ``iter_bytes`` reads the whole body when called."""

    def __init__(self, inner):
        self.inner, self.status, self.headers = inner, inner.status, inner.headers

    def iter_bytes(self):
        return iter([self.inner.read()])

    def read(self):
        return self.inner.read()

    def shutdown(self):
        self.inner.shutdown()

    def close(self):
        self.inner.close()


class _EagerTransport(RequestsTransport):
    def send(self, *args, **kwargs):
        return _EagerResponse(super().send(*args, **kwargs))


def test_a_transport_that_reads_at_once_still_gets_the_first_event_deadline():
    # Reading starts inside the first-event attempt, so the deadline explains the failure.
    with FakeServer(default=Reply(text="hello", stall_after=0, stall=3)) as server:
        client = llmsync.Client(api_keys={"openai": "k"}, base_urls=server.base_urls(), transport=_EagerTransport(),
                                retry=llmsync.RetryPolicy.none())
        with pytest.raises(llmsync.TimeoutError, match="no first event") as caught:
            with client.stream(MODEL, "hi", first_token_timeout=0.5) as stream:
                list(stream)
        client.close()
    assert caught.value.partial is not None


class TestProxies:
    @pytest.fixture
    def proxy(self):
        """A loopback 'proxy' that records the request lines it gets and answers 502."""
        lines = []

        class Proxy(BaseHTTPRequestHandler):
            def do_POST(self):
                lines.append(self.requestline)
                self.send_response(502)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args):
                pass

        server = HTTPServer(("127.0.0.1", 0), Proxy)
        thread = threading.Thread(target=server.serve_forever, daemon=True)
        thread.start()
        yield f"http://127.0.0.1:{server.server_port}", lines
        server.shutdown()
        server.server_close()

    def client(self, **options):
        return llmsync.Client(api_keys={"openai": "sk-test-1234567890"},
                              base_urls={"openai": "http://api.corp.test/v1"}, retry=0, **options)

    def test_the_environment_proxy_is_used(self, proxy, monkeypatch):
        url, lines = proxy
        monkeypatch.setenv("HTTP_PROXY", url)
        monkeypatch.delenv("NO_PROXY", raising=False)
        monkeypatch.delenv("no_proxy", raising=False)
        with pytest.raises(llmsync.ProviderError):
            self.client().generate(MODEL, "hi")
        assert lines == ["POST http://api.corp.test/v1/chat/completions HTTP/1.1"]

    def test_an_explicit_proxy_wins_over_the_environment(self, proxy, monkeypatch):
        url, lines = proxy
        monkeypatch.setenv("HTTP_PROXY", "http://127.0.0.1:9")  # nothing listens there
        with pytest.raises(llmsync.ProviderError):
            self.client(proxies={"http": url}).generate(MODEL, "hi")
        assert len(lines) == 1

    def test_no_proxy_is_honoured(self, server, proxy, monkeypatch):
        url, lines = proxy
        monkeypatch.setenv("HTTP_PROXY", url)
        monkeypatch.setenv("NO_PROXY", "127.0.0.1")
        server.add(Reply(text="direct"))
        assert server.client().generate(MODEL, "hi").content == "direct"
        assert lines == []
