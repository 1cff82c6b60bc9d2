"""llmsync.testing helpers: the offline-or-real client used by examples and demos."""
import llmsync
from llmsync.testing import FakeServer, Reply, client_or_fake


def test_without_the_key_it_answers_from_a_fake_server(monkeypatch, capsys):
    monkeypatch.delenv("DEMO_KEY", raising=False)
    with client_or_fake([Reply(text="scripted")], key_env="DEMO_KEY") as client:
        assert client.generate("openai/gpt-4o-mini", "Hi").content == "scripted"
    assert "DEMO_KEY is not set" in capsys.readouterr().out


def test_with_the_key_it_is_a_real_client_with_the_given_options(monkeypatch, capsys):
    monkeypatch.setenv("DEMO_KEY", "set")
    with FakeServer([Reply(text="from the 'real' endpoint")]) as server:
        options = {"api_keys": {"openai": "k"}, "base_urls": {"openai": server.url + "/v1"}}
        with client_or_fake([Reply(text="scripted")], key_env="DEMO_KEY", **options) as client:
            assert isinstance(client, llmsync.Client)
            assert client.generate("openai/gpt-4o-mini", "Hi").content == "from the 'real' endpoint"
    assert "not set" not in capsys.readouterr().out
