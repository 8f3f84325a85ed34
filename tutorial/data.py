"""The blog's toy data set: 300 points of y = x^2 - 0.5 plus a little Gaussian noise.

Training (``02_train_and_export.py``) and both clients (``04_grpc_client.py``,
``05_rest_client.py``) use the same recipe, so a client's "true" column is the curve the
model was fitted to.
"""

from __future__ import annotations

import numpy as np

NUM_POINTS = 300
NOISE_STDDEV = 0.05


def true_curve(x: np.ndarray) -> np.ndarray:
    """The noise-free target, x^2 - 0.5, in x's dtype."""
    return np.square(x) - np.asarray(0.5, dtype=x.dtype)


def make_data(seed: int, num_points: int = NUM_POINTS) -> tuple[np.ndarray, np.ndarray]:
    """Return ``(x, y)`` as float32 arrays of shape [num_points, 1], exactly the blog's recipe.

    x is evenly spaced on [-1, 1] (no randomness); only the noise in y depends on ``seed``.
    """
    x = np.linspace(-1.0, 1.0, num_points, dtype=np.float32)[:, np.newaxis]
    noise = np.random.default_rng(seed).normal(0.0, NOISE_STDDEV, x.shape).astype(np.float32)
    return x, true_curve(x) + noise
