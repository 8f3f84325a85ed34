"""Fixtures for the tests of steps 2, 4 and 5: one trained export per session, script runners."""

from __future__ import annotations

import importlib.util
import os
import socket
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType

import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]
MODEL_NAME = "MMModel"

# The numbered scripts import `tutorial` from the repository root, and so do these tests.
if str(REPO_ROOT) not in sys.path:
    sys.path.insert(0, str(REPO_ROOT))


def load_script(filename: str) -> ModuleType:
    """Import a numbered script (``02_train_and_export.py`` is not an importable module name)."""
    module_name = "script_" + filename.removesuffix(".py").replace("-", "_")
    spec = importlib.util.spec_from_file_location(module_name, REPO_ROOT / filename)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def run_script(filename: str, *args: str, env: dict[str, str] | None = None, timeout: float = 300):
    """Run a numbered script with the tutorial's Python, from the repository root."""
    environment = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3", **(env or {})}
    return subprocess.run(
        [sys.executable, str(REPO_ROOT / filename), *args],
        cwd=REPO_ROOT,
        env=environment,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@dataclass(frozen=True)
class Export:
    """The result of one ``02_train_and_export.py`` run into a temporary MODEL_BASE_DIR."""

    base_dir: Path  # MODEL_BASE_DIR
    model_dir: Path  # MODEL_BASE_DIR/MMModel
    version_dir: Path  # MODEL_BASE_DIR/MMModel/1
    plot: Path
    stdout: str
    stderr: str


@pytest.fixture(scope="session")
def script_runner():
    """``script_runner("04_grpc_client.py", "--version", "1", env={...})`` -> CompletedProcess."""
    return run_script


@pytest.fixture(scope="session")
def train_module() -> ModuleType:
    return load_script("02_train_and_export.py")


@pytest.fixture(scope="session")
def exported(tmp_path_factory) -> Export:
    """``python 02_train_and_export.py`` with the defaults (seed 1, 1000 steps), run once."""
    base_dir = tmp_path_factory.mktemp("trained_models")
    plot = tmp_path_factory.mktemp("results") / "fit_v1.png"
    result = run_script(
        "02_train_and_export.py",
        "--plot",
        str(plot),
        env={"MODEL_BASE_DIR": str(base_dir), "MODEL_NAME": MODEL_NAME},
    )
    assert result.returncode == 0, result.stdout + result.stderr
    model_dir = base_dir / MODEL_NAME
    return Export(base_dir, model_dir, model_dir / "1", plot, result.stdout, result.stderr)
