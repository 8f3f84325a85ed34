"""REST error catalogue: every row TF Serving can produce for half_plus_two, exactly.

Each case is (method, path, body) -> (HTTP status, the exact ``error`` string). The
strings are TF Serving's own (``http_rest_api_handler.cc``, ``util/json_tensor.cc``,
RapidJSON's English parse messages); rows are numbered as in the behaviour reference.
Multi-input and odd-dtype rows use the suite's ``toolbox`` model.
"""

from __future__ import annotations

import pytest

HPT = "/v1/models/half_plus_two"
TOOLBOX = "/v1/models/toolbox"
VALID = '{"instances": [1.0, 2.0, 5.0]}'

CATALOGUE = [
    # -- URL and model lookup ------------------------------------------------------------
    ("1", "POST", "/v1/models/nope:predict", VALID, 404, "Servable not found for request: Latest(nope)"),
    (
        "2",
        "POST",
        f"{HPT}/versions/7:predict",
        VALID,
        404,
        "Servable not found for request: Specific(half_plus_two, 7)",
    ),
    ("3", "POST", f"{HPT}/labels/foo:predict", VALID, 400, "Unrecognized servable version label: foo"),
    (
        "3-unknown-model",
        "POST",
        "/v1/models/nope/labels/foo:predict",
        VALID,
        400,
        "Unrecognized servable version label: foo",
    ),
    (
        "4",
        "POST",
        f"{HPT}/versions/abc:predict",
        VALID,
        400,
        "Malformed request: POST /v1/models/half_plus_two/versions/abc:predict",
    ),
    (
        "5",
        "POST",
        f"{HPT}/versions/18446744073709551615:predict",
        VALID,
        400,
        "Failed to convert version: 18446744073709551615 to numeric.",
    ),
    (
        "5-int64-max+1",
        "POST",
        f"{HPT}/versions/9223372036854775808:predict",
        VALID,
        400,
        "Failed to convert version: 9223372036854775808 to numeric.",
    ),
    (
        "5-int64-max",
        "POST",
        f"{HPT}/versions/9223372036854775807:predict",
        VALID,
        404,
        "Servable not found for request: Specific(half_plus_two, 9223372036854775807)",
    ),
    ("6", "GET", f"{HPT}:predict", None, 400, "Malformed request: GET /v1/models/half_plus_two:predict"),
    ("7", "GET", "/v1/models", None, 400, "Missing model name in request."),
    # -- signatures ----------------------------------------------------------------------
    (
        "8",
        "POST",
        f"{HPT}:predict",
        '{"signature_name":"nope","instances":[1.0]}',
        400,
        'Serving signature name: "nope" not found in signature def',
    ),
    (
        "9",
        "POST",
        f"{TOOLBOX}:predict",
        '{"instances":[1.0]}',
        400,
        'Serving signature name: "serving_default" not found in signature def',
    ),
    # -- JSON parsing (before the model lookup) -------------------------------------------
    ("10", "POST", f"{HPT}:predict", "", 400, "JSON Parse error: The document is empty"),
    (
        "10-unknown-model",
        "POST",
        "/v1/models/nope:predict",
        "",
        400,
        "JSON Parse error: The document is empty",
    ),
    ("11", "POST", f"{HPT}:predict", "  ", 400, "JSON Parse error: The document is empty. at offset: 2"),
    (
        "12",
        "POST",
        f"{HPT}:predict",
        "instances = [1, 2]",
        400,
        "JSON Parse error: Invalid value. at offset: 0",
    ),
    (
        "13",
        "POST",
        f"{HPT}:predict",
        '{"instances": [1.0, 2.0',
        400,
        "JSON Parse error: Missing a comma or ']' after an array element. at offset: 23",
    ),
    ("14", "POST", f"{HPT}:predict", "[1,2]", 400, "JSON Value: [1, 2] Is not object"),
    ("14-unknown-model", "POST", "/v1/models/nope:predict", "[1,2]", 400, "JSON Value: [1, 2] Is not object"),
    ("15", "POST", f"{HPT}:predict", "{}", 400, "Missing 'inputs' or 'instances' key"),
    (
        "16",
        "POST",
        f"{HPT}:predict",
        '{"instances":[1.0],"inputs":[1.0]}',
        400,
        'JSON Value: {\n    "instances": [1.0],\n    "inputs": [1.0]\n} Not formatted correctly expecting only '
        "one of 'inputs' or 'instances' keys to exist ",
    ),
    (
        "17",
        "POST",
        f"{HPT}:predict",
        '{"instances": 1.0}',
        400,
        "JSON Value: {\n    \"instances\": 1.0\n} Expecting 'instances' to be an list/array",
    ),
    (
        "18",
        "POST",
        f"{HPT}:predict",
        '{"instances": []}',
        400,
        "JSON Value: {\n    \"instances\": []\n} No values in 'instances' array",
    ),
    (
        "19",
        "POST",
        f"{HPT}:predict",
        '{"signature_name": 5, "instances": [1.0]}',
        400,
        'JSON Value: {\n    "signature_name": 5,\n    "instances": [1.0]\n} not formatted correctly. '
        "'signature_name' key must be a string value.",
    ),
    (
        "19-unknown-model",
        "POST",
        "/v1/models/nope:predict",
        '{"signature_name": 5, "instances": [1.0]}',
        400,
        'JSON Value: {\n    "signature_name": 5,\n    "instances": [1.0]\n} not formatted correctly. '
        "'signature_name' key must be a string value.",
    ),
    # -- tensor conversion ---------------------------------------------------------------
    (
        "20",
        "POST",
        f"{HPT}:predict",
        '{"instances": ["a"]}',
        400,
        "Failed to process element: 0 of 'instances' list. Error: INVALID_ARGUMENT: "
        'JSON Value: "a" Type: String is not of expected type: float',
    ),
    (
        "21",
        "POST",
        f"{HPT}:predict",
        '{"instances": [[1.0,2.0],[3.0]]}',
        400,
        "Failed to process element: 1 of 'instances' list. Error: INVALID_ARGUMENT: "
        "Expecting tensor size: 2 but got: 1",
    ),
    (
        "22",
        "POST",
        f"{HPT}:predict",
        '{"instances": [1.0, [2.0]]}',
        400,
        "Failed to process element: 1 of 'instances' list. Error: INVALID_ARGUMENT: "
        "Expecting shape [] but got: [1]",
    ),
    (
        "23",
        "POST",
        f"{HPT}:predict",
        '{"instances": [{"y": 1.0}]}',
        400,
        "Failed to process element: 0 key: y of 'instances' list. Error: INVALID_ARGUMENT: "
        "JSON object: does not have named input: y",
    ),
    (
        "24",
        "POST",
        f"{TOOLBOX}:predict",
        '{"signature_name": "sum_and_product", "instances": [{"a": 1.0}]}',
        400,
        "Failed to process element: 0 of 'instances' list. JSON object: {\n    \"a\": 1.0\n} "
        "keys must be equal to: a,b",
    ),
    (
        "25",
        "POST",
        f"{HPT}:predict",
        '{"inputs": {"y": [1.0]}}',
        400,
        "Missing named input: x in 'inputs' object.",
    ),
    (
        "26-value-then-object",
        "POST",
        f"{HPT}:predict",
        '{"instances":[1.0,{"x":1.0}]}',
        400,
        "Expecting value/list but got object at item 1 of input list",
    ),
    (
        "26-object-then-list",
        "POST",
        f"{HPT}:predict",
        '{"instances":[{"x":1.0},[1.0]]}',
        400,
        "Expecting object but got list at item 1 of input list",
    ),
    (
        "27-row",
        "POST",
        f"{TOOLBOX}:predict",
        '{"signature_name": "sum_and_product", "instances": [1.0, 2.0]}',
        400,
        "instances is a plain list, but expecting list of objects as multiple input tensors required as per "
        "tensorinfo_map",
    ),
    (
        "27-columnar",
        "POST",
        f"{TOOLBOX}:predict",
        '{"signature_name": "sum_and_product", "inputs": [1.0]}',
        400,
        "inputs is a plain value/list, but expecting an object as multiple input tensors required as per "
        "tensorinfo_map",
    ),
    (
        "28",
        "POST",
        f"{TOOLBOX}:predict",
        '{"signature_name": "echo_text", "inputs": {"b64": "!!!!"}}',
        400,
        "Unable to base64 decode",
    ),
    (
        "28-row",
        "POST",
        f"{TOOLBOX}:predict",
        '{"signature_name": "echo_text", "instances": [{"b64": "!!!!"}]}',
        400,
        "Failed to process element: 0 of 'instances' list. Error: INVALID_ARGUMENT: Unable to base64 decode",
    ),
    # A dtype JSON has no conversion for: UNIMPLEMENTED (501) when it surfaces directly...
    (
        "501-columnar",
        "POST",
        f"{TOOLBOX}:predict",
        '{"signature_name": "half", "inputs": [1.0]}',
        501,
        "Conversion of JSON Value: 1.0 to type: half",
    ),
    # ...but wrapped into INVALID_ARGUMENT by the row-format loop.
    (
        "501-row",
        "POST",
        f"{TOOLBOX}:predict",
        '{"signature_name": "half", "instances": [1.0]}',
        400,
        "Failed to process element: 0 of 'instances' list. Error: UNIMPLEMENTED: "
        "Conversion of JSON Value: 1.0 to type: half",
    ),
    # -- classify / regress request building ----------------------------------------------
    (
        "29-classify",
        "POST",
        f"{HPT}:classify",
        '{"signature_name": "classify_x_to_y"}',
        400,
        'JSON Value: {\n    "signature_name": "classify_x_to_y"\n} When method is classify, '
        "key 'examples' is expected and was not found",
    ),
    (
        "29-regress",
        "POST",
        f"{HPT}:regress",
        '{"signature_name": "regress_x_to_y"}',
        400,
        'JSON Value: {\n    "signature_name": "regress_x_to_y"\n} When method is classify, '
        "key 'examples' is expected and was not found",
    ),
    (
        "29-unknown-model",
        "POST",
        "/v1/models/nope:regress",
        '{"signature_name": "regress_x_to_y"}',
        400,
        'JSON Value: {\n    "signature_name": "regress_x_to_y"\n} When method is classify, '
        "key 'examples' is expected and was not found",
    ),
    (
        "30-not-array",
        "POST",
        f"{HPT}:regress",
        '{"examples": 1}',
        400,
        "JSON Value: {\n    \"examples\": 1\n} Expecting 'examples' value to be an list/array",
    ),
    (
        "30-empty",
        "POST",
        f"{HPT}:regress",
        '{"examples": []}',
        400,
        "JSON Value: {\n    \"examples\": []\n} 'examples' value is an empty array",
    ),
    (
        "30-not-object",
        "POST",
        f"{HPT}:classify",
        '{"examples": [1]}',
        400,
        "Example must be JSON object but got JSON Number",
    ),
    (
        "32-classify",
        "POST",
        f"{HPT}:classify",
        '{"signature_name": "nope", "examples": [{"x": 2.0}]}',
        400,
        "No signature was found with the name: nope",
    ),
    (
        "32-regress",
        "POST",
        f"{HPT}:regress",
        '{"signature_name": "nope", "examples": [{"x": 2.0}]}',
        400,
        "No signature was found with the name: nope",
    ),
    (
        "classify-unknown-model",
        "POST",
        "/v1/models/nope:classify",
        '{"examples": [{"x": 2.0}]}',
        404,
        "Servable not found for request: Latest(nope)",
    ),
    # -- status and metadata -------------------------------------------------------------
    ("33", "GET", "/v1/models/nope", None, 404, "Could not find any versions of model nope"),
    ("34", "GET", f"{HPT}/versions/7", None, 404, "Could not find version 7 of model half_plus_two"),
    ("35", "GET", "/v1/models/nope/metadata", None, 404, "Servable not found for request: Latest(nope)"),
    (
        "35-version",
        "GET",
        f"{HPT}/versions/7/metadata",
        None,
        404,
        "Servable not found for request: Specific(half_plus_two, 7)",
    ),
    ("35-label", "GET", f"{HPT}/labels/foo/metadata", None, 400, "Unrecognized servable version label: foo"),
]


