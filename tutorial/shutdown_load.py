"""Requests that keep coming while a server is stopped, counted by what each client saw.

``ShutdownLoad`` runs a few threads that send Predict back to back over gRPC. Each answer
is filed by when its request started and ended relative to ``mark()`` (the moment the
signal is sent): finished before it, in flight across it, or sent after it; and by its
outcome (``OK`` or the gRPC code with its details). That is what chapter 11 prints.
"""

from __future__ import annotations

import re
import threading
import time
from collections import Counter

import grpc
import tensorflow as tf
from tensorflow_serving.apis import predict_pb2, prediction_service_pb2_grpc

from tutorial.chapter_server import PROBE_X, SIGNATURE, grpc_error_text

BEFORE, IN_FLIGHT, AFTER = "finished before the signal", "in flight at the signal", "sent after the signal"
PHASES = (BEFORE, IN_FLIGHT, AFTER)
# Short enough that a request never outlives the server by much, long enough for a busy one.
REQUEST_TIMEOUT_SECONDS = 5.0


class ShutdownLoad:
    def __init__(self, target: str, model_name: str, clients: int = 4):
        self.target = target
        self.model_name = model_name
        self.clients = clients
        self.stopping = threading.Event()
        self.signal_at: float | None = None
        self.counts: Counter[tuple[str, str]] = Counter()
        self._lock = threading.Lock()
        self._threads = [threading.Thread(target=self._client, daemon=True) for _ in range(clients)]

    def _request(self) -> predict_pb2.PredictRequest:
        request = predict_pb2.PredictRequest()
        request.model_spec.name = self.model_name
        request.model_spec.signature_name = SIGNATURE
        request.inputs["x"].CopyFrom(tf.make_tensor_proto(PROBE_X))
        return request

    def _client(self) -> None:
        # One channel per client, as separate processes would have.
        with grpc.insecure_channel(self.target) as channel:
            stub = prediction_service_pb2_grpc.PredictionServiceStub(channel)
            request = self._request()
            while not self.stopping.is_set():
                started = time.monotonic()
                try:
                    stub.Predict(request, timeout=REQUEST_TIMEOUT_SECONDS)
                    outcome = "OK"
                except grpc.RpcError as err:
                    # The client's port number differs on every run; the rest is the lesson.
                    outcome = re.sub(r"ipv[46]:\S*?:\d+:", "ADDRESS:", grpc_error_text(err))
                self._file(started, time.monotonic(), outcome)
                if outcome != "OK":
                    time.sleep(0.05)  # a client that retries at once would only count refusals

    def _file(self, started: float, ended: float, outcome: str) -> None:
        with self._lock:
            mark = self.signal_at
            if mark is None or ended < mark:
                phase = BEFORE
            elif started < mark:
                phase = IN_FLIGHT
            else:
                phase = AFTER
            self.counts[(phase, outcome)] += 1

    def start(self) -> None:
        for thread in self._threads:
            thread.start()

    def mark(self) -> None:
        """Call right before sending the signal."""
        with self._lock:
            self.signal_at = time.monotonic()

    def stop(self) -> None:
        self.stopping.set()
        for thread in self._threads:
            thread.join()

    def report(self) -> list[str]:
        """One line per phase and outcome, most frequent first, phases in time order."""
        lines = []
        for phase in PHASES:
            rows = sorted(
                ((n, outcome) for (p, outcome), n in self.counts.items() if p == phase), reverse=True
            )
            for count, outcome in rows:
                lines.append(f"{phase:<27} {count:>6}  {outcome}")
        return lines
