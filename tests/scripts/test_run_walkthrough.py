"""run_walkthrough.sh: the one-command quick start."""

from __future__ import annotations

import hashlib
import json
import shutil
import sys
from pathlib import Path

import pytest
from scripts_harness import REPO_ROOT, ScriptSandbox, error_lines, free_ports

from tutorial.ports import is_port_free

STEP_SCRIPTS = ("02_train_and_export.py", "04_grpc_client.py", "05_rest_client.py")


def test_help(sandbox: ScriptSandbox):
    result = sandbox.run("run_walkthrough.sh", "--help")
    assert result.returncode == 0
    assert result.stdout.startswith("usage: ./run_walkthrough.sh [--no-install] [--all] [-h|--help]\n")


def test_unknown_argument(sandbox: ScriptSandbox):
    result = sandbox.run("run_walkthrough.sh", "--fast")
    assert result.returncode == 1
    assert error_lines(result.stderr) == [
        "error: unknown argument '--fast'; use --no-install, --all or no argument"
    ]


def steps_run_by(sandbox: ScriptSandbox, *arguments: str) -> list[str]:
    """The steps main() would run, in order: each step runner replaced by one that prints its command."""
    snippet = (
        f'source "{REPO_ROOT}/run_walkthrough.sh"\n'
        'run_step() { echo "step: ${*:2}"; }\n'
        'run_python_step() { echo "step: python $2"; }\n'
        "stop_server_at_exit() { :; }\n"
        f"main {' '.join(arguments)}\n"
    )
    result = sandbox.lib(snippet)
    assert result.returncode == 0, result.stderr
    return [line.removeprefix("step: ") for line in result.stdout.splitlines() if line.startswith("step: ")]


def test_steps_1_to_5_by_default_and_chapters_6_to_13_with_all(sandbox: ScriptSandbox):
    first_five = [
        "./01_install_serving.sh",
        "python 02_train_and_export.py",
        "./03_start_server.sh start",
        "python 04_grpc_client.py",
        "python 05_rest_client.py",
    ]
    assert steps_run_by(sandbox, "--no-install") == first_five
    chapters = [
        "06_hot_swap.py",
        "07_labels.py",
        "08_several_models.py",
        "09_benchmark.py",
        "10_tls.py",
        "11_health_checks.py",
        "12_batching.py",
        "13_warm_up.py",
    ]
    assert steps_run_by(sandbox, "--all", "--no-install") == [
        *first_five,
        *(f"python {name}" for name in chapters),
    ]
    # Every numbered chapter in the repository is in --all, and each one it names exists.
    assert sorted(path.name for path in REPO_ROOT.glob("[01][0-9]_*.py") if path.name >= "06") == chapters


def test_requirements_are_installed_only_when_they_change(sandbox: ScriptSandbox, tmp_path: Path):
    """install_requirements with a recording stand-in for the virtualenv's python."""
    pip_log = tmp_path / "pip_calls.jsonl"
    fake_python = tmp_path / "python"
    fake_python.write_text(
        "#!/bin/sh\n"
        f'if [ "$1" = "-m" ]; then echo "[\\"$*\\"]" >> "{pip_log}"; exit 0; fi\n'
        f'exec "{sys.executable}" "$@"\n'
    )
    fake_python.chmod(0o755)
    requirements = tmp_path / "requirements.txt"
    requirements.write_text("numpy\n")
    stamp = tmp_path / "stamp"
    snippet = (
        f'source "{REPO_ROOT}/run_walkthrough.sh"\n'
        f'python_bin() {{ echo "{fake_python}"; }}\n'
        f'REQUIREMENTS="{requirements}"; REQUIREMENTS_STAMP="{stamp}"\n'
        "install_requirements\n"
    )

    first = sandbox.lib(snippet)
    assert first.returncode == 0, first.stderr
    assert first.stdout == "+ python -m pip install -r requirements.txt\n"
    assert stamp.read_text() == hashlib.sha256(b"numpy\n").hexdigest() + "\n"

    second = sandbox.lib(snippet)
    assert second.stdout == f"requirements: unchanged since the last install (stamp {stamp})\n"

    requirements.write_text("numpy\nrequests\n")
    third = sandbox.lib(snippet)
    assert third.stdout == "+ python -m pip install -r requirements.txt\n"
    calls = [json.loads(line) for line in pip_log.read_text().splitlines()]
    assert calls == [[f"-m pip install -r {requirements}"]] * 2


