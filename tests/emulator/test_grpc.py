"""gRPC API: success paths, the ``model_spec`` echo, and TF Serving's error table.

Requests are built with tensorflow-serving-api's protos exactly as the tutorial's
client builds them (``tf.make_tensor_proto``), and answers are checked field by field.
"""

from __future__ import annotations

import grpc
import numpy as np
import pytest
import tensorflow as tf
from tensorflow.core.example import example_pb2, feature_pb2
from tensorflow.core.framework import tensor_pb2, tensor_shape_pb2, types_pb2
from tensorflow_serving.apis import (
    classification_pb2,
    get_model_metadata_pb2,
    get_model_status_pb2,
    inference_pb2,
    input_pb2,
    predict_pb2,
    regression_pb2,
)

TIMEOUT = 30


def float_example(**features: float) -> example_pb2.Example:
    return example_pb2.Example(
        features=feature_pb2.Features(
            feature={
                k: feature_pb2.Feature(float_list=feature_pb2.FloatList(value=[v]))
                for k, v in features.items()
            }
        )
    )


def predict_request(name="half_plus_two", signature=None, version=None, label=None, **inputs):
    request = predict_pb2.PredictRequest()
    request.model_spec.name = name
    if signature is not None:
        request.model_spec.signature_name = signature
    if version is not None:
        request.model_spec.version.value = version
    if label is not None:
        request.model_spec.version_label = label
    for alias, value in inputs.items():
        request.inputs[alias].CopyFrom(
            value if isinstance(value, tensor_pb2.TensorProto) else tf.make_tensor_proto(value)
        )
    return request


def examples_input(*examples: example_pb2.Example) -> input_pb2.Input:
    return input_pb2.Input(example_list=input_pb2.ExampleList(examples=list(examples)))


def rpc_error(call, request) -> tuple[grpc.StatusCode, str]:
    with pytest.raises(grpc.RpcError) as caught:
        call(request, timeout=TIMEOUT)
    return caught.value.code(), caught.value.details()


def assert_spec(spec, name, signature, version):
    """The echo: request name, resolved signature, loaded version, never a label."""
    assert spec.name == name
    assert spec.signature_name == signature
    assert spec.WhichOneof("version_choice") == "version"
    assert spec.version.value == version
    assert spec.version_label == ""


# -- Predict -------------------------------------------------------------------------------


def test_predict_like_tf_servings_own_client_test(stubs):
    # VerifyPredictRequest in tensorflow_model_server_test.py (model `default`).
    request = predict_request("default", "serving_default", x=np.array([2.0], dtype=np.float32))
    request.output_filter.append("y")
    response = stubs.prediction.Predict(request, timeout=TIMEOUT)
    assert list(response.outputs) == ["y"]
    assert list(response.outputs["y"].float_val) == [3.0]
    assert_spec(response.model_spec, "default", "serving_default", 123)


def test_predict_batch_keeps_shape_and_uses_typed_values(stubs):
    request = predict_request(x=np.array([[1.0], [2.0], [5.0]], dtype=np.float32))
    response = stubs.prediction.Predict(request, timeout=TIMEOUT)
    y = response.outputs["y"]
    assert y.dtype == types_pb2.DT_FLOAT
    assert [d.size for d in y.tensor_shape.dim] == [3, 1]
    assert list(y.float_val) == [2.5, 3.0, 4.5]
    assert y.tensor_content == b""  # kAsProtoField: typed *_val fields, not tensor_content
    assert tf.make_ndarray(y).tolist() == [[2.5], [3.0], [4.5]]
    # No signature and no version in the request: the echo fills in both.
    assert_spec(response.model_spec, "half_plus_two", "serving_default", 123)


def test_predict_accepts_tensor_content_input(stubs):
    x = tensor_pb2.TensorProto(
        dtype=types_pb2.DT_FLOAT,
        tensor_shape=tensor_shape_pb2.TensorShapeProto(dim=[tensor_shape_pb2.TensorShapeProto.Dim(size=2)]),
        tensor_content=np.array([1.0, 5.0], dtype="<f4").tobytes(),
    )
    response = stubs.prediction.Predict(predict_request(x=x), timeout=TIMEOUT)
    assert list(response.outputs["y"].float_val) == [2.5, 4.5]


def test_predict_with_explicit_version(stubs):
    response = stubs.prediction.Predict(predict_request(version=123, x=np.float32([1.0])), timeout=TIMEOUT)
    assert_spec(response.model_spec, "half_plus_two", "serving_default", 123)


