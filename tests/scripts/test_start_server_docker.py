"""03_start_server.sh with the Docker backend, against the fake `docker` (fakes/docker.py).

The fake's "container" answers the status and predict APIs on the published REST port,
so the script's real readiness wait runs; the tests assert the exact docker commands.
"""

from __future__ import annotations

import json
import socket
import subprocess
from pathlib import Path

from scripts_harness import (
    REPO_ROOT,
    ScriptSandbox,
    error_lines,
    make_placeholder_model,
    settings_env_defaults,
    write_config,
)

IMAGE = settings_env_defaults()["TF_SERVING_IMAGE"]


def docker_run_argv(box: ScriptSandbox, mount_source: Path, model: str = "MMModel") -> list[str]:
    """The documented command of step 3, exactly."""
    return [
        "docker", "run", "-d", "--rm", "--name", box.container,
        "-p", f"127.0.0.1:{box.grpc_port}:8500",
        "-p", f"127.0.0.1:{box.rest_port}:8501",
        "--mount", f"type=bind,source={mount_source},target=/models/{model}",
        "-e", f"MODEL_NAME={model}",
        IMAGE,
    ]  # fmt: skip


def test_start_runs_the_documented_docker_command_and_waits_until_available(sandbox: ScriptSandbox):
    make_placeholder_model(sandbox.model_base_dir, "MMModel")
    result = sandbox.run("03_start_server.sh", "start")
    assert result.returncode == 0, result.stderr
    assert sandbox.docker_calls("run") == [docker_run_argv(sandbox, sandbox.model_base_dir / "MMModel")]
    out = result.stdout.splitlines()
    assert "backend: docker (SERVING_BACKEND=docker)" in out
    assert f"gRPC: localhost:{sandbox.grpc_port}" in out
    assert f"REST: http://localhost:{sandbox.rest_port}/v1/models/MMModel" in out
    # The status JSON the server answered is shown once the model is AVAILABLE.
    assert '"state": "AVAILABLE"' in result.stdout
    assert out.index(f"gRPC: localhost:{sandbox.grpc_port}") > out.index("TF Serving is up (docker backend):")


def test_stop_runs_docker_stop_with_the_container_name(sandbox: ScriptSandbox):
    make_placeholder_model(sandbox.model_base_dir, "MMModel")
    assert sandbox.run("03_start_server.sh", "start").returncode == 0
    result = sandbox.run("03_start_server.sh", "stop")
    assert result.returncode == 0, result.stderr
    assert sandbox.docker_calls("stop") == [["docker", "stop", sandbox.container]]
    assert result.stdout.splitlines()[-1] == "server stopped"
    again = sandbox.run("03_start_server.sh", "stop")
    assert again.stdout == "no server is running\n"
    assert sandbox.docker_calls("stop") == [["docker", "stop", sandbox.container]]


def test_status_reports_available_then_not_running(sandbox: ScriptSandbox):
    make_placeholder_model(sandbox.model_base_dir, "MMModel")
    assert sandbox.run("03_start_server.sh", "start").returncode == 0
    status = sandbox.run("03_start_server.sh", "status")
    assert status.returncode == 0, status.stderr
    assert f"backend: docker (container {sandbox.container}, image {IMAGE})" in status.stdout
    assert json.loads(status.stdout[status.stdout.index("{") : status.stdout.rindex("}") + 1]) == {
        "model_version_status": [
            {"version": "123", "state": "AVAILABLE", "status": {"error_code": "OK", "error_message": ""}}
        ]
    }
    sandbox.run("03_start_server.sh", "stop")
    stopped = sandbox.run("03_start_server.sh", "status")
    assert stopped.returncode == 3
    assert stopped.stdout.splitlines()[-1] == "no server is running (start one: ./03_start_server.sh start)"


def test_logs_come_from_docker_logs(sandbox: ScriptSandbox):
    make_placeholder_model(sandbox.model_base_dir, "MMModel")
    assert sandbox.run("03_start_server.sh", "start").returncode == 0
    result = sandbox.run("03_start_server.sh", "logs")
    assert result.returncode == 0, result.stderr
    assert sandbox.docker_calls("logs")[-1] == ["docker", "logs", sandbox.container]
    assert f"Exporting HTTP/REST API at:localhost:{sandbox.rest_port} ..." in result.stdout


