"""Hand values from Python to the shell scripts: ``NAME=value`` lines for ``eval``.

Each value goes through ``shlex.quote``, so a path with spaces, quotes or ``$`` arrives
as data and is never run as code.
"""

from __future__ import annotations

import shlex


def shell_assignments(**values: object) -> str:
    """``NAME='value'`` lines, in the order given; lists become space-separated words."""
    lines = []
    for name, value in values.items():
        text = " ".join(str(item) for item in value) if isinstance(value, (list, tuple)) else str(value)
        lines.append(f"{name}={shlex.quote(text)}\n")
    return "".join(lines)
