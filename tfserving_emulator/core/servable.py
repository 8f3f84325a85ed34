"""What every loaded version shares, whatever runs it: users and a clean unload.

A version is either a SavedModel in a TensorFlow session (``saved_model.LoadedModel``)
or a TF Lite flatbuffer in interpreters (``tflite_model.TfLiteModel``). Requests reach
both through the same members: ``signature_defs``, ``plans`` and ``run()``.
"""

from __future__ import annotations

import threading

from tensorflow.core.protobuf import meta_graph_pb2


class Servable:
    """One loaded version of a model, counted while requests use it."""

    def __init__(self, name: str, version: int, path: str):
        self.name = name
        self.version = version
        self.path = path
        self.signature_defs: dict[str, meta_graph_pb2.SignatureDef] = {}
        # Per-signature request plans, filled by inference.predict_plan.
        self.plans: dict[str, object] = {}
        # In-flight requests; unloading waits for them (TF Serving's servable handles do the same).
        self._users = 0
        self._users_cond = threading.Condition()
        self._closed = False

    def acquire(self) -> Servable:
        with self._users_cond:
            self._users += 1
        return self

    def release(self) -> None:
        with self._users_cond:
            self._users -= 1
            self._users_cond.notify_all()

    def __enter__(self) -> Servable:
        return self

    def __exit__(self, *exc) -> None:
        self.release()

    def close(self) -> None:
        """Wait for in-flight requests, then free what runs the model."""
        with self._users_cond:
            self._users_cond.wait_for(lambda: self._users == 0)
            if self._closed:
                return
            self._closed = True
        self._free()

    def _free(self) -> None:
        raise NotImplementedError
