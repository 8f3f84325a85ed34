"""Step 6: new versions with no downtime, version labels, and several models on one server.

What this teaches
-----------------
Part A, hot swap (``--part hot-swap``). TF Serving watches the model's folder. Export a
new version while clients keep sending requests: the server loads it, switches to it and
unloads the old one, and not one request fails. Then: pinning a request to a version.

Part B, labels (``--part labels``). A ``models.config`` chooses which versions stay loaded
(``model_version_policy``) and names them (``version_labels``). Clients ask for ``stable``
or ``canary``; you move the names, not the clients. A scripted canary -> promote ->
rollback, each step one ``HandleReloadConfigRequest`` over gRPC, with no restart.

Part C, several models (``--part multi-model``). The blog's three-model ``models.config``:
one server, three models, each asked for by name.

Run it
------
    python 02_train_and_export.py        # version 1, if you have not yet
    ./03_start_server.sh start
    python 06_versions_and_labels.py     # all three parts, in order (about a minute)
    python 06_versions_and_labels.py --part labels

Every step prints what it does and what the server answered. The script exits 1 with one
line saying what to do if anything goes wrong, including a single failed request during
the hot swap.
"""

# ---------------------------------------------------------------------------
# Setup
# ---------------------------------------------------------------------------

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import threading
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

from tutorial.quiet_tensorflow import import_tensorflow_quietly

# Keep TensorFlow's start-up chatter out of the output: its log level, and two "no GPU"
# notes that TensorFlow 2.21 prints at import before it reads that level.
import_tensorflow_quietly()

import grpc
import numpy as np
import requests
import tensorflow as tf
from google.protobuf import text_format
from tensorflow_serving.apis import (
    get_model_status_pb2,
    model_management_pb2,
    model_service_pb2_grpc,
    predict_pb2,
    prediction_service_pb2_grpc,
)
from tensorflow_serving.config import model_server_config_pb2

from tutorial.export import existing_versions
from tutorial.settings import REPO_ROOT, Settings, load_settings

PARTS = ("hot-swap", "labels", "multi-model")
# The versions Part B labels: the first model (stable) and the one trained after it.
STABLE_VERSION = 1
CANARY_VERSION = 2
# The file the server reads in config mode, written into MODEL_BASE_DIR (03 mounts that
# folder at /models in the container, so the file is /models/models.config there).
CONFIG_FILE_NAME = "models.config"
# Inside the container the model base directory is mounted here (03_start_server.sh).
CONTAINER_MODELS_DIR = "/models"
# Three points on the curve y = x^2 - 0.5, asked of every model.
PROBE_X = np.array([[-0.5], [0.0], [0.5]], dtype=np.float32)
SIGNATURE = "serving_default"  # x -> y; see 02_train_and_export.py
# A version appears within a second (the server polls every second) plus training time.
WAIT_TIMEOUT_SECONDS = 120.0
RPC_TIMEOUT_SECONDS = 10.0
# Reloading blocks until newly added models are AVAILABLE.
RELOAD_TIMEOUT_SECONDS = 120.0
# The server polls the model folder every second; give it some slack to list a new version.
NEW_VERSION_SEEN_SECONDS = 15.0
# Back from a models.config to serving the latest version of MODEL_NAME.
RESTART_PLAIN = "./03_start_server.sh stop && ./03_start_server.sh start"


class ChapterError(Exception):
    """Something the reader must fix; main() prints it as one line and exits 1."""


def section(title: str) -> None:
    print(f"\n==== {title} ====")


# ---------------------------------------------------------------------------
# Talking to the server: the calls every part uses
# ---------------------------------------------------------------------------
# gRPC for status, predict and reload (ModelService.HandleReloadConfigRequest has no REST
# equivalent); REST for predict and metadata by version or label, to show both URL forms.


