"""Chapter 6: a new model version while requests keep coming (hot swap).

What this teaches
-----------------
TF Serving watches the model's folder. Export a new version while clients keep sending
requests: the server loads it, switches to it and unloads the old one, and not one request
fails. Then: how to pin a request to a version, and what asking for an unloaded one says.

The lesson, with its output explained: docs/hot_swap.md (中文: docs/zh-CN/hot_swap.md).

Run it
------
    python 02_train_and_export.py        # version 1, if you have not yet
    ./03_start_server.sh start
    python 06_hot_swap.py                # about half a minute, most of it training

Every step prints what it does and what the server answered. The script exits 1 with one
line saying what to do if anything goes wrong, including a single failed request during
the swap.
"""

from __future__ import annotations

import sys

from tutorial.chapter_cli import parse_chapter_args

DESCRIPTION = "Export a new version while requests keep coming: TF Serving swaps it in with no downtime."

if __name__ == "__main__":
    # Read the command line before importing TensorFlow and gRPC (seconds), so that
    # --help and a mistyped option answer at once.
    parse_chapter_args(DESCRIPTION)

# ---------------------------------------------------------------------------
# Setup
# ---------------------------------------------------------------------------
# tutorial.chapter_server holds the gRPC and REST calls of chapters 4 and 5 as one method
# each (status, predict by version or label); tutorial.chapter_scripts runs 02 and 03 the
# way you would type them; tutorial.background_load sends the traffic and logs the status.

import time

import grpc

from tutorial.background_load import LoadGenerator, StatusWatcher
from tutorial.chapter_scripts import Exporter
from tutorial.chapter_server import (
    RESTART_PLAIN,
    ChapterError,
    RestError,
    Server,
    format_states,
    format_values,
    grpc_error_text,
    require_server,
    run_lesson,
    section,
    wait_for_states,
)
from tutorial.export import existing_versions
from tutorial.settings import load_settings

# The server polls the model folder every second; give it some slack to list a new version.
NEW_VERSION_SEEN_SECONDS = 15.0

# ---------------------------------------------------------------------------
# Step 1: what the server serves now
# ---------------------------------------------------------------------------
# With the default version policy (latest, one version) TF Serving serves the highest
# version it finds in the model's folder. The next version is one above everything there.


def current_and_next_version(server: Server) -> tuple[int, int]:
    name = server.settings.model_name
    # require_server turns "nothing listens" into one line saying how to start the server.
    states = require_server(server)
    print(f"Status of {name}: {format_states(states)}")
    available = [version for version, state in states.items() if state == "AVAILABLE"]
    if not available:
        raise ChapterError(f"{name} has no AVAILABLE version; check ./03_start_server.sh status")
    old_version = max(available)
    # Versions on disk count too: one the server failed to load must not be exported over.
    return old_version, max([old_version, *existing_versions(server.settings.model_dir)]) + 1


# ---------------------------------------------------------------------------
# Step 2: export a new version under load
# ---------------------------------------------------------------------------
# When a higher version appears, TF Serving loads it *first*, and only when it is
# AVAILABLE does it unload the old one (its availability-preserving policy). So requests
# that name no version never find the model missing: the old version answers until the
# new one can.


