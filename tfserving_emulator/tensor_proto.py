"""``TensorProto`` <-> numpy, with TensorFlow's rules, and fast response encoding.

Requests are parsed like ``Tensor::FromProto``: ``tensor_content`` when present, else
the typed ``*_val`` field, where fewer values than the shape needs are padded with the
last one (a single value fills the tensor) and more values are an error. Responses
are written like ``Tensor::AsProtoField`` (TF Serving's default): typed ``*_val``
fields, never ``tensor_content``, so clients reading ``float_val`` work.
"""

from __future__ import annotations

import functools
import math

import numpy as np
from tensorflow.core.framework import tensor_pb2, tensor_shape_pb2, types_pb2

# dtype enum -> (numpy dtype, TensorProto field holding the values)
_DTYPES = {
    types_pb2.DT_FLOAT: (np.float32, "float_val"),
    types_pb2.DT_DOUBLE: (np.float64, "double_val"),
    types_pb2.DT_INT32: (np.int32, "int_val"),
    types_pb2.DT_INT16: (np.int16, "int_val"),
    types_pb2.DT_INT8: (np.int8, "int_val"),
    types_pb2.DT_UINT8: (np.uint8, "int_val"),
    types_pb2.DT_UINT16: (np.uint16, "int_val"),
    types_pb2.DT_INT64: (np.int64, "int64_val"),
    types_pb2.DT_UINT32: (np.uint32, "uint32_val"),
    types_pb2.DT_UINT64: (np.uint64, "uint64_val"),
    types_pb2.DT_BOOL: (np.bool_, "bool_val"),
    types_pb2.DT_HALF: (np.float16, "half_val"),
    types_pb2.DT_STRING: (np.object_, "string_val"),
}
_NUMPY_TO_DTYPE = {
    np.dtype(np_type): dtype for dtype, (np_type, _) in _DTYPES.items() if np_type is not np.object_
}


class TensorParseError(ValueError):
    """The proto does not describe a valid tensor (TF Serving: ``tensor parsing error``)."""


def dtype_name(dtype: int) -> str:
    return types_pb2.DataType.Name(dtype)


def numpy_dtype(dtype: int) -> np.dtype:
    try:
        return np.dtype(_DTYPES[dtype][0])
    except KeyError:
        raise TensorParseError(f"unsupported dtype {dtype_name(dtype)}") from None


def to_ndarray(proto: tensor_pb2.TensorProto) -> np.ndarray:
    """Decode a request tensor; raise TensorParseError where ``Tensor::FromProto`` fails."""
    if proto.dtype not in _DTYPES:
        raise TensorParseError(f"unsupported dtype {proto.dtype}")
    np_type, field = _DTYPES[proto.dtype]
    shape_proto = proto.tensor_shape
    if shape_proto.unknown_rank:
        raise TensorParseError("unknown rank")
    shape = tuple(d.size for d in shape_proto.dim)
    if any(size < 0 for size in shape):
        raise TensorParseError("negative dimension")
    count = math.prod(shape)

    if proto.dtype == types_pb2.DT_STRING:
        values = list(proto.string_val)
        return _fill(
            np.array(values, dtype=object) if values else np.array([], dtype=object), count, shape, b""
        )

    if proto.tensor_content:
        dtype = np.dtype(np_type).newbyteorder("<")
        if len(proto.tensor_content) != count * dtype.itemsize:
            raise TensorParseError("tensor_content size does not match the shape")
        return np.frombuffer(proto.tensor_content, dtype=dtype).astype(np_type, copy=False).reshape(shape)

    raw = getattr(proto, field)
    if proto.dtype == types_pb2.DT_HALF:
        values = np.array(raw, dtype=np.uint16).view(np.float16)
    else:
        # fromiter reads the repeated field without building a Python list first.
        values = np.fromiter(raw, dtype=np_type, count=len(raw))
    return _fill(values, count, shape, np_type(0))


def _fill(values: np.ndarray, count: int, shape: tuple[int, ...], zero) -> np.ndarray:
    n = values.shape[0]
    if n > count:
        raise TensorParseError("more values than the shape holds")
    if n == count:
        return values.reshape(shape)
    # Fewer values: the rest repeat the last one (or zero when none were given).
    out = np.empty(count, dtype=values.dtype)
    out[:n] = values
    out[n:] = values[-1] if n else zero
    return out.reshape(shape)


