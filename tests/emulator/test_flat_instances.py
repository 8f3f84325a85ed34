"""The whole-body reader of common row-format bodies: whenever it answers, the general
path (RapidJSON's exact parse and TF Serving's element walk) must give the same tensors;
everything else it must leave alone."""

from __future__ import annotations

import json

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from tensorflow.core.framework import types_pb2
from tensorflow.core.protobuf import meta_graph_pb2

from tfserving_emulator.json import fast_arrays as jt_fast
from tfserving_emulator.json import flat_instances
from tfserving_emulator.json import predict_request as jt_predict
from tfserving_emulator.json import tensor_values as jt_values
from tfserving_emulator.util.errors import ServingError

FLOAT, DOUBLE, INT32, INT64 = types_pb2.DT_FLOAT, types_pb2.DT_DOUBLE, types_pb2.DT_INT32, types_pb2.DT_INT64


def lookup(**dtypes: int):
    infos = {name: meta_graph_pb2.TensorInfo(dtype=dtype) for name, dtype in dtypes.items()}
    return lambda signature_name: infos


def general_path(body: bytes, **dtypes: int):
    """The request as the general path reads it (exact doubles), or the error it raises."""
    try:
        doc = jt_values.parse_json(body)
        return jt_predict._fill_predict(
            doc, jt_predict._OneLookup(lookup(**dtypes)), jt_fast._Conversion(True, False)
        )
    except ServingError as error:
        return error.code, error.message


def flat_path(body: bytes, **dtypes: int):
    """The request as the whole-body reader gives it, or None when it leaves the body alone."""
    flat = flat_instances.parse(body)
    if flat is None:
        return None
    return jt_predict._fill_predict_from_flat(flat, jt_predict._OneLookup(lookup(**dtypes)))


def assert_same_request(fast, general) -> None:
    assert isinstance(general, jt_predict.PredictRequestJson), general
    assert fast.signature_name == general.signature_name
    assert fast.row_format and general.row_format
    assert sorted(fast.inputs) == sorted(general.inputs)
    for name, tensor in general.inputs.items():
        assert fast.inputs[name].dtype == tensor.dtype
        assert fast.inputs[name].shape == tensor.shape
        assert fast.inputs[name].tobytes() == tensor.tobytes()  # -0.0 and 0.0 told apart


def tutorial_body(rows: int, **dumps_options) -> bytes:
    rng = np.random.default_rng(rows)
    instances = [
        {"tensor_info_input_x": [float(x)], "tensor_info_input_y": [float(y)]}
        for x, y in rng.uniform(-1, 1, (rows, 2))
    ]
    return json.dumps({"signature_name": "your_prediction", "instances": instances}, **dumps_options).encode()


BLOG = {"tensor_info_input_x": FLOAT, "tensor_info_input_y": FLOAT}


@pytest.mark.parametrize(
    "options", [{}, {"separators": (",", ":")}, {"indent": 2}, {"indent": "\t", "separators": (", ", " : ")}]
)
def test_the_tutorial_request_in_any_layout(options):
    body = tutorial_body(300, **options)
    fast = flat_path(body, **BLOG)
    assert fast is not None
    assert fast.inputs["tensor_info_input_x"].shape == (300, 1)
    assert_same_request(fast, general_path(body, **BLOG))


@pytest.mark.parametrize(
    ("body", "dtypes"),
    [
        (b'{"instances": [{"a": 1, "b": [1, 2]}, {"a": 2, "b": [3, 4]}]}', {"a": INT32, "b": INT64}),
        (b'{"instances":[{"a":1.5,"b":[1,2]},{"a":-2,"b":[3e3,-0.0]}],"signature_name":"s"}', {"a": FLOAT, "b": DOUBLE}),
        (b'{"signature_name": "", "instances": [{"x": [1, 2.5, 1e-5]}]}', {"x": FLOAT}),
        (b'  {"instances"  :  [ {"x" : 16777215} , {"x" : -16777215} ]  }  ', {"x": FLOAT}),
        (b'{"instances": [{"x": 9007199254740991}]}', {"x": DOUBLE}),
        (b'{"instances": [{"x": -0}, {"x": 0.0}, {"x": -0.0}]}', {"x": FLOAT}),
    ],
)  # fmt: skip
def test_numbers_and_lists_of_numbers(body, dtypes):
    fast = flat_path(body, **dtypes)
    assert fast is not None
    assert_same_request(fast, general_path(body, **dtypes))


