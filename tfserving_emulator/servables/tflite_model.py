"""Serve ``model.tflite`` with TensorFlow's TF Lite interpreter, as ``TfLiteSession`` does.

What TF Serving does (``servables/tensorflow/tflite_session.cc`` and
``tflite_interpreter_pool.cc``), and so what this module does:

* the signatures come from the flatbuffer's ``signature_defs_metadata`` entry (a
  FlexBuffer map of key -> serialized ``SignatureDef``, written by
  ``tflite::SetSignatureDefMap``); their tensor names may carry TF's ``:0`` suffix,
  which is dropped when the interpreter knows the name only without it;
* a model without that entry gets one generated ``serving_default`` signature: every
  input and output tensor of the primary subgraph, keyed by its name without ``:0``.
  (The TF Lite converter's own ``SignatureDef`` table is not read; TF Serving ignores it
  too, so a converted Keras model is served with inputs such as ``serving_default_x``);
* a request runs on one interpreter taken from a pool of ``--num_tflite_pools``
  interpreters (one thread each), after resizing each input to the request's shape;
* errors keep TF Serving's words and codes.
"""

from __future__ import annotations

import os
import queue
import warnings

import numpy as np
from flatbuffers import flexbuffers
from tensorflow.core.framework import types_pb2
from tensorflow.core.protobuf import meta_graph_pb2

from ..core.servable import Servable
from ..util import log
from ..util.dtypes import DTYPES
from ..util.errors import ServingError, internal, invalid_argument

_WHERE = "tensorflow_serving/servables/tensorflow/tflite_session.cc"
TFLITE_FILE = "model.tflite"
SIGNATURE_DEFS_METADATA = b"signature_defs_metadata"  # tflite::kSignatureDefsMetadataName
PREDICT_METHOD = "tensorflow/serving/predict"
# The one custom op TfLiteSession adds to the builtin ones (tflite::ops::custom::AddParseExampleOp).
PARSE_EXAMPLE_OPS = ("ParseExample", "ParseExampleV2")

# numpy dtype of a TF Lite tensor -> TF DataType (TfLiteTypeToTfType): the TF types it
# maps to, with their numpy types from the one dtype table.
_TF_TYPES = {
    DTYPES[dtype].numpy: dtype
    for dtype in (
        types_pb2.DT_FLOAT,
        types_pb2.DT_HALF,
        types_pb2.DT_DOUBLE,
        types_pb2.DT_INT32,
        types_pb2.DT_UINT8,
        types_pb2.DT_INT64,
        types_pb2.DT_STRING,
        types_pb2.DT_BOOL,
        types_pb2.DT_INT16,
        types_pb2.DT_COMPLEX64,
        types_pb2.DT_INT8,
    )
}


def _interpreter(model_bytes: bytes):
    import tensorflow as tf

    # tf.lite.Interpreter warns on every construction that LiteRT will replace it; the
    # server's log should not repeat that for every interpreter in the pool.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        interpreter = tf.lite.Interpreter(model_content=model_bytes, num_threads=1)
    # CreateTfLiteInterpreterWrapper: a string first input starts at batch size 1, and
    # every interpreter is allocated before it joins the pool.
    first = interpreter.get_input_details()[:1]
    if first and np.dtype(first[0]["dtype"]) == np.object_:
        interpreter.resize_tensor_input(first[0]["index"], [1])
    interpreter.allocate_tensors()
    return interpreter


def legacy_name(tensor_name: str) -> str:
    """``TfToTfLiteLegacyTensorName``: early converters dropped TF's ``:0`` suffix."""
    return tensor_name.split(":", 1)[0]


def fix_name(by_name: dict[str, int], tensor_name: str) -> str:
    """``FixTfLiteTensorName``: the name the interpreter knows, or INTERNAL."""
    if tensor_name in by_name:
        return tensor_name
    legacy = legacy_name(tensor_name)
    if legacy in by_name:
        return legacy
    raise internal(f"Unknown tensor '{tensor_name}'.")


def _with_context(error: ServingError, context: str) -> ServingError:
    """``TF_RETURN_WITH_CONTEXT_IF_ERROR``: the context goes on a new, indented line."""
    return ServingError(error.code, f"{error.message}\n\t{context}")


