"""Fixtures for the shell-script tests: a sandbox per test, fakes on PATH."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent
REPO_ROOT = HERE.parents[1]
# `.venv/bin/pytest` does not put the checkout on sys.path, and importlib import mode does
# not add test folders: make `tutorial` and the harness importable.
for path in (REPO_ROOT, HERE):
    if str(path) not in sys.path:
        sys.path.insert(0, str(path))

from scripts_harness import ScriptSandbox  # noqa: E402


@pytest.fixture
def sandbox(tmp_path: Path) -> Iterator[ScriptSandbox]:
    """Settings in tmp_path, free ports, and the fake docker on PATH."""
    box = ScriptSandbox(tmp_path)
    box.install_fake("docker")
    try:
        yield box
    finally:
        box.cleanup()
