"""The ``llmsync`` command: chat, models, and resumable JSONL batches."""
import io
import json
import os
import signal
import subprocess
import sys
import time
from collections import Counter

import pytest

import llmsync
from llmsync.cli import main
from llmsync.jsonl import OutputFile, scan_output
from llmsync.testing import Reply

MODEL = "openai/gpt-4o-mini"
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def prompt_of(received):
    return received.body["messages"][-1]["content"]


def echo(received):
    """Answers "echo: <prompt>", or an HTTP 400 when the prompt says "fail"."""
    prompt = prompt_of(received)
    if prompt == "fail":
        return Reply.error(400, "this prompt is refused")
    return Reply(text=f"echo: {prompt}")


@pytest.fixture
def env(monkeypatch, server, tmp_path):
    """The CLI's environment: the OpenAI provider aimed at the fake server."""
    monkeypatch.setenv("OPENAI_BASE_URL", f"{server.url}/v1")
    monkeypatch.setenv("OPENAI_API_KEY", "fake")
    monkeypatch.setenv("LLMSYNC_AUTH_FILE", str(tmp_path / "no-auth.json"))
    server.responder = echo
    return server


def write_lines(path, lines):
    with open(path, "w", encoding="utf-8") as handle:
        for line in lines:
            handle.write((line if isinstance(line, str) else json.dumps(line)) + "\n")
    return str(path)


def read_output(path):
    with open(path, encoding="utf-8") as handle:
        return [json.loads(line) for line in handle]


def by_id(records):
    return {record["id"]: record for record in records}


def run_batch(tmp_path, items, *extra, output=None):
    source = write_lines(tmp_path / "in.jsonl", items)
    output = output or str(tmp_path / "out.jsonl")
    status = main(["batch", source, output, "--model", MODEL, "--workers", "4", "--max-retries", "0", *extra])
    return status, output


