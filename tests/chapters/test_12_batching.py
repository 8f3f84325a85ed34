"""Chapter 12 (batching) with a few requests: on the emulator, through a fake Docker, and its errors.

The figures are not checked (tests never time things): the table's shape, the servers'
commands, the parameters file and the servers' batching log lines are.
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import fake_docker
from chapter_checks import make_docker_sandbox
from chapter_sandbox import REPO_ROOT, Sandbox, make_sandbox

CHAPTER = "12_batching.py"
SMALL_RUN = ("--clients", "1,3", "--requests", "6")
ROW = re.compile(r"^(MMModel|WideModel) +(off|on) +(\d+) +(\d+) +\d+ +\d+\.\d\d +\d+\.\d\d$", re.M)
PARAMETERS = (
    "max_batch_size { value: 32 }\n"
    "batch_timeout_micros { value: 2000 }\n"
    "max_enqueued_batches { value: 100 }\n"
    "num_batch_threads { value: 2 }\n"
)
WRAPPED = "Wrapping session to perform batch processing"
HEAVY_MODULES = ("tensorflow", "grpc", "tensorflow_serving", "numpy", "matplotlib")
SERVERS = [(model, batching) for model in ("MMModel", "WideModel") for batching in ("off", "on")]


def check_output(output: str, box: Sandbox) -> None:
    assert [f"{m}, batching {b}" for m, b in SERVERS] == re.findall(
        r"^==== (\w+, batching \w+) ====$", output, re.M
    )
    assert "model      batching  clients  requests  requests/s   p50 ms   p95 ms" in output
    # 6 requests rounded up to a multiple of the clients: 6 for 1 and for 3.
    assert [(m, b, int(c), int(r)) for m, b, c, r in ROW.findall(output)] == [
        (m, b, c, 6) for m, b in SERVERS for c in (1, 3)
    ]
    assert re.findall(
        r"^  (\w+), +(\d) client\(s\): throughput x\d+\.\d\d, p50 latency [+-]\d+\.\d\d ms$", output, re.M
    ) == [("MMModel", "1"), ("MMModel", "3"), ("WideModel", "1"), ("WideModel", "3")]
    assert output.count(f"  The server log has 0 '{WRAPPED}' line(s).\n") == 2
    assert output.count(f"  The server log has 1 '{WRAPPED}' line(s).\n") == 2
    assert "".join(f"  {line}\n" for line in PARAMETERS.splitlines()) in output
    chart = box.root / "chart.png"
    assert chart.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    work = Path(box.env["RUN_DIR"]) / "batching"
    # The model copies are gone, the logs stay; the reader's model folder is untouched.
    assert sorted(p.name for p in work.iterdir()) == sorted(
        f"server_batching_{m}_{b}.log" for m, b in SERVERS
    )
    for model in ("MMModel", "WideModel"):
        assert (work / f"server_batching_{model}_on.log").read_text().count(WRAPPED) == 1
    assert sorted(p.name for p in (box.base_dir / "MMModel").iterdir()) == ["1"]


def test_on_the_emulator(emulator_sandbox: Sandbox):
    box = emulator_sandbox
    result = box.run_python(CHAPTER, *SMALL_RUN, "--chart", str(box.root / "chart.png"))
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stderr == ""
    check_output(result.stdout, box)
    models = Path(box.env["RUN_DIR"]) / "batching" / "models"
    commands = re.findall(r"^  \$ (python -m tfserving_emulator .*)$", result.stdout, flags=re.M)
    assert len(commands) == 4
    for command, (model, batching) in zip(commands, SERVERS, strict=True):
        expected = f"--model_name={model} --model_base_path={models / model} --grpc_max_threads=64"
        if batching == "on":
            expected += f" --enable_batching --batching_parameters_file={models / 'batching_parameters.txt'}"
        assert command.endswith(expected), command


def test_docker_mounts_the_parameters_file_and_passes_the_flags(tmp_path: Path, model_template: Path):
    """Through the fake docker, whose containers run the emulator on the mounted host paths."""
    box, docker_state = make_docker_sandbox(tmp_path, model_template)
    result = box.run_python(CHAPTER, *SMALL_RUN, "--chart", str(box.root / "chart.png"))
    assert result.returncode == 0, result.stdout + result.stderr
    check_output(result.stdout, box)
    models = Path(box.env["RUN_DIR"]) / "batching" / "models"
    runs = [call[1:] for call in fake_docker.calls(docker_state) if call[:1] == ["run"]]
    assert len(runs) == 4
    container = box.env["TF_SERVING_CONTAINER"]
    threads = ["--grpc_max_threads=64"]
    flags = [*threads, "--enable_batching", "--batching_parameters_file=/models/batching_parameters.txt"]
    for run, (model, batching) in zip(runs, SERVERS, strict=True):
        assert run[:5] == ["-d", "--rm", "--name", f"{container}_batching_{model}_{batching}", "-p"]
        # The folder holding the models and the parameters file is the one mounted at /models.
        assert f"type=bind,source={models},target=/models" in run
        assert run[run.index("-e") + 1] == f"MODEL_NAME={model}"
        assert run[run.index("tensorflow/serving:2.21.0") + 1 :] == (flags if batching == "on" else threads)
    stops = [call for call in fake_docker.calls(docker_state) if call[:1] == ["stop"]]
    assert stops == [["stop", f"{container}_batching_{m}_{b}"] for m, b in SERVERS]


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
    assert result.stdout.startswith(f"usage: {CHAPTER} [-h] [--clients CLIENTS] [--requests REQUESTS]")
    assert result.stdout.splitlines()[-2:] == ["imported: []", "exit: 0"]


def test_bad_options_are_refused_before_any_heavy_import():
    result = probe("--clients", "1,x")
    assert result.stderr.splitlines()[-1] == (
        f"{CHAPTER}: error: argument --clients: '1,x' is not a comma-separated list of integers"
    )
    assert result.stdout.splitlines() == ["imported: []", "exit: 2"]
    result = probe("--batch-timeout-micros", "-1")
    assert result.stderr.splitlines()[-1] == (
        f"{CHAPTER}: error: --requests and --max-batch-size must be at least 1, --batch-timeout-micros at least 0"
    )
