"""Step 5's agreement check: the rows REST answered, run again over gRPC and in this process.

Why a tolerance, and why 1e-6: REST and gRPC answers come from the same server and the same
kernels, and TF Serving writes each float32 into JSON with enough digits to read back the
same bits (``%.9g`` when the short form would not), so they agree exactly. The SavedModel
loaded *here* is the same float32 arithmetic, but the pip TensorFlow runs it with oneDNN
kernels on CPUs oneDNN optimises for, while TF Serving's official image (and the emulator)
runs TensorFlow's Eigen kernels. Their sums run in another order and can differ in the
last bits: 1.5e-7 for step 2's default model in our runs (outputs up to 0.5, where a float32 step is
3e-8 to 6e-8). A different model or version differs by far more than 1e-6.
"""

from __future__ import annotations

from pathlib import Path

import grpc
import numpy as np
import tensorflow as tf
from tensorflow_serving.apis import predict_pb2, prediction_service_pb2_grpc

from tutorial.cli import fail
from tutorial.client_errors import SetupError
from tutorial.client_output import mean_absolute_error_line

TOLERANCE = 1e-6


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
    return tf.make_ndarray(result.outputs["tensor_info_pre_y"]).reshape(-1, 1)


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


def max_difference(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.max(np.abs(a.reshape(-1, 1) - b.reshape(-1, 1))))


def report(x: np.ndarray, rest_replies: dict[str, list], from_grpc: np.ndarray, local: np.ndarray) -> int:
    """Print how far each answer is from ``local`` and REST from gRPC; 0 if within TOLERANCE, else 1.

    REST and gRPC come from the same server, so they should agree to the bit; ``local`` ran
    in this process, perhaps with other kernels (see the module's docstring).
    """
    rest_answers = {label: np.array(reply, dtype=np.float32) for label, reply in rest_replies.items()}
    answers = {**rest_answers, "gRPC (your_prediction)": from_grpc}
    for label, predictions in answers.items():
        difference = max_difference(predictions, local)
        print(f"  {label:<34} max |difference| from the local SavedModel: {difference:.3g}")
    spread = max(max_difference(answer, from_grpc) for answer in rest_answers.values())
    print(f"  {'REST against gRPC':<34} max |difference|: {spread:.3g}")
    worst = max(spread, *(max_difference(predictions, local) for predictions in answers.values()))

    print("\n" + mean_absolute_error_line(x, next(iter(rest_answers.values()))))  # what the server answered
    if worst >= TOLERANCE:
        return fail(
            f"error: the answers differ by {worst:.3g} (limit {TOLERANCE:g}). "
            "Is the server serving another model or version than the one on disk? Check MODEL_BASE_DIR."
        )
    print(f"REST, gRPC and the local SavedModel agree (max difference {worst:.3g} < {TOLERANCE:g}).")
    return 0
