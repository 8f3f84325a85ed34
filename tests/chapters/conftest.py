"""Fixtures for the tests of chapters 6 to 9 and of deploy/: exports and servers.

The sandboxes themselves are in chapter_sandbox.py. Test modules import from there, not from
``conftest``: another test folder's conftest would answer to that name.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent
for path in (HERE.parents[1], HERE):
    if str(path) not in sys.path:
        sys.path.insert(0, str(path))

from chapter_sandbox import MODEL_NAME, REPO_ROOT, TEST_TRAIN_STEPS, Sandbox, make_sandbox  # noqa: E402


@pytest.fixture(scope="session")
def model_template(tmp_path_factory) -> Path:
    """MODEL_BASE_DIR with MMModel/1, exported once by 02_train_and_export.py; copy it, don't serve it."""
    base_dir = tmp_path_factory.mktemp("template") / "trained_models"
    result = subprocess.run(
        [
            sys.executable,
            str(REPO_ROOT / "02_train_and_export.py"),
            "--steps",
            str(TEST_TRAIN_STEPS),
            "--model-dir",
            str(base_dir / MODEL_NAME),
            "--plot",
            str(base_dir.parent / "fit.png"),
        ],
        cwd=REPO_ROOT,
        env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"},
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert (base_dir / MODEL_NAME / "1" / "saved_model.pb").is_file()
    return base_dir


@pytest.fixture
def emulator_sandbox(tmp_path: Path, model_template: Path) -> Iterator[Sandbox]:
    """A sandbox for the emulator backend holding MMModel/1; any server it starts is stopped."""
    box = make_sandbox(tmp_path, "emulator")
    shutil.copytree(model_template, box.base_dir)
    try:
        yield box
    finally:
        box.server("stop")
