"""scripts/lib.sh: settings, backend choice, port check, messages."""

from __future__ import annotations

import socket
import sys

from scripts_harness import REPO_ROOT, ScriptSandbox, settings_env_defaults

SHOW = 'load_settings; for key in MODEL_NAME MODEL_BASE_DIR GRPC_PORT REST_PORT SMOKE_TEST_DIR RUN_DIR TF_SERVING_CONTAINER TF_SERVING_IMAGE; do echo "$key=$(printenv "$key")"; done'


def shown(result) -> dict[str, str]:
    assert result.returncode == 0, result.stderr
    return dict(line.split("=", 1) for line in result.stdout.splitlines() if "=" in line)


# ---------------------------------------------------------------------------
# Settings
# ---------------------------------------------------------------------------


def test_settings_file_values_resolve_against_the_repo_root(sandbox: ScriptSandbox, tmp_path):
    defaults = settings_env_defaults()
    for key in (
        "MODEL_BASE_DIR",
        "SMOKE_TEST_DIR",
        "RUN_DIR",
        "GRPC_PORT",
        "REST_PORT",
        "TF_SERVING_CONTAINER",
    ):
        sandbox.env.pop(key)
    (tmp_path / "elsewhere").mkdir()
    values = shown(sandbox.lib(SHOW, cwd=tmp_path / "elsewhere"))
    assert values["MODEL_BASE_DIR"] == str(REPO_ROOT / "trained_models")
    assert values["SMOKE_TEST_DIR"] == str(REPO_ROOT / "downloads" / "half_plus_two")
    assert values["RUN_DIR"] == str(REPO_ROOT / ".run")
    assert values["GRPC_PORT"] == defaults["GRPC_PORT"] == "8700"
    assert values["REST_PORT"] == defaults["REST_PORT"]
    assert values["MODEL_NAME"] == defaults["MODEL_NAME"] == "MMModel"
    assert values["TF_SERVING_CONTAINER"] == defaults["TF_SERVING_CONTAINER"]
    assert values["TF_SERVING_IMAGE"] == defaults["TF_SERVING_IMAGE"]


def test_environment_overrides_and_its_relative_paths_follow_the_callers_directory(
    sandbox: ScriptSandbox, tmp_path
):
    work = tmp_path / "work"
    work.mkdir()
    values = shown(
        sandbox.lib(
            SHOW,
            cwd=work,
            env={
                "MODEL_BASE_DIR": "my_models/./x/..",
                "GRPC_PORT": "9000",
                "MODEL_NAME": "Other",
                "RUN_DIR": "/abs/run",
            },
        )
    )
    assert values["MODEL_BASE_DIR"] == str(work / "my_models")
    assert values["GRPC_PORT"] == "9000"
    assert values["MODEL_NAME"] == "Other"
    assert values["RUN_DIR"] == "/abs/run"


def test_an_empty_environment_variable_means_the_settings_file_value(sandbox: ScriptSandbox):
    values = shown(sandbox.lib(SHOW, env={"MODEL_NAME": "", "GRPC_PORT": ""}))
    assert values["MODEL_NAME"] == "MMModel"
    assert values["GRPC_PORT"] == "8700"


def test_settings_agree_with_the_python_reader(sandbox: ScriptSandbox, tmp_path):
    """scripts/lib.sh and tutorial/settings.py must resolve every value the same way."""
    env = {"MODEL_BASE_DIR": "rel/models", "REST_PORT": "9123"}
    bash_values = shown(sandbox.lib(SHOW, cwd=tmp_path, env=env))
    python = sandbox.run(
        sys.executable,
        "-c",
        "from tutorial.settings import load_settings; s = load_settings(); "
        "print(f'MODEL_BASE_DIR={s.model_base_dir}'); print(f'REST_PORT={s.rest_port}'); "
        "print(f'RUN_DIR={s.run_dir}'); print(f'SMOKE_TEST_DIR={s.smoke_test_dir}'); print(f'MODEL_NAME={s.model_name}')",
        cwd=tmp_path,
        env={**env, "PYTHONPATH": str(REPO_ROOT)},
    )
    python_values = shown(python)
    for key, value in python_values.items():
        assert bash_values[key] == value, key


def test_settings_are_printed_with_their_origin(sandbox: ScriptSandbox):
    result = sandbox.lib("load_settings; print_settings", env={"GRPC_PORT": "9001"})
    assert result.returncode == 0, result.stderr
    assert "  GRPC_PORT            = 9001   (from the environment)" in result.stdout.splitlines()
    assert "  MODEL_NAME           = MMModel" in result.stdout.splitlines()


def test_a_port_that_is_not_a_number_is_one_clear_error(sandbox: ScriptSandbox):
    result = sandbox.lib("load_settings", env={"GRPC_PORT": "87OO"})
    assert result.returncode == 1
    assert result.stderr == "error: GRPC_PORT='87OO' is not a port number; set it to an integer 1-65535\n"


