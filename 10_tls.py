"""Chapter 10: TLS on the gRPC port (--ssl_config_file), then mutual TLS.

What this teaches
-----------------
TF Serving encrypts its gRPC port when it is started with ``--ssl_config_file``: a text
``SSLConfig`` holding the server's key and certificate (the PEM text itself, not file
names) and, for mutual TLS, the CA that signs client certificates with
``client_verify: true``. Clients then connect with ``grpc.ssl_channel_credentials``.
A client that does not trust the server's CA, or that speaks plaintext, is refused at the
handshake, before any request is read. The REST port stays plain HTTP: TF Serving has no
TLS for it; put a TLS proxy in front of it (docs/tls.md).

The lesson, with its output explained: docs/tls.md (中文: docs/zh-CN/tls.md).

Run it
------
    python 02_train_and_export.py        # version 1, if you have not yet
    python 10_tls.py                     # starts (and stops) a TLS server of its own

It makes a throw-away CA and certificates in RUN_DIR/tls (valid for one day), starts a
second server beside any that 03_start_server.sh runs, and stops it at the end.
"""

from __future__ import annotations

import argparse
import sys

DESCRIPTION = "TLS and mutual TLS on TF Serving's gRPC port with --ssl_config_file; REST stays plain HTTP."

if __name__ == "__main__":
    # --help answers before TensorFlow and gRPC are imported (seconds).
    argparse.ArgumentParser(description=DESCRIPTION).parse_args()

# ---------------------------------------------------------------------------
# Setup
# ---------------------------------------------------------------------------
# tutorial.certificates makes the CA and certificates with the cryptography package;
# tutorial.own_server starts a server with extra flags (docker run, or the emulator).

import os

from tutorial.quiet_tensorflow import import_tensorflow_quietly

# gRPC's C core logs each failed handshake to stderr as well; the script prints them itself.
os.environ.setdefault("GRPC_VERBOSITY", "ERROR")
import_tensorflow_quietly()  # without TensorFlow's start-up lines on stderr

import grpc
import requests
import tensorflow as tf
from tensorflow_serving.apis import predict_pb2, prediction_service_pb2_grpc

from tutorial.certificates import make_tls_files, ssl_config_text, write_tls_files
from tutorial.chapter_server import (
    PROBE_X,
    RPC_TIMEOUT_SECONDS,
    SIGNATURE,
    ChapterError,
    format_values,
    grpc_error_text,
    run_lesson,
    section,
)
from tutorial.own_server import OwnServer, ServerSpec
from tutorial.settings import display_path, load_settings

# Inside the container the certificates' folder is mounted here.
TLS_TARGET = "/tls"
# A failed handshake is final; there is nothing to wait for.
REFUSED_TIMEOUT_SECONDS = 5.0


def predict(target: str, credentials: grpc.ChannelCredentials | None, model_name: str) -> str:
    """One Predict over a TLS channel (or a plaintext one when ``credentials`` is None)."""
    channel = grpc.secure_channel(target, credentials) if credentials else grpc.insecure_channel(target)
    with channel:
        request = predict_pb2.PredictRequest()
        request.model_spec.name = model_name
        request.model_spec.signature_name = SIGNATURE
        request.inputs["x"].CopyFrom(tf.make_tensor_proto(PROBE_X))
        stub = prediction_service_pb2_grpc.PredictionServiceStub(channel)
        response = stub.Predict(request, timeout=RPC_TIMEOUT_SECONDS)
        return format_values(tf.make_ndarray(response.outputs["y"]))


def refused(target: str, credentials: grpc.ChannelCredentials | None, model_name: str) -> str:
    """The error a client gets (an exit, not a retry: the handshake fails the same every time)."""
    try:
        answer = predict(target, credentials, model_name)
    except grpc.RpcError as err:
        return grpc_error_text(err)
    raise ChapterError(f"the server answered a client it should have refused: y = {answer}")


# ---------------------------------------------------------------------------
# Step 1: a CA, and certificates it signs
# ---------------------------------------------------------------------------
# A CA certificate is what a client trusts; the server presents a certificate signed by
# it, for the names the client dials (localhost, 127.0.0.1). The SSLConfig file carries
# the PEM text itself, so it is the only file the server needs.


