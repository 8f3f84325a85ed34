"""01_install_serving.sh with the Docker backend (fake `docker`) and the model download (fake `git`)."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest
from scripts_harness import ScriptSandbox, error_lines, make_placeholder_model, settings_env_defaults

IMAGE = settings_env_defaults()["TF_SERVING_IMAGE"]
SMOKE_CONTAINER = "tfserving_half_plus_two"


@pytest.fixture
def smoke_model(sandbox: ScriptSandbox) -> Path:
    """half_plus_two already downloaded (the fake container does not read it)."""
    base = Path(sandbox.env["SMOKE_TEST_DIR"])
    make_placeholder_model(base.parent, base.name, version="00000123")
    return base


def smoke_run_argv(box: ScriptSandbox, source: Path) -> list[str]:
    return [
        "docker", "run", "-d", "--rm", "--name", SMOKE_CONTAINER,
        "-p", f"127.0.0.1:{box.rest_port}:8501",
        "--mount", f"type=bind,source={source},target=/models/half_plus_two",
        "-e", "MODEL_NAME=half_plus_two",
        IMAGE,
    ]  # fmt: skip


def test_pull_serve_predict_and_stop(sandbox: ScriptSandbox, smoke_model: Path):
    result = sandbox.run("01_install_serving.sh")
    assert result.returncode == 0, result.stderr
    commands = [call[1:3] for call in sandbox.docker_calls()]
    assert sandbox.docker_calls("pull") == [["docker", "pull", IMAGE]]
    assert sandbox.docker_calls("run") == [smoke_run_argv(sandbox, smoke_model)]
    # The trap stops the container after the test, whatever happened.
    assert sandbox.docker_calls("stop") == [["docker", "stop", SMOKE_CONTAINER]]
    assert commands.index(["stop", SMOKE_CONTAINER]) > commands.index(["run", "-d"])
    out = result.stdout.splitlines()
    assert f"smoke-test model: already in {smoke_model} (version 00000123)" in out
    assert f"request:  POST http://localhost:{sandbox.rest_port}/v1/models/half_plus_two:predict" in out
    assert '          {"instances": [1.0, 2.0, 5.0]}' in out
    response = result.stdout[result.stdout.index("response: ") : result.stdout.index("smoke test passed")]
    assert response.split() == ["response:", "{", '"predictions":', "[", "2.5,", "3.0,", "4.5", "]", "}"]
    assert "smoke test passed: half_plus_two answered [2.5, 3.0, 4.5] (docker backend)" in out


def test_the_container_is_stopped_when_the_model_never_loads(sandbox: ScriptSandbox, smoke_model: Path):
    result = sandbox.run(
        "01_install_serving.sh", env={"FAKE_DOCKER_CONTAINER": "never_ready", "STARTUP_TIMEOUT": "1"}
    )
    assert result.returncode == 1
    assert error_lines(result.stderr) == [
        f"error: http://127.0.0.1:{sandbox.rest_port}/v1/models/half_plus_two reported no AVAILABLE version "
        "within 1 s (last error: [Errno 111] Connection refused); the server log is above"
    ]
    assert sandbox.docker_calls("stop") == [["docker", "stop", SMOKE_CONTAINER]]
    assert "last 20 lines of the server log:" in result.stdout


def test_a_leftover_smoke_container_is_removed_first(sandbox: ScriptSandbox, smoke_model: Path):
    first = sandbox.run(
        "bash", "-c", f"docker run -d --rm --name {SMOKE_CONTAINER} -p 127.0.0.1:{sandbox.rest_port}:8501 img"
    )
    assert first.returncode == 0, first.stderr
    result = sandbox.run("01_install_serving.sh")
    assert result.returncode == 0, result.stderr
    assert sandbox.docker_calls("rm") == [["docker", "rm", "-f", SMOKE_CONTAINER]]
    assert f"removing the leftover container {SMOKE_CONTAINER}" in result.stdout.splitlines()


def test_without_the_docker_command(sandbox: ScriptSandbox, smoke_model: Path):
    sandbox.hide_tool("docker")
    result = sandbox.run("01_install_serving.sh")
    assert result.returncode == 1
    assert result.stderr == (
        "error: the docker command was not found; install Docker (https://docs.docker.com/get-docker/) "
        "or run with SERVING_BACKEND=emulator\n"
    )


def test_without_the_docker_daemon(sandbox: ScriptSandbox, smoke_model: Path):
    result = sandbox.run("01_install_serving.sh", env={"FAKE_DOCKER_INFO": "fail"})
    assert result.returncode == 1
    assert result.stderr == (
        "error: Docker is installed but its daemon did not answer (docker info: Cannot connect to the Docker "
        "daemon at unix:///var/run/docker.sock. Is the docker daemon running?); start Docker "
        "(https://docs.docker.com/get-docker/) or run with SERVING_BACKEND=emulator\n"
    )
    assert sandbox.docker_calls("pull") == []


@pytest.mark.parametrize("machine", ["arm64", "aarch64"])
def test_arm64_warning_and_platform_override(sandbox: ScriptSandbox, smoke_model: Path, machine: str):
    sandbox.install_fake("uname")
    warned = sandbox.run("01_install_serving.sh", env={"FAKE_UNAME_M": machine})
    assert warned.returncode == 0, warned.stderr
    assert warned.stderr.splitlines() == [
        f"warning: this machine is {machine} and {IMAGE} has no official arm64 image; run with "
        "DOCKER_PLATFORM=linux/amd64 after registering QEMU for amd64 (docker run --privileged --rm "
        "tonistiigi/binfmt --install amd64; emulated, slower) or SERVING_BACKEND=emulator"
    ]
    forced = sandbox.run(
        "01_install_serving.sh", env={"FAKE_UNAME_M": machine, "DOCKER_PLATFORM": "linux/amd64"}
    )
    assert forced.returncode == 0, forced.stderr
    assert forced.stderr == ""
    assert sandbox.docker_calls("pull")[-1] == ["docker", "pull", "--platform", "linux/amd64", IMAGE]
    expected = smoke_run_argv(sandbox, smoke_model)
    expected[-1:-1] = ["--platform", "linux/amd64"]
    assert sandbox.docker_calls("run")[-1] == expected


def test_x86_64_has_no_warning(sandbox: ScriptSandbox, smoke_model: Path):
    sandbox.install_fake("uname")
    result = sandbox.run("01_install_serving.sh", env={"FAKE_UNAME_M": "x86_64"})
    assert result.returncode == 0, result.stderr
    assert result.stderr == ""


def test_a_failed_pull_without_a_local_image_is_one_error(sandbox: ScriptSandbox, smoke_model: Path):
    result = sandbox.run("01_install_serving.sh", env={"FAKE_DOCKER_PULL": "fail"})
    assert result.returncode == 1
    assert error_lines(result.stderr) == [
        f"error: docker pull {IMAGE} failed (output above); check your network, or that the tag exists on "
        "https://hub.docker.com/r/tensorflow/serving/tags, or run with SERVING_BACKEND=emulator"
    ]
    assert sandbox.docker_calls("run") == []


def test_rest_port_in_use(sandbox: ScriptSandbox, smoke_model: Path):
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", sandbox.rest_port))
        busy.listen()
        result = sandbox.run("01_install_serving.sh")
    port = sandbox.rest_port
    assert result.returncode == 1
    assert error_lines(result.stderr) == [
        f"error: port {port} (REST_PORT) is already in use; stop what is using it or choose another: "
        f"REST_PORT={port + 1} ./01_install_serving.sh"
    ]
    assert sandbox.docker_calls("run") == []


def test_the_model_is_downloaded_with_a_sparse_checkout(sandbox: ScriptSandbox):
    sandbox.install_fake("git")
    smoke = Path(sandbox.env["SMOKE_TEST_DIR"])
    result = sandbox.run("01_install_serving.sh")
    assert result.returncode == 0, result.stderr
    calls = sandbox.git_calls()
    assert len(calls) == 2
    clone, sparse = calls
    staging = Path(clone[-1])
    assert clone == [
        "git", "clone", "--quiet", "--depth", "1", "--filter=blob:none", "--sparse",
        "https://github.com/tensorflow/serving", str(staging),
    ]  # fmt: skip
    assert staging.parent.parent == smoke.parent
    assert sparse == [
        "git", "-C", str(staging), "sparse-checkout", "set",
        "tensorflow_serving/servables/tensorflow/testdata/saved_model_half_plus_two_cpu",
    ]  # fmt: skip
    assert (smoke / "00000123" / "saved_model.pb").read_bytes() == b"placeholder"
    assert not staging.parent.exists()  # the rest of the checkout is cleaned up
    assert (
        f"smoke-test model: downloaded saved_model_half_plus_two_cpu from https://github.com/tensorflow/serving "
        f"into {smoke}" in result.stdout.splitlines()
    )
    # A second run finds it and downloads nothing.
    again = sandbox.run("01_install_serving.sh")
    assert again.returncode == 0, again.stderr
    assert len(sandbox.git_calls()) == 2


def test_a_non_empty_smoke_folder_without_a_model_is_not_overwritten(sandbox: ScriptSandbox):
    smoke = Path(sandbox.env["SMOKE_TEST_DIR"])
    smoke.mkdir(parents=True)
    (smoke / "notes.txt").write_text("mine")
    result = sandbox.run("01_install_serving.sh")
    assert result.returncode == 1
    assert error_lines(result.stderr) == [
        f"error: {smoke} exists but holds no version folder with a saved_model.pb; remove it (rm -rf {smoke}) "
        "and run this script again"
    ]
    assert (smoke / "notes.txt").read_text() == "mine"


def test_help_and_unknown_arguments(sandbox: ScriptSandbox):
    help_result = sandbox.run("01_install_serving.sh", "-h")
    assert help_result.returncode == 0
    assert help_result.stdout.startswith("usage: ./01_install_serving.sh [-h|--help]\n")
    assert sandbox.docker_calls() == []
    unknown = sandbox.run("01_install_serving.sh", "--now")
    assert unknown.returncode == 1
    assert error_lines(unknown.stderr) == [
        "error: unknown argument '--now'; this script takes no arguments (settings come from settings.env and the environment)"
    ]


def test_a_smoke_test_dir_that_is_a_file_is_named_as_a_file(sandbox: ScriptSandbox):
    smoke = Path(sandbox.env["SMOKE_TEST_DIR"])
    smoke.parent.mkdir(parents=True)
    smoke.write_text("mine")
    result = sandbox.run("01_install_serving.sh")
    assert result.returncode == 1
    assert error_lines(result.stderr) == [
        f"error: SMOKE_TEST_DIR {smoke} is a file, not a directory; remove it (rm {smoke}) or set SMOKE_TEST_DIR "
        "to a folder"
    ]
    assert smoke.read_text() == "mine"
    assert sandbox.docker_calls("run") == []
