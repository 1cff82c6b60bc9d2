"""Scale-out: a pickled Client, batches on Dask worker processes, limits for the whole cluster."""
import importlib.util
import json
import os
import pickle
import signal
import subprocess
import sys
import threading
import time

import pytest

import llmsync
from llmsync.jsonl import run_file_batch
from llmsync.testing import FakeServer, Reply

distributed = pytest.importorskip("distributed")

from llmsync.dask import ClusterLimiter, run_batch_on_dask, run_file_on_dask  # noqa: E402

MODEL = "openai/gpt-4o-mini"
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
WORKER_KEY = "sk-the-workers-own-key"


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
    # The workers have a key of their own, as on a real cluster; the driver's is not shipped.
    with distributed.LocalCluster(n_workers=2, processes=True, threads_per_worker=2, dashboard_address=":0",
                                  env={"OPENAI_API_KEY": WORKER_KEY}) as local:
        yield local


@pytest.fixture
def dask_client(cluster):
    with distributed.Client(cluster) as connected:
        yield connected


ITEMS = [
    {"id": "a", "prompt": "alpha"},
    {"prompt": "beta", "max_tokens": 7},  # no id: its position (1-based) is the id
    {"id": "c", "messages": [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "gamma"}]},
    {"id": "bad", "prompt": "fail"},
    {"id": "malformed"},
] + [{"id": f"n{n}", "prompt": f"number {n}"} for n in range(7)]


def comparable(line):
    """An output line as JSON text, without what differs between two runs (HTTP metadata)."""
    line = json.loads(json.dumps(line, default=str))
    for name in ("headers", "latency", "time_to_first_token", "request_id"):
        line.get("response", {}).pop(name, None)
    return json.dumps(line, sort_keys=True)


def read_lines(path):
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


class TestClientPickling:
    def test_a_used_client_pickles_and_works_after_unpickling(self, echo_server):
        client = echo_server.client(timeout=7.0, retry=llmsync.RetryPolicy(max_retries=1))
        client.generate(MODEL, "warm up")
        client.executor()  # a live thread pool must not stop pickling
        clone = pickle.loads(pickle.dumps(client))
        assert clone.timeout == client.timeout
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


class TestKeysOnWorkers:
    @pytest.mark.parametrize("ship_keys, expected", [(False, WORKER_KEY), (True, "sk-driver-key")])
    def test_explicit_keys_travel_only_when_asked(self, cluster, ship_keys, expected):
        with FakeServer(default=Reply(text="ok")) as server:
            client = server.client(api_keys={"openai": "sk-driver-key"})
            (line,) = run_batch_on_dask(client, [{"prompt": "hi"}], cluster, model=MODEL, ship_keys=ship_keys)
            assert line["response"]["content"] == "ok"
            assert server.requests[0].headers["Authorization"] == f"Bearer {expected}"


class TestRunBatchOnDask:
    def test_output_lines_match_the_local_batch(self, echo_server, cluster, tmp_path):
        client = echo_server.client(retry=llmsync.RetryPolicy.none())
        remote = run_batch_on_dask(client, iter(ITEMS), cluster, model=MODEL, chunk_size=3, max_in_flight=2)

        source, output = tmp_path / "in.jsonl", tmp_path / "out.jsonl"
        source.write_text("".join(json.dumps(item) + "\n" for item in ITEMS), encoding="utf-8")
        run_file_batch(client, str(source), str(output), model=MODEL)
        local = read_lines(output)

        assert [line["id"] for line in remote] == ["a", 2, "c", "bad", "malformed"] + [f"n{n}" for n in range(7)]
        assert sorted(map(comparable, remote), key=str) == sorted(map(comparable, local), key=str)
        by_id = {line["id"]: line for line in remote}
        assert by_id[2]["response"]["content"] == "echo: beta"
        assert by_id["bad"]["error"]["type"] == "InvalidRequestError"
        assert by_id["malformed"]["error"]["type"] == "InvalidRequestError"

    def test_the_work_runs_in_the_worker_processes(self, echo_server, dask_client):
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

    @pytest.mark.parametrize("limits", [{"requests_per_minute": 0}, {"tokens_per_minute": -5},
                                        {"requests_per_minute": True}])
    def test_a_limit_that_is_not_positive_is_refused_before_any_work(self, echo_server, limits):
        with pytest.raises(llmsync.InvalidRequestError, match="must be positive"):
            run_batch_on_dask(echo_server.client(), [{"prompt": "hi"}], "tcp://127.0.0.1:9", **limits)


