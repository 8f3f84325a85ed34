"""``TensorProto`` <-> numpy, with TensorFlow's rules, and fast response encoding.

Requests are checked and read like ``Tensor::FromProto`` (``tensor.cc``), which TF
Serving calls for every input (``GetInputValues``) and answers ``tensor parsing error:
<alias>`` when it returns false:

* the shape must pass ``TensorShape::IsValid``: at most 254 dimensions, none negative,
  and their product below 2**63 (``unknown_rank`` is ignored, as TensorShape does);
* the dtype must be one ``Tensor::FromProto`` knows (see ``tensor_dtypes``);
* ``tensor_content``, when present, must hold exactly the shape's bytes (strings: a
  varint length per value, then the bytes; bools: only bytes 0 and 1);
* otherwise the typed ``*_val`` field is read: extra values are ignored, missing ones
  repeat the last value, and no values at all give zeros;
* a tensor that cannot be allocated is unparseable too (the allocator returns null).

Everything is checked against the claimed shape *before* anything is allocated from it.
Responses are written like ``Tensor::AsProtoField`` (TF Serving's default): typed
``*_val`` fields, so clients reading ``float_val`` work; with
``--enable_serialization_as_tensor_content`` like ``Tensor::AsProtoTensorContent``: the
tensor's bytes in ``tensor_content`` (strings as a varint length per value, then the bytes).
"""

from __future__ import annotations

import functools
import math
import os

import numpy as np
from tensorflow.core.framework import tensor_pb2, tensor_shape_pb2, types_pb2

from ..util.dtypes import DTYPES, NUMPY_TO_DTYPE, OPAQUE, TENSORFLOW_DTYPES, DType, dtype_name, storage
from ..util.errors import invalid_argument

# TensorShape::MaxDimensions() (tensor_shape.h).
MAX_DIMENSIONS = 254
# numpy's NPY_MAXDIMS: shapes TensorFlow holds but numpy cannot (see docs/emulator.md).
NUMPY_MAX_DIMENSIONS = 64
INT64_LIMIT = 2**63
# Below this a tensor is built without asking how much memory is free.
_SMALL_TENSOR_BYTES = 64 * 2**20


class TensorParseError(ValueError):
    """The proto does not describe a valid tensor (TF Serving: ``tensor parsing error``)."""


def numpy_dtype(dtype: int) -> np.dtype:
    try:
        return DTYPES[dtype].numpy
    except KeyError:
        raise TensorParseError(f"unsupported dtype {dtype_name(dtype)}") from None


def tensor_shape(shape: tensor_shape_pb2.TensorShapeProto) -> tuple[int, ...]:
    """``TensorShape::IsValid`` then the dimensions; raises TensorParseError."""
    if len(shape.dim) > MAX_DIMENSIONS:
        raise TensorParseError(f"{len(shape.dim)} dimensions, more than {MAX_DIMENSIONS}")
    sizes = tuple(d.size for d in shape.dim)
    count = 1
    for size in sizes:
        if size < 0:
            raise TensorParseError(f"negative dimension {size}")
        # MultiplyWithoutOverflow: the running product must stay an int64 (0 stays 0).
        count *= size
        if count >= INT64_LIMIT:
            raise TensorParseError(f"shape {list(sizes)} has more than 2**63-1 elements")
    return sizes


def to_ndarray(proto: tensor_pb2.TensorProto) -> np.ndarray:
    """Decode a request tensor; raise TensorParseError where ``Tensor::FromProto`` fails."""
    shape = tensor_shape(proto.tensor_shape)
    dtype = proto.dtype
    if dtype not in TENSORFLOW_DTYPES:
        raise TensorParseError(f"{dtype_name(dtype)} is not a dtype a tensor can have")
    if dtype in OPAQUE:
        raise invalid_argument(
            f"{dtype_name(dtype)} request tensors are not supported by this emulator "
            "(numpy has no value for them)"
        )
    info = DTYPES[dtype]
    count = math.prod(shape)
    if count == 0:
        values = np.empty(0, dtype=info.numpy)
    elif proto.tensor_content:
        values = _from_content(proto.tensor_content, info, count)
    else:
        _check_allocatable(count, info.numpy.itemsize)
        values = _from_field(proto, info, count)
    _check_numpy_holds(shape, info.numpy.itemsize)
    return values.reshape(shape)


