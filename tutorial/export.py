"""Publish a model version the way TF Serving wants to find it: atomically, never overwriting.

TF Serving watches ``<model_dir>/`` and loads every sub-directory whose name is an integer
(the version). It polls (every second by default), so a version directory must never be
visible half-written: the server would try to load a SavedModel whose ``variables/`` are
still being copied and fail ("Read less bytes than requested", tensorflow/serving#631).

So a version is written to a hidden sibling whose name is not an integer
(``.tmp-<version>-<random>``; the server ignores it) and then renamed into place.
``os.rename`` of a directory is atomic on one filesystem: the server sees either nothing or
the complete version.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path


class VersionExistsError(FileExistsError):
    """The version directory is already there; a published version is never overwritten."""

    def __init__(self, version_dir: Path):
        super().__init__(f"{version_dir} already exists")
        self.version_dir = version_dir


def existing_versions(model_dir: str | os.PathLike) -> list[int]:
    """The integer version directories under ``model_dir``, ascending (``[]`` if it doesn't exist).

    Like TF Serving, a name counts as a version when it is all digits (``007`` is version 7).
    """
    model_dir = Path(model_dir)
    if not model_dir.is_dir():
        return []
    return sorted(int(entry.name) for entry in model_dir.iterdir() if entry.is_dir() and entry.name.isdigit())


def next_version(model_dir: str | os.PathLike) -> int:
    """One above the highest existing version, or 1 for a new model."""
    versions = existing_versions(model_dir)
    return versions[-1] + 1 if versions else 1


def unwritable_reason(model_dir: str | os.PathLike) -> str | None:
    """Why no version could be written under ``model_dir``, or None if one can.

    Asked before training, so a bad ``--model-dir`` fails in a second, not after the work.
    It tries what the export will do (create a directory) in the nearest existing folder, and
    removes it at once: permission bits alone do not tell (root ignores them; a read-only
    file system does not show in them).
    """
    existing = Path(model_dir).absolute()
    while not existing.exists() and existing != existing.parent:
        existing = existing.parent
    if not existing.is_dir():
        return f"{existing} is a file, not a folder"
    try:
        probe = tempfile.mkdtemp(prefix=".write-check-", dir=existing)
    except OSError as error:
        return f"{existing}: {error.strerror or error}"
    os.rmdir(probe)
    return None


def export_version(model_dir: str | os.PathLike, version: int, write: Callable[[Path], None]) -> Path:
    """Call ``write(staging_dir)`` and then publish ``staging_dir`` as ``model_dir/<version>``.

    ``write`` gets an empty directory to fill (e.g. ``tf.saved_model.save(module, path)``).
    If it raises, the staging directory is removed and no version appears.
    Raises ``VersionExistsError`` if ``model_dir/<version>`` exists, before or after writing.
    """
    if version < 0:
        raise ValueError(f"a version must be a non-negative integer, got {version}")
    model_dir = Path(model_dir)
    version_dir = model_dir / str(version)
    if version_dir.exists():
        raise VersionExistsError(version_dir)
    model_dir.mkdir(parents=True, exist_ok=True)

    staging_dir = Path(tempfile.mkdtemp(prefix=f".tmp-{version}-", dir=model_dir))
    try:
        # mkdtemp makes the directory private (0700); a server running as another user
        # (e.g. inside a container) must be able to read the published version.
        staging_dir.chmod(0o755)
        write(staging_dir)
        # Checked again: another export may have published this version while we wrote.
        # (os.rename would silently replace an *empty* directory, so don't rely on it failing.)
        if version_dir.exists():
            raise VersionExistsError(version_dir)
        os.rename(staging_dir, version_dir)
    except BaseException:
        shutil.rmtree(staging_dir, ignore_errors=True)
        raise
    return version_dir


# The one-line messages of 02_train_and_export.py about the model folder.


def version_exists_message(version_dir: Path) -> str:
    return f"error: {version_dir} already exists; pass --version N with a new N, or remove that directory."


def unwritable_message(model_dir: Path, reason: str) -> str:
    return (
        f"error: cannot write a version under {model_dir} ({reason}); "
        "pass --model-dir with a folder you can write to, or set MODEL_BASE_DIR."
    )


def interrupted_message(model_dir: Path, version: int) -> str:
    if (model_dir / str(version)).exists():  # Ctrl-C after the rename: the version is complete
        return f"interrupted (Ctrl-C) after version {version} was published complete in {model_dir}."
    return f"interrupted (Ctrl-C): no version was exported; {model_dir} holds no part of version {version}."
