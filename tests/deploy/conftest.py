"""Fixtures for the tests of deploy/grafana: the deploy files, parsed once per session."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
import yaml

HERE = Path(__file__).resolve().parent
REPO_ROOT = HERE.parents[1]
DEPLOY = REPO_ROOT / "deploy"
GRAFANA = DEPLOY / "grafana"

# importlib import mode does not put the checkout or this folder on sys.path: make
# `tutorial`, `tfserving_emulator` and the helpers here (dashboard_*.py) importable.
for path in (REPO_ROOT, HERE):
    if str(path) not in sys.path:
        sys.path.insert(0, str(path))


def load_yaml(path: Path):
    return yaml.safe_load(path.read_text(encoding="utf-8"))


@pytest.fixture(scope="session")
def compose() -> dict:
    return load_yaml(DEPLOY / "docker-compose.yml")


@pytest.fixture(scope="session")
def dashboard() -> dict:
    from dashboard_queries import load_dashboard

    return load_dashboard()


@pytest.fixture(scope="session")
def datasources() -> dict:
    return load_yaml(GRAFANA / "provisioning" / "datasources" / "prometheus.yml")


@pytest.fixture(scope="session")
def dashboard_providers() -> dict:
    return load_yaml(GRAFANA / "provisioning" / "dashboards" / "dashboards.yml")