def _tensor_info(detail: dict) -> meta_graph_pb2.TensorInfo:
    """``TfLiteTensorToTensorInfo``: dtype, name and the tensor's current dims."""
    dtype = _TF_TYPES.get(np.dtype(detail["dtype"]))
    if dtype is None:
        raise internal(f"Unknown TfLite type: {np.dtype(detail['dtype']).name}")
    info = meta_graph_pb2.TensorInfo(name=detail["name"], dtype=dtype)
    for size in detail["shape"]:
        info.tensor_shape.dim.add().size = int(size)
    return info


def _tensor_map(details: list[dict], kind: str) -> dict[str, dict]:
    """``GetTensorInfoMap``: tensor name -> details, names unique."""
    by_name: dict[str, dict] = {}
    for detail in details:
        if not detail["name"]:
            raise internal(f"{kind} name missing for tensor index: {detail['index']}")
        if detail["name"] in by_name:
            raise ServingError("ALREADY_EXISTS", f"{kind} tensor name: {detail['name']} has multiple indices")
        by_name[detail["name"]] = detail
    return by_name


def read_signature_def_map(model_bytes: bytes) -> dict[str, meta_graph_pb2.SignatureDef]:
    """``tflite::GetSignatureDefMap``: the SignatureDefs kept in the model's metadata."""
    from tensorflow.lite.python import schema_py_generated as schema

    model = schema.Model.GetRootAsModel(model_bytes, 0)
    for i in range(model.MetadataLength()):
        metadata = model.Metadata(i)
        if metadata.Name() != SIGNATURE_DEFS_METADATA:
            continue
        data = model.Buffers(metadata.Buffer()).DataAsNumpy()
        try:
            entries = flexbuffers.GetRoot(bytes(data)).AsMap
            keys, values = entries.Keys, entries.Values
            serialized = {keys[j].AsKey: values[j].AsStringBytes for j in range(len(entries))}
        except (TypeError, ValueError, IndexError, AttributeError) as error:
            raise internal(f"Error reading signature def map: {error}") from None
        signatures = {}
        for key, blob in serialized.items():
            try:
                signatures[key] = meta_graph_pb2.SignatureDef.FromString(blob)
            except Exception:  # protobuf's DecodeError
                raise internal("Cannot parse signature def found in flatbuffer.") from None
        return signatures
    return {}


