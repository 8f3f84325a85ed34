"""REST success paths: predict (row and columnar), classify, regress, status, metadata.

Includes the known-good request/response pairs of TF Serving's own docs and tests
(served as ``half_plus_two`` and as ``default``), compared as parsed JSON, plus the
exact bytes of the answers the tutorial prints.
"""

from __future__ import annotations

import json

import pytest
from emulator_harness import serve
from google.protobuf import json_format

HPT = "/v1/models/half_plus_two"
DEFAULT = "/v1/models/default"
TOOLBOX = "/v1/models/toolbox"


def status_document(*versions: tuple[str, str]) -> dict:
    return {
        "model_version_status": [
            {"version": v, "state": state, "status": {"error_code": "OK", "error_message": ""}}
            for v, state in versions
        ]
    }


def metadata_document(name: str, version: str, signature_defs: dict) -> dict:
    """What GET …/metadata prints, built from the SignatureDef protos themselves."""
    signatures = {
        key: json_format.MessageToDict(
            signature, always_print_fields_with_no_presence=True, preserving_proto_field_name=True
        )
        for key, signature in signature_defs.items()
    }
    return {
        "model_spec": {"name": name, "signature_name": "", "version": version},
        "metadata": {"signature_def": {"signature_def": signatures}},
    }


# -- predict -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("path", "body", "expected"),
    [
        # g3doc/docker.md, the tutorial's smoke test.
        (f"{HPT}:predict", {"instances": [1.0, 2.0, 5.0]}, {"predictions": [2.5, 3.0, 4.5]}),
        # tensorflow_model_server_test.py testPredictREST / testPredictColumnarREST.
        (f"{DEFAULT}:predict", {"instances": [2.0, 3.0, 4.0]}, {"predictions": [3.0, 3.5, 4.0]}),
        (f"{DEFAULT}:predict", {"inputs": [2.0, 3.0, 4.0]}, {"outputs": [3.0, 3.5, 4.0]}),
        # Integers are fine for a float input; [N,1] nesting is kept.
        (f"{HPT}:predict", {"instances": [1, 2, 5]}, {"predictions": [2.5, 3.0, 4.5]}),
        (f"{HPT}:predict", {"instances": [[1.0], [2.0]]}, {"predictions": [[2.5], [3.0]]}),
        (f"{HPT}:predict", {"inputs": [[1.0], [2.0]]}, {"outputs": [[2.5], [3.0]]}),
        # http_rest_api_handler_test.cc pairs (the same y = 0.5x + 2).
        (
            f"{HPT}:predict",
            {"instances": [[1.0, 2.0], [3.0, 4.0]]},
            {"predictions": [[2.5, 3.0], [3.5, 4.0]]},
        ),
        (f"{HPT}:predict", {"instances": [1.0, 2.0]}, {"predictions": [2.5, 3.0]}),
        (
            f"{HPT}:predict",
            {"signature_name": "serving_default", "inputs": [3.0, 4.0]},
            {"outputs": [3.5, 4.0]},
        ),
        # A columnar scalar stays a scalar.
        (f"{HPT}:predict", {"inputs": 2.0}, {"outputs": 3.0}),
        # Named single input in both formats; explicit default signature; version and label forms.
        (f"{HPT}:predict", {"instances": [{"x": 1.0}, {"x": 5.0}]}, {"predictions": [2.5, 4.5]}),
        (f"{HPT}:predict", {"inputs": {"x": [1.0, 5.0]}}, {"outputs": [2.5, 4.5]}),
        (f"{HPT}:predict", {"signature_name": "", "instances": [1.0]}, {"predictions": [2.5]}),
        (f"{HPT}:predict", {"signature_name": "serving_default", "instances": [1.0]}, {"predictions": [2.5]}),
        (f"{HPT}/versions/123:predict", {"instances": [1.0]}, {"predictions": [2.5]}),
        (f"{HPT}/versions/0000123:predict", {"instances": [1.0]}, {"predictions": [2.5]}),
        # Predict on a regress signature works (no method-name check by default).
        (f"{HPT}:predict", {"signature_name": "regress_x2_to_y3", "inputs": [2.0]}, {"outputs": [4.0]}),
        # Large values come back in exponent notation (5e+29) and parse to the same float.
        (f"{HPT}:predict", {"instances": [1e30, -1e30]}, {"predictions": [5e29, -5e29]}),
    ],
)
def test_predict(rest, path, body, expected):
    reply = rest.post(path, body)
    assert (reply.status, reply.json()) == (200, expected)
    assert reply.content_type == "application/json"


