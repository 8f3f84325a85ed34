"""The servers the doc snippets call: the emulator on fresh ports, serving what a page's blocks use."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
import requests

# doc_snippets.py sits beside this file; the tests and the fixtures below share it.
sys.path.insert(0, str(Path(__file__).resolve().parent))
from doc_snippets import snippets_of

REPO_ROOT = Path(__file__).resolve().parents[2]
MODEL_NAME = "MMModel"
START_TIMEOUT_S = 120  # generous: two CPUs, and TensorFlow loads the model first


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def run_checked(command: list[str], cwd: Path, environment: dict[str, str]) -> None:
    done = subprocess.run(command, cwd=cwd, env=environment, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stdout + done.stderr


@contextmanager
def emulator(flags: list[str], models: list[str], log_path: Path, environment: dict[str, str]):
    """The emulator with ``flags`` on fresh ports, once every model in ``models`` is AVAILABLE."""
    ports = {"GRPC_PORT": free_port(), "REST_PORT": free_port()}
    command = [sys.executable, "-m", "tfserving_emulator", f"--port={ports['GRPC_PORT']}"]
    command += [f"--rest_api_port={ports['REST_PORT']}", *flags]
    with log_path.open("w") as log:
        server = subprocess.Popen(
            command, cwd=REPO_ROOT, env=environment, stdout=log, stderr=subprocess.STDOUT
        )
        try:
            deadline = time.monotonic() + START_TIMEOUT_S
            waiting = list(models)
            while waiting:
                assert server.poll() is None, log_path.read_text()
                url = f"http://127.0.0.1:{ports['REST_PORT']}/v1/models/{waiting[0]}"
                try:
                    states = [v["state"] for v in requests.get(url, timeout=2).json()["model_version_status"]]
                    if "AVAILABLE" in states:
                        waiting.pop(0)
                        continue
                except (requests.RequestException, KeyError, ValueError):
                    pass
                assert time.monotonic() < deadline, log_path.read_text()
                time.sleep(0.2)
            yield ports
        finally:
            server.terminate()
            server.wait(timeout=30)


@pytest.fixture(scope="session")
def serving(tmp_path_factory) -> Iterator[dict[str, int]]:
    """{"GRPC_PORT": ..., "REST_PORT": ...} of an emulator serving MMModel version 1."""
    base_dir = tmp_path_factory.mktemp("trained_models")
    environment = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3", "MODEL_BASE_DIR": str(base_dir)}
    script = [sys.executable, "02_train_and_export.py", "--plot", str(base_dir / "fit.png")]
    run_checked(script, REPO_ROOT, environment)
    flags = [f"--model_name={MODEL_NAME}", f"--model_base_path={base_dir / MODEL_NAME}"]
    with emulator(flags, [MODEL_NAME], base_dir / "server.log", environment) as ports:
        yield ports


@pytest.fixture(scope="session")
def keras_exports_server(tmp_path_factory) -> Iterator[dict[str, int]]:
    """The four exports of docs/keras_export.md, written by the page's first block, all served."""
    folder = tmp_path_factory.mktemp("keras_exports_page")
    writer = snippets_of(REPO_ROOT / "docs" / "keras_export.md")[0]
    (folder / "export.py").write_text(writer.code, encoding="utf-8")
    environment = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}
    run_checked([sys.executable, "export.py"], folder, environment)
    names = ["model_export", "export_archive", "saved_model_save", "module_with_layers"]
    config = folder / "models.config"
    entries = "".join(
        f"  config {{ name: '{name}' base_path: '{folder / 'keras_exports' / name}' model_platform: 'tensorflow' }}\n"
        for name in names
    )
    config.write_text("model_config_list {\n" + entries + "}\n", encoding="utf-8")
    with emulator([f"--model_config_file={config}"], names, folder / "server.log", environment) as ports:
        yield ports
