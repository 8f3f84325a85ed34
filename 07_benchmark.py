"""Step 7: gRPC or REST? Measure it on your own model.

What this teaches
-----------------
* How to benchmark a model server honestly: warm-up requests first (the first calls pay
  for connection set-up and lazy initialisation), then many timed requests, reported as
  percentiles (p50/p95/p99) rather than a mean that one slow request can distort.
* Why gRPC wins for big batches: it sends the tensor as raw bytes (``tensor_content``:
  4 bytes per float32), while REST sends JSON text (about 20 characters per float) that
  the client must print and the server must parse, and the answer comes back the same way.
* Why it hardly matters for small requests: a few hundred bytes either way, and the time
  goes to the round trip and the model, not to the encoding.

Both clients ask the same server for the same signature with the same rows, and the script
checks once, per batch size, that the two answers agree before it times anything.

Run it (with the server running: ./03_start_server.sh start)
------------------------------------------------------------
    python 07_benchmark.py                                  # batch sizes 1, 300, 10000, 100000
    python 07_benchmark.py --batch-sizes 1,300 --requests 50 --concurrency 4

It prints a table and writes ``results/benchmark.json`` and ``results/benchmark.png``
(latency against batch size, and throughput in rows per second, both log-log).
"""

# ---------------------------------------------------------------------------
# Setup
# ---------------------------------------------------------------------------

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass
from pathlib import Path

from tutorial.quiet_tensorflow import import_tensorflow_quietly

# Keep TensorFlow's start-up chatter out of the output: its log level, and two "no GPU"
# notes that TensorFlow 2.21 prints at import before it reads that level.
import_tensorflow_quietly()

import grpc
import matplotlib

matplotlib.use("Agg")  # draw to a file; no display needed
import matplotlib.pyplot as plt
import numpy as np
import requests
import tensorflow as tf
from tensorflow_serving.apis import predict_pb2, prediction_service_pb2_grpc

from tutorial.settings import REPO_ROOT, load_settings

DEFAULT_BATCH_SIZES = "1,300,10000,100000"
# One request may carry 100,000 rows; give it time even on a slow machine.
REQUEST_TIMEOUT_SECONDS = 120.0
# gRPC clients refuse messages over 4 MB by default; TF Serving itself accepts up to 2 GB.
# -1 lifts the client's limit so the batch size, not a default, decides what is possible.
GRPC_CHANNEL_OPTIONS = [("grpc.max_send_message_length", -1), ("grpc.max_receive_message_length", -1)]


class BenchmarkError(Exception):
    """Something the reader must fix; main() prints it as one line."""


# ---------------------------------------------------------------------------
# What to send: read the signature from the server
# ---------------------------------------------------------------------------
# Rather than hard-coding input names, ask the server for the signature (the REST metadata
# endpoint). The benchmark fills every input with the same float32 [rows, 1] array, which
# fits both of the tutorial's signatures: serving_default (x -> y) and the blog's
# your_prediction (tensor_info_input_x, tensor_info_input_y -> tensor_info_pre_y).


@dataclass(frozen=True)
class Signature:
    name: str
    inputs: tuple[str, ...]
    output: str


