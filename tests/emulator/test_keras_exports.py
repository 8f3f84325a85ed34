"""Three ways to export a Keras 3 model, served side by side as TF Serving serves them.

* ``model.export(path)``: works; writes ``serving_default`` (and ``serve``), input named
  after the ``keras.Input``, output ``output_0``;
* ``keras.export.ExportArchive``: works; any endpoints, any input and output names;
* ``tf.saved_model.save(model)``, and a ``tf.Module`` holding Keras layers: the version
  loads (AVAILABLE), then every request fails: the C++ session loader that TF Serving
  uses does not find the Keras variables (tensorflow/serving#2226, keras-team/keras#19274):
  ``FAILED_PRECONDITION: Could not find variable ...`` over gRPC, HTTP 400 with
  ``{"error": "Could not find variable ..."}`` over REST.

The model is one Dense unit without bias, weight 0.5 (``y = x / 2``): one variable, so
the failing read is always the same one.
"""

from __future__ import annotations

import re
from pathlib import Path

import grpc
import numpy as np
import pytest
from emulator_harness import model_config_text, model_status, serve
from tensorflow.core.framework import types_pb2
from tensorflow_serving.apis import predict_pb2

from tfserving_emulator.core.loader import LoadOptions, load_version
from tfserving_emulator.util.errors import ServingError

LAYER = "half"
MISSING_VARIABLE = (
    f"Could not find variable {LAYER}/kernel. This could mean that the variable has been deleted. "
    "In TF1, it can also mean the variable is uninitialized. Debug info: container=localhost, "
    f"status error message=Resource localhost/{LAYER}/kernel/N10tensorflow3VarE does not exist."
)
# What follows in the C++ status: the failing node inside the signature's function.
NODE_SUFFIX = r"\n\t \[\[\{\{function_node __inference_\w+_\d+\}\}\{\{node (?P<node>[\w/]+)\}\}\]\]"
BROKEN = ("saved_model_save", "module_with_layers")
X = [[2.0], [5.0]]
HALF = [[1.0], [2.5]]


def tiny_model():
    import keras

    inputs = keras.Input(shape=(1,), name="x")
    dense = keras.layers.Dense(
        1, use_bias=False, kernel_initializer=keras.initializers.Constant(0.5), name=LAYER
    )
    return keras.Model(inputs, dense(inputs), name="tiny")


def export_all(root: Path) -> dict[str, Path]:
    """Each way into ``root/<way>/1``; returns the base paths."""
    import keras
    import tensorflow as tf

    model = tiny_model()
    bases = {name: root / name for name in ("model_export", "export_archive", *BROKEN)}

    model.export(str(bases["model_export"] / "1"), verbose=False)

    archive = keras.export.ExportArchive()
    archive.track(model)
    archive.add_endpoint(
        "serving_default",
        lambda x: {"y": model(x)},
        input_signature=[tf.TensorSpec([None, 1], tf.float32, name="x")],
    )
    archive.add_endpoint(
        "halve",
        lambda value: {"half": model(value)},
        input_signature=[tf.TensorSpec([None, 1], tf.float32, name="value")],
    )
    archive.write_out(str(bases["export_archive"] / "1"), verbose=False)

    tf.saved_model.save(model, str(bases["saved_model_save"] / "1"))

    class Holder(tf.Module):
        def __init__(self):
            super().__init__()
            self.dense = keras.layers.Dense(
                1, use_bias=False, kernel_initializer=keras.initializers.Constant(0.5), name=LAYER
            )
            self.dense.build((None, 1))

        @tf.function(input_signature=[tf.TensorSpec([None, 1], tf.float32, name="x")])
        def __call__(self, x):
            return {"y": self.dense(x)}

    holder = Holder()
    tf.saved_model.save(holder, str(bases["module_with_layers"] / "1"), signatures=holder.__call__)
    return bases


@pytest.fixture(scope="module")
def bases(tmp_path_factory) -> dict[str, Path]:
    return export_all(tmp_path_factory.mktemp("keras_exports"))


@pytest.fixture(scope="module")
def served(bases, tmp_path_factory):
    config = tmp_path_factory.mktemp("keras_config") / "models.config"
    config.write_text(model_config_text([{"name": n, "base_path": p} for n, p in bases.items()]))
    with serve([f"--model_config_file={config}"]) as server:
        yield server


def session_run_error(version_dir: Path) -> str:
    """The error TF's own v1 session loader and ``Session.run`` give for ``serving_default``."""
    import tensorflow as tf

    graph = tf.Graph()
    with tf.compat.v1.Session(graph=graph) as session, graph.as_default():
        meta_graph = tf.compat.v1.saved_model.loader.load(session, ["serve"], str(version_dir))
        signature = meta_graph.signature_def["serving_default"]
        feeds = {signature.inputs[a].name: np.array(X, np.float32) for a in signature.inputs}
        with pytest.raises(tf.errors.FailedPreconditionError) as caught:
            session.run([o.name for o in signature.outputs.values()], feeds)
    return caught.value.message


