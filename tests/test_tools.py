"""@tool, Tool, ToolExecutor and the tool-run loop (Client.run / Client.run_stream)."""
import __future__
import dataclasses
import enum
import functools
import importlib.util
import json
import logging
import os
import re
import textwrap
import threading
from typing import List, Optional

import pytest

import llmsync
from llmsync import (Completed, Message, ParallelToolConfig, Response, Role, Tool, ToolCall,
                     ToolDefinition, ToolExecutor, ToolResult, Usage, tool)
from llmsync.errors import InvalidRequestError
from llmsync.events import TextDelta, ToolCallEnd
from llmsync.testing import Reply
from llmsync.tools import RunResult, encode_result, run_loop
from llmsync.types import ReasoningBlock

HERE = os.path.dirname(__file__)
WAIT = 5.0  # generous bound on waits that should end at once; never reached when correct


@tool
def get_weather(city: str, unit: str = "C") -> str:
    """Current weather for a city.

    Args:
        city: The city.
        unit: "C" or "F".
    """
    return f"Sunny, 21{unit} in {city}"


def call(name, arguments=None, call_id=None, raw=None):
    text = raw if raw is not None else json.dumps(arguments or {})
    return ToolCall(call_id or f"call_{name}", name, text)


class InFlight:
    """Counts how many tool bodies run at once, and the order they start in."""

    def __init__(self):
        self.lock = threading.Lock()
        self.now = 0
        self.most = 0
        self.started: List[int] = []

    def __enter__(self):
        with self.lock:
            self.now += 1
            self.most = max(self.most, self.now)

    def __exit__(self, *exc_info):
        with self.lock:
            self.now -= 1


class TestToolDecorator:
    def test_decorated_function_is_still_callable(self):
        assert get_weather("Rome", unit="F") == "Sunny, 21F in Rome"

    def test_definition_comes_from_hints_and_docstring(self):
        assert isinstance(get_weather, Tool)
        assert get_weather.name == "get_weather"
        assert get_weather.definition == ToolDefinition(
            "get_weather", "Current weather for a city.",
            {"type": "object",
             "properties": {"city": {"type": "string", "description": "The city."},
                            "unit": {"type": "string", "description": '"C" or "F".',
                                     "default": "C"}},
             "required": ["city"]})
        assert get_weather.fn.__name__ == "get_weather"
        assert get_weather.__doc__.startswith("Current weather")

    def test_name_and_description_options(self):
        @tool(name="weather_now", description="Weather, now.")
        def f(city: str) -> str:
            """Ignored."""
            return city

        assert (f.name, f.definition.description) == ("weather_now", "Weather, now.")
        assert f("x") == "x"

    def test_explicit_tool_from_definition(self):
        definition = ToolDefinition("add", "Add.", {"type": "object",
                                                    "properties": {"a": {"type": "integer"}},
                                                    "required": ["a"]})
        add = Tool(definition, lambda a: a + 1)
        assert add(1) == 2
        with ToolExecutor([add]) as executor:
            assert executor.run([call("add", {"a": 41})])[0].content == "42"

    def test_invalid_tool_name_is_refused(self):
        with pytest.raises(InvalidRequestError, match="tool name"):
            tool(name="has spaces")(lambda: None)

    def test_future_annotations_with_local_classes(self):
        source = textwrap.dedent('''
            import dataclasses, enum
            from typing import Optional
            from llmsync import tool

            def make():
                class Unit(enum.Enum):
                    C = "C"

                @dataclasses.dataclass
                class Place:
                    city: str

                @tool
                def where(place: Place, unit: Optional[Unit] = None) -> str:
                    return f"{place.city} {unit.value}"

                return where
            ''')
        namespace = {}
        exec(compile(source, "<future>", "exec", __future__.annotations.compiler_flag), namespace)
        where = namespace["make"]()
        assert where.definition.parameters["properties"]["place"]["required"] == ["city"]
        with ToolExecutor([where]) as executor:
            [message] = executor.run([call("where", {"place": {"city": "Oslo"}, "unit": "C"})])
        assert message.content == "Oslo C"

    def test_tools_are_exported_from_llmsync(self):
        assert llmsync.tool is tool and llmsync.RunResult is RunResult


