"""A stand-in for ``uname``: FAKE_UNAME_M answers ``-m``, FAKE_UNAME_S ``-s``, FAKE_UNAME_R ``-r``."""

from __future__ import annotations

import os
import platform
import sys

ANSWERS = {
    "-m": ("FAKE_UNAME_M", platform.machine()),
    "-s": ("FAKE_UNAME_S", platform.system()),
    "-r": ("FAKE_UNAME_R", platform.release()),
}

if __name__ == "__main__":
    option = sys.argv[1] if len(sys.argv) > 1 else "-s"
    variable, default = ANSWERS[option]
    print(os.environ.get(variable) or default)
