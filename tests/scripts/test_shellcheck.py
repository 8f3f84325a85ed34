"""Every shell script in the repository is shellcheck-clean and follows the house rules."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest
from scripts_harness import REPO_ROOT

SKIP_DIRS = {".venv", ".git", "node_modules", ".run", "downloads"}


def shell_scripts() -> list[Path]:
    return sorted(
        path
        for path in REPO_ROOT.rglob("*.sh")
        if not SKIP_DIRS.intersection(path.relative_to(REPO_ROOT).parts)
    )


def test_the_expected_scripts_exist():
    names = {path.relative_to(REPO_ROOT).as_posix() for path in shell_scripts()}
    assert {"01_install_serving.sh", "03_start_server.sh", "run_walkthrough.sh", "scripts/lib.sh"} <= names


@pytest.mark.skipif(shutil.which("shellcheck") is None, reason="shellcheck is not installed (CI installs it)")
@pytest.mark.parametrize("script", shell_scripts(), ids=lambda path: path.relative_to(REPO_ROOT).as_posix())
def test_shellcheck_clean(script: Path):
    result = subprocess.run(
        ["shellcheck", "-x", script.name], cwd=script.parent, capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize("script", shell_scripts(), ids=lambda path: path.relative_to(REPO_ROOT).as_posix())
def test_strict_mode_and_usage(script: Path):
    text = script.read_text()
    if script.name == "lib.sh":  # sourced: it inherits the caller's options
        assert text.startswith("# shellcheck shell=bash\n")
        return
    assert text.startswith("#!/usr/bin/env bash\n")
    assert "\nset -euo pipefail\n" in text
    assert "usage: " in text.lower()
    assert script.stat().st_mode & 0o111, f"{script.name} is not executable"