class TestEncodeResult:
    @dataclasses.dataclass
    class Forecast:
        city: str
        temps: List[int]

    class Unit(enum.Enum):
        C = "celsius"

    def test_strings_as_they_are(self):
        assert encode_result("plain text") == "plain text"

    def test_others_as_json(self):
        assert encode_result({"a": 1}) == '{"a": 1}'
        assert encode_result(None) == "null"
        assert encode_result(self.Forecast("Paris", [1, 2])) == '{"city": "Paris", "temps": [1, 2]}'
        assert encode_result([self.Unit.C]) == '["celsius"]'


class TestToolExecutor:
    def test_calls_run_in_parallel_up_to_the_limit(self):
        barrier = threading.Barrier(4, timeout=WAIT)
        counter = InFlight()

        @tool
        def wait_for_all(n: int) -> str:
            with counter:
                barrier.wait()  # passes only when all four run at the same time
            return f"ok {n}"

        with ToolExecutor([wait_for_all], ParallelToolConfig(max_parallel_tools=4)) as executor:
            messages = executor.run([call("wait_for_all", {"n": n}, f"c{n}") for n in range(4)])
        assert [m.content for m in messages] == ["ok 0", "ok 1", "ok 2", "ok 3"]
        assert counter.most == 4

    def test_concurrency_never_exceeds_max_parallel_tools(self):
        barrier = threading.Barrier(2, timeout=WAIT)
        counter = InFlight()

        @tool
        def pair(n: int) -> int:
            with counter:
                barrier.wait()
            return n

        config = ParallelToolConfig(max_parallel_tools=2)
        with ToolExecutor([pair], config, executor=None) as executor:
            messages = executor.run([call("pair", {"n": n}, f"c{n}") for n in range(6)])
        assert [m.content for m in messages] == ["0", "1", "2", "3", "4", "5"]
        assert counter.most == 2

    def test_shared_pool_is_bounded_per_turn(self):
        barrier = threading.Barrier(3, timeout=WAIT)
        counter = InFlight()

        @tool
        def three(n: int) -> int:
            with counter:
                barrier.wait()
            return n

        with llmsync.Client(api_keys={"openai": "k"}) as client:
            executor = ToolExecutor([three], ParallelToolConfig(max_parallel_tools=3),
                                    executor=client.executor())
            messages = executor.run([call("three", {"n": n}, f"c{n}") for n in range(9)])
        assert len(messages) == 9 and counter.most == 3

    def test_sequential_only_runs_one_at_a_time_in_call_order(self):
        counter = InFlight()

        @tool
        def step(n: int) -> int:
            with counter:
                counter.started.append(n)
            return n

        calls = [call("step", {"n": n}, f"c{n}") for n in range(6)]
        with ToolExecutor([step], ParallelToolConfig.sequential_only()) as executor:
            results = list(executor.execute(calls))
        assert counter.most == 1
        assert counter.started == [0, 1, 2, 3, 4, 5]
        assert [r.content for r in results] == ["0", "1", "2", "3", "4", "5"]

    def test_results_come_back_in_call_order_whatever_finishes_first(self):
        second_done = threading.Event()

        @tool
        def first() -> str:
            assert second_done.wait(WAIT)
            return "first"

        @tool
        def second() -> str:
            second_done.set()
            return "second"

        calls = [call("first"), call("second")]
        with ToolExecutor([first, second]) as executor:
            finished = [r.content for r in executor.execute(calls)]
            second_done.clear()
            messages = executor.run(calls)
        assert finished == ["second", "first"]  # execute: completion order
        assert [(m.role, m.tool_call_id, m.name, m.content) for m in messages] == [
            (Role.TOOL, "call_first", "first", "first"),
            (Role.TOOL, "call_second", "second", "second")]

    def test_exception_becomes_an_error_result(self):
        @tool
        def broken(city: str) -> str:
            raise ValueError(f"no weather for {city}")

        with ToolExecutor([broken, get_weather]) as executor:
            results = list(executor.execute([call("broken", {"city": "Oz"}),
                                             call("get_weather", {"city": "Rome"})]))
        by_name = {r.tool_call.name: r for r in results}
        assert by_name["broken"].content == "Error: ValueError: no weather for Oz"
        assert by_name["broken"].error == "ValueError: no weather for Oz"
        assert by_name["get_weather"].error is None

    @pytest.mark.parametrize("bad_call, message", [
        (call("nope"), "Error: unknown tool 'nope'; available tools: get_weather"),
        (call("get_weather", raw='{"city": '), "Error: invalid arguments for get_weather: "),
        (call("get_weather", raw='["Paris"]'), "arguments must be a JSON object"),
        (call("get_weather", {"unit": "C"}), "missing required argument 'city'"),
        (call("get_weather", {"city": 42}), "city must be string, got integer 42"),
        (call("get_weather", {"city": "P", "when": "now"}), "unexpected keyword argument 'when'"),
    ])
    def test_bad_calls_become_error_results(self, bad_call, message):
        with ToolExecutor([get_weather]) as executor:
            [result] = list(executor.execute([bad_call]))
        assert result.content.startswith("Error: ")
        assert message in result.content
        assert result.error and message.replace("Error: ", "") in result.error

    def test_a_definition_without_function_is_reported(self):
        with ToolExecutor([ToolDefinition("remote")]) as executor:
            [message] = executor.run([call("remote")])
        assert message.content == "Error: tool 'remote' has no implementation to run"

    def test_slow_tool_times_out_and_the_others_finish(self):
        release = threading.Event()

        @tool(timeout=0.05)
        def hangs() -> str:
            release.wait(WAIT)
            return "late"

        try:
            with ToolExecutor([hangs, get_weather]) as executor:
                messages = executor.run([call("hangs"), call("get_weather", {"city": "Rome"})])
        finally:
            release.set()
        assert messages[0].content == "Error: tool hangs timed out after 0.05s"
        assert messages[1].content == "Sunny, 21C in Rome"

    def test_executor_wide_timeout_applies_to_tools_without_one(self):
        release = threading.Event()

        @tool
        def hangs() -> str:
            release.wait(WAIT)
            return "late"

        try:
            with ToolExecutor([hangs], timeout=0.02) as executor:
                [result] = list(executor.execute([call("hangs")]))
        finally:
            release.set()
        assert "timed out after 0.02s" in result.error

    def test_plain_functions_are_wrapped(self):
        def shout(text: str) -> str:
            return text.upper()

        with ToolExecutor([shout]) as executor:
            assert executor.run([call("shout", {"text": "hi"})])[0].content == "HI"

    def test_arguments_are_converted_to_annotated_types(self):
        class Unit(enum.Enum):
            C = "C"

        @dataclasses.dataclass
        class Place:
            city: str

        @tool
        def where(place: Place, unit: Optional[Unit] = None) -> str:
            return f"{type(place).__name__}:{place.city}:{unit}"

        with ToolExecutor([where]) as executor:
            [message] = executor.run([call("where", {"place": {"city": "Paris"}, "unit": "C"})])
        assert message.content == "Place:Paris:Unit.C"

    def test_duplicate_names_are_refused(self):
        with pytest.raises(InvalidRequestError, match="two tools are named 'get_weather'"):
            ToolExecutor([get_weather, get_weather])


