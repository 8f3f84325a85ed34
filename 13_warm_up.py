"""Chapter 13: the first request after a version swap, with and without model warm-up.

What this teaches
-----------------
TensorFlow sets much of a model up lazily, on its first run: the graph is pruned and
optimised (Grappler), buffers are allocated, kernels are chosen (oneDNN primitives, XLA
clusters). Without warm-up the first client after every deployment pays for that. With a
warm-up file in the version (``assets.extra/tf_serving_warmup_requests``, which step 2
writes), TF Serving runs those requests while it loads the version, before it reports it
AVAILABLE, and the first client finds the model ready.

This chapter measures it: two throw-away servers (their own ports and model folder; your
server from step 3 is left alone), one with warm-up (the default) and one started with
``--enable_model_warmup=false``. Each swaps in a new version several times; every round
times the first request the new version answers and the steady state after it.

The lesson, with its figures explained: docs/warm_up.md (中文: docs/zh-CN/warm_up.md).

Run it
------
    python 02_train_and_export.py        # a version with a warm-up file, if you have none
    python 13_warm_up.py                 # about half a minute on the emulator
    python 13_warm_up.py --rounds 5 --requests 50

It runs on the backend 03_start_server.sh would choose (SERVING_BACKEND): Docker, with the
flag after the image in the ``docker run`` it prints, or the emulator. Anything wrong ends
with one line saying what to do, and exit code 1.
"""

from __future__ import annotations

import argparse
import sys

DESCRIPTION = "Time the first request after a version swap, with and without TF Serving's model warm-up."


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=DESCRIPTION)
    parser.add_argument("--rounds", type=int, default=3, help="version swaps per server (default 3)")
    parser.add_argument(
        "--requests", type=int, default=20, help="requests after the first, for the steady state (default 20)"
    )
    args = parser.parse_args(argv)
    if args.rounds < 1:
        parser.error("--rounds must be at least 1")
    if args.requests < 1:
        parser.error("--requests must be at least 1")
    return args


if __name__ == "__main__":
    # Read the command line before importing TensorFlow and gRPC (seconds), so that
    # --help and a mistyped option answer at once.
    parse_args()

# ---------------------------------------------------------------------------
# Setup
# ---------------------------------------------------------------------------
# tutorial.scratch_server starts a server on free ports (Docker or the emulator);
# tutorial.first_request publishes a version and times its first request;
# tutorial.warmup_requests writes the warm-up file (step 2 uses it too).

import re
import shutil
import statistics
from pathlib import Path

from tutorial import cli
from tutorial.chapter_scripts import shown
from tutorial.chapter_server import ChapterError, run_lesson, section
from tutorial.export import existing_versions
from tutorial.first_request import (
    Round,
    format_table,
    measure_round,
    median_first_ms,
    median_steady_ms,
    publish_copy,
    warm_connection,
)
from tutorial.scratch_server import ScratchServer
from tutorial.server_backend import choose
from tutorial.settings import Settings, load_settings
from tutorial.warmup_requests import WARMUP_FILE, describe, tutorial_records, write_warmup_file

# The two servers: the same model, the same image, one flag apart. Warm-up is on by default
# (main.cc: enable_model_warmup = true), so the first needs no flag at all.
SERVERS = (("on", []), ("off", ["--enable_model_warmup=false"]))
# What TF Serving logs after replaying the file (saved_model_warmup_util.cc).
FINISHED_LINE = re.compile(r"Finished reading warmup data for model at .*?(\d+)\.$", re.MULTILINE)

# ---------------------------------------------------------------------------
# Step 1: the model, and a work folder of our own
# ---------------------------------------------------------------------------
# Every round publishes a *copy* of your latest version under a new number: to the server
# it is a new servable with a new session, so it starts cold, exactly like a new export.


def prepare_template(settings: Settings, work_dir: Path) -> Path:
    versions = existing_versions(settings.model_dir)
    if not versions:
        raise ChapterError(
            f"no version under {settings.model_dir}; export one first: python 02_train_and_export.py"
        )
    source = settings.model_dir / str(versions[-1])
    if work_dir.exists():
        shutil.rmtree(work_dir)  # ours alone: left over from an earlier run
    template = work_dir / "template"
    shutil.copytree(source, template)
    print(f"Copying version {versions[-1]} of {settings.model_name} from {source}")
    if (template / WARMUP_FILE).is_file():
        print(f"It has a warm-up file: {describe(template / WARMUP_FILE)}")
    else:
        # Exported before step 2 wrote one: adding the file to a SavedModel is all it takes.
        write_warmup_file(template, tutorial_records(settings.model_name))
        print(f"It has no {WARMUP_FILE.as_posix()} (an older export); the copies get step 2's:")
        print(f"  {describe(template / WARMUP_FILE)}")
    return template


