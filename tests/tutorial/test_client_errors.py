"""Steps 4 and 5 fail with one line that names the fix: no server, no answer, unknown names.

These need no model server: a closed port and a socket that accepts but never answers
are enough. The cases that need a real server's replies are in test_clients_e2e.py.
"""

from __future__ import annotations

import concurrent.futures
import http.client
import os
import signal
import socket
import socketserver
import subprocess
import sys
import threading
from collections.abc import Iterator

import grpc
import pytest
import requests
import urllib3

from tutorial.client_errors import (
    CallContext,
    describe_connection_error,
    describe_grpc_error,
    describe_http_error,
    describe_timeout,
    is_http2_frame,
)
from tutorial.settings import REPO_ROOT

CONTEXT = CallContext(
    address="localhost:8700",
    model_name="MMModel",
    signature="your_prediction",
    timeout=10.0,
    known_signatures=["__saved_model_init_op", "your_prediction", "serving_default"],
)


class FakeRpcError(grpc.RpcError):
    def __init__(self, code: grpc.StatusCode, details: str):
        self._code, self._details = code, details

    def code(self) -> grpc.StatusCode:
        return self._code

    def details(self) -> str:
        return self._details


@pytest.fixture
def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture
def silent_port() -> Iterator[int]:
    """A port that accepts TCP connections (the kernel does it) and never says a word."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen(16)
        yield sock.getsockname()[1]


# ---------------------------------------------------------------------------
# The messages
# ---------------------------------------------------------------------------


def test_grpc_unavailable():
    error = FakeRpcError(grpc.StatusCode.UNAVAILABLE, "failed to connect to all addresses")
    assert describe_grpc_error(error, CONTEXT) == (
        "error: no server at localhost:8700 (UNAVAILABLE). Start it: ./03_start_server.sh start"
    )


def test_grpc_deadline():
    error = FakeRpcError(grpc.StatusCode.DEADLINE_EXCEEDED, "Deadline Exceeded")
    assert describe_grpc_error(error, CONTEXT) == (
        "error: no answer from localhost:8700 within 10 s (DEADLINE_EXCEEDED). "
        "Is the server still loading? Check ./03_start_server.sh status, or pass a larger --timeout."
    )


def test_grpc_unknown_model():
    error = FakeRpcError(grpc.StatusCode.NOT_FOUND, "Could not find any versions of model MMModel")
    assert describe_grpc_error(error, CONTEXT) == (
        "error: the server at localhost:8700 has no model 'MMModel' "
        "(NOT_FOUND: Could not find any versions of model MMModel). "
        "Set MODEL_NAME (settings.env or the environment) to the name the server was started with."
    )


@pytest.mark.parametrize(
    "details",
    ["Servable not found for request: Specific(MMModel, 7)", "Could not find version 7 of model MMModel"],
)
def test_grpc_unknown_version(details):
    context = CallContext(address="localhost:8700", model_name="MMModel", version=7)
    assert describe_grpc_error(FakeRpcError(grpc.StatusCode.NOT_FOUND, details), context) == (
        f"error: version 7 of model MMModel is not loaded (NOT_FOUND: {details}). "
        "Drop --version to use the latest, or export that version (02_train_and_export.py --version N)."
    )


def test_grpc_unknown_model_with_a_version_is_still_the_model():
    context = CallContext(address="localhost:8700", model_name="Nope", version=7)
    details = "Could not find any versions of model Nope"
    assert describe_grpc_error(FakeRpcError(grpc.StatusCode.NOT_FOUND, details), context).startswith(
        "error: the server at localhost:8700 has no model 'Nope' "
    )


def test_grpc_unknown_signature_lists_the_real_ones():
    context = CallContext(**{**CONTEXT.__dict__, "signature": "nope"})
    error = FakeRpcError(grpc.StatusCode.FAILED_PRECONDITION, 'Serving signature key "nope" not found.')
    assert describe_grpc_error(error, context) == (
        "error: model MMModel has no signature 'nope' "
        '(FAILED_PRECONDITION: Serving signature key "nope" not found.). '
        "Use --signature serving_default or --signature your_prediction."
    )


def test_grpc_other_errors_show_the_servers_message():
    error = FakeRpcError(grpc.StatusCode.INVALID_ARGUMENT, "input size does not match signature: 1!=2 ...")
    assert describe_grpc_error(error, CONTEXT) == (
        "error: the server rejected the request (INVALID_ARGUMENT: input size does not match signature: 1!=2 ...)"
    )


def test_http_errors():
    rest = CallContext(address="http://localhost:8501", model_name="Nope", timeout=2.5)
    assert describe_http_error(404, "Could not find any versions of model Nope", rest) == (
        "error: the server at http://localhost:8501 has no model 'Nope' "
        "(HTTP 404: Could not find any versions of model Nope). "
        "Set MODEL_NAME (settings.env or the environment) to the name the server was started with."
    )
    message = 'Serving signature name: "nope" not found in signature def'
    assert describe_http_error(400, message, CONTEXT).startswith("error: model MMModel has no signature ")
    assert describe_http_error(400, "JSON Parse error: Invalid value. at offset: 0", rest) == (
        "error: the server rejected the request (HTTP 400: JSON Parse error: Invalid value. at offset: 0)"
    )
    assert describe_connection_error(rest) == (
        "error: no server at http://localhost:8501 (connection refused). Start it: ./03_start_server.sh start"
    )
    assert describe_timeout(rest).startswith(
        "error: no answer from http://localhost:8501 within 2.5 s (timed out)."
    )


# ---------------------------------------------------------------------------
# The scripts, against a closed port and a silent one
# ---------------------------------------------------------------------------


def assert_one_line_failure(result, line: str) -> None:
    assert result.returncode == 1
    assert "Traceback" not in result.stdout + result.stderr
    assert result.stderr.splitlines() == [line]
    assert result.stdout.startswith(
        "settings (settings.env, overridden by environment variables of the same name):\n"
    )


def test_grpc_client_without_a_server(script_runner, free_port):
    result = script_runner("04_grpc_client.py", env={"GRPC_PORT": str(free_port)})
    assert_one_line_failure(
        result,
        f"error: no server at localhost:{free_port} (UNAVAILABLE). Start it: ./03_start_server.sh start",
    )


def test_rest_client_without_a_server(script_runner, free_port):
    result = script_runner("05_rest_client.py", env={"REST_PORT": str(free_port)})
    assert_one_line_failure(
        result,
        f"error: no server at http://localhost:{free_port} (connection refused). Start it: ./03_start_server.sh start",
    )


def test_grpc_client_deadline(script_runner, silent_port):
    result = script_runner("04_grpc_client.py", "--timeout", "0.5", env={"GRPC_PORT": str(silent_port)})
    assert_one_line_failure(
        result,
        f"error: no answer from localhost:{silent_port} within 0.5 s (DEADLINE_EXCEEDED). "
        "Is the server still loading? Check ./03_start_server.sh status, or pass a larger --timeout.",
    )


def test_rest_client_timeout(script_runner, silent_port):
    result = script_runner("05_rest_client.py", "--timeout", "0.5", env={"REST_PORT": str(silent_port)})
    assert_one_line_failure(
        result,
        f"error: no answer from http://localhost:{silent_port} within 0.5 s (timed out). "
        "Is the server still loading? Check ./03_start_server.sh status, or pass a larger --timeout.",
    )


@pytest.mark.parametrize("script", ["04_grpc_client.py", "05_rest_client.py"])
def test_bad_timeout_is_a_usage_error(script_runner, script):
    result = script_runner(script, "--timeout", "0")
    assert result.returncode == 2
    assert result.stderr.splitlines()[-1].endswith("error: --timeout must be positive")


# ---------------------------------------------------------------------------
# A client at the other protocol's port
# ---------------------------------------------------------------------------

# What gRPC 1.85 reports when an HTTP/1.1 server (TF Serving's REST port) answers its preface.
HTTP1_DETAILS = (
    "failed to connect to all addresses; last error: INTERNAL: ipv4:127.0.0.1:8501: Failed parsing HTTP/2 "
    "(Expected SETTINGS frame as the first frame, got frame type 80) "
    "(Trying to connect an http1.x server (HTTP status 400))"
)
# The first bytes any HTTP/2 server (TF Serving's gRPC port) sends: a SETTINGS frame.
HTTP2_SETTINGS = "\x00\x00\x18\x04\x00\x00\x00\x00\x00\x00\x04\x00@\x00\x00"


def test_grpc_at_a_rest_port_names_the_grpc_port():
    context = CallContext(address="localhost:8501", model_name="MMModel", usual_port=8700)
    assert describe_grpc_error(FakeRpcError(grpc.StatusCode.UNAVAILABLE, HTTP1_DETAILS), context) == (
        f"error: localhost:8501 answers HTTP/1.x, not gRPC: that is a REST port (UNAVAILABLE: {HTTP1_DETAILS}). "
        "Use the gRPC port: --port 8700 (GRPC_PORT)."
    )


def test_grpc_at_a_rest_port_that_is_grpc_port_too():
    # GRPC_PORT itself points at the REST port: suggesting it again would not help.
    context = CallContext(
        address="localhost:8501", model_name="MMModel", port_flag="--grpc-port", usual_port=8501
    )
    assert describe_grpc_error(FakeRpcError(grpc.StatusCode.UNAVAILABLE, HTTP1_DETAILS), context).endswith(
        "). Pass --grpc-port with the server's gRPC port, or set GRPC_PORT."
    )


def test_rest_at_a_grpc_port_names_the_rest_port():
    context = CallContext(
        address="http://localhost:8700", model_name="MMModel", protocol="REST", usual_port=8501
    )
    error = requests.ConnectionError(
        urllib3.exceptions.ProtocolError("Connection aborted.", http.client.BadStatusLine(HTTP2_SETTINGS))
    )
    assert describe_connection_error(context, error) == (
        "error: http://localhost:8700 answers HTTP/2 frames, not HTTP/1.1: that is a gRPC port. "
        "Use the REST port: --port 8501 (REST_PORT)."
    )
    closed = requests.ConnectionError(
        urllib3.exceptions.ProtocolError("Connection aborted.", http.client.RemoteDisconnected("closed"))
    )
    assert describe_connection_error(context, closed) == (
        "error: http://localhost:8700 closed the connection without an HTTP answer (a gRPC port does that). "
        "Use the REST port: --port 8501 (REST_PORT)."
    )
    refused = requests.ConnectionError(ConnectionRefusedError(111, "Connection refused"))
    assert describe_connection_error(context, refused) == (
        "error: no server at http://localhost:8700 (connection refused). Start it: ./03_start_server.sh start"
    )


def test_a_status_line_that_is_no_http2_frame():
    assert is_http2_frame(HTTP2_SETTINGS)
    assert not is_http2_frame("HTTP/1.1 200 OK")
    assert not is_http2_frame("")


class BadRequestHandler(socketserver.BaseRequestHandler):
    """Answers whatever arrives with an HTTP/1.1 400, as an HTTP/1.1 server does to gRPC's preface."""

    def handle(self) -> None:
        self.request.recv(65536)
        body = b"<HTML><HEAD><TITLE>400 Bad Request</TITLE></HEAD></HTML>"
        head = f"HTTP/1.1 400 Bad Request\r\nContent-Type: text/html\r\nContent-Length: {len(body)}\r\n"
        self.request.sendall(head.encode() + b"Connection: close\r\n\r\n" + body)


