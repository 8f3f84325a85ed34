"""The REST JSON layer: TF Serving's json_tensor.cc behaviour, message for message.

Request cases follow tensorflow_serving/util/json_tensor_test.cc and the REST error
catalogue; expected response bytes were produced by RapidJSON 1.1.0's PrettyWriter
driven the way json_tensor.cc drives it.
"""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from tensorflow.core.framework import types_pb2
from tensorflow.core.protobuf import meta_graph_pb2
from tensorflow_serving.apis import classification_pb2, input_pb2, regression_pb2

from tfserving_emulator.json import example_request as jt_example
from tfserving_emulator.json import fast_arrays as jt_fast
from tfserving_emulator.json import predict_request as jt_predict
from tfserving_emulator.json import response as jt_response
from tfserving_emulator.json import tensor_values as jt_values
from tfserving_emulator.util.errors import ServingError, not_found

FLOAT, DOUBLE, INT32, INT64, STRING, BOOL = (
    types_pb2.DT_FLOAT,
    types_pb2.DT_DOUBLE,
    types_pb2.DT_INT32,
    types_pb2.DT_INT64,
    types_pb2.DT_STRING,
    types_pb2.DT_BOOL,
)


def signature(**dtypes: int):
    """get_input_infos for a signature with these inputs; records the lookups."""
    infos = {name: meta_graph_pb2.TensorInfo(dtype=dtype) for name, dtype in dtypes.items()}

    def get_input_infos(signature_name: str):
        get_input_infos.calls.append(signature_name)
        return infos

    get_input_infos.calls = []
    return get_input_infos


def fill(body: str | bytes, **dtypes: int) -> jt_predict.PredictRequestJson:
    body = body.encode() if isinstance(body, str) else body
    return jt_predict.fill_predict_request(body, signature(**dtypes))


def error(body: str | bytes, **dtypes: int) -> tuple[str, str]:
    with pytest.raises(ServingError) as caught:
        fill(body, **dtypes)
    return caught.value.code, caught.value.message


def strings(*values: bytes) -> np.ndarray:
    array = np.empty(len(values), dtype=object)
    array[:] = values
    return array


def assert_tensor(actual: np.ndarray, expected: np.ndarray) -> None:
    assert actual.dtype == expected.dtype
    assert actual.shape == expected.shape
    np.testing.assert_array_equal(actual, expected)


# -- the REST error catalogue (half_plus_two: one DT_FLOAT input "x") ---------------------


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (b"", "JSON Parse error: The document is empty"),
        (b"  ", "JSON Parse error: The document is empty. at offset: 2"),
        (b"instances = [1, 2]", "JSON Parse error: Invalid value. at offset: 0"),
        (
            b'{"instances": [1.0, 2.0',
            "JSON Parse error: Missing a comma or ']' after an array element. at offset: 23",
        ),
        (b"[1,2]", "JSON Value: [1, 2] Is not object"),
        (b"{}", "Missing 'inputs' or 'instances' key"),
        (
            b'{"instances":[1.0],"inputs":[1.0]}',
            'JSON Value: {\n    "instances": [1.0],\n    "inputs": [1.0]\n} Not formatted correctly expecting'
            " only one of 'inputs' or 'instances' keys to exist ",
        ),
        (
            b'{"instances": 1.0}',
            "JSON Value: {\n    \"instances\": 1.0\n} Expecting 'instances' to be an list/array",
        ),
        (b'{"instances": []}', "JSON Value: {\n    \"instances\": []\n} No values in 'instances' array"),
        (
            b'{"signature_name": 5, "instances": [1.0]}',
            'JSON Value: {\n    "signature_name": 5,\n    "instances": [1.0]\n} not formatted correctly.'
            " 'signature_name' key must be a string value.",
        ),
        (
            b'{"instances": ["a"]}',
            "Failed to process element: 0 of 'instances' list. Error: INVALID_ARGUMENT:"
            ' JSON Value: "a" Type: String is not of expected type: float',
        ),
        (
            b'{"instances": [[1.0,2.0],[3.0]]}',
            "Failed to process element: 1 of 'instances' list. Error: INVALID_ARGUMENT:"
            " Expecting tensor size: 2 but got: 1",
        ),
        (
            b'{"instances": [1.0, [2.0]]}',
            "Failed to process element: 1 of 'instances' list. Error: INVALID_ARGUMENT: Expecting shape [] but got: [1]",
        ),
        (
            b'{"instances": [{"y": 1.0}]}',
            "Failed to process element: 0 key: y of 'instances' list. Error: INVALID_ARGUMENT:"
            " JSON object: does not have named input: y",
        ),
        (b'{"inputs": {"y": [1.0]}}', "Missing named input: x in 'inputs' object."),
        (b'{"instances":[1.0,{"x":1.0}]}', "Expecting value/list but got object at item 1 of input list"),
        (b'{"instances":[{"x":1.0},[1.0]]}', "Expecting object but got list at item 1 of input list"),
        (b'{"instances": [1e400]}', "JSON Parse error: Number too big to be stored in double. at offset: 15"),
    ],
)
def test_catalogue_messages(body, message):
    assert error(body, x=FLOAT) == ("INVALID_ARGUMENT", message)