def test_a_second_start_says_it_is_running_and_starts_nothing(sandbox: ScriptSandbox):
    make_placeholder_model(sandbox.model_base_dir, "MMModel")
    assert sandbox.run("03_start_server.sh", "start").returncode == 0
    again = sandbox.run("03_start_server.sh", "start")
    assert again.returncode == 0, again.stderr
    assert "the docker server is already running" in again.stdout.splitlines()
    assert len(sandbox.docker_calls("run")) == 1


def test_a_running_docker_server_blocks_starting_the_emulator(sandbox: ScriptSandbox):
    make_placeholder_model(sandbox.model_base_dir, "MMModel")
    assert sandbox.run("03_start_server.sh", "start").returncode == 0
    other = sandbox.run("03_start_server.sh", "start", env={"SERVING_BACKEND": "emulator"})
    assert other.returncode == 1
    assert error_lines(other.stderr) == [
        "error: the docker backend is already serving; stop it first to switch to emulator: ./03_start_server.sh stop"
    ]


def test_docker_platform_adds_platform_before_the_image(sandbox: ScriptSandbox):
    make_placeholder_model(sandbox.model_base_dir, "MMModel")
    result = sandbox.run("03_start_server.sh", "start", env={"DOCKER_PLATFORM": "linux/amd64"})
    assert result.returncode == 0, result.stderr
    expected = docker_run_argv(sandbox, sandbox.model_base_dir / "MMModel")
    expected[-1:-1] = ["--platform", "linux/amd64"]
    assert sandbox.docker_calls("run") == [expected]


def test_a_relative_model_base_dir_becomes_an_absolute_mount_source(sandbox: ScriptSandbox, tmp_path: Path):
    work = tmp_path / "work"
    make_placeholder_model(work / "exports", "MyNet")
    env = {"MODEL_BASE_DIR": "exports", "MODEL_NAME": "MyNet"}
    result = sandbox.run("03_start_server.sh", "start", cwd=work, env=env)
    assert result.returncode == 0, result.stderr
    assert sandbox.docker_calls("run") == [
        docker_run_argv(sandbox, work / "exports" / "MyNet", model="MyNet")
    ]
    sandbox.run("03_start_server.sh", "stop", cwd=work, env=env)


def test_git_bash_gets_a_windows_mount_path_and_no_path_conversion(sandbox: ScriptSandbox, tmp_path: Path):
    sandbox.install_fake("uname")
    sandbox.install_fake("cygpath")
    make_placeholder_model(sandbox.model_base_dir, "MMModel")
    env_log = tmp_path / "docker_env.jsonl"
    result = sandbox.run(
        "03_start_server.sh",
        "start",
        env={"FAKE_UNAME_S": "MINGW64_NT-10.0-19045", "FAKE_DOCKER_ENV_LOG": str(env_log)},
    )
    assert result.returncode == 0, result.stderr
    expected_source = f"C:/msys64{sandbox.model_base_dir}/MMModel"
    assert sandbox.docker_calls("run") == [docker_run_argv(sandbox, Path(expected_source))]
    run_index = [call[1] for call in sandbox.docker_calls()].index("run")
    assert json.loads(env_log.read_text().splitlines()[run_index]) == {"MSYS_NO_PATHCONV": "1"}


# ---------------------------------------------------------------------------
# Layout checks: what TF Serving would silently wait on forever
# ---------------------------------------------------------------------------


def start_error(box: ScriptSandbox, cwd: Path) -> list[str]:
    result = box.run("03_start_server.sh", "start", cwd=cwd, env={"MODEL_BASE_DIR": "trained_models"})
    assert result.returncode == 1
    assert box.docker_calls("run") == []
    return error_lines(result.stderr)


def test_layout_no_version_directory(sandbox: ScriptSandbox, tmp_path: Path):
    (tmp_path / "trained_models" / "MMModel").mkdir(parents=True)
    assert start_error(sandbox, tmp_path) == [
        "error: no version directory: put the SavedModel in trained_models/MMModel/1/ (TF Serving only loads "
        "integer-named subfolders); run python 02_train_and_export.py"
    ]


