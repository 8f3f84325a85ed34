"""Is a model folder laid out the way TensorFlow Serving loads it?

TF Serving serves ``<base_path>/<integer version>/saved_model.pb``. Anything else (the
SavedModel directly in the model folder, a version called ``v1``) it skips without a
word and waits forever, so 03_start_server.sh checks first (through
``python -m tutorial.server_state plan``) and says what to fix. 01_install_serving.sh asks

    python -m tutorial.model_layout first-version downloads/half_plus_two   # 00000123, or exit 1

It uses only the standard library, so it runs before the tutorial's virtualenv exists.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from tutorial.settings import display_path

EXPORT_HINT = "python 02_train_and_export.py"
SAVED_MODEL_FILES = ("saved_model.pb", "saved_model.pbtxt")


class LayoutError(Exception):
    """What is wrong with a model folder and how to fix it, as one line."""


def _is_version(path: Path) -> bool:
    return path.is_dir() and path.name.isascii() and path.name.isdigit()


def version_dirs(model_dir: Path) -> list[str]:
    """Integer-named subfolders (what TF Serving accepts as versions), sorted by name."""
    if not model_dir.is_dir():
        return []
    return sorted(entry.name for entry in model_dir.iterdir() if _is_version(entry))


def _has_saved_model(folder: Path) -> bool:
    return any((folder / name).is_file() for name in SAVED_MODEL_FILES)


def servable_versions(model_dir: Path) -> list[str]:
    """The version folders that hold a SavedModel."""
    return [version for version in version_dirs(model_dir) if _has_saved_model(model_dir / version)]


def check_base_dir(base_dir: Path) -> None:
    """MODEL_BASE_DIR must be an existing directory."""
    shown = display_path(base_dir)
    if base_dir.is_file():
        raise LayoutError(
            f"the model folder {shown} (MODEL_BASE_DIR) is a file, not a directory; set MODEL_BASE_DIR to the "
            f"directory that holds the model folders (trained_models, where {EXPORT_HINT} exports)"
        )
    if not base_dir.is_dir():
        raise LayoutError(
            f"the model folder {shown} does not exist; train and export the model first: {EXPORT_HINT}"
        )


def check_model_dir(model_dir: Path, base_dir: Path) -> None:
    """``model_dir`` must hold <integer>/saved_model.pb; otherwise raise LayoutError with the fix."""
    check_base_dir(base_dir)
    shown = display_path(model_dir)
    if model_dir.is_file():
        raise LayoutError(
            f"{shown} is a file, not a model folder; remove it and export the model there: {EXPORT_HINT}"
        )
    if not model_dir.is_dir():
        raise LayoutError(
            f"no model folder {shown}; export the model first ({EXPORT_HINT}) or set MODEL_NAME to a folder of "
            f"{display_path(base_dir)}"
        )
    if servable_versions(model_dir):
        return
    if _has_saved_model(model_dir):
        raise LayoutError(
            f"saved_model.pb is directly in {shown}; TF Serving only loads integer-named version folders: "
            f"move saved_model.pb and variables/ into {shown}/1/"
        )
    versions = version_dirs(model_dir)
    if versions:
        raise LayoutError(
            f"{shown}/{versions[0]} has no saved_model.pb; export the SavedModel into it: {EXPORT_HINT}"
        )
    others = sorted(
        entry.name
        for entry in model_dir.iterdir()
        if entry.is_dir() and not _is_version(entry) and not entry.name.startswith(".")
    )
    if others:
        raise LayoutError(
            f"no integer-named version folder in {shown} (found: {', '.join(others)}); TF Serving silently "
            f"skips other names: rename it, e.g. mv {shown}/{others[0]} {shown}/1"
        )
    raise LayoutError(
        f"no version directory: put the SavedModel in {shown}/1/ (TF Serving only loads integer-named "
        f"subfolders); run {EXPORT_HINT}"
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m tutorial.model_layout", description="Look at a model folder's TF Serving layout."
    )
    commands = parser.add_subparsers(dest="command", required=True)
    first = commands.add_parser(
        "first-version", help="print the first version of MODEL_DIR with a SavedModel"
    )
    first.add_argument("model_dir", type=Path)
    args = parser.parse_args(argv)
    versions = servable_versions(args.model_dir)
    if not versions:
        return 1
    print(versions[0])
    return 0


if __name__ == "__main__":
    sys.exit(main())