def test_catalogue_multi_input_messages():
    sig = {"a": FLOAT, "b": FLOAT}
    assert error(b'{"instances": [{"a": 1.0}]}', **sig)[1] == (
        "Failed to process element: 0 of 'instances' list. JSON object: {\n    \"a\": 1.0\n}"
        " keys must be equal to: a,b"
    )
    assert error(b'{"instances": [1.0]}', **sig)[1] == (
        "instances is a plain list, but expecting list of objects as multiple input tensors"
        " required as per tensorinfo_map"
    )
    assert error(b'{"inputs": [1.0]}', **sig)[1] == (
        "inputs is a plain value/list, but expecting an object as multiple input tensors"
        " required as per tensorinfo_map"
    )


def test_bad_base64():
    assert error(b'{"instances": [{"b64": "a"}]}', x=STRING) == (
        "INVALID_ARGUMENT",
        "Failed to process element: 0 of 'instances' list. Error: INVALID_ARGUMENT: Unable to base64 decode",
    )
    assert error(b'{"inputs": {"b64": "aGVsbG8=!"}}', x=STRING) == (
        "INVALID_ARGUMENT",
        "Unable to base64 decode",
    )


def test_unsupported_dtype_is_unimplemented_and_wrapped_in_rows():
    assert error(b'{"inputs": [1.0]}', x=types_pb2.DT_HALF) == (
        "UNIMPLEMENTED",
        "Conversion of JSON Value: 1.0 to type: half",
    )
    assert error(b'{"instances": [1.0]}', x=types_pb2.DT_HALF) == (
        "INVALID_ARGUMENT",
        "Failed to process element: 0 of 'instances' list. Error: UNIMPLEMENTED:"
        " Conversion of JSON Value: 1.0 to type: half",
    )


def test_debug_dump_is_cut_at_256_bytes():
    body = json.dumps({"signature_name": 1, "instances": list(range(1000))}).encode()
    message = error(body, x=FLOAT)[1]
    dump = message[
        len("JSON Value: ") : -len(" not formatted correctly. 'signature_name' key must be a string value.")
    ]
    assert len(dump.encode()) == 256
    assert dump.startswith('{\n    "signature_name": 1,\n    "instances": [0, 1, 2, ')


def test_debug_dump_numbers_use_rapidjsons_text():
    # A top-level double goes through WriteDecimal (as float when it fits one); nested
    # doubles through RapidJSON's Grisu2 writer, which writes 0.1 + 0.2 its own way.
    assert error(b'{"instances": [3.14159265]}', x=INT32)[1].endswith(
        "JSON Value: 3.14159274 Type: Number is not of expected type: int32"
    )
    assert error(b'{"instances": [1e-50]}', x=INT32)[1].endswith(
        "JSON Value: 0.0 Type: Number is not of expected type: int32"
    )
    assert error(b'{"signature_name": [0.30000000000000004, 1e23]}', x=FLOAT)[1] == (
        'JSON Value: {\n    "signature_name": [0.30000000000000007, 9.999999999999999e22]\n}'
        " not formatted correctly. 'signature_name' key must be a string value."
    )


def test_debug_dump_stops_at_a_nested_nan():
    assert error(b'{"signature_name": 5, "instances": [1.0, NaN]}', x=FLOAT)[1] == (
        'JSON Value: {\n    "signature_name": 5,\n    "instances": [1.0, '
        " not formatted correctly. 'signature_name' key must be a string value."
    )


# -- order of checks -------------------------------------------------------------------


def test_lookup_comes_after_parsing_and_signature_checks():
    def failing_lookup(signature_name: str):
        failing_lookup.calls.append(signature_name)
        raise not_found("Servable not found for request: Latest(nope)")

    failing_lookup.calls = []
    for body in (b"", b"{", b"[1]", b'{"signature_name": 5}'):
        with pytest.raises(ServingError) as caught:
            jt_predict.fill_predict_request(body, failing_lookup)
        assert caught.value.code == "INVALID_ARGUMENT"
    assert failing_lookup.calls == []

    for body in (b'{"signature_name": "sig", "instances": "not a list"}', b'{"signature_name": "sig"}'):
        with pytest.raises(ServingError) as caught:
            jt_predict.fill_predict_request(body, failing_lookup)
        assert (caught.value.code, caught.value.message) == (
            "NOT_FOUND",
            "Servable not found for request: Latest(nope)",
        )
    assert failing_lookup.calls == ["sig", "sig"]


def test_lookup_is_called_once_with_the_name_as_sent():
    lookup = signature(x=FLOAT)
    request = jt_predict.fill_predict_request(
        b'{"signature_name": "", "instances": [0.9948195629497427]}', lookup
    )
    assert request.signature_name == ""
    assert lookup.calls == [""]
    lookup = signature(x=FLOAT)
    with pytest.raises(ServingError):
        jt_predict.fill_predict_request(b'{"instances": [0.9948195629497427, "a"]}', lookup)
    assert lookup.calls == [""]


def test_empty_input_map():
    assert error(b'{"instances": [1]}')[1] == "Failed to get input map for signature: DEFAULT"
    assert (
        error(b'{"signature_name": "s", "instances": [1]}')[1] == "Failed to get input map for signature: s"
    )


# -- json_tensor_test.cc: requests ------------------------------------------------------


def test_single_unnamed_tensor():
    request = fill('{"instances": [[1,2],[3,4],[5,6]]}', default=INT32)
    assert request.row_format is True
    assert request.signature_name == ""
    assert_tensor(request.inputs["default"], np.array([[1, 2], [3, 4], [5, 6]], dtype=np.int32))


