"""Run the tutorial's shell scripts in a sandbox: temporary paths, free ports, fake tools.

Each test gets a ``ScriptSandbox``: settings pointing into its temporary directory, two
free ports, a unique container name, and a ``bin`` directory at the front of PATH holding
the fake tools it asked for (``docker``, ``git``, ``uname``, ``cygpath``; see ``fakes/``).
The fakes record every call, so tests can assert the exact commands the scripts ran.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

from tutorial.wait_available import pid_alive

HERE = Path(__file__).resolve().parent
REPO_ROOT = HERE.parents[1]
FAKES = HERE / "fakes"
SETTINGS_FILE = REPO_ROOT / "settings.env"

# Variables the scripts read besides settings.env's keys; a sandbox starts without them.
EXTRA_VARIABLES = (
    "DOCKER_PLATFORM",
    "DOCKER_GPUS",
    "STARTUP_TIMEOUT",
    "MODEL_CONFIG_POLL_SECONDS",
    "MSYS_NO_PATHCONV",
    "DOCKER_HOST",
    "DOCKER_CONTEXT",
    # Set by scripts/lib.sh for the processes it starts; a test run from such a shell must not inherit them.
    "TUTORIAL_SETTINGS_FROM_ENV",
    "TUTORIAL_CALLER_CWD",
)


def settings_env_defaults() -> dict[str, str]:
    """settings.env as KEY -> VALUE (the file the scripts read)."""
    values = {}
    for line in SETTINGS_FILE.read_text(encoding="utf-8").splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            key, _, value = line.partition("=")
            values[key.strip()] = value.strip()
    return values


def free_ports(count: int) -> list[int]:
    """Distinct ports that are free now (held open together so they differ)."""
    sockets = []
    try:
        for _ in range(count):
            sock = socket.socket()
            sock.bind(("127.0.0.1", 0))
            sockets.append(sock)
        return [sock.getsockname()[1] for sock in sockets]
    finally:
        for sock in sockets:
            sock.close()


def make_placeholder_model(base: Path, name: str, version: str = "1") -> Path:
    """A model folder with the right layout (contents are not a real SavedModel)."""
    version_dir = base / name / version
    (version_dir / "variables").mkdir(parents=True)
    (version_dir / "saved_model.pb").write_bytes(b"placeholder")
    return version_dir


TWO_MODELS = """\
# Two models; paths are where the container sees them.
model_config_list {
  config {
    name: 'MMModel'
    base_path: '/models/MMModel'
    model_platform: 'tensorflow'
  }
  config {
    name: "MMModel_2"
    base_path: "/models/MMModel_2/"
    model_platform: "tensorflow"
  }
}
"""


def write_config(box: ScriptSandbox, text: str = TWO_MODELS, name: str = "models.config") -> Path:
    make_placeholder_model(box.model_base_dir, "MMModel")
    make_placeholder_model(box.model_base_dir, "MMModel_2")
    path = box.model_base_dir / name
    path.write_text(text)
    return path


def stop_pid(pid: int, timeout: float = 10.0) -> None:
    """Stop a process this sandbox started (SIGTERM, then SIGKILL)."""
    if not pid_alive(pid):
        return
    os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout
    while pid_alive(pid) and time.monotonic() < deadline:
        time.sleep(0.05)
    if pid_alive(pid):
        os.kill(pid, signal.SIGKILL)


@dataclass
class ScriptSandbox:
    root: Path
    env: dict[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.bin = self.root / "bin"
        self.bin.mkdir()
        self.docker_log = self.root / "docker_calls.jsonl"
        self.git_log = self.root / "git_calls.jsonl"
        self.docker_state = self.root / "docker_state"
        grpc_port, rest_port = free_ports(2)
        base = dict(os.environ)
        for key in (*settings_env_defaults(), *EXTRA_VARIABLES):
            base.pop(key, None)
        base.update(
            PATH=f"{self.bin}{os.pathsep}{base.get('PATH', '')}",
            MODEL_BASE_DIR=str(self.root / "models"),
            SMOKE_TEST_DIR=str(self.root / "smoke" / "half_plus_two"),
            RUN_DIR=str(self.root / "run"),
            GRPC_PORT=str(grpc_port),
            REST_PORT=str(rest_port),
            TF_SERVING_CONTAINER=f"tfs_test_{uuid.uuid4().hex[:8]}",
            SERVING_BACKEND="docker",
            STARTUP_TIMEOUT="30",
            FAKE_DOCKER_LOG=str(self.docker_log),
            FAKE_DOCKER_STATE=str(self.docker_state),
            FAKE_GIT_LOG=str(self.git_log),
            TF_CPP_MIN_LOG_LEVEL="3",
        )
        base.update(self.env)
        self.env = base

    # -- settings the scripts will use -------------------------------------------------
    @property
    def grpc_port(self) -> int:
        return int(self.env["GRPC_PORT"])

    @property
    def rest_port(self) -> int:
        return int(self.env["REST_PORT"])

    @property
    def model_base_dir(self) -> Path:
        return Path(self.env["MODEL_BASE_DIR"])

    @property
    def container(self) -> str:
        return self.env["TF_SERVING_CONTAINER"]

    # -- fake tools --------------------------------------------------------------------
    def install_fake(self, tool: str) -> None:
        """Put fakes/<tool>.py on PATH as `tool` (a wrapper that runs it with this Python)."""
        wrapper = self.bin / tool
        wrapper.write_text(f'#!/bin/sh\nexec "{sys.executable}" "{FAKES / (tool + ".py")}" "$@"\n')
        wrapper.chmod(0o755)

    def hide_tool(self, tool: str) -> None:
        """Make `tool` unfindable: PATH directories holding it are replaced by copies
        made of symlinks to everything else they contain."""
        new_path = []
        for index, directory in enumerate(self.env["PATH"].split(os.pathsep)):
            folder = Path(directory)
            if not (folder / tool).exists() or folder == self.bin:
                if folder == self.bin:
                    (folder / tool).unlink(missing_ok=True)
                new_path.append(directory)
                continue
            shadow = self.root / f"path_without_{tool}_{index}"
            shadow.mkdir()
            for entry in folder.iterdir():
                if entry.name != tool:
                    (shadow / entry.name).symlink_to(entry)
            new_path.append(str(shadow))
        self.env["PATH"] = os.pathsep.join(new_path)

    def calls(self, log: Path) -> list[list[str]]:
        if not log.exists():
            return []
        return [json.loads(line) for line in log.read_text().splitlines()]

    def docker_calls(self, command: str | None = None) -> list[list[str]]:
        calls = self.calls(self.docker_log)
        return [call for call in calls if command is None or call[1] == command]

    def git_calls(self) -> list[list[str]]:
        return self.calls(self.git_log)

    # -- running -----------------------------------------------------------------------
    def run(
        self, *argv: str, cwd: Path | None = None, env: dict[str, str] | None = None, timeout: float = 180
    ) -> subprocess.CompletedProcess:
        """Run a repository script (or `bash -c`) and capture its output."""
        command = list(argv)
        if command[0].endswith(".sh"):
            command[0] = str(REPO_ROOT / command[0])
        return subprocess.run(
            command,
            cwd=cwd or REPO_ROOT,
            env={**self.env, **(env or {})},
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )

    def lib(self, snippet: str, **kwargs) -> subprocess.CompletedProcess:
        """Run bash code with scripts/lib.sh sourced, under the scripts' shell options."""
        code = f'set -euo pipefail\nsource "{REPO_ROOT}/scripts/lib.sh"\n{snippet}'
        return self.run("bash", "-c", code, **kwargs)

    def cleanup(self) -> None:
        """Stop everything a test left running: fake containers and emulator processes."""
        if self.docker_state.is_dir():
            for state in self.docker_state.glob("*.json"):
                pid = json.loads(state.read_text())["pid"]
                if pid:
                    stop_pid(pid)
        run_dir = self.env.get("RUN_DIR")
        pid_file = Path(run_dir or self.root / "no-run-dir") / "server.pid"
        if pid_file.exists() and pid_file.read_text().strip().isdigit():
            stop_pid(int(pid_file.read_text()))


def error_lines(stderr: str) -> list[str]:
    return [line for line in stderr.splitlines() if line.startswith("error:")]
