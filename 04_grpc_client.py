"""Step 4: call the served model over gRPC, as the blog's client did, in TensorFlow 2.

What this teaches
-----------------
* A gRPC channel to TF Serving and why to raise its message size limits.
* The three calls a client needs: GetModelStatus (is my model loaded?), GetModelMetadata
  (which inputs does the signature want?) and Predict.
* A PredictRequest: model name, signature name, optional version, one TensorProto per
  signature input (``tf.make_tensor_proto``; the blog's ``tf.contrib.util`` is gone in TF2).
* Reading the answer, ``result.outputs['tensor_info_pre_y'].float_val``, and checking it.

Run it (after ``./03_start_server.sh start``)
--------------------------------------------
    python 04_grpc_client.py                               # the blog's signature, your_prediction
    python 04_grpc_client.py --signature serving_default   # sends x only
    python 04_grpc_client.py --version 1 --timeout 5

Any failure (no server, unknown model, version or signature, timeout) ends with one line
saying what to do, and exit code 1.
"""

# ---------------------------------------------------------------------------
# Setup
# ---------------------------------------------------------------------------

from __future__ import annotations

import argparse
import dataclasses
import sys

from tutorial.quiet_tensorflow import import_tensorflow_quietly

# Keep TensorFlow's start-up chatter out of the output: its log level, and two "no GPU"
# notes that TensorFlow 2.21 prints at import before it reads that level.
import_tensorflow_quietly()

import grpc
import numpy as np
import tensorflow as tf
from tensorflow_serving.apis import (
    get_model_metadata_pb2,
    get_model_status_pb2,
    model_service_pb2_grpc,
    predict_pb2,
    prediction_service_pb2_grpc,
)

from tutorial.client_errors import CallContext, describe_grpc_error
from tutorial.data import make_data, true_curve
from tutorial.saved_model_show import format_signature_def
from tutorial.settings import load_settings

# gRPC refuses to *receive* a message larger than 4 MB unless told otherwise, and 4 MB is
# only ~1M float32 values: a big batch, or a model with large outputs, fails with
# RESOURCE_EXHAUSTED "Received message larger than max". TF Serving itself accepts up to
# 2 GB (INT32_MAX), so the client allows the same in both directions.
MAX_MESSAGE_BYTES = 2**31 - 1
CHANNEL_OPTIONS = [
    ("grpc.max_send_message_length", MAX_MESSAGE_BYTES),
    ("grpc.max_receive_message_length", MAX_MESSAGE_BYTES),
]
# The blog's client drew fresh noise for the y it had to send; a fixed seed keeps the output stable.
DATA_SEED = 0
# Each signature's input and output names (see the signatures printed by step 2).
OUTPUT_NAME = {"your_prediction": "tensor_info_pre_y", "serving_default": "y"}


def parse_args(argv: list[str] | None, settings) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description="Call the served model over gRPC.")
    parser.add_argument("--host", default="localhost", help="server host (default localhost)")
    parser.add_argument(
        "--port", type=int, default=settings.grpc_port, help="gRPC port (default $GRPC_PORT, %(default)s)"
    )
    parser.add_argument(
        "--signature", default="your_prediction", help="signature name (default your_prediction)"
    )
    parser.add_argument("--version", type=int, help="ask for this version (default: the latest loaded)")
    parser.add_argument(
        "--timeout", type=float, default=10.0, help="deadline per call in seconds (default 10)"
    )
    args = parser.parse_args(argv)
    if args.timeout <= 0:
        parser.error("--timeout must be positive")
    return args


# ---------------------------------------------------------------------------
# 1. Is the model loaded? (ModelService.GetModelStatus)
# ---------------------------------------------------------------------------


def print_model_status(channel: grpc.Channel, model_name: str, version: int | None, timeout: float) -> None:
    request = get_model_status_pb2.GetModelStatusRequest()
    request.model_spec.name = model_name
    if version is not None:
        request.model_spec.version.value = version
    response = model_service_pb2_grpc.ModelServiceStub(channel).GetModelStatus(request, timeout=timeout)
    print(f"\nGetModelStatus {model_name}:")
    for version_status in response.model_version_status:
        state = get_model_status_pb2.ModelVersionStatus.State.Name(version_status.state)
        error = version_status.status.error_message
        print(f"  version {version_status.version}: {state}" + (f" ({error})" if error else ""))


# ---------------------------------------------------------------------------
# 2. What does the signature expect? (PredictionService.GetModelMetadata)
# ---------------------------------------------------------------------------


