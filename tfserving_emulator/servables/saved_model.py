"""Load one SavedModel version the way the C++ model server does, and run it.

TF Serving calls ``LoadSavedModel`` (``tensorflow/cc/saved_model/loader.cc``): it imports
the MetaGraph tagged ``serve`` into a fresh graph, restores the variables into a
session and runs the init op. We use the Python binding of the same loader,
``tf.compat.v1.saved_model.loader.load``, and not eager ``tf.saved_model.load``:
the eager loader rebuilds Python objects and can succeed where the session loader
fails (for example a Keras 3 layer kept inside a ``tf.Module`` exports variables the
session loader cannot find), and the emulator must refuse exactly what TF Serving
refuses.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Sequence

import numpy as np
import tensorflow as tf
from google.protobuf import text_format
from google.protobuf.message import DecodeError
from tensorflow.core.protobuf import config_pb2, meta_graph_pb2, saved_model_pb2

from ..core import turns
from ..core.servable import Servable
from ..util.errors import ServingError
from . import custom_ops

# tensorflow.errors.OpError.error_code -> absl code name.
_TF_CODE_NAMES = {
    1: "CANCELLED",
    2: "UNKNOWN",
    3: "INVALID_ARGUMENT",
    4: "DEADLINE_EXCEEDED",
    5: "NOT_FOUND",
    6: "ALREADY_EXISTS",
    7: "PERMISSION_DENIED",
    8: "RESOURCE_EXHAUSTED",
    9: "FAILED_PRECONDITION",
    10: "ABORTED",
    11: "OUT_OF_RANGE",
    12: "UNIMPLEMENTED",
    13: "INTERNAL",
    14: "UNAVAILABLE",
    15: "DATA_LOSS",
    16: "UNAUTHENTICATED",
}

# A model run at least this long hands the request's turn over while it runs.
LONG_RUN_SECONDS = 0.001

# The session loader is "deprecated" in TF 2 only as a Python API; it is still the loader
# TF Serving uses, so its deprecation warning would only mislead readers of the log.
tf.get_logger().setLevel("ERROR")


# SessionBundleConfig.session_config: one ConfigProto for every session the server opens
# (--tensorflow_session_config_file and the parallelism flags; see server.py).
_session_config = config_pb2.ConfigProto()


def configure_sessions(config: config_pb2.ConfigProto) -> None:
    global _session_config
    _session_config = config_pb2.ConfigProto()
    _session_config.CopyFrom(config)


def session_config() -> config_pb2.ConfigProto:
    """The ConfigProto a version's session is created with."""
    # Soft placement stays on, so a graph exported with GPU device pins runs on the CPU.
    config = config_pb2.ConfigProto(allow_soft_placement=True)
    config.MergeFrom(_session_config)
    return config


def from_tf_error(error: tf.errors.OpError) -> ServingError:
    return ServingError(_TF_CODE_NAMES.get(error.error_code, "UNKNOWN"), error.message)


def _read_saved_model(path: str) -> saved_model_pb2.SavedModel | None:
    """``ReadBinaryProto``'s verdict on a corrupt ``saved_model.pb``, in TF's words.

    A text ``saved_model.pbtxt`` is read too (for its op types); if it does not parse,
    the loader reports that itself.
    """
    pb = os.path.join(path, "saved_model.pb")
    if not os.path.exists(pb):
        try:
            with open(os.path.join(path, "saved_model.pbtxt"), encoding="utf-8") as handle:
                return text_format.Parse(handle.read(), saved_model_pb2.SavedModel())
        except (OSError, UnicodeDecodeError, text_format.ParseError):
            return None
    try:
        with open(pb, "rb") as handle:
            return saved_model_pb2.SavedModel.FromString(handle.read())
    except DecodeError:
        raise ServingError("DATA_LOSS", f"Can't parse {pb} as binary proto") from None
    except OSError as error:
        raise ServingError("PERMISSION_DENIED", f"{pb}; {error.strerror}") from None


class LoadedModel(Servable):
    """One loaded SavedModel version: its signatures and a session to run them."""

    def __init__(self, name: str, version: int, path: str, tags: Sequence[str] = ("serve",)):
        super().__init__(name, version, path)
        saved_model = _read_saved_model(path)
        # The real binary links extra op libraries (TF Text); register them before the
        # graph is imported, as the import fails on any op type it does not know.
        if saved_model is not None:
            custom_ops.register_ops_used_by(saved_model)
        self._graph = tf.Graph()
        self._session = tf.compat.v1.Session(graph=self._graph, config=session_config())
        try:
            with self._graph.as_default():
                meta_graph = tf.compat.v1.saved_model.loader.load(self._session, list(tags), path)
        except tf.errors.OpError as error:
            self._session.close()
            raise from_tf_error(error) from None
        except (OSError, ValueError, RuntimeError) as error:
            # Parse failures and missing tags surface from the Python wrapper as these.
            self._session.close()
            raise ServingError("INVALID_ARGUMENT", str(error)) from None
        self.meta_graph: meta_graph_pb2.MetaGraphDef = meta_graph
        self.signature_defs = dict(meta_graph.signature_def)
        self._callables: dict[tuple, object] = {}
        # Whether the last run of a callable at a size took long (see run()).
        self._long_runs: dict[tuple, bool] = {}
        self._callables_lock = threading.Lock()

    # -- running ---------------------------------------------------------------------------

    def _callable(self, feeds: tuple[str, ...], fetches: tuple[str, ...], timeout_ms: int | None):
        key = (feeds, fetches, timeout_ms)
        fn = self._callables.get(key)
        if fn is None:
            with self._callables_lock:
                fn = self._callables.get(key)
                if fn is None:
                    options = config_pb2.CallableOptions(feed=list(feeds), fetch=list(fetches))
                    # Run the graph in the calling (request) thread: for a model this small
                    # the hand-off to TF's inter-op pool costs more than the model itself.
                    options.run_options.inter_op_thread_pool = -1
                    if timeout_ms:
                        options.run_options.timeout_in_ms = timeout_ms
                    fn = self._session._make_callable_from_options(options)
                    self._callables[key] = fn
        return fn

    def run(
        self, feeds: dict[str, np.ndarray], fetches: Sequence[str], timeout_ms: int | None = None
    ) -> list[np.ndarray]:
        """Run the graph: ``feeds`` maps tensor names to arrays; returns ``fetches`` in order."""
        feed_names = tuple(feeds)
        try:
            fn = self._callable(feed_names, tuple(fetches), timeout_ms)
            arrays = [feeds[name] for name in feed_names]
            # Runs of this signature and size that took long last time let other requests
            # take turns meanwhile (see turns.py); short ones keep the turn, as handing it
            # over and back would cost more than the run.
            size_class = (feed_names, tuple(fetches), sum(a.size for a in arrays).bit_length())
            start = time.perf_counter()
            if self._long_runs.get(size_class, False):
                with turns.pause():
                    outputs = fn(*arrays)
            else:
                outputs = fn(*arrays)
            self._long_runs[size_class] = time.perf_counter() - start > LONG_RUN_SECONDS
            return outputs
        except tf.errors.OpError as error:
            raise from_tf_error(error) from None
        except (ValueError, TypeError) as error:
            raise ServingError("INVALID_ARGUMENT", str(error)) from None

    # -- life cycle -------------------------------------------------------------------------

    def _free(self) -> None:
        self._callables.clear()
        self._session.close()
