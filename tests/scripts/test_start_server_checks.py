"""03_start_server.sh: a running server's real ports, stale records, and one-line refusals."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from scripts_harness import (
    REPO_ROOT,
    TWO_MODELS,
    ScriptSandbox,
    error_lines,
    free_ports,
    make_placeholder_model,
    stop_pid,
    write_config,
)


def run_dir(box: ScriptSandbox) -> Path:
    return Path(box.env["RUN_DIR"])


# ---------------------------------------------------------------------------
# A server already runs: which one, on which ports
# ---------------------------------------------------------------------------


def test_start_on_other_ports_names_the_running_servers_real_ports(sandbox: ScriptSandbox):
    make_placeholder_model(sandbox.model_base_dir, "MMModel")
    assert sandbox.run("03_start_server.sh", "start").returncode == 0
    grpc, rest = sandbox.grpc_port, sandbox.rest_port
    other_grpc, other_rest = free_ports(2)
    other = {"GRPC_PORT": str(other_grpc), "REST_PORT": str(other_rest)}
    again = sandbox.run("03_start_server.sh", "start", env=other)
    assert again.returncode == 1
    assert error_lines(again.stderr) == [
        f"error: the docker server is already running on gRPC port {grpc} and REST port {rest}, not on "
        f"GRPC_PORT={other_grpc} REST_PORT={other_rest}; stop it first (./03_start_server.sh stop) or use its "
        f"ports: GRPC_PORT={grpc} REST_PORT={rest} ./03_start_server.sh start"
    ]
    assert "already running" not in again.stdout
    assert len(sandbox.docker_calls("run")) == 1
    # status and stop work on the server that runs, whatever the settings say now.
    status = sandbox.run("03_start_server.sh", "status", env=other)
    assert status.returncode == 0, status.stderr
    assert [line for line in status.stdout.splitlines() if line.startswith(("gRPC: ", "REST: "))] == [
        f"gRPC: localhost:{grpc}",
        f"REST: http://localhost:{rest}/v1/models/MMModel",
    ]
    assert sandbox.run("03_start_server.sh", "stop", env=other).stdout.splitlines()[-1] == "server stopped"


def test_the_ports_come_from_docker_when_the_record_is_gone(sandbox: ScriptSandbox):
    make_placeholder_model(sandbox.model_base_dir, "MMModel")
    assert sandbox.run("03_start_server.sh", "start").returncode == 0
    shutil.rmtree(run_dir(sandbox))
    other_grpc, other_rest = free_ports(2)
    status = sandbox.run(
        "03_start_server.sh", "status", env={"GRPC_PORT": str(other_grpc), "REST_PORT": str(other_rest)}
    )
    assert status.returncode == 0, status.stderr
    assert f"gRPC: localhost:{sandbox.grpc_port}" in status.stdout.splitlines()
    assert sandbox.docker_calls("port")[-1] == ["docker", "port", sandbox.container]


@pytest.fixture
def fake_emulator(sandbox: ScriptSandbox) -> Iterator[tuple[int, int, int]]:
    """A process whose command line names tfserving_emulator, recorded as 03 records one."""
    process = subprocess.Popen(
        [sys.executable, "-c", "import time; time.sleep(120)", "tfserving_emulator"],
        stdin=subprocess.DEVNULL,
    )
    grpc, rest = free_ports(2)
    record = run_dir(sandbox)
    record.mkdir()
    (record / "server.pid").write_text(f"{process.pid}\n")
    (record / "server.backend").write_text("emulator\n")
    (record / "server.mode").write_text("model MMModel\n")
    (record / "server.models").write_text("MMModel\n")
    (record / "server.ports").write_text(f"{grpc} {rest}\n")
    try:
        yield process.pid, grpc, rest
    finally:
        stop_pid(process.pid)
        process.wait()


def test_a_running_emulator_on_other_ports_is_named_with_them(sandbox: ScriptSandbox, fake_emulator):
    make_placeholder_model(sandbox.model_base_dir, "MMModel")
    _pid, grpc, rest = fake_emulator
    result = sandbox.run("03_start_server.sh", "start", env={"SERVING_BACKEND": "emulator"})
    assert result.returncode == 1
    assert error_lines(result.stderr) == [
        f"error: the emulator server is already running on gRPC port {grpc} and REST port {rest}, not on "
        f"GRPC_PORT={sandbox.grpc_port} REST_PORT={sandbox.rest_port}; stop it first (./03_start_server.sh stop) "
        f"or use its ports: GRPC_PORT={grpc} REST_PORT={rest} ./03_start_server.sh start"
    ]


def test_on_its_own_ports_the_running_emulator_is_reported_with_them(sandbox: ScriptSandbox, fake_emulator):
    make_placeholder_model(sandbox.model_base_dir, "MMModel")
    pid, grpc, rest = fake_emulator
    env = {"SERVING_BACKEND": "emulator", "GRPC_PORT": str(grpc), "REST_PORT": str(rest)}
    result = sandbox.run("03_start_server.sh", "start", env=env)
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines()[-3:] == [
        "the emulator server is already running",
        f"gRPC: localhost:{grpc}",
        f"REST: http://localhost:{rest}/v1/models/MMModel",
    ]
    stopped = sandbox.run("03_start_server.sh", "stop")
    assert stopped.stdout.splitlines() == [f"stopping the emulator (pid {pid})", "server stopped"]
    assert not (run_dir(sandbox) / "server.pid").exists()


def test_a_stale_record_of_a_dead_emulator_does_not_block_a_start(sandbox: ScriptSandbox):
    make_placeholder_model(sandbox.model_base_dir, "MMModel")
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    record = run_dir(sandbox)
    record.mkdir()
    (record / "server.pid").write_text(f"{dead.pid}\n")
    (record / "server.backend").write_text("emulator\n")
    (record / "server.mode").write_text("config /gone/models.config\n")
    result = sandbox.run("03_start_server.sh", "start")
    assert result.returncode == 0, result.stderr
    assert not (record / "server.pid").exists()
    assert (record / "server.backend").read_text() == "docker\n"
    assert (record / "server.mode").read_text() == "model MMModel\n"
    assert (record / "server.ports").read_text() == f"{sandbox.grpc_port} {sandbox.rest_port}\n"


# ---------------------------------------------------------------------------
# Refusals: one line naming the fix, exit 1, nothing started
# ---------------------------------------------------------------------------


def refused(
    box: ScriptSandbox, *args: str, env: dict[str, str] | None = None, cwd: Path | None = None
) -> list[str]:
    result = box.run("03_start_server.sh", "start", *args, env=env, cwd=cwd)
    assert result.returncode == 1
    assert box.docker_calls("run") == []
    assert "Traceback" not in result.stderr
    return error_lines(result.stderr)


def test_a_model_base_dir_that_is_a_file_is_named_as_a_file(sandbox: ScriptSandbox, tmp_path: Path):
    (tmp_path / "trained_models").write_text("not a folder")
    expected = [
        "error: the model folder trained_models (MODEL_BASE_DIR) is a file, not a directory; set MODEL_BASE_DIR "
        "to the directory that holds the model folders (trained_models, where python 02_train_and_export.py "
        "exports)"
    ]
    env = {"MODEL_BASE_DIR": "trained_models"}
    assert refused(sandbox, env=env, cwd=tmp_path) == expected
    assert refused(sandbox, "--config", "models.config", env=env, cwd=tmp_path) == expected


def test_a_model_folder_that_is_a_file_is_named_as_a_file(sandbox: ScriptSandbox):
    sandbox.model_base_dir.mkdir()
    (sandbox.model_base_dir / "MMModel").write_text("x")
    assert refused(sandbox) == [
        f"error: {sandbox.model_base_dir}/MMModel is a file, not a model folder; remove it and export the model "
        "there: python 02_train_and_export.py"
    ]


def test_a_config_that_does_not_parse_is_one_line_with_its_position(sandbox: ScriptSandbox):
    config = write_config(sandbox, TWO_MODELS.replace("name: 'MMModel'", "name 'MMModel'"))
    assert refused(sandbox, "--config", str(config)) == [
        f"error: {config} is not a valid ModelServerConfig (line 4, column 10: '    name 'MMModel'': Expected "
        "\":\".); fix that line, e.g. model_config_list { config { name: '...' base_path: '/models/...' "
        "model_platform: 'tensorflow' } }"
    ]


def test_a_config_model_without_a_name_is_refused(sandbox: ScriptSandbox):
    config = write_config(sandbox, "model_config_list { config { base_path: '/models/MMModel' } }\n")
    assert refused(sandbox, "--config", str(config)) == [
        f"error: {config} has a base_path without a name; give every config a name: '...'"
    ]


def test_a_config_without_models_is_refused(sandbox: ScriptSandbox):
    config = write_config(sandbox, "# nothing yet\n")
    assert refused(sandbox, "--config", str(config)) == [
        f"error: {config} lists no model (no base_path); write model_config_list {{ config {{ name: '...' "
        "base_path: '/models/...' model_platform: 'tensorflow' } }"
    ]


def test_a_startup_timeout_that_is_not_a_number_stops_before_docker_run(sandbox: ScriptSandbox):
    make_placeholder_model(sandbox.model_base_dir, "MMModel")
    assert refused(sandbox, env={"STARTUP_TIMEOUT": "2m"}) == [
        "error: STARTUP_TIMEOUT='2m' is not a number of seconds; set it to e.g. 120"
    ]


def test_ctrl_c_while_waiting_is_one_line_not_a_traceback(sandbox: ScriptSandbox):
    make_placeholder_model(sandbox.model_base_dir, "MMModel")
    process = subprocess.Popen(
        [str(REPO_ROOT / "03_start_server.sh"), "start"],
        env={**sandbox.env, "FAKE_DOCKER_CONTAINER": "never_ready"},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,  # its own process group, as a terminal's Ctrl-C reaches it
    )
    assert process.stdout is not None
    for line in process.stdout:
        if line.startswith("waiting for MMModel to become AVAILABLE"):
            break
    os.killpg(process.pid, signal.SIGINT)
    _out, err = process.communicate(timeout=60)
    assert process.returncode == 130
    assert (
        err == "error: interrupted; the server may still be starting: ./03_start_server.sh status (or stop)\n"
    )


def test_a_run_dir_that_is_a_file_is_named_as_a_file(sandbox: ScriptSandbox, tmp_path: Path):
    make_placeholder_model(sandbox.model_base_dir, "MMModel")
    (tmp_path / "run_file").write_text("x")
    assert refused(sandbox, env={"RUN_DIR": "run_file"}, cwd=tmp_path) == [
        "error: RUN_DIR run_file is a file, not a directory; set RUN_DIR to a folder for the server's record and "
        "log (settings.env: ./.run)"
    ]


def test_a_run_dir_that_cannot_be_written_is_one_line(sandbox: ScriptSandbox, tmp_path: Path):
    make_placeholder_model(sandbox.model_base_dir, "MMModel")
    locked = tmp_path / "locked"
    locked.mkdir()
    (locked / "server.pid").mkdir()  # unlink() of a folder fails as a read-only RUN_DIR would
    result = sandbox.run("03_start_server.sh", "start", env={"RUN_DIR": str(locked)})
    assert result.returncode == 1
    (line,) = error_lines(result.stderr)
    assert line.endswith(
        f"({locked}/server.pid); RUN_DIR ({locked}) must be a folder you can write, and MODEL_BASE_DIR one you can read"
    )
    assert "Traceback" not in result.stderr
    assert sandbox.docker_calls("run") == []


def test_extra_arguments_are_refused_not_ignored(sandbox: ScriptSandbox):
    extra = sandbox.run("03_start_server.sh", "start", "--config", "models.config", "now")
    assert extra.returncode == 1
    assert error_lines(extra.stderr) == [
        "error: unexpected argument 'now' for start; use: ./03_start_server.sh start [--config FILE]"
    ]
    stop = sandbox.run("03_start_server.sh", "stop", "--all")
    assert stop.returncode == 1
    assert stop.stderr == "error: stop takes no arguments; use: ./03_start_server.sh stop\n"
    assert sandbox.docker_calls() == []
