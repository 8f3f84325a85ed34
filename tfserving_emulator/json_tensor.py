"""TF Serving's REST JSON <-> tensor layer (``tensorflow_serving/util/json_tensor.cc``).

What a REST client sees of TF Serving is mostly this one file: how ``{"instances": ...}``
and ``{"inputs": ...}`` become tensors, the exact wording of every complaint about a
body, the ``{"predictions": ...}`` / ``{"outputs": ...}`` / ``{"results": ...}`` layout
and the number text (``3.0``, ``9e+06``, ``3.14159274``). The functions below follow
TF Serving 2.19-2.21 check for check, in the same order, so an emulated server answers
malformed requests with the same status and message as the real one. They are pure:
the caller supplies the signature's inputs and the model's outputs.

Three things are tuned for speed without changing results: request tensors are built
with one ``np.array`` call when the JSON is regular and its values obviously convert
(falling back to TF Serving's element-by-element walk to find and word the first
problem); long float literals headed for float32 inputs are read with correct rounding
unless a value sits so close to a float32 rounding boundary that RapidJSON's slightly
different double could round the other way; and response floats are formatted in bulk
(``%g``, with numpy deciding which values need ``%.9g``/``%.17g``). For a few float32
values (a request or answer of a row or two) the same checks run value by value in
plain Python, which beats numpy's fixed cost per call.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import functools
import itertools
import math
import operator
import re
import struct
from collections.abc import Callable, Mapping
from dataclasses import dataclass

import numpy as np
from tensorflow.core.framework import types_pb2

from . import flat_instances, rapidjson
from .errors import ServingError, invalid_argument, unimplemented
from .number_text import DROPPED_BITS, HALFWAY, SCALAR_LIMIT, decimal_format, decimal_text, decimal_texts
from .rapidjson import PrettyWriter, member_count, members, quote, string_bytes
from .tensor_proto import NUMPY_MAX_DIMENSIONS

# Error messages quote the request as pretty JSON, cut at this many bytes.
MAX_JSON_DEBUG_STRING_BYTES = 256

_FLT_MAX = float(np.finfo(np.float32).max)
_INT32 = (-(1 << 31), (1 << 31) - 1)
_INT64 = (-(1 << 63), (1 << 63) - 1)
_UINT32 = (0, (1 << 32) - 1)
_UINT64 = (0, (1 << 64) - 1)
# Largest integer a float32 / float64 holds exactly (IsLosslessDecimal's kMaxInt).
_MAX_EXACT_INT = {types_pb2.DT_FLOAT: (1 << 24) - 1, types_pb2.DT_DOUBLE: (1 << 53) - 1}

_NUMPY_TYPE = {
    types_pb2.DT_FLOAT: np.float32,
    types_pb2.DT_DOUBLE: np.float64,
    types_pb2.DT_INT32: np.int32,
    types_pb2.DT_INT16: np.int16,
    types_pb2.DT_INT8: np.int8,
    types_pb2.DT_UINT8: np.uint8,
    types_pb2.DT_INT64: np.int64,
    types_pb2.DT_UINT32: np.uint32,
    types_pb2.DT_UINT64: np.uint64,
    types_pb2.DT_BOOL: np.bool_,
    types_pb2.DT_STRING: np.object_,
}
# What a request value may become in one numpy call: every type above but strings.
_NUMERIC_DTYPES = frozenset(_NUMPY_TYPE) - {types_pb2.DT_STRING}
_SMALL_INT_TYPES = (types_pb2.DT_INT32, types_pb2.DT_INT16, types_pb2.DT_INT8, types_pb2.DT_UINT8)


def dtype_string(dtype: int) -> str:
    """tensorflow::DataTypeString: ``DT_FLOAT`` -> ``float``, ``DT_HALF`` -> ``half``."""
    if dtype == types_pb2.DT_INVALID:
        return "INVALID"
    try:
        return types_pb2.DataType.Name(dtype)[3:].lower()
    except ValueError:
        return f"unknown dtype enum ({dtype})"


# --------------------------------------------------------------------------------------
# Parsing and debug strings
# --------------------------------------------------------------------------------------
def parse_json(body: bytes) -> dict:
    """``ParseJson``: parse a request body, which must be a JSON object.

    Raises INVALID_ARGUMENT ``JSON Parse error: <what>. at offset: <n>`` (RapidJSON's
    words and byte offset), ``JSON Parse error: The document is empty`` for a 0-byte body
    and ``JSON Value: <v> Is not object`` for any other top-level value.
    """
    return _parse_object(body, exact_numbers=True)[0]


def _parse_object(body: bytes, exact_numbers: bool) -> tuple[dict, bool]:
    if not body:
        raise invalid_argument("JSON Parse error: The document is empty")
    try:
        doc, exact = (rapidjson.parse(body), True) if exact_numbers else rapidjson.parse_nearly(body)
    except rapidjson.ParseError as err:
        raise invalid_argument(f"JSON Parse error: {err.text} at offset: {err.offset}") from None
    if not isinstance(doc, dict):
        raise _format_error(doc, "Is not object")  # only objects are parsed nearly: doc is exact
    return doc, exact


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
    with contextlib.suppress(rapidjson.WriterFull):  # the rest would be cut off anyway
        rapidjson.write_value(writer, value)
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


class _ExactNumbersNeeded(Exception):
    """A nearly-parsed document is not enough: redo the request with exact doubles."""


class _OnDemand:
    """A bool worked out on first use (and only then)."""

    def __init__(self, work_out: Callable[[], bool]):
        self._work_out = work_out
        self._answer: bool | None = None

    def __bool__(self) -> bool:
        if self._answer is None:
            self._answer = bool(self._work_out())
        return self._answer


class _BodyMentionsBools(_OnDemand):
    """True when a body spells ``true`` or ``false`` anywhere; searched on first use, as
    the row-format fast path checks its leaves' types itself and never asks."""

    def __init__(self, body: bytes):
        super().__init__(lambda: b"true" in body or b"false" in body)