class Server:
    def __init__(self, settings: Settings):
        self.settings = settings
        self.channel = grpc.insecure_channel(settings.grpc_target)
        self.predictions = prediction_service_pb2_grpc.PredictionServiceStub(self.channel)
        self.models = model_service_pb2_grpc.ModelServiceStub(self.channel)
        self.http = requests.Session()

    def close(self) -> None:
        self.channel.close()
        self.http.close()

    # -- gRPC -------------------------------------------------------------------------

    def status(self, model_name: str) -> dict[int, str]:
        """Version -> state name (AVAILABLE, END, ...), as GetModelStatus reports it."""
        request = get_model_status_pb2.GetModelStatusRequest()
        request.model_spec.name = model_name
        response = self.models.GetModelStatus(request, timeout=RPC_TIMEOUT_SECONDS)
        state_name = get_model_status_pb2.ModelVersionStatus.State.Name
        return {status.version: state_name(status.state) for status in response.model_version_status}

    def predict_grpc(
        self, model_name: str, version: int | None = None, label: str | None = None
    ) -> tuple[int, np.ndarray]:
        """Returns (the version that answered, y). ``version`` and ``label`` are alternatives."""
        request = predict_pb2.PredictRequest()
        request.model_spec.name = model_name
        request.model_spec.signature_name = SIGNATURE
        if version is not None:
            request.model_spec.version.value = version  # a google.protobuf.Int64Value
        if label is not None:
            request.model_spec.version_label = label
        request.inputs["x"].CopyFrom(tf.make_tensor_proto(PROBE_X))
        response = self.predictions.Predict(request, timeout=RPC_TIMEOUT_SECONDS)
        # The response's model_spec says which version actually ran.
        return response.model_spec.version.value, tf.make_ndarray(response.outputs["y"])

    def reload(self, config: model_server_config_pb2.ModelServerConfig) -> None:
        """ModelService.HandleReloadConfigRequest: the new list *replaces* the old one."""
        request = model_management_pb2.ReloadConfigRequest()
        request.config.CopyFrom(config)
        try:
            self.models.HandleReloadConfigRequest(request, timeout=RELOAD_TIMEOUT_SECONDS)
        except grpc.RpcError as err:
            raise ChapterError(
                f"the server refused the new config: {err.code().name}: {err.details()}"
            ) from None

    # -- REST -------------------------------------------------------------------------

    def model_url(self, model_name: str, version: int | None = None, label: str | None = None) -> str:
        url = f"{self.settings.rest_url}/v1/models/{model_name}"
        if version is not None:
            url += f"/versions/{version}"
        if label is not None:
            url += f"/labels/{label}"
        return url

    def predict_rest(
        self, model_name: str, version: int | None = None, label: str | None = None
    ) -> np.ndarray:
        url = self.model_url(model_name, version, label) + ":predict"
        body = {"signature_name": SIGNATURE, "instances": PROBE_X.tolist()}
        response = self.http.post(url, json=body, timeout=RPC_TIMEOUT_SECONDS)
        if response.status_code != 200:
            raise RestError(url, response)
        return np.asarray(response.json()["predictions"], dtype=np.float32)

    def metadata_version_rest(self, model_name: str, label: str) -> int:
        """GET .../labels/<label>/metadata: its model_spec.version is the version the label resolves to."""
        url = self.model_url(model_name, label=label) + "/metadata"
        response = self.http.get(url, timeout=RPC_TIMEOUT_SECONDS)
        if response.status_code != 200:
            raise RestError(url, response)
        return int(response.json()["model_spec"]["version"])


class RestError(Exception):
    def __init__(self, url: str, response: requests.Response):
        try:
            message = response.json()["error"]
        except (ValueError, KeyError, TypeError):
            message = response.text.strip()
        super().__init__(f"{response.status_code} {message}")
        self.status_code = response.status_code
        self.message = message


def grpc_error_text(err: grpc.RpcError) -> str:
    return f"{err.code().name}: {err.details()}"


def format_values(values: np.ndarray) -> str:
    return "[" + ", ".join(f"{value:+.4f}" for value in np.ravel(values)) + "]"


def format_states(states: dict[int, str]) -> str:
    return (
        ", ".join(f"{version} {state}" for version, state in sorted(states.items(), reverse=True)) or "none"
    )


def require_server(server: Server) -> dict[int, str]:
    """The status of the main model, or one line saying how to start the server."""
    name = server.settings.model_name
    try:
        return server.status(name)
    except grpc.RpcError as err:
        if err.code() == grpc.StatusCode.UNAVAILABLE:
            raise ChapterError(
                f"no TF Serving answers at {server.settings.grpc_target}; start it first: ./03_start_server.sh start"
            ) from None
        if err.code() == grpc.StatusCode.NOT_FOUND:
            raise ChapterError(
                f"the server does not serve {name} ({grpc_error_text(err)}); "
                f"restart it for this model: {RESTART_PLAIN}"
            ) from None
        raise ChapterError(f"GetModelStatus failed: {grpc_error_text(err)}") from None


