"""Structured output: ``response_format=`` a type, each provider's strict form, ``parsed``,
refusals, ``output_retries`` and the guard against real requests."""
import datetime
import enum
import json
import os
import subprocess
import sys
import textwrap
import warnings
from dataclasses import dataclass, field
from typing import Dict, List, Literal, Optional, TypedDict

import pytest

import llmsync
from llmsync import FinishReason, InvalidRequestError, LLMError, LLMSyncWarning, OutputParseError, Request, Usage
from llmsync.structured import output_for
from llmsync.testing import FakeServer, Reply, block_real_requests


class Mood(enum.Enum):
    HAPPY = "happy"
    SAD = "sad"


@dataclass
class Address:
    """Where someone lives.

    Args:
        city: the city name
    """

    city: str
    postcode: Optional[str] = None


@dataclass
class Person:
    name: str
    age: int
    born: datetime.date
    address: Address
    mood: Mood = Mood.HAPPY
    nicknames: List[str] = field(default_factory=list)
    scores: Dict[str, int] = field(default_factory=dict)
    kind: Literal["human", "robot"] = "human"


@dataclass
class Flat:
    name: str
    age: int = 0


class Movie(TypedDict):
    title: str
    year: int


PERSON = {"name": "Ada", "age": 36, "born": "1815-12-10", "address": {"city": "London"},
          "mood": "sad", "nicknames": ["Countess"], "scores": {"math": 10}, "kind": "human"}


def quiet_explain(client, model, **options):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        plan = client.explain(model, "Extract", **options)
    return plan, [str(w.message) for w in caught if issubclass(w.category, LLMSyncWarning)]


@pytest.fixture
def client():
    keys = {name: "k" for name in ("openai", "anthropic", "gemini", "deepseek", "mistral", "bedrock")}
    return llmsync.Client(api_keys=keys)


class TestSchemas:
    def test_a_nested_dataclass_is_an_object_schema_with_its_parts(self):
        spec = output_for(Person)
        props = spec.schema["properties"]
        assert spec.wrap is None and spec.name == "Person"
        assert props["born"] == {"type": "string", "format": "date"}
        assert props["address"]["properties"]["city"]["description"] == "the city name"
        assert props["mood"] == {"type": "string", "enum": ["happy", "sad"]}
        assert props["scores"]["additionalProperties"] == {"type": "integer"}
        assert props["kind"]["enum"] == ["human", "robot"]
        assert spec.schema["required"] == ["name", "age", "born", "address"]

    def test_a_list_travels_as_items_and_an_enum_as_value(self):
        assert output_for(List[Flat]).wrap == "items"
        assert output_for(List[Flat]).schema["properties"]["items"]["items"]["properties"]["name"]
        assert output_for(Mood).wrap == "value"
        assert output_for(Literal["yes", "no"]).schema["required"] == ["value"]

    def test_the_reply_becomes_the_instance_with_nested_types(self):
        person = output_for(Person).parse(json.dumps(PERSON))
        assert person == Person("Ada", 36, datetime.date(1815, 12, 10), Address("London"), Mood.SAD,
                                ["Countess"], {"math": 10})

    def test_nulls_sent_for_optional_fields_in_strict_mode_mean_the_default(self):
        value = dict(PERSON, mood=None, nicknames=None, address={"city": "Paris", "postcode": None})
        person = output_for(Person).parse(json.dumps(value))
        assert person.mood is Mood.HAPPY and person.nicknames == [] and person.address.postcode is None

    def test_a_typeddict_is_checked_against_its_schema(self):
        movie = output_for(Movie).parse('{"title": "Metropolis", "year": 1927}')
        assert movie == {"title": "Metropolis", "year": 1927}
        with pytest.raises(ValueError, match="year"):
            output_for(Movie).parse('{"title": "Metropolis", "year": "old"}')

    def test_a_lambda_is_refused(self):
        with pytest.raises(InvalidRequestError, match="response_format must be"):
            Request(model="openai/gpt-4o", messages="hi", response_format=lambda x: x)

    def test_a_field_without_a_json_schema_is_named(self):
        class Opaque:
            pass

        @dataclass
        class Holder:
            thing: Opaque

        with pytest.raises(InvalidRequestError, match=r"Holder\.thing"):
            Request(model="openai/gpt-4o", messages="hi", response_format=Holder)

    def test_the_type_survives_with_options(self):
        request = Request(model="openai/gpt-4o", messages="hi", response_format=Flat)
        assert request.with_options(messages="again").structured_output.type is Flat
        assert request.with_options(response_format={"type": "object"}).structured_output is None