@dataclass
class _Conversion:
    """How request values may be turned into tensors."""

    # numpy would silently turn true/false into numbers: only relevant when present.
    may_hold_bools: bool | _OnDemand
    # Doubles came from rapidjson.parse_nearly (or flat_instances) and may differ from
    # RapidJSON's by a few ulps: only allowed where that provably cannot change the tensor.
    nearly: bool | _OnDemand


# RapidJSON's normal-precision strtod is within a few ulps of the correctly rounded double
# (5 at most over 300,000 random literals); this margin is far beyond that.
_NEARLY_ULPS = 32
# Bits (sign dropped) of the doubles whose float32 is normal and below 2**127.
_NO_SIGN = np.uint64((1 << 63) - 1)
_FLOAT32_NORMAL_BITS = (np.uint64((1023 - 126) << 52), np.uint64(((1023 + 127) << 52) - 1))
_DROPPED = np.uint64(DROPPED_BITS)
_NEAR_HALFWAY = np.uint64(HALFWAY - _NEARLY_ULPS)


def _float32_rounding_is_certain(doubles: np.ndarray) -> bool:
    """Whether every double rounds to the same float32, and passes the float range test
    the same way, as any double within ``_NEARLY_ULPS`` of it."""
    bits = np.ascontiguousarray(doubles, dtype=np.float64).view(np.uint64) & _NO_SIGN
    # Where float32 is normal and far from overflow, float32 values are the doubles whose
    # 29 lowest significand bits are 0, midpoints those reading 1000...0 (2**28): the
    # distance to a midpoint in ulps is plain integer arithmetic on the bits (unsigned
    # wrap-around folds both sides of the midpoint into one comparison).
    normal = (bits - _FLOAT32_NORMAL_BITS[0]) <= _FLOAT32_NORMAL_BITS[1] - _FLOAT32_NORMAL_BITS[0]
    near = ((bits & _DROPPED) - _NEAR_HALFWAY) <= np.uint64(2 * _NEARLY_ULPS)
    if (normal & near).any():
        return False
    if normal.all():
        return True
    unusual = ~normal & (bits != 0)  # zeros are certain
    return not unusual.any() or _float32_rounding_is_certain_at_the_edges(
        doubles.reshape(-1)[unusual.reshape(-1)]
    )


def _float32_rounding_is_certain_at_the_edges(doubles: np.ndarray) -> bool:
    """``_float32_rounding_is_certain`` for zeros, subnormals, huge values, NaN and
    infinities: the two float32 neighbours worked out with numpy."""
    magnitude = np.abs(doubles)
    relevant = np.isfinite(doubles) & (magnitude > 1e-300)  # tinier doubles all give +-0
    values = doubles[relevant]
    if not values.size:
        return True
    with np.errstate(over="ignore", invalid="ignore"):  # beyond the float range: refused later
        margin = _NEARLY_ULPS * np.spacing(np.abs(values))
        if (np.abs(np.abs(values) - _FLT_MAX) <= margin).any():
            return False
        rounded = values.astype(np.float32)
        widened = rounded.astype(np.float64)
        above = (widened + np.nextafter(rounded, np.float32(np.inf)).astype(np.float64)) / 2
        below = (widened + np.nextafter(rounded, np.float32(-np.inf)).astype(np.float64)) / 2
        near = (np.abs(values - above) <= margin) | (np.abs(values - below) <= margin)
    return not near.any()


def _fast_array(value: object, dtype: int, conversion: _Conversion) -> np.ndarray | None:
    """The tensor for ``value`` in one numpy call, or None when the careful walk must decide.

    Only accepted when the nesting is regular and every leaf is a number (or bool) that
    TF Serving would take as is, so the result equals what ``_fill_tensor`` would give.
    """
    if dtype not in _NUMERIC_DTYPES:
        return None
    try:
        array = np.array(value)
    except (ValueError, OverflowError, TypeError):
        return None  # ragged nesting, or integers numpy cannot hold
    return _checked_array(array, dtype, conversion)


def _fast_vectors(vectors: list, dtype: int, conversion: _Conversion) -> np.ndarray | None:
    """``_fast_array`` for a list of same-length lists of plain numbers (the row
    format's ``[x]`` values), or None when that is not what ``vectors`` holds.

    numpy builds such a matrix much faster from one flat list than from the nested one,
    and infers the same dtype from the same numbers.
    """
    if dtype not in _NUMERIC_DTYPES or set(map(type, vectors)) != {list}:
        return None
    lengths = set(map(len, vectors))
    if len(lengths) != 1 or 0 in lengths:
        return None
    flat = list(itertools.chain.from_iterable(vectors))
    leaf_types = set(map(type, flat))
    if not leaf_types <= {float, int}:
        return None  # nested lists, strings, bools, null: the general path decides
    if leaf_types == {float} and dtype == types_pb2.DT_FLOAT:
        array = _few_float32(flat, conversion)
        if array is not None:
            return array.reshape(len(vectors), lengths.pop())
    try:
        array = np.array(flat)
    except OverflowError:
        return None  # integers numpy cannot hold
    array = _checked_array(array, dtype, conversion, leaves_are_numbers=True)
    return None if array is None else array.reshape(len(vectors), lengths.pop())


