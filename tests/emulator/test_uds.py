"""``--grpc_socket_path``: gRPC also on ``unix:<path>``, as ``server.cc`` adds it."""

from __future__ import annotations

import socket

import pytest
from emulator_harness import Grpc, serve
from tensorflow.core.framework import types_pb2
from tensorflow_serving.apis import predict_pb2

TIMEOUT = 30


@pytest.fixture(scope="module")
def half_plus_two_base(tmp_path_factory, half_plus_two_version_dir, copy_into):
    return copy_into(half_plus_two_version_dir, "half_plus_two", 123)


def predict_two(client: Grpc) -> tuple[list[float], str, int]:
    request = predict_pb2.PredictRequest()
    request.model_spec.name = "half_plus_two"
    request.inputs["x"].dtype = types_pb2.DT_FLOAT
    request.inputs["x"].float_val.append(2.0)
    request.inputs["x"].tensor_shape.dim.add().size = 1
    response = client.prediction.Predict(request, timeout=TIMEOUT)
    return (
        list(response.outputs["y"].float_val),
        response.model_spec.signature_name,
        response.model_spec.version.value,
    )


def test_predict_over_the_unix_socket_and_the_port(tmp_path, half_plus_two_base):
    socket_path = tmp_path / "serving.sock"
    args = [
        "--model_name=half_plus_two",
        f"--model_base_path={half_plus_two_base}",
        f"--grpc_socket_path={socket_path}",
    ]
    with serve(args) as served:
        assert f"Running gRPC ModelServer at UNIX socket {socket_path} ..." in served.log_text()
        over_socket = Grpc(f"unix:{socket_path}")
        try:
            assert predict_two(over_socket) == ([3.0], "serving_default", 123)
        finally:
            over_socket.close()
        assert predict_two(served.grpc) == ([3.0], "serving_default", 123)


def test_a_socket_file_left_behind_is_replaced(tmp_path, half_plus_two_base):
    socket_path = tmp_path / "stale.sock"
    # What a killed server leaves: a socket file nobody listens on. (gRPC removes only
    # sockets; a regular file at the path would make the bind fail.)
    with socket.socket(socket.AF_UNIX) as stale:
        stale.bind(str(socket_path))
    assert socket_path.is_socket()
    args = [
        "--model_name=half_plus_two",
        f"--model_base_path={half_plus_two_base}",
        f"--grpc_socket_path={socket_path}",
    ]
    with serve(args):
        over_socket = Grpc(f"unix:{socket_path}")
        try:
            assert predict_two(over_socket) == ([3.0], "serving_default", 123)
        finally:
            over_socket.close()


def test_port_zero_serves_the_socket_only(tmp_path, half_plus_two_base):
    socket_path = tmp_path / "only.sock"
    args = [
        "--model_name=half_plus_two",
        f"--model_base_path={half_plus_two_base}",
        f"--grpc_socket_path={socket_path}",
        "--port=0",
    ]
    with serve(args) as served:
        log = served.log_text()
        assert f"Running gRPC ModelServer at UNIX socket {socket_path} ..." in log
        assert "Running gRPC ModelServer at 127.0.0.1" not in log
        over_socket = Grpc(f"unix:{socket_path}")
        try:
            assert predict_two(over_socket) == ([3.0], "serving_default", 123)
        finally:
            over_socket.close()