def swap_under_load(server: Server, exporter: Exporter, old_version: int, new_version: int) -> None:
    name = server.settings.model_name
    print(
        "\nA background thread sends requests without a version (= the latest), gRPC and REST in turn;"
        f"\nanother watches the status. Meanwhile, export version {new_version}:"
    )
    load = LoadGenerator(server, name)
    watcher = StatusWatcher(server, name)
    load.start()
    watcher.start()
    try:
        # 02_train_and_export.py publishes the version atomically (tutorial/export.py):
        # the server never sees a half-written folder.
        exporter.export(server.settings.model_dir, new_version, seed=new_version)
        # The server notices a new version at its next poll of the folder (every second).
        # A server whose models.config pins versions never lists it: say so, don't wait.
        try:
            wait_for_states(server, name, lambda s: new_version in s, NEW_VERSION_SEEN_SECONDS, show=False)
        except ChapterError:
            raise ChapterError(
                f"the server did not pick up version {new_version} within {NEW_VERSION_SEEN_SECONDS:g} s; "
                f"if it runs from a models.config that pins versions, serve the latest again: {RESTART_PLAIN}"
            ) from None
        # Done when the new version serves and the old one is gone.
        wait_for_states(
            server,
            name,
            lambda s: s.get(new_version) == "AVAILABLE" and s.get(old_version) == "END",
            show=False,
        )
        time.sleep(1.0)  # a moment of traffic on the new version alone
    finally:
        load.stop()
        watcher.stop()

    print("\nWhat the status said, counted from the start of the export (the server polls the folder):")
    for seconds, states in watcher.changes:
        print(f"  {seconds:5.1f} s  {name}: {format_states(states)}")
    answers = ", ".join(f"version {version}: {count}" for version, count in sorted(load.answered_by.items()))
    print(f"\nRequests sent during the swap: {load.sent}, failed: {load.failed}")
    print(f"gRPC answers by version: {answers}")
    if load.failed:
        raise ChapterError(
            f"{load.failed} of {load.sent} requests failed during the swap (first: {load.first_failure}); "
            "see ./03_start_server.sh logs"
        )
    print("Zero failed requests: the new version took over with no downtime.")


# ---------------------------------------------------------------------------
# Step 3: asking for one version
# ---------------------------------------------------------------------------
# gRPC names a version in model_spec.version, REST in the URL (/versions/N). A version
# that is not loaded is an error, NOT_FOUND over gRPC and 404 over REST, with the same
# message: a client that pins versions must move with them.


def ask_by_version(server: Server, new_version: int, old_version: int) -> None:
    name = server.settings.model_name
    print("\nPinning a request to a version (gRPC model_spec.version, REST /versions/N):")
    answered, values = server.predict_grpc(name, version=new_version)
    print(f"  gRPC  version {new_version}: answered by version {answered}, y = {format_values(values)}")
    values = server.predict_rest(name, version=new_version)
    print(
        f"  REST  POST {server.model_url(name, version=new_version)}:predict -> y = {format_values(values)}"
    )

    print(f"\nVersion {old_version} is unloaded (END), so asking for it fails, on both APIs:")
    try:
        server.predict_grpc(name, version=old_version)
        raise ChapterError(f"version {old_version} still answered after it was unloaded")
    except grpc.RpcError as err:
        print(f"  gRPC  {grpc_error_text(err)}")
    try:
        server.predict_rest(name, version=old_version)
        raise ChapterError(f"version {old_version} still answered over REST after it was unloaded")
    except RestError as err:
        print(f"  REST  {err}")
    print("To keep several versions loaded and choose between them by name, see 07_labels.py.")


# ---------------------------------------------------------------------------
# Putting it together
# ---------------------------------------------------------------------------


def hot_swap(server: Server, exporter: Exporter) -> None:
    section("A new version while requests keep coming (hot swap)")
    old_version, new_version = current_and_next_version(server)
    swap_under_load(server, exporter, old_version, new_version)
    ask_by_version(server, new_version, old_version)
    section("Where this leaves the server")
    print(
        f"Serving {server.settings.model_name} at its newest version, as before; "
        "export another and it takes over."
    )


def main(argv: list[str] | None = None) -> int:
    args = parse_chapter_args(DESCRIPTION, argv)
    settings = load_settings()
    print(settings.describe())
    exporter = Exporter(settings.model_name, args.train_steps, args.plot_dir.resolve())
    with Server(settings) as server:
        return run_lesson(lambda: hot_swap(server, exporter))


if __name__ == "__main__":
    sys.exit(main())
