"""tutorial/server_state.py and tutorial/shell_vars.py as Python: the record other scripts read."""

from __future__ import annotations

import shlex
import subprocess
from pathlib import Path

from tutorial.server_state import clear_record, recorded_backend, recorded_mode, write_record
from tutorial.settings import load_settings
from tutorial.shell_vars import shell_assignments


def settings_in(tmp_path: Path):
    return load_settings({"RUN_DIR": str(tmp_path / "run"), "GRPC_PORT": "9100", "REST_PORT": "9101"})


def test_without_a_record_nothing_is_recorded(tmp_path: Path):
    settings = settings_in(tmp_path)
    assert recorded_backend(settings.run_dir) is None
    assert recorded_mode(settings.run_dir) is None


def test_the_record_is_one_small_file_per_fact(tmp_path: Path):
    settings = settings_in(tmp_path)
    write_record(settings, "emulator", "config /m/models.config", ["MMModel", "MMModel_2"], pid=4321)
    files = {path.name: path.read_text() for path in settings.run_dir.iterdir()}
    assert files == {
        "server.pid": "4321\n",
        "server.backend": "emulator\n",
        "server.mode": "config /m/models.config\n",
        "server.models": "MMModel\nMMModel_2\n",
        "server.ports": "9100 9101\n",
    }
    assert recorded_backend(settings.run_dir) == "emulator"
    assert recorded_mode(settings.run_dir) == "config /m/models.config"
    clear_record(settings)
    assert list(settings.run_dir.iterdir()) == []


def test_shell_assignments_survive_eval_unchanged():
    values = {"A": 'it\'s $(echo no) `x` \\ "q"', "B": ["one", "two words"], "C": ""}
    text = shell_assignments(**values)
    script = f'{text}printf "%s|" "$A" "$B" "$C"'
    result = subprocess.run(["bash", "-c", script], capture_output=True, text=True, check=True)
    assert result.stdout == f"{values['A']}|one two words||"
    assert text.splitlines()[0] == f"A={shlex.quote(values['A'])}"
