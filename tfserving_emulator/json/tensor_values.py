"""JSON values -> tensor values, as ``tensorflow_serving/util/json_tensor.cc`` does it.

``ParseJson`` (``parse_json``), the debug strings error messages quote, and
``AddValueToTensor`` and friends: every check on a request value, in TF Serving's
order and with its words. The request modules build on these; the speed code that
skips them when it provably may is in ``fast_arrays``."""

from __future__ import annotations

import binascii
import contextlib
import math
import re

import numpy as np
from tensorflow.core.framework import types_pb2

from ..grpc.tensor_proto import NUMPY_MAX_DIMENSIONS
from ..util.dtypes import DTYPES, JSON_DTYPES, dtype_string
from ..util.errors import ServingError, invalid_argument, unimplemented
from .number_text import decimal_text
from .rapidjson_document import ParseError, member_count, string_bytes
from .rapidjson_reader import parse
from .rapidjson_writer import PrettyWriter, WriterFull, write_value

# Error messages quote the request as pretty JSON, cut at this many bytes.
MAX_JSON_DEBUG_STRING_BYTES = 256

_FLT_MAX = float(np.finfo(np.float32).max)
_INT32 = (-(1 << 31), (1 << 31) - 1)
_INT64 = (-(1 << 63), (1 << 63) - 1)
_UINT32 = (0, (1 << 32) - 1)
_UINT64 = (0, (1 << 64) - 1)
# Largest integer a float32 / float64 holds exactly (IsLosslessDecimal's kMaxInt).
_MAX_EXACT_INT = {types_pb2.DT_FLOAT: (1 << 24) - 1, types_pb2.DT_DOUBLE: (1 << 53) - 1}

_NUMPY_TYPE = {dtype: DTYPES[dtype].numpy.type for dtype in JSON_DTYPES}
# What a request value may become in one numpy call: every type above but strings.
_NUMERIC_DTYPES = frozenset(_NUMPY_TYPE) - {types_pb2.DT_STRING}
_SMALL_INT_TYPES = (types_pb2.DT_INT32, types_pb2.DT_INT16, types_pb2.DT_INT8, types_pb2.DT_UINT8)


# --------------------------------------------------------------------------------------
# Parsing and debug strings
# --------------------------------------------------------------------------------------
def parse_json(body: bytes) -> dict:
    """``ParseJson``: parse a request body, which must be a JSON object.

    Raises INVALID_ARGUMENT ``JSON Parse error: <what>. at offset: <n>`` (RapidJSON's
    words and byte offset), ``JSON Parse error: The document is empty`` for a 0-byte body
    and ``JSON Value: <v> Is not object`` for any other top-level value.
    """
    if not body:
        raise invalid_argument("JSON Parse error: The document is empty")
    try:
        doc = parse(body)
    except ParseError as err:
        raise invalid_argument(f"JSON Parse error: {err.text} at offset: {err.offset}") from None
    if not isinstance(doc, dict):
        raise _format_error(doc, "Is not object")
    return doc


def _json_value_to_string(value: object) -> str:
    """``JsonValueToString``: PrettyWriter text with single-line arrays, cut at 256 bytes.

    A top-level double is written like a response number (through ``WriteDecimal``,
    as float when it fits one); anything else through RapidJSON's own writer, which
    gives up at the first NaN or infinity nested inside.
    """
    if type(value) is float:
        if -3.4028234e38 <= value <= 3.4028234e38:  # Value::IsFloat()
            return decimal_text(float(np.float32(value)), np.float32)
        return decimal_text(value, np.float64)
    writer = PrettyWriter(single_line_arrays=True, limit=MAX_JSON_DEBUG_STRING_BYTES)
    with contextlib.suppress(WriterFull):  # the rest would be cut off anyway
        write_value(writer, value)
    raw = string_bytes(writer.text())[:MAX_JSON_DEBUG_STRING_BYTES]
    return raw.decode("utf-8", "surrogateescape")


def _json_type(value: object) -> str:
    if value is None:
        return "Null"
    if value is True:
        return "True"
    if value is False:
        return "False"
    if isinstance(value, dict):
        return "Object"
    if isinstance(value, list):
        return "Array"
    if isinstance(value, str):
        return "String"
    return "Number"