def test_mixed_input_for_float_and_double_tensors():
    request = fill('{"instances": [1, 2.0, 3, 4, 5.003, 0.007, 0.0]}', default=FLOAT)
    assert_tensor(request.inputs["default"], np.array([1, 2, 3, 4, 5.003, 0.007, 0], dtype=np.float32))
    request = fill('{"instances": [1.0, 2, 3, 4, 0.662, 0, 0.0]}', default=DOUBLE)
    assert_tensor(request.inputs["default"], np.array([1, 2, 3, 4, 0.662, 0, 0], dtype=np.float64))


def test_single_unnamed_tensor_with_signature_and_trailing_bytes():
    request = fill('{"signature_name": "predict_images", "instances": [[1,2]]}X', default=INT32)
    assert request.signature_name == "predict_images"
    assert_tensor(request.inputs["default"], np.array([[1, 2]], dtype=np.int32))


def test_base64_scalars_lists_and_named():
    request = fill('{"instances": [ { "b64" : "aGVsbG8=" }, { "b64": "d29ybGQ=" } ]}', default=STRING)
    assert_tensor(request.inputs["default"], strings(b"hello", b"world"))
    request = fill('{"instances": [ [{ "b64" : "aGVsbG8=" }], [{ "b64": "d29ybGQ=" }] ]}', default=STRING)
    assert_tensor(request.inputs["default"], strings(b"hello", b"world").reshape(2, 1))
    request = fill(
        '{"instances": [{"default": [[{"b64": "aGVsbG8="}], [{"b64": "d29ybGQ="}]]}]}', default=STRING
    )
    assert_tensor(request.inputs["default"], strings(b"hello", b"world").reshape(1, 2, 1))


def test_base64_like_absl():
    request = fill(
        '{"inputs": [{"b64": "aGVsbG8"}, {"b64": " aGVs\\nbG8= "}, {"b64": "aGVsbG8."}, {"b64": ""}]}',
        x=STRING,
    )
    assert_tensor(request.inputs["x"], strings(b"hello", b"hello", b"hello", b""))
    for bad in ("aGVsbG8==", "aGVsbG8=x", "a", "aGVsbG8@"):
        assert error('{"inputs": {"b64": "' + bad + '"}}', x=STRING)[1] == "Unable to base64 decode"


def test_base64_object_shapes():
    assert error('{"inputs": [{"b64": 1}]}', x=STRING)[1] == (
        'JSON Value: {\n    "b64": 1\n} not formatted correctly for base64 data'
    )
    assert error('{"inputs": [{"b64": "aGk="}]}', x=FLOAT)[1] == (
        'JSON Value: {\n    "b64": "aGk="\n} Type: Object is not of expected type: float'
    )


def test_multiple_named_tensors_row_format():
    request = fill(
        """{"instances": [
            {"int_tensor": [[1,2],[3,4],[5,6]], "str_tensor": ["foo", "bar"],
             "float_tensor": [1.0, NaN], "dbl_tensor": [NaN]},
            {"int_tensor": [[7,8],[9,0],[1,2]], "str_tensor": ["baz", "bat"],
             "float_tensor": [2.0, Infinity], "dbl_tensor": [2.0]}]}""",
        int_tensor=INT32,
        str_tensor=STRING,
        float_tensor=FLOAT,
        dbl_tensor=DOUBLE,
    )
    inputs = request.inputs
    assert_tensor(
        inputs["int_tensor"], np.array([[[1, 2], [3, 4], [5, 6]], [[7, 8], [9, 0], [1, 2]]], dtype=np.int32)
    )
    assert_tensor(inputs["str_tensor"], strings(b"foo", b"bar", b"baz", b"bat").reshape(2, 2))
    assert_tensor(inputs["float_tensor"], np.array([[1.0, math.nan], [2.0, math.inf]], dtype=np.float32))
    assert_tensor(inputs["dbl_tensor"], np.array([[math.nan], [2.0]], dtype=np.float64))


def test_columnar_format():
    for body in ('{"inputs": {"int_tensor": [[[1,2],[3,4],[5,6]]]}}', '{"inputs": [[[1,2],[3,4],[5,6]]]}'):
        request = fill(body, int_tensor=INT32)
        assert request.row_format is False
        assert_tensor(request.inputs["int_tensor"], np.array([[[1, 2], [3, 4], [5, 6]]], dtype=np.int32))
    request = fill(
        '{"inputs": {"int_tensor": [[[1,2],[3,4],[5,6]]], "str_tensor": ["foo", "bar"],'
        ' "bin_tensor": { "b64" : "aGVsbG8=" }, "ignored": 1}}',
        int_tensor=INT32,
        str_tensor=STRING,
        bin_tensor=STRING,
    )
    assert set(request.inputs) == {"int_tensor", "str_tensor", "bin_tensor"}
    assert_tensor(request.inputs["str_tensor"], strings(b"foo", b"bar"))
    assert request.inputs["bin_tensor"].shape == ()
    assert request.inputs["bin_tensor"].item() == b"hello"


def test_columnar_scalar():
    assert_tensor(fill('{"inputs": 2.5}', x=FLOAT).inputs["x"], np.array(2.5, dtype=np.float32))