def wait_for_states(
    server: Server, model_name: str, done, timeout: float = WAIT_TIMEOUT_SECONDS, show: bool = True
) -> dict[int, str]:
    """Poll GetModelStatus until ``done(states)``; print every change with the time it took."""
    start = time.monotonic()
    last = None
    while True:
        states = server.status(model_name)
        if show and states != last:
            print(f"  {time.monotonic() - start:5.1f} s  {model_name}: {format_states(states)}")
            last = states
        if done(states):
            return states
        if time.monotonic() - start > timeout:
            raise ChapterError(
                f"{model_name} did not reach the expected state within {timeout:g} s "
                f"(now: {format_states(states)}); see ./03_start_server.sh logs"
            )
        time.sleep(0.2)


# ---------------------------------------------------------------------------
# Running the other chapters' scripts
# ---------------------------------------------------------------------------
# Versions come from 02_train_and_export.py, exactly as a reader makes them; the server is
# started and stopped by 03_start_server.sh, which knows whether it is Docker or the emulator.


# The lines of their output worth repeating here; run a script yourself for all of it.
KEY_LINES = (
    "Exported version",
    "Final MSE",
    "+ ",
    "server stopped",
    "no server is running",
    "TF Serving is up",
)


def script_command(script: str, *arguments: str) -> list[str]:
    """Run a chapter's script by its full path from the reader's directory, as if they typed it.

    The scripts read relative MODEL_BASE_DIR/RUN_DIR from the environment as relative to the
    directory they are run from, so they must run from the same directory as this one.
    """
    path = str(REPO_ROOT / script)
    return [sys.executable, path, *arguments] if script.endswith(".py") else ["bash", path, *arguments]


def run_step(command: list[str], what: str) -> None:
    print(f"  $ {display_command(command)}")
    result = subprocess.run(command, capture_output=True, text=True, check=False)
    lines = (result.stdout + result.stderr).splitlines()
    if result.returncode != 0:
        # The end of the output says what went wrong (the scripts end with one error line).
        for line in lines[-15:]:
            print(f"  | {line}")
        last = next((line for line in reversed(lines) if line.strip()), "no output")
        raise ChapterError(f"{what} failed: {last}")
    for line in lines:
        if line.startswith(KEY_LINES):
            print(f"  | {line}")


def shown(path: str | Path) -> str:
    """A path as the reader would type it: relative to the current directory when inside it."""
    path = Path(path)
    if not path.is_absolute():
        return str(path)
    try:
        return str(path.relative_to(Path.cwd()))
    except ValueError:
        return str(path)


def display_command(command: list[str]) -> str:
    """``python 02_train_and_export.py ...`` or ``./03_start_server.sh ...``, with short paths."""
    interpreter, script, *arguments = command
    script = shown(script)
    if interpreter == sys.executable:
        words = ["python", script]
    else:
        words = [script if "/" in script else f"./{script}"]
    return " ".join(words + [shown(arg) if arg.startswith("/") else arg for arg in arguments])


@dataclass(frozen=True)
class Exporter:
    """Makes a version with 02_train_and_export.py, as a reader would."""

    main_model: str
    steps: int | None  # None: 02's default
    plot_dir: Path

    def export(self, model_dir: Path, version: int, seed: int) -> None:
        # 02 draws the fit to fit_v<version>.png; other models get their name in the file
        # name, or MMModel_2's version 1 would overwrite MMModel's.
        name = model_dir.name
        plot = self.plot_dir / (
            f"fit_v{version}.png" if name == self.main_model else f"fit_{name}_v{version}.png"
        )
        arguments = ["--model-dir", str(model_dir), "--version", str(version), "--seed", str(seed)]
        if self.steps is not None:
            arguments += ["--steps", str(self.steps)]
        arguments += ["--plot", str(plot)]
        command = script_command("02_train_and_export.py", *arguments)
        run_step(command, f"exporting version {version} to {model_dir}")


def server_script(*arguments: str) -> None:
    run_step(script_command("03_start_server.sh", *arguments), f"./03_start_server.sh {' '.join(arguments)}")


def config_path(settings: Settings) -> Path:
    return settings.model_base_dir / CONFIG_FILE_NAME


