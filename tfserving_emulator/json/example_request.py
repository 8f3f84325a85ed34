"""``FillClassifyRegressRequestFromJson``: a ``:classify`` / ``:regress`` body -> tf.Example inputs."""

from __future__ import annotations

import numpy as np
from tensorflow.core.framework import types_pb2

from ..util.errors import invalid_argument
from .predict_request import _MISSING, _signature_name
from .rapidjson_document import members, string_bytes
from .tensor_values import (
    _INT64,
    _decode_base64_object,
    _format_error,
    _is_base64_object,
    _is_lossless_decimal,
    _json_type,
    _lossy_decimal_error,
    parse_json,
)


# --------------------------------------------------------------------------------------
# Classify / Regress request
# --------------------------------------------------------------------------------------
def fill_classify_regress_request(body: bytes, method: str) -> tuple[str, object]:
    """``FillClassifyRegressRequestFromJson``: parse a ``:classify``/``:regress`` body.

    Returns ``(signature_name as sent or "", tensorflow_serving.apis.input_pb2.Input)``
    with an ``example_list``, or an ``example_list_with_context`` when the body has a
    ``"context"``. ``method`` does not change anything: TF Serving's own message says
    "When method is classify" for both methods.
    """
    from tensorflow_serving.apis import input_pb2

    if method not in ("classify", "regress"):
        raise ValueError(f"method must be 'classify' or 'regress', not {method!r}")
    doc = parse_json(body)
    signature_name = _signature_name(doc)
    request_input = input_pb2.Input()
    context = doc.get("context", _MISSING)
    has_context = context is not _MISSING
    if has_context:
        _example_from_json(context, request_input.example_list_with_context.context)
    examples = doc.get("examples", _MISSING)
    if examples is _MISSING:
        raise _format_error(doc, "When method is classify, key 'examples' is expected and was not found")
    if type(examples) is not list:
        raise _format_error(doc, "Expecting 'examples' value to be an list/array")
    if not examples:
        raise _format_error(doc, "'examples' value is an empty array")
    for example in examples:
        target = (
            request_input.example_list_with_context.examples.add()
            if has_context
            else request_input.example_list.examples.add()
        )
        _example_from_json(example, target)
    return signature_name, request_input


def _example_from_json(value: object, example) -> None:
    """``MakeExampleFromJsonObject``: one JSON object -> one tf.Example."""
    from tensorflow.core.example import feature_pb2

    if not isinstance(value, dict):
        raise invalid_argument(f"Example must be JSON object but got JSON {_json_type(value)}")
    for name, content in members(value):
        feature = feature_pb2.Feature()
        for item in content if type(content) is list else [content]:
            _add_value_to_feature(item, name, feature)
        example.features.feature[name].CopyFrom(feature)


_FEATURE_KIND_NAME = {"bytes_list": "bytes", "float_list": "float", "int64_list": "int64", None: "UNKNOWN"}


def _add_value_to_feature(value: object, name: str, feature) -> None:
    """``AddValueToFeature``: ints and bools -> int64_list, doubles -> float_list,
    strings and {"b64": ...} -> bytes_list; one kind per feature."""

    def require(kind: str) -> None:
        current = feature.WhichOneof("kind")
        if current is not None and current != kind:
            raise invalid_argument(
                f"Unexpected element type in feature: {name} expecting type: {_FEATURE_KIND_NAME[current]}"
            )

    if value is None or type(value) is list or (isinstance(value, dict) and not _is_base64_object(value)):
        raise invalid_argument(f"Feature: {name} has element with unexpected JSON type: {_json_type(value)}")
    if type(value) is bool:
        require("int64_list")
        feature.int64_list.value.append(1 if value else 0)
    elif isinstance(value, dict):
        require("bytes_list")
        feature.bytes_list.value.append(_decode_base64_object(value))
    elif isinstance(value, str):
        require("bytes_list")
        feature.bytes_list.value.append(string_bytes(value))
    elif type(value) is float:
        require("float_list")
        if not _is_lossless_decimal(value, types_pb2.DT_FLOAT):
            raise _lossy_decimal_error(value, "float")
        feature.float_list.value.append(float(np.float32(value)))
    else:
        require("int64_list")
        if value > _INT64[1]:
            raise invalid_argument(f"Feature: {name} has uint64 element. Only int64 is supported.")
        feature.int64_list.value.append(value)