@pytest.mark.parametrize(
    ("body", "dtype", "message"),
    [
        (
            '{"instances": [[1,2],[3,4],[5,6,7]]}',
            INT32,
            "Failed to process element: 2 of 'instances' list. Error: INVALID_ARGUMENT: Expecting tensor size: 2 but got: 3",
        ),
        (
            '{"instances": [[1,2],[3,4],[[5,6]]]}',
            INT32,
            "Failed to process element: 2 of 'instances' list. Error: INVALID_ARGUMENT: Expecting shape [2] but got: [1,2]",
        ),
        (
            '{"instances": [[1,2],["a", "b"]]}',
            INT32,
            "Failed to process element: 1 of 'instances' list. Error: INVALID_ARGUMENT:"
            ' JSON Value: "a" Type: String is not of expected type: int32',
        ),
        (
            '{ "instances": [1.7976931348623157e+308] }',
            FLOAT,
            "Failed to process element: 0 of 'instances' list. Error: INVALID_ARGUMENT:"
            " Cannot convert JSON value: 1.7976931348623157e+308 to float without loss of precision.",
        ),
        (
            '{ "instances": [16777217] }',
            FLOAT,
            "Failed to process element: 0 of 'instances' list. Error: INVALID_ARGUMENT:"
            " Cannot convert JSON value: 16777217 to float without loss of precision.",
        ),
        (
            '{ "instances": [9007199254740993] }',
            DOUBLE,
            "Failed to process element: 0 of 'instances' list. Error: INVALID_ARGUMENT:"
            " Cannot convert JSON value: 9007199254740993 to double without loss of precision.",
        ),
        (
            '{"inputs": [[1, 2], [3]]}',
            INT32,
            "Encountered list at unexpected size: 1 at level: 1 expected size: 2",
        ),
        ('{"inputs": [1, [2]]}', INT32, "Encountered list at unexpected level: 1 expected < 1"),
        (
            '{"inputs": [[1], 2]}',
            INT32,
            "JSON Value: 2 found at incorrect level: 2 in the JSON DOM. Expected at level: 2",
        ),
        ('{"inputs": [true, 1]}', BOOL, "JSON Value: 1 Type: Number is not of expected type: bool"),
        ('{"inputs": [1, 0]}', BOOL, "JSON Value: 1 Type: Number is not of expected type: bool"),
        (
            '{"inputs": [2147483648]}',
            INT32,
            "JSON Value: 2147483648 Type: Number is not of expected type: int32",
        ),
        ('{"inputs": [1.0]}', INT64, "JSON Value: 1.0 Type: Number is not of expected type: int64"),
        ('{"inputs": [null]}', STRING, "JSON Value: null Type: Null is not of expected type: string"),
        ('{"inputs": [[]]}', types_pb2.DT_UINT32, None),
    ],
)
def test_single_tensor_errors(body, dtype, message):
    if message is None:
        assert fill(body, default=dtype).inputs["default"].shape == (1, 0)
    else:
        assert error(body, default=dtype) == ("INVALID_ARGUMENT", message)


def test_multiple_named_tensor_errors():
    sig = {"int_tensor": INT32, "str_tensor": STRING}
    rows = [
        '{"int_tensor": [[1,2],[3,4],[5,6]], "str_tensor": ["foo", "bar"]}',
        '{"int_tensor": [[[7,8],[9,0],[1,2]]], "str_tensor": ["baz", "bat"]}',
    ]
    assert error('{"instances": [' + ",".join(rows) + "]}", **sig)[1] == (
        "Failed to process element: 1 key: int_tensor of 'instances' list. Error: INVALID_ARGUMENT:"
        " Expecting shape [3,2] but got: [1,3,2]"
    )
    rows[0] = '{"int_tensor": [[1,2],[3,4],[5,6],[7,8]], "str_tensor": ["foo", "bar"]}'
    rows[1] = '{"int_tensor": [[7,8],[9,0],[1,2]], "str_tensor": ["baz", "bat"]}'
    assert error('{"instances": [' + ",".join(rows) + "]}", **sig)[1] == (
        "Failed to process element: 1 key: int_tensor of 'instances' list. Error: INVALID_ARGUMENT:"
        " Expecting tensor size: 8 but got: 6"
    )
    assert error('{"instances": [' + rows[0] + ", [1, 20, 30], " + rows[1] + "]}", **sig)[1] == (
        "Expecting object but got list at item 1 of input list"
    )
    assert error('{"instances": [["baz", "bar"], {"str_tensor": ["baz", "bat"]}]}', str_tensor=STRING)[1] == (
        "Expecting value/list but got object at item 1 of input list"
    )


def test_repeated_key_in_an_instance():
    # FindMember sees the first "instances"; a key repeated inside one instance has its
    # values appended twice, which no longer fits the TensorProto's shape.
    request = fill(b'{"instances": [1.0], "instances": [2.0, 3.0]}', x=FLOAT)
    assert_tensor(request.inputs["x"], np.array([1.0], dtype=np.float32))
    assert error(b'{"instances": [{"x": 1.0, "x": 2.0}]}', x=FLOAT)[1] == "tensor parsing error: x"


# -- dtype handling --------------------------------------------------------------------