def test_a_port_out_of_range_is_one_clear_error(sandbox: ScriptSandbox):
    result = sandbox.lib("load_settings", env={"REST_PORT": "70000"})
    assert result.returncode == 1
    assert result.stderr == "error: REST_PORT=70000 is out of range; set it to an integer 1-65535\n"


def test_an_unknown_backend_is_one_clear_error(sandbox: ScriptSandbox):
    result = sandbox.lib("load_settings", env={"SERVING_BACKEND": "podman"})
    assert result.returncode == 1
    assert result.stderr == "error: SERVING_BACKEND='podman'; use one of: auto, docker, emulator\n"


def test_equal_grpc_and_rest_ports_are_refused(sandbox: ScriptSandbox):
    result = sandbox.lib("load_settings", env={"GRPC_PORT": "9000", "REST_PORT": "9000"})
    assert result.returncode == 1
    assert result.stderr == (
        "error: GRPC_PORT and REST_PORT are both 9000; give them different values, e.g. REST_PORT=9001\n"
    )


# ---------------------------------------------------------------------------
# Backend selection: always says which and why
# ---------------------------------------------------------------------------


def test_auto_picks_docker_when_docker_info_answers(sandbox: ScriptSandbox):
    result = sandbox.lib(
        'load_settings; select_backend; echo "chosen=$BACKEND"', env={"SERVING_BACKEND": "auto"}
    )
    assert result.stdout.splitlines() == ["backend: docker (docker info answered)", "chosen=docker"]
    assert sandbox.docker_calls() == [["docker", "info"]]


def test_auto_falls_back_to_the_emulator_and_quotes_docker_info(sandbox: ScriptSandbox):
    result = sandbox.lib(
        'load_settings; select_backend; echo "chosen=$BACKEND"',
        env={"SERVING_BACKEND": "auto", "FAKE_DOCKER_INFO": "fail"},
    )
    assert result.stdout.splitlines() == [
        "backend: emulator (docker info failed: Cannot connect to the Docker daemon at "
        "unix:///var/run/docker.sock. Is the docker daemon running?)",
        "chosen=emulator",
    ]


def test_auto_without_the_docker_command_uses_the_emulator(sandbox: ScriptSandbox):
    sandbox.hide_tool("docker")
    result = sandbox.lib(
        'load_settings; select_backend; echo "chosen=$BACKEND"', env={"SERVING_BACKEND": "auto"}
    )
    assert result.stdout.splitlines() == [
        "backend: emulator (the docker command was not found; install Docker to use the real TF Serving)",
        "chosen=emulator",
    ]


def test_an_explicit_backend_is_used_without_asking_docker(sandbox: ScriptSandbox):
    result = sandbox.lib("load_settings; select_backend", env={"SERVING_BACKEND": "emulator"})
    assert result.stdout == "backend: emulator (SERVING_BACKEND=emulator)\n"
    assert sandbox.docker_calls() == []


# ---------------------------------------------------------------------------
# Ports and paths
# ---------------------------------------------------------------------------


def test_a_taken_port_names_the_port_the_variable_and_the_retry_command(sandbox: ScriptSandbox):
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", sandbox.grpc_port))
        busy.listen()
        result = sandbox.lib(
            'load_settings; require_free_port "$GRPC_PORT" GRPC_PORT "$(script_invocation ./03_start_server.sh start)"'
        )
    port = sandbox.grpc_port
    assert result.returncode == 1
    assert result.stderr == (
        f"error: port {port} (GRPC_PORT) is already in use; stop what is using it or choose another: "
        f"GRPC_PORT={port + 1} ./03_start_server.sh start\n"
    )


def test_a_free_port_passes(sandbox: ScriptSandbox):
    result = sandbox.lib('load_settings; require_free_port "$REST_PORT" REST_PORT x; echo ok')
    assert result.stdout == "ok\n", result.stderr


def test_show_command_quotes_only_what_needs_quoting(sandbox: ScriptSandbox):
    result = sandbox.lib("show_command docker run -p 127.0.0.1:1:2 'type=bind,source=/a b' \"it's\"")
    assert result.stdout == "+ docker run -p 127.0.0.1:1:2 'type=bind,source=/a b' 'it'\\''s'\n"


def test_a_child_script_reports_the_origin_its_parent_saw(sandbox: ScriptSandbox, tmp_path):
    """run_walkthrough.sh exports resolved settings; its steps must not call them all "from the environment"."""
    child = f'source "{REPO_ROOT}/scripts/lib.sh"; load_settings; print_settings'
    result = sandbox.lib(f"load_settings; bash -c '{child}'", cwd=tmp_path, env={"MODEL_BASE_DIR": "here"})
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert f"  MODEL_BASE_DIR       = {tmp_path}/here   (from the environment)" in lines
    assert "  MODEL_NAME           = MMModel" in lines
    assert "  TF_SERVING_IMAGE     = tensorflow/serving:2.21.0" in lines