def _check_numpy_holds(shape: tuple[int, ...], itemsize: int) -> None:
    """Shapes TensorFlow holds but numpy cannot are refused (docs/emulator.md says why)."""
    if len(shape) > NUMPY_MAX_DIMENSIONS:
        raise invalid_argument(
            f"Tensors of more than {NUMPY_MAX_DIMENSIONS} dimensions are not supported by this "
            f"emulator (numpy's limit); the request has one of {len(shape)}"
        )
    # numpy multiplies the non-zero dimensions and the item size even for an empty array.
    if itemsize * math.prod(size for size in shape if size) >= INT64_LIMIT:
        raise invalid_argument(
            f"Empty tensors whose other dimensions span 2**63 bytes or more are not supported by "
            f"this emulator (numpy's limit); the request has shape {list(shape)}"
        )


def _from_content(content: bytes, info: DType, count: int) -> np.ndarray:
    """``Helper<T>::Decode``: the raw bytes, in host order, exactly ``count`` values."""
    if info.numpy == np.object_:
        return np.array(_decode_string_list(content, count), dtype=object)
    if len(content) != count * info.numpy.itemsize:
        raise TensorParseError(
            f"tensor_content has {len(content)} bytes, the shape needs {count * info.numpy.itemsize}"
        )
    if info.numpy == np.bool_:
        raw = np.frombuffer(content, dtype=np.uint8)
        if (raw > 1).any():  # a bool byte other than 0 or 1 is a trap representation
            raise TensorParseError("tensor_content holds a bool that is neither 0 nor 1")
        return raw.view(np.bool_)
    return np.frombuffer(content, dtype=info.numpy)


def _decode_string_list(content: bytes, count: int) -> list[bytes]:
    """``port::DecodeStringList``: ``count`` varint32 lengths, then exactly that many bytes."""
    if count > len(content):  # every length takes at least one byte
        raise TensorParseError("tensor_content is too short for the string lengths")
    position, lengths = 0, []
    for _ in range(count):
        value, shift = 0, 0
        while True:  # GetVarint32: at most 5 bytes; bits past 32 are dropped
            if position >= len(content) or shift > 28:
                raise TensorParseError("tensor_content holds a bad string length")
            byte = content[position]
            position += 1
            value |= (byte & 0x7F) << shift
            if not byte & 0x80:
                break
            shift += 7
        lengths.append(value & 0xFFFFFFFF)
    if sum(lengths) != len(content) - position:
        raise TensorParseError("tensor_content string lengths do not add up to its size")
    strings = []
    for length in lengths:
        strings.append(content[position : position + length])
        position += length
    return strings


def _check_allocatable(count: int, itemsize: int) -> None:
    """A claimed shape too big for this machine fails like TensorFlow's allocator does."""
    wanted = count * itemsize
    if wanted >= _SMALL_TENSOR_BYTES and wanted > _available_memory():
        raise TensorParseError(f"a tensor of {wanted} bytes does not fit in memory")


def _available_memory() -> int:
    try:
        with open("/proc/meminfo", encoding="ascii") as meminfo:
            for line in meminfo:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")


def _from_field(proto: tensor_pb2.TensorProto, info: DType, count: int) -> np.ndarray:
    """``FromProtoField<T>``: the first ``count`` values, the last one repeated if short."""
    raw = getattr(proto, info.field)
    pairs = info.field in ("scomplex_val", "dcomplex_val")  # two numbers per value
    available = len(raw) // 2 if pairs else len(raw)
    take = min(available, count)
    try:
        if take == 0:
            if info.numpy == np.object_:
                return np.full(count, b"", dtype=object)
            return np.zeros(count, dtype=info.numpy)  # T(): zero bits for every dtype
        values = _read_values(raw, info, take * 2 if pairs else take)
        if take == count:
            return values
        out = np.empty(count, dtype=info.numpy)
        out[:take] = values
        out[take:] = values[-1]
        return out
    except MemoryError:
        raise TensorParseError(f"could not allocate {count} values") from None


