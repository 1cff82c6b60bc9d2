"""The examples run offline against FakeServer and do what they say."""
import importlib.util
import json
import os
import signal
import subprocess
import sys

import pytest

import llmsync
from llmsync.testing import Reply

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
EXAMPLES = os.path.join(ROOT, "examples")


@pytest.fixture
def offline(monkeypatch, tmp_path):
    """No real key anywhere: every example must fall back to FakeServer."""
    for name in ("OPENAI_API_KEY", "OPENAI_BASE_URL"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("LLMSYNC_AUTH_FILE", str(tmp_path / "no-auth.json"))


def load_example(name):
    """Import examples/<name>.py under the module name ``example_<name>``."""
    module_name = f"example_{name}"
    if module_name in sys.modules:
        return sys.modules[module_name]
    spec = importlib.util.spec_from_file_location(module_name, os.path.join(EXAMPLES, f"{name}.py"))
    module = importlib.util.module_from_spec(spec)
    sys.modules[module_name] = module  # Django imports the example again by name, as its URLconf
    try:
        spec.loader.exec_module(module)
    except BaseException:
        del sys.modules[module_name]
        raise
    return module


def offline_env():
    env = {k: v for k, v in os.environ.items() if k not in ("OPENAI_API_KEY", "OPENAI_BASE_URL")}
    env["LLMSYNC_AUTH_FILE"] = os.devnull + ".missing"
    return env


def sse_events(body):
    """(event name, data dict) pairs of an SSE body."""
    events = []
    for block in body.strip().split("\n\n"):
        fields = dict(line.split(": ", 1) for line in block.splitlines())
        events.append((fields.get("event", "message"), json.loads(fields["data"])))
    return events


class TestQuickstart:
    def test_runs_as_a_script_and_says_it_is_offline(self):
        result = subprocess.run([sys.executable, os.path.join(EXAMPLES, "quickstart.py")], env=offline_env(),
                                capture_output=True, text=True, timeout=30)
        assert result.returncode == 0, result.stderr
        assert "offline: OPENAI_API_KEY is not set, so llmsync's FakeServer answers" in result.stdout
        assert "Hello! Nice to meet you." in result.stdout
        assert "A robot learned to paint.\nIts first picture was of you.\n" in result.stdout

    def test_main_returns_the_streamed_response(self, offline, capsys):
        response = load_example("quickstart").main()
        assert response.content == "A robot learned to paint.\nIts first picture was of you."
        assert response.finish_reason == llmsync.FinishReason.STOP
        assert "[15 tokens, finish reason: stop]" in capsys.readouterr().out


class TestStructuredOutput:
    def test_extracts_a_list_of_dataclasses(self, offline, capsys):
        module = load_example("structured_output")
        contacts = module.main()
        assert contacts == module.OFFLINE_CONTACTS
        assert isinstance(contacts[0].role, module.Role)
        assert "Ada Lovelace <ada@analytical.org>: research, met 10 March 2025" in capsys.readouterr().out

    def test_runs_as_a_script(self):
        result = subprocess.run([sys.executable, os.path.join(EXAMPLES, "structured_output.py")],
                                env=offline_env(), capture_output=True, text=True, timeout=30)
        assert result.returncode == 0, result.stderr
        assert "Charles Babbage: engineering, met 11 March 2025" in result.stdout


class TestStreaming:
    def test_prints_reasoning_then_the_answer(self, offline, capsys):
        module = load_example("streaming")
        response = module.main(["Explain."], pace=0)
        out = capsys.readouterr().out
        assert response.content == module._OFFLINE_TEXT
        assert response.reasoning == module._OFFLINE_REASONING
        assert f"[thinking] {module._OFFLINE_REASONING}\n[answer] {module._OFFLINE_TEXT}\n" in out

    def test_ctrl_c_stops_the_reply_cleanly(self):
        process = subprocess.Popen(
            [sys.executable, "-u", os.path.join(EXAMPLES, "streaming.py")], env=offline_env(),
            stdout=subprocess.PIPE, stderr=subprocess.PIPE,
            # a shell may start background jobs with SIGINT ignored; the example needs it live
            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
        seen = b""
        while b"[answer]" not in seen:
            chunk = os.read(process.stdout.fileno(), 1024)
            assert chunk, process.stderr.read()
            seen += chunk
        process.send_signal(signal.SIGINT)
        rest, err = process.communicate(timeout=10)
        out = (seen + rest).decode()
        assert process.returncode == 0, err.decode()
        assert "[stopped with Ctrl-C]" in out
        assert "Traceback" not in err.decode()
        received = int(out.rsplit("[", 1)[1].split()[0])
        assert received < 291  # stopped before the whole answer (291 characters)


class TestFlaskApp:
    @pytest.fixture
    def module(self):
        pytest.importorskip("flask")
        return load_example("flask_app")

    def test_chat_streams_server_sent_events_to_the_browser(self, module, server):
        server.add(Reply(text="Streamed to the browser.", chunk_size=4))
        app = module.create_app(server.client())
        with app.test_client() as browser:
            response = browser.get("/chat", query_string={"prompt": "Hi"}, buffered=False)
            assert response.mimetype == "text/event-stream"
            chunks = [chunk.decode() for chunk in response.response]
        events = sse_events("".join(chunks))
        assert len(chunks) > 2  # one chunk per delta: streamed, not buffered
        assert "".join(data["text"] for name, data in events if name == "message") == "Streamed to the browser."
        assert events[-1] == ("done", {"finish_reason": "stop"})
        assert server.requests[0].body["messages"] == [{"role": "user", "content": "Hi"}]

    def test_a_model_error_is_reported_inside_the_stream(self, module, server):
        server.add(Reply.error(401, "bad key"))
        app = module.create_app(server.client(retry=llmsync.RetryPolicy.none()))
        body = app.test_client().get("/chat?prompt=Hi").get_data(as_text=True)
        ((name, data),) = sse_events(body)
        assert name == "failed" and "bad key" in data["error"]

    def test_a_missing_prompt_is_a_400(self, module, server):
        app = module.create_app(server.client())
        assert app.test_client().get("/chat").status_code == 400
        assert "EventSource" in app.test_client().get("/").get_data(as_text=True)

    def test_main_once_prints_the_stream_offline(self, module, offline, capsys):
        module.main(["--once", "Hi"])
        events = sse_events(capsys.readouterr().out)
        assert "".join(d.get("text", "") for _, d in events).startswith("Hello from Flask!")


class TestDjangoView:
    @pytest.fixture
    def module(self, offline):
        pytest.importorskip("django")
        module = load_example("django_view")
        yield module
        if module._server is not None:
            module._client.close()
            module._server.stop()
        module._client = module._server = None

    def test_view_streams_with_streaming_http_response(self, module):
        from django.test import Client as BrowserClient

        response = BrowserClient().get("/chat", {"prompt": "Hi"})
        assert response.streaming
        assert response["Content-Type"] == "text/event-stream"
        chunks = [chunk.decode() for chunk in response.streaming_content]
        events = sse_events("".join(chunks))
        assert len(chunks) > 2
        text = "".join(data["text"] for name, data in events if name == "message")
        assert text == "Hello from Django! Streamed by llmsync's FakeServer."
        assert events[-1] == ("done", {"finish_reason": "stop"})

    def test_one_client_serves_every_request(self, module):
        assert module.get_client() is module.get_client()

    def test_a_missing_prompt_is_a_400(self, module):
        from django.test import RequestFactory

        assert module.chat(RequestFactory().get("/chat")).status_code == 400

    def test_main_once_prints_the_stream(self, module, capsys):
        module.main(["--once", "Hello"])
        assert 'event: done\ndata: {"finish_reason": "stop"}' in capsys.readouterr().out


class TestNotebook:
    PATH = os.path.join(EXAMPLES, "notebook.ipynb")

    def load(self):
        with open(self.PATH, encoding="utf-8") as handle:
            return json.load(handle)

    def test_is_an_nbformat_4_notebook_without_outputs(self):
        notebook = self.load()
        assert notebook["nbformat"] == 4
        code = [cell for cell in notebook["cells"] if cell["cell_type"] == "code"]
        assert code and all(cell["outputs"] == [] for cell in code)
        assert any('print(event.text, end="", flush=True)' in "".join(cell["source"]) for cell in code)

    @pytest.mark.parametrize("runner", ["nbclient", "exec"])
    def test_runs_top_to_bottom_streaming_into_a_cell(self, offline, runner):
        if runner == "nbclient":
            pytest.importorskip("nbclient")
            pytest.importorskip("ipykernel")
            outputs = self.execute_with_nbclient()
        else:
            outputs = self.exec_code_cells()
        assert "offline: llmsync's FakeServer answers" in outputs[0]
        haiku = "Ink dries on the page,\nthe kernel hums its answer,\ncells fill line by line."
        assert outputs[1].startswith(haiku + "\nstop")
        assert "Name a planet. -> (a short answer)" in outputs[2]

    def execute_with_nbclient(self):
        import nbclient
        import nbformat

        notebook = nbformat.read(self.PATH, as_version=4)
        client = nbclient.NotebookClient(notebook, timeout=60, kernel_name="python3",
                                         resources={"metadata": {"path": ROOT}})
        client.execute()
        return ["".join(output.get("text", "") for output in cell.outputs)
                for cell in notebook.cells if cell.cell_type == "code"]

    def exec_code_cells(self):
        import contextlib
        import io

        namespace = {}
        outputs = []
        for cell in self.load()["cells"]:
            if cell["cell_type"] != "code":
                continue
            buffer = io.StringIO()
            with contextlib.redirect_stdout(buffer):
                exec(compile("".join(cell["source"]), self.PATH, "exec"), namespace)
            outputs.append(buffer.getvalue())
        return outputs


class TestBatchJob:
    def test_runs_every_prompt_and_reports_progress_and_totals(self, offline, capsys):
        results = load_example("batch_job").main(["Oslo", "Lima", "Riga"])
        captured = capsys.readouterr()
        assert sorted(r.index for r in results) == [0, 1, 2]
        assert all(r.ok for r in results)
        assert "\r3/3 finished" in captured.err
        assert "    Lima: Lima is a fine city." in captured.out
        assert "3 done, 0 failed, 45 tokens" in captured.out

    def test_a_failing_item_is_reported_not_raised(self, offline, capsys, monkeypatch):
        module = load_example("batch_job")
        original = module.fake_model

        def sometimes_failing(received):
            if "Lima" in received.body["messages"][-1]["content"]:
                return Reply.error(400, "no Lima today")
            return original(received)

        monkeypatch.setattr(module, "fake_model", sometimes_failing)
        results = module.main(["Oslo", "Lima"])
        assert [r.ok for r in sorted(results, key=lambda r: r.index)] == [True, False]
        assert "error: " in capsys.readouterr().out


class TestObservability:
    def test_runs_as_a_script_with_a_bar_spans_and_costs(self):
        pytest.importorskip("opentelemetry.sdk")
        result = subprocess.run([sys.executable, os.path.join(EXAMPLES, "observability.py")], env=offline_env(),
                                capture_output=True, text=True, timeout=60)
        assert result.returncode == 0, result.stderr
        spans = [line for line in result.stdout.splitlines() if line.startswith("[span] chat gpt-4o-mini")]
        assert len(spans) == 9
        assert all("provider=openai tokens=(10, 5)" in line for line in spans)
        assert sum(line.endswith("retries=1") for line in spans) == 3  # every third topic was rate-limited once
        assert "[span] nightly facts" in result.stdout
        assert "9 replies, 135 tokens, $0.0000" in result.stdout and "3 retries, 0 errors" in result.stdout
        assert "9/9" in result.stderr  # the tqdm bar

    def test_the_cost_hook_counts_every_reply_and_retry(self, offline, monkeypatch, capsys):
        module = load_example("observability")
        monkeypatch.setattr(module, "start_tracing", lambda: None)  # the global tracer provider stays unset
        outcome = module.main(["tides", "volcanoes", "bees"])
        tracker = outcome["tracker"]
        assert all(result.ok for result in outcome["results"])
        assert (tracker.calls, tracker.tokens, tracker.retries, tracker.errors) == (3, 45, 1, 0)
        assert tracker.cost > 0 and tracker.unpriced == 0
        assert "      bees: A fact about bees." in capsys.readouterr().out
