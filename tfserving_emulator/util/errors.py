"""Status codes and the error type shared by the gRPC and REST front ends.

TF Serving carries an ``absl::Status`` (code + message) from the core to both front
ends: gRPC passes the code through unchanged, REST maps it to an HTTP status
(``model_servers/http_server.cc`` ``ToHTTPStatusCode``). We do the same with one
exception class, so a check written once gives the right answer on both APIs.
"""

from __future__ import annotations

import grpc

# absl code name -> HTTP status, exactly as ToHTTPStatusCode maps them.
HTTP_STATUS = {
    "OK": 200,
    "CANCELLED": 499,
    "UNKNOWN": 500,
    "INVALID_ARGUMENT": 400,
    "DEADLINE_EXCEEDED": 504,
    "NOT_FOUND": 404,
    "ALREADY_EXISTS": 409,
    "PERMISSION_DENIED": 403,
    "RESOURCE_EXHAUSTED": 429,
    "FAILED_PRECONDITION": 400,
    "ABORTED": 409,
    "OUT_OF_RANGE": 400,
    "UNIMPLEMENTED": 501,
    "INTERNAL": 500,
    "UNAVAILABLE": 503,
    "DATA_LOSS": 500,
    "UNAUTHENTICATED": 401,
}

# gRPC status messages are cut here and marked, as grpc_status_util.cc does.
GRPC_MESSAGE_LIMIT = 1024


class ServingError(Exception):
    """An error with a TF Serving status code (``"NOT_FOUND"``, ...) and its exact message."""

    def __init__(self, code: str, message: str):
        if code not in HTTP_STATUS or code == "OK":
            raise ValueError(f"not an error code: {code}")
        super().__init__(message)
        self.code = code
        self.message = message

    @property
    def http_status(self) -> int:
        return HTTP_STATUS[self.code]

    @property
    def grpc_code(self) -> grpc.StatusCode:
        return grpc.StatusCode[self.code]

    @property
    def grpc_message(self) -> str:
        if len(self.message) > GRPC_MESSAGE_LIMIT:
            return self.message[:GRPC_MESSAGE_LIMIT] + "...TRUNCATED"
        return self.message

    def status_string(self) -> str:
        """``absl::Status::ToString()``: what nested error messages embed."""
        return f"{self.code}: {self.message}"

    def __repr__(self) -> str:
        return f"ServingError({self.code}, {self.message!r})"


def invalid_argument(message: str) -> ServingError:
    return ServingError("INVALID_ARGUMENT", message)


def not_found(message: str) -> ServingError:
    return ServingError("NOT_FOUND", message)


def failed_precondition(message: str) -> ServingError:
    return ServingError("FAILED_PRECONDITION", message)


def unimplemented(message: str) -> ServingError:
    return ServingError("UNIMPLEMENTED", message)


def internal(message: str) -> ServingError:
    return ServingError("INTERNAL", message)