def read_signature(rest_url: str, model_name: str, signature_name: str) -> Signature:
    url = f"{rest_url}/v1/models/{model_name}/metadata"
    try:
        response = requests.get(url, timeout=10)
    except requests.ConnectionError:
        raise BenchmarkError(
            f"no TF Serving answers at {rest_url}; start it with ./03_start_server.sh start"
        ) from None
    if response.status_code != 200:
        raise BenchmarkError(f"GET {url} answered {response.status_code}: {response.text.strip()}")
    signatures = response.json()["metadata"]["signature_def"]["signature_def"]
    if signature_name not in signatures:
        # Names starting with "__" (e.g. __saved_model_init_op) are internal, not callable.
        callable_names = sorted(name for name in signatures if not name.startswith("__"))
        raise BenchmarkError(
            f"model {model_name} has no signature {signature_name!r}; "
            f"use --signature with one of: {', '.join(callable_names)}"
        )
    signature = signatures[signature_name]
    for input_name, tensor_info in signature["inputs"].items():
        sizes = [int(dim["size"]) for dim in tensor_info["tensor_shape"]["dim"]]
        if tensor_info["dtype"] != "DT_FLOAT" or sizes != [-1, 1]:
            raise BenchmarkError(
                f"input {input_name!r} of {signature_name} is {tensor_info['dtype']} {sizes}; "
                "this benchmark sends float32 [rows, 1] inputs, use a signature that takes them"
            )
    if len(signature["outputs"]) != 1:
        raise BenchmarkError(
            f"{signature_name} has {len(signature['outputs'])} outputs; pick one with exactly one"
        )
    return Signature(signature_name, tuple(sorted(signature["inputs"])), next(iter(signature["outputs"])))


# ---------------------------------------------------------------------------
# The two clients
# ---------------------------------------------------------------------------
# Each call does everything a real client does, and all of it is timed: encode the numpy
# array, send, wait, receive, decode back to numpy. The encoding *is* the difference
# between the protocols, so leaving it out would measure the wrong thing.
#
# gRPC: tf.make_tensor_proto packs a float32 array into TensorProto.tensor_content, its raw
# little-endian bytes; tf.make_ndarray unpacks the answer.
#
# REST: the columnar format, {"inputs": {"x": [[...], ...]}}, answered as {"outputs": ...}.
# It has the same shape as the gRPC request (a map from input name to one tensor), so both
# protocols carry the same thing; the row format ({"instances": [...]}) would make the
# server assemble the tensor from one object per row, which adds work that has nothing to
# do with text versus binary.


class GrpcClient:
    def __init__(self, target: str, model_name: str, signature: Signature):
        # One channel for all threads: channels are thread-safe and multiplex calls over
        # one HTTP/2 connection, which is how a real gRPC client is used.
        self.channel = grpc.insecure_channel(target, options=GRPC_CHANNEL_OPTIONS)
        self.stub = prediction_service_pb2_grpc.PredictionServiceStub(self.channel)
        self.model_name = model_name
        self.signature = signature

    def make_request(self, rows: np.ndarray) -> predict_pb2.PredictRequest:
        request = predict_pb2.PredictRequest()
        request.model_spec.name = self.model_name
        request.model_spec.signature_name = self.signature.name
        for input_name in self.signature.inputs:
            request.inputs[input_name].CopyFrom(tf.make_tensor_proto(rows))
        return request

    def predict(self, rows: np.ndarray) -> np.ndarray:
        response = self.stub.Predict(self.make_request(rows), timeout=REQUEST_TIMEOUT_SECONDS)
        return tf.make_ndarray(response.outputs[self.signature.output])

    def close(self) -> None:
        self.channel.close()


class RestClient:
    def __init__(self, rest_url: str, model_name: str, signature: Signature):
        self.url = f"{rest_url}/v1/models/{model_name}:predict"
        self.signature = signature
        # requests.Session is not guaranteed thread-safe: one per thread, each keeping its
        # connection alive (a new TCP connection per request would be unfair to REST).
        self.local = threading.local()

    def make_body(self, rows: np.ndarray) -> bytes:
        columns = rows.tolist()
        document = {
            "signature_name": self.signature.name,
            "inputs": dict.fromkeys(self.signature.inputs, columns),
        }
        return json.dumps(document).encode("utf-8")

    def predict(self, rows: np.ndarray) -> np.ndarray:
        session = getattr(self.local, "session", None)
        if session is None:
            session = self.local.session = requests.Session()
        response = session.post(
            self.url,
            data=self.make_body(rows),
            headers={"Content-Type": "application/json"},
            timeout=REQUEST_TIMEOUT_SECONDS,
        )
        if response.status_code != 200:
            raise BenchmarkError(
                f"POST {self.url} answered {response.status_code}: {response.text.strip()[:300]}"
            )
        outputs = response.json()["outputs"]
        # One output comes back as the bare tensor, several as a map by name.
        if isinstance(outputs, dict):
            outputs = outputs[self.signature.output]
        return np.asarray(outputs, dtype=np.float32)

    def close(self) -> None:
        pass


