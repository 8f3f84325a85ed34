"""Turn a failed gRPC or REST call into one line that says what went wrong and what to do.

TF Serving's errors are precise but terse (``Servable not found for request:
Latest(MMModel)``); a learner needs the fix next to them. The clients print the line from
here and exit 1, instead of a traceback.

The status codes and messages are TF Serving's own (REST maps them to HTTP codes:
NOT_FOUND -> 404, INVALID_ARGUMENT and FAILED_PRECONDITION -> 400):

    situation                  gRPC code            REST     message
    no server listening        UNAVAILABLE          (refused)
    the other protocol's port  UNAVAILABLE          (HTTP/2 frame or closed)
    unknown model              NOT_FOUND            404      Servable not found for request: Latest(<name>)
    version not loaded         NOT_FOUND            404      Servable not found for request: Specific(<name>, <v>)
    unknown signature          FAILED_PRECONDITION  400      Serving signature key "<sig>" not found.
                                                             (REST: Serving signature name: "<sig>" not found in signature def)
    no answer in time          DEADLINE_EXCEEDED    (timeout)

Nothing here imports gRPC, requests or TensorFlow: errors are recognised by their status
code names and by the standard library's HTTP exceptions.
"""

from __future__ import annotations

import http.client
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

START_SERVER = "./03_start_server.sh start"
CHECK_STATUS = "Is the server still loading? Check ./03_start_server.sh status, or pass a larger --timeout."
# gRPC speaks HTTP/2. When the server answers in HTTP/1.x (a REST port), gRPC's C core
# says so in the error details: "Trying to connect an http1.x server (HTTP status 400)",
# after "Failed parsing HTTP/2 (Expected SETTINGS frame as the first frame, ...)".
GRPC_AT_HTTP1 = ("http1.x server", "Failed parsing HTTP/2")
# Every HTTP/2 server, gRPC included, starts with a SETTINGS frame: a 3-byte length, then
# type 0x04. An HTTP/1.1 client (requests) reads those bytes as a malformed status line.
HTTP2_SETTINGS_FRAME_TYPE = "\x04"


@dataclass
class CallContext:
    """What the client asked for, so the message can name it. Scripts fill in known_signatures."""

    address: str  # "localhost:8700" or "http://localhost:8501"
    model_name: str
    signature: str | None = None
    version: int | None = None
    timeout: float | None = None
    known_signatures: Iterable[str] = ()
    protocol: str = "gRPC"  # "gRPC" or "REST": what this call speaks
    port_flag: str = "--port"  # the flag that sets this call's port
    usual_port: int | None = None  # that protocol's port in the settings (GRPC_PORT or REST_PORT)

    @property
    def port(self) -> int | None:
        _, _, port = self.address.rpartition(":")
        return int(port) if port.isdigit() else None


class ServerError(Exception):
    """TF Serving answered with an HTTP error; ``message`` is the ``error`` field of its reply."""

    def __init__(self, status: int, message: str):
        super().__init__(f"HTTP {status}: {message}")
        self.status = status
        self.message = message


class SetupError(Exception):
    """The server answers, but not with what the walkthrough needs; the message says what to do."""


# What checked_json and the REST walkthrough raise, besides requests' own errors.
REST_ERRORS = (ServerError, SetupError)


def checked_json(response) -> dict:
    """The JSON body of a 200 reply; raise ServerError with TF Serving's message otherwise."""
    if response.status_code != 200:
        try:
            document = response.json()
        except ValueError:  # not JSON: not TF Serving, or an empty body
            document = None
        # TF Serving's error body is {"error": "<message>"}.
        is_tf_serving_error = isinstance(document, dict) and "error" in document
        message = document["error"] if is_tf_serving_error else (response.text or response.reason)
        raise ServerError(response.status_code, message)
    return response.json()


# ---------------------------------------------------------------------------
# The messages
# ---------------------------------------------------------------------------


def _model_not_found(context: CallContext, detail: str) -> str:
    if context.version is not None and (
        f"version {context.version} " in detail or f", {context.version})" in detail
    ):
        return (
            f"error: version {context.version} of model {context.model_name} is not loaded ({detail}). "
            "Drop --version to use the latest, or export that version (02_train_and_export.py --version N)."
        )
    return (
        f"error: the server at {context.address} has no model {context.model_name!r} ({detail}). "
        "Set MODEL_NAME (settings.env or the environment) to the name the server was started with."
    )


