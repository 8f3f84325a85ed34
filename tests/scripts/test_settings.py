"""tutorial/settings.py: the one reader of settings.env, for Python and (through --shell) the shell."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from scripts_harness import REPO_ROOT, ScriptSandbox

from tutorial import settings as settings_module
from tutorial.settings import read_env_file, resolve_path


def test_resolve_path_is_lexical_and_expands_home(monkeypatch):
    monkeypatch.setenv("HOME", "/home/reader")
    assert [
        str(resolve_path("/base", "a/./b/../c")),
        str(resolve_path("/base", "/abs//x/")),
        str(resolve_path("/base", "~/m")),
        str(resolve_path("/b", "../..")),
    ] == ["/base/a/c", "/abs/x", "/home/reader/m", "/"]


def test_shell_exports_quote_every_value_so_eval_only_assigns(sandbox: ScriptSandbox, tmp_path: Path):
    """A path with a quote, a space and $(...) arrives as data: nothing runs, nothing splits."""
    odd = tmp_path / "it's a $(touch pwned) dir"
    result = sandbox.lib(
        'load_settings; printf "%s\\n" "$MODEL_BASE_DIR" "$MODEL_NAME"',
        cwd=tmp_path,
        env={"MODEL_BASE_DIR": str(odd), "MODEL_NAME": "a b;c"},
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == [str(odd), "a b;c"]
    assert not (tmp_path / "pwned").exists()


def test_shell_exports_include_the_run_time_knobs_with_defaults(sandbox: ScriptSandbox):
    result = sandbox.lib('load_settings; echo "$STARTUP_TIMEOUT $MODEL_CONFIG_POLL_SECONDS"')
    assert result.stdout == "30 60\n", result.stderr  # the sandbox sets STARTUP_TIMEOUT=30


@pytest.mark.parametrize(
    ("variable", "value", "message"),
    [
        (
            "STARTUP_TIMEOUT",
            "soon",
            "error: STARTUP_TIMEOUT='soon' is not a number of seconds; set it to e.g. 120\n",
        ),
        (
            "STARTUP_TIMEOUT",
            "-5",
            "error: STARTUP_TIMEOUT='-5' is not a number of seconds; set it to e.g. 120\n",
        ),
        (
            "MODEL_CONFIG_POLL_SECONDS",
            "1.5",
            "error: MODEL_CONFIG_POLL_SECONDS='1.5' is not a whole number of seconds; set it to e.g. 60\n",
        ),
    ],
)
def test_a_bad_run_time_knob_is_one_clear_error(sandbox: ScriptSandbox, variable, value, message):
    result = sandbox.lib("load_settings; echo unreachable", env={variable: value})
    assert result.returncode == 1
    assert result.stdout == ""
    assert result.stderr == message


def test_a_broken_settings_line_is_one_error_naming_the_line(tmp_path: Path):
    broken = tmp_path / "settings.env"
    broken.write_text("MODEL_NAME=MMModel\nGRPC_PORT 8700\n")
    with pytest.raises(SystemExit) as raised:
        read_env_file(broken)
    assert str(raised.value) == "error: settings.env: not a KEY=VALUE line: 'GRPC_PORT 8700'; fix that line"


def test_a_missing_settings_file_names_how_to_restore_it(tmp_path: Path):
    with pytest.raises(SystemExit) as raised:
        read_env_file(tmp_path / "settings.env")
    assert str(raised.value) == (
        f"error: settings file {tmp_path / 'settings.env'} is missing; restore it from the repository "
        "(git checkout settings.env)"
    )


def test_windows_line_endings_read_the_same(tmp_path: Path):
    crlf = tmp_path / "settings.env"
    crlf.write_bytes(b"# comment\r\nMODEL_NAME = MMModel \r\nGRPC_PORT=8700\r\n")
    assert read_env_file(crlf) == {"MODEL_NAME": "MMModel", "GRPC_PORT": "8700"}


def test_equal_ports_are_refused_by_the_python_reader_too():
    with pytest.raises(SystemExit) as raised:
        settings_module.load_settings({"GRPC_PORT": "9000", "REST_PORT": "9000"})
    assert str(raised.value) == (
        "error: GRPC_PORT and REST_PORT are both 9000; give them different values, e.g. REST_PORT=9001"
    )


def test_the_settings_block_is_printed_by_the_module():
    result = subprocess.run(
        [sys.executable, "-m", "tutorial.settings"],
        cwd=REPO_ROOT,
        env={"PATH": "/usr/bin:/bin", "GRPC_PORT": "9001"},
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0] == "settings (settings.env, overridden by environment variables of the same name):"
    assert "  GRPC_PORT            = 9001   (from the environment)" in lines
    assert len(lines) == 10


def test_a_tutorial_folder_where_you_stand_does_not_shadow_the_scripts_own(
    sandbox: ScriptSandbox, tmp_path: Path
):
    """Python puts the current directory first on sys.path; the scripts' modules must still be theirs
    (standing in another checkout of the tutorial, or anywhere with a folder called tutorial)."""
    decoy = tmp_path / "tutorial"
    decoy.mkdir()
    (decoy / "__init__.py").write_text("")
    (decoy / "settings.py").write_text("print('export MODEL_NAME=decoy')\n")
    sandbox.env.pop("MODEL_BASE_DIR")
    result = sandbox.lib('load_settings; echo "$MODEL_NAME $MODEL_BASE_DIR"', cwd=tmp_path)
    assert result.stdout == f"MMModel {REPO_ROOT / 'trained_models'}\n", result.stderr
