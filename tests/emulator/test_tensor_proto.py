"""Request tensors are parsed like ``Tensor::FromProto``, and checked before allocation.

Each case is also handed to TensorFlow's own parser (``tensorflow_parser``) where that
is safe, so the expectations below are TensorFlow 2.21's behaviour, not a guess at it.
"""

from __future__ import annotations

import tracemalloc

import ml_dtypes
import numpy as np
import pytest
from tensorflow.core.framework import tensor_pb2, types_pb2
from tensorflow_parser import tensorflow_parse

from tfserving_emulator.grpc import tensor_proto
from tfserving_emulator.grpc.tensor_proto import TensorParseError, encode_tensor, to_ndarray
from tfserving_emulator.util.errors import ServingError

T = types_pb2


def proto(dtype=T.DT_FLOAT, shape=(), content: bytes | None = None, **fields) -> tensor_pb2.TensorProto:
    message = tensor_pb2.TensorProto(dtype=dtype)
    for size in shape:
        message.tensor_shape.dim.add(size=size)
    if content is not None:
        message.tensor_content = content
    for name, values in fields.items():
        if name == "float8_val":
            message.float8_val = values
        else:
            getattr(message, name).extend(values)
    return message


def refused(message: tensor_pb2.TensorProto) -> str:
    """The emulator's INVALID_ARGUMENT message for a tensor it cannot hold."""
    with pytest.raises(ServingError) as caught:
        to_ndarray(message)
    assert caught.value.code == "INVALID_ARGUMENT"
    return caught.value.message


def peak_bytes_while(function, *args) -> int:
    tracemalloc.start()
    try:
        function(*args)
    except (TensorParseError, ServingError):
        pass
    finally:
        _, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
    return peak


# -- shapes ---------------------------------------------------------------------------------

UNPARSEABLE_SHAPES = [
    pytest.param((-1,), id="minus-one"),
    pytest.param((3, -7), id="negative"),
    pytest.param((-(2**63),), id="int64-min"),
    pytest.param((2**62, 2**62), id="product-overflows"),
    pytest.param((2**32, 2**31), id="product-is-2**63"),
    pytest.param((2**62, 2**62, 0), id="overflow-before-zero"),
    pytest.param((1,) * 255, id="255-dims"),
]


@pytest.mark.parametrize("shape", UNPARSEABLE_SHAPES)
def test_shapes_tensorflow_cannot_hold_are_unparseable(shape):
    message = proto(shape=shape, float_val=[1.0])
    assert tensorflow_parse(message).ok is False
    with pytest.raises(TensorParseError):
        to_ndarray(message)


def test_unknown_rank_is_ignored_like_tensorshape_does():
    message = proto(shape=(2,), float_val=[1.0, 2.0])
    message.tensor_shape.unknown_rank = True
    assert tensorflow_parse(message).ok is True
    np.testing.assert_array_equal(to_ndarray(message), np.float32([1.0, 2.0]))


def test_zero_before_huge_dimensions_is_an_empty_tensor_numpy_cannot_shape():
    message = proto(shape=(0, 2**62, 2**62))
    assert tensorflow_parse(message).ok is True
    assert refused(message) == (
        "Empty tensors whose other dimensions span 2**63 bytes or more are not supported by this "
        "emulator (numpy's limit); the request has shape [0, 4611686018427387904, 4611686018427387904]"
    )


@pytest.mark.parametrize("rank", [65, 100, 254])
def test_more_dimensions_than_numpy_holds_are_refused_clearly(rank):
    message = proto(shape=(1,) * rank, float_val=[1.0])
    assert tensorflow_parse(message).ok is True
    assert refused(message) == (
        "Tensors of more than 64 dimensions are not supported by this emulator (numpy's limit); "
        f"the request has one of {rank}"
    )


def test_sixty_four_dimensions_are_served():
    assert to_ndarray(proto(shape=(1,) * 64, float_val=[3.0])).shape == (1,) * 64


@pytest.mark.parametrize(
    "shape",
    [pytest.param((2**40,), id="4TiB"), (2**31, 2**31), (2**21, 2**21, 2**20), (2**62 + 1,)],
)
def test_huge_claims_are_unparseable_without_allocating(shape):
    # TensorFlow's allocator returns null for these: tensor parsing error, never a crash.
    for message in (proto(shape=shape, float_val=[1.0]), proto(shape=shape, content=b"\0" * 4)):
        with pytest.raises(TensorParseError):
            to_ndarray(message)
        assert peak_bytes_while(to_ndarray, message) < 2**20


