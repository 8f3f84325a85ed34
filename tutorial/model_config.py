"""Model config files for chapters 7 and 8: what the server reads, and where it sees the models.

A ModelServerConfig lists models by name and base_path. The base_path must be a path the
*server* can open. In Docker, 03_start_server.sh mounts MODEL_BASE_DIR at /models, so the
server sees /models/MMModel; the emulator runs on this machine and sees the host folder.
models.config on disk always uses the container paths, as a file for the real server must
(03 gives the emulator a copy with host paths). A config sent over gRPC is read by the
running server as it is, so its paths are chosen by the backend that runs.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path
from typing import Required, TypedDict

from google.protobuf import text_format
from tensorflow_serving.config import model_server_config_pb2

from tutorial.chapter_scripts import display_command, script_command, shown
from tutorial.chapter_server import ChapterError, Server
from tutorial.server_backend import container_state
from tutorial.server_config import CONTAINER_MODELS_DIR
from tutorial.server_state import recorded_backend, recorded_mode
from tutorial.settings import Settings

# The file the server reads in config mode, written into MODEL_BASE_DIR (03 mounts that
# folder at /models in the container, so the file is /models/models.config there).
CONFIG_FILE_NAME = "models.config"


class Model(TypedDict, total=False):
    """One model of a config: its folder name, the versions to keep (default: the latest), labels."""

    name: Required[str]
    versions: tuple[int, ...]
    labels: dict[str, int]


def config_path(settings: Settings) -> Path:
    return settings.model_base_dir / CONFIG_FILE_NAME


def running_backend(settings: Settings) -> str:
    """docker or emulator: the backend of the running server.

    03_start_server.sh records the one it started in RUN_DIR/server.backend. Without that
    record, SERVING_BACKEND decides, and for "auto" whether our container is running.
    """
    recorded = recorded_backend(settings.run_dir)
    if recorded is not None:
        return recorded
    if settings.serving_backend != "auto":
        return settings.serving_backend
    return "docker" if container_state(settings.container_name) == "running" else "emulator"


def runs_from_config_file(settings: Settings) -> bool:
    """Whether the running server was started with ``--config`` (03 records "config FILE")."""
    return (recorded_mode(settings.run_dir) or "").startswith("config ")


def model_entry(
    name: str,
    base_path: str,
    versions: tuple[int, ...] = (),
    labels: dict[str, int] | None = None,
) -> model_server_config_pb2.ModelConfig:
    model = model_server_config_pb2.ModelConfig(name=name, base_path=base_path, model_platform="tensorflow")
    if versions:
        model.model_version_policy.specific.versions.extend(versions)
    for label, version in (labels or {}).items():
        model.version_labels[label] = version
    return model


def build_config(
    settings: Settings, models: list[Model], where: str
) -> model_server_config_pb2.ModelServerConfig:
    """``where``: "container" or "host" paths."""
    config = model_server_config_pb2.ModelServerConfig()
    for model in models:
        if where == "container":
            base_path = f"{CONTAINER_MODELS_DIR}/{model['name']}"
        else:
            base_path = str(settings.model_base_dir / model["name"])
        config.model_config_list.config.append(
            model_entry(model["name"], base_path, tuple(model.get("versions", ())), model.get("labels"))
        )
    return config


def paths_seen_by(backend: str) -> str:
    """The server in Docker sees the container's /models; the emulator sees this machine's folders."""
    return "container" if backend == "docker" else "host"


def write_config_file(settings: Settings, models: list[Model], purpose: str, writer: str) -> Path:
    """Write models.config (container paths), headed by comments saying what it is for."""
    config = build_config(settings, models, "container")
    path = config_path(settings)
    header = [
        purpose,
        f"Written by {writer}. Paths are as the server sees them in Docker, where",
        "03_start_server.sh mounts this folder at /models; start a server with it:",
        f"  ./03_start_server.sh start --config {CONFIG_FILE_NAME}",
    ]
    if any(model.get("labels") for model in models):
        header += [
            "TF Serving assigns labels before it loads versions, so a server *started* from this",
            "file also needs --allow_version_labels_for_unavailable_models=true (see docs/labels.md).",
        ]
    text = "".join(f"# {line}\n" for line in header) + text_format.MessageToString(config)
    # Written beside and renamed into place: a polling server never reads half a file.
    staging = path.with_name(f".{CONFIG_FILE_NAME}.tmp")
    staging.write_text(text, encoding="utf-8")
    os.replace(staging, path)
    return path


def show_config_file(path: Path) -> None:
    print(f"  {shown(path)}:")
    for line in path.read_text(encoding="utf-8").splitlines():
        if not line.startswith("#"):
            print(f"    {line}")


def apply_config(server: Server, models: list[Model], purpose: str, writer: str) -> None:
    """Write models.config, then send the same config to the running server.

    Both, because 03_start_server.sh starts the server with
    --model_config_file_poll_wait_seconds: it re-reads the file on every poll, and each
    read *replaces* the config, undoing a gRPC reload that the file does not also hold.
    The file is what survives a restart or a poll; the reload makes it take effect now.
    """
    settings = server.settings
    backend = running_backend(settings)
    write_config_file(settings, models, purpose, writer)
    if backend == "emulator":
        # Docker reads models.config through the mount. The emulator reads a copy with host
        # paths that 03_start_server.sh made; `start --config` on the running server
        # refreshes that copy (and changes nothing else).
        refresh = script_command("03_start_server.sh", "start", "--config", str(config_path(settings)))
        result = subprocess.run(refresh, capture_output=True, text=True, check=False)
        if result.returncode != 0:
            last = (result.stderr.strip() or result.stdout.strip() or "no output").splitlines()[-1]
            raise ChapterError(f"{display_command(refresh)} failed: {last}")
        print(f"  $ {display_command(refresh)}   (refreshes the emulator's copy)")
    config = build_config(settings, models, paths_seen_by(backend))
    where = (
        "inside the container, where the server runs"
        if backend == "docker"
        else "on this machine, where the emulator runs"
    )
    print(f"  HandleReloadConfigRequest (base paths {where}):")
    for line in text_format.MessageToString(config).splitlines():
        print(f"    {line}")
    server.reload(config)
    print("  -> OK")
