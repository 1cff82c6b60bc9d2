"""Batches under a fixed rate limit, and the driver's memory per item.

Usage::

    python benchmarks/batch_throughput.py                 # a minute per contender, then memory
    python benchmarks/batch_throughput.py --quick         # 10 s per contender, 20,000 items
    python benchmarks/batch_throughput.py --only memory --memory-of dask --items 1000000

``throughput``: a local ``client.batch`` and a Dask batch (``run_batch_on_dask`` on a
``LocalCluster`` of 2 worker processes) against a loopback server that enforces
``--rpm`` (``batch_server.py``) and answers after ``--latency`` seconds. A row shows the
requests the server accepted in the ``--seconds`` after the first one, as a fraction of
the limit (target: at least 95%), and the 429s it sent (target: none: a 429 here is one
our own burst caused). ``limiter``: ``ClusterLimiter.acquire`` calls per second under a
limit never reached (the scheduler round trip every request of a Dask batch makes).
``memory``: the driver's resident memory (RSS) growth per
100,000 tiny items, written to an output file as they finish, with no rate limit: the
Dask driver (``run_batch_on_dask(output=...)``, the scheduler of its ``LocalCluster``
included) and the local ``llmsync batch`` (``run_file_batch``). Standalone: the test
suite never runs it. See ``benchmarks/README.rst``.
"""
import argparse
import os
import sys
import tempfile
import time
from typing import Any, Callable, Dict, Iterator, List, Optional

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path[:0] = [HERE, ROOT]  # benchmark this checkout, whatever is installed

from batch_server import RateLimitedServer  # noqa: E402

import llmsync  # noqa: E402

MODEL = "openai/gpt-4o-mini"
SECTIONS = ("throughput", "limiter", "memory")
THROUGHPUT_TARGET = 0.95
HEADER = f"{'benchmark':<38} {'contender':<26} {'value':>12} {'unit':<16} target"


def row(label: str, contender: str, value: str, unit: str, target: str = "") -> None:
    print(f"{label:<38} {contender:<26} {value:>12} {unit:<16} {target}", flush=True)


def make_client(url: str) -> llmsync.Client:
    return llmsync.Client(api_keys={"openai": "sk-bench"}, base_urls={"openai": f"{url}/v1"},
                          retry=llmsync.RetryPolicy(max_retries=8))


def items_until(deadline: float) -> Iterator[Dict[str, Any]]:
    """Tiny items, as many as are asked for before ``deadline``."""
    while time.monotonic() < deadline:
        yield {"model": MODEL, "prompt": "Say ok.", "max_tokens": 5}


def tiny_items(count: int) -> Iterator[Dict[str, Any]]:
    for number in range(count):
        yield {"id": f"item-{number:07d}", "prompt": "Say ok.", "max_tokens": 5}


# -- throughput ------------------------------------------------------------------------------


def run_local(url: str, args: argparse.Namespace, deadline: float) -> None:
    with make_client(url) as client:
        for result in client.batch(items_until(deadline), max_workers=args.threads, requests_per_minute=args.rpm):
            if result.error is not None:
                raise result.error


def run_dask(url: str, args: argparse.Namespace, deadline: float, cluster: Any) -> None:
    from llmsync.dask import run_batch_on_dask

    with make_client(url) as client:
        lines = run_batch_on_dask(client, items_until(deadline), cluster, model=MODEL, chunk_size=args.chunk,
                                  max_workers=args.threads, requests_per_minute=args.rpm, ship_keys=True)
    errors = [line["error"] for line in lines if "error" in line]
    if errors:
        raise SystemExit(f"{len(errors)} items failed, e.g. {errors[0]}")


