"""Fixtures for the tests of chapters 6 to 9 and of deploy/: sandboxes, exports, servers.

Each test gets its own MODEL_BASE_DIR, RUN_DIR and free ports through the environment
variables every script reads (settings.env's keys), so nothing touches the reader's
trained_models/ or a server they may have running.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent
REPO_ROOT = HERE.parents[1]
MODEL_NAME = "MMModel"
# Training steps for test exports: the tests check serving, not the quality of the fit.
TEST_TRAIN_STEPS = 30

for path in (REPO_ROOT, HERE):
    if str(path) not in sys.path:
        sys.path.insert(0, str(path))


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@dataclass
class Sandbox:
    """Settings pointing into tmp_path, and runners for the scripts with them."""

    root: Path
    env: dict[str, str] = field(default_factory=dict)

    @property
    def base_dir(self) -> Path:
        return Path(self.env["MODEL_BASE_DIR"])

    def run_python(
        self, script: str, *args: str, timeout: float = 600, cwd: Path = REPO_ROOT
    ) -> subprocess.CompletedProcess:
        return self._run([sys.executable, str(REPO_ROOT / script), *args], timeout, cwd)

    def server(self, *args: str, timeout: float = 300, cwd: Path = REPO_ROOT) -> subprocess.CompletedProcess:
        return self._run(["bash", str(REPO_ROOT / "03_start_server.sh"), *args], timeout, cwd)

    def _run(self, command: list[str], timeout: float, cwd: Path) -> subprocess.CompletedProcess:
        return subprocess.run(
            command, cwd=cwd, env=self.env, capture_output=True, text=True, timeout=timeout, check=False
        )


def make_sandbox(root: Path, backend: str) -> Sandbox:
    env = {
        **os.environ,
        "TF_CPP_MIN_LOG_LEVEL": "3",
        "MODEL_NAME": MODEL_NAME,
        "MODEL_BASE_DIR": str(root / "trained_models"),
        "RUN_DIR": str(root / "run"),
        "GRPC_PORT": str(free_port()),
        "REST_PORT": str(free_port()),
        "SERVING_BACKEND": backend,
        "TF_SERVING_CONTAINER": f"tfserving_test_{root.name}",
        "STARTUP_TIMEOUT": "120",
    }
    return Sandbox(root, env)


@pytest.fixture(scope="session")
def model_template(tmp_path_factory) -> Path:
    """MODEL_BASE_DIR with MMModel/1, exported once by 02_train_and_export.py; copy it, don't serve it."""
    base_dir = tmp_path_factory.mktemp("template") / "trained_models"
    result = subprocess.run(
        [
            sys.executable,
            str(REPO_ROOT / "02_train_and_export.py"),
            "--steps",
            str(TEST_TRAIN_STEPS),
            "--model-dir",
            str(base_dir / MODEL_NAME),
            "--plot",
            str(base_dir.parent / "fit.png"),
        ],
        cwd=REPO_ROOT,
        env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"},
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert (base_dir / MODEL_NAME / "1" / "saved_model.pb").is_file()
    return base_dir


@pytest.fixture
def emulator_sandbox(tmp_path: Path, model_template: Path) -> Iterator[Sandbox]:
    """A sandbox for the emulator backend holding MMModel/1; any server it starts is stopped."""
    box = make_sandbox(tmp_path, "emulator")
    shutil.copytree(model_template, box.base_dir)
    try:
        yield box
    finally:
        box.server("stop")