_AS_FLOAT32 = struct.Struct("<f")
_FLOAT32_BITS = struct.Struct("<I")


def _few_float32(doubles: list[float], conversion: _Conversion) -> np.ndarray | None:
    """``_checked_array`` for a few doubles headed for a float32 input, value by value,
    when all of them are zero or of a moderate size (not beyond ``_MAX_EXACT_INT``, not
    near the ends of the float32 range); None otherwise (numpy then decides).

    Raises ``_ExactNumbersNeeded`` exactly where ``_float32_rounding_is_certain`` fails.
    """
    if len(doubles) > SCALAR_LIMIT:
        return None
    max_int = _MAX_EXACT_INT[types_pb2.DT_FLOAT]
    uncertain = False
    for value in doubles:
        magnitude = abs(value)
        if not (magnitude == 0.0 or 1e-30 < magnitude <= max_int):
            return None  # also NaN
        if conversion.nearly and magnitude:
            # The two float32 midpoints around the rounded value, each a sum of two
            # adjacent float32 values halved: exact in double, as in numpy.
            bits = _FLOAT32_BITS.unpack(_AS_FLOAT32.pack(magnitude))[0]
            rounded = _AS_FLOAT32.unpack(_FLOAT32_BITS.pack(bits))[0]
            above = (rounded + _AS_FLOAT32.unpack(_FLOAT32_BITS.pack(bits + 1))[0]) / 2
            below = (rounded + _AS_FLOAT32.unpack(_FLOAT32_BITS.pack(bits - 1))[0]) / 2
            margin = _NEARLY_ULPS * math.ulp(magnitude)
            uncertain |= abs(magnitude - above) <= margin or abs(magnitude - below) <= margin
    if uncertain:
        raise _ExactNumbersNeeded
    return np.array(doubles, dtype=np.float64).astype(np.float32)


def _checked_array(
    array: np.ndarray, dtype: int, conversion: _Conversion, leaves_are_numbers: bool = False
) -> np.ndarray | None:
    """The tensor for numpy's reading of a request value, or None if it may differ from
    TF Serving's (see ``_fast_array``). ``leaves_are_numbers``: the caller made sure no
    leaf was a bool."""
    if dtype not in _NUMERIC_DTYPES:
        return None
    kind = array.dtype.kind
    if array.size == 0:
        return array.astype(_NUMPY_TYPE[dtype]) if kind in "fiub" else None
    if dtype == types_pb2.DT_BOOL:
        return array if kind == "b" else None
    if kind not in "fiu" or (not leaves_are_numbers and conversion.may_hold_bools):
        return None  # strings/objects/None, or bools that numpy would have cast to numbers
    if dtype in _MAX_EXACT_INT:
        max_int = _MAX_EXACT_INT[dtype]
        if kind in "iu":
            if int(array.min()) < -max_int or int(array.max()) > max_int:
                return None
            return array.astype(_NUMPY_TYPE[dtype])
        # ``nearly`` last: it may be worked out on demand.
        if (dtype == types_pb2.DT_DOUBLE or not _float32_rounding_is_certain(array)) and conversion.nearly:
            raise _ExactNumbersNeeded
        # Integers and doubles look alike here; a large integral value may have been an
        # integer literal (IsLosslessDecimal refuses those), so let the walk decide.
        magnitude = np.abs(array)
        if not magnitude.max() <= max_int:  # also NaN
            big = array[~(magnitude <= max_int)]
            if not np.isfinite(big).all() or (big == np.floor(big)).any():
                return None
            if dtype == types_pb2.DT_FLOAT and (np.abs(big) > _FLT_MAX).any():
                return None
        return array.astype(_NUMPY_TYPE[dtype])
    if kind not in "iu":
        return None
    bounds = {
        types_pb2.DT_INT64: _INT64,
        types_pb2.DT_UINT32: _UINT32,
        types_pb2.DT_UINT64: _UINT64,
    }.get(dtype, _INT32)
    if int(array.min()) < bounds[0] or int(array.max()) > bounds[1]:
        return None
    if kind == "i":
        return array.astype(np.int64).astype(_NUMPY_TYPE[dtype])
    return array.astype(_NUMPY_TYPE[dtype])


def _tensor_from_value(name: str, value: object, dtype: int, conversion: _Conversion) -> np.ndarray:
    """GetDenseTensorShape + FillTensorProto for one whole (columnar) value."""
    array = _fast_array(value, dtype, conversion)
    if array is not None:
        return array
    if conversion.nearly:
        raise _ExactNumbersNeeded
    shape = _dense_shape(value)
    _check_rank(name, len(shape))
    values: list = []
    _fill_tensor(value, 0, dtype, shape, values)
    return _values_to_array(values, shape, dtype)