class TestWireForms:
    def test_openai_chat_sends_strict_json_schema_made_strict_compatible(self, client):
        plan, _ = quiet_explain(client, "openai/gpt-4o", response_format=Flat)
        form = plan.body["response_format"]
        assert form["type"] == "json_schema" and form["json_schema"]["strict"] is True
        schema = form["json_schema"]["schema"]
        assert schema["additionalProperties"] is False and schema["required"] == ["name", "age"]
        assert schema["properties"]["age"] == {"anyOf": [{"type": "integer"}, {"type": "null"}]}
        assert form["json_schema"]["name"] == "Flat"

    def test_a_map_is_not_strict_compatible_so_strict_is_off_with_a_warning(self, client):
        plan, caught = quiet_explain(client, "openai/gpt-4o", response_format=Person)
        assert plan.body["response_format"]["json_schema"]["strict"] is False
        assert any("scores" in w and "strict" in w for w in caught)

    def test_a_schema_written_by_hand_is_sent_as_written(self, client):
        schema = {"type": "object", "properties": {"a": {"type": "string"}}}
        plan, _ = quiet_explain(client, "openai/gpt-4o", response_format=schema)
        assert plan.body["response_format"]["json_schema"] == {"name": "response", "schema": schema}

    def test_responses_api_uses_text_format(self, client):
        plan, _ = quiet_explain(client, "openai-responses/gpt-4o", response_format=Flat)
        text = plan.body["text"]["format"]
        assert text["type"] == "json_schema" and text["strict"] is True and text["name"] == "Flat"
        assert text["schema"]["additionalProperties"] is False

    def test_anthropic_sends_output_config_format_with_closed_objects(self, client):
        plan, _ = quiet_explain(client, "anthropic/claude-sonnet-4-5", response_format=Flat)
        fmt = plan.body["output_config"]["format"]
        assert fmt["type"] == "json_schema" and fmt["schema"]["additionalProperties"] is False
        assert fmt["schema"]["required"] == ["name"]  # Anthropic keeps optional fields optional
        assert "anthropic-beta" not in plan.headers

    def test_an_anthropic_model_without_structured_outputs_gets_the_schema_in_the_system_prompt(self, client):
        plan, caught = quiet_explain(client, "anthropic/claude-3-5-haiku-20241022", response_format=Flat,
                                     system_prompt="Be exact.")
        assert "output_config" not in plan.body
        assert plan.body["system"].startswith("Be exact.") and '"name"' in plan.body["system"]
        assert any("system prompt" in w for w in caught)

    def test_gemini_sends_mime_type_and_json_schema(self, client):
        plan, _ = quiet_explain(client, "gemini/gemini-2.5-flash", response_format=List[Flat])
        config = plan.body["generationConfig"]
        assert config["responseMimeType"] == "application/json"
        assert config["responseJsonSchema"]["properties"]["items"]["type"] == "array"

    def test_a_vendor_without_json_schema_gets_json_object_and_the_schema_in_the_prompt(self, client):
        plan, caught = quiet_explain(client, "deepseek/deepseek-chat", response_format=Flat)
        assert plan.body["response_format"] == {"type": "json_object"}
        assert plan.body["messages"][0]["role"] == "system" and "JSON Schema" in plan.body["messages"][0]["content"]
        assert any("json_object" in w for w in caught)

    def test_mistral_takes_strict_json_schema(self, client):
        plan, _ = quiet_explain(client, "mistral/mistral-large-latest", response_format=Flat)
        assert plan.body["response_format"]["json_schema"]["strict"] is True

    def test_bedrock_sends_output_config_text_format(self, client, monkeypatch):
        monkeypatch.setenv("AWS_REGION", "us-east-1")
        plan, _ = quiet_explain(client, "bedrock/anthropic.claude-sonnet-4-5-20250929-v1:0", response_format=Flat)
        structure = plan.body["outputConfig"]["textFormat"]["structure"]["jsonSchema"]
        assert structure["name"] == "Flat" and json.loads(structure["schema"])["additionalProperties"] is False