def _signature_not_found(context: CallContext, detail: str) -> str:
    known = sorted(name for name in context.known_signatures if not name.startswith("__"))
    fix = "Use --signature " + " or --signature ".join(known) if known else "Check the signature name"
    return f"error: model {context.model_name} has no signature {context.signature!r} ({detail}). {fix}."


def _use_the_right_port(context: CallContext) -> str:
    key = "GRPC_PORT" if context.protocol == "gRPC" else "REST_PORT"
    if context.usual_port is not None and context.usual_port != context.port:
        return f"Use the {context.protocol} port: {context.port_flag} {context.usual_port} ({key})."
    return f"Pass {context.port_flag} with the server's {context.protocol} port, or set {key}."


def describe_grpc_error(error, context: CallContext) -> str:
    """One line for a failed gRPC call (a ``grpc.RpcError``): status code, server's message, fix."""
    code = error.code().name
    details = error.details() or ""
    detail = f"{code}: {details}"
    if code == "UNAVAILABLE" and any(marker in details for marker in GRPC_AT_HTTP1):
        return (
            f"error: {context.address} answers HTTP/1.x, not gRPC: that is a REST port ({detail}). "
            + _use_the_right_port(context)
        )
    if code == "UNAVAILABLE":
        return f"error: no server at {context.address} ({code}). Start it: {START_SERVER}"
    if code == "DEADLINE_EXCEEDED":
        return (
            f"error: no answer from {context.address} within {context.timeout:g} s ({code}). {CHECK_STATUS}"
        )
    if code == "NOT_FOUND":
        return _model_not_found(context, detail)
    if code == "FAILED_PRECONDITION" and "signature" in details:
        return _signature_not_found(context, detail)
    return f"error: the server rejected the request ({detail})"


def describe_http_error(status: int, server_message: str, context: CallContext) -> str:
    """One line for a TF Serving REST error reply (``{"error": "<message>"}``)."""
    detail = f"HTTP {status}: {server_message}"
    if status == 404:
        return _model_not_found(context, detail)
    if status == 400 and "signature" in server_message and "not found" in server_message:
        return _signature_not_found(context, detail)
    return f"error: the server rejected the request ({detail})"


def _causes(error: BaseException) -> Iterator[BaseException]:
    """The error and what it wraps: requests -> urllib3 -> http.client keep them in args."""
    seen: set[int] = set()
    pending = [error]
    while pending:
        current = pending.pop()
        if id(current) in seen:
            continue
        seen.add(id(current))
        yield current
        wrapped = [*current.args, getattr(current, "reason", None), current.__cause__, current.__context__]
        pending += [item for item in wrapped if isinstance(item, BaseException)]


def is_http2_frame(status_line: str) -> bool:
    """Does this "status line" start with an HTTP/2 SETTINGS frame header (length < 64 KiB)?"""
    return status_line[:1] == "\x00" and status_line[3:4] == HTTP2_SETTINGS_FRAME_TYPE


def describe_connection_error(context: CallContext, error: BaseException | None = None) -> str:
    """One line for a REST connection that failed: nothing listening, or a gRPC port."""
    for cause in _causes(error) if error is not None else ():
        if isinstance(cause, http.client.RemoteDisconnected):
            return (
                f"error: {context.address} closed the connection without an HTTP answer "
                "(a gRPC port does that). " + _use_the_right_port(context)
            )
        if isinstance(cause, http.client.BadStatusLine) and is_http2_frame(cause.line):
            return (
                f"error: {context.address} answers HTTP/2 frames, not HTTP/1.1: that is a gRPC port. "
                + _use_the_right_port(context)
            )
    return f"error: no server at {context.address} (connection refused). Start it: {START_SERVER}"


def describe_timeout(context: CallContext) -> str:
    return f"error: no answer from {context.address} within {context.timeout:g} s (timed out). {CHECK_STATUS}"


def describe_rest_failure(error: Exception, context: CallContext) -> str:
    """One line for what a REST walkthrough can raise: requests' errors, ServerError, SetupError."""
    import requests  # here, not at the top: the gRPC client never needs it

    if isinstance(error, requests.Timeout):  # before ConnectionError: a connect timeout is both
        return describe_timeout(context)
    if isinstance(error, requests.ConnectionError):
        return describe_connection_error(context, error)
    if isinstance(error, ServerError):
        return describe_http_error(error.status, error.message, context)
    if isinstance(error, SetupError):
        return str(error)
    return f"error: the request to {context.address} failed ({type(error).__name__}: {error})"