# --------------------------------------------------------------------------------------
# Predict request
# --------------------------------------------------------------------------------------
@dataclass
class PredictRequestJson:
    """A parsed ``:predict`` body: what FillPredictRequestFromJson puts in PredictRequest."""

    signature_name: str  # as sent; "" when absent (the server then uses serving_default)
    inputs: dict[str, np.ndarray]
    row_format: bool  # True for "instances" (answer with "predictions"), False for "inputs"


_MISSING = object()


class _OneLookup:
    """Calls get_input_infos at most once, replaying its answer (or its error)."""

    def __init__(self, get_input_infos: Callable[[str], Mapping[str, object]]):
        self._get = get_input_infos
        self._infos: Mapping[str, object] | None = None
        self.error: ServingError | None = None

    def __call__(self, signature_name: str) -> Mapping[str, object]:
        if self.error is not None:
            raise self.error
        if self._infos is None:
            try:
                self._infos = self._get(signature_name)
            except ServingError as err:
                self.error = err
                raise
        return self._infos


def fill_predict_request(
    body: bytes, get_input_infos: Callable[[str], Mapping[str, object]]
) -> PredictRequestJson:
    """``FillPredictRequestFromJson``: parse a ``:predict`` body into input tensors.

    ``get_input_infos(signature_name)`` returns the signature's inputs (alias ->
    TensorInfo) or raises ServingError; it is called once, after the body is parsed and
    its ``signature_name`` checked, exactly where TF Serving looks the model up, so the
    order of errors is TF Serving's.
    """
    lookup = _OneLookup(get_input_infos)
    flat = flat_instances.parse(body) if len(body) >= flat_instances.WORTH_IT_BYTES else None
    if flat is not None:
        request = _fill_predict_from_flat(flat, lookup)
        if request is not None:
            return request
    may_hold_bools = _BodyMentionsBools(body)
    doc, exact = _parse_object(body, exact_numbers=False)
    if not exact:
        # Long float literals were read with correct rounding: enough for float32 inputs
        # unless a value sits right at a rounding boundary. Anything else, and every
        # error message (they quote the request), is redone with RapidJSON's doubles.
        try:
            return _fill_predict(doc, lookup, _Conversion(may_hold_bools, nearly=True))
        except _ExactNumbersNeeded:
            pass
        except ServingError as err:
            if err is lookup.error:
                raise
        doc, exact = _parse_object(body, exact_numbers=True)
    return _fill_predict(doc, lookup, _Conversion(may_hold_bools, nearly=False))


def _fill_predict_from_flat(
    flat: flat_instances.FlatInstances, lookup: _OneLookup
) -> PredictRequestJson | None:
    """The request for a body ``flat_instances`` could read, or None when the general
    path must decide (a missing or extra key, a value TF Serving would refuse or that
    RapidJSON might read differently...): that path then also words the error."""
    infos = lookup(flat.signature_name)  # the body is valid: TF Serving looks up next
    if not infos or sorted(flat.keys) != sorted(infos):
        return None
    conversion = _Conversion(may_hold_bools=False, nearly=_OnDemand(lambda: flat.long_literals))
    dtypes = {infos[key].dtype for key in flat.keys}
    try:
        if len(dtypes) == 1:
            # One dtype for all (the usual case): check and convert all values at once.
            converted = _checked_array(flat.values, dtypes.pop(), conversion, leaves_are_numbers=True)
            if converted is None:
                return None
            columns = flat.columns(converted)
        else:
            columns = [
                _checked_array(column, infos[key].dtype, conversion, leaves_are_numbers=True)
                for key, column in zip(flat.keys, flat.columns(flat.values), strict=True)
            ]
    except _ExactNumbersNeeded:
        return None
    if any(column is None for column in columns):
        return None
    tensors = {
        key: np.ascontiguousarray(column) for key, column in sorted(zip(flat.keys, columns, strict=True))
    }
    return PredictRequestJson(flat.signature_name, tensors, True)


def _signature_name(doc: dict) -> str:
    """The body's ``signature_name`` ("" when absent); it must be a string."""
    signature_name = doc.get("signature_name", _MISSING)
    if signature_name is _MISSING:
        return ""
    if not isinstance(signature_name, str):
        raise invalid_argument(
            f"JSON Value: {_json_value_to_string(doc)} not formatted correctly."
            " 'signature_name' key must be a string value."
        )
    return signature_name


def _fill_predict(doc: dict, lookup: _OneLookup, conversion: _Conversion) -> PredictRequestJson:
    signature_name = _signature_name(doc)
    infos = lookup(signature_name)
    if not infos:
        raise invalid_argument(f"Failed to get input map for signature: {signature_name or 'DEFAULT'}")
    dtypes = {name: info.dtype for name, info in infos.items()}

    instances = doc.get("instances", _MISSING)
    inputs = doc.get("inputs", _MISSING)
    if instances is not _MISSING:
        if inputs is not _MISSING:
            raise _format_error(
                doc, "Not formatted correctly expecting only one of 'inputs' or 'instances' keys to exist "
            )
        if type(instances) is not list:
            raise _format_error(doc, "Expecting 'instances' to be an list/array")
        if not instances:
            raise _format_error(doc, "No values in 'instances' array")
        tensors = _guard_depth(_tensors_from_instances, instances, dtypes, conversion)
        return PredictRequestJson(signature_name, tensors, True)
    if inputs is not _MISSING:
        tensors = _guard_depth(_tensors_from_inputs, inputs, dtypes, conversion)
        return PredictRequestJson(signature_name, tensors, False)
    raise invalid_argument("Missing 'inputs' or 'instances' key")


