"""Predict, Classify, Regress, MultiInference and model metadata on a loaded version.

Both front ends call these functions, so gRPC and REST share every check and message.
They follow ``servables/tensorflow/predict_util.cc``, ``classifier.cc``,
``regressor.cc``, ``multi_inference.cc``, ``util.cc`` and ``get_model_metadata_impl.cc``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from google.protobuf import text_format
from tensorflow.core.framework import types_pb2
from tensorflow.core.protobuf import meta_graph_pb2
from tensorflow_serving.apis import (
    classification_pb2,
    get_model_metadata_pb2,
    inference_pb2,
    input_pb2,
    regression_pb2,
)

from ..grpc.tensor_proto import TensorParseError, dtype_of, to_ndarray
from ..util.dtypes import dtype_name, dtype_string
from ..util.errors import ServingError, failed_precondition, invalid_argument, unimplemented
from .saved_model import LoadedModel

DEFAULT_SIGNATURE = "serving_default"
PREDICT_METHOD = "tensorflow/serving/predict"
CLASSIFY_METHOD = "tensorflow/serving/classify"
REGRESS_METHOD = "tensorflow/serving/regress"

SignatureDef = meta_graph_pb2.SignatureDef

# --enable_signature_method_name_check: one switch for the whole process, as TF Serving's
# SetSignatureMethodNameCheckFeature() is (server.cc sets it once, before any load).
_method_name_check = False


def set_method_name_check(enabled: bool) -> None:
    global _method_name_check
    _method_name_check = enabled


def method_name_check() -> bool:
    return _method_name_check


def debug_string(message) -> str:
    """C++ ``Message::DebugString()``: text format, maps sorted by key."""
    return text_format.MessageToString(message)


def _join(names) -> str:
    return ",".join(sorted(names))


def _shape_debug(array: np.ndarray) -> str:
    """``TensorShape::DebugString()``, e.g. ``[3,1]``."""
    return "[" + ",".join(str(d) for d in array.shape) + "]"


# -- Predict --------------------------------------------------------------------------------


def predict(
    model: LoadedModel,
    signature_name: str,
    inputs: Mapping[str, Any],
    output_filter: Sequence[str] = (),
    to_array: Callable[[Any], np.ndarray] | None = None,
    timeout_ms: int | None = None,
) -> tuple[str, dict[str, np.ndarray]]:
    """``RunPredict``: returns the resolved signature name and the outputs by alias.

    ``inputs`` maps aliases to arrays, or to TensorProtos with ``to_array`` decoding them
    (decoding happens after the signature checks, where TF Serving parses tensors).
    """
    name = signature_name or DEFAULT_SIGNATURE
    plan = predict_plan(model, name)
    signature = plan.signature
    if _method_name_check:
        _verify_predict_method(signature)
    if set(inputs) != plan.input_aliases:
        _verify_inputs_size(signature, inputs)
    feeds = _input_values(signature, plan, inputs, to_array)
    if output_filter:
        aliases = _output_aliases(signature, output_filter)
        fetches = [signature.outputs[a].name for a in aliases]
    else:
        aliases, fetches = plan.output_aliases, plan.fetches
    # Only the session's feed check is left, and it comes after every tensor has parsed.
    for index, ((_, _, dtype), (_, value)) in enumerate(zip(plan.inputs, feeds, strict=True)):
        actual = dtype_of(value)
        if actual != dtype:
            _check_dtype(index, dtype, actual)
    fetched = model.run(dict(feeds), fetches, timeout_ms)
    return name, dict(zip(aliases, fetched, strict=True))


def _verify_predict_method(signature: SignatureDef) -> None:
    """``VerifySignature`` (predict_util.cc); TF Serving answers INTERNAL here."""
    if signature.method_name not in (PREDICT_METHOD, CLASSIFY_METHOD, REGRESS_METHOD):
        raise ServingError(
            "INTERNAL",
            "Expected prediction signature method_name to be one of {"
            f"{PREDICT_METHOD}, {CLASSIFY_METHOD}, {REGRESS_METHOD}}}. Was: {signature.method_name}",
        )


def _input_values(
    signature: SignatureDef,
    plan: PredictPlan,
    inputs: Mapping[str, Any],
    to_array: Callable[[Any], np.ndarray] | None,
) -> list[tuple[str, np.ndarray]]:
    """``saved_model::GetInputValues`` (tensorflow/cc/saved_model/util.cc): every input,
    the request's or the signature's default, is parsed before any dtype is checked."""
    feeds: list[tuple[str, np.ndarray]] = []  # (tensor name, value), in plan.inputs' order
    seen: set[str] = set()
    for alias, tensor_name, _ in plan.inputs:
        if alias in inputs:
            value, decode = inputs[alias], to_array
            seen.add(alias)
        elif alias in signature.defaults:
            value, decode = signature.defaults[alias], to_ndarray  # defaults are TensorProtos
        else:
            raise invalid_argument(
                f"Signature input alias: {alias}(feed name: {tensor_name}) not found in request and no "
                f"default value provided. Inputs expected to be in the request {{{_join(inputs)}}}, or "
                f"default input alias set: {_join(signature.defaults)}"
            )
        if decode is not None:
            try:
                value = decode(value)
            except TensorParseError:
                raise invalid_argument(f"tensor parsing error: {alias}") from None
        feeds.append((tensor_name, value))
    if inputs and len(seen) != len(inputs):
        raise invalid_argument(
            f"Inputs contains invalid name. Used request inputs: {_join(seen)}, request input: {_join(inputs)}"
        )
    return feeds


@dataclass(frozen=True)
class PredictPlan:
    """What a signature needs, worked out once per loaded version instead of per request."""

    signature: SignatureDef
    inputs: tuple[tuple[str, str, int], ...]  # (alias, tensor name, dtype), sorted by alias
    input_aliases: frozenset[str]
    output_aliases: list[str]
    fetches: list[str]


def predict_plan(model: LoadedModel, name: str) -> PredictPlan:
    plan = model.plans.get(name)
    if plan is None:
        signature = model.signature_defs.get(name)
        if signature is None:
            raise failed_precondition(f'Serving signature key "{name}" not found.')
        inputs = tuple((a, i.name, i.dtype) for a, i in sorted(signature.inputs.items()))
        outputs = sorted(signature.outputs)
        plan = PredictPlan(
            signature,
            inputs,
            frozenset(signature.inputs),
            outputs,
            [signature.outputs[a].name for a in outputs],
        )
        model.plans[name] = plan
    return plan


def _check_dtype(index: int, expected: int, actual: int) -> None:
    """The session's own feed check (``DirectSession``), worded as TF Serving returns it."""
    if expected not in (actual, types_pb2.DT_INVALID):
        raise invalid_argument(
            f"Expects arg[{index}] to be {dtype_string(expected)} but {dtype_string(actual)} is provided"
        )