@pytest.mark.parametrize(
    ("method", "path", "body", "status", "message"),
    [pytest.param(*case[1:], id=case[0]) for case in CATALOGUE],
)
def test_catalogue(rest, method, path, body, status, message):
    reply = rest.request(method, path, body)
    assert (reply.status, reply.error) == (status, message)
    assert reply.content_type == "application/json"


@pytest.mark.parametrize(("verb", "kind"), [("regress", "regression"), ("classify", "classification")])
def test_31_classify_and_regress_need_an_explicit_signature(rest, half_plus_two_signatures, verb, kind):
    # serving_default is a predict signature: no `inputs` alias, so the structural check fails
    # and prints the whole SignatureDef (DebugString is protobuf text format, as str() prints).
    reply = rest.post(f"{HPT}:{verb}", '{"examples": [{"x": 2.0}]}')
    expected = f"No {kind} inputs found in SignatureDef: {half_plus_two_signatures['serving_default']}"
    assert (reply.status, reply.error) == (400, expected)


def test_37_tensorflow_runtime_error_is_passed_through(rest):
    reply = rest.post(f"{TOOLBOX}:predict", '{"signature_name": "matmul", "instances": [1.0, 2.0]}')
    assert reply.status == 400
    message = reply.error
    # TF's kernel message verbatim, ending with the node it came from; no Python wrapping.
    assert message.startswith("In[0] "), message
    assert message.endswith("\n\t [[{{node matmul}}]]"), message
    assert "Graph execution error" not in message
    assert "Traceback" not in message


