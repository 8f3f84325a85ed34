"""The running server as chapters 6 to 8 talk to it: status, predict, reload, and their errors.

gRPC for status, predict and reload (``ModelService.HandleReloadConfigRequest`` has no REST
equivalent); REST for predict and metadata by version or label, to show both URL forms.
Chapters 4 and 5 teach these calls one by one; here they are the tools of a lesson about
versions, so each is one method.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable

from tutorial.quiet_tensorflow import import_tensorflow_quietly

import_tensorflow_quietly()

import grpc
import numpy as np
import requests
import tensorflow as tf
from tensorflow_serving.apis import (
    get_model_status_pb2,
    model_management_pb2,
    model_service_pb2_grpc,
    predict_pb2,
    prediction_service_pb2_grpc,
)
from tensorflow_serving.config import model_server_config_pb2

from tutorial.settings import Settings

# Three points on the curve y = x^2 - 0.5, asked of every model.
PROBE_X = np.array([[-0.5], [0.0], [0.5]], dtype=np.float32)
SIGNATURE = "serving_default"  # x -> y; see 02_train_and_export.py
# A version appears within a second (the server polls every second) plus training time.
WAIT_TIMEOUT_SECONDS = 120.0
RPC_TIMEOUT_SECONDS = 10.0
# Reloading blocks until newly added models are AVAILABLE.
RELOAD_TIMEOUT_SECONDS = 120.0
# Back from a models.config to serving the latest version of MODEL_NAME.
RESTART_PLAIN = "./03_start_server.sh stop && ./03_start_server.sh start"


class ChapterError(Exception):
    """Something the reader must fix; ``run_lesson`` prints it as one line and exits 1."""


class RestError(Exception):
    """A REST answer other than 200, with TF Serving's ``{"error": ...}`` message."""

    def __init__(self, url: str, response: requests.Response):
        try:
            message = response.json()["error"]
        except (ValueError, KeyError, TypeError):
            message = response.text.strip()
        super().__init__(f"{response.status_code} {message}")
        self.url = url
        self.status_code = response.status_code
        self.message = message


class Server:
    """One gRPC channel and one HTTP session to the server that ``settings`` names."""

    def __init__(self, settings: Settings):
        self.settings = settings
        self.channel = grpc.insecure_channel(settings.grpc_target)
        self.predictions = prediction_service_pb2_grpc.PredictionServiceStub(self.channel)
        self.models = model_service_pb2_grpc.ModelServiceStub(self.channel)
        self.http = requests.Session()

    def __enter__(self) -> Server:
        return self

    def __exit__(self, *_) -> None:
        self.channel.close()
        self.http.close()

    # -- gRPC -------------------------------------------------------------------------

    def status(self, model_name: str) -> dict[int, str]:
        """Version -> state name (AVAILABLE, END, ...), as GetModelStatus reports it."""
        request = get_model_status_pb2.GetModelStatusRequest()
        request.model_spec.name = model_name
        response = self.models.GetModelStatus(request, timeout=RPC_TIMEOUT_SECONDS)
        state_name = get_model_status_pb2.ModelVersionStatus.State.Name
        return {status.version: state_name(status.state) for status in response.model_version_status}

    def predict_grpc(
        self, model_name: str, version: int | None = None, label: str | None = None
    ) -> tuple[int, np.ndarray]:
        """Returns (the version that answered, y). ``version`` and ``label`` are alternatives."""
        request = predict_pb2.PredictRequest()
        request.model_spec.name = model_name
        request.model_spec.signature_name = SIGNATURE
        if version is not None:
            request.model_spec.version.value = version  # a google.protobuf.Int64Value
        if label is not None:
            request.model_spec.version_label = label
        request.inputs["x"].CopyFrom(tf.make_tensor_proto(PROBE_X))
        response = self.predictions.Predict(request, timeout=RPC_TIMEOUT_SECONDS)
        # The response's model_spec says which version actually ran.
        return response.model_spec.version.value, tf.make_ndarray(response.outputs["y"])

    def reload(self, config: model_server_config_pb2.ModelServerConfig) -> None:
        """ModelService.HandleReloadConfigRequest: the new list *replaces* the old one."""
        request = model_management_pb2.ReloadConfigRequest()
        request.config.CopyFrom(config)
        try:
            self.models.HandleReloadConfigRequest(request, timeout=RELOAD_TIMEOUT_SECONDS)
        except grpc.RpcError as err:
            raise ChapterError(
                f"the server refused the new config: {err.code().name}: {err.details()}"
            ) from None

    # -- REST -------------------------------------------------------------------------

    def model_url(self, model_name: str, version: int | None = None, label: str | None = None) -> str:
        url = f"{self.settings.rest_url}/v1/models/{model_name}"
        if version is not None:
            url += f"/versions/{version}"
        if label is not None:
            url += f"/labels/{label}"
        return url

    def predict_rest(
        self, model_name: str, version: int | None = None, label: str | None = None
    ) -> np.ndarray:
        url = self.model_url(model_name, version, label) + ":predict"
        body = {"signature_name": SIGNATURE, "instances": PROBE_X.tolist()}
        response = self.http.post(url, json=body, timeout=RPC_TIMEOUT_SECONDS)
        if response.status_code != 200:
            raise RestError(url, response)
        return np.asarray(response.json()["predictions"], dtype=np.float32)

    def metadata_version_rest(self, model_name: str, label: str) -> int:
        """GET .../labels/<label>/metadata: its model_spec.version is the version the label resolves to."""
        url = self.model_url(model_name, label=label) + "/metadata"
        response = self.http.get(url, timeout=RPC_TIMEOUT_SECONDS)
        if response.status_code != 200:
            raise RestError(url, response)
        return int(response.json()["model_spec"]["version"])