def _format_error(value: object, *parts: object) -> ServingError:
    return invalid_argument(f"JSON Value: {_json_value_to_string(value)} " + "".join(map(str, parts)))


def _type_error(value: object, dtype: int) -> ServingError:
    return invalid_argument(
        f"JSON Value: {_json_value_to_string(value)} Type: {_json_type(value)}"
        f" is not of expected type: {dtype_string(dtype)}"
    )


def _lossy_decimal_error(value: object, target: str) -> ServingError:
    return invalid_argument(
        f"Cannot convert JSON value: {_json_value_to_string(value)} to {target} without loss of precision."
    )


# --------------------------------------------------------------------------------------
# JSON values -> tensor values (AddValueToTensor and friends)
# --------------------------------------------------------------------------------------
def _is_number(value: object) -> bool:
    return type(value) is int or type(value) is float


def _int_in(value: object, bounds: tuple[int, int]) -> bool:
    return type(value) is int and bounds[0] <= value <= bounds[1]


def _is_lossless_decimal(value: int | float, dtype: int) -> bool:
    """IsLosslessDecimal<float|double>: integers must be exactly representable, doubles
    must be within the float range (always true for double). Non-finite values pass."""
    max_int = _MAX_EXACT_INT[dtype]
    if type(value) is int:
        if value >= 0:
            return value <= max_int
        # std::abs(INT64_MIN) overflows and stays negative, so it passes the test.
        return value == _INT64[0] or -value <= max_int
    if not math.isfinite(value):
        return True
    return dtype == types_pb2.DT_DOUBLE or -_FLT_MAX <= value <= _FLT_MAX


def _is_base64_object(value: object) -> bool:
    """``{"b64": "<string>"}`` and nothing else."""
    return (
        isinstance(value, dict)
        and member_count(value) == 1
        and "b64" in value
        and isinstance(value["b64"], str)
    )