def test_integer_dtypes_and_wrapping():
    assert_tensor(
        fill('{"inputs": [300, -1]}', x=types_pb2.DT_UINT8).inputs["x"], np.array([44, 255], dtype=np.uint8)
    )
    assert_tensor(fill('{"inputs": [200]}', x=types_pb2.DT_INT8).inputs["x"], np.array([-56], dtype=np.int8))
    big = '{"inputs": [9223372036854775807, -9223372036854775808]}'
    assert_tensor(fill(big, x=INT64).inputs["x"], np.array([2**63 - 1, -(2**63)], dtype=np.int64))
    assert_tensor(
        fill('{"inputs": [18446744073709551615]}', x=types_pb2.DT_UINT64).inputs["x"],
        np.array([2**64 - 1], dtype=np.uint64),
    )
    assert_tensor(
        fill('{"inputs": [4294967295]}', x=types_pb2.DT_UINT32).inputs["x"],
        np.array([2**32 - 1], dtype=np.uint32),
    )
    assert (
        error('{"inputs": [-1]}', x=types_pb2.DT_UINT32)[1]
        == "JSON Value: -1 Type: Number is not of expected type: uint32"
    )


def test_bool_and_string_dtypes():
    assert_tensor(fill('{"instances": [true, false]}', x=BOOL).inputs["x"], np.array([True, False]))
    assert_tensor(
        fill('{"instances": ["caf\\u00e9", "\\ud83d\\ude00"]}', x=STRING).inputs["x"],
        strings("café".encode(), "😀".encode()),
    )
    # Bools next to numbers are not numbers, even where numpy would happily cast them.
    assert error('{"instances": [1.0, true]}', x=FLOAT)[1].endswith(
        "JSON Value: true Type: True is not of expected type: float"
    )


def test_float_inputs_take_rapidjsons_doubles():
    # 0.9948195629497427 is read by RapidJSON as 0x3fefd58fd60948fb (Python: ...fc).
    request = fill(b'{"inputs": [0.9948195629497427]}', x=DOUBLE)
    assert request.inputs["x"].view(np.uint64)[0] == 0x3FEFD58FD60948FB
    request = fill(b'{"inputs": [0.9948195629497427]}', x=FLOAT)
    assert_tensor(request.inputs["x"], np.array([0.9948195629497427], dtype=np.float32))


@settings(max_examples=200, deadline=None)
@given(
    st.lists(
        st.floats(allow_nan=False, allow_infinity=False, min_value=-1e30, max_value=1e30),
        min_size=1,
        max_size=30,
    )
)
def test_nearly_parsed_float32_inputs_equal_the_exact_ones(values):
    body = json.dumps({"instances": [[v] for v in values]}).encode()
    request = fill(body, x=FLOAT)
    exact = jt_predict._fill_predict(
        jt_values.parse_json(body),
        jt_predict._OneLookup(signature(x=FLOAT)),
        jt_fast._Conversion(True, False),
    )
    assert_tensor(request.inputs["x"], exact.inputs["x"])


numeric_leaves = st.one_of(
    st.integers(min_value=-(2**64), max_value=2**64),
    st.floats(allow_nan=True, allow_infinity=True),
    st.booleans(),
)


@settings(max_examples=300, deadline=None)
@given(
    st.sampled_from([FLOAT, DOUBLE, INT32, INT64, BOOL, types_pb2.DT_UINT8, types_pb2.DT_UINT64]),
    st.recursive(numeric_leaves, lambda children: st.lists(children, max_size=3), max_leaves=12),
)
def test_one_numpy_call_gives_what_the_element_walk_gives(dtype, value):
    """The fast path may only answer when it agrees with TF Serving's walk."""
    fast = jt_fast._fast_array(value, dtype, jt_fast._Conversion(may_hold_bools=True, nearly=False))
    if fast is None:
        fast = jt_fast._fast_array(value, dtype, jt_fast._Conversion(may_hold_bools=False, nearly=False))
        if any(isinstance(leaf, bool) for leaf in _leaves(value)) and dtype != BOOL:
            return  # only called with may_hold_bools=False when the body has no true/false
    if fast is None:
        return
    shape = jt_values._dense_shape(value)
    values: list = []
    jt_values._fill_tensor(value, 0, dtype, shape, values)
    assert_tensor(fast, jt_values._values_to_array(values, shape, dtype))


def _leaves(value):
    if isinstance(value, list):
        for item in value:
            yield from _leaves(item)
    else:
        yield value


# -- responses ---------------------------------------------------------------------------


def test_half_plus_two_layouts():
    y = np.array([2.5, 3.0, 4.5], dtype=np.float32)
    assert (
        jt_response.make_predict_response({"y": y}, True) == b'{\n    "predictions": [2.5, 3.0, 4.5\n    ]\n}'
    )
    assert (
        jt_response.make_predict_response({"y": y[:2].reshape(2, 1)}, True)
        == b'{\n    "predictions": [[2.5], [3.0]\n    ]\n}'
    )
    assert (
        jt_response.make_predict_response({"y": y}, False)
        == b'{\n    "outputs": [\n        2.5,\n        3.0,\n        4.5\n    ]\n}'
    )
    assert jt_response.make_predict_response({"y": np.float32(2.5)}, False) == b'{\n    "outputs": 2.5\n}'


def test_single_tensor_response():
    tensor = np.array([[[1, 2], [3, 4], [5, 6]], [[7, 8], [9, 0], [1, 2]]], dtype=np.int32)
    assert jt_response.make_predict_response({"int_tensor": tensor}, True) == (
        b'{\n    "predictions": [[[1, 2], [3, 4], [5, 6]], [[7, 8], [9, 0], [1, 2]]\n    ]\n}'
    )
    assert jt_response.make_predict_response({"int_tensor": tensor}, False) == (
        b'{\n    "outputs": [\n        [\n            [\n                1,\n                2\n            ],\n'
        b"            [\n                3,\n                4\n            ],\n            [\n                5,\n"
        b"                6\n            ]\n        ],\n        [\n            [\n                7,\n"
        b"                8\n            ],\n            [\n                9,\n                0\n            ],\n"
        b"            [\n                1,\n                2\n            ]\n        ]\n    ]\n}"
    )


