"""03_start_server.sh start --config FILE (used by chapter 8), with the Docker backend and the fake docker.

The file lies inside MODEL_BASE_DIR, which the container sees as /models; its base paths
are container paths. The tests assert the exact docker command and every refusal line.
"""

from __future__ import annotations

from pathlib import Path

from scripts_harness import (
    TWO_MODELS,
    ScriptSandbox,
    error_lines,
    make_placeholder_model,
    settings_env_defaults,
    write_config,
)

IMAGE = settings_env_defaults()["TF_SERVING_IMAGE"]


def parse_model_server_config(text: str):
    from google.protobuf import text_format
    from tensorflow_serving.config import model_server_config_pb2

    return text_format.Parse(text, model_server_config_pb2.ModelServerConfig())


# ---------------------------------------------------------------------------
# models.config mode (used by chapter 06)
# ---------------------------------------------------------------------------


def test_config_mode_mounts_the_base_dir_and_passes_container_paths(sandbox: ScriptSandbox):
    config = write_config(sandbox)
    result = sandbox.run("03_start_server.sh", "start", "--config", str(config))
    assert result.returncode == 0, result.stderr
    assert sandbox.docker_calls("run") == [
        [
            "docker", "run", "-d", "--rm", "--name", sandbox.container,
            "-p", f"127.0.0.1:{sandbox.grpc_port}:8500",
            "-p", f"127.0.0.1:{sandbox.rest_port}:8501",
            "--mount", f"type=bind,source={sandbox.model_base_dir},target=/models",
            IMAGE,
            "--allow_version_labels_for_unavailable_models=true",
            "--model_config_file=/models/models.config",
            "--model_config_file_poll_wait_seconds=60",
        ]
    ]  # fmt: skip
    out = result.stdout.splitlines()
    assert f"REST: http://localhost:{sandbox.rest_port}/v1/models/MMModel" in out
    assert f"REST: http://localhost:{sandbox.rest_port}/v1/models/MMModel_2" in out
    assert (
        f"waiting for MMModel_2 to become AVAILABLE (up to 30 s): GET http://127.0.0.1:{sandbox.rest_port}/v1/models/MMModel_2"
        in out
    )


def test_starting_again_with_an_edited_config_reports_its_models(sandbox: ScriptSandbox):
    config = write_config(sandbox)
    assert sandbox.run("03_start_server.sh", "start", "--config", str(config)).returncode == 0
    make_placeholder_model(sandbox.model_base_dir, "MMModel_3")
    config.write_text(
        TWO_MODELS.replace("}\n}\n", "}\n  config { name: 'MMModel_3' base_path: '/models/MMModel_3' }\n}\n")
    )
    again = sandbox.run("03_start_server.sh", "start", "--config", str(config))
    assert again.returncode == 0, again.stderr
    assert len(sandbox.docker_calls("run")) == 1
    status = sandbox.run("03_start_server.sh", "status")
    assert [line for line in status.stdout.splitlines() if line.startswith("REST: ")] == [
        f"REST: http://localhost:{sandbox.rest_port}/v1/models/{name}"
        for name in ("MMModel", "MMModel_2", "MMModel_3")
    ]
    single = sandbox.run("03_start_server.sh", "start")
    assert error_lines(single.stderr) == [
        f"error: the server is already running with a different setup (config {config}); stop it first: "
        "./03_start_server.sh stop"
    ]


def test_config_mode_poll_interval_and_a_path_relative_to_the_base_dir(sandbox: ScriptSandbox):
    sub = sandbox.model_base_dir / "configs"
    write_config(sandbox)
    sub.mkdir()
    (sub / "two.config").write_text(TWO_MODELS)
    result = sandbox.run(
        "03_start_server.sh",
        "start",
        "--config",
        "configs/two.config",
        env={"MODEL_CONFIG_POLL_SECONDS": "5"},
    )
    assert result.returncode == 0, result.stderr
    run = sandbox.docker_calls("run")[0]
    assert run[-2:] == [
        "--model_config_file=/models/configs/two.config",
        "--model_config_file_poll_wait_seconds=5",
    ]