def _read_values(raw, info: DType, n: int) -> np.ndarray:
    if info.numpy == np.object_:
        return np.array(list(raw[:n]), dtype=object)
    if info.field == "float8_val":  # bytes
        return np.frombuffer(raw, dtype=np.uint8, count=n).view(info.numpy)
    # fromiter reads the repeated field without building a Python list first.
    values = np.fromiter(raw, dtype=info.wire, count=n)
    if info.wire == info.numpy:
        return values
    if info.wire.kind == "f":  # complex: (real, imaginary) pairs
        return values.view(info.numpy)
    # int32 values cut to the value's width, then read as its bits (C++ conversion).
    return values.astype(storage(info)).view(info.numpy)


def dtype_of(array: np.ndarray) -> int:
    if array.dtype == np.object_:
        return types_pb2.DT_STRING
    try:
        return NUMPY_TO_DTYPE[array.dtype]
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
    info = DTYPES[dtype]
    target = getattr(proto, info.field)
    if dtype == types_pb2.DT_STRING:
        target.extend(v if isinstance(v, bytes) else str(v).encode() for v in flat)
    elif info.field == "float8_val":
        proto.float8_val = flat.view(np.uint8).tobytes()
    elif info.field == "half_val":  # the value's 16 bits
        target.extend(flat.view(np.uint16).astype(np.int32).tolist())
    elif info.field in ("scomplex_val", "dcomplex_val"):
        target.extend(flat.view(info.wire).tolist())
    elif info.field == "int_val":  # quantized dtypes hold one integer field
        plain = flat.view(info.numpy[0]) if info.numpy.fields else flat
        target.extend(plain.astype(np.int64).tolist())
    else:
        target.extend(flat.tolist())
    return proto.SerializeToString()


def encode_tensor_content(array: np.ndarray) -> bytes:
    """Serialized TensorProto of ``array`` in the ``AsProtoTensorContent`` form."""
    array = np.asarray(array)
    dtype = dtype_of(array)
    header = b"\x08" + _varint(dtype) + _field(2, _shape_bytes(array.shape))
    if dtype == types_pb2.DT_STRING:
        values = [v if isinstance(v, bytes) else str(v).encode() for v in array.reshape(-1)]
        content = b"".join(_varint(len(v)) for v in values) + b"".join(values)
    else:
        content = np.ascontiguousarray(array).tobytes()  # the host's (little-endian) layout, as TF's
    return header + _field(4, content) if content else header


@functools.lru_cache(maxsize=1024)
def encode_model_spec(name: str, version: int | None, signature_name: str | None) -> bytes:
    """Serialized ModelSpec: name = 1, version (Int64Value) = 2, signature_name = 3."""
    out = _field(1, name.encode())
    if version is not None:
        out += _field(2, (b"\x08" + _varint(version)) if version else b"")
    if signature_name:
        out += _field(3, signature_name.encode())
    return out


def encode_predict_response(
    outputs: dict[str, np.ndarray], model_spec: bytes, as_tensor_content: bool = False
) -> bytes:
    """Serialized PredictResponse: map<string, TensorProto> outputs = 1; ModelSpec model_spec = 2."""
    encode = encode_tensor_content if as_tensor_content else encode_tensor
    body = b"".join(
        _field(1, _field(1, alias.encode()) + _field(2, encode(array))) for alias, array in outputs.items()
    )
    return body + _field(2, model_spec)


__all__ = [
    "MAX_DIMENSIONS",
    "NUMPY_MAX_DIMENSIONS",
    "TensorParseError",
    "dtype_name",
    "dtype_of",
    "encode_model_spec",
    "encode_predict_response",
    "encode_tensor",
    "encode_tensor_content",
    "make_tensor_proto",
    "numpy_dtype",
    "tensor_shape",
    "to_ndarray",
]
