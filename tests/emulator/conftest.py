"""Fixtures for the emulator conformance suite: generated models and running servers.

Every model the suite serves is generated into pytest's temporary directories, so the
suite needs nothing but the repository: half_plus_two comes from
``tutorial.make_half_plus_two`` (built once, then copied), and a small "toolbox" model
with several odd signatures is built by ``emulator_harness.build_toolbox_model``.

Servers are expensive (each one is a process that imports TensorFlow), so each
configuration is started once per module or session and shared by its tests.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent
REPO_ROOT = HERE.parents[1]
# `.venv/bin/pytest` does not put the checkout on sys.path, and importlib import mode does
# not add test folders: make `tutorial`, `tfserving_emulator` and the harness importable.
for path in (REPO_ROOT, HERE):
    if str(path) not in sys.path:
        sys.path.insert(0, str(path))

from emulator_harness import (  # noqa: E402
    HALF_PLUS_TWO_VERSION,
    Grpc,
    Rest,
    Served,
    build_toolbox_model,
    install_version,
    model_config_text,
    read_signature_defs,
    serve,
)

# ---------------------------------------------------------------------------
# Fixtures: models
# ---------------------------------------------------------------------------


@pytest.fixture(scope="session")
def half_plus_two_version_dir(tmp_path_factory) -> Path:
    """One generated half_plus_two (…/00000123); copy it, never serve it in place."""
    from tutorial.make_half_plus_two import make_half_plus_two

    return make_half_plus_two(tmp_path_factory.mktemp("template") / "half_plus_two", HALF_PLUS_TWO_VERSION)


@pytest.fixture(scope="session")
def toolbox_version_dir(tmp_path_factory) -> Path:
    export_dir = tmp_path_factory.mktemp("template") / "toolbox" / "1"
    build_toolbox_model(export_dir)
    return export_dir


@pytest.fixture(scope="session")
def shared_tf_serving(shared_testdata) -> Path:
    path = shared_testdata / "tensorflow_serving"
    if not path.is_dir():
        pytest.skip("reference data ../shared/testdata/tensorflow_serving is not present")
    return path


@pytest.fixture(scope="session")
def copy_into(tmp_path_factory) -> Callable[..., Path]:
    """``copy_into(version_dir, name, version)`` -> a fresh base path holding that one version."""

    def copy(source_version_dir: Path, name: str, version: int | str) -> Path:
        base = tmp_path_factory.mktemp("models") / name
        install_version(source_version_dir, base, version)
        return base

    return copy


# ---------------------------------------------------------------------------
# Fixtures: the main server
# ---------------------------------------------------------------------------


@pytest.fixture(scope="session")
def main_server(tmp_path_factory, half_plus_two_version_dir, toolbox_version_dir) -> Iterator[Served]:
    """half_plus_two (version 123, zero-padded dir), the same model as `default`, and `toolbox`.

    The half_plus_two base path also holds directories that are not versions
    (``v2``, ``0.5``, ``.hidden``), which must be ignored.
    """
    root = tmp_path_factory.mktemp("main")
    hpt_base = root / "half_plus_two"
    install_version(half_plus_two_version_dir, hpt_base, half_plus_two_version_dir.name)
    for ignored in ("v2", "0.5", ".hidden"):
        install_version(half_plus_two_version_dir, hpt_base, ignored)
    default_base = root / "default"
    install_version(half_plus_two_version_dir, default_base, half_plus_two_version_dir.name)
    toolbox_base = root / "toolbox"
    install_version(toolbox_version_dir, toolbox_base, 1)
    config = root / "models.config"
    config.write_text(
        model_config_text(
            [
                {"name": "half_plus_two", "base_path": hpt_base},
                {"name": "default", "base_path": default_base},
                {"name": "toolbox", "base_path": toolbox_base},
            ]
        )
    )
    with serve([f"--model_config_file={config}"]) as served:
        yield served


@pytest.fixture(scope="session")
def rest(main_server) -> Rest:
    return main_server.rest


@pytest.fixture(scope="session")
def stubs(main_server) -> Grpc:
    return main_server.grpc


@pytest.fixture(scope="session")
def half_plus_two_signatures(half_plus_two_version_dir) -> dict:
    return read_signature_defs(half_plus_two_version_dir)
