"""Chapter 6 end to end: hot swap, labels, several models; on the emulator and through a fake Docker."""

from __future__ import annotations

import importlib.util
import re
import shutil
import sys
import time
from pathlib import Path

import fake_docker
import pytest
import requests
from conftest import MODEL_NAME, REPO_ROOT, TEST_TRAIN_STEPS, Sandbox, make_sandbox
from google.protobuf import text_format
from tensorflow_serving.config import model_server_config_pb2

# The config file is re-read every second, so a gRPC reload that models.config does not
# also hold would be undone within the run.
POLL_SECONDS = "1"
# Which version each label request must reach: canary, then promote, then rollback.
LABEL_ANSWERS = [("stable", 1), ("canary", 2), ("stable", 2), ("canary", 2), ("stable", 1), ("canary", 2)]


def load_chapter():
    spec = importlib.util.spec_from_file_location("chapter_06", REPO_ROOT / "06_versions_and_labels.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


def run_chapter(box: Sandbox, *args: str, cwd: Path = REPO_ROOT):
    options = ["--train-steps", str(TEST_TRAIN_STEPS), "--plot-dir", str(box.root / "plots")]
    return box.run_python("06_versions_and_labels.py", *options, *args, cwd=cwd)


def check_full_run_output(output: str) -> None:
    """What every backend must print for ``--part all`` starting from MMModel version 1."""
    # Part A: the swap, watched through the status, with zero failed requests.
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

    # Part B: each label answered by the right version, over gRPC and REST (metadata).
    grpc_answers = re.findall(r"gRPC  version_label='(\w+)'\s+-> answered by version (\d+)", output)
    assert [(label, int(version)) for label, version in grpc_answers] == LABEL_ANSWERS
    rest_answers = re.findall(r"REST  /labels/(\w+):predict.*\(/labels/\w+/metadata: version (\d+)\)", output)
    assert [(label, int(version)) for label, version in rest_answers] == LABEL_ANSWERS
    for step in ("-- Canary:", "-- Promote:", "-- Rollback:"):
        assert step in output

    # Part C: three models, each answering by name.
    for name in ("MMModel", "MMModel_2", "MMModel_3"):
        assert re.search(rf"  {name}\s+gRPC: version \d+, y = \[", output), name
    assert "Running from" in output and "MMModel_3, each at its latest version" in output


def read_config_file(base_dir: Path) -> model_server_config_pb2.ModelServerConfig:
    config = model_server_config_pb2.ModelServerConfig()
    text_format.Parse((base_dir / "models.config").read_text(), config)
    return config


def check_final_server(box: Sandbox) -> None:
    """After a poll of models.config, the server still serves what the last reload said."""
    time.sleep(float(POLL_SECONDS) * 2.5)
    rest = f"http://127.0.0.1:{box.env['REST_PORT']}"
    for name in ("MMModel", "MMModel_2", "MMModel_3"):
        status = requests.get(f"{rest}/v1/models/{name}", timeout=10).json()
        assert "AVAILABLE" in [entry["state"] for entry in status["model_version_status"]], (name, status)
    config = read_config_file(box.base_dir)
    assert [(model.name, model.base_path) for model in config.model_config_list.config] == [
        ("MMModel", "/models/MMModel"),
        ("MMModel_2", "/models/MMModel_2"),
        ("MMModel_3", "/models/MMModel_3"),
    ]


# ---------------------------------------------------------------------------
# End to end
# ---------------------------------------------------------------------------


def test_all_parts_on_the_emulator(emulator_sandbox: Sandbox):
    box = emulator_sandbox
    box.env["MODEL_CONFIG_POLL_SECONDS"] = POLL_SECONDS
    started = box.server("start")
    assert started.returncode == 0, started.stdout + started.stderr

    result = run_chapter(box)
    assert result.returncode == 0, result.stdout + result.stderr
    check_full_run_output(result.stdout)
    refresh = f"$ ./03_start_server.sh start --config {box.base_dir / 'models.config'}   (refreshes the emulator's copy)"
    assert refresh in result.stdout
    for version_dir in ("MMModel/2", "MMModel_2/1", "MMModel_3/1"):
        assert (box.base_dir / version_dir / "saved_model.pb").is_file(), version_dir
    # One plot per export, named so that no model's plot overwrites another's.
    assert sorted(p.name for p in (box.root / "plots").iterdir()) == [
        "fit_MMModel_2_v1.png",
        "fit_MMModel_3_v1.png",
        "fit_v2.png",
    ]
    check_final_server(box)


def test_docker_variant_sends_container_paths(tmp_path: Path, model_template: Path):
    """SERVING_BACKEND=docker through a fake docker whose containers run the emulator."""
    box = make_sandbox(tmp_path, "docker")
    shutil.copytree(model_template, box.base_dir)
    docker_state = tmp_path / "docker"
    fake_docker.install(tmp_path / "bin", docker_state)
    box.env["PATH"] = f"{tmp_path / 'bin'}:{box.env['PATH']}"
    box.env["FAKE_DOCKER_DIR"] = str(docker_state)
    box.env["MODEL_CONFIG_POLL_SECONDS"] = POLL_SECONDS
    try:
        started = box.server("start")
        assert started.returncode == 0, started.stdout + started.stderr
        result = run_chapter(box)
        assert result.returncode == 0, result.stdout + result.stderr
        check_full_run_output(result.stdout)
        assert "refreshes the emulator's copy" not in result.stdout
        check_final_server(box)
    finally:
        box.server("stop")

    runs = [call[1:] for call in fake_docker.calls(docker_state) if call[:1] == ["run"]]
    assert len(runs) == 2  # 03 start, then the restart in config mode for Part B
    config_run = runs[1]
    assert f"type=bind,source={box.base_dir},target=/models" in config_run
    image_index = config_run.index("tensorflow/serving:2.21.0")
    assert config_run[image_index + 1 :] == [
        "--allow_version_labels_for_unavailable_models=true",
        "--model_config_file=/models/models.config",
        f"--model_config_file_poll_wait_seconds={POLL_SECONDS}",
    ]

    reloads = fake_docker.reloads(docker_state, box.env["TF_SERVING_CONTAINER"])
    assert len(reloads) == 4  # canary, promote, rollback, three models
    for text in reloads:
        config = model_server_config_pb2.ModelServerConfig()
        text_format.Parse(text, config)
        for model in config.model_config_list.config:
            assert model.base_path == f"/models/{model.name}"
    assert 'version_labels {\n      key: "stable"\n      value: 2\n    }' in reloads[1]


def test_labels_alone_from_another_directory_with_relative_paths(emulator_sandbox: Sandbox):
    """MODEL_BASE_DIR and RUN_DIR relative to where the reader runs it; version 2 made on demand."""
    box = emulator_sandbox
    box.env.update(MODEL_BASE_DIR="trained_models", RUN_DIR="run", MODEL_CONFIG_POLL_SECONDS=POLL_SECONDS)
    started = box.server("start", cwd=box.root)
    assert started.returncode == 0, started.stdout + started.stderr
    try:
        result = run_chapter(box, "--part", "labels", cwd=box.root)
        assert result.returncode == 0, result.stdout + result.stderr
    finally:
        box.server("stop", cwd=box.root)
    out = result.stdout
    assert "MMModel has no version 2 yet; exporting it:" in out
    assert (
        f"$ python {REPO_ROOT / '02_train_and_export.py'} --model-dir trained_models/MMModel --version 2"
        in out
    )
    assert f"$ {REPO_ROOT / '03_start_server.sh'} start --config trained_models/models.config" in out
    grpc_answers = re.findall(r"gRPC  version_label='(\w+)'\s+-> answered by version (\d+)", out)
    assert [(label, int(version)) for label, version in grpc_answers] == LABEL_ANSWERS
    assert (
        "Running from trained_models/models.config: MMModel versions 1 and 2, labels stable=1 and canary=2"
        in out
    )
    assert "Part A" not in out and "Part C" not in out
    assert dict(read_config_file(box.root / "trained_models").model_config_list.config[0].version_labels) == {
        "stable": 1,
        "canary": 2,
    }


def test_without_a_server_it_says_how_to_start_one(emulator_sandbox: Sandbox):
    result = run_chapter(emulator_sandbox, "--part", "hot-swap")
    assert result.returncode == 1
    assert result.stderr == (
        f"error: no TF Serving answers at localhost:{emulator_sandbox.env['GRPC_PORT']}; "
        "start it first: ./03_start_server.sh start\n"
    )


# ---------------------------------------------------------------------------
# The config the server is sent: paths as the running backend sees them
# ---------------------------------------------------------------------------


@pytest.fixture
def chapter():
    return load_chapter()


def settings_for(chapter, tmp_path: Path, backend: str):
    return chapter.load_settings(
        {
            "MODEL_BASE_DIR": str(tmp_path / "models"),
            "RUN_DIR": str(tmp_path / "run"),
            "SERVING_BACKEND": backend,
        }
    )


@pytest.mark.parametrize(
    ("recorded", "expected_base_path"),
    [("docker", "/models/MMModel"), ("emulator", "{base}/MMModel")],
)
def test_reload_config_paths_follow_the_recorded_backend(chapter, tmp_path, recorded, expected_base_path):
    settings = settings_for(chapter, tmp_path, "auto")
    settings.run_dir.mkdir(parents=True)
    (settings.run_dir / "server.backend").write_text(f"{recorded}\n")
    models = [{"name": MODEL_NAME, "versions": (1, 2), "labels": {"stable": 1, "canary": 2}}]
    config = chapter.build_config(settings, models, chapter.paths_seen_by(chapter.running_backend(settings)))
    (model,) = config.model_config_list.config
    assert model.base_path == expected_base_path.format(base=settings.model_base_dir)
    assert list(model.model_version_policy.specific.versions) == [1, 2]
    assert dict(model.version_labels) == {"stable": 1, "canary": 2}
    assert model.model_platform == "tensorflow"


def test_without_a_record_serving_backend_decides(chapter, tmp_path):
    assert chapter.running_backend(settings_for(chapter, tmp_path, "docker")) == "docker"
    assert chapter.running_backend(settings_for(chapter, tmp_path, "emulator")) == "emulator"


def test_models_config_file_uses_container_paths(chapter, tmp_path):
    settings = settings_for(chapter, tmp_path, "emulator")
    settings.model_base_dir.mkdir(parents=True)
    models = [
        {"name": MODEL_NAME, "versions": (1, 2), "labels": {"stable": 1, "canary": 2}},
        {"name": "MMModel_2"},
    ]
    path = chapter.write_config_file(settings, models, "two models")
    assert path == settings.model_base_dir / "models.config"
    text = path.read_text()
    assert text.startswith("# two models\n")
    assert "# file also needs --allow_version_labels_for_unavailable_models=true (see Part B).\n" in text
    config = model_server_config_pb2.ModelServerConfig()
    text_format.Parse(text, config)
    first, second = config.model_config_list.config
    assert (first.name, first.base_path) == ("MMModel", "/models/MMModel")
    assert dict(first.version_labels) == {"stable": 1, "canary": 2}
    assert (second.name, second.base_path) == ("MMModel_2", "/models/MMModel_2")
    assert not second.HasField("model_version_policy")
    assert sorted(p.name for p in settings.model_base_dir.iterdir()) == [
        "models.config"
    ]  # no staging file left


def test_a_config_without_labels_needs_no_startup_flag(chapter, tmp_path):
    settings = settings_for(chapter, tmp_path, "emulator")
    settings.model_base_dir.mkdir(parents=True)
    text = chapter.write_config_file(
        settings, [{"name": MODEL_NAME, "versions": (1, 2)}], "two versions"
    ).read_text()
    assert "allow_version_labels_for_unavailable_models" not in text
    assert "specific {\n        versions: 1\n        versions: 2\n      }" in text