def test_predict_on_a_regress_signature(stubs):
    # predict_util_test.cc: Predict works on any signature while the method check is off.
    request = predict_request(signature="regress_x2_to_y3", inputs=np.array([2.0], dtype=np.float32))
    response = stubs.prediction.Predict(request, timeout=TIMEOUT)
    assert list(response.outputs["outputs"].float_val) == [4.0]
    assert_spec(response.model_spec, "half_plus_two", "regress_x2_to_y3", 123)


def test_output_filter_selects_outputs(stubs):
    request = predict_request(
        "toolbox", "sum_and_product", a=np.float32([1.0, 3.0]), b=np.float32([2.0, 4.0])
    )
    response = stubs.prediction.Predict(request, timeout=TIMEOUT)
    assert {k: list(v.float_val) for k, v in response.outputs.items()} == {
        "sum": [3.0, 7.0],
        "product": [2.0, 12.0],
    }
    request.output_filter.append("product")
    response = stubs.prediction.Predict(request, timeout=TIMEOUT)
    assert {k: list(v.float_val) for k, v in response.outputs.items()} == {"product": [2.0, 12.0]}


def test_predict_string_round_trip(stubs):
    request = predict_request("toolbox", "echo_text", text=np.array([b"hi", b"\xff\x00"], dtype=object))
    response = stubs.prediction.Predict(request, timeout=TIMEOUT)
    assert list(response.outputs["text_bytes"].string_val) == [b"hi", b"\xff\x00"]


# -- Classify / Regress / MultiInference ----------------------------------------------------


def test_classify(stubs):
    request = classification_pb2.ClassificationRequest()
    request.model_spec.name = "half_plus_two"
    request.model_spec.signature_name = "classify_x_to_y"
    request.input.CopyFrom(examples_input(float_example(x=2.0), float_example(x=4.0)))
    response = stubs.prediction.Classify(request, timeout=TIMEOUT)
    classes = [[(c.label, c.score) for c in cl.classes] for cl in response.result.classifications]
    assert classes == [[("", 3.0)], [("", 4.0)]]
    assert_spec(response.model_spec, "half_plus_two", "classify_x_to_y", 123)


@pytest.mark.parametrize(
    ("signature", "expected"), [("regress_x_to_y", [3.0, 4.0]), ("regress_x_to_y2", [4.0, 5.0])]
)
def test_regress(stubs, signature, expected):
    request = regression_pb2.RegressionRequest()
    request.model_spec.name = "half_plus_two"
    request.model_spec.signature_name = signature
    request.input.CopyFrom(examples_input(float_example(x=2.0), float_example(x=4.0)))
    response = stubs.prediction.Regress(request, timeout=TIMEOUT)
    assert [r.value for r in response.result.regressions] == expected
    assert_spec(response.model_spec, "half_plus_two", signature, 123)


def test_regress_with_context(stubs):
    request = regression_pb2.RegressionRequest()
    request.model_spec.name = "half_plus_two"
    request.model_spec.signature_name = "regress_x_to_y"
    request.input.example_list_with_context.context.CopyFrom(float_example(x=4.0))
    request.input.example_list_with_context.examples.append(float_example(x2=1.0))
    response = stubs.prediction.Regress(request, timeout=TIMEOUT)
    assert [r.value for r in response.result.regressions] == [4.0]


def multi_inference_request(*tasks: tuple[str, str, str]) -> inference_pb2.MultiInferenceRequest:
    request = inference_pb2.MultiInferenceRequest()
    for name, signature, method in tasks:
        task = request.tasks.add()
        task.model_spec.name = name
        task.model_spec.signature_name = signature
        task.method_name = method
    request.input.CopyFrom(examples_input(float_example(x=2.0)))
    return request


CLASSIFY = "tensorflow/serving/classify"
REGRESS = "tensorflow/serving/regress"


def test_multi_inference_classify_and_regress_on_one_input(stubs):
    request = multi_inference_request(
        ("half_plus_two", "classify_x_to_y", CLASSIFY), ("half_plus_two", "regress_x_to_y2", REGRESS)
    )
    response = stubs.prediction.MultiInference(request, timeout=TIMEOUT)
    classify, regress = response.results
    assert [(c.label, c.score) for c in classify.classification_result.classifications[0].classes] == [
        ("", 3.0)
    ]
    assert [r.value for r in regress.regression_result.regressions] == [4.0]
    assert_spec(classify.model_spec, "half_plus_two", "classify_x_to_y", 123)
    assert_spec(regress.model_spec, "half_plus_two", "regress_x_to_y2", 123)


