"""Chapter 12: request batching, measured: many small requests, fewer model runs.

What this teaches
-----------------
With ``--enable_batching`` TF Serving puts concurrent requests for the same model and
signature into a queue, merges them along the batch dimension (dimension 0) into one model
run, and splits the outputs back, each request getting its own rows. One run of 32 rows
costs far less than 32 runs of one row on a GPU/TPU, and less on a CPU too when the model
is large; the price is that a request may wait for others (up to ``batch_timeout_micros``).

This script serves two models, each twice (batching off, then on), every time on its own
free ports (the server of ./03_start_server.sh is left alone): your model, and a large one
(tutorial/wide_model.py). It sends one-row gRPC requests from 1, 8 and 32 clients at once,
prints a table, draws a chart, and says what changed.

The lesson, with measured figures: docs/batching.md (中文: docs/zh-CN/batching.md).

Run it
------
    python 02_train_and_export.py        # the model, if you have not yet
    python 12_batching.py                # two to three minutes
    python 12_batching.py --clients 1,4 --requests 64 --batch-timeout-micros 0
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from tutorial.settings import REPO_ROOT

DESCRIPTION = "Serve the model with batching off and on, and measure latency and throughput under load."


def client_counts(text: str) -> list[int]:
    try:
        counts = [int(part) for part in text.split(",") if part.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a comma-separated list of integers") from None
    if not counts or any(count < 1 for count in counts):
        raise argparse.ArgumentTypeError(f"{text!r}: client counts must be integers >= 1")
    return counts


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=DESCRIPTION)
    parser.add_argument("--clients", type=client_counts, default=[1, 8, 32], help="default 1,8,32")
    parser.add_argument(
        "--requests", type=int, default=960, help="timed requests per client count (default 960)"
    )
    parser.add_argument("--max-batch-size", type=int, default=32, help="max_batch_size (default 32)")
    parser.add_argument(
        "--batch-timeout-micros", type=int, default=2000, help="batch_timeout_micros (default 2000 = 2 ms)"
    )
    parser.add_argument(
        "--chart", type=Path, default=REPO_ROOT / "results" / "batching.png", help="PNG chart file"
    )
    args = parser.parse_args(argv)
    if args.requests < 1 or args.max_batch_size < 1 or args.batch_timeout_micros < 0:
        parser.error("--requests and --max-batch-size must be at least 1, --batch-timeout-micros at least 0")
    return args


if __name__ == "__main__":
    # Read the command line before importing TensorFlow and gRPC (seconds), so that
    # --help and a mistyped option answer at once.
    parse_args()

# ---------------------------------------------------------------------------
# Setup
# ---------------------------------------------------------------------------
# tutorial.scratch_server starts a throw-away server on free ports (Docker or the emulator,
# as ./03_start_server.sh would choose), so the reader's server is left alone;
# tutorial.batching_benchmark sends the load and draws the chart.

import shutil

from tutorial.batching_benchmark import Result, compare, format_table, measure, save_chart
from tutorial.chapter_scripts import shown
from tutorial.chapter_server import ChapterError, run_lesson, section
from tutorial.export import existing_versions
from tutorial.scratch_server import ScratchServer
from tutorial.server_backend import choose
from tutorial.settings import Settings, load_settings
from tutorial.wide_model import NAME as WIDE_NAME
from tutorial.wide_model import WIDTH, export_wide_model

PARAMETERS_FILE = "batching_parameters.txt"
# The scratch server mounts the folder above the model at /models (Docker): both models
# and the parameters file are in it.
CONTAINER_PARAMETERS_FILE = f"/models/{PARAMETERS_FILE}"
WRAPPED_LINE = "Wrapping session to perform batch processing"

# ---------------------------------------------------------------------------
# Step 1: a copy of the model, and the batching parameters file beside it
# ---------------------------------------------------------------------------
# A BatchingParameters text proto (session_bundle_config.proto). What each line means:
#   max_batch_size        the most rows one model run takes; a larger request is refused
#   batch_timeout_micros  how long the first request of a batch waits for company; 0: it
#                         runs as soon as a batch thread is free (requests still merge
#                         while every thread is busy)
#   max_enqueued_batches  batches that may wait; beyond that, requests get UNAVAILABLE
#   num_batch_threads     model runs at the same time (TF's guide: the number of cores)
# With --enable_batching and no file, TF Serving uses 1000 rows, 0 us, 10 batches and one
# thread per core.


def prepare(settings: Settings, work_dir: Path, args: argparse.Namespace) -> list[tuple[Path, int]]:
    """work_dir/models/: a copy of your model's latest version, a large model, the parameters."""
    versions = existing_versions(settings.model_dir)
    if not versions:
        raise ChapterError(
            f"no version under {shown(settings.model_dir)}; export one first: python 02_train_and_export.py"
        )
    if work_dir.exists():
        shutil.rmtree(work_dir)  # ours alone: left over from an earlier run
    yours = work_dir / "models" / settings.model_name
    shutil.copytree(settings.model_dir / str(versions[-1]), yours / str(versions[-1]))
    print(
        f"Your model: a copy of version {versions[-1]} of {settings.model_name} from {shown(settings.model_dir)}"
    )
    large = work_dir / "models" / WIDE_NAME
    export_wide_model(large / "1")
    print(
        f"A large model: {WIDE_NAME}, x -> two Dense({WIDTH}) -> y, 17 MB of weights (tutorial/wide_model.py)"
    )
    path = work_dir / "models" / PARAMETERS_FILE
    path.write_text(
        f"max_batch_size {{ value: {args.max_batch_size} }}\n"
        f"batch_timeout_micros {{ value: {args.batch_timeout_micros} }}\n"
        "max_enqueued_batches { value: 100 }\n"
        "num_batch_threads { value: 2 }\n",
        encoding="utf-8",
    )
    print(f"{shown(path)}:")
    print("".join(f"  {line}\n" for line in path.read_text(encoding="utf-8").splitlines()), end="")
    return [(yours, versions[-1]), (large, 1)]


