"""Each chapter script answers --help at once: usage first, before TensorFlow or gRPC is imported."""

from __future__ import annotations

import subprocess
import sys

import pytest
from chapter_sandbox import REPO_ROOT

CHAPTERS = {
    "06_hot_swap.py": "Export a new version while requests keep coming",
    "07_labels.py": "Version labels on TF Serving",
    "08_several_models.py": "Several models on one TF Serving",
    "09_benchmark.py": "Compare gRPC and REST latency and throughput",
}
HEAVY_MODULES = ("tensorflow", "grpc", "tensorflow_serving", "numpy", "requests")

# Runs the script as __main__ with --help and then reports which heavy modules got imported.
PROBE = """
import runpy, sys
sys.argv = [sys.argv[1], "--help"]
try:
    runpy.run_path(sys.argv[0], run_name="__main__")
except SystemExit as exit:
    code = exit.code
print("imported:", sorted(m for m in {heavy!r} if m in sys.modules))
print("exit:", code)
"""


@pytest.mark.parametrize("script", sorted(CHAPTERS))
def test_help_prints_usage_before_any_heavy_import(script):
    result = subprocess.run(
        [sys.executable, "-c", PROBE.format(heavy=HEAVY_MODULES), str(REPO_ROOT / script)],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0].startswith(f"usage: {script} [-h]")
    assert CHAPTERS[script] in result.stdout
    assert "settings (settings.env" not in result.stdout  # no settings banner before the usage
    assert lines[-2:] == ["imported: []", "exit: 0"]
    assert result.stderr == ""


@pytest.mark.parametrize("script", sorted(CHAPTERS))
def test_a_mistyped_option_is_refused_with_usage(script):
    result = subprocess.run(
        [sys.executable, str(REPO_ROOT / script), "--no-such-option"],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 2
    assert result.stdout == ""
    assert result.stderr.startswith(f"usage: {script} [-h]")
    assert result.stderr.splitlines()[-1] == f"{script}: error: unrecognized arguments: --no-such-option"