def measure_throughput(name: str, run: Callable[[str, float], None], args: argparse.Namespace) -> List[str]:
    """One contender against a fresh server; print its rows, return the targets it missed."""
    with RateLimitedServer(args.rpm, args.latency) as server:
        run(server.url, time.monotonic() + args.seconds + 2.0)
        stats = server.stats()
    accepted = sorted(stats["accepted"])
    start = accepted[0] if accepted else 0.0
    in_window = sum(1 for moment in accepted if moment < start + args.seconds)
    fraction = in_window / (args.rpm / 60.0 * args.seconds)
    # After the first 2 s (the bucket's initial burst), the rate the limiter keeps.
    steady = sum(1 for moment in accepted if start + 2.0 <= moment < start + args.seconds)
    steady_fraction = steady / (args.rpm / 60.0 * (args.seconds - 2.0))
    label = f"batch at {args.rpm:g} rpm, {args.seconds:g} s"
    misses = []
    reached = fraction >= THROUGHPUT_TARGET
    row(label, name, f"{fraction:.1%}", "of the limit",
        f">= {THROUGHPUT_TARGET:.0%} " + ("ok" if reached else "MISSED"))
    row(label, name, f"{steady_fraction:.1%}", "after the first 2s")
    row(label, name, str(stats["limited"]), "429s (bursts)", "0 " + ("ok" if not stats["limited"] else "MISSED"))
    if not reached:
        misses.append(f"{name}: {fraction:.1%} of the limit")
    if stats["limited"]:
        misses.append(f"{name}: {stats['limited']} 429s")
    return misses


# -- limiter ---------------------------------------------------------------------------------


def acquire_rate(limiter: Any, threads: int, seconds: float) -> float:
    """On a worker: ``acquire()`` calls per second from ``threads`` threads."""
    import threading

    limiter.bind()
    counts = [0] * threads
    stop = time.monotonic() + seconds

    def run(slot: int) -> None:
        while time.monotonic() < stop:
            limiter.acquire(1)
            counts[slot] += 1

    pool = [threading.Thread(target=run, args=(slot,)) for slot in range(threads)]
    for thread in pool:
        thread.start()
    for thread in pool:
        thread.join()
    return sum(counts) / seconds


def measure_limiter(args: argparse.Namespace, cluster: Any) -> None:
    """The cost of a cluster-wide limit: reservations per second with a limit never reached."""
    from distributed import Client

    from llmsync.dask import ClusterLimiter

    seconds = 3.0 if args.quick else 10.0
    with Client(cluster) as dask_client:
        limiter = ClusterLimiter(dask_client, requests_per_minute=1e12)
        workers = list(dask_client.scheduler_info()["workers"])
        for threads in (1, args.threads):
            futures = [dask_client.submit(acquire_rate, limiter, threads, seconds, workers=[worker], pure=False)
                       for worker in workers]
            rates = dask_client.gather(futures)
            row("ClusterLimiter.acquire, no waiting", f"{len(workers)} workers x {threads} threads",
                f"{sum(rates):,.0f}", "acquires/s", f"({1000 * threads * len(workers) / sum(rates):.2f} ms each)")
        limiter.close()


# -- memory ----------------------------------------------------------------------------------


def rss_mb() -> float:
    import psutil

    return psutil.Process().memory_info().rss / 2**20