def test_a_claim_beyond_free_memory_is_unparseable(monkeypatch):
    monkeypatch.setattr(tensor_proto, "_available_memory", lambda: 2**27)
    with pytest.raises(TensorParseError, match="does not fit in memory"):
        to_ndarray(proto(shape=(2**26,), float_val=[1.0]))  # 256 MiB of 128 MiB free
    assert peak_bytes_while(to_ndarray, proto(shape=(2**26,), float_val=[1.0])) < 2**20


# -- dtypes ---------------------------------------------------------------------------------


@pytest.mark.parametrize("dtype", [T.DT_INVALID, T.DT_FLOAT_REF, T.DT_STRING_REF, 34, 999])
def test_dtypes_tensorflow_does_not_know_are_unparseable(dtype):
    message = proto(dtype=dtype, shape=(1,))
    assert tensorflow_parse(message).ok is False
    with pytest.raises(TensorParseError):
        to_ndarray(message)


@pytest.mark.parametrize("dtype", [T.DT_RESOURCE, T.DT_VARIANT])
def test_resource_and_variant_tensors_are_refused_clearly(dtype):
    message = proto(dtype=dtype, shape=(0,))
    assert tensorflow_parse(message).ok is True
    name = T.DataType.Name(dtype)
    assert refused(message) == (
        f"{name} request tensors are not supported by this emulator (numpy has no value for them)"
    )


EXOTIC = [
    (T.DT_BFLOAT16, ml_dtypes.bfloat16, "half_val", [16256, 70000]),
    (T.DT_HALF, np.float16, "half_val", [15360, -1]),
    (T.DT_FLOAT8_E5M2, ml_dtypes.float8_e5m2, "float8_val", b"\x3c\x05"),
    (T.DT_FLOAT8_E4M3FN, ml_dtypes.float8_e4m3fn, "float8_val", b"\x38"),
    (T.DT_FLOAT4_E2M1FN, ml_dtypes.float4_e2m1fn, "float8_val", b"\x02\x05"),
    (T.DT_INT4, ml_dtypes.int4, "int_val", [5, -3, 300]),
    (T.DT_UINT4, ml_dtypes.uint4, "int_val", [5, 20]),
    (T.DT_INT2, ml_dtypes.int2, "int_val", [1, -2, 5]),
    (T.DT_UINT2, ml_dtypes.uint2, "int_val", [3, 6]),
    (T.DT_QINT8, np.int8, "int_val", [5, 300, -3]),
    (T.DT_QUINT16, np.uint16, "int_val", [70000]),
    (T.DT_QINT32, np.int32, "int_val", [-7]),
    (T.DT_UINT8, np.uint8, "int_val", [5, 300, -1]),
    (T.DT_INT16, np.int16, "int_val", [40000]),
    (T.DT_UINT32, np.uint32, "uint32_val", [2**32 - 1]),
    (T.DT_UINT64, np.uint64, "uint64_val", [2**64 - 1]),
    (T.DT_COMPLEX64, np.complex64, "scomplex_val", [1.0, 2.0, 3.0]),
    (T.DT_COMPLEX128, np.complex128, "dcomplex_val", [1.5, -2.5]),
]


@pytest.mark.parametrize(
    "dtype, numpy_type, field, values", EXOTIC, ids=[T.DataType.Name(e[0]) for e in EXOTIC]
)
def test_every_dtype_reads_its_field_with_cpp_conversions(dtype, numpy_type, field, values):
    message = proto(dtype=dtype, shape=(4,), **{field: values})
    reference = tensorflow_parse(message)
    assert reference.ok is True
    ours = to_ndarray(message)
    assert ours.shape == (4,)
    assert ours.dtype.itemsize == np.dtype(numpy_type).itemsize
    assert ours.tobytes() == np.ascontiguousarray(reference.value).tobytes()


# -- values ---------------------------------------------------------------------------------