# -- the run loop against a stub client ----------------------------------------------------------

class StubClient:
    """Replies from a list, and records what each call was sent."""

    def __init__(self, replies):
        self.replies = list(replies)
        self.sent = []
        self.pool = None

    def generate(self, model, messages, **options):
        self.sent.append((list(messages), options))
        return self.replies.pop(0)

    def executor(self):
        from concurrent.futures import ThreadPoolExecutor

        self.pool = self.pool or ThreadPoolExecutor(4)
        return self.pool


def tool_reply(*names, reasoning=None):
    calls = [ToolCall(f"id_{n}", n, '{"city": "Paris"}') for n in names]
    return Response(tool_calls=calls, usage=Usage(10, 2, 12), reasoning_blocks=reasoning or [])


class TestRunLoop:
    def test_reasoning_blocks_and_signatures_reach_the_next_turn(self):
        block = ReasoningBlock("thinking...", signature="sig-123", provider="anthropic")
        stub = StubClient([tool_reply("get_weather", reasoning=[block]),
                           Response(content="done", usage=Usage(5, 1, 6))])
        result = run_loop(stub, "anthropic/claude-sonnet-4-5", "Weather?", [get_weather], 8, {})
        second_turn = stub.sent[1][0]
        assert second_turn[1].reasoning == [block]
        assert second_turn[1].tool_calls[0].id == "id_get_weather"
        assert second_turn[2] == Message.tool_response("id_get_weather", "Sunny, 21C in Paris",
                                                       name="get_weather")
        assert result.usage == Usage(15, 3, 18)
        assert (result.turns, result.stopped_reason, result.response.content) == (2, None, "done")

    def test_options_reach_every_call_with_the_tools(self):
        stub = StubClient([tool_reply("get_weather"), Response(content="done")])
        run_loop(stub, "openai/gpt-4o-mini", "Weather?", [get_weather], 8,
                 {"system_prompt": "Be brief.", "tool_timeout": 3.0})
        for _, options in stub.sent:
            assert options["system_prompt"] == "Be brief."
            assert options["tools"] == [get_weather]
            assert "tool_timeout" not in options

    def test_caller_messages_are_not_mutated(self):
        history = [Message.user("Weather?")]
        stub = StubClient([tool_reply("get_weather"), Response(content="done")])
        result = run_loop(stub, "openai/gpt-4o-mini", history, [get_weather], 8, {})
        assert len(history) == 1 and len(result.messages) == 4

    def test_max_turns_below_one_is_refused(self):
        with pytest.raises(InvalidRequestError, match="max_turns"):
            run_loop(StubClient([]), "openai/gpt-4o-mini", "hi", [], 0, {})


