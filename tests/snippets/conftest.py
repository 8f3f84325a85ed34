"""The server the doc snippets call: the emulator serving step 2's export on fresh ports."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

REPO_ROOT = Path(__file__).resolve().parents[2]
MODEL_NAME = "MMModel"
START_TIMEOUT_S = 120  # generous: two CPUs, and TensorFlow loads the model first


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(scope="session")
def serving(tmp_path_factory) -> Iterator[dict[str, int]]:
    """{"GRPC_PORT": ..., "REST_PORT": ...} of an emulator serving MMModel version 1."""
    base_dir = tmp_path_factory.mktemp("trained_models")
    environment = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3", "MODEL_BASE_DIR": str(base_dir)}
    trained = subprocess.run(
        [sys.executable, "02_train_and_export.py", "--plot", str(base_dir / "fit.png")],
        cwd=REPO_ROOT,
        env=environment,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert trained.returncode == 0, trained.stdout + trained.stderr
    ports = {"GRPC_PORT": free_port(), "REST_PORT": free_port()}
    log = (base_dir / "server.log").open("w")
    server = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "tfserving_emulator",
            f"--port={ports['GRPC_PORT']}",
            f"--rest_api_port={ports['REST_PORT']}",
            f"--model_name={MODEL_NAME}",
            f"--model_base_path={base_dir / MODEL_NAME}",
        ],
        cwd=REPO_ROOT,
        env=environment,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    try:
        url = f"http://127.0.0.1:{ports['REST_PORT']}/v1/models/{MODEL_NAME}"
        deadline = time.monotonic() + START_TIMEOUT_S
        while True:
            assert server.poll() is None, (base_dir / "server.log").read_text()
            try:
                states = [v["state"] for v in requests.get(url, timeout=2).json()["model_version_status"]]
                if "AVAILABLE" in states:
                    break
            except (requests.RequestException, KeyError, ValueError):
                pass
            assert time.monotonic() < deadline, (base_dir / "server.log").read_text()
            time.sleep(0.2)
        yield ports
    finally:
        server.terminate()
        server.wait(timeout=30)
        log.close()
