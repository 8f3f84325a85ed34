"""``--enable_grpc_healthcheck_service``: the standard ``grpc.health.v1.Health`` service.

``server.cc`` turns on gRPC's default health service before ``BuildAndStart`` and, once
the server is built, marks two names SERVING:

    SetServingStatus("ModelService", true);
    SetServingStatus("PredictionService", true);

The short names, not ``tensorflow.serving.PredictionService``. The overall status (the
empty service name) is SERVING from the start, as gRPC's default service sets it. Nothing
ever changes them afterwards: the port opens only once every model is AVAILABLE, and from
then on SERVING means "this process answers gRPC", not "the model is loaded". A name
nobody set is ``NOT_FOUND: service name unknown`` for ``Check`` and a ``SERVICE_UNKNOWN``
answer for ``Watch``, as in gRPC's C++ ``DefaultHealthCheckService``.
"""

from __future__ import annotations

import grpc
from grpc_health.v1 import health, health_pb2, health_pb2_grpc

SERVICE_NAMES = ("ModelService", "PredictionService")
UNKNOWN_SERVICE_MESSAGE = "service name unknown"


class TfServingHealth(health.HealthServicer):
    """grpcio's reference servicer, with C++ gRPC's message for an unknown name.

    (The Python servicer sets NOT_FOUND with no message; the C++ one, which TF Serving
    links, says ``service name unknown``.)
    """

    def Check(self, request, context):
        response = super().Check(request, context)
        if context.code() == grpc.StatusCode.NOT_FOUND:
            context.abort(grpc.StatusCode.NOT_FOUND, UNKNOWN_SERVICE_MESSAGE)
        return response


def add_health_service(server: grpc.Server) -> TfServingHealth:
    """Register the service on ``server`` with TF Serving's two names SERVING."""
    servicer = TfServingHealth()
    for name in SERVICE_NAMES:
        servicer.set(name, health_pb2.HealthCheckResponse.SERVING)
    health_pb2_grpc.add_HealthServicer_to_server(servicer, server)
    return servicer
