"""Chapter 13's measurement: how long the first request to a freshly swapped-in version takes.

A round publishes a new version (a copy of the same SavedModel, atomically, like step 2),
waits until the server reports it AVAILABLE, then times one Predict pinned to that version
and, after it, ``steady_requests`` more. The first is what a client meets right after a
deployment; the median of the others is the version's steady state.
"""

from __future__ import annotations

import shutil
import statistics
import time
from dataclasses import dataclass
from pathlib import Path

from tutorial.chapter_server import ChapterError
from tutorial.export import export_version
from tutorial.scratch_server import ScratchServer

# Requests to version 1 before the first swap: they open the gRPC connection and run the
# server's own request path once, so the rounds time the model, not the connection.
CONNECTION_WARMUP_REQUESTS = 5


@dataclass(frozen=True)
class Round:
    warm_up: str  # "on" or "off"
    version: int
    # From the copy's rename to AVAILABLE: the server's next poll of the folder (every
    # second), the load, and the warm-up when it is on.
    load_seconds: float
    first_ms: float
    steady_ms: float  # median of the requests after the first

    @property
    def ratio(self) -> float:
        return self.first_ms / self.steady_ms


def publish_copy(template: Path, model_dir: Path, version: int) -> Path:
    """``template`` published as ``model_dir/<version>``: copied to a hidden folder, then renamed."""
    return export_version(
        model_dir, version, lambda staging: shutil.copytree(template, staging, dirs_exist_ok=True)
    )


def timed_predict_ms(server: ScratchServer, version: int) -> float:
    start = time.perf_counter()
    answered, _ = server.client.predict_grpc(server.model_name, version=version)
    elapsed = (time.perf_counter() - start) * 1000
    if answered != version:  # pinned by model_spec.version, so this would be a server bug
        raise ChapterError(f"asked version {version}, answered by version {answered}")
    return elapsed


def warm_connection(server: ScratchServer, version: int) -> None:
    for _ in range(CONNECTION_WARMUP_REQUESTS):
        timed_predict_ms(server, version)


def measure_round(
    server: ScratchServer, template: Path, version: int, steady_requests: int, warm_up: str
) -> Round:
    publish_copy(template, server.model_dir, version)
    load_seconds = server.wait_available(version)
    first = timed_predict_ms(server, version)
    steady = [timed_predict_ms(server, version) for _ in range(steady_requests)]
    return Round(warm_up, version, load_seconds, first, statistics.median(steady))


def format_table(rounds: list[Round]) -> str:
    lines = [
        "warm-up  version  until AVAILABLE  first request  steady median  first / steady",
    ]
    for row in rounds:
        lines.append(
            f"{row.warm_up:<7}  {row.version:>7}  {row.load_seconds * 1000:>12.0f} ms"
            f"  {row.first_ms:>10.2f} ms  {row.steady_ms:>10.2f} ms  {row.ratio:>13.1f}x"
        )
    return "\n".join(lines)


def median_first_ms(rounds: list[Round], warm_up: str) -> float:
    return statistics.median(row.first_ms for row in rounds if row.warm_up == warm_up)


def median_steady_ms(rounds: list[Round], warm_up: str) -> float:
    return statistics.median(row.steady_ms for row in rounds if row.warm_up == warm_up)
