"""``--prefer_tflite_model``: ``model.tflite`` served through TF Lite, as TF Serving 2.21 does.

The upstream end-to-end tests ``testPredictOnTfLite`` and
``testPredictWithSignatureDefOnTfLite`` (``model_servers/tensorflow_model_server_test.py``)
serve ``saved_model_half_plus_two_tflite`` and ``..._with_sigdef`` as model ``default``
and expect ``y == 3.0`` for ``x == 2.0``, version 123 and signature ``serving_default``;
they run here when ``../shared/upstream`` is present. A model converted in the test
shows what a user's converted model looks like to clients: TF Serving reads signatures
only from the ``signature_defs_metadata`` entry, so the converter's output gets one
generated ``serving_default`` keyed by tensor names.
"""

from __future__ import annotations

from pathlib import Path

import grpc
import pytest
from emulator_harness import free_port, install_version, model_config_text, run_emulator_to_exit, serve
from google.protobuf import json_format, text_format
from tensorflow.core.framework import types_pb2
from tensorflow.core.protobuf import meta_graph_pb2
from tensorflow_serving.apis import get_model_metadata_pb2, predict_pb2

from tests.conftest import SHARED_DIR

UPSTREAM_TESTDATA = SHARED_DIR / "upstream" / "tensorflow_serving" / "servables" / "tensorflow" / "testdata"
FAST_FAILURE = ["--max_num_load_retries=0", "--load_retry_interval_micros=0"]

# The signature TfLiteSession::Create generates for a model without stored SignatureDefs:
# every primary-subgraph tensor, keyed by its name without ":0", dims as the model has them.
GENERATED_SIGNATURE = """
inputs { key: "x" value { name: "x" dtype: DT_FLOAT tensor_shape { dim { size: 1 } dim { size: 1 } } } }
outputs { key: "y" value { name: "y" dtype: DT_FLOAT tensor_shape { dim { size: 1 } dim { size: 1 } } } }
method_name: "tensorflow/serving/predict"
"""
# The stored signature of ..._with_sigdef: its "tflite_input:0" is fixed to the
# interpreter's legacy name "tflite_input" (FixTfLiteTensorName).
STORED_SIGNATURE = GENERATED_SIGNATURE.replace('name: "x"', 'name: "tflite_input"')
CONVERTED_SIGNATURE = """
inputs { key: "serving_default_x" value { name: "serving_default_x:0" dtype: DT_FLOAT
         tensor_shape { dim { size: 1 } dim { size: 1 } } } }
outputs { key: "PartitionedCall" value { name: "PartitionedCall:0" dtype: DT_FLOAT
          tensor_shape { dim { size: 1 } dim { size: 1 } } } }
method_name: "tensorflow/serving/predict"
"""


def _signature(text: str) -> meta_graph_pb2.SignatureDef:
    return text_format.Parse(text, meta_graph_pb2.SignatureDef())


def write_converted_half_plus_two(version_dir: Path) -> None:
    """``y = x / 2 + 2`` from a ``tf.function``, converted by TF's own TF Lite converter."""
    import tensorflow as tf

    class HalfPlusTwo(tf.Module):
        @tf.function(input_signature=[tf.TensorSpec([None, 1], tf.float32, name="x")])
        def __call__(self, x):
            return {"y": x * 0.5 + 2.0}

    module = HalfPlusTwo()
    converter = tf.lite.TFLiteConverter.from_concrete_functions(
        [module.__call__.get_concrete_function()], module
    )
    version_dir.mkdir(parents=True)
    (version_dir / "model.tflite").write_bytes(converter.convert())


def _predict(served, model: str, alias: str, values: list[float], shape: list[int]):
    request = predict_pb2.PredictRequest()
    request.model_spec.name = model
    request.model_spec.signature_name = "serving_default"
    request.inputs[alias].dtype = types_pb2.DT_FLOAT
    request.inputs[alias].float_val.extend(values)
    for size in shape:
        request.inputs[alias].tensor_shape.dim.add().size = size
    return served.grpc.prediction.Predict(request, timeout=30)


def _metadata(served, model: str) -> dict[str, meta_graph_pb2.SignatureDef]:
    request = get_model_metadata_pb2.GetModelMetadataRequest(metadata_field=["signature_def"])
    request.model_spec.name = model
    response = served.grpc.prediction.GetModelMetadata(request, timeout=30)
    signatures = get_model_metadata_pb2.SignatureDefMap()
    response.metadata["signature_def"].Unpack(signatures)
    return dict(signatures.signature_def)


# ---------------------------------------------------------------------------
# A model converted here (always runs)
# ---------------------------------------------------------------------------


@pytest.fixture(scope="module")
def converted(tmp_path_factory, half_plus_two_version_dir):
    root = tmp_path_factory.mktemp("tflite")
    write_converted_half_plus_two(root / "converted" / "1")
    # A SavedModel directory without model.tflite: the flag falls back to the SavedModel.
    install_version(half_plus_two_version_dir, root / "saved_model", 1)
    config = root / "models.config"
    config.write_text(
        model_config_text(
            [
                {"name": "converted", "base_path": root / "converted"},
                {"name": "saved_model", "base_path": root / "saved_model"},
            ]
        )
    )
    with serve(
        [f"--model_config_file={config}", "--prefer_tflite_model=true", "--num_tflite_pools=2"]
    ) as served:
        yield served


