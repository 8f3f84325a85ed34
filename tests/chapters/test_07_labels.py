"""Chapter 7 on its own, from another directory, with relative paths; version 2 made on demand."""

from __future__ import annotations

import re

from chapter_checks import (
    LABEL_ANSWERS,
    LABELS,
    POLL_SECONDS,
    check_labels_output,
    read_config_file,
    run_chapter,
)
from chapter_sandbox import REPO_ROOT, Sandbox


def test_labels_alone_from_another_directory_with_relative_paths(emulator_sandbox: Sandbox):
    """MODEL_BASE_DIR and RUN_DIR relative to where the reader runs it; version 2 made on demand."""
    box = emulator_sandbox
    box.env.update(MODEL_BASE_DIR="trained_models", RUN_DIR="run", MODEL_CONFIG_POLL_SECONDS=POLL_SECONDS)
    started = box.server("start", cwd=box.root)
    assert started.returncode == 0, started.stdout + started.stderr
    try:
        result = run_chapter(box, LABELS, cwd=box.root)
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
    check_labels_output(out)
    assert (
        "Running from trained_models/models.config: MMModel versions 1 and 2, labels stable=1 and canary=2"
        in out
    )
    # Only this chapter's sections: nothing of chapter 6 or 8 ran.
    assert re.findall(r"^==== (.*) ====$", out, re.MULTILINE) == [
        "Version labels: canary, promote, rollback",
        "Where this leaves the server",
    ]
    assert dict(read_config_file(box.root / "trained_models").model_config_list.config[0].version_labels) == {
        "stable": 1,
        "canary": 2,
    }
    header = (box.root / "trained_models" / "models.config").read_text().splitlines()[1]
    assert header == "# Written by 07_labels.py. Paths are as the server sees them in Docker, where"
