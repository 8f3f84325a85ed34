"""Step 5: call the served model over REST, and check that REST, gRPC and the SavedModel agree.

What this teaches
-----------------
* TF Serving's REST API with nothing but ``requests``:
  ``GET /v1/models/<name>`` (status), ``GET /v1/models/<name>/metadata`` (signatures) and
  ``POST /v1/models/<name>[/versions/<n>]:predict``.
* The two JSON request formats. Row ("instances": one object per example) and columnar
  ("inputs": one list per input); and that a request without ``signature_name`` goes to
  ``serving_default``.
* What an error looks like: the HTTP status and ``{"error": "<message>"}``.
* That the three ways to run the model give the same numbers: REST, gRPC, and the
  SavedModel loaded in this process.

Run it (after ``./03_start_server.sh start``)
--------------------------------------------
    python 05_rest_client.py
    python 05_rest_client.py --version 1

It exits 1 if the three disagree by 1e-6 or more, and on any failure, with one line
saying what to do.
"""

# ---------------------------------------------------------------------------
# Setup
# ---------------------------------------------------------------------------

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
from pathlib import Path

from tutorial.quiet_tensorflow import import_tensorflow_quietly

# Keep TensorFlow's start-up chatter out of the output: its log level, and two "no GPU"
# notes that TensorFlow 2.21 prints at import before it reads that level.
import_tensorflow_quietly()

import grpc
import numpy as np
import requests
import tensorflow as tf
from google.protobuf import json_format
from tensorflow.core.protobuf import meta_graph_pb2
from tensorflow_serving.apis import predict_pb2, prediction_service_pb2_grpc

from tutorial.client_errors import (
    CallContext,
    describe_connection_error,
    describe_grpc_error,
    describe_http_error,
    describe_timeout,
)
from tutorial.data import make_data, true_curve
from tutorial.saved_model_show import format_signature_def
from tutorial.settings import load_settings

DATA_SEED = 0  # same inputs as 04_grpc_client.py
AGREEMENT_TOLERANCE = 1e-6


class ServerError(Exception):
    """TF Serving answered with an HTTP error; ``message`` is the ``error`` field of its reply."""

    def __init__(self, status: int, message: str):
        super().__init__(f"HTTP {status}: {message}")
        self.status = status
        self.message = message


class SetupError(Exception):
    """The server answers, but not with what this walkthrough needs; the message says what to do."""


def parse_args(argv: list[str] | None, settings) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description="Call the served model over REST and compare with gRPC.")
    parser.add_argument("--host", default="localhost", help="server host (default localhost)")
    parser.add_argument(
        "--port", type=int, default=settings.rest_port, help="REST port (default $REST_PORT, %(default)s)"
    )
    parser.add_argument(
        "--grpc-port",
        type=int,
        default=settings.grpc_port,
        help="gRPC port, for the agreement check (default $GRPC_PORT, %(default)s)",
    )
    parser.add_argument(
        "--version", type=int, help="version for the pinned request (default: the served one)"
    )
    parser.add_argument(
        "--timeout", type=float, default=10.0, help="timeout per request in seconds (default 10)"
    )
    args = parser.parse_args(argv)
    if args.timeout <= 0:
        parser.error("--timeout must be positive")
    return args


def show(label: str, document, rows: int = 3) -> None:
    """Print a JSON document, with long lists cut to their first ``rows`` items."""

    def shorten(value):
        if isinstance(value, list) and len(value) > rows:
            return [*(shorten(item) for item in value[:rows]), f"... {len(value) - rows} more"]
        if isinstance(value, list):
            return [shorten(item) for item in value]
        if isinstance(value, dict):
            return {key: shorten(item) for key, item in value.items()}
        return value

    print(f"{label}: {json.dumps(shorten(document))}")


# ---------------------------------------------------------------------------
# The REST calls
# ---------------------------------------------------------------------------


class RestClient:
    """GET and POST against ``<base_url>/v1/models/<model_name>``, raising ServerError on errors."""

    def __init__(self, base_url: str, model_name: str, timeout: float):
        self.model_url = f"{base_url}/v1/models/{model_name}"
        self.timeout = timeout
        self.session = requests.Session()

    def get(self, path: str = "") -> dict:
        return self._check(self.session.get(self.model_url + path, timeout=self.timeout))

    def post(self, path: str, body: dict) -> dict:
        return self._check(self.session.post(self.model_url + path, json=body, timeout=self.timeout))

    @staticmethod
    def _check(response: requests.Response) -> dict:
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


