"""``--ssl_config_file``: the gRPC port (and socket) over TLS, as ``BuildServerCredentials`` sets it up.

TLS with the server's certificate only, then mutual TLS (``client_verify``); the REST port
stays plain HTTP; and the start-up failures of a missing, unparseable or unusable file.
"""

from __future__ import annotations

import json
import signal
import urllib.request

import grpc
import pytest
from emulator_harness import run_emulator_to_exit, serve
from tensorflow.core.framework import types_pb2
from tensorflow_serving.apis import predict_pb2, prediction_service_pb2_grpc

from tutorial.certificates import make_tls_files, ssl_config_text

TIMEOUT = 30
CHECK = "Check failed: ParseProtoTextFile<SSLConfig>(ssl_config_file, &ssl_config) is OK"


@pytest.fixture(scope="module")
def half_plus_two_base(half_plus_two_version_dir, copy_into):
    return copy_into(half_plus_two_version_dir, "half_plus_two", 123)


@pytest.fixture(scope="module")
def tls_files():
    return make_tls_files()


def write_config(tmp_path, files, client_verify: bool):
    path = tmp_path / ("mtls.config" if client_verify else "tls.config")
    path.write_text(ssl_config_text(files, client_verify), encoding="utf-8")
    return path


def predict(target: str, credentials, **options) -> list[float]:
    channel = (
        grpc.secure_channel(target, credentials, options=list(options.items()))
        if credentials
        else grpc.insecure_channel(target)
    )
    with channel:
        request = predict_pb2.PredictRequest()
        request.model_spec.name = "half_plus_two"
        request.inputs["x"].dtype = types_pb2.DT_FLOAT
        request.inputs["x"].float_val.append(2.0)
        request.inputs["x"].tensor_shape.dim.add().size = 1
        stub = prediction_service_pb2_grpc.PredictionServiceStub(channel)
        return list(stub.Predict(request, timeout=TIMEOUT).outputs["y"].float_val)


def refusal(target: str, credentials) -> tuple[grpc.StatusCode, str]:
    with pytest.raises(grpc.RpcError) as caught:
        predict(target, credentials)
    return caught.value.code(), caught.value.details()


def test_tls_port_answers_clients_that_trust_the_ca_only(tmp_path, half_plus_two_base, tls_files):
    config = write_config(tmp_path, tls_files, client_verify=False)
    args = [
        "--model_name=half_plus_two",
        f"--model_base_path={half_plus_two_base}",
        f"--ssl_config_file={config}",
    ]
    with serve(args) as served:
        log = served.log_text()
        assert "server.cc] Using SSL credentials" in log
        assert "Using InsecureServerCredentials" not in log
        assert "ssl_config_file is not emulated" not in log
        target = f"127.0.0.1:{served.process.grpc_port}"
        trusted = grpc.ssl_channel_credentials(root_certificates=tls_files.ca.cert.encode())
        assert predict(target, trusted) == [3.0]
        # The name the client dials is checked against the certificate (localhost is in it too).
        assert predict(f"localhost:{served.process.grpc_port}", trusted) == [3.0]

        code, details = refusal(target, grpc.ssl_channel_credentials())  # gRPC's public roots
        assert code == grpc.StatusCode.UNAVAILABLE
        assert details == (
            f"failed to connect to all addresses; last error: UNKNOWN: ipv4:{target}: "
            "Tls handshake failed (TSI_PROTOCOL_FAILURE): SSL_ERROR_SSL: error:1000007d:SSL "
            "routines:OPENSSL_internal:CERTIFICATE_VERIFY_FAILED: unable to get local issuer certificate: OK"
        )
        code, details = refusal(target, None)  # plaintext
        assert code == grpc.StatusCode.UNAVAILABLE
        assert (
            details
            == f"failed to connect to all addresses; last error: UNAVAILABLE: ipv4:{target}: Socket closed"
        )

        # REST is plain HTTP whatever the gRPC port does (TF Serving's HTTP server has no TLS).
        with urllib.request.urlopen(
            f"{served.process.rest_url}/v1/models/half_plus_two", timeout=TIMEOUT
        ) as reply:
            status = json.loads(reply.read())
        assert status["model_version_status"][0]["state"] == "AVAILABLE"