class TestOutputFile:
    def test_each_line_is_on_disk_when_its_task_completes(self, echo_server, cluster, tmp_path):
        output = tmp_path / "out.jsonl"
        on_disk = []

        def on_result(line, tally):
            on_disk.append(len(output.read_text(encoding="utf-8").splitlines()))

        items = [{"id": f"i{n}", "prompt": f"p{n}"} for n in range(6)]
        tally = run_batch_on_dask(echo_server.client(), items, cluster, model=MODEL, chunk_size=1,
                                  max_in_flight=2, output=str(output), on_result=on_result)
        assert on_disk == [1, 2, 3, 4, 5, 6]
        assert (tally.done, tally.failed, tally.tokens) == (6, 0, 90)
        assert sorted(line["id"] for line in read_lines(output)) == [f"i{n}" for n in range(6)]

    def test_a_rerun_skips_what_is_done_and_keeps_every_id_once(self, cluster, tmp_path):
        output = tmp_path / "out.jsonl"
        output.write_text(json.dumps({"id": "i0", "response": {"content": "earlier"}}) + "\n"
                          + '{"id": "i1", "respo', encoding="utf-8")  # a torn last line, as after kill -9
        items = [{"id": f"i{n}", "prompt": f"p{n}"} for n in range(4)] + [{"id": "i2", "prompt": "again"}]
        warnings = []
        with FakeServer(responder=echo) as server:
            tally = run_batch_on_dask(server.client(), items, cluster, model=MODEL, output=str(output),
                                      on_skip=warnings.append)
            sent = sorted(request.body["messages"][-1]["content"] for request in server.requests)
        assert sent == ["p1", "p2", "p3"]
        assert (tally.done, tally.skipped) == (3, 2)
        assert warnings == ["line 5: duplicate id 'i2' skipped"]
        assert sorted(line["id"] for line in read_lines(output)) == ["i0", "i1", "i2", "i3"]

    def test_lines_that_are_not_json_get_error_lines_as_locally(self, echo_server, cluster, tmp_path):
        source, output = tmp_path / "in.jsonl", tmp_path / "out.jsonl"
        source.write_text('{"id": "ok", "prompt": "fine"}\nnot json\n\n[1, 2]\n', encoding="utf-8")
        tally = run_file_on_dask(echo_server.client(), str(source), str(output), cluster, model=MODEL)
        by_id = {line["id"]: line for line in read_lines(output)}
        assert by_id["ok"]["response"]["content"] == "echo: fine"
        assert "line 2: invalid JSON" in by_id[2]["error"]["message"]
        assert "line 4: expected a JSON object" in by_id[4]["error"]["message"]
        assert (tally.done, tally.failed) == (1, 2)

    def test_a_worker_killed_mid_task_is_rerun_and_its_ids_written_once(self, dask_client, tmp_path):
        victim_started = threading.Event()
        attempts = []

        def responder(received):
            prompt = received.body["messages"][-1]["content"]
            attempts.append(prompt)
            if prompt == "victim" and not victim_started.is_set():
                victim_started.set()
                return Reply(text="too late", delay_before=3.0)
            return Reply(text=f"echo: {prompt}")

        def kill_the_busy_worker():
            assert victim_started.wait(30)
            pids = dask_client.run(os.getpid)
            deadline = time.monotonic() + 10
            while time.monotonic() < deadline:
                busy = [address for address, keys in dask_client.processing().items() if keys]
                if len(busy) == 1:
                    os.kill(pids[busy[0]], signal.SIGKILL)
                    return
                time.sleep(0.05)

        output = tmp_path / "out.jsonl"
        items = [{"id": f"i{n}", "prompt": f"p{n}"} for n in range(4)] + [{"id": "v", "prompt": "victim"}]
        with FakeServer(responder=responder) as server:
            killer = threading.Thread(target=kill_the_busy_worker)
            killer.start()
            run_batch_on_dask(server.client(), items, dask_client, model=MODEL, chunk_size=1, output=str(output))
            killer.join()
        dask_client.wait_for_workers(2, timeout=30)  # the nanny restarts it, for the next tests
        lines = read_lines(output)
        assert sorted(line["id"] for line in lines) == ["i0", "i1", "i2", "i3", "v"]
        assert attempts.count("victim") == 2  # the task ran again on a live worker
        assert {line["id"]: line for line in lines}["v"]["response"]["content"] == "echo: victim"


