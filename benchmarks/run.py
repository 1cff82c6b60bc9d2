"""llmsync benchmarks: throughput, import time, memory and tool dispatch, as ratios to a floor.

Usage::

    python benchmarks/run.py            # the full suite (3-4 minutes on 2 cores)
    python benchmarks/run.py --quick    # tiny sizes, 2 repetitions (CI smoke run)
    python benchmarks/run.py --only stream,requests --reps 9

Throughput rows are measured against their own fast loopback server (``servers.py``,
a separate process), interleaved (floor, sseclient-py, llmsync, SDK, then the reverse
order, repeated), and reported as the median of the repetitions and as a ratio to the
raw floor measured in the same run. See ``benchmarks/README.rst``. Batches under a
rate limit and a batch driver's memory: ``benchmarks/batch_throughput.py`` (standalone).
"""
import argparse
import gc
import os
import statistics
import subprocess
import sys
import time
from typing import Callable, Dict, List, Optional, Tuple

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path[:0] = [HERE, ROOT]  # benchmark this checkout, whatever is installed

import contenders  # noqa: E402
import probes  # noqa: E402
import steps  # noqa: E402
from servers import BenchServer, Scenario  # noqa: E402

HEADER = f"{'benchmark':<38} {'contender':<26} {'median':>12} {'unit':<10} {'x floor':>8}  target"
SECTIONS = ("stream", "tool", "requests", "steps", "import", "memory", "dispatch", "batch")
# Minimum ratios to the floor (throughput rows), from issue 24 (issue 9 asked 0.5 and 0.8);
# a stream must also keep this share of what sseclient-py alone reaches on the same bytes.
STREAM_TARGET = 0.7
SSECLIENT_SHARE = 0.9
REQUESTS_TARGET = 0.9
IMPORT_TARGET_MS = 30.0
DISPATCH_TARGET_US = 1000.0
# Flat memory: per extra delta, llmsync's peak may grow by what its SSE decoder's does
# (transient copies of an event) plus this many times the text it must keep.
MEMORY_SLACK = 2.5


class Sizes:
    """Workload sizes for a full or a ``--quick`` run."""

    def __init__(self, quick: bool, reps: Optional[int], events: Optional[int]) -> None:
        self.quick = quick
        self.reps = reps or (2 if quick else 5)
        self.events = events or (300 if quick else 20_000)
        self.threads = 16
        self.per_thread = 3 if quick else 150
        self.memory = (500, 5_000) if quick else (20_000, 200_000)
        self.import_reps = 1 if quick else 11
        self.tool_turns = 20 if quick else 2_000


def available_formats() -> List[str]:
    """Chat Completions always; the other wire formats when their provider module exists."""
    found = ["openai"]
    for wire_format, module in (("anthropic", "anthropic"), ("gemini", "gemini"),
                                ("openai-responses", "openai_responses")):
        if os.path.exists(os.path.join(ROOT, "llmsync", "providers", f"{module}.py")):
            found.append(wire_format)
    return found


def scenarios(formats: List[str], sizes: Sizes) -> List[Scenario]:
    """Every reply the server must pre-render: name, format, kind, events."""
    table: List[Scenario] = [("small-openai", "openai", "small", 0)]
    for fmt in formats:
        table.append((f"text-{fmt}", fmt, "text", sizes.events))
        if fmt != "gemini":
            table.append((f"tool-{fmt}", fmt, "tool", sizes.events))
        for n in sizes.memory:
            table.append((f"mem{n}-{fmt}", fmt, "text", n))
    return table


# -- timing --------------------------------------------------------------------------------


CLOCKS = {"wall": time.perf_counter, "cpu": time.process_time}
clock = time.perf_counter


def interleaved(runs: List[contenders.Contender], reps: int, units: int,
                exact: Tuple[str, ...] = ("llmsync",)) -> Dict[str, List[float]]:
    """Units per second of each contender, one sample per repetition.

    Each repetition runs every contender once, alternating the order (forward, then
    backward) so no contender always runs first. ``exact`` contenders must report
    exactly ``units`` items; the others at least ``units`` (they also count framing).
    """
    for _, run in runs:  # warm up connections, pools and caches
        run()
    rates: Dict[str, List[float]] = {name: [] for name, _ in runs}
    for rep in range(reps):
        for name, run in (runs if rep % 2 == 0 else runs[::-1]):
            gc.collect()
            start = clock()
            count = run()
            elapsed = clock() - start
            if count < units or (name in exact and count != units):
                raise AssertionError(f"{name} handled {count} items, expected {units}")
            rates[name].append(units / elapsed)
    return rates