def _guard_depth(convert: Callable, *args: object) -> dict[str, np.ndarray]:
    try:
        return convert(*args)
    except RecursionError:
        # TF Serving recurses in C++ here; a document this deep is nothing it could serve.
        raise invalid_argument("JSON Value nesting is too deep to convert to a tensor") from None
    except _TooManyDimensions as error:
        name, rank = error.args
        if rank > TF_MAX_DIMENSIONS:
            raise invalid_argument(f"tensor parsing error: {name}") from None
        raise invalid_argument(
            f"Tensors of more than {NUMPY_MAX_DIMENSIONS} dimensions are not supported by this "
            f"emulator (numpy's limit); the request has one of {rank}"
        ) from None


def _is_element_object(value: object) -> bool:
    return isinstance(value, dict) and not _is_base64_object(value)


def _tensors_from_inputs(
    value: object, dtypes: dict[str, int], conversion: _Conversion
) -> dict[str, np.ndarray]:
    """``FillTensorMapFromInputsMap`` (columnar format)."""
    if not isinstance(value, dict) or _is_base64_object(value):
        if len(dtypes) > 1:
            raise invalid_argument(
                "inputs is a plain value/list, but expecting an object as multiple input tensors"
                " required as per tensorinfo_map"
            )
        (name,) = dtypes
        return {name: _tensor_from_value(name, value, dtypes[name], conversion)}
    tensors = {}
    for name in sorted(dtypes):
        if name not in value:
            raise invalid_argument(f"Missing named input: {name} in 'inputs' object.")
        tensors[name] = _tensor_from_value(name, value[name], dtypes[name], conversion)
    return tensors


def _tensors_from_instances(
    rows: list, dtypes: dict[str, int], conversion: _Conversion
) -> dict[str, np.ndarray]:
    """``FillTensorMapFromInstancesList`` (row format): one tensor per input, the
    per-instance tensors stacked on a new dimension 0."""
    if not isinstance(rows[0], dict) and len(dtypes) > 1:
        raise invalid_argument(
            "instances is a plain list, but expecting list of objects as multiple input tensors"
            " required as per tensorinfo_map"
        )
    names = sorted(dtypes)
    elements_are_objects = _is_element_object(rows[0])
    fast = _instances_fast(rows, dtypes, names, elements_are_objects, conversion)
    if fast is not None:
        return fast
    if conversion.nearly:
        raise _ExactNumbersNeeded

    values: dict[str, list] = {}
    sizes: dict[str, int] = {}
    shapes: dict[str, tuple[int, ...]] = {}

    def add_item(item: object, name: str) -> None:
        """``AddInstanceItem``."""
        if name not in dtypes:
            raise invalid_argument(f"JSON object: does not have named input: {name}")
        shape = _dense_shape(item)
        _check_rank(name, 1 + len(shape))  # the instances add dimension 0
        count = _fill_tensor(item, 0, dtypes[name], shape, values.setdefault(name, []))
        if name not in sizes:
            sizes[name] = count
            shapes[name] = shape
        elif sizes[name] != count:
            raise invalid_argument(f"Expecting tensor size: {sizes[name]} but got: {count}")
        elif shapes[name] != shape:
            raise invalid_argument(
                f"Expecting shape {_shape_text(shapes[name])} but got: {_shape_text(shape)}"
            )

    for index, row in enumerate(rows):
        if elements_are_objects:
            if not _is_element_object(row):
                raise invalid_argument(f"Expecting object but got list at item {index} of input list")
            keys = set()
            for key, item in members(row):
                keys.add(key)
                try:
                    add_item(item, key)
                except ServingError as err:
                    raise invalid_argument(
                        f"Failed to process element: {index} key: {key} of 'instances' list."
                        f" Error: {err.status_string()}"
                    ) from None
            if keys != set(names):
                raise invalid_argument(
                    f"Failed to process element: {index} of 'instances' list."
                    f" JSON object: {_json_value_to_string(row)} keys must be equal to: {','.join(names)}"
                )
        else:
            if _is_element_object(row):
                raise invalid_argument(f"Expecting value/list but got object at item {index} of input list")
            try:
                add_item(row, names[0])
            except ServingError as err:
                raise invalid_argument(
                    f"Failed to process element: {index} of 'instances' list. Error: {err.status_string()}"
                ) from None

    tensors = {}
    for name, flat in values.items():
        shape = (len(rows), *shapes[name])
        if len(flat) != math.prod(shape):
            # Only a key repeated inside one instance gets here: TF Serving appends its
            # values twice and the TensorProto no longer matches its shape.
            raise invalid_argument(f"tensor parsing error: {name}")
        tensors[name] = _values_to_array(flat, shape, dtypes[name])
    return tensors