@pytest.mark.parametrize(
    ("tasks", "code", "message"),
    [
        ([("", "regress_x_to_y", REGRESS)], "INVALID_ARGUMENT", "ModelSpec has no name specified."),
        ([("nope", "regress_x_to_y", REGRESS)], "NOT_FOUND", "Servable not found for request: Latest(nope)"),
        (
            [("half_plus_two", "regress_x_to_y", REGRESS), ("", "regress_x_to_y2", REGRESS)],
            "INVALID_ARGUMENT",
            "Found ModelSpec with an empty model name.",
        ),
        (
            [("half_plus_two", "regress_x_to_y", REGRESS), ("default", "regress_x_to_y2", REGRESS)],
            "INVALID_ARGUMENT",
            "All ModelSpecs in a MultiInferenceRequest must access the same model name.",
        ),
        (
            [("half_plus_two", "regress_x_to_y", REGRESS), ("half_plus_two", "regress_x_to_y", REGRESS)],
            "INVALID_ARGUMENT",
            "Duplicate evaluation of signature: regress_x_to_y",
        ),
        (
            [("half_plus_two", "nope", REGRESS)],
            "INVALID_ARGUMENT",
            "Requested signature not found in model graph: nope",
        ),
        (
            [("half_plus_two", "", "tensorflow/serving/predict")],
            "UNIMPLEMENTED",
            "Unsupported signature method_name: tensorflow/serving/predict",
        ),
    ],
)
def test_multi_inference_errors(stubs, tasks, code, message):
    assert rpc_error(stubs.prediction.MultiInference, multi_inference_request(*tasks)) == (
        grpc.StatusCode[code],
        message,
    )


# -- GetModelMetadata / GetModelStatus ---------------------------------------------------------


def test_get_model_metadata(stubs, half_plus_two_signatures):
    request = get_model_metadata_pb2.GetModelMetadataRequest(metadata_field=["signature_def"])
    request.model_spec.name = "half_plus_two"
    response = stubs.prediction.GetModelMetadata(request, timeout=TIMEOUT)
    assert response.model_spec.name == "half_plus_two"
    assert response.model_spec.version.value == 123
    assert response.model_spec.signature_name == ""
    assert list(response.metadata) == ["signature_def"]
    signature_map = get_model_metadata_pb2.SignatureDefMap()
    assert response.metadata["signature_def"].Unpack(signature_map)
    assert dict(signature_map.signature_def) == half_plus_two_signatures


def test_get_model_status(stubs):
    request = get_model_status_pb2.GetModelStatusRequest()
    request.model_spec.name = "half_plus_two"
    response = stubs.model.GetModelStatus(request, timeout=TIMEOUT)
    (status,) = response.model_version_status
    assert status.version == 123
    assert status.state == get_model_status_pb2.ModelVersionStatus.AVAILABLE
    assert (status.status.error_code, status.status.error_message) == (0, "")

    request.model_spec.version.value = 123
    assert stubs.model.GetModelStatus(request, timeout=TIMEOUT) == response


# -- the error table ---------------------------------------------------------------------------


def no_spec(kind):
    return {
        "Predict": predict_pb2.PredictRequest(),
        "Classify": classification_pb2.ClassificationRequest(),
        "Regress": regression_pb2.RegressionRequest(),
        "GetModelMetadata": get_model_metadata_pb2.GetModelMetadataRequest(metadata_field=["signature_def"]),
    }[kind]


@pytest.mark.parametrize("kind", ["Predict", "Classify", "Regress", "GetModelMetadata"])
def test_missing_model_spec(stubs, kind):
    assert rpc_error(getattr(stubs.prediction, kind), no_spec(kind)) == (
        grpc.StatusCode.INVALID_ARGUMENT,
        "Missing ModelSpec",
    )


def test_get_model_status_missing_model_spec(stubs):
    assert rpc_error(stubs.model.GetModelStatus, get_model_status_pb2.GetModelStatusRequest()) == (
        grpc.StatusCode.INVALID_ARGUMENT,
        "Missing ModelSpec",
    )


