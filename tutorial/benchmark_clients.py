"""The two clients chapter 9 races: gRPC with raw tensor bytes, REST with JSON text.

Each call does everything a real client does, and all of it is timed: encode the numpy
array, send, wait, receive, decode back to numpy. The encoding *is* the difference between
the protocols, so leaving it out would measure the wrong thing.

gRPC: ``tf.make_tensor_proto`` packs a float32 array into ``TensorProto.tensor_content``,
its raw little-endian bytes (4 per value); ``tf.make_ndarray`` unpacks the answer.

REST: the columnar format, ``{"inputs": {"x": [[...], ...]}}``, answered as
``{"outputs": ...}``. It has the same shape as the gRPC request (a map from input name to
one tensor), so both protocols carry the same thing; the row format (``{"instances":
[...]}``) would make the server assemble the tensor from one object per row, which adds
work that has nothing to do with text versus binary.

The benchmark reads the signature from the server (REST metadata) rather than hard-coding
input names, and fills every input with the same float32 [rows, 1] array, which fits both
of the tutorial's signatures: serving_default (x -> y) and the blog's your_prediction
(tensor_info_input_x, tensor_info_input_y -> tensor_info_pre_y).
"""

from __future__ import annotations

import json
import threading
from dataclasses import dataclass

from tutorial.quiet_tensorflow import import_tensorflow_quietly

import_tensorflow_quietly()

import grpc
import numpy as np
import requests
import tensorflow as tf
from tensorflow_serving.apis import predict_pb2, prediction_service_pb2_grpc

# One request may carry 100,000 rows; give it time even on a slow machine.
REQUEST_TIMEOUT_SECONDS = 120.0
# gRPC clients refuse messages over 4 MB by default; TF Serving itself accepts up to 2 GB.
# -1 lifts the client's limit so the batch size, not a default, decides what is possible.
GRPC_CHANNEL_OPTIONS = [("grpc.max_send_message_length", -1), ("grpc.max_receive_message_length", -1)]


class BenchmarkError(Exception):
    """Something the reader must fix; the benchmark prints it as one line."""


@dataclass(frozen=True)
class Signature:
    name: str
    inputs: tuple[str, ...]
    output: str


def read_signature(rest_url: str, model_name: str, signature_name: str) -> Signature:
    """The signature's input and output names, from GET /v1/models/<name>/metadata."""
    url = f"{rest_url}/v1/models/{model_name}/metadata"
    try:
        response = requests.get(url, timeout=10)
    except requests.ConnectionError:
        raise BenchmarkError(
            f"no TF Serving answers at {rest_url}; start it with ./03_start_server.sh start"
        ) from None
    if response.status_code != 200:
        raise BenchmarkError(f"GET {url} answered {response.status_code}: {response.text.strip()}")
    signatures = response.json()["metadata"]["signature_def"]["signature_def"]
    if signature_name not in signatures:
        # Names starting with "__" (e.g. __saved_model_init_op) are internal, not callable.
        callable_names = sorted(name for name in signatures if not name.startswith("__"))
        raise BenchmarkError(
            f"model {model_name} has no signature {signature_name!r}; "
            f"use --signature with one of: {', '.join(callable_names)}"
        )
    signature = signatures[signature_name]
    for input_name, tensor_info in signature["inputs"].items():
        sizes = [int(dim["size"]) for dim in tensor_info["tensor_shape"]["dim"]]
        if tensor_info["dtype"] != "DT_FLOAT" or sizes != [-1, 1]:
            raise BenchmarkError(
                f"input {input_name!r} of {signature_name} is {tensor_info['dtype']} {sizes}; "
                "this benchmark sends float32 [rows, 1] inputs, use a signature that takes them"
            )
    if len(signature["outputs"]) != 1:
        raise BenchmarkError(
            f"{signature_name} has {len(signature['outputs'])} outputs; pick one with exactly one"
        )
    return Signature(signature_name, tuple(sorted(signature["inputs"])), next(iter(signature["outputs"])))


class GrpcClient:
    def __init__(self, target: str, model_name: str, signature: Signature):
        # One channel for all threads: channels are thread-safe and multiplex calls over
        # one HTTP/2 connection, which is how a real gRPC client is used.
        self.channel = grpc.insecure_channel(target, options=GRPC_CHANNEL_OPTIONS)
        self.stub = prediction_service_pb2_grpc.PredictionServiceStub(self.channel)
        self.model_name = model_name
        self.signature = signature

    def make_request(self, rows: np.ndarray) -> predict_pb2.PredictRequest:
        request = predict_pb2.PredictRequest()
        request.model_spec.name = self.model_name
        request.model_spec.signature_name = self.signature.name
        for input_name in self.signature.inputs:
            request.inputs[input_name].CopyFrom(tf.make_tensor_proto(rows))
        return request

    def predict(self, rows: np.ndarray) -> np.ndarray:
        response = self.stub.Predict(self.make_request(rows), timeout=REQUEST_TIMEOUT_SECONDS)
        return tf.make_ndarray(response.outputs[self.signature.output])

    def close(self) -> None:
        self.channel.close()


class RestClient:
    def __init__(self, rest_url: str, model_name: str, signature: Signature):
        self.url = f"{rest_url}/v1/models/{model_name}:predict"
        self.signature = signature
        # requests.Session is not guaranteed thread-safe: one per thread, each keeping its
        # connection alive (a new TCP connection per request would be unfair to REST).
        self.local = threading.local()

    def make_body(self, rows: np.ndarray) -> bytes:
        columns = rows.tolist()
        document = {
            "signature_name": self.signature.name,
            "inputs": dict.fromkeys(self.signature.inputs, columns),
        }
        return json.dumps(document).encode("utf-8")

    def predict(self, rows: np.ndarray) -> np.ndarray:
        session = getattr(self.local, "session", None)
        if session is None:
            session = self.local.session = requests.Session()
        response = session.post(
            self.url,
            data=self.make_body(rows),
            headers={"Content-Type": "application/json"},
            timeout=REQUEST_TIMEOUT_SECONDS,
        )
        if response.status_code != 200:
            raise BenchmarkError(
                f"POST {self.url} answered {response.status_code}: {response.text.strip()[:300]}"
            )
        outputs = response.json()["outputs"]
        # One output comes back as the bare tensor, several as a map by name.
        if isinstance(outputs, dict):
            outputs = outputs[self.signature.output]
        return np.asarray(outputs, dtype=np.float32)


def payload_sizes(grpc_client: GrpcClient, rest_client: RestClient, rows: np.ndarray) -> dict[str, int]:
    """Bytes on the wire for one request (bodies only, without HTTP/2 or HTTP headers)."""
    return {
        "grpc": grpc_client.make_request(rows).ByteSize(),
        "rest": len(rest_client.make_body(rows)),
    }


def check_same_answer(grpc_client: GrpcClient, rest_client: RestClient, rows: np.ndarray) -> None:
    """Both protocols must return the same numbers, or the race is meaningless."""
    from_grpc = grpc_client.predict(rows)
    from_rest = rest_client.predict(rows)
    if from_grpc.shape != from_rest.shape or not np.allclose(from_grpc, from_rest, rtol=1e-5, atol=1e-6):
        raise BenchmarkError(f"gRPC and REST answers differ for a batch of {len(rows)} rows")
