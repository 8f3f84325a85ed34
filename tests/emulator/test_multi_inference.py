"""MultiInference over heads that read the examples through different input tensors.

A TF2 export gives every signature its own input placeholder; ``multi_inference.cc``
collects the set of the heads' input tensors and feeds the same serialized examples to
each. The model built here has two example inputs (``examples_a``, ``examples_b``) and
three heads, so a request can mix heads on one input and on two.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from emulator_harness import serve
from tensorflow.core.example import example_pb2
from tensorflow_serving.apis import inference_pb2

TIMEOUT = 30
CLASSIFY = "tensorflow/serving/classify"
REGRESS = "tensorflow/serving/regress"
VERSION = 7


def build_two_input_model(export_dir: Path) -> None:
    """regress_a: 0.5x+2 on examples_a; classify_b: scores 3x and regress_b: x-1 on examples_b."""
    import tensorflow as tf

    tf1 = tf.compat.v1
    build = tf1.saved_model.signature_def_utils.build_signature_def
    info = tf1.saved_model.utils.build_tensor_info
    builder = tf1.saved_model.builder.SavedModelBuilder(str(export_dir))
    with tf1.Session(graph=tf.Graph()) as sess:
        features = {"x": tf1.io.FixedLenFeature([1], tf.float32)}
        examples_a = tf1.placeholder(tf.string, [None], name="examples_a")
        examples_b = tf1.placeholder(tf.string, [None], name="examples_b")
        x_a = tf1.io.parse_example(examples_a, features)["x"]
        x_b = tf1.io.parse_example(examples_b, features)["x"]
        regress_a = tf.add(tf.multiply(x_a, 0.5), 2.0, name="regress_a")
        scores_b = tf.multiply(x_b, 3.0, name="scores_b")
        regress_b = tf.subtract(x_b, 1.0, name="regress_b")
        signatures = {
            "regress_a": build(
                inputs={"inputs": info(examples_a)},
                outputs={"outputs": info(regress_a)},
                method_name=REGRESS,
            ),
            "classify_b": build(
                inputs={"inputs": info(examples_b)},
                outputs={"scores": info(scores_b)},
                method_name=CLASSIFY,
            ),
            "regress_b": build(
                inputs={"inputs": info(examples_b)},
                outputs={"outputs": info(regress_b)},
                method_name=REGRESS,
            ),
        }
        builder.add_meta_graph_and_variables(
            sess, [tf1.saved_model.tag_constants.SERVING], signature_def_map=signatures
        )
    builder.save()


@pytest.fixture(scope="module")
def two_inputs(tmp_path_factory):
    base = tmp_path_factory.mktemp("multi") / "two_inputs"
    build_two_input_model(base / str(VERSION))
    with serve(["--model_name=two_inputs", f"--model_base_path={base}"]) as served:
        yield served


def request_for(
    *heads: tuple[str, str], xs: tuple[float, ...] = (2.0,)
) -> inference_pb2.MultiInferenceRequest:
    request = inference_pb2.MultiInferenceRequest()
    for signature, method in heads:
        task = request.tasks.add()
        task.model_spec.name = "two_inputs"
        task.model_spec.signature_name = signature
        task.method_name = method
    for x in xs:
        example = example_pb2.Example()
        example.features.feature["x"].float_list.value.append(x)
        request.input.example_list.examples.append(example)
    return request


def test_heads_on_two_input_tensors_get_the_same_examples(two_inputs):
    request = request_for(("regress_a", REGRESS), ("classify_b", CLASSIFY))
    response = two_inputs.grpc.prediction.MultiInference(request, timeout=TIMEOUT)
    regress, classify = response.results
    assert [r.value for r in regress.regression_result.regressions] == [3.0]
    assert [
        [(c.label, c.score) for c in row.classes] for row in classify.classification_result.classifications
    ] == [[("", 6.0)]]
    assert (regress.model_spec.name, regress.model_spec.signature_name, regress.model_spec.version.value) == (
        "two_inputs",
        "regress_a",
        VERSION,
    )
    assert (classify.model_spec.name, classify.model_spec.signature_name) == ("two_inputs", "classify_b")


def test_three_heads_two_sharing_an_input_several_examples(two_inputs):
    request = request_for(
        ("classify_b", CLASSIFY), ("regress_b", REGRESS), ("regress_a", REGRESS), xs=(2.0, 5.0, -1.0)
    )
    response = two_inputs.grpc.prediction.MultiInference(request, timeout=TIMEOUT)
    classify, regress_b, regress_a = response.results
    assert [[c.score for c in row.classes] for row in classify.classification_result.classifications] == [
        [6.0],
        [15.0],
        [-3.0],
    ]
    assert [r.value for r in regress_b.regression_result.regressions] == [1.0, 4.0, -2.0]
    assert [r.value for r in regress_a.regression_result.regressions] == [3.0, 4.5, 1.5]
    assert [r.model_spec.signature_name for r in response.results] == ["classify_b", "regress_b", "regress_a"]


def test_one_head_on_its_own_input(two_inputs):
    response = two_inputs.grpc.prediction.MultiInference(
        request_for(("regress_b", REGRESS), xs=(10.0,)), timeout=TIMEOUT
    )
    (only,) = response.results
    assert [r.value for r in only.regression_result.regressions] == [9.0]