def dtype_of(array: np.ndarray) -> int:
    if array.dtype == np.object_:
        return types_pb2.DT_STRING
    try:
        return _NUMPY_TO_DTYPE[array.dtype]
    except KeyError:
        raise TensorParseError(f"no TensorFlow dtype for numpy {array.dtype}") from None


def make_tensor_proto(array: np.ndarray) -> tensor_pb2.TensorProto:
    """Encode a tensor with typed fields (``AsProtoField``)."""
    return tensor_pb2.TensorProto.FromString(encode_tensor(array))


# -- hand-written wire encoding ------------------------------------------------------------
# Building a 100,000-value float_val through the protobuf object API costs milliseconds;
# writing the packed field directly costs a memcpy. The format is protobuf's wire format:
# tag = field_number << 3 | wire_type (0 varint, 1 fixed64, 2 length-delimited, 5 fixed32).


_SMALL_VARINTS = [bytes([i]) for i in range(128)]


def _varint(value: int) -> bytes:
    if 0 <= value < 128:
        return _SMALL_VARINTS[value]
    out = bytearray()
    value &= (1 << 64) - 1
    while True:
        bits = value & 0x7F
        value >>= 7
        if value:
            out.append(bits | 0x80)
        else:
            out.append(bits)
            return bytes(out)


def _field(number: int, payload: bytes) -> bytes:
    """A length-delimited field."""
    return _varint(number << 3 | 2) + _varint(len(payload)) + payload


def _shape_bytes(shape: tuple[int, ...]) -> bytes:
    # TensorShapeProto: repeated Dim dim = 2; Dim.size = 1 (varint).
    return b"".join(_field(2, (b"\x08" + _varint(size)) if size else b"") for size in shape)


def encode_tensor(array: np.ndarray) -> bytes:
    """Serialized TensorProto of ``array`` in the ``AsProtoField`` form."""
    array = np.asarray(array)
    dtype = dtype_of(array)
    header = b"\x08" + _varint(dtype) + _field(2, _shape_bytes(array.shape))
    if dtype == types_pb2.DT_FLOAT:
        return header + _field(5, array.astype("<f4", copy=False).tobytes()) if array.size else header
    if dtype == types_pb2.DT_DOUBLE:
        return header + _field(6, array.astype("<f8", copy=False).tobytes()) if array.size else header
    proto = tensor_pb2.TensorProto(dtype=dtype)
    proto.tensor_shape.CopyFrom(
        tensor_shape_pb2.TensorShapeProto(
            dim=[tensor_shape_pb2.TensorShapeProto.Dim(size=s) for s in array.shape]
        )
    )
    flat = array.reshape(-1)
    field = _DTYPES[dtype][1]
    if dtype == types_pb2.DT_HALF:
        getattr(proto, field).extend(flat.view(np.uint16).astype(np.int32).tolist())
    elif dtype == types_pb2.DT_STRING:
        getattr(proto, field).extend(v if isinstance(v, bytes) else str(v).encode() for v in flat)
    else:
        getattr(proto, field).extend(flat.tolist())
    return proto.SerializeToString()


@functools.lru_cache(maxsize=1024)
def encode_model_spec(name: str, version: int | None, signature_name: str | None) -> bytes:
    """Serialized ModelSpec: name = 1, version (Int64Value) = 2, signature_name = 3."""
    out = _field(1, name.encode())
    if version is not None:
        out += _field(2, (b"\x08" + _varint(version)) if version else b"")
    if signature_name:
        out += _field(3, signature_name.encode())
    return out


def encode_predict_response(outputs: dict[str, np.ndarray], model_spec: bytes) -> bytes:
    """Serialized PredictResponse: map<string, TensorProto> outputs = 1; ModelSpec model_spec = 2."""
    body = b"".join(
        _field(1, _field(1, alias.encode()) + _field(2, encode_tensor(array)))
        for alias, array in outputs.items()
    )
    return body + _field(2, model_spec)


__all__ = [
    "TensorParseError",
    "dtype_name",
    "encode_model_spec",
    "encode_predict_response",
    "encode_tensor",
    "make_tensor_proto",
    "numpy_dtype",
    "to_ndarray",
]