class TestBatch:
    def test_every_line_gets_one_output_line_with_its_id(self, env, tmp_path, capsys):
        items = [{"id": "a", "prompt": "one"}, {"prompt": "two"},
                 {"id": "c", "messages": [{"role": "user", "content": "three"}], "max_tokens": 5}]
        status, output = run_batch(tmp_path, items)
        records = by_id(read_output(output))
        assert status == 0
        assert sorted(records, key=str) == [2, "a", "c"]  # the line number when id is absent
        assert records["a"]["response"]["content"] == "echo: one"
        assert records[2]["response"]["content"] == "echo: two"
        assert records["c"]["response"]["usage"]["total_tokens"] == 15
        assert records["c"]["response"]["finish_reason"] == "stop"
        sent = {prompt_of(r): r.body for r in env.requests}
        assert sent["three"]["max_completion_tokens"] == 5
        assert "3 done, 0 failed" in capsys.readouterr().err

    def test_output_line_is_the_response_dict(self, env, tmp_path):
        status, output = run_batch(tmp_path, [{"id": "x", "prompt": "hi"}])
        (record,) = read_output(output)
        assert set(record) == {"id", "response"}
        assert llmsync.Response.from_dict(record["response"]).content == "echo: hi"

    def test_malformed_lines_become_error_lines_not_a_crash(self, env, tmp_path, capsys):
        items = ["{not json", "[1, 2]", {"id": "no-prompt"}, {"id": "both", "prompt": "a", "messages": []},
                 {"id": "int-prompt", "prompt": 7}, {"id": "bad-role", "messages": [{"role": "robot", "content": "x"}]},
                 {"id": "no-role", "messages": [{"content": "x"}]}, {"id": "typo", "prompt": "x", "max_tokenz": 3},
                 {"id": {"nested": 1}, "prompt": "x"}, {"id": "ok", "prompt": "fine"}]
        status, output = run_batch(tmp_path, items)
        records = by_id(read_output(output))
        assert status == 1
        assert records.pop("ok")["response"]["content"] == "echo: fine"
        assert sorted(records, key=str) == [1, 2, 9, "bad-role", "both", "int-prompt", "no-prompt", "no-role", "typo"]
        for record in records.values():
            assert record["error"]["type"] == "InvalidRequestError"
        assert "invalid JSON" in records[1]["error"]["message"]
        assert "max_tokenz" in records["typo"]["error"]["message"]
        assert [prompt_of(r) for r in env.requests] == ["fine"]
        assert "Traceback" not in capsys.readouterr().err

    def test_provider_errors_become_error_lines(self, env, tmp_path, capsys):
        status, output = run_batch(tmp_path, [{"id": "bad", "prompt": "fail"}, {"id": "good", "prompt": "hi"}])
        records = by_id(read_output(output))
        assert status == 1
        assert records["bad"]["error"]["type"] == "InvalidRequestError"
        assert "this prompt is refused" in records["bad"]["error"]["message"]
        assert "response" in records["good"]
        assert "1 done, 1 failed" in capsys.readouterr().err

    def test_rerun_skips_what_is_done_and_sends_nothing(self, env, tmp_path, capsys):
        items = [{"id": n, "prompt": f"p{n}"} for n in range(5)]
        run_batch(tmp_path, items)
        first = open(tmp_path / "out.jsonl", encoding="utf-8").read()
        sent = len(env.requests)
        status, output = run_batch(tmp_path, items)
        assert status == 0
        assert len(env.requests) == sent == 5
        assert open(output, encoding="utf-8").read() == first
        assert "0 done, 0 failed, 5 already in" in capsys.readouterr().err

    def test_a_torn_last_line_is_truncated_before_appending(self, env, tmp_path):
        items = [{"id": f"i{n}", "prompt": f"p{n}"} for n in range(4)]
        out = tmp_path / "out.jsonl"
        done = [{"id": "i0", "response": {"content": "earlier"}}, {"id": "i1", "response": {"content": "earlier"}}]
        out.write_text("".join(json.dumps(r) + "\n" for r in done) + '{"id": "i2", "respo', encoding="utf-8")
        status, output = run_batch(tmp_path, items, output=str(out))
        records = read_output(output)
        assert status == 0
        assert Counter(r["id"] for r in records) == {"i0": 1, "i1": 1, "i2": 1, "i3": 1}
        assert sorted(prompt_of(r) for r in env.requests) == ["p2", "p3"]

    def test_an_invalid_last_line_with_a_newline_is_dropped_too(self, tmp_path):
        out = tmp_path / "out.jsonl"
        out.write_text('{"id": "a", "response": {}}\n{"id": "b", "resp\n', encoding="utf-8")
        assert scan_output(str(out)) == {'"a"'}
        assert out.read_text(encoding="utf-8") == '{"id": "a", "response": {}}\n'

    def test_retry_errors_reruns_failed_items_and_keeps_ids_unique(self, env, tmp_path):
        items = [{"id": "x", "prompt": "fail"}, {"id": "y", "prompt": "ok"}]
        assert run_batch(tmp_path, items)[0] == 1
        env.responder = lambda received: Reply(text="now fine")
        status, output = run_batch(tmp_path, items, "--retry-errors")
        records = read_output(output)
        assert status == 0
        assert Counter(r["id"] for r in records) == {"x": 1, "y": 1}
        assert by_id(records)["x"]["response"]["content"] == "now fine"
        assert [prompt_of(r) for r in env.requests].count("ok") == 1

    def test_duplicate_ids_in_the_input_are_run_once(self, env, tmp_path, capsys):
        status, output = run_batch(tmp_path, [{"id": "d", "prompt": "first"}, {"id": "d", "prompt": "second"}])
        assert [r["response"]["content"] for r in read_output(output)] == ["echo: first"]
        assert "line 2: duplicate id 'd' skipped" in capsys.readouterr().err

    def test_plain_progress_line_and_summary_without_tqdm(self, env, tmp_path, capsys, monkeypatch):
        monkeypatch.setitem(sys.modules, "tqdm", None)
        run_batch(tmp_path, [{"prompt": f"p{n}"} for n in range(3)])
        err = capsys.readouterr().err
        assert "\rllmsync batch: 3/3 (0 failed)" in err
        assert "3 done, 0 failed, 0 already in" in err
        one = llmsync.catalog.cost_of("openai", "gpt-4o-mini", llmsync.Usage(10, 5, 15))
        assert f"45 tokens, cost ${3 * one:.6f}" in err  # gpt-4o-mini is priced in the catalog

    def test_tqdm_bar_when_tqdm_is_installed(self, env, tmp_path, capsys):
        pytest.importorskip("tqdm")
        run_batch(tmp_path, [{"prompt": f"p{n}"} for n in range(3)])
        err = capsys.readouterr().err
        assert "llmsync batch: 100%" in err and "3/3" in err

    def test_unknown_model_cost_is_reported_unknown(self, env, tmp_path, capsys):
        write_lines(tmp_path / "in.jsonl", [{"prompt": "x", "model": "openai/not-in-catalog"}])
        assert main(["batch", str(tmp_path / "in.jsonl"), str(tmp_path / "out.jsonl"), "--no-progress"]) == 0
        assert "15 tokens, cost unknown" in capsys.readouterr().err

    def test_a_missing_key_stops_the_batch_without_writing_error_lines(self, env, tmp_path, capsys, monkeypatch):
        monkeypatch.delenv("OPENAI_API_KEY")
        status, output = run_batch(tmp_path, [{"prompt": f"p{n}"} for n in range(3)])
        err = capsys.readouterr().err
        assert status == 1
        assert "llmsync: error: AuthenticationError: no API key for 'openai'" in err
        assert "Traceback" not in err
        assert read_output(output) == []

    def test_missing_input_file_is_one_clear_line(self, env, tmp_path, capsys):
        status = main(["batch", str(tmp_path / "nope.jsonl"), str(tmp_path / "out.jsonl"), "--model", MODEL])
        err = capsys.readouterr().err
        assert status == 1
        missing = tmp_path / "nope.jsonl"
        assert err.strip().splitlines() == [f"llmsync: error: cannot use {missing}: No such file or directory"]

    def test_a_second_run_on_the_same_output_is_refused_while_the_first_runs(self, env, tmp_path, capsys):
        output = tmp_path / "out.jsonl"
        with OutputFile(str(output)):
            status, _ = run_batch(tmp_path, [{"prompt": "x"}], output=str(output))
        assert status == 1
        assert f"cannot use {output}: being written by another llmsync batch run" in capsys.readouterr().err
        assert env.requests == []

    @pytest.mark.parametrize("flag", [["--workers", "0"], ["--rpm", "-1"], ["--workers", "many"]])
    def test_bad_numbers_are_usage_errors(self, env, tmp_path, capsys, flag):
        source = write_lines(tmp_path / "in.jsonl", [{"prompt": "x"}])
        assert main(["batch", source, str(tmp_path / "out.jsonl"), *flag]) == 2
        assert len(capsys.readouterr().err.strip().splitlines()) == 1
        assert env.requests == []

    def test_a_kill_9_mid_run_then_a_rerun_writes_every_id_exactly_once(self, env, tmp_path, capsys):
        env.responder = lambda received: Reply(text="slow " + prompt_of(received), delay_before=0.05)
        ids = [f"item-{n}" for n in range(60)]
        source = write_lines(tmp_path / "in.jsonl", [{"id": i, "prompt": i} for i in ids])
        output = tmp_path / "out.jsonl"
        command = [sys.executable, "-m", "llmsync", "batch", source, str(output), "--model", MODEL,
                   "--workers", "2", "--no-progress"]
        process = subprocess.Popen(command, env=dict(os.environ), cwd=ROOT,
                                   stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        try:
            deadline = time.monotonic() + 20
            while _count_lines(output) < 10:
                assert process.poll() is None, process.stderr.read().decode()
                assert time.monotonic() < deadline, "the batch wrote nothing"
                time.sleep(0.01)
            process.send_signal(signal.SIGKILL)
        finally:
            process.wait(timeout=10)
            process.stderr.close()
        assert process.returncode == -signal.SIGKILL
        # As if the kill had landed in the middle of a write:
        with open(output, "ab") as handle:
            handle.write(b'{"id": "item-59", "response": {"content": "tor')
        recorded = len(scan_output(str(output)))
        assert 10 <= recorded < 60
        sent_before = len(env.requests)

        assert main(["batch", source, str(output), "--model", MODEL, "--workers", "8"]) == 0
        records = read_output(output)
        assert Counter(r["id"] for r in records) == Counter(ids)
        assert all(r["response"]["content"] == "slow " + r["id"] for r in records)
        assert len(env.requests) - sent_before == 60 - recorded
        assert f"{60 - recorded} done, 0 failed, {recorded} already in" in capsys.readouterr().err


def _count_lines(path):
    try:
        with open(path, "rb") as handle:
            return handle.read().count(b"\n")
    except FileNotFoundError:
        return 0


class TestChat:
    def test_streams_the_reply_to_stdout(self, env, capsys):
        env.responder = None
        env.add(Reply(text="Hello, terminal!", chunk_size=3))
        assert main(["chat", MODEL, "Hi there"]) == 0
        assert capsys.readouterr().out == "Hello, terminal!\n"
        assert env.requests[0].body["stream"] is True
        assert prompt_of(env.requests[0]) == "Hi there"

    def test_reads_the_prompt_from_stdin_when_none_is_given(self, env, capsys, monkeypatch):
        monkeypatch.setattr(sys, "stdin", io.StringIO("from stdin\n"))
        assert main(["chat", MODEL]) == 0
        assert capsys.readouterr().out == "echo: from stdin\n"
        assert prompt_of(env.requests[0]) == "from stdin"

    def test_system_thinking_and_max_tokens_reach_the_wire(self, env, capsys):
        assert main(["chat", "openai/o4-mini", "Hi", "--system", "Be terse.", "--thinking", "high",
                     "--max-tokens", "42"]) == 0
        body = env.requests[0].body
        assert body["messages"][0] == {"role": "developer", "content": "Be terse."}
        assert body["reasoning_effort"] == "high"
        assert body["max_completion_tokens"] == 42

    def test_reasoning_goes_to_stderr_and_the_answer_to_stdout(self, env, capsys):
        env.responder = None
        env.add(Reply(text="Answer.", reasoning="Thinking..."))
        assert main(["chat", MODEL, "Hi"]) == 0
        captured = capsys.readouterr()
        assert captured.out == "Answer.\n"
        assert captured.err == "Thinking...\n"

    def test_json_prints_raw_events_as_json_lines(self, env, capsys):
        env.responder = None
        env.add(Reply(text="abcdef", chunk_size=3))
        assert main(["chat", MODEL, "Hi", "--json"]) == 0
        events = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
        assert [e["text"] for e in events if e["type"] == "TextDelta"] == ["abc", "def"]
        assert events[-1]["type"] == "Completed"
        assert events[-1]["response"]["content"] == "abcdef"
        assert any(e["type"] == "UsageUpdate" and e["usage"]["total_tokens"] == 15 for e in events)

    def test_a_provider_error_is_one_line_and_a_nonzero_exit(self, env, capsys):
        env.responder = None
        env.add(Reply.error(401, "Incorrect API key provided"))
        assert main(["chat", MODEL, "Hi"]) == 1
        err = capsys.readouterr().err
        assert err.startswith("llmsync: error: AuthenticationError: HTTP 401: Incorrect API key provided")
        assert len(err.strip().splitlines()) == 1

    def test_ctrl_c_is_a_short_message_and_exit_130(self, env, capsys, monkeypatch):
        def interrupted(*args, **kwargs):
            raise KeyboardInterrupt

        monkeypatch.setattr(llmsync.Client, "stream", interrupted)
        assert main(["chat", MODEL, "Hi"]) == 130
        err = capsys.readouterr().err
        assert err.strip() == "llmsync: error: interrupted"

    @pytest.mark.parametrize("argv", [["chat"], ["chat", MODEL, "Hi", "--thinking", "lots"],
                                      ["chat", MODEL, "Hi", "--max-tokens", "ten"], ["frobnicate"], []])
    def test_bad_arguments_are_one_line_and_exit_2(self, env, capsys, argv):
        assert main(argv) == 2
        err = capsys.readouterr().err
        assert len(err.strip().splitlines()) == 1
        assert err.startswith("llmsync: error: ")
        assert env.requests == []

    def test_an_empty_prompt_is_refused(self, env, capsys, monkeypatch):
        monkeypatch.setattr(sys, "stdin", io.StringIO("  \n"))
        assert main(["chat", MODEL]) == 2
        assert "the prompt is empty" in capsys.readouterr().err

    def test_a_malformed_model_string_is_one_line(self, env, capsys):
        assert main(["chat", "gpt-4o", "Hi"]) == 1
        assert "provider/model-id" in capsys.readouterr().err

    def test_base_url_flag_aims_the_models_provider(self, env, capsys, monkeypatch):
        monkeypatch.setenv("OPENAI_BASE_URL", "http://127.0.0.1:9/v1")  # nothing listens there
        assert main(["chat", MODEL, "Hi", "--base-url", f"{env.url}/v1"]) == 0
        assert capsys.readouterr().out == "echo: Hi\n"


class TestModels:
    def test_lists_one_providers_catalog(self, capsys):
        assert main(["models", "--provider", "openai"]) == 0
        lines = capsys.readouterr().out.splitlines()
        assert len(lines) == len(llmsync.models("openai"))
        assert all(line.startswith("openai/") for line in lines)
        assert any(line.split()[0] == "openai/gpt-4o-mini" for line in lines)

    def test_json_lines(self, capsys):
        assert main(["models", "--json"]) == 0
        entries = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
        assert len(entries) == len(llmsync.models())
        assert {"model", "id", "provider", "context_window", "input_price"} <= set(entries[0])

    def test_an_unknown_provider_names_the_known_ones(self, capsys):
        assert main(["models", "--provider", "nope"]) == 2
        err = capsys.readouterr().err
        assert "no catalog entries for provider 'nope'" in err and "openai" in err

    def test_help_exits_zero(self, capsys):
        assert main(["--help"]) == 0
        assert "batch" in capsys.readouterr().out


class TestPythonDashM:
    def run(self, *args):
        return subprocess.run([sys.executable, "-m", "llmsync", *args], cwd=ROOT, capture_output=True,
                              text=True, timeout=30)

    def test_python_m_llmsync_runs_the_cli(self):
        result = self.run("models", "--provider", "anthropic")
        assert result.returncode == 0
        assert result.stdout.splitlines()[0].startswith("anthropic/")

    def test_errors_never_show_a_traceback(self):
        result = self.run("chat")
        assert result.returncode == 2
        assert "Traceback" not in result.stderr
        assert result.stderr.strip().splitlines() == [
            "llmsync: error: the following arguments are required: model (see 'llmsync chat --help')"]