def test_infinities_and_nan_round_trip(rest):
    reply = rest.post(f"{HPT}:predict", '{"instances": [Infinity, -Infinity, NaN]}')
    assert reply.status == 200
    assert b"Infinity" in reply.body and b"-Infinity" in reply.body and b"NaN" in reply.body
    predictions = reply.json()["predictions"]  # Python's json accepts the bare tokens
    assert predictions[:2] == [float("inf"), float("-inf")]
    assert predictions[2] != predictions[2]


def test_row_response_bytes(rest):
    reply = rest.post(f"{HPT}:predict", '{"instances": [1.0, 2.0, 5.0]}')
    assert reply.body == b'{\n    "predictions": [2.5, 3.0, 4.5\n    ]\n}'


def test_columnar_response_bytes(rest):
    reply = rest.post(f"{HPT}:predict", '{"inputs": [1.0, 2.0, 5.0]}')
    assert reply.body == b'{\n    "outputs": [\n        2.5,\n        3.0,\n        4.5\n    ]\n}'


def test_two_inputs_two_outputs_row_format(rest):
    body = {"signature_name": "sum_and_product", "instances": [{"a": 1.0, "b": 2.0}, {"a": 3.0, "b": 4.0}]}
    reply = rest.post(f"{TOOLBOX}:predict", body)
    assert (reply.status, reply.json()) == (
        200,
        {"predictions": [{"sum": 3.0, "product": 2.0}, {"sum": 7.0, "product": 12.0}]},
    )


def test_two_inputs_two_outputs_columnar_format_ignores_extra_keys(rest):
    body = {
        "signature_name": "sum_and_product",
        "inputs": {"a": [1.0, 3.0], "b": [2.0, 4.0], "zzz": "ignored"},
    }
    reply = rest.post(f"{TOOLBOX}:predict", body)
    assert (reply.status, reply.json()) == (200, {"outputs": {"sum": [3.0, 7.0], "product": [2.0, 12.0]}})


def test_columnar_rank_zero_output(rest):
    reply = rest.post(f"{TOOLBOX}:predict", {"signature_name": "with_scalar", "inputs": [1.0, 2.0]})
    assert (reply.status, reply.json()) == (200, {"outputs": {"doubled": [2.0, 4.0], "total": 3.0}})


def test_strings_and_base64(rest):
    # Outputs whose alias ends in _bytes come back base64-wrapped; others raw.
    body = {"signature_name": "echo_text", "instances": [{"b64": "aGk="}, "plain"]}
    reply = rest.post(f"{TOOLBOX}:predict", body)
    assert (reply.status, reply.json()) == (
        200,
        {
            "predictions": [
                {"text": "hi", "text_bytes": {"b64": "aGk="}},
                {"text": "plain", "text_bytes": {"b64": "cGxhaW4="}},
            ]
        },
    )


# -- classify / regress ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("path", "body", "expected"),
    [
        # testClassifyREST / testRegressREST.
        (
            f"{DEFAULT}:classify",
            {"signature_name": "classify_x_to_y", "examples": [{"x": 2.0}]},
            {"results": [[["", 3.0]]]},
        ),
        (
            f"{DEFAULT}:regress",
            {"signature_name": "regress_x_to_y", "examples": [{"x": 2.0}]},
            {"results": [3.0]},
        ),
        (
            f"{HPT}:classify",
            {"signature_name": "classify_x_to_y", "examples": [{"x": 2.0}, {"x": 4.0}]},
            {"results": [[["", 3.0]], [["", 4.0]]]},
        ),
        (
            f"{HPT}:regress",
            {"signature_name": "regress_x_to_y", "examples": [{"x": 2.0}, {"x": 3.0}]},
            {"results": [3.0, 3.5]},
        ),
        (
            f"{HPT}:regress",
            {"signature_name": "regress_x_to_y2", "examples": [{"x": 2.0}]},
            {"results": [4.0]},
        ),
        # http_rest_api_handler_test.cc: regress x=80 -> 42, classify x=20 -> 12 and x=10 -> 7.
        (
            f"{HPT}:regress",
            {"signature_name": "regress_x_to_y", "examples": [{"x": 80.0}]},
            {"results": [42.0]},
        ),
        (
            f"{HPT}:classify",
            {"signature_name": "classify_x_to_y", "examples": [{"x": 20.0}, {"x": 10.0}]},
            {"results": [[["", 12.0]], [["", 7.0]]]},
        ),
        # A list value and exponent notation are floats too.
        (
            f"{HPT}:regress",
            {"signature_name": "regress_x_to_y", "examples": [{"x": [2.0]}, {"x": 4e0}]},
            {"results": [3.0, 4.0]},
        ),
        # The context's features are merged into every example.
        (
            f"{HPT}:regress",
            {
                "signature_name": "regress_x_to_y",
                "context": {"x": 4.0},
                "examples": [{"x2": 1.0}, {"x2": 2.0}],
            },
            {"results": [4.0, 4.0]},
        ),
        (
            f"{HPT}/versions/123:regress",
            {"signature_name": "regress_x_to_y", "examples": [{"x": 2.0}]},
            {"results": [3.0]},
        ),
    ],
)
def test_classify_and_regress(rest, path, body, expected):
    reply = rest.post(path, body)
    assert (reply.status, reply.json()) == (200, expected)