def fetch_signatures(stub, model_name: str, version: int | None, timeout: float):
    """The model's SignatureDefMap, as the server loaded it, and the version that answered."""
    request = get_model_metadata_pb2.GetModelMetadataRequest()
    request.model_spec.name = model_name
    if version is not None:
        request.model_spec.version.value = version
    request.metadata_field.append("signature_def")  # the only field TF Serving supports
    response = stub.GetModelMetadata(request, timeout=timeout)
    signatures = get_model_metadata_pb2.SignatureDefMap()
    response.metadata["signature_def"].Unpack(signatures)  # a google.protobuf.Any
    return signatures.signature_def, response.model_spec.version.value


# ---------------------------------------------------------------------------
# 3. Predict
# ---------------------------------------------------------------------------


def predict(stub, model_name: str, signature: str, version: int | None, timeout: float, x, y) -> np.ndarray:
    request = predict_pb2.PredictRequest()
    request.model_spec.name = model_name
    request.model_spec.signature_name = signature
    if version is not None:
        request.model_spec.version.value = version  # omit it to get the latest version
    if signature == "your_prediction":
        # The blog's signature wants the label too, although the model ignores it.
        request.inputs["tensor_info_input_x"].CopyFrom(tf.make_tensor_proto(x, dtype=tf.float32))
        request.inputs["tensor_info_input_y"].CopyFrom(tf.make_tensor_proto(y, dtype=tf.float32))
    else:
        request.inputs["x"].CopyFrom(tf.make_tensor_proto(x, dtype=tf.float32))
    result = stub.Predict(request, timeout=timeout)  # timeout: the call's deadline, in seconds

    output = result.outputs[OUTPUT_NAME.get(signature, "y")]
    # TF Serving returns floats in the typed field float_val (flattened, row-major);
    # tf.make_ndarray(output) would also decode the other encodings.
    return np.array(output.float_val, dtype=np.float32).reshape(-1, 1)


# ---------------------------------------------------------------------------
# Putting it together
# ---------------------------------------------------------------------------


def print_results(x: np.ndarray, predictions: np.ndarray) -> None:
    expected = true_curve(x)
    print(f"\n{'x':>8}  {'x^2-0.5':>8}  {'prediction':>10}")
    for row in np.linspace(0, len(x) - 1, 5).astype(int):  # a few rows across [-1, 1]
        print(f"{x[row, 0]:8.4f}  {expected[row, 0]:8.4f}  {predictions[row, 0]:10.4f}")
    mae = float(np.mean(np.abs(predictions - expected)))
    print(f"\nMean absolute error against x^2 - 0.5 over {len(x)} rows: {mae:.4f}")


def main(argv: list[str] | None = None) -> int:
    settings = load_settings()
    print(settings.describe())
    args = parse_args(argv, settings)
    target = f"{args.host}:{args.port}"
    context = CallContext(
        address=target,
        model_name=settings.model_name,
        signature=args.signature,
        version=args.version,
        timeout=args.timeout,
    )

    # The blog used grpc.beta / implementations.insecure_channel; both are gone.
    channel = grpc.insecure_channel(target, options=CHANNEL_OPTIONS)
    stub = prediction_service_pb2_grpc.PredictionServiceStub(channel)
    x, y = make_data(DATA_SEED)
    try:
        print_model_status(channel, settings.model_name, args.version, args.timeout)

        signatures, served_version = fetch_signatures(stub, settings.model_name, args.version, args.timeout)
        context = dataclasses.replace(context, known_signatures=list(signatures))
        print(
            f"\nGetModelMetadata {settings.model_name}: version {served_version}, signature {args.signature!r}"
        )
        if args.signature in signatures:
            print("\n".join(format_signature_def(args.signature, signatures[args.signature])))
        else:
            servable = sorted(name for name in signatures if not name.startswith("__"))  # skip TF2's init op
            print(f"  no such signature; the model has: {', '.join(servable)}")

        print(f"\nPredict: {len(x)} rows to {settings.model_name}, signature {args.signature!r}")
        predictions = predict(stub, settings.model_name, args.signature, args.version, args.timeout, x, y)
    except grpc.RpcError as error:
        print(describe_grpc_error(error, context), file=sys.stderr)
        return 1
    finally:
        channel.close()

    print_results(x, predictions)
    return 0


if __name__ == "__main__":
    sys.exit(main())
