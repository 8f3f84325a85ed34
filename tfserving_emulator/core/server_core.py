"""Which versions of which models are loaded: TF Serving's ``ServerCore`` in small.

The pieces mirror the real server's:

* the file-system source (``file_system_storage_path_source.cc``) lists integer-named
  version directories under each base path and picks the *aspired* versions by the
  model's version policy (``latest`` N, ``all``, ``specific``);
* the ``AvailabilityPreservingPolicy`` decides, one action at a time, to load the highest
  new aspired version, or to unload the lowest version that is no longer aspired, but
  only once an aspired version is serving, so a model never goes dark during a swap;
* the state monitor remembers every version it has seen (``START``, ``LOADING``,
  ``AVAILABLE``, ``UNLOADING``, ``END``) for the status API;
* version labels map names such as ``stable`` to versions.

Loads run on the polling thread, one at a time, with TF Serving's retry policy
(``--max_num_load_retries`` after ``--load_retry_interval_micros``).
"""

from __future__ import annotations

import gc
import os
import re
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from ..util import log
from ..util.errors import ServingError, failed_precondition, invalid_argument, not_found
from .loader import LoadOptions, load_version
from .model_config import ModelConfig, ModelServerConfig, validate
from .servable import Servable

START, LOADING, AVAILABLE, UNLOADING, END = "START", "LOADING", "AVAILABLE", "UNLOADING", "END"
_WHERE = "tensorflow_serving/core"
_INT64_MAX = 2**63 - 1
_VERSION_DIR = re.compile(r"\s*[+-]?\d+\s*")


def parse_version_dir(name: str) -> int | None:
    """``strings::safe_strto64``: ``00000123`` is 123; ``v1``, ``0.1`` are not versions."""
    if not _VERSION_DIR.fullmatch(name):
        return None
    value = int(name)
    return value if -_INT64_MAX - 1 <= value <= _INT64_MAX else None


@dataclass
class CoreOptions:
    file_system_poll_wait_seconds: int = 1
    max_num_load_retries: int = 5
    load_retry_interval_seconds: float = 60.0
    allow_version_labels_for_unavailable_models: bool = False
    saved_model_tags: tuple[str, ...] = ("serve",)
    # --prefer_tflite_model and its interpreter pools (see loader.py).
    prefer_tflite_model: bool = False
    num_tflite_pools: int = 0
    num_tflite_interpreters_per_pool: int = 1
    # Called after each successful load, e.g. to replay warm-up requests.
    on_loaded: Callable[[Servable], None] | None = None
    metrics: Any = None  # a metrics.Metrics, handed to the loader
    batching: Any = None  # a batching.ServerBatching, handed to the loader


@dataclass
class VersionRecord:
    """What the state monitor knows about one version (kept after it is unloaded)."""

    version: int
    path: str
    state: str = START
    error: ServingError | None = None
    model: Servable | None = None
    aspired: bool = True
    managed: bool = True  # False once the manager has let go of it (unloaded or failed and un-aspired)


@dataclass
class ManagedModel:
    config: ModelConfig
    versions: dict[int, VersionRecord] = field(default_factory=dict)