# ---------------------------------------------------------------------------
# Part A: a new version, with no downtime
# ---------------------------------------------------------------------------
# With the default version policy (latest, one version) TF Serving serves the highest
# version it finds. When a higher one appears it loads it *first*, and only when the new
# version is AVAILABLE does it unload the old one (its availability-preserving policy), so
# requests that name no version never find the model missing.


class StatusWatcher(threading.Thread):
    """Polls GetModelStatus and records each change of the versions' states, with its time."""

    def __init__(self, server: Server, model_name: str):
        super().__init__(daemon=True)
        self.server = server
        self.model_name = model_name
        self.stopping = threading.Event()
        self.changes: list[tuple[float, dict[int, str]]] = []

    def run(self) -> None:
        start = time.monotonic()
        while not self.stopping.is_set():
            try:
                states = self.server.status(self.model_name)
            except grpc.RpcError:
                states = None  # a server that stops answering shows up as failed requests
            if states is not None and (not self.changes or self.changes[-1][1] != states):
                self.changes.append((time.monotonic() - start, states))
            self.stopping.wait(0.05)

    def stop(self) -> None:
        self.stopping.set()
        self.join()


class LoadGenerator(threading.Thread):
    """Sends Predict requests back to back (gRPC and REST in turn) until stopped."""

    def __init__(self, server: Server, model_name: str):
        super().__init__(daemon=True)
        self.server = server
        self.model_name = model_name
        self.stopping = threading.Event()
        self.sent = 0
        self.failed = 0
        self.first_failure = ""
        self.answered_by: Counter[int] = Counter()  # gRPC answers per version

    def run(self) -> None:
        while not self.stopping.is_set():
            self.sent += 1
            try:
                if self.sent % 2:
                    version, _ = self.server.predict_grpc(self.model_name)
                    self.answered_by[version] += 1
                else:
                    self.server.predict_rest(self.model_name)
            except (grpc.RpcError, RestError, requests.RequestException) as err:
                self.failed += 1
                if not self.first_failure:
                    self.first_failure = grpc_error_text(err) if isinstance(err, grpc.RpcError) else str(err)

    def stop(self) -> None:
        self.stopping.set()
        self.join()


def part_hot_swap(server: Server, exporter: Exporter) -> None:
    settings = server.settings
    name = settings.model_name
    section("Part A: a new version while requests keep coming (hot swap)")

    states = require_server(server)
    print(f"Status of {name}: {format_states(states)}")
    available = [version for version, state in states.items() if state == "AVAILABLE"]
    if not available:
        raise ChapterError(f"{name} has no AVAILABLE version; check ./03_start_server.sh status")
    old_version = max(available)
    new_version = max([old_version, *existing_versions(settings.model_dir)]) + 1

    print(
        "\nA background thread sends requests without a version (= the latest), gRPC and REST in turn;"
        f"\nanother watches the status. Meanwhile, export version {new_version}:"
    )
    load = LoadGenerator(server, name)
    watcher = StatusWatcher(server, name)
    load.start()
    watcher.start()
    try:
        exporter.export(settings.model_dir, new_version, seed=new_version)
        # The server notices a new version at its next poll of the folder (every second).
        # A server whose models.config pins versions never lists it: say so, don't wait.
        try:
            wait_for_states(
                server, name, lambda s: new_version in s, timeout=NEW_VERSION_SEEN_SECONDS, show=False
            )
        except ChapterError:
            raise ChapterError(
                f"the server did not pick up version {new_version} within {NEW_VERSION_SEEN_SECONDS:g} s; "
                f"if it runs from a models.config that pins versions, serve the latest again: {RESTART_PLAIN}"
            ) from None
        wait_for_states(
            server,
            name,
            lambda s: s.get(new_version) == "AVAILABLE" and s.get(old_version) == "END",
            show=False,
        )
        time.sleep(1.0)  # a moment of traffic on the new version alone
    finally:
        load.stop()
        watcher.stop()

    print("\nWhat the status said, counted from the start of the export (the server polls the folder):")
    for seconds, states in watcher.changes:
        print(f"  {seconds:5.1f} s  {name}: {format_states(states)}")
    answers = ", ".join(f"version {version}: {count}" for version, count in sorted(load.answered_by.items()))
    print(f"\nRequests sent during the swap: {load.sent}, failed: {load.failed}")
    print(f"gRPC answers by version: {answers}")
    if load.failed:
        raise ChapterError(
            f"{load.failed} of {load.sent} requests failed during the swap (first: {load.first_failure}); "
            "see ./03_start_server.sh logs"
        )
    print("Zero failed requests: the new version took over with no downtime.")

    print("\nPinning a request to a version (gRPC model_spec.version, REST /versions/N):")
    answered, values = server.predict_grpc(name, version=new_version)
    print(f"  gRPC  version {new_version}: answered by version {answered}, y = {format_values(values)}")
    values = server.predict_rest(name, version=new_version)
    print(
        f"  REST  POST {server.model_url(name, version=new_version)}:predict -> y = {format_values(values)}"
    )

    print(f"\nVersion {old_version} is unloaded (END), so asking for it fails, on both APIs:")
    try:
        server.predict_grpc(name, version=old_version)
        raise ChapterError(f"version {old_version} still answered after it was unloaded")
    except grpc.RpcError as err:
        print(f"  gRPC  {grpc_error_text(err)}")
    try:
        server.predict_rest(name, version=old_version)
        raise ChapterError(f"version {old_version} still answered over REST after it was unloaded")
    except RestError as err:
        print(f"  REST  {err}")
    print("To keep several versions loaded and choose between them, use a version policy: Part B.")


