"""The gRPC front end: ``PredictionService`` and ``ModelService``.

Handlers are registered with grpcio's generic handlers so that Predict can return
pre-serialized bytes (see ``tensor_proto.encode_predict_response``); every other
method returns ordinary protobuf messages. Status codes pass through unchanged and
messages are cut at 1024 characters, as ``grpc_status_util.cc`` does.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable
from concurrent import futures

import grpc
from tensorflow.core.protobuf import error_codes_pb2
from tensorflow_serving.apis import (
    classification_pb2,
    get_model_metadata_pb2,
    get_model_status_pb2,
    inference_pb2,
    model_management_pb2,
    predict_pb2,
    regression_pb2,
)

from ..core.server_core import ServerCore
from ..model_servers.dispatch import Dispatch
from ..model_servers.metrics import GRPC_COUNTED_APIS, Metrics
from ..servables import inference
from ..util import log
from ..util.errors import ServingError, invalid_argument
from . import health, profiler_service
from .tensor_proto import encode_model_spec, encode_predict_response, to_ndarray

INT32_MAX = 2**31 - 1
_WHERE = "tensorflow_serving/model_servers/server.cc"


def _require_model_spec(request) -> None:
    if not request.HasField("model_spec"):
        raise invalid_argument("Missing ModelSpec")


def _spec_choice(spec) -> tuple[int | None, str | None]:
    """``ServerCore::ServableRequestFromModelSpec``: the version or label a spec names."""
    if not spec.name:
        raise invalid_argument("ModelSpec has no name specified.")
    choice = spec.WhichOneof("version_choice")
    if choice == "version":
        return spec.version.value, None
    if choice == "version_label":
        return None, spec.version_label
    return None, None


def _set_model_spec(target, name: str, version: int, signature_name: str | None) -> None:
    target.name = name
    target.version.value = version
    if signature_name:
        target.signature_name = signature_name


class Services:
    """Decode each gRPC request, hand it to the dispatch layer, encode the answer."""

    def __init__(self, core: ServerCore, metrics: Metrics, as_tensor_content: bool = False):
        self.core = core
        self.dispatch = Dispatch(core, metrics)
        # --enable_serialization_as_tensor_content: Predict outputs as AsProtoTensorContent.
        self.as_tensor_content = as_tensor_content

    def _call(self, api: str, request, context, body: Callable, takes_turn: bool = False):
        """Run one handler through the dispatch layer; a ServingError becomes a gRPC status."""
        model_name = getattr(getattr(request, "model_spec", None), "name", "")
        try:
            return self.dispatch.request(
                "GRPC",
                api,
                model_name,
                lambda: body(request, context),
                takes_turn=takes_turn,
                counted=api in GRPC_COUNTED_APIS,
            )
        except ServingError as error:
            context.abort(error.grpc_code, error.grpc_message)
        except Exception as error:  # a bug here must still answer, not hang the client
            log.error("tfserving_emulator/grpc/server.py", f"{api} failed: {error!r}")
            context.abort(grpc.StatusCode.INTERNAL, f"{type(error).__name__}: {error}")

    def _servable(self, spec, context):
        version, label = _spec_choice(spec)
        return self.dispatch.servable(spec.name, version, label, context.time_remaining)

    # -- PredictionService -------------------------------------------------------------------

    def predict(self, request: predict_pb2.PredictRequest, context) -> bytes:
        _require_model_spec(request)
        spec = request.model_spec
        with self._servable(spec, context) as model:
            signature, outputs = self.dispatch.predict(
                model, spec.name, spec.signature_name, request.inputs, request.output_filter, to_ndarray
            )
            return encode_predict_response(
                outputs, encode_model_spec(spec.name, model.version, signature), self.as_tensor_content
            )

    def _examples_call(self, request, context, run, response_type):
        """Classify and Regress: the same steps around a different head."""
        _require_model_spec(request)
        spec = request.model_spec
        with self._servable(spec, context) as model:
            signature, result = run(model, spec.signature_name, request.input)
            response = response_type(result=result)
            _set_model_spec(response.model_spec, spec.name, model.version, signature)
            return response

    def classify(self, request: classification_pb2.ClassificationRequest, context):
        return self._examples_call(
            request, context, self.dispatch.classify, classification_pb2.ClassificationResponse
        )

    def regress(self, request: regression_pb2.RegressionRequest, context):
        return self._examples_call(request, context, self.dispatch.regress, regression_pb2.RegressionResponse)

    def multi_inference(self, request: inference_pb2.MultiInferenceRequest, context):
        if not request.tasks:
            raise invalid_argument("Found ModelSpec with an empty model name.")
        spec = request.tasks[0].model_spec
        with self._servable(spec, context) as model:
            response = inference_pb2.MultiInferenceResponse()
            for signature, method, result in self.dispatch.multi_inference(model, request):
                entry = response.results.add()
                _set_model_spec(entry.model_spec, spec.name, model.version, signature)
                if method == inference.CLASSIFY_METHOD:
                    entry.classification_result.CopyFrom(result)
                else:
                    entry.regression_result.CopyFrom(result)
            return response

    def get_model_metadata(self, request: get_model_metadata_pb2.GetModelMetadataRequest, context):
        _require_model_spec(request)
        inference.check_metadata_fields(request.metadata_field)
        version, label = _spec_choice(request.model_spec)
        with self.dispatch.servable(request.model_spec.name, version, label) as model:
            response = get_model_metadata_pb2.GetModelMetadataResponse()
            response.model_spec.name = model.name
            response.model_spec.version.value = model.version
            response.metadata[inference.SIGNATURE_DEF_FIELD].Pack(inference.signature_def_map(model))
            return response

    # -- ModelService ----------------------------------------------------------------------------

    def get_model_status(self, request: get_model_status_pb2.GetModelStatusRequest, context):
        _require_model_spec(request)
        spec = request.model_spec
        version = spec.version.value if spec.HasField("version") else None
        response = get_model_status_pb2.GetModelStatusResponse()
        for record in self.core.version_status(spec.name, version):
            fill_version_status(response.model_version_status.add(), record)
        return response

    def handle_reload_config_request(self, request: model_management_pb2.ReloadConfigRequest, context):
        self.core.reload_config(request.config)
        return model_management_pb2.ReloadConfigResponse()


def fill_version_status(target: get_model_status_pb2.ModelVersionStatus, record) -> None:
    target.version = record.version
    target.state = get_model_status_pb2.ModelVersionStatus.State.Value(record.state)
    target.status.SetInParent()  # present even when OK, as the server sends it
    if record.error is not None:
        target.status.error_code = error_codes_pb2.Code.Value(record.error.code)
        target.status.error_message = record.error.message


def _serialize(message) -> bytes:
    return message if isinstance(message, bytes) else message.SerializeToString()


def default_max_workers() -> int:
    """Two threads per CPU: enough to overlap network waits and model runs; more threads
    only take turns on Python's GIL and make every request slower."""
    return 2 * (os.cpu_count() or 1)


