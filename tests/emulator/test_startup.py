"""Start-up and shut-down: what the process prints and how it exits.

TF Serving prints ``Failed to start server. Error: <status>`` and returns -1 from
``main`` (exit status 255) when start-up fails; an unknown flag prints
``unknown argument: …`` and the usage; with no version directory it waits, warning on
every poll, and opens no port. These tests run the emulator as a plain process.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import pytest
from emulator_harness import (
    REPO_ROOT,
    emulator_command,
    free_port,
    install_version,
    port_is_open,
    run_emulator_to_exit,
    serve,
    wait_for,
)

FAILURE_EXIT = 255
FAST_FAILURE = ["--max_num_load_retries=0", "--load_retry_interval_micros=0"]


def test_a_model_that_cannot_load_stops_the_server(tmp_path):
    version = tmp_path / "broken" / "1"
    version.mkdir(parents=True)
    (version / "saved_model.pb").write_bytes(b"not a SavedModel")
    ports = [f"--port={free_port()}", f"--rest_api_port={free_port()}"]
    result = run_emulator_to_exit(
        ["--model_name=broken", f"--model_base_path={tmp_path / 'broken'}", *ports, *FAST_FAILURE]
    )
    assert result.returncode == FAILURE_EXIT, result.stdout
    (line,) = [x for x in result.stdout.splitlines() if x.startswith("Failed to start server. Error: ")]
    # Start-up waits in ConnectSourcesWithFastInitialLoad (load_servables_fast.cc), which says
    # "servable(s)"; a later HandleReloadConfigRequest says "model(s)" (server_core.cc). A real
    # 2.1 log: "Failed to start server. Error: Unknown: 1 servable(s) did not become available";
    # today's absl status prints the code as UNKNOWN.
    assert line.startswith(
        "Failed to start server. Error: UNKNOWN: 1 servable(s) did not become available: {"
    ), line
    assert f"Can't parse {version / 'saved_model.pb'} as binary proto" in line
    assert "Running gRPC ModelServer" not in result.stdout


def test_unknown_flag(tmp_path):
    result = run_emulator_to_exit(["--model_name=x", f"--model_base_path={tmp_path}", "--no_such_flag=1"])
    assert result.returncode == FAILURE_EXIT
    lines = result.stdout.splitlines()
    assert "unknown argument: --no_such_flag=1" in lines
    assert "usage:" in result.stdout  # the flag list follows, as the binary prints it
    assert "--model_base_path" in result.stdout


def test_relative_model_base_path(tmp_path):
    result = run_emulator_to_exit(["--model_name=half_plus_two", "--model_base_path=models/half_plus_two"])
    assert result.returncode == FAILURE_EXIT
    assert (
        "Failed to start server. Error: INVALID_ARGUMENT: Expected model half_plus_two to have an absolute path or "
        "URI; got base_path()=models/half_plus_two"
    ) in result.stdout.splitlines()


def test_no_model_at_all():
    result = run_emulator_to_exit(["--model_name=half_plus_two"])
    assert result.returncode == FAILURE_EXIT
    assert (
        "Failed to start server. Error: INVALID_ARGUMENT: Both server_options.model_base_path and "
        "server_options.model_config_file are empty!"
    ) in result.stdout.splitlines()


def test_unparseable_model_config_file(tmp_path):
    config = tmp_path / "models.config"
    config.write_text("model_config_list { config { name: 'x' base_path: '/tmp/x' \n")  # unbalanced
    result = run_emulator_to_exit([f"--model_config_file={config}"])
    assert result.returncode == FAILURE_EXIT
    assert "Error parsing text-format tensorflow.serving.ModelServerConfig" in result.stdout


@pytest.fixture
def started():
    """Start the emulator with chosen ports and yield (process, grpc_port, rest_port, log path)."""
    processes = []

    def start(args: list[str], log_path):
        grpc_port, rest_port = free_port(), free_port()
        log = open(log_path, "w")  # noqa: SIM115 (closed below)
        process = subprocess.Popen(
            emulator_command([*args, f"--port={grpc_port}", f"--rest_api_port={rest_port}"]),
            cwd=REPO_ROOT,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        processes.append((process, log))
        return process, grpc_port, rest_port

    yield start
    for process, log in processes:
        if process.poll() is None:
            process.kill()
            process.wait()
        log.close()


def test_no_version_directory_keeps_waiting_with_a_warning(tmp_path, started):
    base = tmp_path / "half_plus_two"
    (base / "saved_model_is_not_a_version").mkdir(parents=True)
    log_path = tmp_path / "server.log"
    process, grpc_port, rest_port = started(
        ["--model_name=half_plus_two", f"--model_base_path={base}", "--file_system_poll_wait_seconds=1"],
        log_path,
    )
    warning = (
        f"No versions of servable half_plus_two found under base path {base}. "
        "Did you forget to name your leaf directory as a number (eg. '/1/')?"
    )
    wait_for(lambda: log_path.read_text().count(warning) >= 2, timeout=60, what="the warning, twice")
    assert process.poll() is None  # still waiting, not failed
    assert not port_is_open(grpc_port)
    assert not port_is_open(rest_port)
    process.send_signal(signal.SIGTERM)
    assert process.wait(timeout=10) is not None


def test_sigterm_stops_a_serving_server(tmp_path, started, half_plus_two_version_dir):
    base = tmp_path / "half_plus_two"
    install_version(half_plus_two_version_dir, base, 1)
    log_path = tmp_path / "server.log"
    process, grpc_port, rest_port = started(
        ["--model_name=half_plus_two", f"--model_base_path={base}"], log_path
    )
    wait_for(
        lambda: "Exporting HTTP/REST API at:" in log_path.read_text() or process.poll() is not None,
        timeout=120,
        what="the server to start",
    )
    assert process.poll() is None, log_path.read_text()
    assert port_is_open(grpc_port) and port_is_open(rest_port)
    log = log_path.read_text()
    grpc_line = log.index("Running gRPC ModelServer at ")
    rest_line = log.index(f"Exporting HTTP/REST API at:localhost:{rest_port} ...")
    assert grpc_line < rest_line
    assert f":{grpc_port} ..." in log[grpc_line:rest_line]
    process.send_signal(signal.SIGTERM)
    # A bound, not a latency measurement: the server must stop promptly, not hang.
    process.wait(timeout=5)
    time.sleep(0.2)
    assert not port_is_open(grpc_port)
    assert not port_is_open(rest_port)


def test_a_label_in_the_startup_config_needs_the_allow_flag(tmp_path, half_plus_two_version_dir):
    # ServerCore::ReloadConfig assigns labels before it loads anything (issue #1230).
    install_version(half_plus_two_version_dir, tmp_path / "labelled", 2)
    config = tmp_path / "models.config"
    config.write_text(
        "model_config_list { config { name: 'labelled' "
        f"base_path: '{tmp_path / 'labelled'}' model_platform: 'tensorflow' "
        "version_labels { key: 'stable' value: 2 } } }\n"
    )
    ports = [f"--port={free_port()}", f"--rest_api_port={free_port()}"]
    result = run_emulator_to_exit([f"--model_config_file={config}", *ports])
    assert result.returncode == FAILURE_EXIT, result.stdout
    assert (
        "Failed to start server. Error: FAILED_PRECONDITION: Request to assign label to version 2 of "
        "model labelled, which is not currently available for inference"
    ) in result.stdout.splitlines()

    with serve(
        [f"--model_config_file={config}", "--allow_version_labels_for_unavailable_models=true"]
    ) as served:
        reply = served.rest.post("/v1/models/labelled/labels/stable:predict", {"instances": [1.0]})
        assert (reply.status, reply.json()) == (200, {"predictions": [2.5]})


# The version flag imports TensorFlow and exits: enough to see the environment the server
# sets up for it before TensorFlow loads.
SHOW_ONEDNN_SETTING = """
import os, runpy, sys

def stop(code):  # the server ends with os._exit; end this run with an exception instead
    raise SystemExit(code)

os._exit = stop
sys.argv = ["tfserving_emulator", "--version"]
try:
    runpy.run_module("tfserving_emulator", run_name="__main__")
except SystemExit:
    pass
print("TF_ENABLE_ONEDNN_OPTS=" + os.environ["TF_ENABLE_ONEDNN_OPTS"])
"""


@pytest.mark.parametrize(("given", "expected"), [(None, "0"), ("1", "1")])
def test_models_run_on_tensorflows_own_kernels_unless_told_otherwise(given, expected):
    env = {k: v for k, v in os.environ.items() if k != "TF_ENABLE_ONEDNN_OPTS"}
    if given is not None:
        env["TF_ENABLE_ONEDNN_OPTS"] = given
    done = subprocess.run(
        [sys.executable, "-c", SHOW_ONEDNN_SETTING], env=env, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines()[-1] == f"TF_ENABLE_ONEDNN_OPTS={expected}"
    assert "TensorFlow ModelServer: " in done.stdout