def row(label: str, contender: str, value: str, unit: str, ratio: str = "", target: str = "") -> None:
    print(f"{label:<38} {contender:<26} {value:>12} {unit:<10} {ratio:>8}  {target}", flush=True)


def _ratio(ours: List[float], theirs: List[float]) -> float:
    return statistics.median(a / b for a, b in zip(ours, theirs))


def throughput_rows(label: str, rates: Dict[str, List[float]], unit: str, target: float) -> List[str]:
    """Print one row per contender; return the misses of llmsync's targets.

    The ratio is the median of the per-repetition ratios: a contender is compared with
    the floor run next to it, so a machine that slows down mid-run skews both alike.
    Where sseclient-py ran too, llmsync must also keep ``SSECLIENT_SHARE`` of its rate.
    """
    floor = rates["floor"]
    misses = []
    for name, samples in rates.items():
        ratio = _ratio(samples, floor)
        verdict = ""
        if name == "llmsync":
            verdict = f">= {target:.2f}  {'ok' if ratio >= target else 'MISSED'}"
            if ratio < target:
                misses.append(f"{label}: {ratio:.2f}x floor (target {target:.2f}x)")
            if "sseclient-py" in rates:
                share = _ratio(samples, rates["sseclient-py"])
                verdict += f"; {share:.2f} of sseclient-py >= {SSECLIENT_SHARE:.2f}  " \
                           f"{'ok' if share >= SSECLIENT_SHARE else 'MISSED'}"
                if share < SSECLIENT_SHARE:
                    misses.append(f"{label}: {share:.2f} of sseclient-py alone (target {SSECLIENT_SHARE:.2f})")
        row(label, name, f"{statistics.median(samples):,.0f}", unit, f"{ratio:.2f}", verdict)
    return misses


# -- sections ------------------------------------------------------------------------------


def run_streams(server: BenchServer, formats: List[str], kind: str, sizes: Sizes, sdks: bool) -> List[str]:
    misses = []
    for fmt in formats:
        if kind == "tool" and fmt == "gemini":
            row(f"tool-call stream {fmt}", "-", "n/a", "", "", "Gemini sends whole calls")
            continue
        runs = contenders.stream_contenders(fmt, kind, server.url(f"{kind}-{fmt}"), sdks)
        what = "text" if kind == "text" else "tool-call"
        rates = interleaved(runs, sizes.reps, sizes.events)
        misses += throughput_rows(f"{what} stream {fmt}", rates, "events/s", STREAM_TARGET)
    return misses


def run_steps(server: BenchServer, formats: List[str], sizes: Sizes) -> List[str]:
    """Per-event cost of each step of the path (``steps.py``); informative, no target."""
    for fmt in formats:
        for kind in ("text", "tool"):
            if kind == "tool" and fmt == "gemini":
                continue
            found = steps.per_event_steps(fmt, kind, sizes.events, server.url(f"{kind}-{fmt}"), sizes.reps)
            costs = {step: micros for step, micros, _ in found}
            for step, micros, over in found:
                added = f"{micros - costs[over]:+.2f} us" if over else ""
                row(f"per-event steps, {kind} {fmt}", step, f"{micros:.2f}", "us/event", "", added)
    return []


def run_requests(server: BenchServer, sizes: Sizes, sdks: bool) -> List[str]:
    gang = contenders.ThreadGang(sizes.threads)
    try:
        runs = contenders.request_contenders(server.url("small-openai"), gang, sizes.per_thread, sdks)
        rates = interleaved(runs, sizes.reps, sizes.threads * sizes.per_thread, exact=())
    finally:
        gang.close()
    return throughput_rows(f"small requests, {sizes.threads} threads", rates, "req/s", REQUESTS_TARGET)


def run_imports(sizes: Sizes) -> List[str]:
    """Fresh-interpreter wall times (interleaved), then ``-X importtime`` figures.

    The target is judged on the fastest runs: an interpreter start is the same work each
    time, and other processes can only make it slower.
    """
    times = {label: (median, fastest) for label, median, fastest in probes.import_times(sizes.import_reps)}
    deps = times["the four dependencies"]
    misses = []
    for label, (median, fastest) in times.items():
        verdict = f"fastest {fastest:.1f} ms"
        if "llmsync" in label:
            extra = fastest - deps[1]
            ok = extra <= IMPORT_TARGET_MS
            verdict += f", {extra:+.1f} ms vs deps (<= +{IMPORT_TARGET_MS:.0f})  {'ok' if ok else 'MISSED'}"
            if not ok:
                misses.append(f"{label}: {extra:+.1f} ms over the four dependencies")
        row("import, fresh interpreter (wall)", label, f"{median:.1f}", "ms", "", verdict)
    for name, ms in probes.importtime_report(reps=1 if sizes.import_reps == 1 else 3).items():
        row("import, -X importtime", name, f"{ms:.1f}", "ms")
    slowest = ", ".join(f"{name} {ms:.1f}" for ms, name in probes.importtime_top(5))
    row("import, slowest llmsync modules", "(self ms)", "", "", "", slowest)
    return misses