# -- the run loop against FakeServer -----------------------------------------------------------

PROVIDERS = {  # provider id -> (model, provider module, FakeServer wire module or None)
    "openai": ("openai/gpt-4o-mini", "openai", None),
    "anthropic": ("anthropic/claude-sonnet-4-5", "anthropic", "anthropic_wire"),
    "gemini": ("gemini/gemini-2.5-flash", "gemini", "gemini_wire"),
    "openai-responses": ("openai-responses/gpt-5-mini", "openai_responses", "responses_wire"),
}
PACKAGE = os.path.dirname(llmsync.__file__)


def model_for(provider_id):
    model, module, wire = PROVIDERS[provider_id]
    if not os.path.exists(os.path.join(PACKAGE, "providers", f"{module}.py")):
        pytest.skip(f"llmsync/providers/{module}.py does not exist yet")
    if wire and not os.path.exists(os.path.join(PACKAGE, "testing", f"{wire}.py")):
        pytest.skip(f"llmsync/testing/{wire}.py does not exist yet")
    return model


def weather_script(server):
    server.add(Reply.tools(("get_weather", {"city": "Paris"}), ("get_weather", {"city": "Rome"})),
               Reply(text="done"))


def assert_results_sent_back(server):
    first, second = (json.dumps(r.body) for r in server.requests)
    for text in ("Sunny, 21C in Paris", "Sunny, 21C in Rome"):
        assert text not in first
        assert text in second


@pytest.mark.parametrize("provider_id", list(PROVIDERS))
def test_run_sends_tool_results_back(provider_id, server, client):
    model = model_for(provider_id)
    weather_script(server)
    result = client.run(model, "Weather in Paris and Rome?", tools=[get_weather])
    assert len(server.requests) == 2
    assert_results_sent_back(server)
    assert result.response.content == "done"
    assert result.turns == 2 and result.stopped_reason is None
    assert [m.role for m in result.messages] == [Role.USER, Role.ASSISTANT, Role.TOOL, Role.TOOL,
                                                 Role.ASSISTANT]
    assert result.usage.total_tokens == 30


@pytest.mark.parametrize("provider_id", list(PROVIDERS))
def test_run_stream_sends_tool_results_back(provider_id, server, client):
    model = model_for(provider_id)
    weather_script(server)
    events = list(client.run_stream(model, "Weather in Paris and Rome?", tools=[get_weather]))
    assert_results_sent_back(server)
    assert isinstance(events[-1], Completed) and events[-1].response.content == "done"
    assert sum(isinstance(e, Completed) for e in events) == 2


@pytest.mark.parametrize("provider_id", ["anthropic", "gemini", "openai-responses"])
def test_reasoning_signature_is_sent_back_on_the_next_turn(provider_id, server, client):
    model = model_for(provider_id)
    server.add(Reply.tools(("get_weather", {"city": "Paris"}), reasoning="Let me check.",
                           signature="sig-roundtrip"), Reply(text="done"))
    client.run(model, "Weather?", tools=[get_weather], thinking="low")
    assert "sig-roundtrip" in json.dumps(server.requests[1].body)


def test_openai_tool_messages_on_the_wire(server, client):
    weather_script(server)
    client.run("openai/gpt-4o-mini", "Weather?", tools=[get_weather])
    sent = server.requests[1].body["messages"]
    assert sent[1]["tool_calls"][1]["id"] == "call_1_get_weather"
    assert sent[2:] == [
        {"role": "tool", "tool_call_id": "call_0_get_weather", "content": "Sunny, 21C in Paris"},
        {"role": "tool", "tool_call_id": "call_1_get_weather", "content": "Sunny, 21C in Rome"}]
    assert server.requests[1].body["tools"][0]["function"]["name"] == "get_weather"