def test_bytes_response():
    tensor = strings(b"hello", b"world", b"tf", b"serving").reshape(2, 2)
    assert jt_response.make_predict_response({"str_tensor_bytes": tensor}, True) == (
        b'{\n    "predictions": [[{\n                "b64": "aGVsbG8="\n            }, {\n                "b64":'
        b' "d29ybGQ="\n            }], [{\n                "b64": "dGY="\n            }, {\n                "b64":'
        b' "c2VydmluZw=="\n            }]\n    ]\n}'
    )
    assert (
        jt_response.make_predict_response({"s": strings(b'a"\n\x01\xff')}, True)
        == b'{\n    "predictions": ["a\\"\\n\\u0001\xff"\n    ]\n}'
    )


@pytest.mark.parametrize(
    ("values", "dtype", "texts"),
    [
        (
            [9000000, 999999, 0.5, 0.0003, 0.00003, 555557.5],
            np.float32,
            "9e+06, 999999.0, 0.5, 0.0003, 3e-05, 555557.5",
        ),
        ([3, 0.2, 3.14159265, 16777217, -0.0], np.float32, "3.0, 0.2, 3.14159274, 16777216.0, -0.0"),
        ([1e-7, 123456789, 1e30, 1.5e-45], np.float32, "1e-07, 123456792.0, 1e+30, 1.4013e-45"),
        ([math.nan, math.inf, 3, -math.inf], np.float32, "NaN, Infinity, 3.0, -Infinity"),
        ([0.1 + 0.2, 0.1, 16777217, 1e100], np.float64, "0.30000000000000004, 0.1, 16777217.0, 1e+100"),
    ],
)
def test_write_decimal(values, dtype, texts):
    response = jt_response.make_predict_response({"v": np.array(values, dtype=dtype)}, True)
    assert response == b'{\n    "predictions": [' + texts.encode() + b"\n    ]\n}"


def test_multiple_outputs():
    outputs = {
        "int_tensor": np.array([[[1, 2], [3, 4], [5, 6]], [[7, 8], [9, 0], [1, 2]]], dtype=np.int32),
        "str_tensor": strings(b"foo", b"bar", b"baz", b"bat").reshape(2, 2),
        "float_tensor": np.array([[1.0], [2.0]], dtype=np.float32),
        "double_scalar_tensor": np.array([8.0, 9.0]),
        "str_tensor_bytes": strings(b"hello", b"world", b"tf", b"serving").reshape(2, 2),
    }
    assert jt_response.make_predict_response(outputs, True) == (
        b'{\n    "predictions": [\n        {\n            "double_scalar_tensor": 8.0,\n'
        b'            "float_tensor": [1.0],\n            "int_tensor": [[1, 2], [3, 4], [5, 6]],\n'
        b'            "str_tensor": ["foo", "bar"],\n            "str_tensor_bytes": [{\n'
        b'                    "b64": "aGVsbG8="\n                }, {\n                    "b64": "d29ybGQ="\n'
        b'                }]\n        },\n        {\n            "double_scalar_tensor": 9.0,\n'
        b'            "float_tensor": [2.0],\n            "int_tensor": [[7, 8], [9, 0], [1, 2]],\n'
        b'            "str_tensor": ["baz", "bat"],\n            "str_tensor_bytes": [{\n'
        b'                    "b64": "dGY="\n                }, {\n                    "b64": "c2VydmluZw=="\n'
        b"                }]\n        }\n    ]\n}"
    )
    columnar = jt_response.make_predict_response(outputs, False)
    assert columnar.startswith(
        b'{\n    "outputs": {\n        "double_scalar_tensor": [\n            8.0,\n            9.0\n        ],\n'
    )
    assert json.loads(columnar)["outputs"]["str_tensor_bytes"] == [
        [{"b64": "aGVsbG8="}, {"b64": "d29ybGQ="}],
        [{"b64": "dGY="}, {"b64": "c2VydmluZw=="}],
    ]
    assert list(json.loads(columnar)["outputs"]) == sorted(outputs)


def test_zero_batch_and_empty_dimensions():
    outputs = {
        "str_tensor": np.empty((0, 1, 2), dtype=object),
        "float_tensor": np.empty((0, 3, 4), dtype=np.float32),
    }
    assert jt_response.make_predict_response(outputs, True) == b'{\n    "predictions": []\n}'
    empty = np.empty((2, 0), dtype=np.int32)
    assert jt_response.make_predict_response({"t": empty}, True) == b'{\n    "predictions": [[], []\n    ]\n}'
    assert (
        jt_response.make_predict_response({"t": empty}, False)
        == b'{\n    "outputs": [\n        [],\n        []\n    ]\n}'
    )