def _instances_fast(
    rows: list, dtypes: dict[str, int], names: list[str], elements_are_objects: bool, conversion: _Conversion
) -> dict[str, np.ndarray] | None:
    if not elements_are_objects:
        # An object among the rows makes numpy build an object array: refused there.
        array = _fast_array(rows, dtypes[names[0]], conversion)
        return None if array is None else {names[0]: array}
    if names == ["b64"]:
        return None  # {"b64": "..."} rows would be base64 values, not named inputs
    # Every row a plain dict (no repeated keys) with exactly the input names: checked
    # with C-level iteration, as this runs over every instance.
    if set(map(type, rows)) != {dict} or set(map(len, rows)) != {len(names)}:
        return None
    if set().union(*rows) != set(names):
        return None
    tensors = {}
    for name in names:
        column = list(map(operator.itemgetter(name), rows))
        array = _fast_vectors(column, dtypes[name], conversion)
        if array is None:
            array = _fast_array(column, dtypes[name], conversion)
        if array is None:
            return None
        tensors[name] = array
    return tensors


# --------------------------------------------------------------------------------------
# Classify / Regress request
# --------------------------------------------------------------------------------------
def fill_classify_regress_request(body: bytes, method: str) -> tuple[str, object]:
    """``FillClassifyRegressRequestFromJson``: parse a ``:classify``/``:regress`` body.

    Returns ``(signature_name as sent or "", tensorflow_serving.apis.input_pb2.Input)``
    with an ``example_list``, or an ``example_list_with_context`` when the body has a
    ``"context"``. ``method`` does not change anything: TF Serving's own message says
    "When method is classify" for both methods.
    """
    from tensorflow_serving.apis import input_pb2

    if method not in ("classify", "regress"):
        raise ValueError(f"method must be 'classify' or 'regress', not {method!r}")
    doc = parse_json(body)
    signature_name = _signature_name(doc)
    request_input = input_pb2.Input()
    context = doc.get("context", _MISSING)
    has_context = context is not _MISSING
    if has_context:
        _example_from_json(context, request_input.example_list_with_context.context)
    examples = doc.get("examples", _MISSING)
    if examples is _MISSING:
        raise _format_error(doc, "When method is classify, key 'examples' is expected and was not found")
    if type(examples) is not list:
        raise _format_error(doc, "Expecting 'examples' value to be an list/array")
    if not examples:
        raise _format_error(doc, "'examples' value is an empty array")
    for example in examples:
        target = (
            request_input.example_list_with_context.examples.add()
            if has_context
            else request_input.example_list.examples.add()
        )
        _example_from_json(example, target)
    return signature_name, request_input


def _example_from_json(value: object, example) -> None:
    """``MakeExampleFromJsonObject``: one JSON object -> one tf.Example."""
    from tensorflow.core.example import feature_pb2

    if not isinstance(value, dict):
        raise invalid_argument(f"Example must be JSON object but got JSON {_json_type(value)}")
    for name, content in members(value):
        feature = feature_pb2.Feature()
        for item in content if type(content) is list else [content]:
            _add_value_to_feature(item, name, feature)
        example.features.feature[name].CopyFrom(feature)


_FEATURE_KIND_NAME = {"bytes_list": "bytes", "float_list": "float", "int64_list": "int64", None: "UNKNOWN"}


def _add_value_to_feature(value: object, name: str, feature) -> None:
    """``AddValueToFeature``: ints and bools -> int64_list, doubles -> float_list,
    strings and {"b64": ...} -> bytes_list; one kind per feature."""

    def require(kind: str) -> None:
        current = feature.WhichOneof("kind")
        if current is not None and current != kind:
            raise invalid_argument(
                f"Unexpected element type in feature: {name} expecting type: {_FEATURE_KIND_NAME[current]}"
            )

    if value is None or type(value) is list or (isinstance(value, dict) and not _is_base64_object(value)):
        raise invalid_argument(f"Feature: {name} has element with unexpected JSON type: {_json_type(value)}")
    if type(value) is bool:
        require("int64_list")
        feature.int64_list.value.append(1 if value else 0)
    elif isinstance(value, dict):
        require("bytes_list")
        feature.bytes_list.value.append(_decode_base64_object(value))
    elif isinstance(value, str):
        require("bytes_list")
        feature.bytes_list.value.append(string_bytes(value))
    elif type(value) is float:
        require("float_list")
        if not _is_lossless_decimal(value, types_pb2.DT_FLOAT):
            raise _lossy_decimal_error(value, "float")
        feature.float_list.value.append(float(np.float32(value)))
    else:
        require("int64_list")
        if value > _INT64[1]:
            raise invalid_argument(f"Feature: {name} has uint64 element. Only int64 is supported.")
        feature.int64_list.value.append(value)


# --------------------------------------------------------------------------------------
# Predict response (MakeJsonFromTensors)
# --------------------------------------------------------------------------------------
_INDENT = "    "
_UNSUPPORTED_NUMPY = {
    "float16": "half",
    "complex64": "complex64",
    "complex128": "complex128",
    "uint16": "uint16",
}