# ---------------------------------------------------------------------------
# Model config files: what the server reads, and where it sees the models
# ---------------------------------------------------------------------------
# A ModelServerConfig lists models by name and base_path. The base_path must be a path the
# *server* can open. In Docker, 03_start_server.sh mounts MODEL_BASE_DIR at /models, so
# the server sees /models/MMModel; the emulator runs on this machine and sees the host
# folder. models.config on disk always uses the container paths, as a file for the real
# server must (03 gives the emulator a copy with host paths). A config sent over gRPC is
# read by the running server as it is, so its paths are chosen by the backend that runs.


def running_backend(settings: Settings) -> str:
    """docker or emulator: the backend of the running server.

    03_start_server.sh records the one it started in RUN_DIR/server.backend. Without that
    record, SERVING_BACKEND decides, and for "auto" whether our container is running.
    """
    recorded = settings.run_dir / "server.backend"
    if recorded.is_file():
        return recorded.read_text(encoding="utf-8").strip()
    if settings.serving_backend != "auto":
        return settings.serving_backend
    try:
        result = subprocess.run(
            ["docker", "container", "inspect", "-f", "{{.State.Running}}", settings.container_name],
            capture_output=True,
            text=True,
            timeout=30,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired):
        return "emulator"
    return "docker" if result.returncode == 0 and result.stdout.strip() == "true" else "emulator"


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
    settings: Settings, models: list[dict], where: str
) -> model_server_config_pb2.ModelServerConfig:
    """``models``: dicts of name, versions, labels. ``where``: "container" or "host" paths."""
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