class TfLiteModel(Servable):
    """One loaded ``model.tflite``: generated or stored signatures, a pool of interpreters."""

    def __init__(self, name: str, version: int, path: str, num_pools: int, interpreters_per_pool: int = 1):
        super().__init__(name, version, path)
        model_bytes = _read(os.path.join(path, TFLITE_FILE))
        if len(model_bytes) < 8 or model_bytes[4:8] != b"TFL3":
            raise invalid_argument("Cannot build FlatBufferModel from buffer.")
        try:
            first = _interpreter(model_bytes)
        except (ValueError, RuntimeError):
            raise internal(
                "Cannot build Interpreter from buffer." + _missing_parse_example(model_bytes)
            ) from None
        self._inputs = _tensor_map(first.get_input_details(), "Input")
        self._outputs = _tensor_map(first.get_output_details(), "Output")
        self._input_index = {n: d["index"] for n, d in self._inputs.items()}
        self._output_index = {n: d["index"] for n, d in self._outputs.items()}
        self.signature_defs = self._signatures(model_bytes)
        # interpreters_per_pool > 1 makes TF Serving split large batches across that many
        # interpreters; the answers are the same, so each request runs whole here (the
        # flag's start-up line says so).
        self.interpreters_per_pool = interpreters_per_pool
        self._pool: queue.SimpleQueue = queue.SimpleQueue()
        self._pool.put(first)
        for _ in range(max(1, num_pools) - 1):
            self._pool.put(_interpreter(model_bytes))
        self._size = max(1, num_pools)

    def _signatures(self, model_bytes: bytes) -> dict[str, meta_graph_pb2.SignatureDef]:
        try:
            stored = read_signature_def_map(model_bytes)
        except ServingError as error:
            raise invalid_argument(f"Invalid SignatureDefs found in TfLite model: {error.message}") from None
        if not stored:
            log.warning(_WHERE, "No signature def found in TFLite model. Generating one.")
            signature = meta_graph_pb2.SignatureDef(method_name=PREDICT_METHOD)
            for tensor_name, detail in self._inputs.items():
                signature.inputs[legacy_name(tensor_name)].CopyFrom(_tensor_info(detail))
            for tensor_name, detail in self._outputs.items():
                signature.outputs[legacy_name(tensor_name)].CopyFrom(_tensor_info(detail))
            return {"serving_default": signature}
        for signature in stored.values():
            for side, by_name in (("input", self._input_index), ("output", self._output_index)):
                for alias, info in getattr(signature, f"{side}s").items():
                    try:
                        info.name = fix_name(by_name, info.name)
                    except ServingError as error:
                        raise _with_context(
                            error, f"Signature {side} {alias} references an unknown tensor"
                        ) from None
        return stored

    # -- running ---------------------------------------------------------------------------

    def run(self, feeds: dict[str, np.ndarray], fetches, timeout_ms: int | None = None) -> list[np.ndarray]:
        """``TfLiteSession::Run``: feeds and fetches are tensor names."""
        inputs = []
        for tensor_name, array in feeds.items():
            try:
                inputs.append((self._input_index[fix_name(self._input_index, tensor_name)], array))
            except ServingError as error:
                raise _with_context(error, f"Missing input TFLite tensor: {tensor_name}") from None
        outputs = []
        for tensor_name in fetches:
            try:
                outputs.append(self._output_index[fix_name(self._output_index, tensor_name)])
            except ServingError as error:
                raise internal(f"Missing output TFLite tensor: {tensor_name}: {error.message}") from None
        interpreter = self._pool.get()
        try:
            return self._invoke(interpreter, sorted(inputs, key=lambda item: item[0]), outputs)
        finally:
            self._pool.put(interpreter)

    @staticmethod
    def _invoke(interpreter, inputs, outputs) -> list[np.ndarray]:
        """``SetInputAndInvokeMiniBatch`` then ``SetMiniBatchOutput``, on one interpreter."""
        details = {d["index"]: d for d in interpreter.get_input_details()}
        for index, array in inputs:
            detail = details[index]
            if list(detail["shape"]) != list(array.shape):
                try:
                    interpreter.resize_tensor_input(index, list(array.shape))
                    interpreter.allocate_tensors()
                except (ValueError, RuntimeError):
                    raise internal(
                        f"Failed to resize input tensor: {detail['name']} from "
                        f"{_bytes(detail)} to {array.nbytes} bytes."
                    ) from None
            try:
                interpreter.set_tensor(index, array)
            except ValueError as error:
                raise invalid_argument(str(error)) from None
        try:
            interpreter.invoke()
        except (ValueError, RuntimeError):
            raise internal("Failed to invoke TfLite interpreter") from None
        return [interpreter.get_tensor(index) for index in outputs]

    # -- life cycle -------------------------------------------------------------------------

    def _free(self) -> None:
        for _ in range(self._size):
            self._pool.get()


def custom_op_codes(model_bytes: bytes) -> list[str]:
    """The custom (non-builtin) op names a TF Lite model uses."""
    from tensorflow.lite.python import schema_py_generated as schema

    model = schema.Model.GetRootAsModel(model_bytes, 0)
    codes = (model.OperatorCodes(i).CustomCode() for i in range(model.OperatorCodesLength()))
    return [code.decode("utf-8", "replace") for code in codes if code]


def _missing_parse_example(model_bytes: bytes) -> str:
    """Why a model TF Serving would load fails here: TF Serving registers ParseExample."""
    ops = sorted(set(custom_op_codes(model_bytes)) & set(PARSE_EXAMPLE_OPS))
    if not ops:
        return ""
    return (
        f" (the emulator's TF Lite interpreter has no kernel for the custom op {', '.join(ops)}; "
        "TF Serving registers it, so this model loads there)"
    )


def _bytes(detail: dict) -> int:
    return int(np.prod(detail["shape"])) * np.dtype(detail["dtype"]).itemsize


def _read(path: str) -> bytes:
    try:
        with open(path, "rb") as handle:
            return handle.read()
    except OSError as error:
        code = "NOT_FOUND" if isinstance(error, FileNotFoundError) else "PERMISSION_DENIED"
        raise ServingError(code, f"{path}; {error.strerror}") from None