def payload_sizes(grpc_client: GrpcClient, rest_client: RestClient, rows: np.ndarray) -> dict[str, int]:
    """Bytes on the wire for one request (bodies only, without HTTP/2 or HTTP headers)."""
    return {
        "grpc": grpc_client.make_request(rows).ByteSize(),
        "rest": len(rest_client.make_body(rows)),
    }


# ---------------------------------------------------------------------------
# Timing
# ---------------------------------------------------------------------------
# Threads, not processes, keep --concurrency requests in flight: a client thread spends
# its time waiting on the socket or inside gRPC's C core and numpy, which release Python's
# GIL, so threads overlap well and share one channel. Processes would each need their own
# channel and warm-up, and results would have to be shipped back. The exception is JSON
# encoding and decoding, which holds the GIL: with many threads and big REST batches, the
# Python client itself becomes a bottleneck. That is a real cost of REST for a Python
# client, so it stays in the numbers.
# The default concurrency is 1: each request has the server to itself, so latency is the
# cost of one request, not of queueing behind others. On a small machine that also runs
# the server, more client threads mostly compete with the server for the same cores.


@dataclass
class Result:
    protocol: str
    batch_size: int
    requests: int
    concurrency: int
    p50_ms: float
    p95_ms: float
    p99_ms: float
    mean_ms: float
    throughput_rows_per_s: float
    throughput_requests_per_s: float
    request_bytes: int


def time_requests(
    predict: Callable[[np.ndarray], np.ndarray], rows: np.ndarray, count: int, concurrency: int
):
    """Send ``count`` requests, ``concurrency`` at a time. Returns (latencies in s, wall time in s)."""

    def one_request(_: int) -> float:
        start = time.perf_counter()
        predict(rows)
        return time.perf_counter() - start

    wall_start = time.perf_counter()
    with ThreadPoolExecutor(max_workers=concurrency) as pool:
        latencies = list(pool.map(one_request, range(count)))
    return np.array(latencies), time.perf_counter() - wall_start


def measure(protocol, predict, rows, args, request_bytes: int) -> Result:
    for _ in range(args.warmup):
        predict(rows)
    latencies, wall_seconds = time_requests(predict, rows, args.requests, args.concurrency)
    p50, p95, p99 = np.percentile(latencies * 1000.0, [50, 95, 99])
    return Result(
        protocol=protocol,
        batch_size=len(rows),
        requests=args.requests,
        concurrency=args.concurrency,
        p50_ms=round(float(p50), 3),
        p95_ms=round(float(p95), 3),
        p99_ms=round(float(p99), 3),
        mean_ms=round(float(latencies.mean() * 1000.0), 3),
        throughput_rows_per_s=round(len(rows) * args.requests / wall_seconds, 1),
        throughput_requests_per_s=round(args.requests / wall_seconds, 2),
        request_bytes=request_bytes,
    )


def check_same_answer(grpc_client: GrpcClient, rest_client: RestClient, rows: np.ndarray) -> None:
    """Both protocols must return the same numbers, or the race is meaningless."""
    from_grpc = grpc_client.predict(rows)
    from_rest = rest_client.predict(rows)
    if from_grpc.shape != from_rest.shape or not np.allclose(from_grpc, from_rest, rtol=1e-5, atol=1e-6):
        raise BenchmarkError(f"gRPC and REST answers differ for a batch of {len(rows)} rows")


# ---------------------------------------------------------------------------
# Reporting: a table, a JSON file and a chart
# ---------------------------------------------------------------------------


