"""Turn a failed gRPC or REST call into one line that says what went wrong and what to do.

TF Serving's errors are precise but terse (``Servable not found for request:
Latest(MMModel)``); a learner needs the fix next to them. The clients print the line from
here and exit 1, instead of a traceback.

The status codes and messages are TF Serving's own (REST maps them to HTTP codes:
NOT_FOUND -> 404, INVALID_ARGUMENT and FAILED_PRECONDITION -> 400):

    situation                  gRPC code            REST     message
    no server listening        UNAVAILABLE          (refused)
    unknown model              NOT_FOUND            404      Servable not found for request: Latest(<name>)
    version not loaded         NOT_FOUND            404      Servable not found for request: Specific(<name>, <v>)
    unknown signature          FAILED_PRECONDITION  400      Serving signature key "<sig>" not found.
                                                             (REST: Serving signature name: "<sig>" not found in signature def)
    no answer in time          DEADLINE_EXCEEDED    (timeout)
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import grpc

START_SERVER = "./03_start_server.sh start"


@dataclass(frozen=True)
class CallContext:
    """What the client asked for, so the message can name it."""

    address: str  # "localhost:8700" or "http://localhost:8501"
    model_name: str
    signature: str | None = None
    version: int | None = None
    timeout: float | None = None
    known_signatures: Iterable[str] = ()


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


def describe_grpc_error(error: grpc.RpcError, context: CallContext) -> str:
    """One line for a failed gRPC call: the status code, the server's message and the fix."""
    code = error.code()
    detail = f"{code.name}: {error.details()}"
    if code == grpc.StatusCode.UNAVAILABLE:
        return f"error: no server at {context.address} ({code.name}). Start it: {START_SERVER}"
    if code == grpc.StatusCode.DEADLINE_EXCEEDED:
        return (
            f"error: no answer from {context.address} within {context.timeout:g} s ({code.name}). "
            "Is the server still loading? Check ./03_start_server.sh status, or pass a larger --timeout."
        )
    if code == grpc.StatusCode.NOT_FOUND:
        return _model_not_found(context, detail)
    if code == grpc.StatusCode.FAILED_PRECONDITION and "signature" in (error.details() or ""):
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


def describe_connection_error(context: CallContext) -> str:
    return f"error: no server at {context.address} (connection refused). Start it: {START_SERVER}"


def describe_timeout(context: CallContext) -> str:
    return (
        f"error: no answer from {context.address} within {context.timeout:g} s (timed out). "
        "Is the server still loading? Check ./03_start_server.sh status, or pass a larger --timeout."
    )
