"""Run the emulator as a child process on free ports: for tests, benchmarks and scripts.

    with EmulatorProcess(["--model_name=half_plus_two", f"--model_base_path={path}"]) as server:
        requests.post(f"{server.rest_url}/v1/models/half_plus_two:predict", json=...)

It waits for the same start-up lines a user waits for (``Running gRPC ModelServer``,
``Exporting HTTP/REST API``), so a server that fails to start raises at once with its log.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

PACKAGE_ROOT = Path(__file__).resolve().parent.parent
GRPC_READY = "Running gRPC ModelServer at"
REST_READY = "Exporting HTTP/REST API at:"


class EmulatorStartError(RuntimeError):
    """The server exited or did not become ready; the message holds its log."""


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _has_flag(flags: Sequence[str], name: str) -> bool:
    return any(f == f"--{name}" or f.startswith(f"--{name}=") for f in flags)


class EmulatorProcess:
    def __init__(
        self,
        flags: Sequence[str],
        *,
        rest: bool = True,
        startup_timeout: float = 120.0,
        env: dict[str, str] | None = None,
        python: str = sys.executable,
        wait_ready: bool = True,
    ):
        self.flags = list(flags)
        self.grpc_port = free_port() if not _has_flag(flags, "port") else _flag_int(flags, "port")
        if _has_flag(flags, "rest_api_port"):
            self.rest_port = _flag_int(flags, "rest_api_port")
        else:
            self.rest_port = free_port() if rest else 0
        self.startup_timeout = startup_timeout
        self.wait_ready = wait_ready
        self.python = python
        self.env = dict(os.environ if env is None else env)
        self.env.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
        self.env["PYTHONPATH"] = os.pathsep.join(
            filter(None, [str(PACKAGE_ROOT), self.env.get("PYTHONPATH")])
        )
        self.process: subprocess.Popen | None = None
        # The log outlives start(): the child writes to it until stop(), __exit__ removes it.
        self._log = tempfile.NamedTemporaryFile(prefix="tfserving-emulator-", suffix=".log", delete=False)  # noqa: SIM115

    @property
    def grpc_target(self) -> str:
        return f"127.0.0.1:{self.grpc_port}"

    @property
    def rest_url(self) -> str:
        return f"http://127.0.0.1:{self.rest_port}"

    @property
    def command(self) -> list[str]:
        cmd = [self.python, "-m", "tfserving_emulator", *self.flags]
        if not _has_flag(self.flags, "port"):
            cmd.append(f"--port={self.grpc_port}")
        if not _has_flag(self.flags, "rest_api_port") and self.rest_port:
            cmd.append(f"--rest_api_port={self.rest_port}")
        return cmd

    def log_text(self) -> str:
        return Path(self._log.name).read_text(encoding="utf-8", errors="replace")

    def start(self) -> EmulatorProcess:
        self.process = subprocess.Popen(
            self.command, stdout=self._log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, env=self.env
        )
        if self.wait_ready:
            self.wait_until_ready()
        return self

    def wait_until_ready(self) -> None:
        deadline = time.monotonic() + self.startup_timeout
        while time.monotonic() < deadline:
            log = self.log_text()
            if self.process.poll() is not None:
                raise EmulatorStartError(f"emulator exited with code {self.process.returncode}:\n{log}")
            if GRPC_READY in log and (not self.rest_port or REST_READY in log):
                return
            time.sleep(0.05)
        self.stop()
        raise EmulatorStartError(f"emulator not ready after {self.startup_timeout} s:\n{self.log_text()}")

    def stop(self, timeout: float = 10.0) -> int | None:
        if self.process is None or self.process.poll() is not None:
            return None if self.process is None else self.process.returncode
        self.process.send_signal(signal.SIGTERM)
        try:
            return self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()
            return self.process.wait()

    def __enter__(self) -> EmulatorProcess:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()
        self._log.close()
        os.unlink(self._log.name)


def _flag_int(flags: Sequence[str], name: str) -> int:
    for flag in flags:
        if flag.startswith(f"--{name}="):
            return int(flag.split("=", 1)[1])
    raise ValueError(name)
