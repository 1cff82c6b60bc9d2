"""The benchmark suite runs end to end in its quick mode (no timing is asserted)."""
import os
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
RUN = os.path.join(ROOT, "benchmarks", "run.py")


def _run_quick(*extra):
    return subprocess.run([sys.executable, RUN, "--quick", "--no-sdks", *extra], cwd=ROOT,
                          capture_output=True, text=True, timeout=120)


def test_quick_run_exits_zero_and_prints_the_table():
    result = _run_quick()
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    header = next(line for line in lines if line.startswith("benchmark"))
    for column in ("contender", "median", "unit", "x floor", "target"):
        assert column in header
    for section in ("text stream openai", "tool-call stream openai", "small requests, 16 threads",
                    "import, fresh interpreter", "memory growth openai", "tool dispatch"):
        assert any(line.startswith(section) for line in lines), section
    assert "floor" in result.stdout and "llmsync" in result.stdout


def test_unknown_section_is_refused_with_the_list_of_sections():
    result = _run_quick("--only", "nonsense")
    assert result.returncode != 0
    assert "stream, tool, requests" in result.stderr


def test_each_instruction_count_contender_runs():
    """What ``benchmarks/instructions.py`` runs under valgrind runs without it too."""
    script = os.path.join(ROOT, "benchmarks", "instructions.py")
    for contender in ("render only", "sseclient-py + json.loads", "llmsync decode_stream + feed",
                      "llmsync client.stream"):
        result = subprocess.run([sys.executable, script, "--child", "anthropic", "tool", contender, "50"],
                                cwd=ROOT, capture_output=True, text=True, timeout=60)
        assert result.returncode == 0, result.stderr
