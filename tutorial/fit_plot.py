"""Step 2's picture: the training data, the true curve x^2 - 0.5 and the model's fit, as a PNG."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # draw to a file; no display needed
import matplotlib.pyplot as plt
import numpy as np

from tutorial.data import true_curve


def save_plot(path: Path, x: np.ndarray, y: np.ndarray, fitted: np.ndarray, version: int) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    figure, axes = plt.subplots(figsize=(6, 4))
    axes.scatter(x, y, s=8, alpha=0.5, label="training data")
    axes.plot(x, true_curve(x), "k--", label="true curve $x^2 - 0.5$")
    axes.plot(x, fitted, "r-", linewidth=2, label=f"model version {version}")
    axes.set_title("The blog's data, the true curve and the fit")
    axes.set_xlabel("x")
    axes.set_ylabel("y")
    axes.legend()
    figure.tight_layout()
    figure.savefig(path, dpi=100)
    plt.close(figure)