VALUE_CASES = [
    pytest.param(proto(shape=(2,), float_val=[1, 2, 3]), [1.0, 2.0], id="extra-values-ignored"),
    pytest.param(proto(shape=(4,), float_val=[1, 2]), [1.0, 2.0, 2.0, 2.0], id="last-value-repeated"),
    pytest.param(proto(shape=(2, 2), float_val=[7]), [[7.0, 7.0], [7.0, 7.0]], id="one-value-fills"),
    pytest.param(proto(shape=(3,)), [0.0, 0.0, 0.0], id="no-values-zero"),
    pytest.param(proto(shape=(3,), content=b"\0\0\x80\x3f" * 3, float_val=[9]), [1.0] * 3, id="content-wins"),
    pytest.param(proto(T.DT_BOOL, (2,), content=b"\x01\x00"), [True, False], id="bool-content"),
    pytest.param(proto(T.DT_STRING, (3,), string_val=[b"a"]), [b"a", b"a", b"a"], id="string-repeated"),
    pytest.param(proto(T.DT_STRING, (2,)), [b"", b""], id="string-empty"),
    pytest.param(proto(T.DT_STRING, (2,), content=b"\x01\x02abc"), [b"a", b"bc"], id="string-content"),
    pytest.param(
        proto(T.DT_STRING, (1,), content=b"\x80\x01" + b"z" * 128), [b"z" * 128], id="varint-length"
    ),
    pytest.param(proto(T.DT_INT64, (2,), int64_val=[-(2**63)]), [-(2**63)] * 2, id="int64-min"),
]


@pytest.mark.parametrize("message, expected", VALUE_CASES)
def test_values_like_tensorflow(message, expected):
    reference = tensorflow_parse(message)
    assert reference.ok is True
    ours = to_ndarray(message)
    assert ours.tolist() == np.asarray(expected).tolist() == np.asarray(reference.value).tolist()


BAD_VALUES = [
    pytest.param(proto(shape=(3,), content=b"\0" * 5), id="content-too-short"),
    pytest.param(proto(shape=(1,), content=b"\0" * 8), id="content-too-long"),
    pytest.param(proto(T.DT_BOOL, (2,), content=b"\x01\x02"), id="bool-byte-2"),
    pytest.param(proto(T.DT_STRING, (2,), content=b"\x01\x01abc"), id="string-bytes-left-over"),
    pytest.param(proto(T.DT_STRING, (2,), content=b"\x01\x05ab"), id="string-bytes-missing"),
    pytest.param(proto(T.DT_STRING, (3,), content=b"\x00\x00"), id="string-lengths-missing"),
    pytest.param(proto(T.DT_STRING, (1,), content=b"\xff\xff\xff\xff\xff\x01"), id="varint-too-long"),
    pytest.param(proto(T.DT_STRING, (2**40,), content=b"\x00" * 8), id="string-huge-claim"),
]


@pytest.mark.parametrize("message", BAD_VALUES)
def test_bad_values_are_unparseable(message):
    if len(message.tensor_shape.dim) and message.tensor_shape.dim[0].size < 2**20:
        assert tensorflow_parse(message).ok is False
    with pytest.raises(TensorParseError):
        to_ndarray(message)


# -- responses ------------------------------------------------------------------------------

ROUND_TRIPS = [
    np.float32([[1.5, -2.0]]),
    np.float64([3.25]),
    np.int32([1, -2]),
    np.uint8([0, 255]),
    np.array([True, False]),
    np.array([b"a", b"bc"], dtype=object),
    np.float16([1.0, -0.5]),
    np.array([1.0, 3.0], dtype=ml_dtypes.bfloat16),
    np.array([0.5, -2.0], dtype=ml_dtypes.float8_e4m3fn),
    np.array([-3, 7], dtype=ml_dtypes.int4),
    np.complex64([1 + 2j, -3j]),
    np.complex128([0.5 - 1j]),
    np.uint64([2**64 - 1]),
    np.array([(5,), (-3,)], dtype=[("qint8", np.int8)]),
]


def numbers(array) -> list:
    """Values to compare across dtypes (TensorFlow and ml_dtypes store int4's -3 differently)."""
    array = np.asarray(array)
    if array.dtype == object:
        return array.tolist()
    if array.dtype.fields:
        array = array.view(array.dtype[0])
    return array.astype(np.complex128).tolist()


@pytest.mark.parametrize("array", ROUND_TRIPS, ids=lambda a: str(a.dtype))
def test_responses_are_typed_fields_tensorflow_reads_back(array):
    encoded = tensor_pb2.TensorProto.FromString(encode_tensor(array))
    assert encoded.tensor_content == b""
    reference = tensorflow_parse(encoded)
    assert reference.ok is True
    assert numbers(reference.value) == numbers(array)
    back = to_ndarray(encoded)
    assert back.dtype == array.dtype and back.tolist() == array.tolist()