def test_mutual_tls_requires_a_client_certificate_from_the_ca(tmp_path, half_plus_two_base, tls_files):
    config = write_config(tmp_path, tls_files, client_verify=True)
    socket_path = tmp_path / "tls.sock"
    args = [
        "--model_name=half_plus_two",
        f"--model_base_path={half_plus_two_base}",
        f"--ssl_config_file={config}",
        f"--grpc_socket_path={socket_path}",
    ]
    with serve(args) as served:
        # One credentials object per listening port, as server.cc builds them: two lines.
        assert served.log_text().count("Using SSL credentials") == 2
        target = f"127.0.0.1:{served.process.grpc_port}"
        ca = tls_files.ca.cert.encode()
        with_cert = grpc.ssl_channel_credentials(
            ca, tls_files.client.key.encode(), tls_files.client.cert.encode()
        )
        assert predict(target, with_cert) == [3.0]
        # The UNIX socket gets the same credentials.
        assert predict(
            f"unix:{socket_path}", with_cert, **{"grpc.ssl_target_name_override": "localhost"}
        ) == [3.0]

        code, details = refusal(target, grpc.ssl_channel_credentials(ca))
        assert code == grpc.StatusCode.UNAVAILABLE
        assert (
            details
            == f"failed to connect to all addresses; last error: UNAVAILABLE: ipv4:{target}: Socket closed"
        )
        # A certificate from another CA is refused the same way.
        other = make_tls_files()
        stranger = grpc.ssl_channel_credentials(ca, other.client.key.encode(), other.client.cert.encode())
        code, _ = refusal(target, stranger)
        assert code == grpc.StatusCode.UNAVAILABLE


def test_a_missing_file_aborts_after_the_models_load(tmp_path, half_plus_two_base):
    missing = tmp_path / "nowhere.config"
    result = run_emulator_to_exit(
        [
            "--model_name=half_plus_two",
            f"--model_base_path={half_plus_two_base}",
            f"--ssl_config_file={missing}",
        ]
    )
    # CHECK_OK: a fatal log line and abort(), not "Failed to start server".
    assert result.returncode == -signal.SIGABRT, result.stdout
    assert (
        f"F tensorflow_serving/model_servers/server.cc:129] {CHECK} (NOT_FOUND: {missing}; No such file or directory)"
        in result.stdout
    )
    assert "Successfully loaded servable version {name: half_plus_two version: 123}" in result.stdout
    assert "Failed to start server" not in result.stdout
    assert "Running gRPC ModelServer" not in result.stdout


def test_a_file_that_does_not_parse_aborts_with_protobufs_error(tmp_path, half_plus_two_base):
    config = tmp_path / "typo.config"
    config.write_text('server_kye: "x"\n', encoding="utf-8")
    result = run_emulator_to_exit(
        [
            "--model_name=half_plus_two",
            f"--model_base_path={half_plus_two_base}",
            f"--ssl_config_file={config}",
        ]
    )
    assert result.returncode == -signal.SIGABRT, result.stdout
    assert (
        "Error parsing text-format tensorflow.serving.SSLConfig: 1:1 : "
        'Message type "tensorflow.serving.SSLConfig" has no field named "server_kye".'
    ) in result.stdout
    assert f"{CHECK} (INVALID_ARGUMENT: Invalid protobuf file: '{config}')" in result.stdout


def test_pem_text_grpc_cannot_use_fails_build_and_start(tmp_path, half_plus_two_base):
    config = tmp_path / "junk.config"
    config.write_text('server_key: "not a key"\nserver_cert: "not a certificate"\n', encoding="utf-8")
    result = run_emulator_to_exit(
        [
            "--model_name=half_plus_two",
            f"--model_base_path={half_plus_two_base}",
            f"--ssl_config_file={config}",
        ]
    )
    assert result.returncode == 255, result.stdout
    assert (
        result.stdout.splitlines()[-1]
        == "Failed to start server. Error: INVALID_ARGUMENT: Failed to BuildAndStart gRPC server"
    )


def test_client_verify_without_a_ca_is_refused(tmp_path, half_plus_two_base, tls_files):
    config = tmp_path / "no_ca.config"
    text = ssl_config_text(tls_files, client_verify=True)
    config.write_text(
        "\n".join(line for line in text.splitlines() if not line.startswith("custom_ca")), encoding="utf-8"
    )
    result = run_emulator_to_exit(
        [
            "--model_name=half_plus_two",
            f"--model_base_path={half_plus_two_base}",
            f"--ssl_config_file={config}",
        ]
    )
    # A deliberate difference (docs/emulator.md): C++ gRPC starts and then refuses every client.
    assert result.returncode == 255, result.stdout
    assert result.stdout.splitlines()[-1] == (
        "Failed to start server. Error: INVALID_ARGUMENT: ssl_config_file: client_verify: true needs "
        "custom_ca, the CA that signs the client certificates"
    )


def test_alts_and_ssl_together_are_refused_before_loading(tmp_path, half_plus_two_base):
    result = run_emulator_to_exit(
        [
            "--model_name=half_plus_two",
            f"--model_base_path={half_plus_two_base}",
            "--use_alts_credentials=true",
            f"--ssl_config_file={tmp_path / 'any.config'}",
        ]
    )
    assert result.returncode == 255
    assert result.stdout.splitlines()[-1] == (
        "Failed to start server. Error: INVALID_ARGUMENT: Either use_alts_credentials must be false or "
        "ssl_config_file must be empty."
    )
    assert "Successfully loaded servable" not in result.stdout
