"""The warm-up file TF Serving replays when it loads a version: ``assets.extra/tf_serving_warmup_requests``.

TensorFlow initialises much of a model lazily: the first ``Session::Run`` of a signature
prunes and optimises its graph (Grappler), allocates its buffers and picks its kernels. TF
Serving can pay that price at load time instead of on the first client's request: with
``--enable_model_warmup`` (on by default) it reads this file, a TFRecord of
``tensorflow.serving.PredictionLog`` protos, runs each request once, and only then marks the
version AVAILABLE (tensorflow/serving g3doc/saved_model_warmup.md,
servables/tensorflow/saved_model_warmup_util.cc).

What the server insists on, and so what this module writes:

* the path inside the version directory, exactly ``assets.extra/tf_serving_warmup_requests``;
* TFRecord framing (``tf.io.TFRecordWriter``), one serialised ``PredictionLog`` per record;
* at most 1000 records (``WarmupConsts::kMaxNumRecords``; more fails the load);
* requests the signatures accept: a warm-up request that fails fails the whole load.

The ``model_spec.name`` inside a record is not checked (the server runs each request on the
version it is loading, by signature name), so a copied version keeps working under another name.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import tensorflow as tf
from tensorflow_serving.apis import predict_pb2, prediction_log_pb2

from tutorial.data import true_curve

WARMUP_FILE = Path("assets.extra") / "tf_serving_warmup_requests"
MAX_RECORDS = 1000  # WarmupConsts::kMaxNumRecords in saved_model_warmup_util.h
# A small batch from the range the model was trained on ([-1, 1]), as a client would send:
# warm-up exercises the same signatures, dtypes and shapes as real traffic.
WARMUP_BATCH_SIZE = 8


def warmup_x(batch_size: int = WARMUP_BATCH_SIZE) -> np.ndarray:
    """Evenly spaced points on [-1, 1], shape [batch_size, 1], float32."""
    return np.linspace(-1.0, 1.0, batch_size, dtype=np.float32)[:, np.newaxis]


def predict_log(
    model_name: str, signature_name: str, inputs: dict[str, np.ndarray]
) -> prediction_log_pb2.PredictionLog:
    """One ``PredictionLog`` holding a ``PredictRequest`` for ``signature_name``."""
    request = predict_pb2.PredictRequest()
    request.model_spec.name = model_name
    request.model_spec.signature_name = signature_name
    for name, value in inputs.items():
        request.inputs[name].CopyFrom(tf.make_tensor_proto(value))
    log = prediction_log_pb2.PredictionLog()
    log.predict_log.request.CopyFrom(request)
    return log


def tutorial_records(
    model_name: str, batch_size: int = WARMUP_BATCH_SIZE
) -> list[prediction_log_pb2.PredictionLog]:
    """One request per signature of step 2's export: the blog's ``your_prediction`` and ``serving_default``.

    Each signature is a separate graph run for the server, with its own lazy set-up, so each
    gets its own record.
    """
    x = warmup_x(batch_size)
    return [
        predict_log(
            model_name, "your_prediction", {"tensor_info_input_x": x, "tensor_info_input_y": true_curve(x)}
        ),
        predict_log(model_name, "serving_default", {"x": x}),
    ]


def write_warmup_file(version_dir: Path, records: list[prediction_log_pb2.PredictionLog]) -> Path:
    """Write ``records`` to ``version_dir/assets.extra/tf_serving_warmup_requests``; returns the path."""
    if not 0 < len(records) <= MAX_RECORDS:
        raise ValueError(f"a warm-up file holds 1 to {MAX_RECORDS} records, got {len(records)}")
    path = Path(version_dir) / WARMUP_FILE
    path.parent.mkdir(parents=True, exist_ok=True)
    with tf.io.TFRecordWriter(str(path)) as writer:
        for record in records:
            writer.write(record.SerializeToString())
    return path


def read_warmup_file(path: Path) -> list[prediction_log_pb2.PredictionLog]:
    """The records of a warm-up file, in order, as the server reads them.

    tf.data reads only eagerly: inside a ``tf.Graph()``, read the records before entering it.
    """
    dataset = tf.data.TFRecordDataset(str(path))
    return [prediction_log_pb2.PredictionLog.FromString(record) for record in dataset.as_numpy_iterator()]


def predict_inputs(log: prediction_log_pb2.PredictionLog) -> tuple[str, dict[str, np.ndarray]]:
    """(signature name, {input name: array}) of a ``predict_log`` record."""
    request = log.predict_log.request
    return request.model_spec.signature_name, {
        name: tf.make_ndarray(proto) for name, proto in request.inputs.items()
    }


def describe(path: Path) -> str:
    """One line for the export's output: how many records, for which signatures, of what batch size."""
    logs = read_warmup_file(path)
    parts = []
    for log in logs:
        signature, inputs = predict_inputs(log)
        rows = {value.shape[0] for value in inputs.values()}
        parts.append(f"{signature} ({'/'.join(map(str, sorted(rows)))} rows)")
    return f"{len(logs)} warm-up requests: {', '.join(parts)}"


def replay_warmup_requests(session, meta_graph, records: list) -> None:
    """Run every warm-up record as TF Serving will at load time.

    A warm-up request that fails makes the server fail the whole load, so a file that does
    not run must never be published.
    """
    for log in records:
        signature_name, inputs = predict_inputs(log)
        # (A message map's [] would quietly add a missing key, so look before indexing.)
        if signature_name not in meta_graph.signature_def:
            raise RuntimeError(
                f"a warm-up request asks for signature {signature_name!r}, which the export lacks"
            )
        signature = meta_graph.signature_def[signature_name]
        if set(inputs) != set(signature.inputs):
            raise RuntimeError(
                f"a warm-up request for {signature_name} sends inputs {sorted(inputs)}; "
                f"the signature takes {sorted(signature.inputs)}"
            )
        feed = {signature.inputs[name].name: value for name, value in inputs.items()}
        session.run([output.name for output in signature.outputs.values()], feed_dict=feed)
