"""Fixtures for the tests of deploy/grafana: the deploy files, parsed once per session."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest
import yaml

HERE = Path(__file__).resolve().parent
REPO_ROOT = HERE.parents[1]
DEPLOY = REPO_ROOT / "deploy"
GRAFANA = DEPLOY / "grafana"

# importlib import mode does not put the checkout on sys.path: make `tutorial` and
# `tfserving_emulator` importable.
if str(REPO_ROOT) not in sys.path:
    sys.path.insert(0, str(REPO_ROOT))


def load_yaml(path: Path):
    return yaml.safe_load(path.read_text(encoding="utf-8"))


@pytest.fixture(scope="session")
def compose() -> dict:
    return load_yaml(DEPLOY / "docker-compose.yml")


@pytest.fixture(scope="session")
def dashboard() -> dict:
    return json.loads((GRAFANA / "dashboards" / "tf_serving.json").read_text(encoding="utf-8"))


@pytest.fixture(scope="session")
def datasources() -> dict:
    return load_yaml(GRAFANA / "provisioning" / "datasources" / "prometheus.yml")


@pytest.fixture(scope="session")
def dashboard_providers() -> dict:
    return load_yaml(GRAFANA / "provisioning" / "dashboards" / "dashboards.yml")