def requests_in_window(times, width):
    """The most request times that fall in any window of ``width`` seconds."""
    times = sorted(times)
    most, start = 0, 0
    for end, moment in enumerate(times):
        while moment - times[start] >= width:
            start += 1
        most = max(most, end - start + 1)
    return most


def hammer(limiter, url, seconds, threads, pause_after=None):
    """On a worker: ``threads`` threads take turns from ``limiter`` and send for ``seconds``.

    Returns the monotonic time at which it paused the cluster (or None).
    """
    import requests

    limiter.bind()
    stop = time.monotonic() + seconds
    paused_at = []

    def run():
        with requests.Session() as session:
            while time.monotonic() < stop:
                limiter.acquire(10)
                session.post(url, json={"model": "m", "messages": [{"role": "user", "content": "x"}]})
                limiter.settle(10, 15)

    pool = [threading.Thread(target=run) for _ in range(threads)]
    for thread in pool:
        thread.start()
    if pause_after is not None:
        time.sleep(pause_after)
        paused_at.append(time.monotonic())
        limiter.pause(1.0)
    for thread in pool:
        thread.join()
    return paused_at[0] if paused_at else None


def cancelled_batch(client, limiter):
    """On a worker: a batch whose second item waits for its turn, cancelled after 0.5 s.

    Returns (the error's type, seconds from the cancel to the end, the results seen).
    """
    limiter.bind()
    cancel = llmsync.Cancel()
    seen = []
    batch = client.batch([{"model": MODEL, "prompt": "x"}] * 2, max_workers=2, limiter=limiter, cancel=cancel)
    seen.append(next(batch).response.content)
    threading.Timer(0.5, cancel.cancel).start()
    started = time.monotonic()
    try:
        seen.extend(result.response.content for result in batch)
    except llmsync.CancelledError as error:
        return type(error).__name__, time.monotonic() - started, seen
    return None, time.monotonic() - started, seen


