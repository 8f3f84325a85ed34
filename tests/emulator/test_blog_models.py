"""The original blog's TF 1.13 exports, served and queried the way the blog did.

``MMModel_2`` is the tiny MLP on y = x^2 - 0.5 + noise with signature
``your_prediction``; the blog's gRPC client sent all 300 training points and read
``float_val``. ``MMModel`` is the export whose graph was built twice (its tensor names
are ``Placeholder_2``/``Placeholder_3``): it must load too. Both come from the optional
reference data in ``../shared/testdata``.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import tensorflow as tf
from emulator_harness import serve
from tensorflow_serving.apis import predict_pb2

SIGNATURE = "your_prediction"
INPUT_X, INPUT_Y, OUTPUT = "tensor_info_input_x", "tensor_info_input_y", "tensor_info_pre_y"


@pytest.fixture(scope="module")
def blog_exports(shared_testdata) -> Path:
    path = shared_testdata / "seed_repo" / "trained_models"
    if not (path / "MMModel_2" / "1" / "saved_model.pb").is_file():
        pytest.skip("the blog's exports are not in ../shared/testdata/seed_repo")
    return path


@pytest.fixture(scope="module")
def blog_server(blog_exports, copy_into, tmp_path_factory):
    # Serve copies: the server needs base paths holding version directories, and the
    # reference data must stay untouched.
    mm = copy_into(blog_exports / "MMModel" / "1", "MMModel", 1)
    mm2 = copy_into(blog_exports / "MMModel_2" / "1", "MMModel_2", 1)
    config = tmp_path_factory.mktemp("blog") / "models.config"
    config.write_text(
        "model_config_list {\n"
        f"  config {{ name: 'MMModel' base_path: '{mm}' model_platform: 'tensorflow' }}\n"
        f"  config {{ name: 'MMModel_2' base_path: '{mm2}' model_platform: 'tensorflow' }}\n"
        "}\n"
    )
    with serve([f"--model_config_file={config}"]) as served:
        yield served


def blog_data() -> tuple[np.ndarray, np.ndarray]:
    """The blog's 300 points: x in [-1, 1], y = x^2 - 0.5 + noise."""
    x = np.linspace(-1, 1, 300)[:, np.newaxis]
    noise = np.random.default_rng(0).normal(0, 0.05, x.shape)
    return x, np.square(x) - 0.5 + noise


def run_locally(version_dir: Path, x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Run the same SavedModel in-process with the TF1 session loader."""
    with tf.compat.v1.Session(graph=tf.Graph()) as sess:
        meta_graph = tf.compat.v1.saved_model.loader.load(sess, ["serve"], str(version_dir))
        signature = meta_graph.signature_def[SIGNATURE]
        return sess.run(
            signature.outputs[OUTPUT].name,
            {
                signature.inputs[INPUT_X].name: x.astype(np.float32),
                signature.inputs[INPUT_Y].name: y.astype(np.float32),
            },
        )


def grpc_predict(served, model: str, x: np.ndarray, y: np.ndarray):
    request = predict_pb2.PredictRequest()
    request.model_spec.name = model
    request.model_spec.signature_name = SIGNATURE
    request.inputs[INPUT_X].CopyFrom(tf.make_tensor_proto(x, dtype=tf.float32, shape=[300, 1]))
    request.inputs[INPUT_Y].CopyFrom(tf.make_tensor_proto(y, dtype=tf.float32, shape=[300, 1]))
    return served.grpc.prediction.Predict(request, timeout=60)


@pytest.mark.parametrize("model", ["MMModel_2", "MMModel"])
def test_blog_grpc_request(blog_server, blog_exports, model):
    x, y = blog_data()
    response = grpc_predict(blog_server, model, x, y)

    values = np.array(response.outputs[OUTPUT].float_val)
    assert values.shape == (300,)
    assert np.isfinite(values).all()
    assert [d.size for d in response.outputs[OUTPUT].tensor_shape.dim] == [300, 1]
    expected = run_locally(blog_exports / model / "1", x, y).ravel()
    np.testing.assert_allclose(values, expected, rtol=1e-5, atol=1e-6)
    assert response.model_spec.name == model
    assert response.model_spec.signature_name == SIGNATURE
    assert response.model_spec.version.value == 1


def test_blog_models_are_available(blog_server):
    for model in ("MMModel", "MMModel_2"):
        reply = blog_server.rest.get(f"/v1/models/{model}")
        assert reply.json() == {
            "model_version_status": [
                {"version": "1", "state": "AVAILABLE", "status": {"error_code": "OK", "error_message": ""}}
            ]
        }


def test_blog_model_over_rest(blog_server, blog_exports):
    body = {
        "signature_name": SIGNATURE,
        "instances": [{INPUT_X: [0.5], INPUT_Y: [0.0]}, {INPUT_X: [-0.5], INPUT_Y: [0.0]}],
    }
    reply = blog_server.rest.post("/v1/models/MMModel_2:predict", body)
    assert reply.status == 200
    predictions = np.array(reply.json()["predictions"])
    expected = run_locally(blog_exports / "MMModel_2" / "1", np.array([[0.5], [-0.5]]), np.zeros((2, 1)))
    np.testing.assert_allclose(predictions, expected, rtol=1e-5, atol=1e-6)


def test_blog_model_has_no_serving_default(blog_server):
    # The blog always named its signature; without it REST looks for serving_default.
    reply = blog_server.rest.post(
        "/v1/models/MMModel_2:predict", {"instances": [{INPUT_X: [0.5], INPUT_Y: [0.0]}]}
    )
    assert (reply.status, reply.error) == (
        400,
        'Serving signature name: "serving_default" not found in signature def',
    )
