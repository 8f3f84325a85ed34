"""Chapter 8 on its own: from a server of one model, it restarts the server with the three-model file."""

from __future__ import annotations

from chapter_checks import (
    POLL_SECONDS,
    SEVERAL_MODELS,
    check_several_models_output,
    check_three_models_served,
    run_chapter,
)
from chapter_sandbox import Sandbox


def test_from_a_single_model_server_it_restarts_in_config_mode(emulator_sandbox: Sandbox):
    box = emulator_sandbox
    box.env["MODEL_CONFIG_POLL_SECONDS"] = POLL_SECONDS
    started = box.server("start")
    assert started.returncode == 0, started.stdout + started.stderr

    result = run_chapter(box, SEVERAL_MODELS)
    assert result.returncode == 0, result.stdout + result.stderr
    out = result.stdout
    check_several_models_output(out)
    assert "Restarting the server in config mode with the three models:" in out
    assert "HandleReloadConfigRequest" not in out  # a restart, not a reload
    assert f"$ ./03_start_server.sh start --config {box.base_dir / 'models.config'}" in out
    assert "MMModel_2 has no version yet; exporting version 1:" in out
    assert "MMModel_3 has no version yet; exporting version 1:" in out
    # MMModel had only version 1, which answers.
    assert "  MMModel    gRPC: version 1, y = [" in out
    assert sorted(p.name for p in (box.root / "plots").iterdir()) == [
        "fit_MMModel_2_v1.png",
        "fit_MMModel_3_v1.png",
    ]
    check_three_models_served(box)
