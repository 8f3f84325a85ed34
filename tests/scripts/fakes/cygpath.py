"""A stand-in for Git Bash's ``cygpath -m``: /c/Users/x -> C:/Users/x, else unchanged."""

from __future__ import annotations

import re
import sys

if __name__ == "__main__":
    path = sys.argv[-1]
    match = re.match(r"^/([a-zA-Z])(/.*)?$", path)
    print(f"{match.group(1).upper()}:{match.group(2) or '/'}" if match else f"C:/msys64{path}")
