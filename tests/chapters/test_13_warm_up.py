"""Chapter 13 (warm-up) with tiny settings: on the emulator, through a fake Docker, and its errors.

The figures are not checked (tests never time things): the table's shape, the servers'
commands and their warm-up log lines are.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import fake_docker
from chapter_checks import make_docker_sandbox
from chapter_sandbox import REPO_ROOT, Sandbox, make_sandbox

CHAPTER = "13_warm_up.py"
SMALL_RUN = ("--rounds", "2", "--requests", "2")
WARMUP_PATH = "assets.extra/tf_serving_warmup_requests"
ROW = re.compile(r"^(on|off) +(\d+) +\d+ ms +(\d+\.\d\d) ms +(\d+\.\d\d) ms +(\d+\.\d)x$", re.M)
DESCRIBED = "2 warm-up requests: your_prediction (8 rows), serving_default (8 rows)"
HEAVY_MODULES = ("tensorflow", "grpc", "tensorflow_serving", "numpy", "requests")


def finished_lines(log: str) -> list[str]:
    """TF Serving's line after a replay (saved_model_warmup_util.cc), with the emulator's prefix dropped."""
    return re.findall(r"\] (Finished reading warmup data for model at .*)$", log, flags=re.M)


def check_output(output: str, warmup_dir: str) -> None:
    """Two servers, two swaps each (versions 2 and 3), one table row per swap."""
    assert "==== Warm-up on (the default: no flag needed) ====" in output
    assert "==== Warm-up off ====" in output
    assert "warm-up  version  until AVAILABLE  first request  steady median  first / steady" in output
    rows = ROW.findall(output)
    assert [(setting, int(version)) for setting, version, *_ in rows] == [
        ("on", 2), ("on", 3), ("off", 2), ("off", 3)
    ]  # fmt: skip
    for _, _, first, steady, ratio in rows:
        # first / steady of the unrounded times; the printed ones are rounded to 0.01 ms.
        expected = float(first) / float(steady)
        assert abs(float(ratio) - expected) <= 0.05 + 0.03 * expected, (first, steady, ratio)
    # The "on" server replayed the file for versions 1, 2 and 3; the last line is printed.
    assert "  The server log has 3 'Finished reading warmup data' lines; the last:\n" in output
    assert "  The server log has 0 'Finished reading warmup data' lines; the last:\n" in output
    shown = re.search(r"^    (Finished reading warmup data for model at .*)$", output, flags=re.M)[1]
    assert re.fullmatch(
        rf"Finished reading warmup data for model at {re.escape(warmup_dir)}/3/{WARMUP_PATH}\. "
        r"Number of warmup records read: 2\. Elapsed time \(microseconds\): \d+\.",
        shown,
    ), shown
    assert re.search(
        r"^Median first request: \d+\.\d\d ms without warm-up, \d+\.\d\d ms with it", output, re.M
    )


def test_on_the_emulator(emulator_sandbox: Sandbox):
    box = emulator_sandbox
    result = box.run_python(CHAPTER, *SMALL_RUN)
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stderr == ""
    work = Path(box.env["RUN_DIR"]) / "warm_up"
    assert f"It has a warm-up file: {DESCRIBED}\n" in result.stdout
    check_output(result.stdout, str(work / "models" / "MMModel"))
    commands = re.findall(r"^  \$ (python -m tfserving_emulator .*)$", result.stdout, flags=re.M)
    assert len(commands) == 2
    assert commands[0].endswith(f"--model_base_path={work / 'models' / 'MMModel'}")
    assert commands[1].endswith(
        f"--model_base_path={work / 'models' / 'MMModel'} --enable_model_warmup=false"
    )
    # The copies are gone, the logs stay; the reader's model folder is untouched.
    assert sorted(p.name for p in work.iterdir()) == ["server_warm_up_off.log", "server_warm_up_on.log"]
    assert len(finished_lines((work / "server_warm_up_on.log").read_text())) == 3
    assert finished_lines((work / "server_warm_up_off.log").read_text()) == []
    assert sorted(p.name for p in (box.base_dir / "MMModel").iterdir()) == ["1"]


def test_docker_passes_the_flag_after_the_image(tmp_path: Path, model_template: Path):
    """Through the fake docker (its containers run the emulator), and from an export with no warm-up file."""
    box, docker_state = make_docker_sandbox(tmp_path, model_template)
    shutil.rmtree(box.base_dir / "MMModel" / "1" / "assets.extra")  # exported before step 2 wrote one
    result = box.run_python(CHAPTER, *SMALL_RUN)
    assert result.returncode == 0, result.stdout + result.stderr
    assert (
        f"It has no {WARMUP_PATH} (an older export); the copies get step 2's:\n  {DESCRIBED}\n"
        in result.stdout
    )
    work = Path(box.env["RUN_DIR"]) / "warm_up"
    # The fake container's emulator reads the host path that /models/MMModel is mounted from.
    check_output(result.stdout, str(work / "models" / "MMModel"))
    runs = [call[1:] for call in fake_docker.calls(docker_state) if call[:1] == ["run"]]
    assert len(runs) == 2
    container = box.env["TF_SERVING_CONTAINER"]
    for run, label, flags in zip(runs, ("on", "off"), ([], ["--enable_model_warmup=false"]), strict=True):
        assert run[:5] == ["-d", "--rm", "--name", f"{container}_warm_up_{label}", "-p"]
        assert f"type=bind,source={work / 'models'},target=/models" in run
        assert run[run.index("-e") + 1] == "MODEL_NAME=MMModel"
        assert run[run.index("tensorflow/serving:2.21.0") + 1 :] == flags
    # A container left by a killed run is removed before each start; each is stopped after.
    removals = [call for call in fake_docker.calls(docker_state) if call[:1] == ["rm"]]
    assert removals == [["rm", "-f", f"{container}_warm_up_on"], ["rm", "-f", f"{container}_warm_up_off"]]
    stops = [call for call in fake_docker.calls(docker_state) if call[:1] == ["stop"]]
    assert stops == [["stop", f"{container}_warm_up_on"], ["stop", f"{container}_warm_up_off"]]
    # docker logs was saved before the container (and its log, with --rm) went away.
    assert len(finished_lines((work / "server_warm_up_on.log").read_text())) == 3


def test_without_an_export_it_says_how_to_make_one(tmp_path: Path):
    box = make_sandbox(tmp_path, "emulator")
    result = box.run_python(CHAPTER, *SMALL_RUN)
    assert result.returncode == 1
    assert result.stderr == (
        f"error: no version under {box.base_dir / 'MMModel'}; export one first: python 02_train_and_export.py\n"
    )


PROBE = """
import runpy, sys
sys.argv = [sys.argv[1], *sys.argv[2:]]
try:
    runpy.run_path(sys.argv[0], run_name="__main__")
except SystemExit as exit:
    code = exit.code
print("imported:", sorted(m for m in {heavy!r} if m in sys.modules))
print("exit:", code)
"""


def probe(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-c", PROBE.format(heavy=HEAVY_MODULES), str(REPO_ROOT / CHAPTER), *args],
        cwd=REPO_ROOT, capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip


def test_help_answers_before_any_heavy_import():
    result = probe("--help")
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith(f"usage: {CHAPTER} [-h] [--rounds ROUNDS] [--requests REQUESTS]")
    # argparse wraps the description at the terminal's width.
    assert "Time the first request after a version swap, with and without TF Serving's model warm-up." in (
        " ".join(result.stdout.split())
    )
    assert result.stdout.splitlines()[-2:] == ["imported: []", "exit: 0"]


def test_bad_options_are_refused_before_any_heavy_import():
    result = probe("--rounds", "0")
    assert result.stderr.splitlines()[-1] == f"{CHAPTER}: error: --rounds must be at least 1"
    assert result.stdout.splitlines() == ["imported: []", "exit: 2"]
    result = probe("--requests", "0")
    assert result.stderr.splitlines()[-1] == f"{CHAPTER}: error: --requests must be at least 1"