def test_int_feature_for_a_float_example_fails_in_parse_example(rest):
    # {"x": 2} is an int64 feature, but the parser wants float: ParseExample fails at run time.
    reply = rest.post(f"{HPT}:regress", '{"signature_name": "regress_x_to_y", "examples": [{"x": 2}]}')
    assert reply.status == 400
    assert reply.error.startswith(
        "Name: <unknown>, Key: x, Index: 0.  Data types don't match. Data type: int64 but expected type: float"
    ), reply.error


def test_row_output_with_rank_zero_has_no_shape_information(rest):
    reply = rest.post(f"{TOOLBOX}:predict", '{"signature_name": "with_scalar", "instances": [1.0, 2.0]}')
    assert (reply.status, reply.error) == (400, "Tensor name: total has no shape information ")


def test_row_outputs_with_different_batch_sizes(rest):
    reply = rest.post(
        f"{TOOLBOX}:predict", '{"signature_name": "ragged_batch", "instances": [1.0, 2.0, 3.0]}'
    )
    assert reply.status == 400
    # Which output sets the expected size depends on (unspecified) map order.
    assert reply.error in {
        "Tensor name: first has inconsistent batch size: 1 expecting: 3",
        "Tensor name: doubled has inconsistent batch size: 3 expecting: 1",
    }


def test_error_body_is_a_pretty_printed_single_key_object(rest):
    reply = rest.post("/v1/models/half:predict", '{"instances": [1.0,5.0]}')
    assert reply.status == 404
    # RapidJSON PrettyWriter, 4-space indent, no trailing newline (63 bytes).
    assert reply.body == b'{\n    "error": "Servable not found for request: Latest(half)"\n}'


def test_quotes_in_messages_are_escaped(rest):
    reply = rest.post(f"{HPT}:predict", '{"signature_name": "say \\"hi\\"", "instances": [1.0]}')
    assert reply.status == 400
    assert reply.error == 'Serving signature name: "say "hi"" not found in signature def'
    assert b'"Serving signature name: \\"say \\"hi\\"\\" not found in signature def"' in reply.body
