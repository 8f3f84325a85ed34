"""Steps 2, 4 and 5 answer --help and flag mistakes at once: before TensorFlow or gRPC is imported.

``python -X importtime`` lists every module a run imports, so the tests see exactly what
loaded; no clock is involved.
"""

from __future__ import annotations

import re
import subprocess
import sys

import pytest

from tutorial.settings import REPO_ROOT

SCRIPTS = ["02_train_and_export.py", "04_grpc_client.py", "05_rest_client.py"]
HEAVY = re.compile(r"\|\s+(tensorflow|grpc|keras|tensorflow_serving|requests)(\.|$)", re.M)


def run_with_importtime(script: str, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-X", "importtime", str(REPO_ROOT / script), *args],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def heavy_imports(importtime_log: str) -> list[str]:
    return sorted({match[1] for match in HEAVY.finditer(importtime_log)})


def test_the_pattern_sees_a_tensorflow_import():
    # The check below is only worth something if it recognises the lines it looks for.
    log = "import time:       120 |     4000123 | tensorflow\nimport time: 5 | 7 |   grpc._channel\n"
    assert heavy_imports(log) == ["grpc", "tensorflow"]


@pytest.mark.parametrize("script", SCRIPTS)
def test_help_is_printed_before_tensorflow_loads(script):
    result = run_with_importtime(script, "--help")
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith(f"usage: {script} [-h]")
    assert "settings (settings.env" not in result.stdout
    assert heavy_imports(result.stderr) == []


@pytest.mark.parametrize(
    ("script", "args", "message"),
    [
        ("02_train_and_export.py", ["--steps", "0"], "error: --steps must be at least 1"),
        ("04_grpc_client.py", ["--timeout", "0"], "error: --timeout must be positive"),
        ("05_rest_client.py", ["--timeout", "-1"], "error: --timeout must be positive"),
        ("05_rest_client.py", ["--port", "http"], "error: argument --port: invalid int value: 'http'"),
    ],
)
def test_flag_mistakes_answer_before_tensorflow_loads(script, args, message):
    result = run_with_importtime(script, *args)
    assert result.returncode == 2
    assert result.stdout == ""
    lines = [line for line in result.stderr.splitlines() if not line.startswith("import time:")]
    assert lines[0].startswith(f"usage: {script} [-h]")
    assert lines[-1] == f"{script}: {message}"
    assert heavy_imports(result.stderr) == []