def print_status(status: dict) -> None:
    # {"model_version_status": [{"version": "1", "state": "AVAILABLE", "status": {...}}]}
    for version_status in status["model_version_status"]:
        error = version_status["status"].get("error_message", "")
        print(
            f"  version {version_status['version']}: {version_status['state']}"
            + (f" ({error})" if error else "")
        )


def signatures_from_metadata(metadata: dict) -> dict[str, meta_graph_pb2.SignatureDef]:
    """The REST metadata is the SignatureDefMap proto as JSON; parse it back into protos."""
    signature_map = metadata["metadata"]["signature_def"]["signature_def"]  # yes, nested twice
    return {
        name: json_format.ParseDict(signature, meta_graph_pb2.SignatureDef(), ignore_unknown_fields=True)
        for name, signature in signature_map.items()
    }


# ---------------------------------------------------------------------------
# The same prediction over gRPC and from the SavedModel on disk
# ---------------------------------------------------------------------------


def predict_grpc(target: str, model_name: str, version: int, timeout: float, x, y) -> np.ndarray:
    """The your_prediction call of 04_grpc_client.py, condensed."""
    with grpc.insecure_channel(target) as channel:
        request = predict_pb2.PredictRequest()
        request.model_spec.name = model_name
        request.model_spec.signature_name = "your_prediction"
        request.model_spec.version.value = version
        request.inputs["tensor_info_input_x"].CopyFrom(tf.make_tensor_proto(x, dtype=tf.float32))
        request.inputs["tensor_info_input_y"].CopyFrom(tf.make_tensor_proto(y, dtype=tf.float32))
        result = prediction_service_pb2_grpc.PredictionServiceStub(channel).Predict(request, timeout=timeout)
    return np.array(result.outputs["tensor_info_pre_y"].float_val, dtype=np.float32).reshape(-1, 1)


def predict_local(model_dir: Path, version: int, x) -> np.ndarray:
    """Load the served version from disk in this process and run serving_default."""
    # Version directories may be zero-padded (00000123 is version 123), as TF Serving allows.
    version_dirs = [
        path
        for path in model_dir.glob("*/saved_model.pb")
        if path.parent.name.isdigit() and int(path.parent.name) == version
    ]
    if not version_dirs:
        raise SetupError(
            f"error: the served version {version} is not in {model_dir}, so it cannot be compared locally. "
            "Set MODEL_BASE_DIR to the folder the server serves."
        )
    serving_default = tf.saved_model.load(str(version_dirs[0].parent)).signatures["serving_default"]
    return serving_default(x=tf.constant(x))["y"].numpy()


# ---------------------------------------------------------------------------
# The walkthrough
# ---------------------------------------------------------------------------


