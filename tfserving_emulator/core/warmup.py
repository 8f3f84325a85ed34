"""Model warm-up: replay ``assets.extra/tf_serving_warmup_requests`` after a load.

TF Serving (``--enable_model_warmup``, on by default) reads that TFRecord file of
``PredictionLog`` protos and runs each request once before the version is marked
AVAILABLE (``servables/tensorflow/saved_model_warmup.cc``), so the first real request
does not pay for lazy initialisation. A failing warm-up request fails the load.
``--num_request_iterations_for_warmup`` (when above 0) replays each record that many
times in a row (``saved_model_warmup_util.cc``).
"""

from __future__ import annotations

import os
import time

import tensorflow as tf
from tensorflow_serving.apis import prediction_log_pb2

from ..grpc.tensor_proto import to_ndarray
from ..servables import inference
from ..servables.saved_model import LoadedModel
from ..util import log as server_log
from ..util.errors import ServingError, invalid_argument

WARMUP_FILE = os.path.join("assets.extra", "tf_serving_warmup_requests")
MAX_RECORDS = 1000  # kMaxNumWarmupRequests
_WHERE = "tensorflow_serving/servables/tensorflow/saved_model_warmup_util.cc"


def _options_debug_string(iterations: int | None) -> str:
    """``ModelWarmupOptions::DebugString()``: empty unless --num_request_iterations_for_warmup
    above 0 set ``num_request_iterations`` (server.cc)."""
    return "" if iterations is None else f"num_request_iterations {{\n  value: {iterations}\n}}\n"


def warm_up(model: LoadedModel, iterations: int | None = None) -> int:
    """Replay the model's warm-up requests, each ``iterations`` times (None: the option is
    unset, so once); returns how many records were read. Logs the lines TF Serving logs."""
    start = time.monotonic()
    path = os.path.join(model.path, WARMUP_FILE)
    if not os.path.exists(path):
        server_log.info(_WHERE, f"No warmup data file found at {path}")
        return 0
    server_log.info(
        _WHERE,
        f"Starting to read warmup data for model at {path} with model-warmup-options "
        f"{_options_debug_string(iterations)}",
    )
    count = 0
    for record in tf.compat.v1.io.tf_record_iterator(path):
        log = prediction_log_pb2.PredictionLog.FromString(record)
        for _ in range(iterations or 1):
            _replay(model, log)
        # Counted after the record ran, as saved_model_warmup_util.cc does.
        count += 1
        if count > MAX_RECORDS:
            raise invalid_argument(f"Number of warmup records exceeds the maximum ({MAX_RECORDS}) at {path}")
    elapsed_micros = int((time.monotonic() - start) * 1e6)
    server_log.info(
        _WHERE,
        f"Finished reading warmup data for model at {path}. Number of warmup records read: {count}. "
        f"Elapsed time (microseconds): {elapsed_micros}.",
    )
    return count


def _replay(model: LoadedModel, log: prediction_log_pb2.PredictionLog) -> None:
    kind = log.WhichOneof("log_type")
    if kind == "predict_log":
        request = log.predict_log.request
        inference.predict(
            model, request.model_spec.signature_name, request.inputs, request.output_filter, to_ndarray
        )
    elif kind == "classify_log":
        request = log.classify_log.request
        inference.classify(model, request.model_spec.signature_name, request.input)
    elif kind == "regress_log":
        request = log.regress_log.request
        inference.regress(model, request.model_spec.signature_name, request.input)
    elif kind == "multi_inference_log":
        inference.multi_inference(model, log.multi_inference_log.request)
    else:
        raise ServingError("UNIMPLEMENTED", f"Unsupported log_type for warmup: {kind}")
