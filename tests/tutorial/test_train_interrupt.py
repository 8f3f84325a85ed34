"""Step 2 under Ctrl-C and with a folder it cannot write: one line, the right exit code, no debris.

The interrupts are real SIGINTs sent to a running 02_train_and_export.py. Each is sent at
a point the script has announced on stdout, so nothing depends on timing: during training
(after the first loss line of a run far too long to finish), and during the export (a
wrapper holds the export right after the SavedModel is written to the staging directory).
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from tutorial.settings import REPO_ROOT

SCRIPT = REPO_ROOT / "02_train_and_export.py"
MODEL_NAME = "MMModel"

# Runs the script as `python 02_train_and_export.py ARGS`, with os.rename (the export's
# publishing step, tutorial/export.py) changed to announce the complete staging directory
# and wait for the signal before renaming it. With "chain", the interrupted wait fails the
# way TensorFlow's own clean-up can: with an InvalidArgumentError raised while the
# KeyboardInterrupt is being handled.
HOLD_THE_EXPORT = """
import os, runpy, signal, sys
mode, sys.argv = sys.argv[1], sys.argv[2:]
from tutorial.quiet_tensorflow import import_tensorflow_quietly
import_tensorflow_quietly()
import tensorflow as tf

rename = os.rename

def wait_then_rename(source, destination):
    print(f"written to {source}", flush=True)
    try:
        signal.pause()
    except KeyboardInterrupt:
        if mode == "chain":
            raise tf.errors.InvalidArgumentError(None, None, "clean-up after an interrupt failed")
        raise
    rename(source, destination)

os.rename = wait_then_rename
runpy.run_path(sys.argv[0], run_name="__main__")
"""


def start(command: list[str], base_dir: Path) -> subprocess.Popen[str]:
    env = {
        **os.environ,
        "PYTHONUNBUFFERED": "1",  # each line reaches the test as it is printed
        "TF_CPP_MIN_LOG_LEVEL": "3",
        "MODEL_BASE_DIR": str(base_dir),
        "MODEL_NAME": MODEL_NAME,
    }
    return subprocess.Popen(
        command, cwd=REPO_ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )


def read_until(process: subprocess.Popen[str], prefix: str) -> str:
    for line in process.stdout:
        if line.startswith(prefix):
            return line.rstrip("\n")
    raise AssertionError(f"the script ended before printing {prefix!r}: {process.stderr.read()}")


def interrupt(process: subprocess.Popen[str]) -> tuple[int, str]:
    process.send_signal(signal.SIGINT)
    _, stderr = process.communicate(timeout=120)
    return process.returncode, stderr


def test_ctrl_c_during_training(tmp_path):
    base_dir = tmp_path / "trained_models"
    process = start(
        [sys.executable, str(SCRIPT), "--steps", "100000000", "--plot", str(tmp_path / "p.png")], base_dir
    )
    read_until(process, "step    0  loss ")
    returncode, stderr = interrupt(process)
    assert returncode == 130
    model_dir = base_dir / MODEL_NAME
    assert stderr.splitlines() == [
        f"interrupted (Ctrl-C): no version was exported; {model_dir} holds no part of version 1."
    ]
    assert list(tmp_path.iterdir()) == []  # nothing was created, not even the model folder


@pytest.mark.parametrize("mode", ["plain", "chain"])
def test_ctrl_c_during_the_export_leaves_no_partial_version(tmp_path, mode):
    base_dir = tmp_path / "trained_models"
    model_dir = base_dir / MODEL_NAME
    command = [
        sys.executable,
        "-c",
        HOLD_THE_EXPORT,
        mode,
        str(SCRIPT),
        "--steps",
        "2",
        "--plot",
        str(tmp_path / "p.png"),
    ]
    process = start(command, base_dir)
    staging_dir = Path(read_until(process, "written to ").removeprefix("written to "))
    # The signal arrives with a complete SavedModel in the hidden staging directory.
    assert staging_dir.parent == model_dir
    assert staging_dir.name.startswith(".tmp-1-")
    assert (staging_dir / "saved_model.pb").is_file()

    returncode, stderr = interrupt(process)
    assert returncode == 130
    assert "Traceback" not in stderr
    assert stderr.splitlines() == [
        f"interrupted (Ctrl-C): no version was exported; {model_dir} holds no part of version 1."
    ]
    assert list(model_dir.iterdir()) == []  # the staging directory is gone, no version 1
    assert not (tmp_path / "p.png").exists()


def test_the_handler_is_restored_after_main(train_module, tmp_path):
    before = signal.getsignal(signal.SIGINT)
    assert (
        train_module.main(
            ["--model-dir", str(tmp_path / MODEL_NAME), "--steps", "1", "--plot", str(tmp_path / "p.png")]
        )
        == 0
    )
    assert signal.getsignal(signal.SIGINT) is before


# ---------------------------------------------------------------------------
# A --model-dir that cannot be written is refused before training
# ---------------------------------------------------------------------------


def test_model_dir_under_a_file(train_module, tmp_path, capsys):
    blocker = tmp_path / "not_a_folder"
    blocker.write_text("a file where a folder should be")
    model_dir = blocker / MODEL_NAME
    assert train_module.main(["--model-dir", str(model_dir), "--plot", str(tmp_path / "p.png")]) == 1
    captured = capsys.readouterr()
    assert captured.err == (
        f"error: cannot write a version under {model_dir} ({blocker} is a file, not a folder); "
        "pass --model-dir with a folder you can write to, or set MODEL_BASE_DIR.\n"
    )
    assert "Training" not in captured.out  # refused before the training
    assert sorted(p.name for p in tmp_path.iterdir()) == ["not_a_folder"]


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes into read-only folders")
def test_model_dir_in_a_read_only_folder(train_module, tmp_path, capsys):
    locked = tmp_path / "locked"
    locked.mkdir()
    locked.chmod(0o555)
    try:
        assert train_module.main(["--model-dir", str(locked / MODEL_NAME)]) == 1
    finally:
        locked.chmod(0o755)
    assert capsys.readouterr().err == (
        f"error: cannot write a version under {locked / MODEL_NAME} ({locked}: Permission denied); "
        "pass --model-dir with a folder you can write to, or set MODEL_BASE_DIR.\n"
    )


def test_model_dir_from_the_command_line_is_one_line(tmp_path, script_runner):
    blocker = tmp_path / "file"
    blocker.write_text("")
    result = script_runner(
        "02_train_and_export.py", env={"MODEL_BASE_DIR": str(blocker), "MODEL_NAME": MODEL_NAME}
    )
    assert result.returncode == 1
    assert result.stderr.splitlines() == [
        f"error: cannot write a version under {blocker / MODEL_NAME} ({blocker} is a file, not a folder); "
        "pass --model-dir with a folder you can write to, or set MODEL_BASE_DIR."
    ]
