"""Which loader a version directory gets: ``SavedModelBundleFactory`` in small.

TF Serving (``servables/tensorflow/saved_model_bundle_factory.cc``) loads
``model.tflite`` with TF Lite when ``--prefer_tflite_model`` is set and that file
exists, and the SavedModel otherwise; before loading a SavedModel,
``session_bundle/oss/session_bundle_util.cc`` refuses the old SessionBundle format
and directories with no SavedModel in them, in the words used here.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass
from typing import Any

from ..util.errors import ServingError
from .servable import Servable

TFLITE_FILE = "model.tflite"  # kTfLiteModelFilename
SAVED_MODEL_FILES = ("saved_model.pb", "saved_model.pbtxt")
SESSION_BUNDLE_FILE = "export.meta"


@dataclass(frozen=True)
class LoadOptions:
    """The ``SessionBundleConfig`` fields the emulator acts on."""

    saved_model_tags: tuple[str, ...] = ("serve",)
    prefer_tflite_model: bool = False
    # 0 means one interpreter per schedulable CPU, the binary's default.
    num_tflite_pools: int = 0
    num_tflite_interpreters_per_pool: int = 1
    # A metrics.Metrics that counts SavedModel loads, as TensorFlow's LoadSavedModel does.
    metrics: Any = None
    # --enable_batching: a batching.ServerBatching that wraps each loaded version's run.
    batching: Any = None


def schedulable_cpus() -> int:
    """``port::NumSchedulableCPUs()``."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def load_version(name: str, version: int, path: str, options: LoadOptions) -> Servable:
    """Load one version directory, or raise the ``ServingError`` TF Serving reports."""
    if options.prefer_tflite_model and os.path.exists(os.path.join(path, TFLITE_FILE)):
        from ..servables.tflite_model import TfLiteModel

        pools = options.num_tflite_pools or schedulable_cpus()
        model = TfLiteModel(name, version, path, pools, options.num_tflite_interpreters_per_pool)
        return options.batching.wrap(model, path) if options.batching else model
    if os.path.exists(os.path.join(path, SESSION_BUNDLE_FILE)):
        raise ServingError("UNIMPLEMENTED", "Session Bundle is deprecated and removed.")
    if not any(os.path.exists(os.path.join(path, f)) for f in SAVED_MODEL_FILES):
        raise ServingError(
            "NOT_FOUND",
            "Specified file path does not appear to contain a SavedModel bundle (should have a "
            f"file called `saved_model.pb`)\nSpecified file path: {path}",
        )
    from ..servables.saved_model import LoadedModel

    # cc/saved_model/loader.cc counts this call, and only this one (not the checks above, not
    # TF Lite): load_attempt_count{model_path,status} and load_latency{model_path} in us.
    start = time.perf_counter()
    status = "fail"
    try:
        model = LoadedModel(name, version, path, options.saved_model_tags)
        status = "success"
    finally:
        if options.metrics is not None:
            options.metrics.record_load(path, status, (time.perf_counter() - start) * 1e6)
    # After the load is counted: TF Serving wraps the loaded session (bundle_factory_util.cc).
    return options.batching.wrap(model, path) if options.batching else model