def test_a_failing_step_stops_the_walkthrough_and_the_server(sandbox: ScriptSandbox):
    """Step 1 fails (no docker daemon): the walkthrough stops there with that step's error."""
    result = sandbox.run("run_walkthrough.sh", "--no-install", env={"FAKE_DOCKER_INFO": "fail"})
    assert result.returncode == 1
    assert len(error_lines(result.stderr)) == 1
    assert error_lines(result.stderr)[0].startswith(
        "error: Docker is installed but its daemon did not answer"
    )
    assert result.stderr.splitlines()[-1] == (
        '==== Stopped at step "1. Install TensorFlow Serving and smoke-test it" (exit code 1); '
        "the error above says what to fix ===="
    )


def copy_of_the_repository(destination: Path) -> Path:
    """The walkthrough writes results/ and .run/ under the repository; give it a copy so a
    test never touches the reader's files. The virtualenv is shared through a symlink."""
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc")
    destination.mkdir()
    for entry in REPO_ROOT.iterdir():
        if entry.is_file() and (entry.suffix in {".sh", ".py", ".txt", ".env"}):
            shutil.copy2(entry, destination / entry.name)
    for folder in ("scripts", "tutorial", "tfserving_emulator"):
        shutil.copytree(REPO_ROOT / folder, destination / folder, ignore=ignore)
    (destination / ".venv").symlink_to(REPO_ROOT / ".venv")
    return destination


@pytest.mark.skipif(
    not all((REPO_ROOT / name).exists() for name in (*STEP_SCRIPTS, "tfserving_emulator/__main__.py")),
    reason="the walkthrough's Python steps or the emulator are not in this checkout",
)
def test_the_whole_walkthrough_with_the_emulator(sandbox: ScriptSandbox, tmp_path: Path):
    """Quick-start command 1, end to end, offline: emulator backend, generated smoke model."""
    repo = copy_of_the_repository(tmp_path / "repo")
    sandbox.install_fake("git")
    grpc_port, rest_port = free_ports(2)
    env = {
        "SERVING_BACKEND": "auto",
        "FAKE_DOCKER_INFO": "fail",
        "FAKE_GIT_MODE": "fail",
        "GRPC_PORT": str(grpc_port),
        "REST_PORT": str(rest_port),
        "STARTUP_TIMEOUT": "120",
        "MPLBACKEND": "Agg",
    }
    # Paths from settings.env, i.e. inside the copy.
    for key in ("MODEL_BASE_DIR", "SMOKE_TEST_DIR", "RUN_DIR"):
        sandbox.env.pop(key)
    try:
        result = sandbox.run(str(repo / "run_walkthrough.sh"), "--no-install", env=env, timeout=900)
    finally:
        sandbox.run(str(repo / "03_start_server.sh"), "stop", env=env)
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-4000:]
    out = result.stdout.splitlines()
    banners = [line for line in out if line.startswith("==== ")]
    assert banners[:1] == ["==== 0. Python environment ===="]
    for title in (
        "1. Install TensorFlow Serving and smoke-test it",
        "2. Train the model and export a SavedModel",
        "3. Serve the model",
        "4. Call it over gRPC",
        "5. Call it over REST",
        "Done",
        "Stopping the server",
    ):
        assert f"==== {title} ====" in banners
    assert "smoke test passed: half_plus_two answered [2.5, 3.0, 4.5] (emulator backend)" in out
    assert (repo / "trained_models" / "MMModel" / "1" / "saved_model.pb").is_file()
    assert (repo / "downloads" / "half_plus_two" / "00000123" / "saved_model.pb").is_file()
    assert is_port_free(grpc_port) and is_port_free(rest_port)
    assert not (repo / ".run" / "server.pid").exists()
