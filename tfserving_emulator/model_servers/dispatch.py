"""The one code path both front ends call: lookup -> acquire -> deadline -> run -> metrics.

TF Serving's gRPC services (``prediction_service_impl.cc``) and its REST handler
(``http_rest_api_handler.cc``) are thin: each decodes its request, then calls the same
``ServerCore`` lookup and the same ``Run*`` functions. Here the gRPC services
(``grpc/server.py``) and the REST endpoints (``rest/endpoints.py``) decode and encode;
everything between is this module, so a step is written (and fixed) once:

* ``request``: the request's turn (inference only, see ``core/turns.py``), its latency
  and its count in the request metrics, whatever the outcome;
* ``servable``: the manager lookup by name, version or label, the handle held for the
  request (released on the way out), then the deadline check;
* ``predict`` / ``classify`` / ``regress`` / ``multi_inference``: the run, with the
  runtime metric.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any, TypeVar

from ..core import turns
from ..core.server_core import ServerCore
from ..servables import inference
from ..util.errors import ServingError
from .metrics import Metrics

T = TypeVar("T")


class Dispatch:
    def __init__(self, core: ServerCore, metrics: Metrics):
        self.core = core
        self.metrics = metrics

    def request(
        self,
        protocol: str,
        api: str,
        model_name: str,
        work: Callable[[], T],
        *,
        takes_turn: bool,
        counted: bool = True,
    ) -> T:
        """Run ``work`` as one request: its turn, its latency and its count (``counted``)."""
        start = time.perf_counter()
        code = "UNKNOWN"
        try:
            if takes_turn:
                with turns.turn():
                    result = work()
            else:
                result = work()
            code = "OK"
            return result
        except ServingError as error:
            code = error.code
            raise
        except Exception:
            code = "INTERNAL"
            raise
        finally:
            if counted:
                latency_us = (time.perf_counter() - start) * 1e6
                self.metrics.record_request(model_name, api, protocol, code, latency_us)

    @contextlib.contextmanager
    def servable(
        self,
        name: str,
        version: int | None = None,
        label: str | None = None,
        time_remaining: Callable[[], float | None] | None = None,
    ) -> Iterator[Any]:
        """The servable a request names, held until the block ends; then the deadline check."""
        with self.core.get_servable(name, version, label) as model:
            if time_remaining is not None:
                remaining = time_remaining()
                if remaining is not None and remaining <= 0:
                    raise ServingError("DEADLINE_EXCEEDED", "Deadline Exceeded")
            yield model

    def predict(
        self,
        model,
        model_name: str,
        signature_name: str,
        inputs: Mapping[str, Any],
        output_filter: Sequence[str] = (),
        to_array: Callable | None = None,
        timeout_ms: int | None = None,
    ):
        start = time.perf_counter()
        result = inference.predict(model, signature_name, inputs, output_filter, to_array, timeout_ms)
        self.metrics.record_runtime(model_name, "Predict", (time.perf_counter() - start) * 1e6)
        return result

    @staticmethod
    def classify(model, signature_name: str, model_input, timeout_ms: int | None = None):
        return inference.classify(model, signature_name, model_input, timeout_ms)

    @staticmethod
    def regress(model, signature_name: str, model_input, timeout_ms: int | None = None):
        return inference.regress(model, signature_name, model_input, timeout_ms)

    @staticmethod
    def multi_inference(model, request, timeout_ms: int | None = None):
        return inference.multi_inference(model, request, timeout_ms)
