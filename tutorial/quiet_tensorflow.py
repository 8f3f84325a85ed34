"""Import TensorFlow without its "no GPU here" notes, keeping everything else it prints.

Call it before ``import tensorflow`` (or ``tensorflow_serving.apis``, which imports
TensorFlow); the later import then finds the module already loaded:

    from tutorial.quiet_tensorflow import import_tensorflow_quietly

    import_tensorflow_quietly()
    import tensorflow as tf

Why: TensorFlow 2.21's Linux wheel is built with CUDA. On a machine without a GPU it logs
"Could not find cuda drivers on your machine, GPU will not be used." twice while it is
imported, each time after Abseil's "All log messages before absl::InitializeLog() is called
are written to STDERR". Those lines come from a static initializer that runs before
TensorFlow reads ``TF_CPP_MIN_LOG_LEVEL``, so that variable cannot hide them. They are
harmless, but a learner reads them as an error. This module captures what the import writes
to the stderr file descriptor and passes every other line through unchanged, so a real
warning or error is still seen.
"""

from __future__ import annotations

import os
import sys
import tempfile

# TensorFlow's own notes (oneDNN, CPU instructions): hidden by TensorFlow's log level.
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

# Substrings of the only lines dropped; anything else reaches stderr.
NOISE = (
    "All log messages before absl::InitializeLog() is called are written to STDERR",
    "cudart_stub.cc",
    # On CPUs with AVX-512 (and others oneDNN optimises for) the oneDNN note is logged the
    # same way, before the log level is read, so TF_CPP_MIN_LOG_LEVEL cannot hide it either.
    "oneDNN custom operations are on",
)


def is_noise(line: str) -> bool:
    return any(marker in line for marker in NOISE)


def import_tensorflow_quietly() -> None:
    """Import TensorFlow once, dropping only the NOISE lines from what it writes to stderr."""
    if "tensorflow" in sys.modules:
        return
    try:
        sys.stderr.flush()
        saved_stderr = os.dup(2)
    except (OSError, ValueError):  # no stderr descriptor to redirect: import as is
        import tensorflow

        return
    with tempfile.TemporaryFile() as captured:
        os.dup2(captured.fileno(), 2)
        try:
            import tensorflow  # noqa: F401
        finally:
            sys.stderr.flush()
            os.dup2(saved_stderr, 2)
            os.close(saved_stderr)
            captured.seek(0)
            text = captured.read().decode("utf-8", errors="replace")
            kept = [line for line in text.splitlines(keepends=True) if not is_noise(line)]
            if kept:
                sys.stderr.write("".join(kept))
                sys.stderr.flush()