def _verify_inputs_size(signature: SignatureDef, inputs: Mapping[str, Any]) -> None:
    requested, expected = set(inputs), set(signature.inputs)
    extra = requested - expected
    missing = expected - requested - set(signature.defaults)
    if len(requested) != len(expected) and (extra or missing):
        raise invalid_argument(
            f"input size does not match signature: {len(requested)}!={len(expected)} "
            f"len({{{_join(requested)}}}) != len({{{_join(expected)}}}). "
            f"Sent extra: {{{_join(extra)}}}. Missing but required: {{{_join(missing)}}}."
        )


def _output_aliases(signature: SignatureDef, output_filter: Sequence[str]) -> list[str]:
    if not output_filter:
        return sorted(signature.outputs)
    seen: set[str] = set()
    for alias in output_filter:
        if alias not in signature.outputs:
            raise invalid_argument(
                f"output tensor alias not found in signature: {alias} Outputs expected to be in the "
                f"set {{{_join(signature.outputs)}}}."
            )
        if alias in seen:
            raise invalid_argument(f"duplicate output tensor alias: {alias}")
        seen.add(alias)
    return list(output_filter)


# -- Classify / Regress ----------------------------------------------------------------------


def serialized_examples(model_input: input_pb2.Input) -> np.ndarray:
    """``InputToSerializedExampleTensor``: one serialized tf.Example per row.

    With a context, each row is the context's bytes followed by the example's: protobuf
    merges concatenated messages, so the example's features extend (and override) the
    context's, exactly as TF Serving relies on.
    """
    kind = model_input.WhichOneof("kind")
    if kind == "example_list":
        rows = [e.SerializeToString() for e in model_input.example_list.examples]
    elif kind == "example_list_with_context":
        with_context = model_input.example_list_with_context
        context = with_context.context.SerializeToString()
        rows = [context + e.SerializeToString() for e in with_context.examples]
    else:
        rows = []
    if not rows:
        raise invalid_argument("Input is empty.")
    return np.array(rows, dtype=object)


def _signature(model: LoadedModel, signature_name: str) -> tuple[str, SignatureDef]:
    name = signature_name or DEFAULT_SIGNATURE
    signature = model.signature_defs.get(name)
    if signature is None:
        raise invalid_argument(f"No signature was found with the name: {name}")
    return name, signature