ChannelArguments = list[tuple[str, int | str]]
_SIMPLE_ATOI = re.compile(r"[ \t\n\v\f\r]*([+-]?[0-9]+)[ \t\n\v\f\r]*")


def parse_channel_arguments(text: str) -> ChannelArguments:
    """``parseGrpcChannelArgs`` (server.cc): ``key=value,key=value``.

    Each entry is split at ``=`` and only the first two parts are kept; a value that
    ``absl::SimpleAtoi`` reads as an int32 is passed as an int, any other as a string.
    An entry without ``=`` makes the C++ code read past the end of its vector; here it
    is refused with ValueError.
    """
    arguments: ChannelArguments = []
    if not text:
        return arguments
    for entry in text.split(","):
        parts = entry.split("=")
        if len(parts) < 2:
            raise ValueError(f'--grpc_channel_arguments entry "{entry}" is not key=value')
        key, value = parts[0], parts[1]
        match = _SIMPLE_ATOI.fullmatch(value)
        if match and -(2**31) <= int(match.group(1)) <= INT32_MAX:
            arguments.append((key, int(match.group(1))))
        else:
            arguments.append((key, value))
    return arguments


def build_server(
    services: Services,
    address: str | None,
    max_workers: int | None = None,
    socket_path: str = "",
    enable_profiler: bool = False,
    channel_arguments: ChannelArguments = (),
    credentials: grpc.ServerCredentials | None = None,
    enable_health: bool = False,
) -> tuple[grpc.Server, int]:
    """Create (not start) the gRPC server; returns it and the bound TCP port.

    As ``server.cc`` does: listen on ``address`` (None for no TCP port, ``--port=0``) and,
    with ``socket_path`` (``--grpc_socket_path``), also on ``unix:<socket_path>``; with
    ``enable_profiler``, serve TensorFlow's profiler service beside the two model services.
    A socket path that cannot be bound raises RuntimeError. With no TCP address the
    returned port is -1 (bound, but no port number). ``channel_arguments``
    (``--grpc_channel_arguments``) come after the server's own message size limits, as
    ``server.cc`` adds them after ``SetMaxMessageSize``; gRPC keeps the first value of a
    key, so they cannot change those limits, in TF Serving either. ``credentials``
    (``--ssl_config_file``, built by ``tls.py``) secure both listening ports, as
    ``BuildServerCredentials`` does; ``enable_health`` adds ``health.py``'s service.
    """
    max_workers = max_workers or default_max_workers()

    def unary(api: str, method: Callable, request_type, takes_turns: bool = False):
        def handler(request, context):
            return services._call(api, request, context, method, takes_turns)

        return grpc.unary_unary_rpc_method_handler(
            handler, request_deserializer=request_type.FromString, response_serializer=_serialize
        )

    prediction = grpc.method_handlers_generic_handler(
        "tensorflow.serving.PredictionService",
        {
            "Predict": unary("Predict", services.predict, predict_pb2.PredictRequest, takes_turns=True),
            "Classify": unary(
                "Classify", services.classify, classification_pb2.ClassificationRequest, takes_turns=True
            ),
            "Regress": unary("Regress", services.regress, regression_pb2.RegressionRequest, takes_turns=True),
            "MultiInference": unary(
                "MultiInference",
                services.multi_inference,
                inference_pb2.MultiInferenceRequest,
                takes_turns=True,
            ),
            "GetModelMetadata": unary(
                "GetModelMetadata",
                services.get_model_metadata,
                get_model_metadata_pb2.GetModelMetadataRequest,
            ),
        },
    )
    model_service = grpc.method_handlers_generic_handler(
        "tensorflow.serving.ModelService",
        {
            "GetModelStatus": unary(
                "GetModelStatus", services.get_model_status, get_model_status_pb2.GetModelStatusRequest
            ),
            "HandleReloadConfigRequest": unary(
                "HandleReloadConfigRequest",
                services.handle_reload_config_request,
                model_management_pb2.ReloadConfigRequest,
            ),
        },
    )
    handlers = [prediction, model_service]
    if enable_profiler:
        handlers.append(profiler_service.generic_handler())
        log.info(_WHERE, "Profiler service is enabled")
    server = grpc.server(
        futures.ThreadPoolExecutor(max_workers=max_workers, thread_name_prefix="grpc"),
        handlers=handlers,
        options=[
            ("grpc.max_send_message_length", INT32_MAX),
            ("grpc.max_receive_message_length", INT32_MAX),
            # Without this, a second server could silently share the port (SO_REUSEPORT).
            ("grpc.so_reuseport", 0),
            *channel_arguments,
        ],
    )
    if enable_health:
        health.add_health_service(server)

    def listen(where: str) -> int:
        # server.cc builds (and logs) the credentials once per listening port.
        log.info(_WHERE, "Using SSL credentials" if credentials else "Using InsecureServerCredentials")
        if credentials is None:
            return server.add_insecure_port(where)
        return server.add_secure_port(where, credentials)  # RuntimeError for PEM text gRPC cannot use

    port = listen(address) if address else -1
    # grpc (like the C++ server) replaces a socket file left by an earlier server.
    if socket_path and not listen(f"unix:{socket_path}"):
        raise RuntimeError(f"could not listen on unix:{socket_path}")
    return server, port
