"""Two background threads for chapter 6's hot swap: steady traffic, and a status log.

``LoadGenerator`` sends Predict requests back to back (gRPC and REST in turn) and counts
failures; ``StatusWatcher`` polls GetModelStatus and records each change with its time.
Together they show that a new version takes over while requests keep coming, with none
failing.
"""

from __future__ import annotations

import threading
import time
from collections import Counter

import grpc
import requests

from tutorial.chapter_server import RestError, Server, grpc_error_text


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
    """Sends Predict requests without a version (= the latest) back to back until stopped."""

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