# ---------------------------------------------------------------------------
# Step 2: the same load, batching off and on
# ---------------------------------------------------------------------------
# One-row requests are where batching matters: each run of the model has a fixed cost
# (graph set-up, kernel launches, on a GPU a transfer) that a batch pays once. The flags:
# --enable_batching, and --batching_parameters_file with the path the server sees.


def batching_flags(backend: str, model_dir: Path) -> list[str]:
    path = CONTAINER_PARAMETERS_FILE if backend == "docker" else str(model_dir.parent / PARAMETERS_FILE)
    return ["--enable_batching", f"--batching_parameters_file={path}"]


# Both servers: a request waiting in a batch queue holds one of the server's gRPC threads
# (by default 4 per core), so with fewer threads than clients the queue never sees them all.
THREAD_FLAGS = ["--grpc_max_threads=64"]


def run_load(server: ScratchServer, batching: str, args: argparse.Namespace) -> list[Result]:
    results = []
    for count in args.clients:
        result = measure(server.settings.grpc_target, server.model_name, batching, count, args.requests)
        print(
            f"  {count:>2} client(s): {result.throughput:7.0f} requests/s, "
            f"p50 {result.percentile(50):6.2f} ms, p95 {result.percentile(95):6.2f} ms"
        )
        results.append(result)
    return results


def measure_one(settings, backend, work_dir, model_dir: Path, version: int, args) -> list[Result]:
    results = []
    for batching, flags in (
        ("off", THREAD_FLAGS),
        ("on", [*THREAD_FLAGS, *batching_flags(backend, model_dir)]),
    ):
        section(f"{model_dir.name}, batching {batching}")
        label = f"batching_{model_dir.name}_{batching}"
        server = ScratchServer(settings, backend, model_dir, flags, label, work_dir)
        server.start()
        try:
            server.wait_available(version)
            results += run_load(server, batching, args)
        finally:
            log = server.save_log()  # before stopping: --rm removes a container with its log
            server.stop()
        # TF Serving logs this line for each model whose session it wraps for batching.
        wrapped = log.count(WRAPPED_LINE)
        print(f"  The server log has {wrapped} '{WRAPPED_LINE}' line(s).")
        if wrapped != (1 if batching == "on" else 0):
            raise ChapterError(f"the {label} server's log has {wrapped} '{WRAPPED_LINE}' lines")
    return results


def measure_all(settings: Settings, backend: str, work_dir: Path, args: argparse.Namespace) -> list[Result]:
    results = []
    for model_dir, version in prepare(settings, work_dir, args):
        results += measure_one(settings, backend, work_dir, model_dir, version, args)
    shutil.rmtree(work_dir / "models")  # the copies were only for the experiment; the logs stay
    return results


# ---------------------------------------------------------------------------
# Step 3: what changed, and when batching pays
# ---------------------------------------------------------------------------

LESSON = """\
When batching helps: a model whose run costs much more than its per-row work (the large
model here; on GPUs and TPUs any model, as one run of 32 rows takes about as long as one of
1 row), and enough load that requests arrive while a run is busy. When it costs: at low
load every request may wait batch_timeout_micros for others that never come (one client
above), and a tiny model on a CPU has little per-run cost to save (yours). Tune max_batch_size and
batch_timeout_micros on your own model and traffic; TF Serving's batching guide
(tensorflow_serving/batching/README.md) starts CPU servers at batch_timeout_micros 0."""


def report(results: list[Result], chart: Path, backend: str) -> None:
    section("Batching off and on")
    print(format_table(results))
    print("\nBatching on against off:")
    print("\n".join(compare(results)))
    save_chart(chart, results, f"One-row gRPC Predict requests, batching off and on ({backend})")
    print(f"\nChart: {shown(chart)}")
    print(f"\n{LESSON}")


def batching_lesson(settings: Settings, args: argparse.Namespace) -> None:
    backend, reason = choose(settings.serving_backend)
    print(f"Backend: {backend} ({reason})")
    section("The model and the batching parameters")
    work_dir = settings.run_dir / "batching"
    report(measure_all(settings, backend, work_dir, args), args.chart.resolve(), backend)
    print(f"\nThe servers' logs: {shown(work_dir)}/server_batching_*.log")


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    settings = load_settings()
    print(settings.describe())
    return run_lesson(lambda: batching_lesson(settings, args))


if __name__ == "__main__":
    sys.exit(main())
