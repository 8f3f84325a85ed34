"""``python -m tfserving_emulator [flags]``: run the emulated model server."""

import os

# TensorFlow's C++ start-up notes (CUDA, oneDNN, CPU features) say nothing about serving
# and would bury the server's own log lines; the user can still set the variable.
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

# The environment must be set before TensorFlow loads, so this import comes last.
from .server import run

run()
