"""``python -m tfserving_emulator [flags]``: run the emulated model server."""

from .server import run

run()
