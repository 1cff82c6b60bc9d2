"""Scale a batch out to Dask worker processes.

    pip install "llmsync[dask]"
    python examples/dask_batch.py

The ``Client`` is pickled to each worker (its configuration only: each worker opens its
own connections and, unless ``ship_keys=True``, finds its own key), every worker runs
its share on a thread pool, and the results come back as the same lines ``llmsync
batch`` writes: ``{"id", "response"}`` or ``{"id", "error"}``. Add ``output="out.jsonl"``
to append them to a file as they complete, resumably, and ``requests_per_minute=`` for a
limit the whole cluster keeps. Here the cluster is a ``LocalCluster`` of two worker processes;
pass a ``distributed.Client`` or a scheduler address to use a real cluster.

With OPENAI_API_KEY set this talks to OpenAI; without it, to a FakeServer running in
this process, which the worker processes reach over the loopback interface.
"""
import json
import os
from typing import Any, ContextManager, Dict, List

import llmsync
from llmsync.dask import run_batch_on_dask
from llmsync.testing import ReceivedRequest, Reply, client_or_fake

MODEL = "openai/gpt-4o-mini"


def echo(received: ReceivedRequest) -> Reply:
    """The offline stand-in model: repeats the prompt back."""
    return Reply(text="You said: " + received.body["messages"][-1]["content"])


def open_client() -> ContextManager[llmsync.Client]:
    """A real client when OPENAI_API_KEY is set, else one aimed at a local FakeServer."""
    return client_or_fake(responder=echo)


def main(cluster: Any = None, count: int = 12) -> List[Dict[str, Any]]:
    """Run ``count`` prompts on ``cluster`` (default: a new 2-process LocalCluster)."""
    from dask.distributed import LocalCluster

    items = [{"id": f"q{n}", "prompt": f"Give me fact number {n}.", "max_tokens": 50} for n in range(count)]
    own_cluster = cluster is None
    if own_cluster:
        cluster = LocalCluster(n_workers=2, processes=True, threads_per_worker=1, dashboard_address=None)
    try:
        workers = len(getattr(cluster, "workers", ())) or "the cluster's"
        with open_client() as client:
            # Keys stay here unless shipped: real workers read their own OPENAI_API_KEY (or
            # auth file); the offline FakeServer's key exists only in this process.
            lines = run_batch_on_dask(client, items, cluster, model=MODEL, chunk_size=4, max_workers=4,
                                      ship_keys=not os.environ.get("OPENAI_API_KEY"))
    finally:
        if own_cluster:
            cluster.close()
    for line in lines:
        print(json.dumps(line)[:110])
    failed = sum("error" in line for line in lines)
    print(f"{len(lines) - failed} answered, {failed} failed, on {workers} worker processes")
    return lines


if __name__ == "__main__":  # required: Dask starts worker processes by re-importing this file
    main()