class TestClusterLimiter:
    def test_the_limit_holds_across_worker_processes_and_a_pause_stops_them_all(self, dask_client):
        arrivals = []

        def responder(received):
            arrivals.append(time.monotonic())
            return Reply(text="ok")

        rate = 10.0  # per second
        with FakeServer(responder=responder) as server:
            dask_client.wait_for_workers(2, timeout=30)  # a worker killed earlier is back
            limiter = ClusterLimiter(dask_client, requests_per_minute=rate * 60)
            started = time.monotonic()
            workers = list(dask_client.scheduler_info()["workers"])
            url = f"{server.url}/v1/chat/completions"
            futures = [dask_client.submit(hammer, limiter, url, 4.0, 4, pause_after=2.0, workers=[workers[0]]),
                       dask_client.submit(hammer, limiter, url, 4.0, 4, workers=[workers[1]], pure=False)]
            paused_at = futures[0].result()
            futures[1].result()
            limiter.close()
        burst = rate * 1.0  # the default bucket: one second's worth
        jitter = 2  # a loaded 2-core machine may delay a paced request next to the following one
        for width in (1.0, 2.0):
            assert requests_in_window(arrivals, width) <= burst + rate * width + jitter, width
        during_pause = [t for t in arrivals if paused_at + 0.25 < t < paused_at + 0.95]
        assert during_pause == []
        # Not starved: about burst + rate * (4 s - 1 s paused) went through.
        assert len(arrivals) >= 0.8 * (burst + rate * 3.0)
        assert min(arrivals) >= started

    def test_settled_tokens_slow_the_next_turns(self):
        from llmsync.dask_limits import _Limits

        now = [0.0]
        limits = _Limits(None, 600, 1.0, clock=lambda: now[0])  # 10 tokens a second, bucket of 10
        assert limits.reserve(10) == (0.0, 0.0)
        assert limits.reserve(10, settled=20) == (3.0, 0.0)  # 20 more were used than estimated

    def test_a_request_larger_than_the_bucket_goes_when_it_is_full_and_leaves_a_debt(self):
        from llmsync.dask_limits import _Limits

        now = [0.0]
        limits = _Limits(None, 600, 1.0, clock=lambda: now[0])  # 10 tokens a second, bucket of 10
        assert limits.reserve(40) == (0.0, 0.0)
        assert limits.reserve(10)[0] == 4.0  # the 30 tokens beyond the bucket are paid first

    def test_a_pause_restarts_from_an_empty_bucket(self):
        from llmsync.dask_limits import _Limits

        now = [0.0]
        limits = _Limits(60, None, 2.0, clock=lambda: now[0])  # 1 request a second, bucket of 2
        assert limits.pause(5.0) == 5.0
        assert limits.reserve(0) == (6.0, 5.0)  # one second's pacing after the pause, not a burst
        assert limits.reserve(0)[0] == 7.0

    def test_a_turn_given_back_is_the_next_one_booked(self):
        from llmsync.dask_limits import _Limits

        now = [0.0]
        limits = _Limits(60, 600, 1.0, clock=lambda: now[0])  # 1 request and 10 tokens a second
        limits.reserve(10)
        assert limits.reserve(10)[0] == 1.0
        assert limits.release(limits.bookings)
        assert limits.reserve(10)[0] == 1.0, "the turn given back was lost"

    def test_turns_go_back_in_any_order_once_every_later_one_has(self):
        from llmsync.dask_limits import _Limits

        now = [0.0]
        limits = _Limits(60, None, 1.0, clock=lambda: now[0])
        limits.reserve(0)
        first, _ = limits.reserve(0), limits.reserve(0)  # turns at 1 s and 2 s
        assert first[0] == 1.0
        assert limits.release(limits.bookings - 1)  # the 1 s turn: the 2 s one still holds
        assert limits.reserve(0)[0] == 3.0, "a hole in the schedule would put two turns at 2 s"
        assert limits.release(limits.bookings) and limits.release(limits.bookings - 1)
        assert limits.reserve(0)[0] == 1.0, "all three turns went back: the 1 s one is free again"

    def test_use_settled_by_a_turn_given_back_is_still_owed(self):
        from llmsync.dask_limits import _Limits

        now = [0.0]
        limits = _Limits(None, 600, 1.0, clock=lambda: now[0])  # 10 tokens a second, bucket of 10
        limits.reserve(10)
        assert limits.reserve(10, settled=20)[0] == 3.0
        assert limits.release(limits.bookings)
        assert limits.reserve(10)[0] == 3.0  # the 20 tokens really used still count

    def test_nothing_booked_before_a_pause_is_given_back(self):
        from llmsync.dask_limits import _Limits

        now = [0.0]
        limits = _Limits(60, None, 1.0, clock=lambda: now[0])
        limits.reserve(0)
        limits.reserve(0)
        booking = limits.bookings
        limits.pause(5.0)
        assert not limits.release(booking)
        assert not limits.release(12345)
        assert limits.reserve(0)[0] == 6.0

    @staticmethod
    def _limiter_on(service, hook):
        """A ClusterLimiter whose scheduler calls go to ``service`` in this process, each
        first shown to ``hook(handler)``."""
        from llmsync.dask_limits import _Gate

        class InProcessGate(_Gate):
            def call(self, handler, **fields):
                hook(handler)
                return getattr(service, handler.replace("llmsync_limits_", ""))(self.name, **fields)

        limiter = ClusterLimiter.__new__(ClusterLimiter)
        limiter.name, limiter._gate = "n", InProcessGate("n")
        return limiter

    def test_a_stop_during_the_reservation_gives_the_turn_back(self):
        from llmsync.dask_limits import _LimitService

        service = _LimitService()
        service.open("n", 60, None, 1.0)
        stop = threading.Event()
        limiter = self._limiter_on(service, lambda handler: handler.endswith("reserve") and stop.set())
        with pytest.raises(llmsync.CancelledError):
            limiter.acquire(0, stop=stop)  # the turn was due at once, but the call was stopped
        assert service.reserve("n", 0, 0.0)[0] == 0.0, "the turn went back: the next one is due at once"

    def test_a_failed_give_back_still_ends_in_cancelled_error(self):
        from llmsync.dask_limits import _LimitService

        def hook(handler):
            if handler.endswith("release"):
                raise OSError("Timed out trying to connect to tcp://scheduler:8786")

        service = _LimitService()
        service.open("n", 60, None, 1.0)
        service.reserve("n", 0, 0.0)  # the bucket's one turn is taken: the next is a second away
        stop = threading.Event()
        threading.Timer(0.2, stop.set).start()
        with pytest.raises(llmsync.CancelledError):
            self._limiter_on(service, hook).acquire(0, stop=stop)
        assert service.release("closed-by-the-driver", 1) is False

    def test_a_cancel_wakes_a_request_waiting_for_its_cluster_turn(self, dask_client):
        limiter = ClusterLimiter(dask_client, requests_per_minute=1)  # the second turn is a minute away
        cancel = llmsync.Cancel()
        results = []
        try:
            with FakeServer(default=Reply(text="ok")) as server:
                batch = server.client().batch([{"model": MODEL, "prompt": "x"}] * 2, max_workers=2,
                                              limiter=limiter, cancel=cancel)
                results.append(next(batch))
                threading.Timer(0.3, cancel.cancel).start()
                started = time.monotonic()
                with pytest.raises(llmsync.CancelledError, match="batch was cancelled"):
                    list(batch)
                seconds = time.monotonic() - started
                sent = len(server.requests)
            # The turn the cancelled request booked was given back: the next is the same
            # minute away, not two.
            delay = limiter._gate.call("llmsync_limits_reserve", tokens=0, settled=0.0)[0]
        finally:
            limiter.close()
        assert results[0].ok and sent == 1
        assert seconds < 0.3 + 1.5
        assert 50 < delay < 61

    def test_a_cancel_in_a_dask_task_ends_its_batch_promptly(self, dask_client):
        limiter = ClusterLimiter(dask_client, requests_per_minute=1)
        try:
            with FakeServer(default=Reply(text="ok")) as server:
                outcome = dask_client.submit(cancelled_batch, server.client(), limiter, pure=False).result()
        finally:
            limiter.close()
        assert outcome[0] == "CancelledError" and outcome[1] < 0.5 + 1.5
        assert outcome[2] == ["ok"]

    def test_a_stop_that_is_not_an_event_is_refused_before_any_round_trip(self):
        limiter = ClusterLimiter.__new__(ClusterLimiter)  # no scheduler: nothing may be asked of it
        with pytest.raises(llmsync.InvalidRequestError, match="threading.Event"):
            limiter.acquire(1, stop=llmsync.Cancel())

    @pytest.mark.parametrize("options", [{"requests_per_minute": 0}, {"tokens_per_minute": -1.0},
                                         {"requests_per_minute": 60, "burst_seconds": 2.5}])
    def test_bad_limits_are_invalid_requests(self, options):
        with pytest.raises(llmsync.InvalidRequestError):
            ClusterLimiter(None, **options)