def _llmsync_reader(fmt: str, base_url: str) -> Tuple[Callable[[], Tuple[int, int]], Callable[[], None]]:
    """Read one stream with llmsync: (events, memory size of ``response.content``); and a closer."""
    import llmsync

    client = contenders.llmsync_client(fmt, base_url)
    model = contenders.MODELS[fmt][0]

    def run() -> Tuple[int, int]:
        with client.stream(model, "Say something.", max_tokens=64) as stream:
            count = sum(1 for event in stream if type(event) is llmsync.TextDelta)
            response = stream.response
        return count, sys.getsizeof((response and response.content) or "")

    return run, client.close


def _memory_growth(fmt: str, server: BenchServer, sizes: Sizes) -> Dict[str, Tuple[float, float]]:
    """Per contender: (peak growth, text growth) in bytes per extra delta, small to large.

    Each contender's first (small) stream is read once untraced first, so lazy imports and
    connection set-up land outside the measurement.
    """
    small, large = sizes.memory
    peaks: Dict[str, Dict[int, Tuple[int, int]]] = {}
    for n in (small, large):
        url = server.url(f"mem{n}-{fmt}")
        floor = contenders.floor_stream(url + contenders.MODELS[fmt][1])
        sse = contenders.sseclient_stream(url + contenders.MODELS[fmt][1])
        reader, close = _llmsync_reader(fmt, url)
        runs = [("floor", lambda: (floor(), 0)), ("sseclient-py", lambda: (sse(), 0)), ("llmsync", reader)]
        for name, run in runs:
            if n == small:
                run()
            events, kept, peak = probes.stream_memory(run)
            peaks.setdefault(name, {})[n] = (kept, peak)
            note = f"text kept: {kept / 1024:,.0f} KiB" if name == "llmsync" else ""
            row(f"peak memory {fmt} {n:,}", name, f"{peak / 1024:,.0f}", "KiB", "", note)
        close()
    return {name: ((p[large][1] - p[small][1]) / (large - small), (p[large][0] - p[small][0]) / (large - small))
            for name, p in peaks.items()}


def run_memory(server: BenchServer, formats: List[str], sizes: Sizes) -> List[str]:
    """Peak traced memory of a short and a long stream; flat means no per-event residue.

    llmsync must keep the reply's text (``Response.content``); beyond that, its growth per
    delta may exceed its SSE decoder's (sseclient-py, or the floor's if larger; both keep
    nothing) by ``MEMORY_SLACK`` times the text's own growth.
    """
    misses = []
    for fmt in formats:
        growth = _memory_growth(fmt, server, sizes)
        reference = max(growth["floor"][0], growth["sseclient-py"][0])
        ours, text = growth["llmsync"]
        allowed = reference + MEMORY_SLACK * text
        ok = ours <= allowed
        for name in ("floor", "sseclient-py"):
            row(f"memory growth {fmt}", name, f"{growth[name][0]:,.1f}", "B/delta")
        row(f"memory growth {fmt}", "llmsync", f"{ours:,.1f}", "B/delta", "",
            f"<= {reference:.1f} + {MEMORY_SLACK} x text {text:.1f} = {allowed:.1f}  {'ok' if ok else 'MISSED'}")
        if not ok:
            misses.append(f"memory {fmt}: {ours:.0f} B per delta, allowed {allowed:.0f} "
                          f"({reference:.0f} + {MEMORY_SLACK} x text {text:.1f})")
    return misses