def _classification_tensors(signature: SignatureDef) -> tuple[str, list[str]]:
    """``PreProcessClassification``."""
    if _method_name_check and signature.method_name != CLASSIFY_METHOD:
        raise invalid_argument(
            f"Expected classification signature method_name to be {CLASSIFY_METHOD}. Was: {signature.method_name}"
        )
    if len(signature.inputs) != 1:
        raise invalid_argument("Expected one input Tensor.")
    if len(signature.outputs) not in (1, 2):
        raise invalid_argument(f"Expected one or two output Tensors, found {len(signature.outputs)}")
    if "inputs" not in signature.inputs:
        raise invalid_argument(f"No classification inputs found in SignatureDef: {debug_string(signature)}")
    if "classes" not in signature.outputs and "scores" not in signature.outputs:
        raise invalid_argument(
            'Expected classification signature outputs to contain at least one of "classes" or '
            f'"scores". Signature was: {debug_string(signature)}'
        )
    outputs = [signature.outputs[k].name for k in ("classes", "scores") if k in signature.outputs]
    return signature.inputs["inputs"].name, outputs


def _regression_tensors(signature: SignatureDef) -> tuple[str, list[str]]:
    """``PreProcessRegression``."""
    if _method_name_check and signature.method_name != REGRESS_METHOD:
        raise invalid_argument(
            f"Expected regression signature method_name to be {REGRESS_METHOD}. Was: {signature.method_name}"
        )
    if len(signature.inputs) != 1:
        raise invalid_argument("Expected one input Tensor.")
    if len(signature.outputs) != 1:
        raise invalid_argument("Expected one output Tensor.")
    if "inputs" not in signature.inputs:
        raise invalid_argument(f"No regression inputs found in SignatureDef: {debug_string(signature)}")
    if "outputs" not in signature.outputs:
        raise invalid_argument(f"No regression outputs found in SignatureDef: {debug_string(signature)}")
    return signature.inputs["inputs"].name, [signature.outputs["outputs"].name]


def _classification_result(
    signature: SignatureDef, num_examples: int, by_name: Mapping[str, np.ndarray]
) -> classification_pb2.ClassificationResult:
    """``PostProcessClassificationResult``."""
    classes = by_name.get(signature.outputs["classes"].name) if "classes" in signature.outputs else None
    scores = by_name.get(signature.outputs["scores"].name) if "scores" in signature.outputs else None
    for label, tensor, dtype in (("classes", classes, "DT_STRING"), ("scores", scores, "DT_FLOAT")):
        if tensor is None:
            continue
        if tensor.ndim != 2:
            raise invalid_argument(
                f"Expected Tensor shape: [batch_size num_classes] but got {_shape_debug(tensor)}"
            )
        actual = dtype_name(dtype_of(tensor))
        if actual != dtype:
            raise invalid_argument(f"Expected {label} Tensor of {dtype}. Got: {actual}")
        if tensor.shape[0] != num_examples:
            raise invalid_argument(
                f"Expected {label} output batch size of {num_examples}. Got: {tensor.shape[0]}"
            )
    if classes is not None and scores is not None and classes.shape[1] != scores.shape[1]:
        raise invalid_argument(
            f"Tensors class and score should match in dim_size(1). Got {classes.shape[1]} vs. {scores.shape[1]}"
        )
    num_classes = (classes if classes is not None else scores).shape[1]
    result = classification_pb2.ClassificationResult()
    for i in range(num_examples):
        row = result.classifications.add()
        for c in range(num_classes):
            cls = row.classes.add()
            if classes is not None:
                cls.label = classes[i, c].decode("utf-8", "replace")
            if scores is not None:
                cls.score = float(scores[i, c])
    return result


def _regression_result(
    signature: SignatureDef, num_examples: int, by_name: Mapping[str, np.ndarray]
) -> regression_pb2.RegressionResult:
    """``PostProcessRegressionResult``."""
    output = by_name[signature.outputs["outputs"].name]
    if not (output.ndim == 1 or (output.ndim == 2 and output.shape[1] == 1)):
        raise invalid_argument(
            f"Expected output Tensor shape to be either [batch_size] or [batch_size, 1] but got {_shape_debug(output)}"
        )
    if output.shape[0] != num_examples:
        raise invalid_argument(
            f"Input batch size did not match output batch size: {num_examples} vs. {output.shape[0]}"
        )
    if output.dtype != np.float32:
        raise invalid_argument(f"Expected output Tensor of DT_FLOAT.  Got: {dtype_name(dtype_of(output))}")
    result = regression_pb2.RegressionResult()
    for value in output.reshape(-1).tolist():
        result.regressions.add().value = value
    return result


