"""Running chapters 6 to 8 in a sandbox, and what their output and the server must show after."""

from __future__ import annotations

import re
import shutil
import time
from pathlib import Path

import fake_docker
import requests
from chapter_sandbox import REPO_ROOT, TEST_TRAIN_STEPS, Sandbox, make_sandbox
from google.protobuf import text_format
from tensorflow_serving.config import model_server_config_pb2

HOT_SWAP, LABELS, SEVERAL_MODELS = "06_hot_swap.py", "07_labels.py", "08_several_models.py"
# The config file is re-read every second, so a gRPC reload that models.config does not
# also hold would be undone within the run.
POLL_SECONDS = "1"
# Which version each label request must reach: canary, then promote, then rollback.
LABEL_ANSWERS = [("stable", 1), ("canary", 2), ("stable", 2), ("canary", 2), ("stable", 1), ("canary", 2)]
THREE_MODELS = ("MMModel", "MMModel_2", "MMModel_3")


def make_docker_sandbox(tmp_path: Path, model_template: Path) -> tuple[Sandbox, Path]:
    """SERVING_BACKEND=docker with a fake ``docker`` first on PATH; returns it and the fake's state folder."""
    box = make_sandbox(tmp_path, "docker")
    shutil.copytree(model_template, box.base_dir)
    docker_state = tmp_path / "docker"
    fake_docker.install(tmp_path / "bin", docker_state)
    box.env["PATH"] = f"{tmp_path / 'bin'}:{box.env['PATH']}"
    box.env["FAKE_DOCKER_DIR"] = str(docker_state)
    return box, docker_state


def run_chapter(box: Sandbox, script: str, *args: str, cwd: Path = REPO_ROOT):
    options = ["--train-steps", str(TEST_TRAIN_STEPS), "--plot-dir", str(box.root / "plots")]
    return box.run_python(script, *options, *args, cwd=cwd)


def run_chapters_6_to_8(box: Sandbox) -> str:
    """06, 07 and 08 one after the other, as a reader runs them; their stdout, joined."""
    outputs = []
    for script in (HOT_SWAP, LABELS, SEVERAL_MODELS):
        result = run_chapter(box, script)
        assert result.returncode == 0, (script, result.stdout + result.stderr)
        outputs.append(result.stdout)
    return "\n".join(outputs)


def check_hot_swap_output(output: str) -> None:
    """Chapter 6 from MMModel version 1: the swap, watched through the status, with zero failed requests."""
    assert "MMModel: 2 AVAILABLE, 1 END" in output
    sent, failed = map(
        int, re.search(r"Requests sent during the swap: (\d+), failed: (\d+)", output).groups()
    )
    assert sent > 0
    assert failed == 0
    by_version = dict(
        re.findall(r"version (\d+): (\d+)", re.search(r"gRPC answers by version: (.*)", output)[1])
    )
    assert set(by_version) == {"1", "2"}, output  # both versions answered: the swap happened under load
    assert "Zero failed requests" in output
    assert "gRPC  version 2: answered by version 2" in output
    assert "gRPC  NOT_FOUND: Servable not found for request: Specific(MMModel, 1)" in output
    assert "REST  404 Servable not found for request: Specific(MMModel, 1)" in output


def check_labels_output(output: str) -> None:
    """Chapter 7: each label answered by the right version, over gRPC and REST (metadata)."""
    grpc_answers = re.findall(r"gRPC  version_label='(\w+)'\s+-> answered by version (\d+)", output)
    assert [(label, int(version)) for label, version in grpc_answers] == LABEL_ANSWERS
    rest_answers = re.findall(r"REST  /labels/(\w+):predict.*\(/labels/\w+/metadata: version (\d+)\)", output)
    assert [(label, int(version)) for label, version in rest_answers] == LABEL_ANSWERS
    for step in ("-- Canary:", "-- Promote:", "-- Rollback:"):
        assert step in output


def check_several_models_output(output: str) -> None:
    """Chapter 8: three models, each answering by name."""
    for name in THREE_MODELS:
        assert re.search(rf"  {name}\s+gRPC: version \d+, y = \[", output), name
    assert "Running from" in output and "MMModel_3, each at its latest version" in output


def read_config_file(base_dir: Path) -> model_server_config_pb2.ModelServerConfig:
    config = model_server_config_pb2.ModelServerConfig()
    text_format.Parse((base_dir / "models.config").read_text(), config)
    return config


def check_three_models_served(box: Sandbox) -> None:
    """After a poll of models.config, the server still serves what chapter 8 set up."""
    time.sleep(float(POLL_SECONDS) * 2.5)
    rest = f"http://127.0.0.1:{box.env['REST_PORT']}"
    for name in THREE_MODELS:
        status = requests.get(f"{rest}/v1/models/{name}", timeout=10).json()
        assert "AVAILABLE" in [entry["state"] for entry in status["model_version_status"]], (name, status)
    config = read_config_file(box.base_dir)
    assert [(model.name, model.base_path) for model in config.model_config_list.config] == [
        ("MMModel", "/models/MMModel"),
        ("MMModel_2", "/models/MMModel_2"),
        ("MMModel_3", "/models/MMModel_3"),
    ]