def run_dispatch(sizes: Sizes) -> List[str]:
    misses: List[str] = []
    for label, per_turn, sequential in (("1 call per turn", 1, False), ("8 calls per turn", 8, False),
                                        ("8 calls, sequential", 8, True)):
        found = probes.tool_dispatch(per_turn, max(sizes.tool_turns // per_turn, 1), sequential)
        if found is None:
            row("tool dispatch", "-", "n/a", "", "", "llmsync.tools not found")
            return misses
        direct, pooled = found
        overhead = pooled - direct
        ok = overhead < DISPATCH_TARGET_US
        row(f"tool dispatch, {label}", "direct call", f"{direct:.1f}", "us/call")
        row(f"tool dispatch, {label}", "ToolExecutor", f"{pooled:.1f}", "us/call", f"{overhead:+.1f}",
            f"overhead < {DISPATCH_TARGET_US:.0f} us  {'ok' if ok else 'MISSED'}")
        if not ok:
            misses.append(f"tool dispatch {label}: {overhead:.0f} us overhead per call")
    return misses


def run_batch(sizes: Sizes, asked: bool) -> List[str]:
    """Batches under a rate limit and the cluster limiter's overhead, from a quick run of
    ``batch_throughput.py`` in its own process (it starts a Dask cluster), when Dask is
    installed. A ``--quick`` run leaves it out unless ``--only batch`` asks for it."""
    if not contenders.sdk_available("distributed"):
        row("batch", "-", "n/a", "", "", "needs the dask extra: pip install -e '.[dask]'")
        return []
    if sizes.quick and not asked:
        row("batch", "-", "skipped", "", "", "with --quick; --only batch runs it")
        return []
    command = [sys.executable, os.path.join(HERE, "batch_throughput.py"), "--quick", "--only", "throughput,limiter"]
    result = subprocess.run(command, capture_output=True, text=True)
    if result.returncode != 0:
        return [f"batch_throughput.py failed: {result.stderr.strip()[-300:]}"]
    lines = result.stdout.splitlines()
    body = lines[lines.index(next(line for line in lines if line.startswith("---"))) + 1:]
    misses = []
    for line in body:
        if line.startswith("  "):  # under "targets missed:"
            misses.append(f"batch: {line.strip()}")
        elif line.strip() and not line.startswith(("targets missed", "every target")):
            # batch_throughput.row: label (38), contender (26), value (12), then unit and target
            label, contender, value, note = line[:38], line[39:65], line[66:78], line[79:]
            row(label.strip(), contender.strip(), value.strip(), "", "", " ".join(note.split()))
    return misses


# -- main ------------------------------------------------------------------------------------


def parse_args(argv: Optional[List[str]] = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="tiny sizes and 2 repetitions (for CI)")
    parser.add_argument("--reps", type=int, help="repetitions per measurement (default 5; 2 with --quick)")
    parser.add_argument("--events", type=int, help="deltas per throughput stream (default 20000)")
    parser.add_argument("--only", default=",".join(SECTIONS),
                        help=f"comma-separated sections to run, of: {', '.join(SECTIONS)}")
    parser.add_argument("--formats", help="comma-separated wire formats (default: every one found)")
    parser.add_argument("--clock", choices=sorted(CLOCKS), default="wall",
                        help="wall: elapsed time (default); cpu: this process's CPU time, "
                             "steadier on a busy machine (the server's work is not counted)")
    parser.add_argument("--no-sdks", action="store_true", help="leave out the official SDKs even if installed")
    return parser.parse_args(argv)


def main(argv: Optional[List[str]] = None) -> int:
    global clock
    args = parse_args(argv)
    clock = CLOCKS[args.clock]
    sizes = Sizes(args.quick, args.reps, args.events)
    only = set(args.only.split(","))
    unknown = only - set(SECTIONS)
    if unknown:
        raise SystemExit(f"unknown section(s) {sorted(unknown)}; sections are {', '.join(SECTIONS)}")
    formats = args.formats.split(",") if args.formats else available_formats()
    unknown = set(formats) - set(contenders.MODELS)
    if unknown:
        raise SystemExit(f"unknown format(s) {sorted(unknown)}; formats are {', '.join(contenders.MODELS)}")
    sdks = not args.no_sdks
    print(f"llmsync benchmarks: python {sys.version.split()[0]}, {os.cpu_count()} CPUs, "
          f"load average {os.getloadavg()[0]:.1f}, {args.clock} clock, {sizes.reps} repetitions (median), "
          f"{sizes.events:,} deltas per stream, formats: {', '.join(formats)}")
    print(HEADER)
    print("-" * len(HEADER))
    misses: List[str] = []
    if only & {"stream", "tool", "steps", "requests", "memory"}:
        with BenchServer(scenarios(formats, sizes)) as server:
            if "stream" in only:
                misses += run_streams(server, formats, "text", sizes, sdks)
            if "tool" in only:
                misses += run_streams(server, formats, "tool", sizes, sdks)
            if "steps" in only:
                misses += run_steps(server, formats, sizes)
            if "requests" in only:
                misses += run_requests(server, sizes, sdks)
            if "memory" in only:
                misses += run_memory(server, formats, sizes)
    if "import" in only:
        misses += run_imports(sizes)
    if "dispatch" in only:
        misses += run_dispatch(sizes)
    if "batch" in only:
        misses += run_batch(sizes, asked=args.only == "batch")
    print()
    print("targets missed:" if misses else "every target reached", *misses, sep="\n  ")
    return 0


if __name__ == "__main__":
    sys.exit(main())
