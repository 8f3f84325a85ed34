"""Chapter 6 on its own: what it says without a server, and when the server pins versions.

Its run end to end, on the emulator and through a fake Docker, is in test_chapters_6_to_8.py
(chapters 7 and 8 start from what it leaves).
"""

from __future__ import annotations

from chapter_checks import HOT_SWAP, run_chapter
from chapter_sandbox import Sandbox


def test_without_a_server_it_says_how_to_start_one(emulator_sandbox: Sandbox):
    result = run_chapter(emulator_sandbox, HOT_SWAP)
    assert result.returncode == 1
    assert result.stderr == (
        f"error: no TF Serving answers at localhost:{emulator_sandbox.env['GRPC_PORT']}; "
        "start it first: ./03_start_server.sh start\n"
    )
    assert not (emulator_sandbox.base_dir / "MMModel" / "2").exists()  # nothing exported


def test_a_server_pinned_by_models_config_is_named_as_the_cause(emulator_sandbox: Sandbox):
    """A config that pins version 1 never lists version 2: one line saying how to serve the latest."""
    box = emulator_sandbox
    (box.base_dir / "models.config").write_text(
        'model_config_list { config { name: "MMModel" base_path: "/models/MMModel" '
        'model_platform: "tensorflow" model_version_policy { specific { versions: 1 } } } }\n'
    )
    started = box.server("start", "--config", str(box.base_dir / "models.config"))
    assert started.returncode == 0, started.stdout + started.stderr

    result = run_chapter(box, HOT_SWAP)
    assert result.returncode == 1, result.stdout + result.stderr
    assert result.stderr == (
        "error: the server did not pick up version 2 within 15 s; if it runs from a models.config "
        "that pins versions, serve the latest again: ./03_start_server.sh stop && ./03_start_server.sh start\n"
    )
    # The version was exported (atomically) and is there for a server that does not pin.
    assert (box.base_dir / "MMModel" / "2" / "saved_model.pb").is_file()