def test_a_429_with_retry_after_pauses_every_worker(cluster):
    arrivals = []
    first = threading.Lock()

    def responder(received):
        arrivals.append(time.monotonic())
        if first.acquire(blocking=False):
            return Reply.error(429, "slow down", headers={"Retry-After": "2"})
        return Reply(text="ok")

    items = [{"id": n, "prompt": str(n)} for n in range(12)]
    with FakeServer(responder=responder) as server:
        lines = run_batch_on_dask(server.client(), items, cluster, model=MODEL, chunk_size=3,
                                  requests_per_minute=6000)
    assert all("response" in line for line in lines)
    assert len(arrivals) == 13
    # Requests that had their turn before the 429 came back may still land (0.3 s of
    # slack for a loaded machine); then nothing until the pause is over.
    assert not [t for t in arrivals if arrivals[0] + 0.3 < t < arrivals[0] + 1.9]
    assert max(arrivals) >= arrivals[0] + 1.9


def test_the_cli_resumes_a_dask_batch_after_kill_9(cluster, tmp_path):
    source, output = tmp_path / "in.jsonl", tmp_path / "out.jsonl"
    source.write_text("".join(json.dumps({"id": f"i{n}", "prompt": f"p{n}"}) + "\n" for n in range(12)),
                      encoding="utf-8")
    slow = Reply(text="ok", delay_before=0.4)
    with FakeServer(default=slow) as server:
        command = [sys.executable, "-m", "llmsync", "batch", str(source), str(output), "--model", MODEL,
                   "--base-url", f"{server.url}/v1", "--workers", "1", "--no-progress",
                   "--dask", cluster.scheduler_address]
        environment = dict(os.environ, OPENAI_API_KEY="sk-driver-only")
        driver = subprocess.Popen(command, cwd=ROOT, env=environment, stderr=subprocess.PIPE)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and (not output.exists() or output.read_text().count("\n") < 3):
            time.sleep(0.05)
        driver.send_signal(signal.SIGKILL)
        driver.wait()
        assert 3 <= output.read_text().count("\n") < 12
        rerun = subprocess.run(command, cwd=ROOT, env=environment, capture_output=True, text=True, timeout=60)
    assert rerun.returncode == 0, rerun.stderr
    ids = [line["id"] for line in read_lines(output)]
    assert sorted(ids) == sorted(f"i{n}" for n in range(12))
    assert "already in" in rerun.stderr


def test_the_cli_names_an_unreachable_scheduler_in_one_line(tmp_path):
    source = tmp_path / "in.jsonl"
    source.write_text('{"prompt": "hi"}\n', encoding="utf-8")
    environment = dict(os.environ, DASK_DISTRIBUTED__COMM__TIMEOUTS__CONNECT="1s")
    result = subprocess.run([sys.executable, "-m", "llmsync", "batch", str(source), str(tmp_path / "out.jsonl"),
                             "--model", MODEL, "--no-progress", "--dask", "tcp://127.0.0.1:9"],
                            cwd=ROOT, env=environment, capture_output=True, text=True, timeout=60)
    assert result.returncode == 1
    assert [line for line in result.stderr.splitlines() if line.strip()] == [
        result.stderr.strip()], result.stderr
    assert result.stderr.startswith("llmsync: error: NetworkError: cannot reach the Dask scheduler at "
                                    "tcp://127.0.0.1:9")


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
