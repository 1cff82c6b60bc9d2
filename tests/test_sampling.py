"""Sampling options on each provider's wire, dropped with a warning where there is no field,
and logprobs coming back as ``TokenLogprob``s, streamed and not."""
import json
import warnings

import pytest

import llmsync
from llmsync import LLMSyncWarning, TokenLogprob
from llmsync.testing import FakeServer, Reply

SAMPLING = dict(top_p=0.9, top_k=40, seed=7, user="user-123", logprobs=True, top_logprobs=2)


def explain(model, **options):
    client = llmsync.Client(api_keys={name: "k" for name in (
        "openai", "anthropic", "gemini", "mistral", "groq", "deepseek", "vllm", "bedrock")})
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        plan = client.explain(model, "Hi", **options)
    return plan, [str(w.message) for w in caught if issubclass(w.category, LLMSyncWarning)]


class TestWire:
    def test_unknown_options_are_gone(self):
        with FakeServer([Reply(text="ok")]) as server, server.client() as client:
            client.generate("openai/gpt-4o", "Hi", top_p=0.5, seed=1)
        assert server.requests[0].body["top_p"] == 0.5 and server.requests[0].body["seed"] == 1

    def test_openai_chat(self):
        plan, caught = explain("openai/gpt-4o", **SAMPLING)
        body = plan.body
        assert (body["top_p"], body["seed"], body["safety_identifier"]) == (0.9, 7, "user-123")
        assert body["logprobs"] is True and body["top_logprobs"] == 2
        assert "top_k" not in body and any("top_k dropped" in w for w in caught)

    def test_openai_reasoning_models_take_no_top_p_or_logprobs(self):
        plan, caught = explain("openai/o3", top_p=0.9, logprobs=True)
        assert "top_p" not in plan.body and "logprobs" not in plan.body
        assert sorted(w.split(" ")[1] for w in caught) == ["logprobs", "top_p"]  # each said once
        assert all("while it reasons" in w for w in caught)

    def test_an_option_a_reasoning_vendor_never_takes_is_noted_once(self):
        plan, caught = explain("groq/openai/gpt-oss-120b", top_p=0.5, logprobs=True)
        assert sorted(w.split(" ")[1] for w in caught) == ["logprobs", "top_p"]
        assert "top_p" not in plan.body and "logprobs" not in plan.body

    def test_responses_api(self):
        plan, caught = explain("openai-responses/gpt-4o", **SAMPLING)
        assert plan.body["top_p"] == 0.9 and plan.body["safety_identifier"] == "user-123"
        assert "seed" not in plan.body and {w.split(" ")[1] for w in caught} == {"seed", "top_k"}
        # Logprobs are asked for the Responses way.
        assert plan.body["include"] == ["message.output_text.logprobs"] and plan.body["top_logprobs"] == 2

    def test_anthropic(self):
        plan, caught = explain("anthropic/claude-sonnet-4-5", **SAMPLING)
        body = plan.body
        assert body["top_p"] == 0.9 and body["top_k"] == 40 and body["metadata"] == {"user_id": "user-123"}
        assert "seed" not in body and any("seed dropped" in w for w in caught)
        assert any("logprobs dropped" in w for w in caught)

    def test_anthropic_with_thinking_keeps_top_p_only_from_095(self):
        plan, caught = explain("anthropic/claude-sonnet-4-5", thinking="low", top_p=0.5, top_k=10)
        assert "top_p" not in plan.body and "top_k" not in plan.body
        assert any("0.95" in w for w in caught)

    def test_gemini(self):
        plan, caught = explain("gemini/gemini-2.5-flash", **SAMPLING)
        config = plan.body["generationConfig"]
        assert (config["topP"], config["topK"], config["seed"]) == (0.9, 40, 7)
        assert config["responseLogprobs"] is True and config["logprobs"] == 2
        assert any("user dropped" in w for w in caught)

    @pytest.mark.parametrize("model, dropped", [("mistral/mistral-large-latest", {"top_k", "user", "logprobs"}),
                                                ("groq/llama-3.3-70b-versatile", {"top_k", "logprobs"}),
                                                ("deepseek/deepseek-chat", {"top_k", "seed", "user"})])
    def test_compatible_vendors_drop_what_they_lack(self, model, dropped):
        plan, caught = explain(model, **SAMPLING)
        assert not dropped & set(plan.body)
        assert dropped <= {w.split(" ")[1] for w in caught}

    def test_mistral_names_the_seed_random_seed(self):
        plan, _ = explain("mistral/mistral-large-latest", seed=3)
        assert plan.body["random_seed"] == 3 and "seed" not in plan.body

    def test_a_self_hosted_server_gets_every_option(self):
        plan, caught = explain("vllm/any-model", **SAMPLING)
        assert plan.body["top_k"] == 40 and plan.body["user"] == "user-123" and not caught

    def test_bedrock(self, monkeypatch):
        monkeypatch.setenv("AWS_REGION", "us-east-1")
        plan, caught = explain("bedrock/anthropic.claude-sonnet-4-5-20250929-v1:0", **SAMPLING)
        assert plan.body["inferenceConfig"]["topP"] == 0.9
        assert plan.body["additionalModelRequestFields"]["top_k"] == 40
        assert {"seed", "user", "logprobs"} <= {w.split(" ")[1] for w in caught}

    def test_top_logprobs_implies_logprobs(self):
        assert llmsync.Request(model="openai/gpt-4o", messages="hi", top_logprobs=3).logprobs is True