class RssSampler:
    """RSS every ``every`` results; the slope over the last three quarters, per 100k."""

    def __init__(self, total: int) -> None:
        self.every = max(total // 20, 1)
        self.samples: List[tuple] = []
        self.count = 0

    def __call__(self, *ignored: Any) -> None:
        self.count += 1
        if self.count % self.every == 0:
            self.samples.append((self.count, rss_mb()))

    def per_100k(self) -> float:
        quarter = [sample for sample in self.samples if sample[0] >= self.samples[-1][0] / 4]
        (first, first_mb), (last, last_mb) = quarter[0], quarter[-1]
        return (last_mb - first_mb) / max(last - first, 1) * 100_000

    def peak(self) -> float:
        return max(mb for _, mb in self.samples)

    def report(self, label: str, contender: str, rate: float) -> None:
        row(label, contender, f"{self.per_100k():.1f}", "MB per 100k",
            f"(peak {self.peak():.0f} MB, {rate:,.0f} items/s)")


def measure_memory(args: argparse.Namespace, cluster: Any) -> None:
    from llmsync.dask import run_batch_on_dask
    from llmsync.jsonl import run_file_batch

    label = f"driver RSS, {args.items:,} items"
    with RateLimitedServer(None, 0.0) as server, make_client(server.url) as client, \
            tempfile.TemporaryDirectory() as folder:
        if "dask" in args.memory_of:
            sampler = RssSampler(args.items)
            started = time.monotonic()
            run_batch_on_dask(client, tiny_items(args.items), cluster, model=MODEL, chunk_size=500,
                              max_workers=16, ship_keys=True, output=os.path.join(folder, "dask.jsonl"),
                              on_result=sampler)
            sampler.report(label, "dask driver", args.items / (time.monotonic() - started))
        if "local" in args.memory_of:
            source = os.path.join(folder, "in.jsonl")
            with open(source, "w") as handle:
                handle.writelines(f'{{"id": "{item["id"]}", "prompt": "Say ok.", "max_tokens": 5}}\n'
                                  for item in tiny_items(args.items))
            sampler = RssSampler(args.items)
            started = time.monotonic()
            run_file_batch(client, source, os.path.join(folder, "local.jsonl"), model=MODEL, max_workers=16,
                           on_result=sampler)
            sampler.report(label, "local llmsync batch", args.items / (time.monotonic() - started))


def parse_args(argv: Optional[List[str]] = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="10 s per contender and 20,000 items")
    parser.add_argument("--only", default=",".join(SECTIONS), help=f"sections, of: {', '.join(SECTIONS)}")
    parser.add_argument("--rpm", type=float, default=1200.0, help="the server's limit (1200)")
    parser.add_argument("--latency", type=float, default=0.2, help="seconds per reply (0.2)")
    parser.add_argument("--seconds", type=float, help="measured seconds per contender (60; 10 with --quick)")
    parser.add_argument("--threads", type=int, default=8, help="batch threads (per Dask task) (8)")
    parser.add_argument("--chunk", type=int, default=32, help="items per Dask task (32)")
    parser.add_argument("--items", type=int, help="items for the memory rows (200,000; 20,000 with --quick)")
    parser.add_argument("--memory-of", default="dask,local", help="memory rows: dask, local or both (both)")
    args = parser.parse_args(argv)
    args.seconds = args.seconds or (10.0 if args.quick else 60.0)
    args.items = args.items or (20_000 if args.quick else 200_000)
    unknown = set(args.only.split(",")) - set(SECTIONS)
    if unknown:
        parser.error(f"unknown section(s) {sorted(unknown)}; sections are {', '.join(SECTIONS)}")
    return args


def main(argv: Optional[List[str]] = None) -> int:
    import logging

    import dask
    from distributed import LocalCluster

    from llmsync.dask import LOW_LEVEL_LOG_LENGTH

    args = parse_args(argv)
    logging.getLogger("distributed").setLevel(logging.ERROR)
    print(f"llmsync batch benchmarks: python {sys.version.split()[0]}, {os.cpu_count()} CPUs, "
          f"load average {os.getloadavg()[0]:.1f}, reply latency {args.latency:g} s, "
          f"{args.threads} threads per batch (per Dask task)")
    print(HEADER)
    print("-" * len(HEADER))
    misses: List[str] = []
    only = set(args.only.split(","))
    # As run_batch_on_dask sets for the clusters it makes (docs/scaling.rst): Dask's debug log
    # of recent messages would otherwise hold the last 1000 tasks' items in this process.
    with dask.config.set({"distributed.admin.low-level-log-length": LOW_LEVEL_LOG_LENGTH}), \
            LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None) as cluster:
        if "throughput" in only:
            misses += measure_throughput("local client.batch", lambda url, end: run_local(url, args, end), args)
            misses += measure_throughput("dask, 2 worker processes",
                                         lambda url, end: run_dask(url, args, end, cluster), args)
        if "limiter" in only:
            measure_limiter(args, cluster)
        if "memory" in only:
            measure_memory(args, cluster)
    print()
    print("targets missed:" if misses else "every target reached", *misses, sep="\n  ")
    return 0


if __name__ == "__main__":
    sys.exit(main())