def _run_examples(model, input_tensor: str, output_tensors: list[str], model_input, timeout_ms):
    examples = serialized_examples(model_input)
    fetched = model.run({input_tensor: examples}, output_tensors, timeout_ms)
    return len(examples), dict(zip(output_tensors, fetched, strict=True))


def classify(
    model: LoadedModel, signature_name: str, model_input: input_pb2.Input, timeout_ms: int | None = None
) -> tuple[str, classification_pb2.ClassificationResult]:
    name, signature = _signature(model, signature_name)
    input_tensor, output_tensors = _classification_tensors(signature)
    num_examples, by_name = _run_examples(model, input_tensor, output_tensors, model_input, timeout_ms)
    return name, _classification_result(signature, num_examples, by_name)


def regress(
    model: LoadedModel, signature_name: str, model_input: input_pb2.Input, timeout_ms: int | None = None
) -> tuple[str, regression_pb2.RegressionResult]:
    name, signature = _signature(model, signature_name)
    input_tensor, output_tensors = _regression_tensors(signature)
    num_examples, by_name = _run_examples(model, input_tensor, output_tensors, model_input, timeout_ms)
    return name, _regression_result(signature, num_examples, by_name)


def multi_inference(
    model: LoadedModel, request: inference_pb2.MultiInferenceRequest, timeout_ms: int | None = None
) -> list[tuple[str, str, object]]:
    """``TensorFlowMultiInferenceRunner::Infer``: several classify/regress heads, one run.

    The heads may read the examples through different input tensors (a TF2 export gives
    each signature its own placeholder): as ``multi_inference.cc`` has done since 2020,
    the set of their input tensors is collected and the same serialized examples are fed
    to each (``PerformOneShotTensorComputation`` over a set of names).

    Returns ``(signature_name, method_name, result)`` per task, in request order.
    """
    input_tensors: set[str] = set()
    names: set[str] = set()
    output_tensors: set[str] = set()
    tasks = []
    model_name = ""
    for task in request.tasks:
        if not task.model_spec.name:
            raise invalid_argument("Found ModelSpec with an empty model name.")
        if model_name and model_name != task.model_spec.name:
            raise invalid_argument(
                "All ModelSpecs in a MultiInferenceRequest must access the same model name."
            )
        model_name = task.model_spec.name
        name = task.model_spec.signature_name or DEFAULT_SIGNATURE
        if name in names:
            raise invalid_argument(f"Duplicate evaluation of signature: {name}")
        names.add(name)
        signature = model.signature_defs.get(name)
        if signature is None:
            raise invalid_argument(f"Requested signature not found in model graph: {name}")
        if task.method_name == CLASSIFY_METHOD:
            task_input, task_outputs = _classification_tensors(signature)
        elif task.method_name == REGRESS_METHOD:
            task_input, task_outputs = _regression_tensors(signature)
        else:
            raise unimplemented(f"Unsupported signature method_name: {task.method_name}")
        input_tensors.add(task_input)
        output_tensors.update(task_outputs)
        tasks.append((name, task.method_name, signature))
    examples = serialized_examples(request.input)
    fetches = sorted(output_tensors)  # std::set order, as the C++ runner fetches them
    fetched = model.run({tensor: examples for tensor in sorted(input_tensors)}, fetches, timeout_ms)
    num_examples, by_name = len(examples), dict(zip(fetches, fetched, strict=True))
    results = []
    for name, method, signature in tasks:
        if method == CLASSIFY_METHOD:
            results.append((name, method, _classification_result(signature, num_examples, by_name)))
        else:
            results.append((name, method, _regression_result(signature, num_examples, by_name)))
    return results


# -- Metadata --------------------------------------------------------------------------------

SIGNATURE_DEF_FIELD = "signature_def"


def check_metadata_fields(fields: Sequence[str]) -> None:
    if not fields:
        raise invalid_argument("GetModelMetadataRequest must specify at least one metadata_field")
    for field in fields:
        if field != SIGNATURE_DEF_FIELD:
            raise invalid_argument(f"Metadata field {field} is not supported")


def signature_def_map(model: LoadedModel) -> get_model_metadata_pb2.SignatureDefMap:
    result = get_model_metadata_pb2.SignatureDefMap()
    for key, signature in model.signature_defs.items():
        result.signature_def[key].CopyFrom(signature)
    return result


__all__ = [
    "DEFAULT_SIGNATURE",
    "ServingError",
    "check_metadata_fields",
    "classify",
    "multi_inference",
    "predict",
    "regress",
    "signature_def_map",
]