class ServerCore:
    def __init__(self, options: CoreOptions):
        self.options = options
        self._lock = threading.Condition(threading.RLock())
        self._poll_lock = threading.Lock()
        self._models: dict[str, ManagedModel] = {}
        # The monitor's memory outlives a model's removal from the config.
        self._history: dict[str, dict[int, VersionRecord]] = {}
        self._labels: dict[str, dict[str, int]] = {}
        self._config = ModelServerConfig()
        self._stop = threading.Event()
        self._poll_thread: threading.Thread | None = None

    # -- configuration -----------------------------------------------------------------------

    @property
    def config(self) -> ModelServerConfig:
        return self._config

    def start(self, config: ModelServerConfig) -> None:
        """Load ``config`` and block until every model has an available version (or fail)."""
        validate(config)
        # ServerCore::ReloadConfig assigns labels *before* it loads the models, so at start-up
        # a label can only be set with --allow_version_labels_for_unavailable_models.
        self._update_labels(config)
        self._apply_model_list(config)
        self._start_polling()
        self._wait_until_available([m.name for m in config.model_config_list.config], "servable(s)")
        self._config = config

    def reload_config(self, config: ModelServerConfig) -> None:
        """``HandleReloadConfigRequest``: the new list replaces the old one.

        As in TF Serving, the labels are checked against what is loaded *now*: a version
        that this very config adds cannot be labelled in the same reload.
        """
        if config.WhichOneof("config") != "model_config_list":
            raise invalid_argument(
                "ServerModelConfig type not supported by HandleReloadConfigRequest. Only "
                "ModelConfigList is currently supported"
            )
        validate(config, previous=self._config)
        with self._lock:
            old_names = set(self._models)
        self._update_labels(config)
        self._apply_model_list(config)
        added = [m.name for m in config.model_config_list.config if m.name not in old_names]
        self._wait_until_available(added, "model(s)")
        self._config = config

    def _apply_model_list(self, config: ModelServerConfig) -> None:
        wanted = {m.name: m for m in config.model_config_list.config}
        with self._poll_lock:
            removed: list[tuple[str, ManagedModel]] = []
            with self._lock:
                for name in list(self._models):
                    if name not in wanted:
                        managed = self._models.pop(name)
                        self._labels.pop(name, None)
                        for record in managed.versions.values():
                            record.aspired = False
                        removed.append((name, managed))
                for name, model_config in wanted.items():
                    if name in self._models:
                        self._models[name].config = model_config
                    else:
                        versions = self._history.setdefault(name, {})
                        self._models[name] = ManagedModel(model_config, versions)
            # A model left out of the new list has no aspired versions: all are unloaded.
            for name, managed in removed:
                self._run_policy(name, managed)
            # Negative: "disable polling entirely causing ModelServer to indefinitely wait
            # for a new model at startup" (main.cc); no version is ever read.
            if self.options.file_system_poll_wait_seconds >= 0:
                self._poll_all()

    def _update_labels(self, config: ModelServerConfig) -> None:
        new_labels: dict[str, dict[str, int]] = {}
        with self._lock:
            for model in config.model_config_list.config:
                labels = dict(model.version_labels)
                for version in labels.values():
                    record = self._history.get(model.name, {}).get(version)
                    available = record is not None and record.state == AVAILABLE
                    if not available and not self.options.allow_version_labels_for_unavailable_models:
                        raise failed_precondition(
                            f"Request to assign label to version {version} of model {model.name}, "
                            "which is not currently available for inference"
                        )
                if labels:
                    new_labels[model.name] = labels
            self._labels = new_labels

    # -- polling ---------------------------------------------------------------------------

    def _start_polling(self) -> None:
        seconds = self.options.file_system_poll_wait_seconds
        if seconds <= 0 or self._poll_thread is not None:
            return  # 0: the file system is read once, at start-up (and on config reloads)

        def loop() -> None:
            while not self._stop.wait(seconds):
                with self._poll_lock:
                    self._poll_all()

        self._poll_thread = threading.Thread(target=loop, name="file-system-poll", daemon=True)
        self._poll_thread.start()

    def _poll_all(self) -> None:
        with self._lock:
            models = list(self._models.items())
        for name, managed in models:
            if self._stop.is_set():
                return
            aspired = self._aspired_versions(managed.config)
            if aspired is None:
                continue  # a file-system error leaves everything as it is
            with self._lock:
                for version, path in aspired.items():
                    record = managed.versions.get(version)
                    if record is None or not record.managed:
                        managed.versions[version] = VersionRecord(version, path)
                        self._lock.notify_all()
                for version, record in managed.versions.items():
                    record.aspired = version in aspired
            self._run_policy(name, managed)

    def _aspired_versions(self, config: ModelConfig) -> dict[int, str] | None:
        base = config.base_path
        if not os.path.exists(base):
            log.error(
                _WHERE,
                "FileSystemStoragePathSource encountered a filesystem access error: Could not find "
                f"base path {base} for servable {config.name} with error NOT_FOUND: {base}; "
                "No such file or directory",
            )
            return None
        try:
            children = sorted(os.listdir(base))
        except OSError as error:
            log.error(
                _WHERE,
                f"FileSystemStoragePathSource encountered a filesystem access error: {base}; {error.strerror}",
            )
            return None
        by_version: dict[int, str] = {}
        for child in children:
            version = parse_version_dir(child)
            if version is not None:
                by_version[version] = os.path.join(base, child)
        policy = config.model_version_policy
        choice = policy.WhichOneof("policy_choice")
        if choice == "all":
            aspired = dict(by_version)
        elif choice == "specific":
            wanted = list(policy.specific.versions)
            aspired = {v: p for v, p in by_version.items() if v in wanted}
            for version in wanted:
                if version not in aspired:
                    log.warning(
                        _WHERE,
                        f"Version {version} of servable {config.name}, which was requested to be served "
                        "as a 'specific' version in the servable's version policy, was not found in the "
                        "file system",
                    )
        else:  # unset or latest
            count = max(policy.latest.num_versions, 1) if choice == "latest" else 1
            newest = sorted(by_version, reverse=True)[:count]
            aspired = {v: by_version[v] for v in newest}
        if not aspired:
            log.warning(
                _WHERE,
                f"No versions of servable {config.name} found under base path {base}. "
                "Did you forget to name your leaf directory as a number (eg. '/1/')?",
            )
        return aspired

    # -- the availability-preserving policy ---------------------------------------------------

    def _run_policy(self, name: str, managed: ManagedModel) -> None:
        while not self._stop.is_set():
            with self._lock:
                action = self._next_action(managed)
            if action is None:
                return
            kind, record = action
            if kind == "unload":
                self._unload(name, record)
            else:
                self._load(name, record)

    def _next_action(self, managed: ManagedModel) -> tuple[str, VersionRecord] | None:
        live = [r for r in managed.versions.values() if r.managed]
        # Failed or never-loaded versions that are no longer aspired are simply forgotten.
        for record in live:
            if not record.aspired and record.state in (START, END):
                record.managed = False
        live = [r for r in live if r.managed]
        has_aspired = any(r.aspired for r in live)
        has_aspired_serving = any(r.aspired and r.state == AVAILABLE for r in live)
        unaspired_serving = [r for r in live if not r.aspired and r.state == AVAILABLE]
        if unaspired_serving and (not has_aspired or has_aspired_serving or len(unaspired_serving) > 1):
            return "unload", min(unaspired_serving, key=lambda r: r.version)
        new = [r for r in live if r.aspired and r.state == START]
        if new:
            return "load", max(new, key=lambda r: r.version)
        return None

    def _set_state(self, record: VersionRecord, state: str, error: ServingError | None = None) -> None:
        with self._lock:
            record.state = state
            record.error = error
            self._lock.notify_all()

    def _load(self, name: str, record: VersionRecord) -> None:
        self._set_state(record, LOADING)
        log.info(_WHERE, f"Loading servable version {{name: {name} version: {record.version}}}")
        attempts = self.options.max_num_load_retries + 1
        for attempt in range(attempts):
            try:
                model = load_version(name, record.version, record.path, self._load_options())
                if self.options.on_loaded:
                    self.options.on_loaded(model)
            except ServingError as error:
                log.error(
                    _WHERE,
                    f"Loading servable: {{name: {name} version: {record.version}}} failed: "
                    f"{error.status_string()}",
                )
                if attempt + 1 < attempts and not self._stop.wait(self.options.load_retry_interval_seconds):
                    log.info(
                        _WHERE,
                        f"Retrying load on servable version: {{name: {name} version: {record.version}}}",
                    )
                    continue
                self._set_state(record, END, error)
                return
            with self._lock:
                record.model = model
                self._set_state(record, AVAILABLE)
            log.info(
                _WHERE, f"Successfully loaded servable version {{name: {name} version: {record.version}}}"
            )
            # A loaded graph leaves ~300,000 long-lived Python objects; moving them out of the
            # collector's sight keeps every later full collection (and request) fast.
            gc.freeze()
            return

    def _load_options(self) -> LoadOptions:
        return LoadOptions(
            saved_model_tags=self.options.saved_model_tags,
            prefer_tflite_model=self.options.prefer_tflite_model,
            num_tflite_pools=self.options.num_tflite_pools,
            num_tflite_interpreters_per_pool=self.options.num_tflite_interpreters_per_pool,
            metrics=self.options.metrics,
            batching=self.options.batching,
        )

    def _unload(self, name: str, record: VersionRecord) -> None:
        with self._lock:
            model, record.model = record.model, None
            self._set_state(record, UNLOADING)
        if model is not None:
            model.close()  # waits for requests still using it
        with self._lock:
            record.managed = False
            self._set_state(record, END)
        log.info(_WHERE, f"Unloaded servable version {{name: {name} version: {record.version}}}")

    # -- waiting -----------------------------------------------------------------------------

    def _wait_until_available(self, names: list[str], noun: str) -> None:
        """Each model reaches AVAILABLE, or fails for good.

        At start-up TF Serving waits in ``load_servables_fast.cc`` ("servable(s)"), on a
        config reload in ``ServerCore::WaitUntilModelsAvailable`` ("model(s)").
        """

        def settled(name: str) -> bool:
            versions = self._history.get(name, {})
            if any(r.state == AVAILABLE for r in versions.values()):
                return True
            pending = [r for r in versions.values() if r.managed and r.state in (START, LOADING)]
            return bool(versions) and not pending and all(r.state == END for r in versions.values())

        with self._lock:
            while not self._stop.is_set() and not all(settled(n) for n in names):
                self._lock.wait(0.2)
            failed = [
                n for n in names if not any(r.state == AVAILABLE for r in self._history.get(n, {}).values())
            ]
            if failed:
                details = "".join(
                    f"{{{{name: {n} version: {r.version}}} due to error: "
                    + (r.error.status_string() if r.error else "unloaded")
                    + "}, "
                    for n in failed
                    for r in sorted(self._history.get(n, {}).values(), key=lambda r: -r.version)[:1]
                )
                raise ServingError("UNKNOWN", f"{len(failed)} {noun} did not become available: {{{details}}}")

    # -- serving -----------------------------------------------------------------------------

    def get_servable(self, name: str, version: int | None = None, label: str | None = None) -> Servable:
        """The version a request should use, acquired: ``release()`` it (or use ``with``)."""
        with self._lock:
            if label is not None:
                version = self._labels.get(name, {}).get(label)
                if version is None:
                    raise invalid_argument(f"Unrecognized servable version label: {label}")
            records = self._history.get(name, {})
            if version is None:
                available = [r for r in records.values() if r.state == AVAILABLE]
                if not available:
                    raise not_found(f"Servable not found for request: Latest({name})")
                record = max(available, key=lambda r: r.version)
            else:
                record = records.get(version)
                if record is None or record.state != AVAILABLE:
                    raise not_found(f"Servable not found for request: Specific({name}, {version})")
            return record.model.acquire()

    def version_status(self, name: str, version: int | None = None) -> list[VersionRecord]:
        """``GetModelStatus``: every version seen, newest first, or the one asked for."""
        with self._lock:
            records = self._history.get(name, {})
            if not records:
                raise not_found(f"Could not find any versions of model {name}")
            if version is not None:
                if version not in records:
                    raise not_found(f"Could not find version {version} of model {name}")
                return [_snapshot(records[version])]
            return [_snapshot(records[v]) for v in sorted(records, reverse=True)]

    def model_names(self) -> list[str]:
        with self._lock:
            return list(self._models)

    # -- shutdown ----------------------------------------------------------------------------

    def stop(self) -> None:
        self._stop.set()
        with self._lock:
            self._lock.notify_all()


def _snapshot(record: VersionRecord) -> VersionRecord:
    return VersionRecord(
        record.version, record.path, record.state, record.error, None, record.aspired, record.managed
    )
