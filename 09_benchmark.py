"""Chapter 9: gRPC or REST? Measure it on your own model.

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

Both clients (tutorial/benchmark_clients.py) ask the same server for the same signature
with the same rows, and the script checks once, per batch size, that the two answers agree
before it times anything.

The lesson, with measured figures: docs/benchmark.md (中文: docs/zh-CN/benchmark.md).

Run it (with the server running: ./03_start_server.sh start)
------------------------------------------------------------
    python 09_benchmark.py                                  # batch sizes 1, 300, 10000, 100000
    python 09_benchmark.py --batch-sizes 1,300 --requests 50 --concurrency 4

It prints a table and writes ``results/benchmark.json`` and ``results/benchmark.png``
(latency against batch size, and throughput in rows per second, both log-log).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from tutorial.settings import REPO_ROOT

DEFAULT_BATCH_SIZES = "1,300,10000,100000"

# ---------------------------------------------------------------------------
# The command line, read before TensorFlow and gRPC are imported (seconds), so that
# --help and a mistyped option answer at once
# ---------------------------------------------------------------------------


def parse_batch_sizes(text: str) -> list[int]:
    try:
        sizes = [int(part) for part in text.split(",") if part.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a comma-separated list of integers") from None
    if not sizes or any(size < 1 for size in sizes):
        raise argparse.ArgumentTypeError(f"{text!r}: batch sizes must be integers >= 1")
    return sizes


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
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


if __name__ == "__main__":
    parse_args()

# ---------------------------------------------------------------------------
# Setup
# ---------------------------------------------------------------------------

import json
import os
import platform
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict

import grpc
import numpy as np
import requests

from tutorial.benchmark_clients import (
    BenchmarkError,
    GrpcClient,
    RestClient,
    check_same_answer,
    payload_sizes,
    read_signature,
)
from tutorial.benchmark_report import Result, format_table, save_chart, speedups
from tutorial.settings import load_settings

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


def time_requests(
    predict: Callable[[np.ndarray], np.ndarray], rows: np.ndarray, count: int, concurrency: int
) -> tuple[np.ndarray, float]:
    """Send ``count`` requests, ``concurrency`` at a time. Returns (latencies in s, wall time in s)."""

    def one_request(_: int) -> float:
        start = time.perf_counter()
        predict(rows)
        return time.perf_counter() - start

    wall_start = time.perf_counter()
    with ThreadPoolExecutor(max_workers=concurrency) as pool:
        latencies = list(pool.map(one_request, range(count)))
    return np.array(latencies), time.perf_counter() - wall_start


def measure(protocol: str, predict, rows: np.ndarray, args: argparse.Namespace, request_bytes: int) -> Result:
    # Warm-up requests are sent but not timed: they pay for set-up, not for serving.
    for _ in range(args.warmup):
        predict(rows)
    latencies, wall_seconds = time_requests(predict, rows, args.requests, args.concurrency)
    # Percentiles, not only the mean: one slow request moves a mean, not a median.
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


# ---------------------------------------------------------------------------
# The race: per batch size, the same rows over both protocols
# ---------------------------------------------------------------------------


def run(args: argparse.Namespace) -> dict:
    settings = load_settings()
    print(settings.describe())
    # The inputs' names come from the server, so any float32 [rows, 1] signature works.
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
            # A race is only fair if both answer the same question the same way.
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

    # Where and how it was measured travels with the numbers.
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