TOKENS = [TokenLogprob("Hel", -0.1, [TokenLogprob("Hel", -0.1), TokenLogprob("Hi", -2.5)]),
          TokenLogprob("lo", -0.01, [TokenLogprob("lo", -0.01)])]


class TestLogprobs:
    @pytest.mark.parametrize("model", ["openai/gpt-4o", "openai-responses/gpt-4o", "gemini/gemini-2.5-flash", "vllm/m"])
    @pytest.mark.parametrize("streamed", [False, True])
    def test_logprobs_come_back_as_token_logprobs(self, model, streamed):
        with FakeServer([Reply(text="Hello", logprobs=TOKENS)]) as server, server.client() as client:
            if streamed:
                with client.stream(model, "Hi", logprobs=True, top_logprobs=2) as stream:
                    list(stream)
                response = stream.response
            else:
                response = client.generate(model, "Hi", logprobs=True, top_logprobs=2)
        assert response.logprobs == TOKENS

    def test_responses_wire_puts_logprobs_on_the_part_and_spreads_them_over_the_deltas(self):
        from llmsync.testing.responses_wire import FORMAT
        tokens = TOKENS + [TokenLogprob("é", -0.5)]
        reply = Reply(text="Hello é", logprobs=tokens, chunk_size=3)  # 3 deltas, one entry each
        events = [json.loads(e.decode().split("data: ", 1)[1]) for e in FORMAT.stream_events(reply, "m")]
        deltas = [e["logprobs"] for e in events if e["type"] == "response.output_text.delta"]
        assert [[entry["token"] for entry in d] for d in deltas] == [["Hel"], ["lo"], ["é"]]
        assert deltas[0][0] == {"token": "Hel", "logprob": -0.1, "top_logprobs": [
            {"token": "Hel", "logprob": -0.1}, {"token": "Hi", "logprob": -2.5}]}
        done, = (e["logprobs"] for e in events if e["type"] == "response.output_text.done")
        assert done == [entry for d in deltas for entry in d]
        part = FORMAT.body(reply, "m")["output"][0]["content"][0]
        assert part["logprobs"][2] == {"token": "é", "bytes": [195, 169], "logprob": -0.5, "top_logprobs": []}
        assert part["logprobs"][0]["top_logprobs"][1] == {"token": "Hi", "bytes": [72, 105], "logprob": -2.5}
        for kind in ("response.content_part.done", "response.output_item.done"):
            finished, = (e.get("part") or e["item"]["content"][0] for e in events if e["type"] == kind)
            assert finished == part

    def test_responses_deltas_outnumbering_the_entries_carry_empty_lists(self):
        from llmsync.testing.responses_wire import FORMAT
        reply = Reply(text="Hello", logprobs=TOKENS, chunk_size=2)
        events = [json.loads(e.decode().split("data: ", 1)[1]) for e in FORMAT.stream_events(reply, "m")]
        deltas = [e["logprobs"] for e in events if e["type"] == "response.output_text.delta"]
        assert [len(d) for d in deltas] == [1, 1, 0]