@pytest.mark.parametrize(
    "body",
    [
        b'{"instances": [1.0, 2.0]}',  # rows are not objects
        b'{"inputs": {"x": [1.0]}}',  # columnar
        b'{"instances": []}',
        b'{"instances": [{"x": [1]}], "inputs": {"x": [1]}}',  # another member
        b'{"signature_name": "a", "instances": [{"x": [1]}], "signature_name": "b"}',
        b'{"signature_name": "caf\xc3\xa9", "instances": [{"x": [1]}]}',  # not plain ASCII
        b'{"signature_name": "a\\"b", "instances": [{"x": [1]}]}',  # an escape
        b'{"instances": [{"x": [1]}, {"x": [2], "x": [3]}]}',  # a repeated key
        b'{"instances": [{"x": [1], "y": [2]}, {"y": [3], "x": [4]}]}',  # keys in another order
        b'{"instances": [{"x": [1], "y": [2]}, {"x": [3]}]}',  # a key missing
        b'{"instances": [{"x": [1]}, {"x": [2], "y": [3]}]}',  # a key more
        b'{"instances": [{"x": [1]}, {"z": [2]}]}',  # another key
        b'{"instances": [{"x": [1, 2]}, {"x": [3]}]}',  # another length
        b'{"instances": [{"x": [1]}, {"x": []}]}',
        b'{"instances": [{"x": [1]}, {"x": [[2]]}]}',
        b'{"instances": [{"x": [1]}, {"x": 2}]}',  # a number where a list was
        b'{"instances": [{"x": [1]}, {"x": [true]}]}',
        b'{"instances": [{"x": [1]}, {"x": [null]}]}',
        b'{"instances": [{"x": [1]}, {"x": ["2"]}]}',
        b'{"instances": [{"x": [1]}, {"x": [NaN]}]}',
        b'{"instances": [{"x": [1]}, {"x": [-Infinity]}]}',
        b'{"instances": [{"x": [1]}, {"x": [{"b64": "AA=="}]}]}',
        b'{"instances": [{"x": [1]}, {"x": [1 2]}]}',
        b'{"instances": [{"x": [1]}, {"x": [1.]}]}',
        b'{"instances": [{"x": [1]}, {"x": [01]}]}',
        b'{"instances": [{"x": [1]}, {"x": [+1]}]}',
        b'{"instances": [{"x": [1]}, {"x": [1e]}]}',
        b'{"instances": [{"x": [1]}, {"x": [0e999]}]}',  # three-digit exponent
        b'{"instances": [{"x": [1]}, {"x": [1e-400]}]}',
        b'{"instances": [{"x": [1]}, {"x": [18446744073709551615]}]}',  # past int64
        b'{"instances": [{"x": [1]}, {1"x": []}]}',  # a number out of place, an empty list
        b'{"instances": [{"x": [1]}, {"x" 1: []}]}',
        b'{"instances": [{"x": [1]}, {"x": []1}]}',
        b'{"instances": [{"x": [1]}, {"x": [] }1]}',
        b'{"instances": [{"x": [1]}, {"x": [2]}, ]}',  # trailing comma
        b'{"instances": [{"x": [1]} {"x": [2]}]}',  # a comma missing
        b'{"instances": [{"x": [1]},, {"x": [2]}]}',
        b'{"instances": [{"x": [1]}, {"x": [2]}]} trailing',
        b'\xef\xbb\xbf{"instances": [{"x": [1]}]}',  # byte order mark
        b'{"instances": [{"x": [1]}, {"x": [2]}]',  # unfinished
    ],
)
def test_everything_else_is_left_to_the_general_path(body):
    assert flat_instances.parse(body) is None


