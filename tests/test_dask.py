"""Scale-out: a pickled Client, and batches on Dask worker processes."""
import importlib.util
import json
import os
import pickle
import subprocess
import sys

import pytest

import llmsync
from llmsync.jsonl import run_file_batch
from llmsync.testing import FakeServer, Reply

distributed = pytest.importorskip("distributed")

from llmsync.dask import run_batch_on_dask  # noqa: E402

MODEL = "openai/gpt-4o-mini"
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def echo(received):
    prompt = received.body["messages"][-1]["content"]
    if prompt == "fail":
        return Reply.error(400, "refused")
    return Reply(text=f"echo: {prompt}")


@pytest.fixture(scope="module")
def echo_server():
    with FakeServer(responder=echo) as server:
        yield server


@pytest.fixture(scope="module")
def cluster():
    with distributed.LocalCluster(n_workers=2, processes=True, threads_per_worker=2,
                                  dashboard_address=None) as local:
        yield local


ITEMS = [
    {"id": "a", "prompt": "alpha"},
    {"prompt": "beta", "max_tokens": 7},  # no id: its position (1-based) is the id
    {"id": "c", "messages": [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "gamma"}]},
    {"id": "bad", "prompt": "fail"},
    {"id": "malformed"},
] + [{"id": f"n{n}", "prompt": f"number {n}"} for n in range(7)]


class TestClientPickling:
    def test_a_used_client_pickles_and_works_after_unpickling(self, echo_server):
        client = echo_server.client(timeout=7.0, retry=llmsync.RetryPolicy(max_retries=1))
        client.generate(MODEL, "warm up")
        client.executor()  # a live thread pool must not stop pickling
        clone = pickle.loads(pickle.dumps(client))
        assert clone.timeout == 7.0
        assert clone.retry.max_retries == 1
        assert clone._transport is not client._transport
        assert clone.generate(MODEL, "after").content == "echo: after"
        client.close()
        clone.close()

    def test_keys_stay_redacted_in_the_unpickled_clients_repr(self, echo_server):
        client = echo_server.client(api_keys={"openai": "sk-secret-123"})
        clone = pickle.loads(pickle.dumps(client))
        assert "sk-secret-123" not in repr(clone)
        assert clone.explain(MODEL, "Hi").headers["Authorization"] == "***"


class TestRunBatchOnDask:
    def test_output_lines_match_the_local_batch(self, echo_server, cluster, tmp_path):
        client = echo_server.client(retry=llmsync.RetryPolicy.none())
        remote = run_batch_on_dask(client, ITEMS, cluster, model=MODEL, chunk_size=3)

        source, output = tmp_path / "in.jsonl", tmp_path / "out.jsonl"
        source.write_text("".join(json.dumps(item) + "\n" for item in ITEMS), encoding="utf-8")
        run_file_batch(client, str(source), str(output), model=MODEL)
        local = [json.loads(line) for line in output.read_text(encoding="utf-8").splitlines()]

        assert [line["id"] for line in remote] == ["a", 2, "c", "bad", "malformed"] + [f"n{n}" for n in range(7)]
        assert sorted(remote, key=lambda line: str(line["id"])) == sorted(local, key=lambda line: str(line["id"]))
        by_id = {line["id"]: line for line in remote}
        assert by_id[2]["response"]["content"] == "echo: beta"
        assert by_id["bad"]["error"]["type"] == "InvalidRequestError"
        assert by_id["malformed"]["error"]["type"] == "InvalidRequestError"

    def test_the_work_runs_in_the_worker_processes(self, echo_server, cluster):
        with distributed.Client(cluster) as dask_client:
            worker_pids = set(dask_client.run(os.getpid).values())
            with distributed.get_task_stream(client=dask_client) as tasks:
                lines = run_batch_on_dask(echo_server.client(), [{"prompt": "hi"}] * 4, dask_client,
                                          model=MODEL, chunk_size=1)
            assert dask_client.status == "running"  # a client passed in is left open
            workers = set(dask_client.scheduler_info()["workers"])
        ran = [task for task in tasks.data if task["key"].startswith("_run_chunk")]
        assert len(ran) == 4 and {task["worker"] for task in ran} <= workers
        assert len(worker_pids) == 2 and os.getpid() not in worker_pids
        assert [line["response"]["content"] for line in lines] == ["echo: hi"] * 4

    def test_request_objects_are_accepted(self, echo_server, cluster):
        request = llmsync.Request(model=MODEL, messages="from a Request")
        (line,) = run_batch_on_dask(echo_server.client(), [request], cluster)
        assert line == {"id": 1, "response": line["response"]}
        assert line["response"]["content"] == "echo: from a Request"


def test_the_dask_batch_example_runs_on_a_local_cluster(cluster, monkeypatch, capsys, tmp_path):
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    monkeypatch.delenv("OPENAI_BASE_URL", raising=False)
    monkeypatch.setenv("LLMSYNC_AUTH_FILE", str(tmp_path / "none.json"))
    spec = importlib.util.spec_from_file_location("example_dask_batch", os.path.join(ROOT, "examples", "dask_batch.py"))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    lines = module.main(cluster, count=5)
    assert [line["id"] for line in lines] == [f"q{n}" for n in range(5)]
    assert lines[3]["response"]["content"] == "You said: Give me fact number 3."
    assert "5 answered, 0 failed, on 2 worker processes" in capsys.readouterr().out


def test_import_llmsync_never_imports_dask():
    code = ("import sys, llmsync; llmsync.Client; llmsync.Message; "
            "print('dask' in sys.modules, 'distributed' in sys.modules)")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=30, cwd=ROOT)
    assert result.stdout.split() == ["False", "False"]
