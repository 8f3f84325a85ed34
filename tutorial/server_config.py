"""The models.config that ``03_start_server.sh start --config FILE`` serves.

A ModelServerConfig text file lists models by name and base_path. 03 mounts the whole
MODEL_BASE_DIR at /models in the container, so the file must lie inside MODEL_BASE_DIR
and its base paths must be container paths, /models/<folder>. This module reads the
file with protobuf's text_format (the parser TF Serving itself uses), checks each model
folder the way TF Serving will load it, and writes the emulator's copy, which runs on the
host and so needs host paths.

It needs protobuf and tensorflow-serving-api (requirements.txt); only config mode imports it.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from tutorial.model_layout import LayoutError, check_base_dir, check_model_dir
from tutorial.settings import caller_cwd, display_path, resolve_path

# Where 03_start_server.sh mounts MODEL_BASE_DIR inside the container.
CONTAINER_MODELS_DIR = "/models"
EXAMPLE_CONFIG = (
    "model_config_list { config { name: '...' base_path: '/models/...' model_platform: 'tensorflow' } }"
)


class ConfigError(LayoutError):
    """What is wrong with the config file and how to fix it, as one line (a model folder
    it names that TF Serving would not load is a LayoutError, and reported the same way)."""


@dataclass(frozen=True)
class ServedConfig:
    host_path: Path  # symlink-free, as the mount compares it
    container_path: str  # the same file as the container sees it
    model_names: tuple[str, ...]


def _proto_modules():
    try:
        from google.protobuf import text_format
        from tensorflow_serving.config import model_server_config_pb2
    except ImportError as err:
        raise ConfigError(
            f"reading a models.config needs protobuf and tensorflow-serving-api ({err}); install the "
            "requirements: python3 -m pip install -r requirements.txt (./run_walkthrough.sh does it)"
        ) from None
    return text_format, model_server_config_pb2


def resolve_config_file(given: str, base_dir: Path) -> tuple[Path, str]:
    """(host path, container path) of --config GIVEN: relative to the caller's directory,
    or else to MODEL_BASE_DIR; it must lie inside MODEL_BASE_DIR, the one folder the
    container sees."""
    check_base_dir(base_dir)
    path = resolve_path(caller_cwd(), given)
    if not path.is_file() and not os.path.isabs(given) and (base_dir / given).is_file():
        path = resolve_path(base_dir, given)
    if not path.is_file():
        raise ConfigError(
            f"config file {given} not found; write a ModelServerConfig file inside {display_path(base_dir)} "
            "(see docs/several_models.md) and pass its path"
        )
    # Compare symlink-free paths: the same folder can be reached through a symlinked
    # directory (e.g. a home folder that links to a data disk).
    real, real_base = path.resolve(), base_dir.resolve()
    if real_base not in real.parents:
        raise ConfigError(
            f"config file {given} is outside MODEL_BASE_DIR; move it into {display_path(base_dir)}/, the folder "
            f"mounted at {CONTAINER_MODELS_DIR} in the container, and pass that path"
        )
    return real, f"{CONTAINER_MODELS_DIR}/{real.relative_to(real_base).as_posix()}"


def parse_config(path: Path):
    """The file as a ModelServerConfig message; a syntax error is one line with its position."""
    text_format, pb2 = _proto_modules()
    try:
        return text_format.Parse(path.read_text(encoding="utf-8"), pb2.ModelServerConfig())
    except text_format.ParseError as err:
        # str(err) is "LINE:COLUMN : detail"; say it in words.
        where, _, detail = str(err).partition(" : ")
        if err.GetLine() is not None:
            where = f"line {err.GetLine()}, column {err.GetColumn()}"
        raise ConfigError(
            f"{display_path(path)} is not a valid ModelServerConfig ({where}: {detail or where}); fix that line, "
            f"e.g. {EXAMPLE_CONFIG}"
        ) from None
    except UnicodeDecodeError:
        raise ConfigError(f"{display_path(path)} is not UTF-8 text; save it as UTF-8 text") from None


def host_dir_of(base_path: str, base_dir: Path, shown_config: str) -> Path:
    """The host folder behind a container base_path, or ConfigError saying how to write it."""
    shown_base = display_path(base_dir)
    folder = base_path.removeprefix(f"{CONTAINER_MODELS_DIR}/").rstrip("/")
    if not base_path.startswith(f"{CONTAINER_MODELS_DIR}/") or not folder:
        if base_path.startswith(f"{base_dir}/"):
            raise ConfigError(
                f"base_path '{base_path}' in {shown_config} is a host path, but the server reads it inside the "
                f"container: write base_path: '{CONTAINER_MODELS_DIR}/{base_path[len(str(base_dir)) + 1 :]}'"
            )
        raise ConfigError(
            f"base_path '{base_path}' in {shown_config} is not a container path; MODEL_BASE_DIR is mounted at "
            f"{CONTAINER_MODELS_DIR}, so write base_path: '{CONTAINER_MODELS_DIR}/<folder in {shown_base}>'"
        )
    host_dir = resolve_path(base_dir, folder)
    if not host_dir.is_dir():
        raise ConfigError(
            f"base_path '{base_path}' in {shown_config} means {display_path(host_dir)} on this machine "
            f"(MODEL_BASE_DIR is mounted at {CONTAINER_MODELS_DIR}), which does not exist; write base_path: "
            f"'{CONTAINER_MODELS_DIR}/<folder in {shown_base}>'"
        )
    return host_dir


def check_config(given: str, base_dir: Path) -> ServedConfig:
    """Resolve, parse and check --config GIVEN; every model must be servable as laid out."""
    host_path, container_path = resolve_config_file(given, base_dir)
    shown = display_path(host_path)
    configs = parse_config(host_path).model_config_list.config
    if not configs:
        raise ConfigError(f"{shown} lists no model (no base_path); write {EXAMPLE_CONFIG}")
    for config in configs:
        if not config.base_path:
            raise ConfigError(
                f"{shown} has a model without a base_path ({config.name or 'no name either'}); write base_path: "
                f"'{CONTAINER_MODELS_DIR}/<folder>'"
            )
        if not config.name:
            raise ConfigError(f"{shown} has a base_path without a name; give every config a name: '...'")
        check_model_dir(host_dir_of(config.base_path, base_dir, shown), base_dir)
    return ServedConfig(host_path, container_path, tuple(config.name for config in configs))


def write_emulator_copy(config_file: Path, base_dir: Path, run_dir: Path) -> Path:
    """RUN_DIR/<file name>: the config with /models/ replaced by the host MODEL_BASE_DIR.

    Written to a temporary file and renamed, because the running server re-reads it and
    must never see half a file.
    """
    text_format, _ = _proto_modules()
    config = parse_config(config_file)
    for model in config.model_config_list.config:
        if model.base_path.startswith(f"{CONTAINER_MODELS_DIR}/"):
            model.base_path = f"{base_dir}/{model.base_path.removeprefix(f'{CONTAINER_MODELS_DIR}/')}"
    run_dir.mkdir(parents=True, exist_ok=True)
    copy = run_dir / config_file.name
    partial = copy.with_name(f"{copy.name}.tmp")
    partial.write_text(text_format.MessageToString(config, as_utf8=True), encoding="utf-8")
    partial.replace(copy)
    return copy
