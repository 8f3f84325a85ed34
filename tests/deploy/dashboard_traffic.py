"""A known mix of requests for the emulator, and the labels TF Serving's metrics give them.

``SENT`` is sent in order by ``send_all``; the tests derive every count they expect from it.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import requests
from dashboard_queries import DEPLOY, MODEL_NAME

VERSION = 1
METRICS_PATH = "/monitoring/prometheus/metrics"


@dataclass(frozen=True)
class Sent:
    """One request and the labels TF Serving's metrics give it."""

    model_name: str
    api: str  # the request_latency API label: REST's path verb, gRPC's method
    entrypoint: str
    status: str
    counted: bool = True  # gRPC GetModelStatus and GetModelMetadata record no metrics


PREDICT_BODY = {"instances": [1.0, 2.0, 5.0]}
REGRESS_BODY = {"signature_name": "regress_x_to_y", "examples": [{"x": 1.0}]}
SENT = [
    *[Sent(MODEL_NAME, "predict", "REST", "OK")] * 3,
    Sent(MODEL_NAME, "regress", "REST", "OK"),
    Sent(MODEL_NAME, "", "REST", "OK"),  # GET /v1/models/MMModel
    *[Sent(MODEL_NAME, "predict", "REST", "INVALID_ARGUMENT")] * 2,  # a body that is not JSON
    Sent("NoSuchModel", "predict", "REST", "NOT_FOUND"),
    *[Sent(MODEL_NAME, "Predict", "GRPC", "OK")] * 2,
    Sent(MODEL_NAME, "Predict", "GRPC", "NOT_FOUND"),  # a version that does not exist
    Sent(MODEL_NAME, "GetModelStatus", "GRPC", "OK", counted=False),
]


def send_rest(url: str, sent: Sent) -> None:
    if sent.api == "":
        reply = requests.get(f"{url}/v1/models/{sent.model_name}", timeout=60)
    elif sent.status == "INVALID_ARGUMENT":
        reply = requests.post(f"{url}/v1/models/{sent.model_name}:predict", data=b"{not json", timeout=60)
    else:
        body = REGRESS_BODY if sent.api == "regress" else PREDICT_BODY
        reply = requests.post(f"{url}/v1/models/{sent.model_name}:{sent.api}", json=body, timeout=60)
    expected_http = {"OK": 200, "INVALID_ARGUMENT": 400, "NOT_FOUND": 404}[sent.status]
    assert reply.status_code == expected_http, reply.text


def send_grpc(stubs: dict, sent: Sent) -> None:
    import grpc
    import numpy as np
    import tensorflow as tf
    from tensorflow_serving.apis import get_model_status_pb2, predict_pb2

    if sent.api == "GetModelStatus":
        request = get_model_status_pb2.GetModelStatusRequest()
        request.model_spec.name = sent.model_name
        stubs["model"].GetModelStatus(request, timeout=60)
        return
    request = predict_pb2.PredictRequest()
    request.model_spec.name = sent.model_name
    if sent.status == "NOT_FOUND":
        request.model_spec.version.value = VERSION + 98
    request.inputs["x"].CopyFrom(tf.make_tensor_proto(np.array([[1.0]], dtype=np.float32)))
    try:
        stubs["prediction"].Predict(request, timeout=60)
        code = "OK"
    except grpc.RpcError as error:
        code = error.code().name
    assert code == sent.status


def send_all(server) -> None:
    """Send SENT to a running emulator (a tfserving_emulator.launcher.EmulatorProcess)."""
    import grpc
    from tensorflow_serving.apis import model_service_pb2_grpc, prediction_service_pb2_grpc

    with grpc.insecure_channel(server.grpc_target) as channel:
        stubs = {
            "prediction": prediction_service_pb2_grpc.PredictionServiceStub(channel),
            "model": model_service_pb2_grpc.ModelServiceStub(channel),
        }
        for sent in SENT:
            if sent.entrypoint == "REST":
                send_rest(server.rest_url, sent)
            else:
                send_grpc(stubs, sent)


@contextmanager
def emulator_with_deploy_config(models_dir: Path) -> Iterator[tuple[object, Path]]:
    """The emulator serving a fresh half_plus_two as MMModel/1, with deploy/monitoring.config.

    Yields the running server and the version directory (the load metrics' model_path).
    """
    from tfserving_emulator.launcher import EmulatorProcess
    from tutorial.make_half_plus_two import make_half_plus_two

    base = models_dir / MODEL_NAME
    version_dir = make_half_plus_two(base, VERSION)
    flags = [
        f"--model_name={MODEL_NAME}",
        f"--model_base_path={base}",
        f"--monitoring_config_file={DEPLOY / 'monitoring.config'}",
    ]
    with EmulatorProcess(flags) as server:
        yield server, version_dir