def make_certificates(settings) -> tuple:
    tls_dir = settings.run_dir / "tls"
    files = make_tls_files()
    write_tls_files(tls_dir, files)
    (tls_dir / "ssl_config.txt").write_text(ssl_config_text(files, client_verify=False), encoding="utf-8")
    (tls_dir / "ssl_config_mtls.txt").write_text(ssl_config_text(files, client_verify=True), encoding="utf-8")
    print(f"Wrote a CA, a server and a client certificate to {display_path(tls_dir)}/:")
    print("  ca.pem  server.pem server.key  client.pem client.key")
    print("  ssl_config.txt       server_key, server_cert, custom_ca, client_verify: false")
    print("  ssl_config_mtls.txt  the same with client_verify: true")
    return tls_dir, files


# ---------------------------------------------------------------------------
# Step 2: TLS: the server proves who it is
# ---------------------------------------------------------------------------
# ssl_channel_credentials(root_certificates=CA) makes the client check the server's
# certificate against our CA. Without root_certificates it trusts the public CAs that gRPC
# ships, which never signed our throw-away certificate.


def server_tls(settings, tls_dir, files) -> None:
    name = settings.model_name
    spec = ServerSpec("tls", [f"--ssl_config_file={TLS_TARGET}/ssl_config.txt"], tls_dir, TLS_TARGET)
    with OwnServer(settings, spec) as server:
        print(f"Starting a server with --ssl_config_file ({server.backend} backend):")
        server.start()
        target = server.grpc_target
        trusted = grpc.ssl_channel_credentials(root_certificates=files.ca.cert.encode())
        print(f"\nPredict over TLS, trusting our CA:       y = {predict(target, trusted, name)}")
        print("A client that does not trust our CA (gRPC's public roots):")
        print(f"  {refused(target, grpc.ssl_channel_credentials(), name)}")
        print("A plaintext client (grpc.insecure_channel):")
        print(f"  {refused(target, None, name)}")
        show_rest_is_plain(server, tls_dir)


# REST is served by a different HTTP server inside TF Serving, which has no TLS at all.
def show_rest_is_plain(server: OwnServer, tls_dir) -> None:
    status = requests.get(server.status_url, timeout=RPC_TIMEOUT_SECONDS)
    state = status.json()["model_version_status"][0]["state"]
    print(f"\nThe REST port stays plain HTTP: GET {server.status_url} -> {status.status_code}, {state}")
    https_url = server.status_url.replace("http://", "https://")
    try:
        requests.get(https_url, timeout=RPC_TIMEOUT_SECONDS, verify=str(tls_dir / "ca.pem"))
    except requests.exceptions.SSLError:
        print(f"  and GET {https_url} fails: requests.exceptions.SSLError (no TLS there)")
    else:
        raise ChapterError("the REST port answered HTTPS; TF Serving's REST port has no TLS")


# ---------------------------------------------------------------------------
# Step 3: mutual TLS: the client proves who it is too
# ---------------------------------------------------------------------------
# With client_verify: true the server requires a client certificate signed by custom_ca
# (gRPC's REQUEST_AND_REQUIRE_CLIENT_CERTIFICATE_AND_VERIFY). The client passes its key and
# certificate next to the CA.


def mutual_tls(settings, tls_dir, files) -> None:
    name = settings.model_name
    spec = ServerSpec("mtls", [f"--ssl_config_file={TLS_TARGET}/ssl_config_mtls.txt"], tls_dir, TLS_TARGET)
    with OwnServer(settings, spec) as server:
        print("\nRestarting it with client_verify: true (mutual TLS):")
        server.start()
        target = server.grpc_target
        with_cert = grpc.ssl_channel_credentials(
            root_certificates=files.ca.cert.encode(),
            private_key=files.client.key.encode(),
            certificate_chain=files.client.cert.encode(),
        )
        print(f"\nPredict with our client certificate:     y = {predict(target, with_cert, name)}")
        only_ca = grpc.ssl_channel_credentials(root_certificates=files.ca.cert.encode())
        print("The same client without a certificate:")
        print(f"  {refused(target, only_ca, name)}")


def tls_lesson(settings) -> None:
    section("TLS on the gRPC port (--ssl_config_file)")
    tls_dir, files = make_certificates(settings)
    server_tls(settings, tls_dir, files)
    mutual_tls(settings, tls_dir, files)
    section("What TF Serving's TLS covers")
    print("gRPC only, on the TCP port and the UNIX socket. REST stays plain HTTP: to encrypt it,")
    print("put a TLS proxy in front of port 8501 (docs/tls.md). Both servers are stopped.")


def main(argv: list[str] | None = None) -> int:
    argparse.ArgumentParser(description=DESCRIPTION).parse_args(argv)
    settings = load_settings()
    print(settings.describe())
    return run_lesson(lambda: tls_lesson(settings))


if __name__ == "__main__":
    sys.exit(main())
