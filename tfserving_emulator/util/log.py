"""Log lines in the shape the model server prints them (``<time>: <level> <where>] <msg>``).

Scripts and tests wait for the same lines they would see from the real binary, e.g.
``Running gRPC ModelServer at ...`` and ``Exporting HTTP/REST API at:...``.
"""

from __future__ import annotations

import datetime
import sys
import threading

_lock = threading.Lock()


def _emit(level: str, where: str, message: str) -> None:
    stamp = datetime.datetime.now().strftime("%Y-%m-%d %H:%M:%S.%f")
    with _lock:
        sys.stderr.write(f"{stamp}: {level} {where}] {message}\n")
        sys.stderr.flush()


def info(where: str, message: str) -> None:
    _emit("I", where, message)


def warning(where: str, message: str) -> None:
    _emit("W", where, message)


def error(where: str, message: str) -> None:
    _emit("E", where, message)


def fatal(where: str, message: str) -> None:
    """A ``LOG(FATAL)`` or failed ``CHECK`` line; the caller then aborts, as the binary does."""
    _emit("F", where, message)
