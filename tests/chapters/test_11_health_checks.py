"""Chapter 11 end to end: the health service, the REST status, SIGTERM under load; emulator and fake docker."""

from __future__ import annotations

import re
from pathlib import Path

import fake_docker
from chapter_checks import make_docker_sandbox
from chapter_sandbox import MODEL_NAME, Sandbox

CHAPTER = "11_health_checks.py"


def check_health_output(out: str, docker: bool = False) -> None:
    """``docker``: the signal is ``docker stop``, a command that takes a moment to deliver it,
    so requests sent just after it was run may still succeed."""
    assert "  service=''                                       SERVING" in out
    assert "  service='ModelService'                           SERVING" in out
    assert "  service='PredictionService'                      SERVING" in out
    assert "  service='tensorflow.serving.PredictionService'   NOT_FOUND: service name unknown" in out
    assert re.search(r"  200  version 1: AVAILABLE\n", out)
    assert "  404  Could not find any versions of model no_such_model" in out
    assert "  the server has exited" in out
    counts = re.findall(
        r"^  (finished before the signal|in flight at the signal|sent after the signal) +(\d+)  (.*)$",
        out,
        re.M,
    )
    by_phase: dict[str, dict[str, int]] = {}
    for phase, count, outcome in counts:
        by_phase.setdefault(phase, {})[outcome] = int(count)
    # Before the signal every request succeeded; after it none did (Docker: not at once).
    assert set(by_phase["finished before the signal"]) == {"OK"}
    assert by_phase["finished before the signal"]["OK"] > 0
    after = by_phase["sent after the signal"]
    allowed = ("UNAVAILABLE: ", "OK") if docker else ("UNAVAILABLE: ",)
    assert after and all(outcome.startswith(allowed) for outcome in after), after
    assert (
        "UNAVAILABLE: failed to connect to all addresses; last error: UNKNOWN: ADDRESS: "
        "Failed to connect to remote host: Connection refused"
    ) in after
    # In flight across the signal: anything that did not succeed was cut off (UNAVAILABLE).
    for outcome in by_phase.get("in flight at the signal", {}):
        assert outcome == "OK" or outcome.startswith("UNAVAILABLE: "), outcome
    lost = sum(n for outcome, n in by_phase.get("in flight at the signal", {}).items() if outcome != "OK")
    refused = sum(n for outcome, n in after.items() if outcome != "OK")
    assert f"\nFailed: {lost} in flight at the signal, {refused} sent after it.\n" in out
    assert "TF Serving does not drain: when it ends, the requests it holds end with it (UNAVAILABLE)." in out


def test_health_checks_on_the_emulator(emulator_sandbox: Sandbox):
    result = emulator_sandbox.run_python(CHAPTER)
    assert result.returncode == 0, result.stdout + result.stderr
    check_health_output(result.stdout)
    assert re.search(r"  \$ kill -TERM \d+\n", result.stdout)
    assert "--enable_grpc_healthcheck_service=true" in result.stdout


def test_health_checks_through_docker(tmp_path: Path, model_template: Path):
    box, docker_state = make_docker_sandbox(tmp_path, model_template)
    result = box.run_python(CHAPTER)
    assert result.returncode == 0, result.stdout + result.stderr
    check_health_output(result.stdout, docker=True)
    (run,) = [call for call in fake_docker.calls(docker_state) if call[:1] == ["run"]]
    assert run[-1] == "--enable_grpc_healthcheck_service=true"
    assert f"MODEL_NAME={MODEL_NAME}" in run
    container = run[run.index("--name") + 1]
    assert f"  $ docker stop --time 5 {container}\n" in result.stdout