def _leaf_texts(name: str, array: np.ndarray, depth: int) -> list[str]:
    """Text of every value of ``array`` (C order) as ``AddSingleValueAndAdvance`` writes
    it; ``depth`` is the writer's nesting level at the values (for {"b64": ...})."""
    flat = array.reshape(-1)
    kind = flat.dtype.kind
    if flat.dtype in (np.float32, np.float64):
        return decimal_texts(flat)
    if kind == "b":
        return ["true" if v else "false" for v in flat.tolist()]
    if kind in "iu" and flat.dtype.itemsize <= 8 and flat.dtype != np.uint16:
        return [str(v) for v in flat.tolist()]
    if kind in "OSU":
        values = flat.tolist()
        if name.endswith("_bytes"):
            inner = "\n" + _INDENT * (depth + 1)
            outer = "\n" + _INDENT * depth
            return [
                "{" + inner + '"b64": "' + base64.b64encode(_as_bytes(v)).decode("ascii") + '"' + outer + "}"
                for v in values
            ]
        return [quote(_as_bytes(v).decode("utf-8", "surrogateescape")) for v in values]
    type_name = _UNSUPPORTED_NUMPY.get(flat.dtype.name, flat.dtype.name)
    raise invalid_argument(f"Failed to write JSON value for tensor type: {type_name}")


def _as_bytes(value: object) -> bytes:
    if isinstance(value, bytes):
        return value
    if isinstance(value, str):
        return string_bytes(value)
    return bytes(value)


def _closings(shape: tuple[int, ...]) -> np.ndarray:
    """For each gap between consecutive values (C order): how many innermost arrays end."""
    count = math.prod(shape)
    gaps = np.arange(1, count)
    closing = np.zeros(count - 1, dtype=np.intp)
    step = 1
    for size in reversed(shape[1:]):
        step *= size
        closing += gaps % step == 0
    return closing


def _join(leaves: list[str], separators: list[str], shape: tuple[int, ...]) -> str:
    """The leaves with, in each gap, the separator for how many innermost arrays end there."""
    if math.prod(shape[1:]) == 1:
        return separators[len(shape) - 1].join(leaves)  # [n], [n, 1], ...: every gap alike
    parts = [""] * (2 * len(leaves) - 1)
    parts[0::2] = leaves
    parts[1::2] = np.array(separators, dtype=object)[_closings(shape)].tolist()
    return "".join(parts)


def _single_line(leaves: list[str], shape: tuple[int, ...], item_marker: str | None = None) -> str:
    """A non-empty tensor as nested single-line arrays: ``[[1, 2], [3, 4]]``.

    With ``item_marker``, the gaps between dimension-0 items use it instead of ", ".
    """
    if not shape:
        return leaves[0]
    rank = len(shape)
    separators = ["]" * c + ", " + "[" * c for c in range(rank)]
    if item_marker is not None:
        separators[rank - 1] = "]" * (rank - 1) + item_marker + "[" * (rank - 1)
    if len(leaves) == 1:
        return "[" * rank + leaves[0] + "]" * rank
    return "[" * rank + _join(leaves, separators, shape) + "]" * rank


def _multi_line(leaves: list[str], shape: tuple[int, ...], base: int) -> str:
    """A non-empty tensor as default (multi-line) arrays opened at writer depth ``base``."""
    if not shape:
        return leaves[0]
    rank = len(shape)
    depth = base + rank  # writer depth at the values

    def close(c: int) -> str:
        return "".join("\n" + _INDENT * (depth - j) + "]" for j in range(1, c + 1))

    def reopen(c: int) -> str:
        return "".join("\n" + _INDENT * (depth - c + j) + "[" for j in range(c))

    separators = [close(c) + "," + reopen(c) + "\n" + _INDENT * depth for c in range(rank)]
    head = "[" + "".join("\n" + _INDENT * (base + j) + "[" for j in range(1, rank)) + "\n" + _INDENT * depth
    if len(leaves) == 1:
        return head + leaves[0] + close(rank)
    return head + _join(leaves, separators, shape) + close(rank)


def _empty_tensor_text(shape: tuple[int, ...], single_line: bool, base: int) -> str:
    """Text of a tensor without values (some dimension is 0): only brackets, whatever
    the dtype, since ``AddTensorValues`` never reaches a value. ``base`` is the writer
    depth where the outermost array opens."""

    def text(dim: int, depth: int) -> str:
        size = shape[dim]
        if size == 0:
            return "[]"
        child = text(dim + 1, depth + 1)
        if single_line:
            return "[" + ", ".join([child] * size) + "]"
        inner = "\n" + _INDENT * (depth + 1)
        return "[" + inner + ("," + inner).join([child] * size) + "\n" + _INDENT * depth + "]"

    return text(0, base)


# Layouts of a non-empty tensor: "single" line, "items" (single line, "\0" between the
# dimension-0 items) or "multi"-line opened at writer depth ``base``.
def _layout(leaves: list[str], shape: tuple[int, ...], style: str, base: int) -> str:
    if style == "multi":
        return _multi_line(leaves, shape, base)
    return _single_line(leaves, shape, item_marker="\0" if style == "items" else None)


# A layout holding the same % conversion everywhere, kept: answers of one shape repeat it.
_cached_layout = functools.lru_cache(maxsize=64)(
    lambda spec, shape, style, base: _layout([spec] * math.prod(shape), shape, style, base)
)
_CACHED_LAYOUT_MAX_VALUES = 10_000


def _tensor_text(name: str, array: np.ndarray, depth: int, style: str, base: int = 0) -> str:
    """A non-empty tensor in ``style``; ``depth`` as for ``_leaf_texts``.

    Float values are written by one ``%`` on the layout filled with their conversions.
    """
    if array.dtype not in (np.float32, np.float64):
        return _layout(_leaf_texts(name, array, depth), array.shape, style, base)
    specs, arguments = decimal_format(array)
    if not isinstance(specs, str):
        layout = _layout(specs, array.shape, style, base)
    elif array.size <= _CACHED_LAYOUT_MAX_VALUES:
        layout = _cached_layout(specs, array.shape, style, base)
    else:
        layout = _layout([specs] * array.size, array.shape, style, base)
    return layout % arguments if arguments else layout


