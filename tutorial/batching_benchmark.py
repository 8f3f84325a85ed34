"""Chapter 12's load: N clients at once, each sending one-row Predict requests, timed.

Every client is a thread with its own stub on one gRPC channel (one HTTP/2 connection, as
one application server talking to TF Serving would have). Each sends a few untimed
requests, waits for the others at a barrier, then sends its share of the timed requests
back to back: a new request as soon as the last one is answered, so ``clients`` is the
number of requests in flight, the load the server sees.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from pathlib import Path

from tutorial.quiet_tensorflow import import_tensorflow_quietly

import_tensorflow_quietly()

import grpc  # noqa: E402 - after the quiet import above
import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402
from tensorflow_serving.apis import predict_pb2, prediction_service_pb2_grpc  # noqa: E402

WARMUP_PER_CLIENT = 3
RPC_TIMEOUT_SECONDS = 60.0
SIGNATURE = "serving_default"  # x -> y; see 02_train_and_export.py


@dataclass(frozen=True)
class Result:
    model: str
    batching: str  # "off" or "on"
    clients: int
    requests: int
    seconds: float
    latencies_ms: tuple[float, ...]

    @property
    def throughput(self) -> float:
        return self.requests / self.seconds

    def percentile(self, q: float) -> float:
        return float(np.percentile(self.latencies_ms, q))


def one_row_request(model_name: str) -> predict_pb2.PredictRequest:
    request = predict_pb2.PredictRequest()
    request.model_spec.name = model_name
    request.model_spec.signature_name = SIGNATURE
    request.inputs["x"].CopyFrom(tf.make_tensor_proto(np.array([[0.5]], np.float32)))
    return request


def measure(target: str, model_name: str, batching: str, clients: int, requests: int) -> Result:
    """``requests`` one-row Predicts (rounded up to a multiple of ``clients``), ``clients`` at a time."""
    per_client = -(-requests // clients)
    request = one_row_request(model_name)
    barrier = threading.Barrier(clients + 1)
    latencies: list[list[float]] = [[] for _ in range(clients)]
    failures: list[BaseException] = []

    def client(index: int, stub) -> None:
        try:
            for _ in range(WARMUP_PER_CLIENT):
                stub.Predict(request, timeout=RPC_TIMEOUT_SECONDS)
        except grpc.RpcError as err:
            failures.append(err)
        barrier.wait()
        if failures:
            return
        mine = latencies[index]
        try:
            for _ in range(per_client):
                start = time.perf_counter()
                stub.Predict(request, timeout=RPC_TIMEOUT_SECONDS)
                mine.append((time.perf_counter() - start) * 1000)
        except grpc.RpcError as err:
            failures.append(err)

    with grpc.insecure_channel(target) as channel:
        threads = [
            threading.Thread(
                target=client, args=(i, prediction_service_pb2_grpc.PredictionServiceStub(channel))
            )
            for i in range(clients)
        ]
        for thread in threads:
            thread.start()
        barrier.wait()  # every client has warmed up
        start = time.perf_counter()
        for thread in threads:
            thread.join()
        seconds = time.perf_counter() - start
    if failures:
        raise failures[0]
    flat = tuple(value for mine in latencies for value in mine)
    return Result(model_name, batching, clients, len(flat), seconds, flat)


def format_table(results: list[Result]) -> str:
    width = max(len("model"), *(len(r.model) for r in results)) + 2
    lines = [
        f"{'model':<{width}}{'batching':<9}{'clients':>8}{'requests':>10}{'requests/s':>12}{'p50 ms':>9}{'p95 ms':>9}"
    ]
    for r in results:
        lines.append(
            f"{r.model:<{width}}{r.batching:<9}{r.clients:>8}{r.requests:>10}{r.throughput:>12.0f}"
            f"{r.percentile(50):>9.2f}{r.percentile(95):>9.2f}"
        )
    return "\n".join(lines)


def compare(results: list[Result]) -> list[str]:
    """One line per model and client count: what batching changed."""
    by_key = {(r.model, r.batching, r.clients): r for r in results}
    lines = []
    width = max(len(r.model) for r in results) + 1
    for model in dict.fromkeys(r.model for r in results):
        for clients in sorted({r.clients for r in results if r.model == model}):
            off, on = by_key.get((model, "off", clients)), by_key.get((model, "on", clients))
            if off is None or on is None:
                continue
            lines.append(
                f"  {model + ',':<{width}} {clients:>2} client(s): throughput x{on.throughput / off.throughput:.2f}, "
                f"p50 latency {on.percentile(50) - off.percentile(50):+.2f} ms"
            )
    return lines


def save_chart(path: Path, results: list[Result], title: str) -> None:
    """Per model, throughput and p50 latency (band up to p95) against the clients, off and on."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    path.parent.mkdir(parents=True, exist_ok=True)
    models = list(dict.fromkeys(r.model for r in results))
    figure, grid = plt.subplots(len(models), 2, figsize=(11, 4.2 * len(models)), squeeze=False)
    styles = {"off": ("batching off", "tab:blue", "o"), "on": ("batching on", "tab:green", "s")}
    ticks = sorted({r.clients for r in results})
    for model, (throughput_axes, latency_axes) in zip(models, grid, strict=True):
        for batching, (label, color, marker) in styles.items():
            rows = sorted(
                (r for r in results if (r.model, r.batching) == (model, batching)), key=lambda r: r.clients
            )
            clients = [r.clients for r in rows]
            throughput_axes.plot(
                clients, [r.throughput for r in rows], marker=marker, color=color, label=label
            )
            p50 = [r.percentile(50) for r in rows]
            latency_axes.plot(clients, p50, marker=marker, color=color, label=f"{label} p50")
            latency_axes.fill_between(clients, p50, [r.percentile(95) for r in rows], color=color, alpha=0.2)
        throughput_axes.set_title(f"{model}: throughput")
        throughput_axes.set_ylabel("requests per second")
        latency_axes.set_title(f"{model}: latency (line p50, band up to p95)")
        latency_axes.set_ylabel("milliseconds")
        for axes in (throughput_axes, latency_axes):
            axes.set_xscale("log", base=2)
            axes.set_xticks(ticks, labels=[str(t) for t in ticks])
            axes.minorticks_off()
            axes.set_xlabel("clients sending at once (1-row requests)")
            axes.set_ylim(bottom=0)
            axes.grid(True, alpha=0.4)
            axes.legend()
    figure.suptitle(title)
    figure.tight_layout()
    figure.savefig(path, dpi=100)
    plt.close(figure)
