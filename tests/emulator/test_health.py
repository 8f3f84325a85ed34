"""``--enable_grpc_healthcheck_service``, and what SIGTERM does to the RPCs in flight.

``server.cc`` enables gRPC's default health service and marks ``ModelService`` and
``PredictionService`` SERVING (the overall "" is SERVING by default); ``main.cc`` installs
no signal handler, so SIGTERM ends the process as the kernel's default action does.
"""

from __future__ import annotations

import signal
import subprocess

import grpc
import pytest
from emulator_harness import serve
from grpc_health.v1 import health_pb2, health_pb2_grpc

from tutorial.certificates import make_tls_files, ssl_config_text

TIMEOUT = 30
SERVING = health_pb2.HealthCheckResponse.SERVING
SERVICE_UNKNOWN = health_pb2.HealthCheckResponse.SERVICE_UNKNOWN


@pytest.fixture(scope="module")
def half_plus_two_base(half_plus_two_version_dir, copy_into):
    return copy_into(half_plus_two_version_dir, "half_plus_two", 123)


@pytest.fixture(scope="module")
def healthy(half_plus_two_base):
    args = [
        "--model_name=half_plus_two",
        f"--model_base_path={half_plus_two_base}",
        "--enable_grpc_healthcheck_service=true",
    ]
    with serve(args) as served:
        yield served


def check(channel: grpc.Channel, service: str) -> int:
    return (
        health_pb2_grpc.HealthStub(channel)
        .Check(health_pb2.HealthCheckRequest(service=service), timeout=TIMEOUT)
        .status
    )


@pytest.mark.parametrize("service", ["", "ModelService", "PredictionService"])
def test_the_names_tf_serving_sets_are_serving(healthy, service):
    assert check(healthy.grpc.channel, service) == SERVING


@pytest.mark.parametrize(
    "service", ["tensorflow.serving.PredictionService", "half_plus_two", "predictionservice"]
)
def test_any_other_name_is_not_found(healthy, service):
    with pytest.raises(grpc.RpcError) as caught:
        check(healthy.grpc.channel, service)
    assert caught.value.code() == grpc.StatusCode.NOT_FOUND
    assert caught.value.details() == "service name unknown"


def test_watch_streams_the_status(healthy):
    stub = health_pb2_grpc.HealthStub(healthy.grpc.channel)
    known = stub.Watch(health_pb2.HealthCheckRequest(service="PredictionService"), timeout=TIMEOUT)
    assert next(known).status == SERVING
    known.cancel()
    unknown = stub.Watch(health_pb2.HealthCheckRequest(service="nope"), timeout=TIMEOUT)
    assert next(unknown).status == SERVICE_UNKNOWN
    unknown.cancel()


def test_the_flag_no_longer_logs_not_emulated(healthy):
    assert "enable_grpc_healthcheck_service is not emulated" not in healthy.log_text()


def test_without_the_flag_there_is_no_health_service(half_plus_two_base):
    with serve(["--model_name=half_plus_two", f"--model_base_path={half_plus_two_base}"]) as served:
        with pytest.raises(grpc.RpcError) as caught:
            check(served.grpc.channel, "")
        assert caught.value.code() == grpc.StatusCode.UNIMPLEMENTED


def test_the_health_service_shares_the_tls_port(tmp_path, half_plus_two_base):
    files = make_tls_files()
    config = tmp_path / "ssl.config"
    config.write_text(ssl_config_text(files, client_verify=False), encoding="utf-8")
    args = [
        "--model_name=half_plus_two",
        f"--model_base_path={half_plus_two_base}",
        "--enable_grpc_healthcheck_service=true",
        f"--ssl_config_file={config}",
    ]
    with serve(args) as served:
        credentials = grpc.ssl_channel_credentials(root_certificates=files.ca.cert.encode())
        with grpc.secure_channel(f"localhost:{served.process.grpc_port}", credentials) as channel:
            assert check(channel, "PredictionService") == SERVING


def test_sigterm_ends_the_process_and_the_rpcs_in_flight(half_plus_two_base):
    args = [
        "--model_name=half_plus_two",
        f"--model_base_path={half_plus_two_base}",
        "--enable_grpc_healthcheck_service=true",
    ]
    with serve(args) as served:
        stub = health_pb2_grpc.HealthStub(served.grpc.channel)
        # A Watch stays open until the server ends it: an RPC that is in flight for sure.
        stream = stub.Watch(health_pb2.HealthCheckRequest(service="PredictionService"), timeout=TIMEOUT)
        assert next(stream).status == SERVING
        served.process.process.send_signal(signal.SIGTERM)
        # No handler, no drain: the process dies of the signal, as tensorflow_model_server does.
        assert served.process.process.wait(timeout=TIMEOUT) == -signal.SIGTERM
        with pytest.raises(grpc.RpcError) as in_flight:
            next(stream)
        assert in_flight.value.code() == grpc.StatusCode.UNAVAILABLE
        # The health service never said NOT_SERVING: nothing ran between the signal and the end.
        assert "Shutting down" not in served.log_text()
        with pytest.raises(grpc.RpcError) as after:
            check(served.grpc.channel, "")
        assert after.value.code() == grpc.StatusCode.UNAVAILABLE


def test_sigint_ends_it_the_same_way(half_plus_two_base):
    with serve(["--model_name=half_plus_two", f"--model_base_path={half_plus_two_base}"]) as served:
        served.process.process.send_signal(signal.SIGINT)
        try:
            assert served.process.process.wait(timeout=TIMEOUT) == -signal.SIGINT
        except subprocess.TimeoutExpired:
            served.process.process.kill()
            raise
