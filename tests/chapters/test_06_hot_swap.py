"""Chapter 6 on its own: what it says without a server.

Its run end to end, on the emulator and through a fake Docker, is in test_chapters_6_to_8.py
(chapters 7 and 8 start from what it leaves).
"""

from __future__ import annotations

from chapter_checks import HOT_SWAP, run_chapter
from conftest import Sandbox


def test_without_a_server_it_says_how_to_start_one(emulator_sandbox: Sandbox):
    result = run_chapter(emulator_sandbox, HOT_SWAP)
    assert result.returncode == 1
    assert result.stderr == (
        f"error: no TF Serving answers at localhost:{emulator_sandbox.env['GRPC_PORT']}; "
        "start it first: ./03_start_server.sh start\n"
    )
    assert not (emulator_sandbox.base_dir / "MMModel" / "2").exists()  # nothing exported
