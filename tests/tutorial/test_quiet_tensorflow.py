"""tutorial.quiet_tensorflow drops exactly TensorFlow's "no GPU" import notes from stderr."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from tutorial.settings import REPO_ROOT

IMPORT_QUIETLY = (
    "from tutorial.quiet_tensorflow import import_tensorflow_quietly; import_tensorflow_quietly()"
)

FAKE_TENSORFLOW = """
import os
os.write(2, b"WARNING: All log messages before absl::InitializeLog() is called are written to STDERR\\n")
os.write(2, b"I0000 00:00:1.0  42 cudart_stub.cc:31] Could not find cuda drivers on your machine, GPU will not be used.\\n")
os.write(2, b"E0000 a real error from the C++ side\\n")
import sys
print("a Python warning", file=sys.stderr)
"""


def run(code: str, extra_path: Path | None = None) -> subprocess.CompletedProcess[str]:
    path = [str(extra_path)] if extra_path else []
    env_path = ":".join([*path, str(REPO_ROOT)])
    return subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        cwd=REPO_ROOT,
        env={"PYTHONPATH": env_path, "PATH": "/usr/bin:/bin"},
        check=False,
    )


def test_real_tensorflow_imports_without_a_word_on_stderr():
    result = run(IMPORT_QUIETLY + "; import tensorflow as tf; print(tf.__version__.split('.')[0])")
    assert (result.returncode, result.stdout, result.stderr) == (0, "2\n", "")


def test_other_lines_written_during_the_import_pass_through(tmp_path: Path):
    (tmp_path / "tensorflow.py").write_text(FAKE_TENSORFLOW)
    result = run(IMPORT_QUIETLY + "; print('after')", extra_path=tmp_path)
    assert result.returncode == 0
    assert result.stdout == "after\n"
    assert result.stderr == "E0000 a real error from the C++ side\na Python warning\n"


def test_an_import_error_still_shows_its_message(tmp_path: Path):
    (tmp_path / "tensorflow.py").write_text(
        "import os\nos.write(2, b'note\\n')\nraise ImportError('broken wheel')\n"
    )
    result = run(IMPORT_QUIETLY, extra_path=tmp_path)
    assert result.returncode == 1
    assert result.stderr.startswith("note\nTraceback")
    assert result.stderr.endswith("ImportError: broken wheel\n")