def test_converted_model_gets_a_generated_signature(converted):
    assert _metadata(converted, "converted") == {"serving_default": _signature(CONVERTED_SIGNATURE)}
    assert "No signature def found in TFLite model. Generating one." in converted.log_text()


def test_converted_model_predicts_a_batch_over_grpc(converted):
    response = _predict(converted, "converted", "serving_default_x", [2.0, 4.0, 6.0], [3, 1])
    (alias,) = response.outputs
    assert alias == "PartitionedCall"
    output = response.outputs[alias]
    assert output.dtype == types_pb2.DT_FLOAT
    assert [d.size for d in output.tensor_shape.dim] == [3, 1]
    assert list(output.float_val) == [3.0, 4.0, 5.0]
    assert (response.model_spec.name, response.model_spec.version.value) == ("converted", 1)
    assert response.model_spec.signature_name == "serving_default"


def test_converted_model_predicts_over_rest(converted):
    reply = converted.rest.post(
        "/v1/models/converted:predict",
        {"instances": [{"serving_default_x": [1.0]}, {"serving_default_x": [3.0]}]},
    )
    assert (reply.status, reply.json()) == (200, {"predictions": [[2.5], [3.5]]})


def test_rest_metadata_shows_the_tflite_signature(converted):
    reply = converted.rest.get("/v1/models/converted/metadata")
    assert reply.status == 200
    signature = json_format.ParseDict(
        reply.json()["metadata"]["signature_def"]["signature_def"]["serving_default"],
        meta_graph_pb2.SignatureDef(),
    )
    assert signature == _signature(CONVERTED_SIGNATURE)


def test_wrong_input_alias_is_refused_with_tf_servings_message(converted):
    with pytest.raises(grpc.RpcError) as caught:
        _predict(converted, "converted", "x", [2.0], [1, 1])
    assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    # predict_util.cc: same number of inputs, so the alias lookup is what fails.
    assert caught.value.details() == (
        "Signature input alias: serving_default_x(feed name: serving_default_x:0) not found in request "
        "and no default value provided. Inputs expected to be in the request {x}, or default input "
        "alias set: "
    )


def test_without_model_tflite_the_flag_falls_back_to_the_saved_model(converted):
    response = _predict(converted, "saved_model", "x", [2.0], [1])
    assert list(response.outputs["y"].float_val) == [3.0]
    assert "serving_default" in _metadata(converted, "saved_model")


def test_without_the_flag_a_tflite_only_directory_does_not_load(tmp_path):
    version = tmp_path / "converted" / "1"
    write_converted_half_plus_two(version)
    ports = [f"--port={free_port()}", f"--rest_api_port={free_port()}"]
    result = run_emulator_to_exit(
        ["--model_name=converted", f"--model_base_path={tmp_path / 'converted'}", *ports, *FAST_FAILURE]
    )
    assert result.returncode == 255, result.stdout
    # session_bundle_util.cc's words (a newline inside the status message, as the binary prints it).
    assert (
        "NOT_FOUND: Specified file path does not appear to contain a SavedModel bundle (should have "
        f"a file called `saved_model.pb`)\nSpecified file path: {version}"
    ) in result.stdout


# ---------------------------------------------------------------------------
# The upstream test models (../shared/upstream)
# ---------------------------------------------------------------------------


@pytest.fixture(scope="module")
def upstream(tmp_path_factory):
    if not UPSTREAM_TESTDATA.is_dir():
        pytest.skip("reference data ../shared/upstream is not present")
    root = tmp_path_factory.mktemp("tflite_upstream")
    models = []
    for name, folder in (
        ("default", "saved_model_half_plus_two_tflite"),
        ("with_sigdef", "saved_model_half_plus_two_tflite_with_sigdef"),
    ):
        install_version(UPSTREAM_TESTDATA / folder / "00000123", root / name, "00000123")
        models.append({"name": name, "base_path": root / name})
    config = root / "models.config"
    config.write_text(model_config_text(models))
    with serve([f"--model_config_file={config}", "--prefer_tflite_model=true"]) as served:
        yield served


@pytest.mark.parametrize("model", ["default", "with_sigdef"])
def test_upstream_predict_on_tflite(upstream, model):
    """testPredictOnTfLite / testPredictWithSignatureDefOnTfLite: x=[2.0] (shape [1]) -> y 3.0."""
    response = _predict(upstream, model, "x", [2.0], [1])
    assert set(response.outputs) == {"y"}
    assert response.outputs["y"].dtype == types_pb2.DT_FLOAT
    assert list(response.outputs["y"].float_val) == [3.0]
    assert response.model_spec.name == model
    assert response.model_spec.version.value == 123
    assert response.model_spec.signature_name == "serving_default"


