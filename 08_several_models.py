"""Chapter 8: several models on one server.

What this teaches
-----------------
The blog served MMModel, MMModel_2 and MMModel_3 from one ``models.config``. Each model has
its own folder of versions and its own name in requests; the default version policy
(latest) applies to each. A server already running from a config file takes the new list
in one ``HandleReloadConfigRequest``; a server started for one model is restarted with
the file.

The lesson, with its output explained: docs/several_models.md (中文: docs/zh-CN/several_models.md).

Run it
------
    python 08_several_models.py     # after chapter 7, or on its own; exports what is missing

It leaves the server running from trained_models/models.config with the three models. It
exits 1 with one line saying what to do if anything goes wrong.
"""

from __future__ import annotations

import sys

from tutorial.chapter_cli import parse_chapter_args

DESCRIPTION = "Several models on one TF Serving: the blog's three-model models.config."

if __name__ == "__main__":
    # Read the command line before importing TensorFlow and gRPC (seconds), so that
    # --help and a mistyped option answer at once.
    parse_chapter_args(DESCRIPTION)

# ---------------------------------------------------------------------------
# Setup
# ---------------------------------------------------------------------------

import numpy as np

from tutorial.chapter_scripts import Exporter, server_script, shown
from tutorial.chapter_server import (
    PROBE_X,
    RESTART_PLAIN,
    ChapterError,
    Server,
    format_states,
    format_values,
    run_lesson,
    section,
    wait_for_states,
)
from tutorial.export import existing_versions
from tutorial.model_config import (
    apply_config,
    config_path,
    runs_from_config_file,
    show_config_file,
    write_config_file,
)
from tutorial.settings import Settings, load_settings

WRITER = "08_several_models.py"

# ---------------------------------------------------------------------------
# Step 1: a folder of versions per model
# ---------------------------------------------------------------------------
# TF Serving finds a model's versions under its base_path, one folder per model. The two
# new models are the same network trained from other seeds, so their answers differ a
# little and you can tell who answered.


def export_missing_models(settings: Settings, exporter: Exporter, names: list[str]) -> None:
    for offset, name in enumerate(names[1:], start=1):
        model_dir = settings.model_base_dir / name
        if not existing_versions(model_dir):
            print(f"{name} has no version yet; exporting version 1:")
            # A different seed per model, so the three give (slightly) different answers.
            exporter.export(model_dir, 1, seed=10 * offset + 1)
    exporter.ensure_versions(settings.model_dir, (1,))


# ---------------------------------------------------------------------------
# Step 2: one models.config with the three models
# ---------------------------------------------------------------------------
# Each entry is a name and a base_path, no version policy: each model serves its latest
# version. Reloading with this list adds the two new models (the call returns once they
# are AVAILABLE) and puts MMModel back on the latest-version policy, dropping chapter 7's
# labels: the new list *replaces* the old one.


def serve_three_models(server: Server, names: list[str]) -> None:
    settings = server.settings
    models = [{"name": name} for name in names]
    purpose = f"The blog's three models: {', '.join(names)}"
    # 03_start_server.sh records whether it started the server with --config.
    if runs_from_config_file(settings):
        print("\nThe server already runs from a config file, so one reload adds the two models:")
        apply_config(server, models, purpose, WRITER)
    else:
        print("\nRestarting the server in config mode with the three models:")
        show_config_file(write_config_file(settings, models, purpose, WRITER))
        server_script("stop")
        server_script("start", "--config", str(config_path(settings)))


# ---------------------------------------------------------------------------
# Step 3: each model by name
# ---------------------------------------------------------------------------
# The model's name is the only thing a client changes: model_spec.name over gRPC,
# /v1/models/<name> over REST. Both APIs must give the same numbers.


def ask_each_model(server: Server, names: list[str]) -> None:
    print(f"\nEach model by name (x = {format_values(PROBE_X)}, true y = {format_values(PROBE_X**2 - 0.5)}):")
    for name in names:
        # After a restart the models load one by one; wait for each without printing.
        states = wait_for_states(server, name, lambda s: "AVAILABLE" in s.values(), show=False)
        answered, values = server.predict_grpc(name)
        rest_values = server.predict_rest(name)
        print(f"  {name:<10} gRPC: version {answered}, y = {format_values(values)}")
        print(f"  {'':<10} REST: y = {format_values(rest_values)}   (status: {format_states(states)})")
        if not np.allclose(values, rest_values, atol=1e-6):
            raise ChapterError(f"gRPC and REST answers differ for {name}")


# ---------------------------------------------------------------------------
# Putting it together
# ---------------------------------------------------------------------------


def several_models(server: Server, exporter: Exporter) -> None:
    settings = server.settings
    names = [settings.model_name, f"{settings.model_name}_2", f"{settings.model_name}_3"]
    section("Three models on one server")
    export_missing_models(settings, exporter, names)
    serve_three_models(server, names)
    ask_each_model(server, names)
    section("Where this leaves the server")
    print(
        f"Running from {shown(config_path(settings))}: {', '.join(names[:2])} and {names[2]}, "
        "each at its latest version. 04/05 clients work as before.\n"
        f"Back to the single model: {RESTART_PLAIN}"
    )


def main(argv: list[str] | None = None) -> int:
    args = parse_chapter_args(DESCRIPTION, argv)
    settings = load_settings()
    print(settings.describe())
    exporter = Exporter(settings.model_name, args.train_steps, args.plot_dir.resolve())
    with Server(settings) as server:
        return run_lesson(lambda: several_models(server, exporter))


if __name__ == "__main__":
    sys.exit(main())
