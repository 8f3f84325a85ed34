"""Chapter 7: version labels; a canary that is promoted, then rolled back.

What this teaches
-----------------
A ``models.config`` chooses which versions stay loaded (``model_version_policy``) and
names them (``version_labels``). Clients ask for ``stable`` or ``canary``; you move the
names, not the clients. A scripted canary -> promote -> rollback, each step one
``HandleReloadConfigRequest`` over gRPC, with no restart.

The lesson, with its output explained: docs/labels.md (中文: docs/zh-CN/labels.md).

Run it
------
    python 07_labels.py      # after chapter 6; exports version 2 first if there is none

It (re)starts the server itself, in config mode, so it runs whether or not one is up.

It leaves the server running from trained_models/models.config, with both versions and
both labels. It exits 1 with one line saying what to do if anything goes wrong.
"""

from __future__ import annotations

import sys

from tutorial.chapter_cli import parse_chapter_args

DESCRIPTION = "Version labels on TF Serving: a canary, promoted, then rolled back, with no restart."

if __name__ == "__main__":
    # Read the command line before importing TensorFlow and gRPC (seconds), so that
    # --help and a mistyped option answer at once.
    parse_chapter_args(DESCRIPTION)

# ---------------------------------------------------------------------------
# Setup
# ---------------------------------------------------------------------------
# tutorial.model_config writes models.config and sends the same config over gRPC, with
# base paths as the running server sees them (/models/... in Docker, host folders for the
# emulator).

import numpy as np

from tutorial.chapter_scripts import Exporter, server_script, shown
from tutorial.chapter_server import (
    RESTART_PLAIN,
    ChapterError,
    Server,
    format_values,
    run_lesson,
    section,
    wait_for_states,
)
from tutorial.model_config import apply_config, config_path, show_config_file, write_config_file
from tutorial.settings import load_settings

# The versions this chapter labels: the first model (stable) and the one trained after it.
STABLE_VERSION = 1
CANARY_VERSION = 2
BOTH = (STABLE_VERSION, CANARY_VERSION)
WRITER = "07_labels.py"

# ---------------------------------------------------------------------------
# Step 1: a server that keeps both versions loaded
# ---------------------------------------------------------------------------
# The default policy serves only the latest version. model_version_policy { specific
# { versions: 1 versions: 2 } } keeps both. The labels come in step 2, by a reload: TF
# Serving assigns labels *before* it loads the versions of a new config, and refuses a
# label for a version that is not AVAILABLE yet ("Request to assign label to version 2 of
# model MMModel, which is not currently available for inference"), unless started with
# --allow_version_labels_for_unavailable_models (03_start_server.sh passes it).


def serve_both_versions(server: Server, exporter: Exporter) -> None:
    settings = server.settings
    name = settings.model_name
    # Version 2 is what chapter 6 made; export it here if you skipped that chapter.
    exporter.ensure_versions(settings.model_dir, BOTH)
    print(f"\nServe versions {STABLE_VERSION} and {CANARY_VERSION} side by side (version policy 'specific'):")
    models = [{"name": name, "versions": BOTH}]
    path = write_config_file(settings, models, f"{name}: keep versions 1 and 2 loaded", WRITER)
    show_config_file(path)
    print("Restarting the server in config mode (it reads the file at start):")
    server_script("stop")
    server_script("start", "--config", str(config_path(settings)))
    # Both versions load side by side; the status lists each as it becomes AVAILABLE.
    wait_for_states(server, name, lambda s: all(s.get(v) == "AVAILABLE" for v in BOTH))


# ---------------------------------------------------------------------------
# Step 2: asking by label, over both APIs
# ---------------------------------------------------------------------------
# gRPC names a label in model_spec.version_label, REST in the URL (/labels/<label>). The
# answer says which version ran (gRPC: response.model_spec.version; REST: the label's
# metadata), and its numbers match a request pinned to that version.


def ask_by_label(server: Server, label: str, expected: int) -> None:
    name = server.settings.model_name
    answered, values = server.predict_grpc(name, label=label)
    print(
        f"  gRPC  version_label={label!r:<9} -> answered by version {answered}, y = {format_values(values)}"
    )
    rest_values = server.predict_rest(name, label=label)
    rest_version = server.metadata_version_rest(name, label)
    print(
        f"  REST  /labels/{label}:predict{' ' * (8 - len(label))}-> y = {format_values(rest_values)}  "
        f"(/labels/{label}/metadata: version {rest_version})"
    )
    # The same numbers as a request pinned to that version: the label routed there.
    _, pinned = server.predict_grpc(name, version=expected)
    if answered != expected or rest_version != expected or not np.allclose(rest_values, pinned):
        raise ChapterError(
            f"label {label!r} should answer with version {expected}, but gRPC said {answered} "
            f"and REST metadata said {rest_version}"
        )


# ---------------------------------------------------------------------------
# Step 3: canary, promote, rollback: each one reload
# ---------------------------------------------------------------------------
# Each step writes models.config and sends the same config in HandleReloadConfigRequest:
# the reload takes effect now, the file is what a restart (or the server's next poll of
# the file) reads. The versions stay loaded; only the names move.


def move_labels(server: Server, title: str, labels: dict[str, int], why: str) -> None:
    name = server.settings.model_name
    print(f"\n-- {title}: {why}")
    models = [{"name": name, "versions": BOTH, "labels": labels}]
    apply_config(server, models, f"{name} versions 1 and 2, labels {labels}", WRITER)
    for label, version in labels.items():
        ask_by_label(server, label, version)


def canary_promote_rollback(server: Server) -> None:
    move_labels(
        server,
        "Canary",
        {"stable": STABLE_VERSION, "canary": CANARY_VERSION},
        f"most clients ask for 'stable' (version {STABLE_VERSION}); a few try 'canary' (version {CANARY_VERSION})",
    )
    move_labels(
        server,
        "Promote",
        {"stable": CANARY_VERSION, "canary": CANARY_VERSION},
        f"the canary looks good: 'stable' now means version {CANARY_VERSION}; no client changed anything",
    )
    move_labels(
        server,
        "Rollback",
        {"stable": STABLE_VERSION, "canary": CANARY_VERSION},
        f"a problem shows up: 'stable' goes back to version {STABLE_VERSION} in one reload",
    )


# ---------------------------------------------------------------------------
# Putting it together
# ---------------------------------------------------------------------------


def labels(server: Server, exporter: Exporter) -> None:
    settings = server.settings
    section("Version labels: canary, promote, rollback")
    serve_both_versions(server, exporter)
    canary_promote_rollback(server)
    config_file = shown(config_path(settings))
    print(
        f"\nThe server keeps versions {STABLE_VERSION} and {CANARY_VERSION} with these labels, and "
        f"{config_file} says the same."
    )
    section("Where this leaves the server")
    print(
        f"Running from {config_file}: {settings.model_name} versions {STABLE_VERSION} and {CANARY_VERSION}, "
        f"labels stable={STABLE_VERSION} and canary={CANARY_VERSION}. Try:\n"
        f"  curl {settings.rest_url}/v1/models/{settings.model_name}/labels/canary/metadata\n"
        f"Next: python 08_several_models.py; back to serving the latest version: {RESTART_PLAIN}"
    )


def main(argv: list[str] | None = None) -> int:
    args = parse_chapter_args(DESCRIPTION, argv)
    settings = load_settings()
    print(settings.describe())
    exporter = Exporter(settings.model_name, args.train_steps, args.plot_dir.resolve())
    with Server(settings) as server:
        return run_lesson(lambda: labels(server, exporter))


if __name__ == "__main__":
    sys.exit(main())