@pytest.mark.parametrize("kind", ["Predict", "Classify", "Regress", "GetModelMetadata"])
def test_empty_model_name(stubs, kind):
    request = no_spec(kind)
    request.model_spec.signature_name = "serving_default"  # a present spec, with name ""
    assert rpc_error(getattr(stubs.prediction, kind), request) == (
        grpc.StatusCode.INVALID_ARGUMENT,
        "ModelSpec has no name specified.",
    )


@pytest.mark.parametrize(
    ("spec", "code", "message"),
    [
        ({"name": "nope"}, "NOT_FOUND", "Servable not found for request: Latest(nope)"),
        (
            {"name": "half_plus_two", "version": 7},
            "NOT_FOUND",
            "Servable not found for request: Specific(half_plus_two, 7)",
        ),
        (
            {"name": "half_plus_two", "label": "foo"},
            "INVALID_ARGUMENT",
            "Unrecognized servable version label: foo",
        ),
        ({"name": "nope", "label": "foo"}, "INVALID_ARGUMENT", "Unrecognized servable version label: foo"),
    ],
)
@pytest.mark.parametrize("kind", ["Predict", "Classify", "Regress", "GetModelMetadata"])
def test_servable_lookup_errors(stubs, kind, spec, code, message):
    request = no_spec(kind)
    request.model_spec.name = spec["name"]
    if "version" in spec:
        request.model_spec.version.value = spec["version"]
    if "label" in spec:
        request.model_spec.version_label = spec["label"]
    if kind == "Predict":
        request.inputs["x"].CopyFrom(tf.make_tensor_proto(np.float32([1.0])))
    elif kind in ("Classify", "Regress"):
        request.model_spec.signature_name = "regress_x_to_y" if kind == "Regress" else "classify_x_to_y"
        request.input.CopyFrom(examples_input(float_example(x=2.0)))
    assert rpc_error(getattr(stubs.prediction, kind), request) == (grpc.StatusCode[code], message)


def test_predict_unknown_signature_is_failed_precondition(stubs):
    request = predict_request(signature="nope", x=np.float32([1.0]))
    assert rpc_error(stubs.prediction.Predict, request) == (
        grpc.StatusCode.FAILED_PRECONDITION,
        'Serving signature key "nope" not found.',
    )


def test_predict_without_default_signature(stubs):
    request = predict_request("toolbox", a=np.float32([1.0]))
    assert rpc_error(stubs.prediction.Predict, request) == (
        grpc.StatusCode.FAILED_PRECONDITION,
        'Serving signature key "serving_default" not found.',
    )


@pytest.mark.parametrize("kind", ["Classify", "Regress"])
def test_classify_regress_unknown_signature(stubs, kind):
    request = no_spec(kind)
    request.model_spec.name = "half_plus_two"
    request.model_spec.signature_name = "nope"
    request.input.CopyFrom(examples_input(float_example(x=2.0)))
    assert rpc_error(getattr(stubs.prediction, kind), request) == (
        grpc.StatusCode.INVALID_ARGUMENT,
        "No signature was found with the name: nope",
    )


@pytest.mark.parametrize(("kind", "noun"), [("Classify", "classification"), ("Regress", "regression")])
def test_classify_regress_default_signature_is_checked_for_structure(
    stubs, half_plus_two_signatures, kind, noun
):
    # No signature given: serving_default, a predict signature without an `inputs` alias.
    request = no_spec(kind)
    request.model_spec.name = "half_plus_two"
    request.input.CopyFrom(examples_input(float_example(x=2.0)))
    assert rpc_error(getattr(stubs.prediction, kind), request) == (
        grpc.StatusCode.INVALID_ARGUMENT,
        f"No {noun} inputs found in SignatureDef: {half_plus_two_signatures['serving_default']}",
    )


@pytest.mark.parametrize("kind", ["Classify", "Regress"])
def test_classify_regress_empty_input(stubs, kind):
    request = no_spec(kind)
    request.model_spec.name = "half_plus_two"
    request.model_spec.signature_name = "regress_x_to_y" if kind == "Regress" else "classify_x_to_y"
    request.input.example_list.SetInParent()
    assert rpc_error(getattr(stubs.prediction, kind), request) == (
        grpc.StatusCode.INVALID_ARGUMENT,
        "Input is empty.",
    )