class TestParsedReplies:
    def test_generate_parses_a_list_of_dataclasses(self):
        with FakeServer([Reply.structured([Flat("a", 1), Flat("b", 2)])]) as server, server.client() as client:
            response = client.generate("openai/gpt-4o", "Extract", response_format=List[Flat])
        assert response.parsed == [Flat("a", 1), Flat("b", 2)]
        assert server.requests[0].body["response_format"]["json_schema"]["strict"] is True

    @pytest.mark.parametrize("model", ["openai/gpt-4o", "anthropic/claude-sonnet-4-5", "gemini/gemini-2.5-flash",
                                       "openai-responses/gpt-4o"])
    def test_stream_response_holds_the_instance_after_the_last_event(self, model):
        with FakeServer([Reply.structured(Flat("a", 1), chunk_size=3)]) as server, server.client() as client:
            with client.stream(model, "Extract", response_format=Flat) as stream:
                events = list(stream)
            assert isinstance(events[-1], llmsync.Completed) and events[-1].response.parsed == Flat("a", 1)
            assert stream.response.parsed == Flat("a", 1)

    def test_a_fallback_stream_is_parsed_too(self):
        replies = [Reply.error(503), Reply.structured(Flat("b", 2))]
        with FakeServer(replies) as server, server.client(retry=0) as client:
            with client.stream(["openai/gpt-4o", "anthropic/claude-sonnet-4-5"], "x", response_format=Flat) as stream:
                list(stream)
        assert stream.response.parsed == Flat("b", 2)

    def test_run_parses_the_final_turn(self):
        @llmsync.tool
        def lookup(name: str) -> int:
            """Look a person's age up."""
            return 36

        replies = [Reply.tools(("lookup", {"name": "Ada"})), Reply.structured(Flat("Ada", 36))]
        with FakeServer(replies) as server, server.client() as client:
            result = client.run("openai/gpt-4o", "How old is Ada?", [lookup], response_format=Flat)
        assert result.response.parsed == Flat("Ada", 36)

    def test_a_reply_that_does_not_fit_raises_output_parse_error_with_the_raw_reply(self):
        with FakeServer([Reply(text='{"name": 3}')]) as server, server.client() as client:
            with pytest.raises(OutputParseError) as caught:
                client.generate("openai/gpt-4o", "Extract", response_format=Flat)
        assert caught.value.response.content == '{"name": 3}' and "Flat" in caught.value.message

    def test_a_stream_that_does_not_fit_raises_at_the_end(self):
        with FakeServer([Reply(text="not json")]) as server, server.client() as client:
            with client.stream("openai/gpt-4o", "Extract", response_format=Flat) as stream:
                with pytest.raises(OutputParseError, match="not JSON"):
                    list(stream)
                assert stream.response.content == "not json" and stream.response.parsed is None

    def test_a_reply_cut_by_the_token_limit_says_so(self):
        cut = Reply(text='{"name": "Ad', finish_reason=FinishReason.LENGTH)
        with FakeServer([cut]) as server, server.client() as client:
            with pytest.raises(OutputParseError, match="token limit"):
                client.generate("openai/gpt-4o", "Extract", response_format=Flat, max_tokens=5)

    def test_a_refusal_is_no_parse_error(self):
        with FakeServer([Reply(refusal="I can't help with that.")]) as server, server.client() as client:
            response = client.generate("openai/gpt-4o", "Extract", response_format=Flat)
        assert response.parsed is None and response.refusal == "I can't help with that."
        assert response.finish_reason is FinishReason.CONTENT_FILTER

    def test_output_retries_sends_the_error_back_and_sums_usage(self):
        replies = [Reply(text='{"name": "Ada", "age": "old"}', usage=Usage(10, 5, 15)),
                   Reply.structured(Flat("Ada", 36), usage=Usage(30, 4, 34))]
        with FakeServer(replies) as server, server.client() as client:
            response = client.generate("openai/gpt-4o", "Extract", response_format=Flat, output_retries=2)
        assert response.parsed == Flat("Ada", 36)
        assert response.attempts == 2 and response.usage == Usage(40, 9, 49)
        retry_turns = server.requests[1].body["messages"][-2:]
        assert retry_turns[0]["role"] == "assistant" and "old" in retry_turns[0]["content"]
        assert retry_turns[1]["role"] == "user" and "age" in retry_turns[1]["content"]

    def test_output_retries_gives_up_after_n_tries(self):
        with FakeServer([], default=Reply(text="nope")) as server, server.client() as client:
            with pytest.raises(OutputParseError) as caught:
                client.generate("openai/gpt-4o", "Extract", response_format=Flat, output_retries=1)
        assert len(server.requests) == 2 and caught.value.response.attempts == 2

    def test_output_retries_is_refused_for_a_stream(self):
        with pytest.raises(InvalidRequestError, match="output_retries"):
            client = llmsync.Client(api_keys={"openai": "k"})
            client.stream("openai/gpt-4o", "hi", response_format=Flat, output_retries=1)


