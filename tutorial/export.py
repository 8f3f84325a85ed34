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