_BASE64_ALPHABET = frozenset(b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/")
_ASCII_SPACE = frozenset(b" \t\n\v\f\r")
_CANONICAL_BASE64 = re.compile(rb"(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?")


def _base64_unescape(text: bytes) -> bytes | None:
    """absl::Base64Unescape: standard alphabet; padding optional but exact when present
    ('=' or '.'); whitespace anywhere is skipped; leftover bits are ignored."""
    if _CANONICAL_BASE64.fullmatch(text):
        return binascii.a2b_base64(text)
    data = bytearray()
    pos = 0
    while pos < len(text):
        c = text[pos]
        if c in _BASE64_ALPHABET:
            data.append(c)
        elif c in (0x3D, 0x2E):  # '=' or '.' starts the padding
            break
        elif c not in _ASCII_SPACE:
            return None
        pos += 1
    leftover = len(data) % 4
    if leftover == 1:
        return None
    equals = 0
    for c in text[pos:]:
        if c in (0x3D, 0x2E):
            equals += 1
        elif c not in _ASCII_SPACE:
            return None
    if equals not in (0, {0: 0, 2: 2, 3: 1}[leftover]):
        return None
    if leftover:
        data += b"A" * (4 - leftover)  # decode whole groups, then drop the padding bytes
    decoded = binascii.a2b_base64(bytes(data))
    return decoded[: len(decoded) - {0: 0, 2: 2, 3: 1}[leftover]]


def _decode_base64_object(value: object) -> bytes:
    if not _is_base64_object(value):
        raise invalid_argument(
            f"JSON Value: {_json_value_to_string(value)} not formatted correctly for base64 data"
        )
    decoded = _base64_unescape(string_bytes(value["b64"]))
    if decoded is None:
        raise invalid_argument("Unable to base64 decode")
    return decoded


def _convert_value(value: object, dtype: int) -> object:
    """``AddValueToTensor`` for one non-object leaf."""
    if dtype in (types_pb2.DT_FLOAT, types_pb2.DT_DOUBLE):
        if not _is_number(value):
            raise _type_error(value, dtype)
        if not _is_lossless_decimal(value, dtype):
            raise _lossy_decimal_error(value, "float" if dtype == types_pb2.DT_FLOAT else "double")
        return float(value)
    if dtype in _SMALL_INT_TYPES:
        ok = _int_in(value, _INT32)
    elif dtype == types_pb2.DT_STRING:
        if not isinstance(value, str):
            raise _type_error(value, dtype)
        return string_bytes(value)
    elif dtype == types_pb2.DT_INT64:
        ok = _int_in(value, _INT64)
    elif dtype == types_pb2.DT_BOOL:
        ok = type(value) is bool
    elif dtype == types_pb2.DT_UINT32:
        ok = _int_in(value, _UINT32)
    elif dtype == types_pb2.DT_UINT64:
        ok = _int_in(value, _UINT64)
    else:
        raise unimplemented(
            f"Conversion of JSON Value: {_json_value_to_string(value)} to type: {dtype_string(dtype)}"
        )
    if not ok:
        raise _type_error(value, dtype)
    return value


def _dense_shape(value: object) -> tuple[int, ...]:
    """``GetDenseTensorShape``: the shape implied by the first element at every level."""
    shape = []
    while type(value) is list:
        shape.append(len(value))
        if not value:
            break
        value = value[0]
    return tuple(shape)


# TensorFlow holds 254 dimensions (TensorShape::MaxDimensions); beyond them TF Serving's
# Tensor::FromProto fails with "tensor parsing error: <alias>". The emulator's tensors are
# numpy arrays, which hold fewer: from 65 to 254 dimensions it refuses as the gRPC side
# does (a deliberate difference, docs/emulator.md).
TF_MAX_DIMENSIONS = 254


class _TooManyDimensions(Exception):
    """Raised past the element checks (which wrap their errors), as FromProto fails after them."""


def _check_rank(name: str, rank: int) -> None:
    if rank > NUMPY_MAX_DIMENSIONS:
        raise _TooManyDimensions(name, rank)


def _fill_tensor(value: object, level: int, dtype: int, shape: tuple[int, ...], out: list) -> int:
    """``FillTensorProto``: check ``value`` against ``shape``, append its leaves to ``out``,
    return how many were added."""
    rank = len(shape)
    if type(value) is not list:
        if level != rank:
            raise invalid_argument(
                f"JSON Value: {_json_value_to_string(value)} found at incorrect level: {level + 1}"
                f" in the JSON DOM. Expected at level: {rank}"
            )
        if isinstance(value, dict):
            if dtype != types_pb2.DT_STRING:
                raise _type_error(value, dtype)
            out.append(_decode_base64_object(value))
        else:
            out.append(_convert_value(value, dtype))
        return 1
    if level >= rank:
        raise invalid_argument(f"Encountered list at unexpected level: {level} expected < {rank}")
    if len(value) != shape[level]:
        raise invalid_argument(
            f"Encountered list at unexpected size: {len(value)} at level: {level}"
            f" expected size: {shape[level]}"
        )
    count = 0
    for item in value:
        count += _fill_tensor(item, level + 1, dtype, shape, out)
    return count


def _values_to_array(values: list, shape: tuple[int, ...], dtype: int) -> np.ndarray:
    if dtype == types_pb2.DT_STRING:
        array = np.empty(len(values), dtype=object)
        array[:] = values
        return array.reshape(shape)
    if dtype in (types_pb2.DT_FLOAT, types_pb2.DT_DOUBLE):
        # GetFloat() is static_cast<float>(GetDouble()): round the double to nearest.
        return np.array(values, dtype=np.float64).astype(_NUMPY_TYPE[dtype]).reshape(shape)
    if dtype in _SMALL_INT_TYPES:
        # int_val holds an int32; the tensor keeps its low bits (static_cast).
        return np.array(values, dtype=np.int64).astype(_NUMPY_TYPE[dtype]).reshape(shape)
    return np.array(values, dtype=_NUMPY_TYPE[dtype]).reshape(shape)


def _shape_text(shape: tuple[int, ...]) -> str:
    return "[" + ",".join(map(str, shape)) + "]"
