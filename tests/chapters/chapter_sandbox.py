"""Sandboxes for the tests of chapters 6 to 9 and of deploy/: settings and script runners.

Each test gets its own MODEL_BASE_DIR, RUN_DIR and free ports through the environment
variables every script reads (settings.env's keys), so nothing touches the reader's
trained_models/ or a server they may have running.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO_ROOT = HERE.parents[1]
MODEL_NAME = "MMModel"
# Training steps for test exports: the tests check serving, not the quality of the fit.
TEST_TRAIN_STEPS = 30


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