@pytest.mark.parametrize(
    ("model", "expected"), [("default", GENERATED_SIGNATURE), ("with_sigdef", STORED_SIGNATURE)]
)
def test_upstream_metadata(upstream, model, expected):
    assert _metadata(upstream, model) == {"serving_default": _signature(expected)}


def test_upstream_rest_predict(upstream):
    reply = upstream.rest.post("/v1/models/with_sigdef:predict", {"instances": [2.0, 5.0]})
    assert (reply.status, reply.json()) == (200, {"predictions": [3.0, 4.5]})


# ---------------------------------------------------------------------------
# The loader alone, in this process
# ---------------------------------------------------------------------------


def test_a_file_that_is_not_tflite_is_refused(tmp_path):
    from tfserving_emulator.core.loader import LoadOptions, load_version
    from tfserving_emulator.util.errors import ServingError

    (tmp_path / "model.tflite").write_bytes(b"not a flatbuffer")
    with pytest.raises(ServingError) as caught:
        load_version("m", 1, str(tmp_path), LoadOptions(prefer_tflite_model=True, num_tflite_pools=1))
    assert (caught.value.code, caught.value.message) == (
        "INVALID_ARGUMENT",
        "Cannot build FlatBufferModel from buffer.",
    )


def test_every_interpreter_of_the_pool_answers(tmp_path):
    import numpy as np

    from tfserving_emulator.core.loader import LoadOptions, load_version
    from tfserving_emulator.servables.tflite_model import TfLiteModel

    write_converted_half_plus_two(tmp_path / "1")
    model = load_version(
        "m", 1, str(tmp_path / "1"), LoadOptions(prefer_tflite_model=True, num_tflite_pools=3)
    )
    assert isinstance(model, TfLiteModel)
    # The pool hands interpreters out in turn; each resizes to the request's batch.
    answers = [
        model.run({"serving_default_x:0": np.full((rows, 1), 4.0, np.float32)}, ["PartitionedCall:0"])[
            0
        ].tolist()
        for rows in (1, 2, 3, 1)
    ]
    assert answers == [[[4.0]], [[4.0], [4.0]], [[4.0], [4.0], [4.0]], [[4.0]]]
    model.close()


def test_a_dtype_other_than_the_signatures_is_refused(tmp_path):
    import numpy as np

    from tfserving_emulator.core.loader import LoadOptions, load_version
    from tfserving_emulator.servables import inference
    from tfserving_emulator.util.errors import ServingError

    write_converted_half_plus_two(tmp_path / "1")
    model = load_version(
        "m", 1, str(tmp_path / "1"), LoadOptions(prefer_tflite_model=True, num_tflite_pools=1)
    )
    with pytest.raises(ServingError) as caught:
        inference.predict(model, "", {"serving_default_x": np.array([[2.0]], np.float64)})
    assert (caught.value.code, caught.value.message) == (
        "INVALID_ARGUMENT",
        "Expects arg[0] to be float but double is provided",
    )
    model.close()


def test_with_the_flag_a_directory_without_either_model_is_not_found(tmp_path):
    from tfserving_emulator.core.loader import LoadOptions, load_version
    from tfserving_emulator.util.errors import ServingError

    with pytest.raises(ServingError) as caught:
        load_version("m", 1, str(tmp_path), LoadOptions(prefer_tflite_model=True))
    assert (caught.value.code, caught.value.message) == (
        "NOT_FOUND",
        "Specified file path does not appear to contain a SavedModel bundle (should have a file called "
        f"`saved_model.pb`)\nSpecified file path: {tmp_path}",
    )


def test_a_session_bundle_is_refused(tmp_path):
    from tfserving_emulator.core.loader import LoadOptions, load_version
    from tfserving_emulator.util.errors import ServingError

    (tmp_path / "export.meta").write_bytes(b"")
    with pytest.raises(ServingError) as caught:
        load_version("m", 1, str(tmp_path), LoadOptions(prefer_tflite_model=True))
    assert (caught.value.code, caught.value.message) == (
        "UNIMPLEMENTED",
        "Session Bundle is deprecated and removed.",
    )


def test_a_parse_example_model_says_why_it_does_not_load():
    """TF Serving registers TF Lite's ParseExample kernel; tf.lite.Interpreter has none (a known gap)."""
    from tfserving_emulator.core.loader import LoadOptions, load_version
    from tfserving_emulator.util.errors import ServingError

    version = UPSTREAM_TESTDATA / "parse_example_tflite" / "00000123"
    if not version.is_dir():
        pytest.skip("reference data ../shared/upstream is not present")
    with pytest.raises(ServingError) as caught:
        load_version("m", 1, str(version), LoadOptions(prefer_tflite_model=True, num_tflite_pools=1))
    assert (caught.value.code, caught.value.message) == (
        "INTERNAL",
        "Cannot build Interpreter from buffer. (the emulator's TF Lite interpreter has no kernel for the "
        "custom op ParseExampleV2; TF Serving registers it, so this model loads there)",
    )