def test_run_stream_event_sequence(server, client):
    rome_done = threading.Event()

    @tool
    def slow_weather(city: str) -> str:
        if city == "Paris":
            assert rome_done.wait(WAIT)
        else:
            rome_done.set()
        return f"Sunny in {city}"

    server.add(Reply.tools(("slow_weather", {"city": "Paris"}), ("slow_weather", {"city": "Rome"})),
               Reply(text="All sunny."))
    events = list(client.run_stream("openai/gpt-4o-mini", "Weather?", tools=[slow_weather]))
    kinds = [type(e).__name__ for e in events]
    first_completed = kinds.index("Completed")
    # turn 1 streams both calls, completes, then the tools report in completion order
    assert [type(e) for e in events[:first_completed] if isinstance(e, ToolCallEnd)] == [ToolCallEnd] * 2
    assert kinds[first_completed + 1:first_completed + 3] == ["ToolResult", "ToolResult"]
    results = events[first_completed + 1:first_completed + 3]
    assert [r.content for r in results] == ["Sunny in Rome", "Sunny in Paris"]
    # turn 2 streams the answer and ends with its Completed
    answer = "".join(e.text for e in events[first_completed + 3:] if isinstance(e, TextDelta))
    assert answer == "All sunny."
    assert kinds[-1] == "Completed" and kinds.count("Completed") == 2
    # the tool results went back in call order
    contents = [m["content"] for m in server.requests[1].body["messages"] if m["role"] == "tool"]
    assert contents == ["Sunny in Paris", "Sunny in Rome"]


def test_run_stream_returns_the_run_result(server, client):
    weather_script(server)

    def drain():
        result = yield from client.run_stream("openai/gpt-4o-mini", "Weather?", tools=[get_weather])
        return result

    generator = drain()
    with pytest.raises(StopIteration) as stop:
        while True:
            next(generator)
    assert isinstance(stop.value.value, RunResult)
    assert stop.value.value.response.content == "done"


def test_max_turns_stops_the_loop(server, caplog):
    server.default = Reply.tools(("get_weather", {"city": "Paris"}))
    with server.client() as client, caplog.at_level(logging.WARNING, logger="llmsync"):
        result = client.run("openai/gpt-4o-mini", "Loop forever", tools=[get_weather], max_turns=3)
    assert len(server.requests) == 3
    assert result.turns == 3 and result.stopped_reason == "max_turns"
    assert result.messages[-1].role == Role.TOOL  # the last turn's tools ran: the transcript is valid
    assert result.response.tool_calls
    assert "max_turns=3" in caplog.text


def test_max_turns_in_run_stream_ends_with_the_last_tool_result(server, client):
    server.default = Reply.tools(("get_weather", {"city": "Paris"}))
    events = list(client.run_stream("openai/gpt-4o-mini", "Loop", tools=[get_weather], max_turns=2))
    assert isinstance(events[-1], ToolResult)
    assert sum(isinstance(e, Completed) for e in events) == 2


def test_tool_errors_go_to_the_model_and_the_loop_goes_on(server, client):
    @tool
    def broken(city: str) -> str:
        raise RuntimeError("service down")

    server.add(Reply.tools(("broken", {"city": "Paris"}), ("missing", {})), Reply(text="Sorry."))
    result = client.run("openai/gpt-4o-mini", "Weather?", tools=[broken])
    sent = [m["content"] for m in server.requests[1].body["messages"] if m["role"] == "tool"]
    assert sent == ["Error: RuntimeError: service down",
                    "Error: unknown tool 'missing'; available tools: broken"]
    assert result.response.content == "Sorry."
    assert [r.error is not None for r in result.tool_results] == [True, True]


def test_tools_run_on_the_clients_shared_pool(server, client):
    threads = []

    @tool
    def where() -> str:
        threads.append(threading.current_thread().name)
        return "here"

    server.add(Reply.tools(("where", {})), Reply(text="ok"))
    client.run("openai/gpt-4o-mini", "Where?", tools=[where])
    assert re.fullmatch(r"llmsync_\d+", threads[0])


