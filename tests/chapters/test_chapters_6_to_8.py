"""Chapters 6, 7 and 8 in a row, as a reader runs them: on the emulator and through a fake Docker."""

from __future__ import annotations

from pathlib import Path

import fake_docker
from chapter_checks import (
    POLL_SECONDS,
    check_hot_swap_output,
    check_labels_output,
    check_several_models_output,
    check_three_models_served,
    make_docker_sandbox,
    run_chapters_6_to_8,
)
from chapter_sandbox import Sandbox
from google.protobuf import text_format
from tensorflow_serving.config import model_server_config_pb2


def check_all_outputs(output: str) -> None:
    check_hot_swap_output(output)
    check_labels_output(output)
    check_several_models_output(output)


def test_chapters_6_to_8_on_the_emulator(emulator_sandbox: Sandbox):
    box = emulator_sandbox
    box.env["MODEL_CONFIG_POLL_SECONDS"] = POLL_SECONDS
    started = box.server("start")
    assert started.returncode == 0, started.stdout + started.stderr

    output = run_chapters_6_to_8(box)
    check_all_outputs(output)
    refresh = f"$ ./03_start_server.sh start --config {box.base_dir / 'models.config'}   (refreshes the emulator's copy)"
    assert refresh in output
    # Chapter 8 found the server in config mode (chapter 7 left it so): one reload, no restart.
    assert "The server already runs from a config file, so one reload adds the two models:" in output
    for version_dir in ("MMModel/2", "MMModel_2/1", "MMModel_3/1"):
        assert (box.base_dir / version_dir / "saved_model.pb").is_file(), version_dir
    # One plot per export, named so that no model's plot overwrites another's.
    assert sorted(p.name for p in (box.root / "plots").iterdir()) == [
        "fit_MMModel_2_v1.png",
        "fit_MMModel_3_v1.png",
        "fit_v2.png",
    ]
    check_three_models_served(box)


def test_docker_variant_sends_container_paths(tmp_path: Path, model_template: Path):
    """SERVING_BACKEND=docker through a fake docker whose containers run the emulator."""
    box, docker_state = make_docker_sandbox(tmp_path, model_template)
    box.env["MODEL_CONFIG_POLL_SECONDS"] = POLL_SECONDS
    try:
        started = box.server("start")
        assert started.returncode == 0, started.stdout + started.stderr
        output = run_chapters_6_to_8(box)
        check_all_outputs(output)
        assert "refreshes the emulator's copy" not in output
        check_three_models_served(box)
    finally:
        box.server("stop")

    runs = [call[1:] for call in fake_docker.calls(docker_state) if call[:1] == ["run"]]
    assert len(runs) == 2  # 03 start, then chapter 7's restart in config mode
    config_run = runs[1]
    assert f"type=bind,source={box.base_dir},target=/models" in config_run
    image_index = config_run.index("tensorflow/serving:2.21.0")
    assert config_run[image_index + 1 :] == [
        "--allow_version_labels_for_unavailable_models=true",
        "--model_config_file=/models/models.config",
        f"--model_config_file_poll_wait_seconds={POLL_SECONDS}",
    ]

    reloads = fake_docker.reloads(docker_state, box.env["TF_SERVING_CONTAINER"])
    assert len(reloads) == 4  # canary, promote, rollback (chapter 7), three models (chapter 8)
    for text in reloads:
        config = model_server_config_pb2.ModelServerConfig()
        text_format.Parse(text, config)
        for model in config.model_config_list.config:
            assert model.base_path == f"/models/{model.name}"
    assert 'version_labels {\n      key: "stable"\n      value: 2\n    }' in reloads[1]
