"""The one dtype table: TensorFlow's dtypes with numpy type, proto field, wire type, names,
and which of them JSON values can become.

``Tensor::FromProto`` accepts exactly the dtypes of ``tensor.cc``'s ``CASES`` list; any
other enum value (``DT_INVALID``, the ``*_REF`` types, numbers no enum names) makes the
proto unparseable. Each accepted dtype reads one typed field of the ``TensorProto``,
converting values the C++ way (an ``int_val`` of 300 in a ``DT_UINT8`` tensor wraps to
44). The dtypes numpy lacks come from ``ml_dtypes`` (bfloat16, float8, int4, ...) and,
for the quantized ones, the structured dtypes TensorFlow's Python API uses.
"""

from __future__ import annotations

from typing import NamedTuple

import ml_dtypes
import numpy as np
from tensorflow.core.framework import types_pb2

T = types_pb2


class DType(NamedTuple):
    numpy: np.dtype  # what the decoded array holds
    field: str  # the TensorProto field holding the values
    wire: np.dtype  # how that field's values are read before their bits become ``numpy``


def _quantized(name: str, base) -> np.dtype:
    # The same structured dtypes as tensorflow.python.framework.dtypes (qint8, ...).
    return np.dtype([(name, base)])


def _entry(numpy_type, field: str, wire=None) -> DType:
    numpy = np.dtype(numpy_type)
    return DType(numpy, field, np.dtype(wire) if wire is not None else numpy)


DTYPES: dict[int, DType] = {
    T.DT_FLOAT: _entry(np.float32, "float_val"),
    T.DT_DOUBLE: _entry(np.float64, "double_val"),
    T.DT_INT32: _entry(np.int32, "int_val"),
    T.DT_UINT8: _entry(np.uint8, "int_val", np.int32),
    T.DT_UINT16: _entry(np.uint16, "int_val", np.int32),
    T.DT_UINT32: _entry(np.uint32, "uint32_val"),
    T.DT_UINT64: _entry(np.uint64, "uint64_val"),
    T.DT_INT16: _entry(np.int16, "int_val", np.int32),
    T.DT_INT8: _entry(np.int8, "int_val", np.int32),
    T.DT_STRING: _entry(np.object_, "string_val"),
    T.DT_COMPLEX64: _entry(np.complex64, "scomplex_val", np.float32),
    T.DT_COMPLEX128: _entry(np.complex128, "dcomplex_val", np.float64),
    T.DT_INT64: _entry(np.int64, "int64_val"),
    T.DT_BOOL: _entry(np.bool_, "bool_val"),
    T.DT_QINT8: _entry(_quantized("qint8", np.int8), "int_val", np.int32),
    T.DT_QUINT8: _entry(_quantized("quint8", np.uint8), "int_val", np.int32),
    T.DT_QINT16: _entry(_quantized("qint16", np.int16), "int_val", np.int32),
    T.DT_QUINT16: _entry(_quantized("quint16", np.uint16), "int_val", np.int32),
    T.DT_QINT32: _entry(_quantized("qint32", np.int32), "int_val", np.int32),
    # half_val is an int32 field; the low 16 bits are the value's bits.
    T.DT_HALF: _entry(np.float16, "half_val", np.int32),
    T.DT_BFLOAT16: _entry(ml_dtypes.bfloat16, "half_val", np.int32),
    # float8_val is one `bytes` field: one byte per value.
    T.DT_FLOAT8_E5M2: _entry(ml_dtypes.float8_e5m2, "float8_val", np.uint8),
    T.DT_FLOAT8_E4M3FN: _entry(ml_dtypes.float8_e4m3fn, "float8_val", np.uint8),
    T.DT_FLOAT8_E4M3FNUZ: _entry(ml_dtypes.float8_e4m3fnuz, "float8_val", np.uint8),
    T.DT_FLOAT8_E4M3B11FNUZ: _entry(ml_dtypes.float8_e4m3b11fnuz, "float8_val", np.uint8),
    T.DT_FLOAT8_E5M2FNUZ: _entry(ml_dtypes.float8_e5m2fnuz, "float8_val", np.uint8),
    T.DT_FLOAT4_E2M1FN: _entry(ml_dtypes.float4_e2m1fn, "float8_val", np.uint8),
    # Sub-byte integers take one byte each; int_val is cut to that byte, as C++ does.
    T.DT_INT4: _entry(ml_dtypes.int4, "int_val", np.int32),
    T.DT_UINT4: _entry(ml_dtypes.uint4, "int_val", np.int32),
    T.DT_INT2: _entry(ml_dtypes.int2, "int_val", np.int32),
    T.DT_UINT2: _entry(ml_dtypes.uint2, "int_val", np.int32),
}

# Valid to TensorFlow, but values numpy cannot stand for: the emulator refuses them.
OPAQUE = frozenset({T.DT_RESOURCE, T.DT_VARIANT})

# Every dtype Tensor::FromProto accepts.
TENSORFLOW_DTYPES = frozenset(DTYPES) | OPAQUE

NUMPY_TO_DTYPE: dict[np.dtype, int] = {
    info.numpy: dtype for dtype, info in DTYPES.items() if info.numpy != np.object_
}


def dtype_name(dtype: int) -> str:
    """``DT_FLOAT``; a number no enum names comes out as TensorFlow prints it."""
    try:
        return T.DataType.Name(dtype)
    except ValueError:
        return f"unknown dtype enum ({dtype})"


def dtype_string(dtype: int) -> str:
    """``tensorflow::DataTypeString``: ``DT_FLOAT`` -> ``float``, ``DT_HALF`` -> ``half``."""
    if dtype == T.DT_INVALID:
        return "INVALID"
    try:
        return T.DataType.Name(dtype)[3:].lower()
    except ValueError:
        return f"unknown dtype enum ({dtype})"


# The dtypes a JSON value can become (the cases of AddValueToTensor in json_tensor.cc);
# their numpy types are the table's.
JSON_DTYPES = frozenset(
    {
        T.DT_FLOAT,
        T.DT_DOUBLE,
        T.DT_INT32,
        T.DT_INT16,
        T.DT_INT8,
        T.DT_UINT8,
        T.DT_INT64,
        T.DT_UINT32,
        T.DT_UINT64,
        T.DT_BOOL,
        T.DT_STRING,
    }
)


def storage(info: DType) -> np.dtype:
    """The plain integer dtype with the bits of ``info.numpy`` (for int_val/half_val)."""
    if info.numpy.itemsize == 1:
        return np.dtype(np.uint8)
    if info.numpy.itemsize == 2:
        return np.dtype(np.uint16)
    return np.dtype(np.int32)


__all__ = [
    "DTYPES",
    "JSON_DTYPES",
    "NUMPY_TO_DTYPE",
    "OPAQUE",
    "TENSORFLOW_DTYPES",
    "DType",
    "dtype_name",
    "dtype_string",
    "storage",
]
