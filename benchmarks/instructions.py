"""Instructions per stream event, counted by valgrind: numbers that do not move with the
machine's load.

Wall-clock ratios on a busy 2-core machine swing by a few percent between runs, which is
as much as a change to the per-event path is worth. ``valgrind --tool=cachegrind`` counts
the instructions a process executes; with a fixed hash seed the count is the same on every
run, so two versions of the code can be compared exactly (instructions are not time: C
code such as the JSON scanner runs more of them per nanosecond than the interpreter does).

Each contender runs in a child process under cachegrind, reading a stream already in
memory (``steps.py``'s transport), at two stream lengths; the slope between them, less the
slope of a child that only renders the stream, is the count per event::

    python benchmarks/instructions.py                          # every format, about 4 minutes
    python benchmarks/instructions.py --formats anthropic --kinds tool
"""
import argparse
import os
import re
import shutil
import subprocess
import sys
from typing import List, Optional

HERE = os.path.dirname(os.path.abspath(__file__))
SHORT, LONG = 1000, 5000  # events: the slope between them is the cost of one event
CONTENDERS = ("render only", "sseclient-py + json.loads", "llmsync decode_stream + feed",
              "llmsync client.stream")
ROWS = [("openai", "text"), ("openai", "tool"), ("anthropic", "text"), ("anthropic", "tool"),
        ("gemini", "text"), ("openai-responses", "text"), ("openai-responses", "tool")]


def child(wire_format: str, kind: str, contender: str, events: int) -> None:
    """Run one contender over one rendered stream (in the process valgrind counts)."""
    sys.path[:0] = [os.path.dirname(HERE), HERE]
    import steps

    runs = steps.in_memory_runs(wire_format, kind, events)
    by_name = dict(zip(CONTENDERS, (lambda: None, runs["sse_json"], runs["parse"], runs["stream"])))
    by_name[contender]()


def _count(wire_format: str, kind: str, contender: str, events: int) -> int:
    command = ["valgrind", "--tool=cachegrind", "--cache-sim=no", "--cachegrind-out-file=/dev/null",
               sys.executable, os.path.abspath(__file__), "--child", wire_format, kind, contender, str(events)]
    done = subprocess.run(command, capture_output=True, text=True, env={**os.environ, "PYTHONHASHSEED": "0"},
                          check=False)
    found = re.search(r"I\s+refs:\s+([\d,]+)", done.stderr)
    if done.returncode != 0 or found is None:
        raise RuntimeError(f"valgrind failed for {contender}: {done.stderr[-500:]}")
    return int(found.group(1).replace(",", ""))


def per_event(wire_format: str, kind: str, contender: str) -> float:
    return (_count(wire_format, kind, contender, LONG) - _count(wire_format, kind, contender, SHORT)) / (LONG - SHORT)


def main(argv: Optional[List[str]] = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--formats", help="comma-separated wire formats (default: all)")
    parser.add_argument("--kinds", default="text,tool", help="text, tool or both (default)")
    parser.add_argument("--child", nargs=4, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        wire_format, kind, contender, events = args.child
        child(wire_format, kind, contender, int(events))
        return 0
    if shutil.which("valgrind") is None:
        print("valgrind is not installed (Debian: apt-get install valgrind)")
        return 1
    formats = args.formats.split(",") if args.formats else None
    kinds = args.kinds.split(",")
    print(f"{'stream':<24}" + "".join(f"{name:>30}" for name in CONTENDERS[1:]) + f"{'llmsync / sseclient-py':>26}")
    for wire_format, kind in ROWS:
        if (formats and wire_format not in formats) or kind not in kinds:
            continue
        base = per_event(wire_format, kind, CONTENDERS[0])
        counts = [per_event(wire_format, kind, name) - base for name in CONTENDERS[1:]]
        print(f"{kind + ' ' + wire_format:<24}" + "".join(f"{count:>30,.0f}" for count in counts)
              + f"{counts[-1] / counts[0]:>26.3f}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