def test_config_reached_through_a_symlinked_directory_counts_as_inside(
    sandbox: ScriptSandbox, tmp_path: Path
):
    config = write_config(sandbox)
    link = tmp_path / "link"
    link.symlink_to(sandbox.model_base_dir.parent)
    relative = Path(sandbox.model_base_dir.name) / config.name
    # PWD as a shell in that directory would have it: the path through the link.
    result = sandbox.run(
        "03_start_server.sh", "start", "--config", str(relative), cwd=link, env={"PWD": str(link)}
    )
    assert result.returncode == 0, result.stderr
    assert sandbox.docker_calls("run")[0][-2] == "--model_config_file=/models/models.config"


def test_config_with_a_host_base_path_names_the_container_path(sandbox: ScriptSandbox):
    host = sandbox.model_base_dir / "MMModel"
    config = write_config(
        sandbox,
        f"model_config_list {{ config {{ name: 'MMModel' base_path: '{host}' model_platform: 'tensorflow' }} }}\n",
    )
    result = sandbox.run("03_start_server.sh", "start", "--config", str(config))
    assert result.returncode == 1
    assert error_lines(result.stderr) == [
        f"error: base_path '{host}' in {config} is a host path, but the server reads it inside the container: "
        "write base_path: '/models/MMModel'"
    ]
    assert sandbox.docker_calls("run") == []


def test_config_with_the_blogs_base_path_explains_the_mount(sandbox: ScriptSandbox):
    """The blog wrote /models/trained_models/MMModel; here /models is MODEL_BASE_DIR itself."""
    config = write_config(
        sandbox,
        "model_config_list { config { name: 'MMModel' base_path: '/models/trained_models/MMModel' model_platform: 'tensorflow' } }\n",
    )
    result = sandbox.run("03_start_server.sh", "start", "--config", str(config))
    assert result.returncode == 1
    assert error_lines(result.stderr) == [
        f"error: base_path '/models/trained_models/MMModel' in {config} means "
        f"{sandbox.model_base_dir}/trained_models/MMModel on this machine (MODEL_BASE_DIR is mounted at /models), "
        f"which does not exist; write base_path: '/models/<folder in {sandbox.model_base_dir}>'"
    ]


def test_config_outside_the_base_dir_is_refused(sandbox: ScriptSandbox, tmp_path: Path):
    write_config(sandbox)
    outside = tmp_path / "models.config"
    outside.write_text(TWO_MODELS)
    result = sandbox.run("03_start_server.sh", "start", "--config", str(outside))
    assert result.returncode == 1
    assert error_lines(result.stderr) == [
        f"error: config file {outside} is outside MODEL_BASE_DIR; move it into {sandbox.model_base_dir}/, "
        "the folder mounted at /models in the container, and pass that path"
    ]


def test_config_models_get_the_same_layout_check(sandbox: ScriptSandbox):
    config = write_config(sandbox)
    (sandbox.model_base_dir / "MMModel_2" / "1" / "saved_model.pb").unlink()
    result = sandbox.run("03_start_server.sh", "start", "--config", str(config))
    assert result.returncode == 1
    assert error_lines(result.stderr) == [
        f"error: {sandbox.model_base_dir}/MMModel_2/1 has no saved_model.pb; export the SavedModel into it: "
        "python 02_train_and_export.py"
    ]


def test_the_emulator_copy_of_the_config_has_host_paths(sandbox: ScriptSandbox):
    config = write_config(sandbox)
    result = sandbox.lib(
        f'load_settings; eval "$(run_python_module tutorial.server_state plan --config "{config}")"; '
        'echo "models=$SERVED_MODELS"; copy=$(run_python_module tutorial.server_state emulator-config "$CONFIG_FILE"); '
        'cat "$copy"'
    )
    assert result.returncode == 0, result.stderr
    base = sandbox.model_base_dir
    models_line, _, copy_text = result.stdout.partition("\n")
    assert models_line == "models=MMModel MMModel_2"
    expected = TWO_MODELS.replace("'/models/MMModel'", f"'{base}/MMModel'").replace(
        '"/models/MMModel_2/"', f'"{base}/MMModel_2/"'
    )
    # Written by protobuf's text_format: the same message, with only the base paths changed.
    assert parse_model_server_config(copy_text) == parse_model_server_config(expected)
    assert f'    base_path: "{base}/MMModel"\n' in copy_text