class TestPydantic:
    def test_a_pydantic_model_is_parsed_through_model_validate(self):
        pydantic = pytest.importorskip("pydantic")

        class City(pydantic.BaseModel):
            name: str
            population: Optional[int] = None

        with FakeServer([Reply(text='{"name": "Oslo", "population": null}')]) as server, \
                server.client() as client:
            response = client.generate("openai/gpt-4o", "Extract", response_format=City)
        assert isinstance(response.parsed, City) and response.parsed.name == "Oslo"
        sent = server.requests[0].body["response_format"]["json_schema"]
        assert sent["strict"] is True and sent["schema"]["required"] == ["name", "population"]

    def test_without_pydantic_dataclasses_work_and_pydantic_is_never_imported(self):
        script = textwrap.dedent("""
            import sys
            class Blocker:
                def find_spec(self, name, path=None, target=None):
                    if name == "pydantic" or name.startswith("pydantic."):
                        raise ImportError("pydantic is hidden")
            sys.meta_path.insert(0, Blocker())
            from dataclasses import dataclass
            from typing import List
            import llmsync
            from llmsync.testing import FakeServer, Reply
            @dataclass
            class Flat:
                name: str
            with FakeServer([Reply.structured([Flat("a")])]) as server, server.client() as client:
                assert client.generate("openai/gpt-4o", "x", response_format=List[Flat]).parsed == [Flat("a")]
            assert "pydantic" not in sys.modules
            print("ok")
        """)
        done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60)
        assert done.stdout.strip() == "ok", done.stderr


class TestBlockRealRequests:
    def test_the_context_manager_blocks_a_real_host_before_sending(self):
        client = llmsync.Client(api_keys={"openai": "k"}, retry=0, transport=_NeverCalled())
        with block_real_requests():
            with pytest.raises(LLMError, match="api.openai.com blocked"):
                client.generate("openai/gpt-4o", "hi")

    def test_loopback_still_works(self):
        with block_real_requests(), FakeServer([Reply(text="ok")]) as server, server.client() as client:
            assert client.generate("openai/gpt-4o", "hi").content == "ok"

    def test_the_environment_variable_blocks_too(self, monkeypatch):
        monkeypatch.setenv("LLMSYNC_ALLOW_REAL_REQUESTS", "0")
        client = llmsync.Client(api_keys={"anthropic": "k"}, retry=0, transport=_NeverCalled())
        with pytest.raises(LLMError, match="LLMSYNC_ALLOW_REAL_REQUESTS"):
            client.generate("anthropic/claude-sonnet-4-5", "hi")

    def test_import_llmsync_does_not_load_the_guard(self):
        code = "import llmsync, sys; llmsync.Client; assert 'llmsync.testing' not in sys.modules; print('ok')"
        env = {k: v for k, v in os.environ.items() if k != "LLMSYNC_ALLOW_REAL_REQUESTS"}
        done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=60)
        assert done.stdout.strip() == "ok", done.stderr


class _NeverCalled:
    def send(self, *args, **kwargs):
        raise AssertionError("the request must not be sent")

    def close(self):
        pass