def format_table(results: list[Result]) -> str:
    header = (
        f"{'protocol':<8} {'batch':>7} {'request':>10} {'p50 ms':>9} {'p95 ms':>9} {'p99 ms':>9} "
        f"{'rows/s':>11} {'req/s':>8}"
    )
    lines = [header, "-" * len(header)]
    for result in results:
        lines.append(
            f"{result.protocol:<8} {result.batch_size:>7} {format_bytes(result.request_bytes):>10} "
            f"{result.p50_ms:>9.2f} {result.p95_ms:>9.2f} {result.p99_ms:>9.2f} "
            f"{result.throughput_rows_per_s:>11,.0f} {result.throughput_requests_per_s:>8.1f}"
        )
    return "\n".join(lines)


def format_bytes(size: int) -> str:
    for unit in ("B", "KB", "MB"):
        if size < 1000 or unit == "MB":
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1000
    raise AssertionError("unreachable")


def speedups(results: list[Result]) -> list[str]:
    """One line per batch size: how much faster gRPC's median request was than REST's."""
    by_key = {(r.protocol, r.batch_size): r for r in results}
    lines = []
    for batch_size in sorted({r.batch_size for r in results}):
        grpc_result, rest_result = by_key[("grpc", batch_size)], by_key[("rest", batch_size)]
        ratio = rest_result.p50_ms / grpc_result.p50_ms
        lines.append(f"  batch {batch_size:>7}: REST p50 / gRPC p50 = {ratio:.2f}")
    return lines