def test_classify_and_regress_response_bytes(rest):
    reply = rest.post(
        f"{HPT}:classify", {"signature_name": "classify_x_to_y", "examples": [{"x": 2.0}, {"x": 4.0}]}
    )
    assert reply.body == b'{\n    "results": [[["", 3.0]], [["", 4.0]]\n    ]\n}'
    reply = rest.post(
        f"{HPT}:regress", {"signature_name": "regress_x_to_y", "examples": [{"x": 2.0}, {"x": 3.0}]}
    )
    assert reply.body == b'{\n    "results": [3.0, 3.5]\n}'


# -- status ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "path",
    [
        DEFAULT,  # testGetStatusREST
        HPT,
        f"{HPT}/versions/123",
        f"{HPT}/versions/00123",
        f"{HPT}/labels/whatever",  # labels are ignored by status, even unknown ones
    ],
)
def test_status(rest, path):
    reply = rest.get(path)
    assert (reply.status, reply.json()) == (200, status_document(("123", "AVAILABLE")))
    assert reply.content_type == "application/json"


# -- metadata ----------------------------------------------------------------------------------


@pytest.mark.parametrize("suffix", ["/metadata", "/versions/123/metadata"])
def test_metadata_matches_the_signature_defs(rest, half_plus_two_signatures, suffix):
    reply = rest.get(f"{HPT}{suffix}")
    assert reply.status == 200
    assert reply.json() == metadata_document("half_plus_two", "123", half_plus_two_signatures)


def test_generated_model_metadata_equals_tf_servings_expected_file(rest, shared_tf_serving):
    expected = json.loads((shared_tf_serving / "half_plus_two_model_metadata.json").read_text())
    reply = rest.get(f"{DEFAULT}/metadata")
    assert (reply.status, reply.json()) == (200, expected)


def test_toolbox_metadata(rest, toolbox_version_dir):
    from tensorflow.core.protobuf import saved_model_pb2

    saved_model = saved_model_pb2.SavedModel.FromString((toolbox_version_dir / "saved_model.pb").read_bytes())
    signatures = dict(saved_model.meta_graphs[0].signature_def)
    reply = rest.get(f"{TOOLBOX}/metadata")
    assert (reply.status, reply.json()) == (200, metadata_document("toolbox", "1", signatures))


# -- the official model, served as `default` ----------------------------------------------------


@pytest.fixture(scope="module")
def official_server(shared_tf_serving, copy_into):
    # The model server wants a base path holding version directories; copy the fixture's.
    base = copy_into(shared_tf_serving / "saved_model_half_plus_two_cpu" / "00000123", "default", "00000123")
    with serve(["--model_name=default", f"--model_base_path={base}"]) as served:
        yield served


def test_official_model_metadata_equals_tf_servings_expected_file(official_server, shared_tf_serving):
    # testGetModelMetadataREST.
    expected = json.loads((shared_tf_serving / "half_plus_two_model_metadata.json").read_text())
    reply = official_server.rest.get(f"{DEFAULT}/metadata")
    assert (reply.status, reply.json()) == (200, expected)


def test_official_model_known_good_pairs(official_server):
    rest = official_server.rest
    assert rest.post(f"{DEFAULT}:predict", {"instances": [2.0, 3.0, 4.0]}).json() == {
        "predictions": [3.0, 3.5, 4.0]
    }
    assert rest.post(f"{DEFAULT}:predict", {"inputs": [2.0, 3.0, 4.0]}).json() == {"outputs": [3.0, 3.5, 4.0]}
    classify = {"signature_name": "classify_x_to_y", "examples": [{"x": 2.0}]}
    assert rest.post(f"{DEFAULT}:classify", classify).json() == {"results": [[["", 3.0]]]}
    regress = {"signature_name": "regress_x_to_y", "examples": [{"x": 2.0}]}
    assert rest.post(f"{DEFAULT}:regress", regress).json() == {"results": [3.0]}
    assert rest.get(DEFAULT).json() == status_document(("123", "AVAILABLE"))
