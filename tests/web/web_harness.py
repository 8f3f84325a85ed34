"""Helpers for the browser-page tests: the emulator as a process, and plain REST calls.

Kept apart from ``conftest.py`` so the test modules can import them (``conftest.py`` puts
this folder on ``sys.path``).
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]
WEB_DIR = REPO_ROOT / "web"
MODEL_NAME = "MMModel"
CORS_FLAG = "--rest_api_enable_cors_support=true"
START_TIMEOUT_S = 120  # generous: two CPUs, and TensorFlow loads the model first


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def get_json(url: str) -> tuple[int, dict]:
    try:
        with urllib.request.urlopen(url, timeout=30) as reply:
            return reply.status, json.load(reply)
    except urllib.error.HTTPError as error:
        return error.code, json.load(error)


def post_json(url: str, body: dict) -> dict:
    request = urllib.request.Request(url, data=json.dumps(body).encode(), method="POST")
    with urllib.request.urlopen(request, timeout=60) as reply:
        return json.load(reply)


@dataclass(frozen=True)
class Server:
    """An emulator serving MMModel; ``url`` is its REST base URL."""

    url: str
    log: Path


@contextmanager
def emulator(model_base: Path, flags: list[str], log: Path) -> Iterator[Server]:
    """``python -m tfserving_emulator`` on fresh ports, once MMModel is AVAILABLE."""
    rest_port = free_port()
    command = [sys.executable, "-m", "tfserving_emulator", f"--port={free_port()}"]
    command += [
        f"--rest_api_port={rest_port}",
        f"--model_name={MODEL_NAME}",
        f"--model_base_path={model_base}",
    ]
    environment = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}
    with log.open("w") as log_file:
        process = subprocess.Popen(
            [*command, *flags], cwd=REPO_ROOT, env=environment, stdout=log_file, stderr=subprocess.STDOUT
        )
    server = Server(f"http://127.0.0.1:{rest_port}", log)
    try:
        wait_available(process, server)
        yield server
    finally:
        process.terminate()
        process.wait(timeout=30)


def wait_available(process: subprocess.Popen, server: Server) -> None:
    deadline = time.monotonic() + START_TIMEOUT_S
    while True:
        assert process.poll() is None, server.log.read_text()
        try:
            status, body = get_json(f"{server.url}/v1/models/{MODEL_NAME}")
            if status == 200 and body["model_version_status"][0]["state"] == "AVAILABLE":
                return
        except (OSError, ValueError):
            pass  # not listening yet
        assert time.monotonic() < deadline, server.log.read_text()
        time.sleep(0.2)