def save_chart(path: Path, results: list[Result], title: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    figure, (latency_axes, throughput_axes) = plt.subplots(1, 2, figsize=(11, 4.5))
    styles = {"grpc": ("gRPC (tensor_content)", "tab:blue", "o"), "rest": ("REST (JSON)", "tab:orange", "s")}
    for protocol, (label, color, marker) in styles.items():
        rows = sorted((r for r in results if r.protocol == protocol), key=lambda r: r.batch_size)
        batch_sizes = [r.batch_size for r in rows]
        latency_axes.plot(
            batch_sizes, [r.p50_ms for r in rows], marker=marker, color=color, label=f"{label} p50"
        )
        latency_axes.fill_between(
            batch_sizes, [r.p50_ms for r in rows], [r.p99_ms for r in rows], color=color, alpha=0.2
        )
        throughput_axes.plot(
            batch_sizes, [r.throughput_rows_per_s for r in rows], marker=marker, color=color, label=label
        )
    latency_axes.set_title("Latency per request (line p50, band up to p99)")
    latency_axes.set_ylabel("milliseconds")
    throughput_axes.set_title("Throughput")
    throughput_axes.set_ylabel("rows per second")
    batch_sizes = sorted({r.batch_size for r in results})
    for axes in (latency_axes, throughput_axes):
        axes.set_xscale("log")
        axes.set_yscale("log")
        # Ticks at the measured batch sizes, written out (300 reads better than 10^2.5).
        axes.set_xticks(batch_sizes, labels=[f"{size:,}" for size in batch_sizes])
        axes.minorticks_off()
        axes.set_xlabel("batch size (rows per request)")
        axes.grid(True, which="major", alpha=0.4)
        axes.legend()
    figure.suptitle(title)
    figure.tight_layout()
    figure.savefig(path, dpi=100)
    plt.close(figure)


# ---------------------------------------------------------------------------
# Putting it together
# ---------------------------------------------------------------------------


def parse_batch_sizes(text: str) -> list[int]:
    try:
        sizes = [int(part) for part in text.split(",") if part.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a comma-separated list of integers") from None
    if not sizes or any(size < 1 for size in sizes):
        raise argparse.ArgumentTypeError(f"{text!r}: batch sizes must be integers >= 1")
    return sizes


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description="Compare gRPC and REST latency and throughput on the running server."
    )
    parser.add_argument(
        "--batch-sizes",
        type=parse_batch_sizes,
        default=parse_batch_sizes(DEFAULT_BATCH_SIZES),
        help=f"rows per request, comma-separated (default {DEFAULT_BATCH_SIZES})",
    )
    parser.add_argument(
        "--requests", type=int, default=100, help="timed requests per batch size and protocol (default 100)"
    )
    parser.add_argument("--warmup", type=int, default=5, help="untimed requests first (default 5)")
    parser.add_argument(
        "--concurrency", type=int, default=1, help="requests in flight at once (threads; default 1)"
    )
    parser.add_argument(
        "--signature", default="serving_default", help="signature to call (default serving_default)"
    )
    parser.add_argument("--seed", type=int, default=0, help="seed for the random input rows (default 0)")
    parser.add_argument(
        "--output", type=Path, default=REPO_ROOT / "results" / "benchmark.json", help="JSON results file"
    )
    parser.add_argument(
        "--chart", type=Path, default=REPO_ROOT / "results" / "benchmark.png", help="PNG chart file"
    )
    parser.add_argument(
        "--label",
        default="",
        help="where it was measured, for the chart title and the JSON (e.g. 'Docker, 8 cores')",
    )
    args = parser.parse_args(argv)
    if args.requests < 1 or args.warmup < 0 or args.concurrency < 1:
        parser.error("--requests and --concurrency must be at least 1, --warmup at least 0")
    return args


def run(args: argparse.Namespace) -> dict:
    settings = load_settings()
    print(settings.describe())
    signature = read_signature(settings.rest_url, settings.model_name, args.signature)
    print(
        f"\nModel {settings.model_name}, signature {signature.name}: "
        f"inputs {', '.join(signature.inputs)} -> output {signature.output}"
    )
    print(
        f"{args.requests} timed requests per batch size and protocol after {args.warmup} warm-up requests, "
        f"{args.concurrency} in flight at a time.\n"
    )

    grpc_client = GrpcClient(settings.grpc_target, settings.model_name, signature)
    rest_client = RestClient(settings.rest_url, settings.model_name, signature)
    generator = np.random.default_rng(args.seed)
    results = []
    try:
        for batch_size in args.batch_sizes:
            rows = generator.uniform(-1.0, 1.0, size=(batch_size, 1)).astype(np.float32)
            check_same_answer(grpc_client, rest_client, rows)
            sizes = payload_sizes(grpc_client, rest_client, rows)
            for protocol, client in (("grpc", grpc_client), ("rest", rest_client)):
                print(f"  {protocol:<4} batch {batch_size:>7} ...", end=" ", flush=True)
                result = measure(protocol, client.predict, rows, args, sizes[protocol])
                print(f"p50 {result.p50_ms:.2f} ms")
                results.append(result)
    except grpc.RpcError as err:
        raise BenchmarkError(
            f"gRPC call to {settings.grpc_target} failed: {err.code().name}: {err.details()}"
        ) from None
    except requests.ConnectionError:
        raise BenchmarkError(
            f"lost the connection to {settings.rest_url}; is the server still running?"
        ) from None
    except requests.RequestException as err:
        raise BenchmarkError(f"REST request to {settings.rest_url} failed: {err}") from None
    finally:
        grpc_client.close()

    return {
        "model_name": settings.model_name,
        "signature": signature.name,
        "grpc_target": settings.grpc_target,
        "rest_url": settings.rest_url,
        "rest_format": "columnar (inputs)",
        "requests": args.requests,
        "warmup": args.warmup,
        "concurrency": args.concurrency,
        "label": args.label,
        "cpu_count": os.cpu_count(),
        "python": platform.python_version(),
        "results": [asdict(result) for result in results],
    }


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    try:
        report = run(args)
    except BenchmarkError as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
    results = [Result(**row) for row in report["results"]]

    print("\n" + format_table(results))
    print("\nREST median latency over gRPC median latency (above 1: gRPC is faster):")
    print("\n".join(speedups(results)))

    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    title = f"gRPC vs REST: {report['model_name']} {report['signature']}, concurrency {args.concurrency}"
    if args.label:
        title += f" ({args.label})"
    save_chart(args.chart, results, title)
    print(f"\nResults: {args.output}\nChart:   {args.chart}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