def write_config_file(settings: Settings, models: list[dict], purpose: str) -> Path:
    config = build_config(settings, models, "container")
    path = config_path(settings)
    header = [
        purpose,
        "Written by 06_versions_and_labels.py. Paths are as the server sees them in Docker, where",
        "03_start_server.sh mounts this folder at /models; start a server with it:",
        f"  ./03_start_server.sh start --config {CONFIG_FILE_NAME}",
    ]
    if any(model.get("labels") for model in models):
        header += [
            "TF Serving assigns labels before it loads versions, so a server *started* from this",
            "file also needs --allow_version_labels_for_unavailable_models=true (see Part B).",
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


def apply_config(server: Server, models: list[dict], purpose: str) -> None:
    """Write models.config, then send the same config to the running server.

    Both, because 03_start_server.sh starts the server with
    --model_config_file_poll_wait_seconds: it re-reads the file on every poll, and each
    read *replaces* the config, undoing a gRPC reload that the file does not also hold.
    The file is what survives a restart or a poll; the reload makes it take effect now.
    """
    settings = server.settings
    backend = running_backend(settings)
    write_config_file(settings, models, purpose)
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


# ---------------------------------------------------------------------------
# Part B: labels, and a canary that is promoted, then rolled back
# ---------------------------------------------------------------------------


def ensure_versions(model_dir: Path, versions: tuple[int, ...], exporter: Exporter) -> None:
    """Export any of ``versions`` that does not exist yet (seed = version, like Part A)."""
    present = set(existing_versions(model_dir))
    for version in versions:
        if version not in present:
            print(f"{model_dir.name} has no version {version} yet; exporting it:")
            exporter.export(model_dir, version, seed=version)


def ask_by_label(server: Server, label: str, expected: int) -> None:
    """Ask for ``label`` over gRPC and REST and check that ``expected`` answers."""
    name = server.settings.model_name
    answered, values = server.predict_grpc(name, label=label)
    print(
        f"  gRPC  version_label={label!r:<9} -> answered by version {answered}, y = {format_values(values)}"
    )
    rest_values = server.predict_rest(name, label=label)
    rest_version = server.metadata_version_rest(name, label)
    print(
        f"  REST  /labels/{label}:predict{' ' * (8 - len(label))}-> y = {format_values(rest_values)}  "
        f"(/labels/{label}/metadata: version {rest_version})"
    )
    # The same numbers as a request pinned to that version: the label routed there.
    _, pinned = server.predict_grpc(name, version=expected)
    if answered != expected or rest_version != expected or not np.allclose(rest_values, pinned):
        raise ChapterError(
            f"label {label!r} should answer with version {expected}, but gRPC said {answered} "
            f"and REST metadata said {rest_version}"
        )


def labels_step(server: Server, title: str, labels: dict[str, int], why: str) -> None:
    name = server.settings.model_name
    print(f"\n-- {title}: {why}")
    models = [{"name": name, "versions": (STABLE_VERSION, CANARY_VERSION), "labels": labels}]
    apply_config(server, models, f"{name} versions {STABLE_VERSION} and {CANARY_VERSION}, labels {labels}")
    for label, version in labels.items():
        ask_by_label(server, label, version)


def part_labels(server: Server, exporter: Exporter) -> None:
    settings = server.settings
    name = settings.model_name
    section("Part B: version labels: canary, promote, rollback")
    both = (STABLE_VERSION, CANARY_VERSION)
    ensure_versions(settings.model_dir, both, exporter)

    # Step 1: a server that keeps both versions loaded. The labels come in step 2, by a
    # reload: TF Serving assigns labels *before* it loads the versions of a new config,
    # and refuses a label for a version that is not AVAILABLE yet ("Request to assign
    # label to version 2 of model MMModel, which is not currently available for
    # inference"), unless started with --allow_version_labels_for_unavailable_models.
    print(f"\nServe versions {STABLE_VERSION} and {CANARY_VERSION} side by side (version policy 'specific'):")
    path = write_config_file(
        settings,
        [{"name": name, "versions": both}],
        f"{name}: keep versions {STABLE_VERSION} and {CANARY_VERSION} loaded",
    )
    show_config_file(path)
    print("Restarting the server in config mode (it reads the file at start):")
    server_script("stop")
    server_script("start", "--config", str(config_path(settings)))
    wait_for_states(server, name, lambda s: all(s.get(v) == "AVAILABLE" for v in both))

    labels_step(
        server,
        "Canary",
        {"stable": STABLE_VERSION, "canary": CANARY_VERSION},
        f"most clients ask for 'stable' (version {STABLE_VERSION}); a few try 'canary' (version {CANARY_VERSION})",
    )
    labels_step(
        server,
        "Promote",
        {"stable": CANARY_VERSION, "canary": CANARY_VERSION},
        f"the canary looks good: 'stable' now means version {CANARY_VERSION}; no client changed anything",
    )
    labels_step(
        server,
        "Rollback",
        {"stable": STABLE_VERSION, "canary": CANARY_VERSION},
        f"a problem shows up: 'stable' goes back to version {STABLE_VERSION} in one reload",
    )
    print(
        f"\nThe server keeps versions {STABLE_VERSION} and {CANARY_VERSION} with these labels, and "
        f"{shown(config_path(settings))} says the same."
    )


# ---------------------------------------------------------------------------
# Part C: several models on one server
# ---------------------------------------------------------------------------
# The blog served MMModel, MMModel_2 and MMModel_3 from one models.config. Each model has
# its own folder of versions and its own name in requests; the default policy (latest)
# applies to each. Reloading with the three-model list adds the two new models (the call
# returns once they are AVAILABLE) and puts MMModel back on the latest-version policy.


def part_multi_model(server: Server, exporter: Exporter, in_config_mode: bool) -> None:
    settings = server.settings
    names = [settings.model_name, f"{settings.model_name}_2", f"{settings.model_name}_3"]
    section("Part C: three models on one server")
    for offset, name in enumerate(names[1:], start=1):
        model_dir = settings.model_base_dir / name
        if not existing_versions(model_dir):
            print(f"{name} has no version yet; exporting version 1:")
            # A different seed per model, so the three give (slightly) different answers.
            exporter.export(model_dir, 1, seed=10 * offset + 1)
    ensure_versions(settings.model_dir, (1,), exporter)

    models = [{"name": name} for name in names]
    purpose = f"The blog's three models: {', '.join(names)}"
    if in_config_mode:
        print("\nThe server already runs from a config file, so one reload adds the two models:")
        apply_config(server, models, purpose)
    else:
        print("\nRestarting the server in config mode with the three models:")
        show_config_file(write_config_file(settings, models, purpose))
        server_script("stop")
        server_script("start", "--config", str(config_path(settings)))

    print(f"\nEach model by name (x = {format_values(PROBE_X)}, true y = {format_values(PROBE_X**2 - 0.5)}):")
    for name in names:
        states = wait_for_states(server, name, lambda s: "AVAILABLE" in s.values(), show=False)
        answered, values = server.predict_grpc(name)
        rest_values = server.predict_rest(name)
        print(f"  {name:<10} gRPC: version {answered}, y = {format_values(values)}")
        print(f"  {'':<10} REST: y = {format_values(rest_values)}   (status: {format_states(states)})")
        if not np.allclose(values, rest_values, atol=1e-6):
            raise ChapterError(f"gRPC and REST answers differ for {name}")


# ---------------------------------------------------------------------------
# Putting it together
# ---------------------------------------------------------------------------


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description="Hot swap, version labels and several models on TF Serving.")
    parser.add_argument(
        "--part",
        choices=[*PARTS, "all"],
        default="all",
        help="which part to run (default: all, in order)",
    )
    parser.add_argument(
        "--train-steps",
        type=int,
        help="training steps for the versions this script exports (default: 02_train_and_export.py's)",
    )
    parser.add_argument(
        "--plot-dir",
        type=Path,
        default=REPO_ROOT / "results",
        help="where 02_train_and_export.py draws the fits of the versions made here (default results/)",
    )
    args = parser.parse_args(argv)
    if args.train_steps is not None and args.train_steps < 1:
        parser.error("--train-steps must be at least 1")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    settings = load_settings()
    print(settings.describe())
    parts = PARTS if args.part == "all" else (args.part,)
    exporter = Exporter(settings.model_name, args.train_steps, args.plot_dir.resolve())
    server = Server(settings)
    try:
        if "hot-swap" in parts:
            part_hot_swap(server, exporter)
        if "labels" in parts:
            part_labels(server, exporter)
        if "multi-model" in parts:
            part_multi_model(server, exporter, in_config_mode="labels" in parts)
    except ChapterError as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
    except grpc.RpcError as err:
        print(
            f"error: a gRPC call failed ({grpc_error_text(err)}); see ./03_start_server.sh logs",
            file=sys.stderr,
        )
        return 1
    except (RestError, requests.RequestException) as err:
        print(f"error: a REST call failed ({err}); see ./03_start_server.sh logs", file=sys.stderr)
        return 1
    finally:
        server.close()

    section("Where this leaves the server")
    print(describe_final_state(settings, parts))
    return 0


def describe_final_state(settings: Settings, parts: tuple[str, ...]) -> str:
    config_file = shown(config_path(settings))
    if "multi-model" in parts:
        return (
            f"Running from {config_file}: {settings.model_name}, {settings.model_name}_2 and "
            f"{settings.model_name}_3, each at its latest version. 04/05 clients work as before.\n"
            f"Back to the single model: {RESTART_PLAIN}"
        )
    if "labels" in parts:
        return (
            f"Running from {config_file}: {settings.model_name} versions {STABLE_VERSION} and {CANARY_VERSION}, "
            f"labels stable={STABLE_VERSION} and canary={CANARY_VERSION}. Try:\n"
            f"  curl {settings.rest_url}/v1/models/{settings.model_name}/labels/canary/metadata\n"
            f"Back to serving the latest version: {RESTART_PLAIN}"
        )
    return (
        f"Serving {settings.model_name} at its newest version, as before; export another and it takes over."
    )


if __name__ == "__main__":
    sys.exit(main())
