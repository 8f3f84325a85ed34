"""The command line of chapters 6 to 8, parsed before anything heavy is imported.

Importing TensorFlow and gRPC takes seconds; a script that parses its arguments first
answers ``--help`` and a mistyped option at once. So this module imports only the
standard library and ``tutorial.settings``.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from tutorial.settings import REPO_ROOT


def parse_chapter_args(description: str, argv: list[str] | None = None) -> argparse.Namespace:
    """``--train-steps`` and ``--plot-dir``: how the versions a chapter exports are made."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument(
        "--train-steps",
        type=int,
        help="training steps for the versions this script exports (default: 02_train_and_export.py's)",
    )
    parser.add_argument(
        "--plot-dir",
        type=Path,
        default=REPO_ROOT / "results",
        help="where 02_train_and_export.py draws the fits of the versions made here (default results/)",
    )
    args = parser.parse_args(argv)
    if args.train_steps is not None and args.train_steps < 1:
        parser.error("--train-steps must be at least 1")
    return args
