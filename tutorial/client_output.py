"""What the clients (steps 4 and 5) print about the answers: the fit table, signatures, JSON.

Printing is not the lesson, so it lives here; the scripts keep the calls to the server.
"""

from __future__ import annotations

import json
from collections.abc import Mapping

import numpy as np

from tutorial.data import true_curve
from tutorial.saved_model_show import format_signature_def

TABLE_ROWS = 5  # rows of the fit table, spread across x in [-1, 1]


def signature_report(name: str, signatures: Mapping) -> str:
    """The signature ``name`` as saved_model_cli prints it, or the names the model does have."""
    if name in signatures:
        return "\n".join(format_signature_def(name, signatures[name]))
    servable = sorted(key for key in signatures if not key.startswith("__"))  # skip TF2's init op
    return f"  no such signature; the model has: {', '.join(servable)}"


def mean_absolute_error_line(x: np.ndarray, predictions: np.ndarray) -> str:
    mae = float(np.mean(np.abs(predictions.reshape(-1, 1) - true_curve(x))))
    return f"Mean absolute error against x^2 - 0.5 over {len(x)} rows: {mae:.4f}"


def print_fit(x: np.ndarray, predictions: np.ndarray) -> None:
    """A few rows of x, the true curve and the prediction, then the mean absolute error."""
    expected = true_curve(x)
    print(f"\n{'x':>8}  {'x^2-0.5':>8}  {'prediction':>10}")
    for row in np.linspace(0, len(x) - 1, TABLE_ROWS).astype(int):
        print(f"{x[row, 0]:8.4f}  {expected[row, 0]:8.4f}  {predictions[row, 0]:10.4f}")
    print("\n" + mean_absolute_error_line(x, predictions))


def show_json(label: str, document, rows: int = 3) -> None:
    """Print a JSON document on one line, with long lists cut to their first ``rows`` items."""

    def shorten(value):
        if isinstance(value, list) and len(value) > rows:
            return [*(shorten(item) for item in value[:rows]), f"... {len(value) - rows} more"]
        if isinstance(value, list):
            return [shorten(item) for item in value]
        if isinstance(value, dict):
            return {key: shorten(item) for key, item in value.items()}
        return value

    print(f"{label}: {json.dumps(shorten(document))}")