def make_predict_response(outputs: Mapping[str, np.ndarray], row_format: bool) -> bytes:
    """``MakeJsonFromTensors``: ``{"predictions": ...}`` (row) or ``{"outputs": ...}``.

    One output drops its name; several give a list of objects (row) or one object
    (columnar), names in sorted order. Row format needs dimension 0 on every output,
    the same for all of them.
    """
    if not outputs:
        raise invalid_argument("Cannot convert empty tensor map to JSON")
    names = sorted(outputs)
    arrays = {name: np.asarray(outputs[name]) for name in names}
    text = _row_json(names, arrays) if row_format else _columnar_json(names, arrays)
    return string_bytes(text)


def _row_json(names: list[str], arrays: dict[str, np.ndarray]) -> str:
    batch = -1
    for name in names:
        shape = arrays[name].shape
        if not shape:
            raise invalid_argument(f"Tensor name: {name} has no shape information ")
        if batch >= 0 and shape[0] != batch:
            raise invalid_argument(
                f"Tensor name: {name} has inconsistent batch size: {shape[0]} expecting: {batch}"
            )
        batch = shape[0]
    head = '{\n    "predictions": ['
    if batch == 0:
        return head + "]\n}"
    if len(names) == 1:
        array = arrays[names[0]]
        if array.size == 0:
            body = _empty_tensor_text(array.shape, True, 1)[1:-1]
        else:
            body = _tensor_text(names[0], array, 1 + array.ndim, "single")[1:-1]
        return head + body + "\n    ]\n}"
    # Several outputs: one object per batch item, each value in single-line form.
    columns = []
    for name in names:
        array = arrays[name]
        if array.ndim == 1:
            items = _leaf_texts(name, array, 3)
        elif array.size == 0:
            items = [_empty_tensor_text(array.shape[1:], True, 3)] * batch
        else:
            items = _tensor_text(name, array, 3 + array.ndim - 1, "items")[1:-1].split("\0")
        columns.append((f"\n            {quote(name)}: ", items))
    # One %-template per batch item, filled from the columns in C.
    template = (
        "\n        {" + ",".join(prefix.replace("%", "%%") + "%s" for prefix, _ in columns) + "\n        }"
    )
    objects = map(template.__mod__, zip(*(items for _, items in columns), strict=True))
    return head + ",".join(objects) + "\n    ]\n}"


def _columnar_json(names: list[str], arrays: dict[str, np.ndarray]) -> str:
    def tensor_text(name: str, base: int) -> str:
        array = arrays[name]
        if array.ndim and array.size == 0:
            return _empty_tensor_text(array.shape, False, base)
        return _tensor_text(name, array, base + array.ndim, "multi", base)

    if len(names) == 1:
        return '{\n    "outputs": ' + tensor_text(names[0], 1) + "\n}"
    fields = ",".join(f"\n        {quote(name)}: " + tensor_text(name, 2) for name in names)
    return '{\n    "outputs": {' + fields + "\n    }\n}"


# --------------------------------------------------------------------------------------
# Classify / Regress response, errors
# --------------------------------------------------------------------------------------
def make_classify_response(result) -> bytes:
    """``MakeJsonFromClassificationResult``: ``{"results": [[["label", score], ...], ...]}``."""
    if not result.classifications:
        raise invalid_argument("Cannot convert empty ClassificationResults to JSON")
    writer = PrettyWriter()
    writer.start_object()
    writer.key("results")
    writer.start_array()
    for classifications in result.classifications:
        writer.single_line_arrays = True
        writer.start_array()
        for item in classifications.classes:
            writer.start_array()
            writer.string(item.label)
            writer.raw_value(decimal_text(item.score, np.float32))
            writer.end_array()
        writer.end_array()
        writer.single_line_arrays = False
    writer.end_array()
    writer.end_object()
    return string_bytes(writer.text())


def make_regress_response(result) -> bytes:
    """``MakeJsonFromRegressionResult``: ``{"results": [value, ...]}``."""
    if not result.regressions:
        raise invalid_argument("Cannot convert empty RegressionResults to JSON")
    writer = PrettyWriter()
    writer.start_object()
    writer.key("results")
    writer.single_line_arrays = True
    writer.start_array()
    for text in decimal_texts(np.array([r.value for r in result.regressions], dtype=np.float32)):
        writer.raw_value(text)
    writer.end_array()
    writer.end_object()
    return string_bytes(writer.text())


def make_error_body(message: str) -> bytes:
    """``MakeJsonFromStatus``: ``{"error": message}`` as RapidJSON's PrettyWriter writes it."""
    writer = PrettyWriter()
    writer.start_object()
    writer.key("error")
    writer.string(message)
    writer.end_object()
    return string_bytes(writer.text())


__all__ = [
    "MAX_JSON_DEBUG_STRING_BYTES",
    "PredictRequestJson",
    "dtype_string",
    "fill_classify_regress_request",
    "fill_predict_request",
    "make_classify_response",
    "make_error_body",
    "make_predict_response",
    "make_regress_response",
    "parse_json",
]