def test_parallel_tool_config_bounds_the_run(server, client):
    counter = InFlight()

    @tool
    def step(n: int) -> int:
        with counter:
            counter.started.append(n)
        return n

    server.add(Reply.tools(*[("step", {"n": n}) for n in range(5)]), Reply(text="ok"))
    client.run("openai/gpt-4o-mini", "Go", tools=[step],
               parallel_tool_config=ParallelToolConfig.sequential_only())
    assert counter.most == 1 and counter.started == [0, 1, 2, 3, 4]
    assert server.requests[0].body["parallel_tool_calls"] is False


def test_example_runs_offline(monkeypatch, capsys):
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    path = os.path.join(HERE, os.pardir, "examples", "tools.py")
    spec = importlib.util.spec_from_file_location("example_tools", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    result = module.main()
    assert result.stopped_reason is None and result.turns == 3
    assert "Paris" in capsys.readouterr().out


def test_tools_that_time_out_and_hold_their_threads_do_not_hang_later_turns(server):
    """Deadlines run from submission: with the shared pool full of hung tools, a timed
    tool still times out instead of waiting for a free thread until the hung ones end."""
    release = threading.Event()

    @llmsync.tool(timeout=0.05)
    def hang() -> str:
        """Never answers in time."""
        release.wait(300)
        return "late"

    client = server.client()
    executor = llmsync.ToolExecutor([hang], llmsync.ParallelToolConfig(max_parallel_tools=8),
                                    executor=client.executor())
    outcomes = []

    def turns():
        for turn in range(6):  # 48 hung calls > the pool's 32 threads
            calls = [llmsync.ToolCall(f"c{turn}-{i}", "hang", "{}") for i in range(8)]
            outcomes.extend("timed out" in m.content for m in executor.run(calls))

    runner = threading.Thread(target=turns, daemon=True)
    runner.start()
    runner.join(20)
    finished = not runner.is_alive()
    release.set()
    client.close()
    assert finished, "a turn waited for a thread held by a hung tool"
    assert outcomes == [True] * 48


# -- @tool on methods, staticmethods, classmethods, partials and callable objects ---------------

class Account:
    """Two instances with their own state: a call must reach the right one."""

    def __init__(self, owner: str) -> None:
        self.owner = owner
        self.calls: List[str] = []

    @tool
    def deposit(self, amount: int) -> str:
        """Deposit money.

        Args:
            amount: how much.
        """
        self.calls.append(f"deposit {amount}")
        return f"{self.owner} +{amount}"

    @tool(name="whoami")
    def describe(self) -> "Account":  # a forward reference the schema never needs
        return self.owner  # type: ignore[return-value]

    def plain(self, note: str) -> str:
        self.calls.append(note)
        return f"{self.owner}: {note}"

    @tool
    @staticmethod
    def rate(currency: str) -> str:
        return f"rate {currency}"

    @staticmethod
    @tool
    def fee(currency: str) -> str:
        return f"fee {currency}"

    @tool
    @classmethod
    def bank(cls, branch: str) -> str:
        return f"{cls.__name__} {branch}"

    @classmethod
    @tool
    def bank_code(cls, branch: str) -> str:
        return f"{cls.__name__} code {branch}"


class Savings(Account):
    pass


def schema_of(item):
    return llmsync.Request("openai/gpt-4o-mini", "hi", tools=[item]).tool_definitions[0].parameters


def run_one(client, server, item, name, arguments):
    """Script one call of ``name`` and an answer; the tool's result as the model got it."""
    server.add(Reply.tools((name, arguments)), Reply(text="done"))
    result = client.run("openai/gpt-4o-mini", "Go", tools=[item])
    assert result.response.content == "done"
    sent = [m for m in server.requests[-1].body["messages"] if m["role"] == "tool"]
    return sent[0]["content"]


class TestMethodsAsTools:
    def test_self_is_never_in_the_schema(self):
        alice = Account("alice")
        for item in (alice.deposit, Account.deposit):
            assert schema_of(item) == {"type": "object", "properties": {
                "amount": {"type": "integer", "description": "how much."}}, "required": ["amount"]}
        assert schema_of(alice.describe) == {"type": "object", "properties": {}}

    def test_a_method_binds_on_access(self):
        alice = Account("alice")
        bound = alice.deposit
        assert isinstance(bound, Tool) and not bound.unbound and Account.deposit.unbound
        assert bound(5) == "alice +5" and alice.calls == ["deposit 5"]
        assert Account.deposit(alice, 1) == "alice +1"  # as a function on the class, as before

    def test_the_call_reaches_the_right_instance(self, server, client):
        alice, bob = Account("alice"), Account("bob")
        assert run_one(client, server, bob.deposit, "deposit", {"amount": 7}) == "bob +7"
        assert bob.calls == ["deposit 7"] and alice.calls == []

    def test_a_renamed_method_tool(self, server, client):
        assert run_one(client, server, Account("carol").describe, "whoami", {}) == "carol"

    def test_an_undecorated_bound_method(self, server, client):
        dave = Account("dave")
        assert schema_of(dave.plain)["required"] == ["note"]
        assert run_one(client, server, dave.plain, "plain", {"note": "hi"}) == "dave: hi"
        assert dave.calls == ["hi"]

    def test_a_method_taken_from_the_class_is_refused_naming_the_fix(self):
        with pytest.raises(InvalidRequestError, match=r"Account.deposit taken from its class.*obj\.deposit"):
            ToolExecutor([Account.deposit])

    def test_the_model_cannot_set_self(self):
        executor = ToolExecutor([Account("erin").deposit])
        [result] = executor.run([call("deposit", {"amount": 1, "self": "x"})])
        assert result.content.startswith("Error: ") and "self" in result.content

    @pytest.mark.parametrize("name", ["rate", "fee"])
    def test_staticmethods_in_either_order(self, name, server, client):
        item = getattr(Account, name)
        assert schema_of(item) == {"type": "object", "properties": {"currency": {"type": "string"}},
                                   "required": ["currency"]}
        assert item("EUR") == f"{name} EUR"
        assert run_one(client, server, getattr(Account("x"), name), name, {"currency": "EUR"}) == f"{name} EUR"

    @pytest.mark.parametrize("name, text", [("bank", "Savings north"), ("bank_code", "Savings code north")])
    def test_classmethods_in_either_order_bind_to_the_class_used(self, name, text, server, client):
        item = getattr(Savings, name)
        assert schema_of(item) == {"type": "object", "properties": {"branch": {"type": "string"}},
                                   "required": ["branch"]}
        assert run_one(client, server, item, name, {"branch": "north"}) == text


class TestPartialsAndCallableObjects:
    def test_a_partial_hides_its_bound_arguments(self, server, client):
        seen = []

        def search(query: str, db: str, limit: int = 3) -> str:
            """Search the database."""
            seen.append((query, db, limit))
            return f"{len(seen)} hit"

        item = functools.partial(search, db="prod")
        assert schema_of(item) == {"type": "object", "properties": {
            "query": {"type": "string"}, "limit": {"type": "integer", "default": 3}}, "required": ["query"]}
        assert run_one(client, server, item, "search", {"query": "cats"}) == "1 hit"
        assert seen == [("cats", "prod", 3)]

    def test_the_model_cannot_override_a_bound_argument(self):
        def search(query: str, db: str) -> str:
            return db

        executor = ToolExecutor([tool(functools.partial(search, db="prod"))])
        [result] = executor.run([call("search", {"query": "x", "db": "admin"})])
        assert result.content == "Error: invalid arguments for search: unexpected argument 'db'"

    def test_a_callable_object(self, server, client):
        class Counter:
            """Count things."""

            def __init__(self):
                self.total = 0

            def __call__(self, step: int) -> int:
                """Add a step.

                Args:
                    step: how much to add.
                """
                self.total += step
                return self.total

        counter = Counter()
        definition = tool(counter).definition
        assert (definition.name, definition.description) == ("Counter", "Add a step.")
        assert definition.parameters["properties"] == {"step": {"type": "integer", "description": "how much to add."}}
        assert run_one(client, server, counter, "Counter", {"step": 4}) == "4"
        assert counter.total == 4

    def test_a_plain_function_decorated_in_a_class_body_keeps_its_parameters(self):
        class Toolbox:
            weather = get_weather  # a module-level tool as a class attribute: not a method

        assert Toolbox().weather is get_weather
        assert schema_of(Toolbox.weather)["required"] == ["city"]


def test_tool_on_a_tool_changes_only_its_options():
    renamed = tool(name="weather", timeout=3)(get_weather)
    assert renamed.definition.parameters == get_weather.definition.parameters
    assert (renamed.name, renamed.timeout, get_weather.name) == ("weather", 3, "get_weather")
    assert tool(get_weather).definition == get_weather.definition
