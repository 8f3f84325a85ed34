"""``--ssl_config_file``: the gRPC port's TLS credentials, as ``server.cc`` builds them.

``BuildServerCredentials`` (``model_servers/server.cc``) reads a text ``SSLConfig``
(``config/ssl_config.proto``) and hands its PEM strings to gRPC:

* ``server_key`` and ``server_cert``: the one key/certificate pair the port presents;
* ``custom_ca``: the roots that client certificates are checked against;
* ``client_verify``: ``REQUEST_AND_REQUIRE_CLIENT_CERTIFICATE_AND_VERIFY`` (mutual TLS)
  instead of ``DONT_REQUEST_CLIENT_CERTIFICATE``.

The same credentials serve the TCP port and the UNIX socket. The REST port is never TLS:
TF Serving's HTTP server (``net_http``) has no TLS code at all.

The file is read when the gRPC port is added, after the models have loaded, under
``CHECK_OK``: a missing or unparseable file aborts the process with a fatal log line
instead of ``Failed to start server``. PEM text that is not a valid key or certificate
is only found by gRPC when it adds the port (``Failed to BuildAndStart gRPC server``).
"""

from __future__ import annotations

import grpc
from google.protobuf import descriptor_pb2, descriptor_pool, message_factory, text_format

_FIELD = descriptor_pb2.FieldDescriptorProto
_CHECK = "ParseProtoTextFile<SSLConfig>(ssl_config_file, &ssl_config)"
# server.cc's line of the CHECK_OK, as the fatal log line names it.
CHECK_WHERE = "tensorflow_serving/model_servers/server.cc:129"


def _ssl_config_class():
    """``tensorflow.serving.SSLConfig``, built from its four fields.

    tensorflow-serving-api does not ship ``ssl_config_pb2``; a message built from the
    same descriptor parses (and refuses) text exactly as the generated class would.
    """
    proto = descriptor_pb2.FileDescriptorProto(
        name="tensorflow_serving/config/ssl_config.proto", package="tensorflow.serving", syntax="proto3"
    )
    message = proto.message_type.add(name="SSLConfig")
    for number, (name, kind) in enumerate(
        (
            ("server_key", _FIELD.TYPE_STRING),
            ("server_cert", _FIELD.TYPE_STRING),
            ("custom_ca", _FIELD.TYPE_STRING),
            ("client_verify", _FIELD.TYPE_BOOL),
        ),
        start=1,
    ):
        message.field.add(name=name, number=number, type=kind, label=_FIELD.LABEL_OPTIONAL)
    pool = descriptor_pool.DescriptorPool()
    pool.Add(proto)
    return message_factory.GetMessageClass(pool.FindMessageTypeByName("tensorflow.serving.SSLConfig"))


SSLConfig = _ssl_config_class()


class SslConfigCheckFailed(Exception):
    """``CHECK_OK`` failed: TF Serving logs ``fatal_line`` and aborts (SIGABRT).

    ``parse_error`` is protobuf's own ERROR line for a file that does not parse, or None.
    """

    def __init__(self, status: str, parse_error: str | None = None):
        super().__init__(status)
        self.status = status
        self.parse_error = parse_error

    @property
    def fatal_line(self) -> str:
        return f"Check failed: {_CHECK} is OK ({self.status})"


def read_ssl_config(path: str):
    """``ParseProtoTextFile<SSLConfig>``: the file's message, or SslConfigCheckFailed."""
    try:
        with open(path, "rb") as handle:
            data = handle.read()
    except OSError as error:
        raise SslConfigCheckFailed(f"NOT_FOUND: {path}; {error.strerror or error}") from None
    config = SSLConfig()
    try:
        text_format.Parse(data.decode("utf-8"), config)
    except (text_format.ParseError, UnicodeDecodeError) as error:
        raise SslConfigCheckFailed(
            f"INVALID_ARGUMENT: Invalid protobuf file: '{path}'",
            f"Error parsing text-format tensorflow.serving.SSLConfig: {error}",
        ) from None
    return config


class SslConfigUnsupported(ValueError):
    """A config the emulator refuses although TF Serving would start with it (docs/emulator.md)."""


def server_credentials(config) -> grpc.ServerCredentials:
    """``SslServerCredentials`` with ``BuildServerCredentials``' options.

    A key or certificate gRPC cannot use is not refused here but when the port is added,
    as in the C++ server.
    """
    if config.client_verify and not config.custom_ca:
        # C++ gRPC then verifies client certificates against no roots at all, so every
        # client is refused at the handshake; Python's gRPC refuses to build it.
        raise SslConfigUnsupported(
            "ssl_config_file: client_verify: true needs custom_ca, the CA that signs the client certificates"
        )
    return grpc.ssl_server_credentials(
        [(config.server_key.encode(), config.server_cert.encode())],
        root_certificates=config.custom_ca.encode() or None,
        require_client_auth=config.client_verify,
    )


def credentials_from_file(path: str) -> grpc.ServerCredentials:
    """Read ``path`` and build its credentials (SslConfigCheckFailed, SslConfigUnsupported)."""
    return server_credentials(read_ssl_config(path))