@pytest.mark.parametrize(
    ("outputs", "row_format", "message"),
    [
        ({}, True, "Cannot convert empty tensor map to JSON"),
        (
            {"tensor": np.array([1 + 2j], dtype=np.complex64)},
            True,
            "Failed to write JSON value for tensor type: complex64",
        ),
        (
            {"tensor": np.array([1.0], dtype=np.float16)},
            False,
            "Failed to write JSON value for tensor type: half",
        ),
        ({"tensor": np.int32(1)}, True, "Tensor name: tensor has no shape information "),
        (
            {"int_tensor": np.zeros((2, 3), np.int32), "str_tensor": strings(b"a", b"b", b"c").reshape(1, 3)},
            True,
            "Tensor name: str_tensor has inconsistent batch size: 1 expecting: 2",
        ),
        (
            {"int_tensor": np.zeros((0, 2), np.int32), "str_tensor": strings(b"a", b"b").reshape(1, 2)},
            True,
            "Tensor name: str_tensor has inconsistent batch size: 1 expecting: 0",
        ),
    ],
)
def test_response_errors(outputs, row_format, message):
    with pytest.raises(ServingError) as caught:
        jt_response.make_predict_response(outputs, row_format)
    assert (caught.value.code, caught.value.message) == ("INVALID_ARGUMENT", message)


@settings(max_examples=200, deadline=None)
@given(
    st.lists(st.floats(width=32, allow_nan=True, allow_infinity=True), min_size=1, max_size=50),
    st.integers(min_value=1, max_value=3),
    st.booleans(),
)
def test_response_floats_read_back_exactly(values, width, row_format):
    values = values[: len(values) // width * width] or values[:1]
    array = np.array(values, dtype=np.float32).reshape(-1, width if len(values) % width == 0 else 1)
    parsed = json.loads(jt_response.make_predict_response({"y": array}, row_format))
    back = np.array(parsed["predictions" if row_format else "outputs"], dtype=np.float32)
    np.testing.assert_array_equal(back, array)
    numbers = ~np.isnan(array)  # every NaN is written as the bare token NaN
    assert np.array_equal(np.signbit(back[numbers]), np.signbit(array[numbers]))


# -- classify / regress ---------------------------------------------------------------


def test_classify_request_without_context():
    name, request_input = jt_example.fill_classify_regress_request(
        b"""{"examples": [{"names": ["foo", "bar"], "ratings": [8.0, 9.0], "age": 20},
                          {"names": ["baz"], "ratings": 6.0}]}""",
        "classify",
    )
    assert name == ""
    expected = input_pb2.Input()
    first = expected.example_list.examples.add().features.feature
    first["names"].bytes_list.value.extend([b"foo", b"bar"])
    first["ratings"].float_list.value.extend([8.0, 9.0])
    first["age"].int64_list.value.append(20)
    second = expected.example_list.examples.add().features.feature
    second["names"].bytes_list.value.append(b"baz")
    second["ratings"].float_list.value.append(6.0)
    assert request_input == expected


def test_regress_request_with_context_and_signature():
    name, request_input = jt_example.fill_classify_regress_request(
        b"""{"signature_name": "custom_signture",
             "context": {"query": "pizza", "location": ["sfo"]},
             "examples": [{"names": ["foo", "bar"], "ratings": [8.0, 9.0, NaN, Infinity], "age": 20},
                          {"names": ["baz", {"b64": "aGVsbG8="}], "ratings": 6.0, "intboolmix": [1, true, false]},
                          {"names": "bar", "ratings": -Infinity, "empty": []}]}""",
        "regress",
    )
    assert name == "custom_signture"
    with_context = request_input.example_list_with_context
    assert with_context.context.features.feature["query"].bytes_list.value == [b"pizza"]
    assert with_context.context.features.feature["location"].bytes_list.value == [b"sfo"]
    examples = [e.features.feature for e in with_context.examples]
    assert list(examples[0]["ratings"].float_list.value[:2]) == [8.0, 9.0]
    assert math.isnan(examples[0]["ratings"].float_list.value[2])
    assert examples[1]["names"].bytes_list.value == [b"baz", b"hello"]
    assert examples[1]["intboolmix"].int64_list.value == [1, 1, 0]
    assert examples[2]["ratings"].float_list.value == [-math.inf]
    assert examples[2]["empty"].WhichOneof("kind") is None


def classify_error(body: str) -> str:
    with pytest.raises(ServingError) as caught:
        jt_example.fill_classify_regress_request(body.encode(), "regress")
    assert caught.value.code == "INVALID_ARGUMENT"
    return caught.value.message


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (
            '{"signature_name": ["hello"], "examples": []}',
            'JSON Value: {\n    "signature_name": ["hello"],\n    "examples": []\n} not formatted correctly.'
            " 'signature_name' key must be a string value.",
        ),
        ('{"context": [{"names": ["foo", "bar"]}]}', "Example must be JSON object but got JSON Array"),
        (
            '{"signature_name": "s"}',
            'JSON Value: {\n    "signature_name": "s"\n} When method is classify, key \'examples\' is expected and was not found',
        ),
        (
            '{"examples": {"names": ["foo", "bar"]}}',
            'JSON Value: {\n    "examples": {\n        "names": ["foo", "bar"]\n    }\n}'
            " Expecting 'examples' value to be an list/array",
        ),
        ('{"examples": []}', "JSON Value: {\n    \"examples\": []\n} 'examples' value is an empty array"),
        ('{"examples": [[{"names": ["foo", "bar"]}]]}', "Example must be JSON object but got JSON Array"),
        (
            '{"examples": [{"names": [10, null]}]}',
            "Feature: names has element with unexpected JSON type: Null",
        ),
        (
            '{"examples": [{"names": [10, 10.0]}]}',
            "Unexpected element type in feature: names expecting type: int64",
        ),
        (
            '{"examples": [{"names": ["a", true]}]}',
            "Unexpected element type in feature: names expecting type: bytes",
        ),
        (
            '{"examples": [{"names": [1.5, "a"]}]}',
            "Unexpected element type in feature: names expecting type: float",
        ),
        (
            '{"examples": [{"names": [10, {"test": 10}]}]}',
            "Feature: names has element with unexpected JSON type: Object",
        ),
        (
            '{"examples": [{"names": [[10], 20]}]}',
            "Feature: names has element with unexpected JSON type: Array",
        ),
        (
            '{"examples": [{"names": [20, 18446744073709551603]}]}',
            "Feature: names has uint64 element. Only int64 is supported.",
        ),
        (
            '{ "examples": [ { "names": 1.7976931348623157e+308 } ] }',
            "Cannot convert JSON value: 1.7976931348623157e+308 to float without loss of precision.",
        ),
        ('{"examples": [{"x": {"b64": "!"}}]}', "Unable to base64 decode"),
    ],
)
def test_classify_regress_request_errors(body, message):
    assert classify_error(body) == message


