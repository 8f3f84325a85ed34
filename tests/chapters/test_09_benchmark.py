"""Chapter 9 on the emulator with tiny settings: valid JSON, a PNG chart, a table; clear errors."""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from pathlib import Path

import fake_docker
import pytest
from chapter_checks import make_docker_sandbox
from chapter_sandbox import Sandbox, make_sandbox

SMALL_RUN = ("--batch-sizes", "1,300", "--requests", "4", "--warmup", "1")


@pytest.fixture(scope="module")
def running(tmp_path_factory, model_template: Path) -> Iterator[Sandbox]:
    """One emulator serving MMModel/1 for the tests that need a server (each start costs seconds)."""
    box = make_sandbox(tmp_path_factory.mktemp("benchmark"), "emulator")
    shutil.copytree(model_template, box.base_dir)
    started = box.server("start")
    assert started.returncode == 0, started.stdout + started.stderr
    try:
        yield box
    finally:
        box.server("stop")


def test_benchmark_writes_results_and_chart(running: Sandbox, tmp_path):
    output, chart = tmp_path / "out" / "benchmark.json", tmp_path / "out" / "benchmark.png"
    result = running.run_python(
        "09_benchmark.py", *SMALL_RUN, "--concurrency", "2", "--output", str(output), "--chart", str(chart),
        "--label", "emulator test",
    )  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr

    report = json.loads(output.read_text())
    assert report["model_name"] == "MMModel"
    assert report["signature"] == "serving_default"
    assert report["rest_format"] == "columnar (inputs)"
    assert (report["requests"], report["warmup"], report["concurrency"]) == (4, 1, 2)
    assert report["label"] == "emulator test"
    rows = report["results"]
    assert [(row["protocol"], row["batch_size"]) for row in rows] == [
        ("grpc", 1),
        ("rest", 1),
        ("grpc", 300),
        ("rest", 300),
    ]
    for row in rows:
        assert row["requests"] == 4 and row["concurrency"] == 2
        assert 0 < row["p50_ms"] <= row["p95_ms"] <= row["p99_ms"]
        assert row["throughput_rows_per_s"] > 0 and row["throughput_requests_per_s"] > 0
    by_key = {(row["protocol"], row["batch_size"]): row for row in rows}
    # 300 float32 values are 1,200 bytes of tensor_content; as JSON text they take far more.
    assert 1200 < by_key[("grpc", 300)]["request_bytes"] < 1400
    assert by_key[("rest", 300)]["request_bytes"] > 3 * by_key[("grpc", 300)]["request_bytes"]

    assert chart.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert "protocol   batch    request    p50 ms" in result.stdout
    assert "REST median latency over gRPC median latency" in result.stdout
    assert f"Results: {output}" in result.stdout


def test_the_blogs_two_input_signature_works_too(running: Sandbox, tmp_path):
    output = tmp_path / "benchmark.json"
    result = running.run_python(
        "09_benchmark.py", "--signature", "your_prediction", "--batch-sizes", "3", "--requests", "2",
        "--warmup", "0", "--output", str(output), "--chart", str(tmp_path / "chart.png"),
    )  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr
    assert "inputs tensor_info_input_x, tensor_info_input_y -> output tensor_info_pre_y" in result.stdout
    assert json.loads(output.read_text())["signature"] == "your_prediction"


def test_unknown_signature_names_the_ones_there_are(running: Sandbox, tmp_path):
    result = running.run_python(
        "09_benchmark.py", "--signature", "predict", "--output", str(tmp_path / "b.json")
    )
    assert result.returncode == 1
    assert result.stderr == (
        "error: model MMModel has no signature 'predict'; use --signature with one of: serving_default, your_prediction\n"
    )
    assert not (tmp_path / "b.json").exists()


def test_without_a_server_it_says_how_to_start_one(emulator_sandbox: Sandbox):
    result = emulator_sandbox.run_python("09_benchmark.py", *SMALL_RUN)
    assert result.returncode == 1
    assert result.stderr == (
        f"error: no TF Serving answers at http://localhost:{emulator_sandbox.env['REST_PORT']}; "
        "start it with ./03_start_server.sh start\n"
    )


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("0", "'0': batch sizes must be integers >= 1"),
        ("1,x", "'1,x' is not a comma-separated list of integers"),
    ],
)
def test_bad_batch_sizes_are_refused(emulator_sandbox: Sandbox, value, message):
    result = emulator_sandbox.run_python("09_benchmark.py", "--batch-sizes", value)
    assert result.returncode == 2
    assert result.stderr.splitlines()[-1] == f"09_benchmark.py: error: argument --batch-sizes: {message}"


def test_benchmark_through_docker(tmp_path: Path, model_template: Path):
    """SERVING_BACKEND=docker (a fake docker whose container is the emulator): same clients, same report."""
    box, docker_state = make_docker_sandbox(tmp_path, model_template)
    output = tmp_path / "benchmark.json"
    try:
        started = box.server("start")
        assert started.returncode == 0, started.stdout + started.stderr
        result = box.run_python(
            "09_benchmark.py", *SMALL_RUN, "--output", str(output), "--chart", str(tmp_path / "chart.png"),
        )  # fmt: skip
    finally:
        box.server("stop")
    assert result.returncode == 0, result.stdout + result.stderr
    report = json.loads(output.read_text())
    assert report["grpc_target"] == f"localhost:{box.env['GRPC_PORT']}"
    assert report["rest_url"] == f"http://localhost:{box.env['REST_PORT']}"
    assert [(row["protocol"], row["batch_size"]) for row in report["results"]] == [
        ("grpc", 1),
        ("rest", 1),
        ("grpc", 300),
        ("rest", 300),
    ]
    # The server it measured was the container 03_start_server.sh ran.
    runs = [call for call in fake_docker.calls(docker_state) if call[:1] == ["run"]]
    assert len(runs) == 1
