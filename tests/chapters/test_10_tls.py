"""Chapter 10 end to end: TLS, then mutual TLS, on the emulator and through the fake docker."""

from __future__ import annotations

import re
from pathlib import Path

import fake_docker
from chapter_checks import make_docker_sandbox
from chapter_sandbox import MODEL_NAME, Sandbox, make_sandbox

from tutorial.settings import read_env_file

CHAPTER = "10_tls.py"
ADDRESS = r"ipv4:127\.0\.0\.1:\d+"


def check_tls_output(out: str) -> None:
    """What the chapter prints, on either backend (the figures are the model's own)."""
    assert re.search(r"Predict over TLS, trusting our CA: +y = \[[-+0-9., ]+\]", out), out
    lines = out.splitlines()
    refusals = {
        lines[index]: lines[index + 1].strip()
        for index, line in enumerate(lines)
        if line.startswith(("A client that does not trust", "A plaintext client", "The same client without"))
    }
    assert re.fullmatch(
        "UNAVAILABLE: failed to connect to all addresses; last error: UNKNOWN: "
        f"{ADDRESS}: Tls handshake failed \\(TSI_PROTOCOL_FAILURE\\): SSL_ERROR_SSL: error:1000007d:SSL "
        "routines:OPENSSL_internal:CERTIFICATE_VERIFY_FAILED: unable to get local issuer certificate: OK",
        refusals["A client that does not trust our CA (gRPC's public roots):"],
    )
    closed = (
        f"UNAVAILABLE: failed to connect to all addresses; last error: UNAVAILABLE: {ADDRESS}: Socket closed"
    )
    assert re.fullmatch(closed, refusals["A plaintext client (grpc.insecure_channel):"])
    assert re.fullmatch(closed, refusals["The same client without a certificate:"])
    assert re.search(
        rf"The REST port stays plain HTTP: GET http://127\.0\.0\.1:\d+/v1/models/{MODEL_NAME} -> 200, AVAILABLE",
        out,
    )
    assert re.search(
        r"and GET https://127\.0\.0\.1:\d+/v1/models/\w+ fails: requests.exceptions.SSLError", out
    )
    assert re.search(r"Predict with our client certificate: +y = \[[-+0-9., ]+\]", out)
    assert "Both servers are stopped." in out


def check_tls_files(box: Sandbox) -> None:
    tls_dir = Path(box.env["RUN_DIR"]) / "tls"
    assert sorted(p.name for p in tls_dir.iterdir()) == [
        "ca.pem",
        "client.key",
        "client.pem",
        "server.key",
        "server.pem",
        "ssl_config.txt",
        "ssl_config_mtls.txt",
    ]
    assert (tls_dir / "ssl_config.txt").read_text().endswith("client_verify: false\n")
    assert (tls_dir / "ssl_config_mtls.txt").read_text().endswith("client_verify: true\n")
    assert oct((tls_dir / "server.key").stat().st_mode & 0o777) == "0o600"


def test_tls_on_the_emulator(emulator_sandbox: Sandbox):
    result = emulator_sandbox.run_python(CHAPTER)
    assert result.returncode == 0, result.stdout + result.stderr
    check_tls_output(result.stdout)
    check_tls_files(emulator_sandbox)
    assert "$ python -m tfserving_emulator --port=" in result.stdout
    assert "--ssl_config_file=" in result.stdout


def test_tls_through_docker(tmp_path: Path, model_template: Path):
    box, docker_state = make_docker_sandbox(tmp_path, model_template)
    result = box.run_python(CHAPTER)
    assert result.returncode == 0, result.stdout + result.stderr
    check_tls_output(result.stdout)
    tls_dir = Path(box.env["RUN_DIR"]) / "tls"
    runs = [call for call in fake_docker.calls(docker_state) if call[:1] == ["run"]]
    assert len(runs) == 2
    for run, config in zip(runs, ("ssl_config.txt", "ssl_config_mtls.txt"), strict=True):
        # The certificates' folder is mounted, and the flag names the file as the container sees it.
        assert f"type=bind,source={tls_dir},target=/tls" in run
        assert f"type=bind,source={box.base_dir / MODEL_NAME},target=/models/{MODEL_NAME}" in run
        assert run[-2:] == [read_env_file()["TF_SERVING_IMAGE"], f"--ssl_config_file=/tls/{config}"]
    stops = [call for call in fake_docker.calls(docker_state) if call[:1] == ["stop"]]
    assert len(stops) == 2  # both servers are gone at the end


def test_no_exported_model_is_one_line(tmp_path: Path):
    box = make_sandbox(tmp_path, "emulator")
    result = box.run_python(CHAPTER)
    assert result.returncode == 1
    assert result.stderr.splitlines()[-1] == (
        f"error: no exported version in {box.base_dir / MODEL_NAME}; export one first: python 02_train_and_export.py"
    )