@pytest.mark.parametrize(
    ("name", "signature", "inputs", "message"),
    [
        (
            "half_plus_two",
            None,
            {},
            "input size does not match signature: 0!=1 len({}) != len({x}). Sent extra: {}. Missing but required: {x}.",
        ),
        (
            "half_plus_two",
            None,
            {"x": [1.0], "z": [1.0]},
            "input size does not match signature: 2!=1 len({x,z}) != len({x}). Sent extra: {z}. "
            "Missing but required: {}.",
        ),
        (
            "toolbox",
            "sum_and_product",
            {"a": [1.0]},
            "input size does not match signature: 1!=2 len({a}) != len({a,b}). Sent extra: {}. "
            "Missing but required: {b}.",
        ),
        (
            "half_plus_two",
            None,
            {"y": [1.0]},
            "Signature input alias: x(feed name: x:0) not found in request and no default value provided. "
            "Inputs expected to be in the request {y}, or default input alias set: ",
        ),
    ],
)
def test_predict_input_mismatch(stubs, name, signature, inputs, message):
    request = predict_request(name, signature, **{k: np.float32(v) for k, v in inputs.items()})
    assert rpc_error(stubs.prediction.Predict, request) == (grpc.StatusCode.INVALID_ARGUMENT, message)


def test_predict_wrong_dtype(stubs):
    request = predict_request(x=np.array([b"a"], dtype=object))
    assert rpc_error(stubs.prediction.Predict, request) == (
        grpc.StatusCode.INVALID_ARGUMENT,
        "Expects arg[0] to be float but string is provided",
    )


def test_predict_unparseable_tensor(stubs):
    # 3 floats announced, 5 bytes of content.
    x = tensor_pb2.TensorProto(
        dtype=types_pb2.DT_FLOAT,
        tensor_shape=tensor_shape_pb2.TensorShapeProto(dim=[tensor_shape_pb2.TensorShapeProto.Dim(size=3)]),
        tensor_content=b"\x00" * 5,
    )
    assert rpc_error(stubs.prediction.Predict, predict_request(x=x)) == (
        grpc.StatusCode.INVALID_ARGUMENT,
        "tensor parsing error: x",
    )


def test_output_filter_errors(stubs):
    request = predict_request(x=np.float32([1.0]))
    request.output_filter.append("z")
    assert rpc_error(stubs.prediction.Predict, request) == (
        grpc.StatusCode.INVALID_ARGUMENT,
        "output tensor alias not found in signature: z Outputs expected to be in the set {y}.",
    )
    del request.output_filter[:]
    request.output_filter.extend(["y", "y"])
    assert rpc_error(stubs.prediction.Predict, request) == (
        grpc.StatusCode.INVALID_ARGUMENT,
        "duplicate output tensor alias: y",
    )


def test_long_messages_are_truncated_at_1024_characters(stubs):
    alias = "z" * 2000
    request = predict_request(x=np.float32([1.0]))
    request.output_filter.append(alias)
    full = f"output tensor alias not found in signature: {alias} Outputs expected to be in the set {{y}}."
    assert rpc_error(stubs.prediction.Predict, request) == (
        grpc.StatusCode.INVALID_ARGUMENT,
        full[:1024] + "...TRUNCATED",
    )


def test_tensorflow_runtime_error(stubs):
    request = predict_request("toolbox", "matmul", m=np.float32([1.0, 2.0]))
    code, message = rpc_error(stubs.prediction.Predict, request)
    assert code == grpc.StatusCode.INVALID_ARGUMENT
    assert message.startswith("In[0] "), message
    assert message.endswith("\n\t [[{{node matmul}}]]"), message


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ([], "GetModelMetadataRequest must specify at least one metadata_field"),
        (["signature_def", "foo"], "Metadata field foo is not supported"),
    ],
)
def test_get_model_metadata_field_errors(stubs, fields, message):
    request = get_model_metadata_pb2.GetModelMetadataRequest(metadata_field=fields)
    request.model_spec.name = "half_plus_two"
    assert rpc_error(stubs.prediction.GetModelMetadata, request) == (
        grpc.StatusCode.INVALID_ARGUMENT,
        message,
    )


@pytest.mark.parametrize(
    ("name", "version", "message"),
    [
        ("nope", None, "Could not find any versions of model nope"),
        ("half_plus_two", 7, "Could not find version 7 of model half_plus_two"),
        ("", None, "Could not find any versions of model "),
    ],
)
def test_get_model_status_errors(stubs, name, version, message):
    request = get_model_status_pb2.GetModelStatusRequest()
    request.model_spec.name = name
    if version is not None:
        request.model_spec.version.value = version
    assert rpc_error(stubs.model.GetModelStatus, request) == (grpc.StatusCode.NOT_FOUND, message)