# ---------------------------------------------------------------------------
# What the chapters print
# ---------------------------------------------------------------------------


def section(title: str) -> None:
    print(f"\n==== {title} ====")


def grpc_error_text(err: grpc.RpcError) -> str:
    return f"{err.code().name}: {err.details()}"


def format_values(values: np.ndarray) -> str:
    return "[" + ", ".join(f"{value:+.4f}" for value in np.ravel(values)) + "]"


def format_states(states: dict[int, str]) -> str:
    return (
        ", ".join(f"{version} {state}" for version, state in sorted(states.items(), reverse=True)) or "none"
    )


# ---------------------------------------------------------------------------
# Waiting for the server
# ---------------------------------------------------------------------------


def require_server(server: Server) -> dict[int, str]:
    """The status of the main model, or one line saying how to start the server."""
    name = server.settings.model_name
    try:
        return server.status(name)
    except grpc.RpcError as err:
        if err.code() == grpc.StatusCode.UNAVAILABLE:
            raise ChapterError(
                f"no TF Serving answers at {server.settings.grpc_target}; start it first: ./03_start_server.sh start"
            ) from None
        if err.code() == grpc.StatusCode.NOT_FOUND:
            raise ChapterError(
                f"the server does not serve {name} ({grpc_error_text(err)}); "
                f"restart it for this model: {RESTART_PLAIN}"
            ) from None
        raise ChapterError(f"GetModelStatus failed: {grpc_error_text(err)}") from None


def wait_for_states(
    server: Server,
    model_name: str,
    done: Callable[[dict[int, str]], bool],
    timeout: float = WAIT_TIMEOUT_SECONDS,
    show: bool = True,
) -> dict[int, str]:
    """Poll GetModelStatus until ``done(states)``; print every change with the time it took."""
    start = time.monotonic()
    last = None
    while True:
        states = server.status(model_name)
        if show and states != last:
            print(f"  {time.monotonic() - start:5.1f} s  {model_name}: {format_states(states)}")
            last = states
        if done(states):
            return states
        if time.monotonic() - start > timeout:
            raise ChapterError(
                f"{model_name} did not reach the expected state within {timeout:g} s "
                f"(now: {format_states(states)}); see ./03_start_server.sh logs"
            )
        time.sleep(0.2)


# ---------------------------------------------------------------------------
# Running a lesson: any failure becomes one line and exit code 1
# ---------------------------------------------------------------------------


def run_lesson(lesson: Callable[[], None]) -> int:
    """Run ``lesson()``; 0 when it finished, 1 after one ``error: ...`` line on stderr."""
    try:
        lesson()
    except ChapterError as err:
        message = str(err)
    except grpc.RpcError as err:
        message = f"a gRPC call failed ({grpc_error_text(err)}); see ./03_start_server.sh logs"
    except (RestError, requests.RequestException) as err:
        message = f"a REST call failed ({err}); see ./03_start_server.sh logs"
    else:
        return 0
    print(f"error: {message}", file=sys.stderr)
    return 1
