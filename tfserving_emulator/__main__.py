"""``python -m tfserving_emulator [flags]``: run the emulated model server."""

import os

# TensorFlow's C++ start-up notes (CUDA, oneDNN, CPU features) say nothing about serving
# and would bury the server's own log lines; the user can still set the variable.
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
# The official tensorflow/serving images are not built with oneDNN (Intel's oneDNN images
# are a separate build), so run TensorFlow's own Eigen kernels as they do. It also
# matters for speed: with the small models a tutorial serves, oneDNN's set-up per call
# costs more than the arithmetic it speeds up. Setting the variable overrides this.
os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "0")

# The environment must be set before TensorFlow loads, so this import comes last.
from .model_servers.server import run

run()
