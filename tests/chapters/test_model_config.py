"""tutorial.model_config: the config the server is sent, with paths as the running backend sees them."""

from __future__ import annotations

from pathlib import Path

import pytest
from chapter_sandbox import MODEL_NAME
from google.protobuf import text_format
from tensorflow_serving.config import model_server_config_pb2

from tutorial import model_config
from tutorial.settings import Settings, load_settings


def settings_for(tmp_path: Path, backend: str) -> Settings:
    return load_settings(
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
def test_reload_config_paths_follow_the_recorded_backend(tmp_path, recorded, expected_base_path):
    settings = settings_for(tmp_path, "auto")
    settings.run_dir.mkdir(parents=True)
    (settings.run_dir / "server.backend").write_text(f"{recorded}\n")
    models = [{"name": MODEL_NAME, "versions": (1, 2), "labels": {"stable": 1, "canary": 2}}]
    where = model_config.paths_seen_by(model_config.running_backend(settings))
    config = model_config.build_config(settings, models, where)
    (model,) = config.model_config_list.config
    assert model.base_path == expected_base_path.format(base=settings.model_base_dir)
    assert list(model.model_version_policy.specific.versions) == [1, 2]
    assert dict(model.version_labels) == {"stable": 1, "canary": 2}
    assert model.model_platform == "tensorflow"


def test_without_a_record_serving_backend_decides(tmp_path):
    assert model_config.running_backend(settings_for(tmp_path, "docker")) == "docker"
    assert model_config.running_backend(settings_for(tmp_path, "emulator")) == "emulator"


@pytest.mark.parametrize(
    ("recorded", "expected"),
    [(None, False), ("model MMModel\n", False), ("config /somewhere/models.config\n", True)],
)
def test_config_mode_is_what_03_recorded(tmp_path, recorded, expected):
    settings = settings_for(tmp_path, "emulator")
    if recorded is not None:
        settings.run_dir.mkdir(parents=True)
        (settings.run_dir / "server.mode").write_text(recorded)
    assert model_config.runs_from_config_file(settings) is expected


def test_models_config_file_uses_container_paths(tmp_path):
    settings = settings_for(tmp_path, "emulator")
    settings.model_base_dir.mkdir(parents=True)
    models = [
        {"name": MODEL_NAME, "versions": (1, 2), "labels": {"stable": 1, "canary": 2}},
        {"name": "MMModel_2"},
    ]
    path = model_config.write_config_file(settings, models, "two models", "07_labels.py")
    assert path == settings.model_base_dir / "models.config"
    text = path.read_text()
    assert text.startswith("# two models\n# Written by 07_labels.py. Paths are as the server sees them")
    assert (
        "# file also needs --allow_version_labels_for_unavailable_models=true (see docs/labels.md).\n" in text
    )
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


def test_a_config_without_labels_needs_no_startup_flag(tmp_path):
    settings = settings_for(tmp_path, "emulator")
    settings.model_base_dir.mkdir(parents=True)
    text = model_config.write_config_file(
        settings, [{"name": MODEL_NAME, "versions": (1, 2)}], "two versions", "07_labels.py"
    ).read_text()
    assert "allow_version_labels_for_unavailable_models" not in text
    assert "specific {\n        versions: 1\n        versions: 2\n      }" in text
