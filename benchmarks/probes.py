"""Measurements that are not throughput: import time, memory on long streams, tool dispatch."""
import gc
import json
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
import tracemalloc
from typing import Callable, Dict, List, Optional, Tuple

__all__ = ["import_times", "importtime_report", "importtime_top", "stream_memory", "tool_dispatch"]

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DEPENDENCY_NAMES = ("requests", "sseclient", "dataclasses_json", "backoff")
DEPENDENCIES = "import " + ", ".join(DEPENDENCY_NAMES)

# What a fresh interpreter is asked to import, by row label.
IMPORT_SNIPPETS = [
    ("python (nothing)", "pass"),
    ("the four dependencies", DEPENDENCIES),
    ("import llmsync", "import llmsync"),
    ("llmsync.Client (first use)", "import llmsync; llmsync.Client"),
]


def _child_env() -> Dict[str, str]:
    """The environment of a child interpreter: this checkout first on the path.

    Bytecode is cached (under a temporary prefix, never in the checkout) even when the
    caller sets ``PYTHONDONTWRITEBYTECODE``: an installed package has its ``.pyc``
    files, and compiling sources on every start would dwarf what is measured.
    """
    env = dict(os.environ)
    env["PYTHONPATH"] = ROOT + os.pathsep + env.get("PYTHONPATH", "")
    env["PYTHONPYCACHEPREFIX"] = os.path.join(tempfile.gettempdir(), "llmsync-bench-pycache")
    for name in ("PYTHONDONTWRITEBYTECODE", "PYTHONDEVMODE", "PYTHONPROFILEIMPORTTIME"):
        env.pop(name, None)
    return env


def _warm_bytecode_cache() -> None:
    snippet = "; ".join(code for _, code in IMPORT_SNIPPETS)
    subprocess.run([sys.executable, "-c", snippet], check=True, env=_child_env())


def import_times(reps: int) -> List[Tuple[str, float, float]]:
    """(label, median ms, fastest ms) of a fresh ``python -c <snippet>``, runs interleaved.

    Starting an interpreter is the same work every time, so on a busy machine the
    fastest run is the one least disturbed by other processes.
    """
    env = _child_env()
    _warm_bytecode_cache()
    samples: Dict[str, List[float]] = {label: [] for label, _ in IMPORT_SNIPPETS}
    for _ in range(reps):
        for label, snippet in IMPORT_SNIPPETS:
            start = time.perf_counter()
            subprocess.run([sys.executable, "-c", snippet], check=True, env=env)
            samples[label].append((time.perf_counter() - start) * 1000)
    return [(label, statistics.median(samples[label]), min(samples[label])) for label, _ in IMPORT_SNIPPETS]


_IMPORTTIME = re.compile(r"import time:\s+(\d+)\s+\|\s+(\d+)\s+\|(\s*)(\S+)")


def _importtime(snippet: str) -> List[Tuple[int, int, int, str]]:
    """(self us, cumulative us, depth, module) per line of ``python -X importtime``."""
    result = subprocess.run([sys.executable, "-X", "importtime", "-c", snippet],
                            check=True, env=_child_env(), capture_output=True, text=True)
    rows = []
    for line in result.stderr.splitlines():
        match = _IMPORTTIME.match(line)
        if match:
            depth = (len(match.group(3)) - 1) // 2
            rows.append((int(match.group(1)), int(match.group(2)), depth, match.group(4)))
    return rows


def importtime_report(reps: int) -> Dict[str, float]:
    """Median ``-X importtime`` figures, in ms.

    ``import llmsync``: the cumulative time of the ``llmsync`` line of
    ``python -X importtime -c "import llmsync"``. ``deps``: the four dependencies'
    cumulative times. ``llmsync.Client beyond deps``: the self time of every module
    imported after the dependencies when a program that already imported them makes
    its first ``llmsync.Client`` (what llmsync itself costs).
    """
    found: Dict[str, List[float]] = {}
    for _ in range(reps):
        for _, cumulative, depth, name in _importtime("import llmsync"):
            if name == "llmsync" and depth == 0:
                found.setdefault("import llmsync", []).append(cumulative / 1000)
        rows = _importtime(DEPENDENCIES + "; import llmsync; llmsync.Client")
        last_dep = max(i for i, row in enumerate(rows) if row[3] == "backoff" and row[2] == 0)
        deps = sum(row[1] for row in rows[:last_dep + 1] if row[2] == 0 and row[3] in DEPENDENCY_NAMES)
        found.setdefault("the four dependencies", []).append(deps / 1000)
        own = sum(row[0] for row in rows[last_dep + 1:])
        found.setdefault("llmsync.Client beyond deps", []).append(own / 1000)
    return {name: statistics.median(values) for name, values in found.items()}


def importtime_top(limit: int = 8) -> List[Tuple[float, str]]:
    """llmsync's slowest modules (self ms) on a first ``llmsync.Client`` after the deps."""
    rows = _importtime(DEPENDENCIES + "; import llmsync; llmsync.Client")
    last_dep = max(i for i, row in enumerate(rows) if row[3] == "backoff" and row[2] == 0)
    return sorted(((row[0] / 1000, row[3]) for row in rows[last_dep + 1:]), reverse=True)[:limit]


def stream_memory(run: Callable[[], Tuple[int, int]]) -> Tuple[int, int, int]:
    """(events, bytes of text kept, tracemalloc peak in bytes above the start) of one run.

    ``run`` reads one stream and returns (events, length of the text it was given).
    """
    gc.collect()
    tracemalloc.start()
    try:
        base = tracemalloc.get_traced_memory()[0]
        tracemalloc.reset_peak()
        events, kept = run()
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    return events, kept, peak - base


def tool_dispatch(calls_per_turn: int, turns: int, sequential: bool) -> Optional[Tuple[float, float]]:
    """(direct µs per call, ToolExecutor µs per call), or None without ``llmsync.tools``.

    Direct: decode the JSON arguments and call the function. ToolExecutor: ``run`` one
    turn of ``calls_per_turn`` calls, which also builds the tool-response messages.
    """
    try:
        from llmsync import ParallelToolConfig, ToolCall, ToolExecutor, tool
    except (ImportError, AttributeError):
        return None

    def add(a: int, b: int) -> int:
        """Add two integers."""
        return a + b

    calls = [ToolCall(f"call_{i}", "add", json.dumps({"a": i, "b": 2})) for i in range(calls_per_turn)]
    config = ParallelToolConfig.sequential_only() if sequential else ParallelToolConfig()
    executor = ToolExecutor([tool(add)], config=config)
    try:
        executor.run(calls)  # warm the pool
        start = time.perf_counter()
        for _ in range(turns):
            results = executor.run(calls)
        pooled = time.perf_counter() - start
        if results[-1].text != str(calls_per_turn - 1 + 2):
            raise AssertionError(f"ToolExecutor returned {results[-1].text!r}")
    finally:
        executor.close()
    loads = json.loads
    start = time.perf_counter()
    for _ in range(turns):
        for call in calls:
            str(add(**loads(call.arguments)))
    direct = time.perf_counter() - start
    total_calls = turns * calls_per_turn
    return direct / total_calls * 1e6, pooled / total_calls * 1e6
