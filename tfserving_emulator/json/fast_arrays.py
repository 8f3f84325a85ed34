"""Request tensors in one numpy call, where that provably gives what the element walk gives.

The speed code of the JSON layer, apart from the faithful port in ``tensor_values``:
one ``np.array`` call when the JSON is regular and its values obviously convert
(falling back to TF Serving's element-by-element walk to find and word the first
problem), and float32 inputs from correctly rounded doubles unless a value sits so
close to a float32 rounding boundary that RapidJSON's slightly different double could
round the other way. For a few values the same checks run in plain Python."""

from __future__ import annotations

import itertools
import math
import struct
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from tensorflow.core.framework import types_pb2

from .number_text import DROPPED_BITS, HALFWAY, SCALAR_LIMIT
from .tensor_values import (
    _FLT_MAX,
    _INT32,
    _INT64,
    _MAX_EXACT_INT,
    _NUMERIC_DTYPES,
    _NUMPY_TYPE,
    _UINT32,
    _UINT64,
    _check_rank,
    _dense_shape,
    _fill_tensor,
    _values_to_array,
)


class _ExactNumbersNeeded(Exception):
    """The fast path's correctly rounded doubles are not enough: it returns None and the
    exact reader reads the body."""


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
    # Doubles came from flat_instances (correctly rounded) and may differ from
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