def assert_missing_variable(message: str, version_dir: Path) -> None:
    match = re.fullmatch(re.escape(MISSING_VARIABLE) + NODE_SUFFIX, message)
    assert match, message
    # Python's Session.run says the same, with the node named without its function.
    assert session_run_error(version_dir) == (
        f"Graph execution error:\n\n{MISSING_VARIABLE}\n\t [[{{{{node {match['node']}}}}}]]"
    )


# ---------------------------------------------------------------------------
# Through the emulator's loader, in this process
# ---------------------------------------------------------------------------


def _run(model, signature: str, values) -> dict[str, list]:
    sig = model.signature_defs[signature]
    feeds = {sig.inputs[a].name: np.array(values, np.float32) for a in sig.inputs}
    aliases = sorted(sig.outputs)
    outputs = model.run(feeds, [sig.outputs[a].name for a in aliases])
    return {a: o.tolist() for a, o in zip(aliases, outputs, strict=True)}


def test_loader_model_export(bases):
    model = load_version("m", 1, str(bases["model_export"] / "1"), LoadOptions())
    assert sorted(model.signature_defs) == ["__saved_model_init_op", "serve", "serving_default"]
    assert list(model.signature_defs["serving_default"].inputs) == ["x"]
    assert _run(model, "serving_default", X) == {"output_0": HALF}
    model.close()


def test_loader_export_archive(bases):
    model = load_version("m", 1, str(bases["export_archive"] / "1"), LoadOptions())
    assert sorted(model.signature_defs) == ["__saved_model_init_op", "halve", "serving_default"]
    assert _run(model, "serving_default", X) == {"y": HALF}
    assert _run(model, "halve", [[8.0]]) == {"half": [[4.0]]}
    model.close()


@pytest.mark.parametrize("way", BROKEN)
def test_loader_loads_the_broken_exports_then_refuses_to_run_them(bases, way):
    version_dir = bases[way] / "1"
    model = load_version("m", 1, str(version_dir), LoadOptions())  # loading succeeds
    with pytest.raises(ServingError) as caught:
        _run(model, "serving_default", X)
    assert caught.value.code == "FAILED_PRECONDITION"
    assert_missing_variable(caught.value.message, version_dir)
    model.close()


# ---------------------------------------------------------------------------
# Over gRPC and REST
# ---------------------------------------------------------------------------


def _grpc_predict(served, model: str, alias: str, signature: str = ""):
    request = predict_pb2.PredictRequest()
    request.model_spec.name = model
    request.model_spec.signature_name = signature
    request.inputs[alias].dtype = types_pb2.DT_FLOAT
    request.inputs[alias].float_val.extend([v for row in X for v in row])
    request.inputs[alias].tensor_shape.dim.add().size = 2
    request.inputs[alias].tensor_shape.dim.add().size = 1
    return served.grpc.prediction.Predict(request, timeout=30)


@pytest.mark.parametrize(("model", "output"), [("model_export", "output_0"), ("export_archive", "y")])
def test_working_exports_over_grpc(served, model, output):
    response = _grpc_predict(served, model, "x")
    assert list(response.outputs) == [output]
    assert list(response.outputs[output].float_val) == [1.0, 2.5]
    assert response.model_spec.signature_name == "serving_default"


@pytest.mark.parametrize("model", ["model_export", "export_archive"])
def test_working_exports_over_rest(served, model):
    reply = served.rest.post(f"/v1/models/{model}:predict", {"instances": X})
    assert (reply.status, reply.json()) == (200, {"predictions": HALF})


def test_export_archive_named_signature_over_rest(served):
    reply = served.rest.post(
        "/v1/models/export_archive:predict", {"signature_name": "halve", "instances": [{"value": [8.0]}]}
    )
    assert (reply.status, reply.json()) == (200, {"predictions": [[4.0]]})


@pytest.mark.parametrize("way", BROKEN)
def test_broken_exports_are_available(served, way):
    assert model_status(served, way) == {1: ("AVAILABLE", 0, "")}


@pytest.mark.parametrize("way", BROKEN)
def test_broken_exports_fail_the_request_over_grpc(served, bases, way):
    alias = "inputs" if way == "saved_model_save" else "x"
    with pytest.raises(grpc.RpcError) as caught:
        _grpc_predict(served, way, alias)
    assert caught.value.code() == grpc.StatusCode.FAILED_PRECONDITION
    assert_missing_variable(caught.value.details(), bases[way] / "1")


@pytest.mark.parametrize("way", BROKEN)
def test_broken_exports_fail_the_request_over_rest(served, bases, way):
    reply = served.rest.post(f"/v1/models/{way}:predict", {"instances": X})
    assert reply.status == 400
    assert_missing_variable(reply.error, bases[way] / "1")