@pytest.fixture
def http1_port() -> Iterator[int]:
    """An HTTP/1.1 server, as TF Serving's REST port is to a gRPC client."""
    server = socketserver.ThreadingTCPServer(("127.0.0.1", 0), BadRequestHandler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server.server_address[1]
    server.shutdown()
    server.server_close()


@pytest.fixture
def grpc_port() -> Iterator[int]:
    """A real gRPC server with no services, as TF Serving's gRPC port is to an HTTP/1.1 client."""
    server = grpc.server(concurrent.futures.ThreadPoolExecutor(max_workers=1))
    port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    yield port
    server.stop(grace=None)


def test_grpc_client_at_an_http1_server(script_runner, http1_port):
    result = script_runner("04_grpc_client.py", "--port", str(http1_port), env={"GRPC_PORT": "8700"})
    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    (line,) = result.stderr.splitlines()
    assert line.startswith(
        f"error: localhost:{http1_port} answers HTTP/1.x, not gRPC: that is a REST port (UNAVAILABLE: "
    )
    assert "Trying to connect an http1.x server" in line
    assert line.endswith(". Use the gRPC port: --port 8700 (GRPC_PORT).")


def test_rest_client_at_a_grpc_server(script_runner, grpc_port):
    result = script_runner("05_rest_client.py", env={"REST_PORT": str(grpc_port)})
    assert_one_line_failure(
        result,
        f"error: http://localhost:{grpc_port} answers HTTP/2 frames, not HTTP/1.1: that is a gRPC port. "
        f"Pass --port with the server's REST port, or set REST_PORT.",
    )
    result = script_runner("05_rest_client.py", "--port", str(grpc_port), env={"REST_PORT": "8501"})
    assert result.stderr.splitlines() == [
        f"error: http://localhost:{grpc_port} answers HTTP/2 frames, not HTTP/1.1: that is a gRPC port. "
        "Use the REST port: --port 8501 (REST_PORT)."
    ]


@pytest.mark.parametrize(
    ("script", "port_variable"), [("04_grpc_client.py", "GRPC_PORT"), ("05_rest_client.py", "REST_PORT")]
)
def test_ctrl_c_while_waiting_for_the_server(silent_port, script, port_variable):
    """A real SIGINT while the first call waits on a server that never answers."""
    env = {
        **os.environ,
        "PYTHONUNBUFFERED": "1",
        "TF_CPP_MIN_LOG_LEVEL": "3",
        port_variable: str(silent_port),
    }
    process = subprocess.Popen(
        [sys.executable, str(REPO_ROOT / script), "--timeout", "300"],
        cwd=REPO_ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    # The settings block is printed after TensorFlow's import, just before the first call.
    assert process.stdout.readline().startswith("settings (settings.env")
    process.send_signal(signal.SIGINT)
    _, stderr = process.communicate(timeout=60)
    assert (process.returncode, stderr) == (130, "interrupted (Ctrl-C)\n")