def test_layout_saved_model_directly_in_the_model_folder(sandbox: ScriptSandbox, tmp_path: Path):
    model = tmp_path / "trained_models" / "MMModel"
    (model / "variables").mkdir(parents=True)
    (model / "saved_model.pb").write_bytes(b"x")
    assert start_error(sandbox, tmp_path) == [
        "error: saved_model.pb is directly in trained_models/MMModel; TF Serving only loads integer-named version "
        "folders: move saved_model.pb and variables/ into trained_models/MMModel/1/"
    ]


def test_layout_version_folders_that_are_not_integers(sandbox: ScriptSandbox, tmp_path: Path):
    model = tmp_path / "trained_models" / "MMModel"
    for name in ("v1", "0.1"):
        (model / name).mkdir(parents=True)
        (model / name / "saved_model.pb").write_bytes(b"x")
    assert start_error(sandbox, tmp_path) == [
        "error: no integer-named version folder in trained_models/MMModel (found: 0.1, v1); TF Serving silently "
        "skips other names: rename it, e.g. mv trained_models/MMModel/0.1 trained_models/MMModel/1"
    ]


def test_layout_missing_model_folder(sandbox: ScriptSandbox, tmp_path: Path):
    (tmp_path / "trained_models").mkdir()
    assert start_error(sandbox, tmp_path) == [
        "error: no model folder trained_models/MMModel; export the model first (python 02_train_and_export.py) or "
        "set MODEL_NAME to a folder of trained_models"
    ]


def test_layout_missing_base_dir(sandbox: ScriptSandbox, tmp_path: Path):
    assert start_error(sandbox, tmp_path) == [
        "error: the model folder trained_models does not exist; train and export the model first: "
        "python 02_train_and_export.py"
    ]


def test_zero_padded_versions_and_pbtxt_are_accepted(sandbox: ScriptSandbox):
    version = sandbox.model_base_dir / "MMModel" / "00000123"
    version.mkdir(parents=True)
    (version / "saved_model.pbtxt").write_text("")
    result = sandbox.run("03_start_server.sh", "start")
    assert result.returncode == 0, result.stderr


# ---------------------------------------------------------------------------
# Failures: Docker missing, ports taken, a server that never becomes ready
# ---------------------------------------------------------------------------


def test_without_the_docker_command(sandbox: ScriptSandbox):
    make_placeholder_model(sandbox.model_base_dir, "MMModel")
    sandbox.hide_tool("docker")
    result = sandbox.run("03_start_server.sh", "start")
    assert result.returncode == 1
    assert result.stderr == (
        "error: the docker command was not found; install Docker (https://docs.docker.com/get-docker/) "
        "or run with SERVING_BACKEND=emulator\n"
    )


def test_without_the_docker_daemon(sandbox: ScriptSandbox):
    make_placeholder_model(sandbox.model_base_dir, "MMModel")
    result = sandbox.run("03_start_server.sh", "start", env={"FAKE_DOCKER_INFO": "fail"})
    assert result.returncode == 1
    assert result.stderr == (
        "error: Docker is installed but its daemon did not answer (docker info: Cannot connect to the Docker "
        "daemon at unix:///var/run/docker.sock. Is the docker daemon running?); start Docker "
        "(https://docs.docker.com/get-docker/) or run with SERVING_BACKEND=emulator\n"
    )
    assert sandbox.docker_calls("run") == []


def test_a_docker_socket_without_permission_suggests_the_docker_group(sandbox: ScriptSandbox):
    make_placeholder_model(sandbox.model_base_dir, "MMModel")
    result = sandbox.run("03_start_server.sh", "start", env={"FAKE_DOCKER_INFO": "permission"})
    assert result.returncode == 1
    assert len(error_lines(result.stderr)) == 1
    assert (
        "add yourself to the docker group (sudo usermod -aG docker $USER, then log in again)" in result.stderr
    )


