"""A stand-in for ``git``: records each call; FAKE_GIT_MODE=fail acts offline.

In ``ok`` mode, ``clone ... URL DEST`` creates DEST and ``-C DEST sparse-checkout set
PATH`` creates PATH/00000123/saved_model.pb (a placeholder file) inside it.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path


def main(argv: list[str]) -> int:
    with open(os.environ["FAKE_GIT_LOG"], "a", encoding="utf-8") as log:
        log.write(json.dumps(["git", *argv]) + "\n")
    if os.environ.get("FAKE_GIT_MODE", "ok") == "fail":
        print("Cloning into 'serving'...", file=sys.stderr)
        print(
            "fatal: unable to access 'https://github.com/tensorflow/serving/': Could not resolve host: github.com",
            file=sys.stderr,
        )
        return 128
    if argv[0] == "clone":
        Path(argv[-1]).mkdir(parents=True)
        return 0
    if argv[0] == "-C" and argv[2:4] == ["sparse-checkout", "set"]:
        version = Path(argv[1]) / argv[4] / "00000123"
        (version / "variables").mkdir(parents=True)
        (version / "saved_model.pb").write_bytes(b"placeholder")
        return 0
    print(f"fake git: unsupported: {argv}", file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