# ---------------------------------------------------------------------------
# Step 2: one server, several swaps
# ---------------------------------------------------------------------------
# Version 1 first, and a few requests to it: they open the connection, so the rounds time
# the model and not the TCP and HTTP/2 set-up. Then each round publishes the next version.
# The latest-version policy loads it, (warms it up,) reports it AVAILABLE and unloads the
# old one; we ask for the new version by number the moment it is AVAILABLE.


def run_server(settings: Settings, backend: str, work_dir: Path, template: Path, warm_up: str, flags, args):
    model_dir = work_dir / "models" / settings.model_name
    if model_dir.exists():
        shutil.rmtree(model_dir)
    publish_copy(template, model_dir, 1)
    server = ScratchServer(settings, backend, model_dir, flags, f"warm_up_{warm_up}", work_dir)
    section(f"Warm-up {warm_up}" + ("" if flags else " (the default: no flag needed)"))
    server.start()
    try:
        server.wait_available(1)
        warm_connection(server, 1)
        rounds = [
            measure_round(server, template, v, args.requests, warm_up) for v in range(2, args.rounds + 2)
        ]
    finally:
        log = server.save_log()  # before stopping: --rm removes a container with its log
        server.stop()
    for row in rounds:
        print(f"  version {row.version}: first request {row.first_ms:.2f} ms, then {row.steady_ms:.2f} ms")
    finished = list(FINISHED_LINE.finditer(log))
    print(f"  The server log has {len(finished)} 'Finished reading warmup data' lines; the last:")
    print(f"    {finished[-1][0] if finished else '(none: warm-up is off)'}")
    if warm_up == "on" and len(finished) != args.rounds + 1:
        raise ChapterError(
            f"expected one warm-up per loaded version ({args.rounds + 1}), found {len(finished)}"
        )
    # The replay's own time, as the server measured it (Elapsed time (microseconds)).
    return rounds, [int(match[1]) / 1000 for match in finished]


# ---------------------------------------------------------------------------
# Step 3: what the figures say
# ---------------------------------------------------------------------------


def explain(rounds: list[Round], replay_ms: list[float]) -> None:
    section("First request after a swap vs steady state")
    print(format_table(rounds))
    cold, warm = median_first_ms(rounds, "off"), median_first_ms(rounds, "on")
    steady = median_steady_ms(rounds, "on")
    print(
        f"\nMedian first request: {cold:.2f} ms without warm-up, {warm:.2f} ms with it "
        f"(steady state {steady:.2f} ms)."
    )
    print(
        f"The replay took {statistics.median(replay_ms):.1f} ms per load (the log's Elapsed time), "
        "before AVAILABLE,\nwhile the old version kept answering; 'until AVAILABLE' is mostly the "
        "server's 1 s poll of the folder."
    )
    print(
        "Without warm-up, the first run of each signature sets it up: Grappler prunes and optimises\n"
        "the graph, buffers are allocated, kernels chosen (oneDNN on CPUs; XLA, GPU autotuning).\n"
        "This model is two Dense layers, so that is milliseconds; a large model pays seconds on\n"
        "every deployment, and the clients waiting then time out.\n"
        "The server skips a file that is not exactly <version>/assets.extra/tf_serving_warmup_requests\n"
        "(its log says 'No warmup data file found at ...'); more than 1000 records, or a request that\n"
        "fails, fails the load; the model_spec name in a record is not checked. See docs/warm_up.md."
    )


def warm_up_lesson(settings: Settings, args: argparse.Namespace) -> None:
    backend, reason = choose(settings.serving_backend)
    print(f"Backend: {backend} ({reason})")
    section("The model")
    work_dir = settings.run_dir / "warm_up"
    template = prepare_template(settings, work_dir)
    rounds: list[Round] = []
    replay_ms: list[float] = []
    for warm_up, flags in SERVERS:
        measured, replays = run_server(settings, backend, work_dir, template, warm_up, flags, args)
        rounds += measured
        replay_ms += replays
    # The copies were only for the experiment; the logs stay for a look.
    shutil.rmtree(work_dir / "models")
    shutil.rmtree(template)
    explain(rounds, replay_ms)
    logs = ", ".join(shown(work_dir / f"server_warm_up_{warm_up}.log") for warm_up, _ in SERVERS)
    print(f"\nThe two servers' logs: {logs}")


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    settings = load_settings()
    print(settings.describe())
    try:
        return run_lesson(lambda: warm_up_lesson(settings, args))
    except KeyboardInterrupt:
        # The server of the round under way was stopped on the way out (run_server's finally).
        print("interrupted (Ctrl-C); the chapter's server was stopped", file=sys.stderr)
        return cli.INTERRUPTED_EXIT_CODE


if __name__ == "__main__":
    sys.exit(main())