def test_classify_and_regress_responses():
    result = classification_pb2.ClassificationResult()
    for scores in ((0.2, 0.7, 0.1), (0.7, 0.1, 0.2)):
        classifications = result.classifications.add()
        for label, score in zip(("car", "bike", "bus"), scores, strict=True):
            classifications.classes.add(label=label, score=score)
    assert jt_response.make_classify_response(result) == (
        b'{\n    "results": [[["car", 0.2], ["bike", 0.7], ["bus", 0.1]],'
        b' [["car", 0.7], ["bike", 0.1], ["bus", 0.2]]\n    ]\n}'
    )
    half_plus_two = classification_pb2.ClassificationResult()
    half_plus_two.classifications.add().classes.add(label="", score=3.0)
    half_plus_two.classifications.add().classes.add(label="", score=4.0)
    assert (
        jt_response.make_classify_response(half_plus_two)
        == b'{\n    "results": [[["", 3.0]], [["", 4.0]]\n    ]\n}'
    )

    regression = regression_pb2.RegressionResult()
    for value in (0.2, 0.9, 1.0, math.inf, -math.inf, math.nan):
        regression.regressions.add(value=value)
    assert (
        jt_response.make_regress_response(regression)
        == b'{\n    "results": [0.2, 0.9, 1.0, Infinity, -Infinity, NaN]\n}'
    )


def test_empty_results():
    for make, result, name in (
        (
            jt_response.make_classify_response,
            classification_pb2.ClassificationResult(),
            "ClassificationResults",
        ),
        (jt_response.make_regress_response, regression_pb2.RegressionResult(), "RegressionResults"),
    ):
        with pytest.raises(ServingError) as caught:
            make(result)
        assert caught.value.message == f"Cannot convert empty {name} to JSON"


# -- error bodies ---------------------------------------------------------------------


def test_error_body():
    body = jt_response.make_error_body("Servable not found for request: Latest(half)")
    assert body == b'{\n    "error": "Servable not found for request: Latest(half)"\n}'
    assert len(body) == 63
    assert (
        jt_response.make_error_body('Bad key: "key"\n\tcafé')
        == b'{\n    "error": "Bad key: \\"key\\"\\n\\tcaf\xc3\xa9"\n}'
    )


def test_error_body_keeps_raw_request_bytes():
    message = error(b'{"instances": [{"k\xff": 1.0}]}', x=FLOAT)[1]
    assert jt_response.make_error_body(message).endswith(b'JSON object: does not have named input: k\xff"\n}')


# -- quick paths for a few values ---------------------------------------------------------


def test_a_zero_with_a_too_big_exponent_is_a_parse_error_among_long_literals():
    assert error(b'{"instances": [0.9948195629497427, 0e999]}', x=FLOAT) == (
        "INVALID_ARGUMENT",
        "JSON Parse error: Number too big to be stored in double. at offset: 35",
    )


def midpoint_neighbours(value: float) -> list[float]:
    """Doubles within a few dozen ulps of the float32 midpoint above ``value``."""
    rounded = np.float32(value)
    midpoint = (float(rounded) + float(np.nextafter(rounded, np.float32(np.inf)))) / 2
    return [midpoint + k * math.ulp(midpoint) for k in range(-40, 41, 8)]


@settings(max_examples=300, deadline=None)
@given(
    st.lists(
        st.one_of(
            st.floats(min_value=-3e7, max_value=3e7),
            st.floats(min_value=-1e3, max_value=1e3).flatmap(
                lambda v: st.sampled_from(midpoint_neighbours(v))
            ),
            st.sampled_from([0.0, -0.0, 1e-31, 1e-29, 16777215.0, 16777216.0, math.nan, math.inf]),
        ),
        min_size=1,
        max_size=8,
    ),
    st.booleans(),
)
def test_few_float32_values_checked_in_python_like_numpy(values, nearly):
    conversion = jt_fast._Conversion(may_hold_bools=False, nearly=nearly)

    def outcome(convert):
        try:
            array = convert()
        except jt_fast._ExactNumbersNeeded:
            return "exact numbers needed"
        return None if array is None else array.tobytes()

    quick = outcome(lambda: jt_fast._few_float32(values, conversion))
    if quick is not None:
        assert quick == outcome(lambda: jt_fast._checked_array(np.array(values), FLOAT, conversion))