def test_arm64_warns_about_the_image_platform(sandbox: ScriptSandbox):
    sandbox.install_fake("uname")
    make_placeholder_model(sandbox.model_base_dir, "MMModel")
    result = sandbox.run("03_start_server.sh", "start", env={"FAKE_UNAME_M": "aarch64"})
    assert result.returncode == 0, result.stderr
    assert result.stderr.splitlines() == [
        f"warning: this machine is aarch64 and {IMAGE} has no official arm64 image; run with "
        "DOCKER_PLATFORM=linux/amd64 after registering QEMU for amd64 (docker run --privileged --rm "
        "tonistiigi/binfmt --install amd64; emulated, slower) or SERVING_BACKEND=emulator"
    ]


def test_grpc_port_in_use(sandbox: ScriptSandbox):
    make_placeholder_model(sandbox.model_base_dir, "MMModel")
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", sandbox.grpc_port))
        busy.listen()
        result = sandbox.run("03_start_server.sh", "start")
    port = sandbox.grpc_port
    assert result.returncode == 1
    assert result.stderr == (
        f"error: port {port} (GRPC_PORT) is already in use; stop what is using it or choose another: "
        f"GRPC_PORT={port + 1} ./03_start_server.sh start\n"
    )
    assert sandbox.docker_calls("run") == []


def test_rest_port_in_use_in_config_mode_repeats_the_arguments(sandbox: ScriptSandbox):
    config = write_config(sandbox)
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", sandbox.rest_port))
        result = sandbox.run("03_start_server.sh", "start", "--config", str(config))
    port = sandbox.rest_port
    assert error_lines(result.stderr) == [
        f"error: port {port} (REST_PORT) is already in use; stop what is using it or choose another: "
        f"REST_PORT={port + 1} ./03_start_server.sh start --config {config}"
    ]


def test_a_model_that_never_becomes_available_times_out_with_the_log(sandbox: ScriptSandbox):
    make_placeholder_model(sandbox.model_base_dir, "MMModel")
    result = sandbox.run(
        "03_start_server.sh", "start", env={"FAKE_DOCKER_CONTAINER": "never_ready", "STARTUP_TIMEOUT": "2"}
    )
    assert result.returncode == 1
    out = result.stdout.splitlines()
    log_start = out.index("last 20 lines of the server log:")
    assert out[log_start + 1 :] == [
        f"W file_system_storage_path_source.cc:268] No versions of servable found ({i})" for i in range(5, 25)
    ]
    assert error_lines(result.stderr) == [
        f"error: http://127.0.0.1:{sandbox.rest_port}/v1/models/MMModel reported no AVAILABLE version within 2 s "
        "(last error: [Errno 111] Connection refused); the server log is above (stopped the server; docs/troubleshooting.md "
        "lists the common causes)"
    ]
    assert sandbox.docker_calls("stop") == [["docker", "stop", sandbox.container]]


def test_a_container_that_exits_at_once_is_reported_without_waiting(sandbox: ScriptSandbox):
    make_placeholder_model(sandbox.model_base_dir, "MMModel")
    result = sandbox.run("03_start_server.sh", "start", env={"FAKE_DOCKER_CONTAINER": "exit"})
    assert result.returncode == 1
    assert error_lines(result.stderr) == [
        f"error: the container {sandbox.container} exited before the model became AVAILABLE (last error: "
        "[Errno 111] Connection refused); --rm removed the container with its log, so run the same docker run "
        "without -d to watch it fail"
    ]


def test_usage_and_unknown_commands(sandbox: ScriptSandbox):
    help_result = sandbox.run("03_start_server.sh", "--help")
    assert help_result.returncode == 0
    assert help_result.stdout.startswith(
        "usage: ./03_start_server.sh start [--config FILE] | stop | status | logs [-f] | -h|--help\n"
    )
    unknown = sandbox.run("03_start_server.sh", "restart")
    assert unknown.returncode == 1
    assert error_lines(unknown.stderr) == [
        "error: unknown command 'restart'; use one of: start, stop, status, logs"
    ]
    bad_option = sandbox.run("03_start_server.sh", "start", "--bogus")
    assert error_lines(bad_option.stderr)[0].startswith("error: ")


def test_the_script_is_executable():
    assert subprocess.run(["test", "-x", str(REPO_ROOT / "03_start_server.sh")]).returncode == 0