def run(args, settings, context: CallContext) -> int:
    rest = RestClient(f"http://{args.host}:{args.port}", settings.model_name, args.timeout)
    x, y = make_data(DATA_SEED)
    print(f"\nREST endpoint: {rest.model_url}")

    # 1. Status: GET /v1/models/<name>
    print(f"\nGET {rest.model_url}")
    print_status(rest.get())

    # 2. Metadata: GET /v1/models/<name>/metadata
    print(f"\nGET {rest.model_url}/metadata")
    metadata = rest.get("/metadata")
    served_version = int(metadata["model_spec"]["version"])  # the version that answered (a string in JSON)
    signatures = signatures_from_metadata(metadata)
    missing = [name for name in ("your_prediction", "serving_default") if name not in signatures]
    if missing:
        raise SetupError(
            f"error: model {settings.model_name} version {served_version} has no signature {missing[0]!r}; "
            "serve the model that 02_train_and_export.py exports."
        )
    shown = [format_signature_def(name, signatures[name]) for name in ("your_prediction", "serving_default")]
    print("\n\n".join("\n".join(lines) for lines in shown))

    # 3. Predict, row format: one JSON object per example, keyed by input name.
    print(f"\nPOST {rest.model_url}:predict  (row format, signature your_prediction)")
    row_body = {
        "signature_name": "your_prediction",
        "instances": [
            {"tensor_info_input_x": [float(xi)], "tensor_info_input_y": [float(yi)]}
            for xi, yi in zip(x[:, 0], y[:, 0], strict=True)
        ],
    }
    show("  request", row_body, rows=2)
    row_reply = rest.post(":predict", row_body)
    show("  reply  ", row_reply)
    # One output: the reply is {"predictions": [<row 0>, <row 1>, ...]}.
    row_predictions = np.array(row_reply["predictions"], dtype=np.float32)

    # 4. Predict, columnar format: one nested list per input; the reply key is "outputs".
    print(f"\nPOST {rest.model_url}:predict  (columnar format, signature your_prediction)")
    columnar_body = {
        "signature_name": "your_prediction",
        "inputs": {"tensor_info_input_x": x.tolist(), "tensor_info_input_y": y.tolist()},
    }
    show("  request", columnar_body, rows=2)
    columnar_reply = rest.post(":predict", columnar_body)
    show("  reply  ", columnar_reply)
    columnar_predictions = np.array(columnar_reply["outputs"], dtype=np.float32)

    # 5. serving_default: no signature_name needed, and x alone. With a single input,
    #    each instance is just that input's value.
    print(f"\nPOST {rest.model_url}:predict  (row format, no signature_name: serving_default)")
    default_body = {"instances": x.tolist()}
    show("  request", default_body, rows=2)
    default_reply = rest.post(":predict", default_body)
    show("  reply  ", default_reply)
    default_predictions = np.array(default_reply["predictions"], dtype=np.float32)

    # 6. Pinned to a version: /versions/<n>:predict. Without it, the server picks the latest.
    pinned_version = served_version if args.version is None else args.version
    print(f"\nPOST {rest.model_url}/versions/{pinned_version}:predict  (serving_default)")
    pinned_reply = rest.post(f"/versions/{pinned_version}:predict", default_body)
    show("  reply  ", pinned_reply)
    pinned_predictions = np.array(pinned_reply["predictions"], dtype=np.float32)

    # 7. A deliberate mistake: the blog's two inputs without "signature_name". The request
    #    goes to serving_default, which has one input, x, and the server says so.
    print(
        f"\nPOST {rest.model_url}:predict  (deliberately wrong: your_prediction's inputs, no signature_name)"
    )
    wrong_body = {"instances": row_body["instances"][:2]}
    show("  request", wrong_body)
    wrong_reply = rest.session.post(f"{rest.model_url}:predict", json=wrong_body, timeout=args.timeout)
    print(f"  reply: HTTP {wrong_reply.status_code} {wrong_reply.reason}")
    print("  " + wrong_reply.text.replace("\n", "\n  "))

    # 8. REST, gRPC and the SavedModel on disk must agree.
    print(f"\nAgreement check, version {pinned_version}, {len(x)} rows:")
    grpc_target = f"{args.host}:{args.grpc_port}"
    grpc_context = dataclasses.replace(
        context, address=grpc_target, version=pinned_version, known_signatures=list(signatures)
    )
    try:
        grpc_predictions = predict_grpc(grpc_target, settings.model_name, pinned_version, args.timeout, x, y)
    except grpc.RpcError as error:
        print(describe_grpc_error(error, grpc_context), file=sys.stderr)
        return 1
    local_predictions = predict_local(settings.model_dir, pinned_version, x)

    results = {
        "REST row (your_prediction)": row_predictions,
        "REST columnar (your_prediction)": columnar_predictions,
        "REST serving_default": default_predictions,
        f"REST /versions/{pinned_version}": pinned_predictions,
        "gRPC (your_prediction)": grpc_predictions,
    }
    worst = 0.0
    for label, predictions in results.items():
        difference = float(np.max(np.abs(predictions.reshape(-1, 1) - local_predictions)))
        worst = max(worst, difference)
        print(f"  {label:<34} max |difference| from the local SavedModel: {difference:.3g}")
    mae = float(np.mean(np.abs(row_predictions - true_curve(x))))  # what the server answered
    print(f"\nMean absolute error against x^2 - 0.5 over {len(x)} rows: {mae:.4f}")
    if worst >= AGREEMENT_TOLERANCE:
        print(
            f"error: the answers differ by {worst:.3g} (limit {AGREEMENT_TOLERANCE:g}). "
            "Is the server serving another model or version than the one on disk? Check MODEL_BASE_DIR.",
            file=sys.stderr,
        )
        return 1
    print(
        f"REST, gRPC and the local SavedModel agree (max difference {worst:.3g} < {AGREEMENT_TOLERANCE:g})."
    )
    return 0


def main(argv: list[str] | None = None) -> int:
    settings = load_settings()
    print(settings.describe())
    args = parse_args(argv, settings)
    context = CallContext(
        address=f"http://{args.host}:{args.port}",
        model_name=settings.model_name,
        signature="your_prediction",
        version=args.version,
        timeout=args.timeout,
    )
    try:
        return run(args, settings, context)
    except requests.Timeout:
        print(describe_timeout(context), file=sys.stderr)
    except requests.ConnectionError:
        print(describe_connection_error(context), file=sys.stderr)
    except ServerError as error:
        print(describe_http_error(error.status, error.message, context), file=sys.stderr)
    except SetupError as error:
        print(error, file=sys.stderr)
    return 1


if __name__ == "__main__":
    sys.exit(main())
