"""Fixtures shared by every test folder."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parent.parent
# Optional reference data (official test models, the blog's exports) beside the clone.
SHARED_DIR = REPO_ROOT.parent / "shared"

# Keep TensorFlow's C++ start-up chatter out of test logs and subprocess output.
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")


@pytest.fixture(scope="session")
def repo_root() -> Path:
    return REPO_ROOT


@pytest.fixture(scope="session")
def shared_testdata() -> Path:
    """``../shared/testdata``; tests that need it are skipped when it is absent."""
    path = SHARED_DIR / "testdata"
    if not path.is_dir():
        pytest.skip("reference data ../shared/testdata is not present")
    return path