def test_inputs_it_cannot_vouch_for_are_left_to_the_general_path():
    body = b'{"instances": [{"x": [1, 2]}, {"x": [3, 4]}]}'
    assert flat_path(body, x=types_pb2.DT_STRING) is None  # TF Serving refuses numbers
    assert flat_path(body, y=FLOAT) is None  # not the signature's input
    assert flat_path(body, x=FLOAT, y=FLOAT) is None  # an input missing
    assert flat_path(b'{"instances": [{"x": 16777217}]}', x=FLOAT) is None  # lossy integer
    assert flat_path(b'{"instances": [{"x": 2147483648}]}', x=INT32) is None  # out of range
    assert flat_path(b'{"instances": [{"x": 1.5}]}', x=INT32) is None  # a double for an int
    assert flat_path(b'{"instances": [{"x": 0.10000000000000001}]}', x=DOUBLE) is None  # long literal


def test_long_literals_on_a_float32_midpoint_are_left_to_the_exact_parser():
    # 1 + 2**-24 is halfway between two float32 values; RapidJSON's reading of a long
    # literal next to it may round the other way, so only the exact parse may decide.
    midpoint = 1 + 2**-24
    body = json.dumps({"instances": [{"x": [midpoint]}] * 40}).encode()
    assert flat_instances.parse(body).long_literals
    assert flat_path(body, x=FLOAT) is None
    request = jt_predict.fill_predict_request(body, lookup(x=FLOAT))
    assert_same_request(request, general_path(body, x=FLOAT))


def test_the_general_path_is_skipped_only_for_bodies_worth_it(monkeypatch):
    calls = []
    monkeypatch.setattr(flat_instances, "parse", lambda body: calls.append(body))
    jt_predict.fill_predict_request(b'{"instances": [{"x": [1]}]}', lookup(x=FLOAT))
    assert calls == []
    jt_predict.fill_predict_request(tutorial_body(40), lookup(**BLOG))
    assert len(calls) == 1


# -- any body: when it answers, the general path agrees --------------------------------

numbers = st.one_of(
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=False, allow_infinity=False),
    st.floats(min_value=-1e6, max_value=1e6).map(lambda v: float(np.float32(v))),
)
row_bodies = st.builds(
    lambda keys, widths, rows, options: json.dumps(
        {"instances": [{k: (r[i] if w == 0 else [r[i]] * w) for i, (k, w) in enumerate(zip(keys, widths, strict=True))} for r in rows]},
        **options,
    ).encode(),
    st.just(["a", "b"]),
    st.lists(st.integers(0, 3), min_size=2, max_size=2),
    st.lists(st.lists(numbers, min_size=2, max_size=2), min_size=1, max_size=40),
    st.sampled_from([{}, {"separators": (",", ":")}, {"indent": 1}]),
)  # fmt: skip


@st.composite
def mutated(draw, bodies):
    """A body, then a few one-byte edits (structure characters, digits, keys, junk)."""
    body = bytearray(draw(bodies))
    for _ in range(draw(st.integers(0, 3))):
        if not body:
            break
        at = draw(st.integers(0, len(body) - 1))
        action = draw(st.sampled_from(["delete", "insert", "replace"]))
        char = draw(st.sampled_from(list(b'[]{},:" -.e0123456789abtn\\')))
        if action == "delete":
            del body[at]
        elif action == "insert":
            body.insert(at, char)
        else:
            body[at] = char
    return bytes(body)


@settings(max_examples=1500, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(mutated(row_bodies), st.sampled_from([FLOAT, DOUBLE, INT32, INT64]))
def test_whenever_it_answers_the_general_path_agrees(body, dtype):
    fast = flat_path(body, a=dtype, b=dtype)
    if fast is not None:
        assert_same_request(fast, general_path(body, a=dtype, b=dtype))
