"""Requests take turns for their Python work, and leave the model runs free.

Python runs one thread at a time, so several requests in flight never compute in parallel
anyway: the GIL hands the interpreter from thread to thread every few microseconds (at
each socket call, each numpy call), and every hand-over costs a wake-up and cold caches.
Under load that doubled the CPU time of a 300-row REST request (0.6 -> 0.8 ms). With one
lock around each request's Python work, requests instead run one after the other, each
to the end of its turn, while their network reads and writes still overlap.

A model run that takes long sets the turn aside while it runs (``pause``, used by
``saved_model.LoadedModel.run``): TensorFlow releases the GIL and uses other cores, so
other requests go on meanwhile. A short run keeps the turn: handing it over and back costs
more than the run. Only inference requests take turns; status, metadata, model loading and
config reloads never do, so they are never held up behind a long request.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterator

_lock = threading.Lock()
_state = threading.local()


@contextlib.contextmanager
def turn() -> Iterator[None]:
    """Run the block as this request's turn (waiting for the request before it)."""
    with _lock:
        _state.holding = True
        try:
            yield
        finally:
            _state.holding = False


@contextlib.contextmanager
def pause() -> Iterator[None]:
    """Let other requests take turns while the block runs (a model run); a no-op for a
    thread that holds no turn (model warm-up, tests)."""
    if not getattr(_state, "holding", False):
        yield
        return
    _state.holding = False
    _lock.release()
    try:
        yield
    finally:
        _lock.acquire()
        _state.holding = True
