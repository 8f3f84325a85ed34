"""TF Serving's number text: ``WriteDecimal`` in ``tensorflow_serving/util/json_tensor.cc``.

A float or double in a REST answer is written as ``absl::StrCat`` writes it: ``%g`` (six
significant digits) when that text reads back as the same value, else ``%.9g`` (float) or
``%.17g`` (double); ``.0`` is added to a text with neither '.' nor 'e' (``3.0``,
``999999.0``); NaN and the infinities are the bare tokens ``NaN``, ``Infinity`` and
``-Infinity``. So ``3.14159274`` for float32(pi) but ``0.5`` and ``9e+06``.

Which values need the long form is worked out without formatting anything twice:

* a few float32 values (a request of a row or two): one by one in plain Python, where
  numpy's fixed cost per call would dominate;
* float32 arrays whose values are zero or between 1e-7 and 1e6 (model outputs, nearly
  always): with a handful of numpy operations on the whole array, then every value is
  formatted by one ``%`` operation on one format string;
* anything else: format with ``%g`` and read back, value by value.

``decimal_format`` gives the format (one ``%`` conversion or literal text per value) and
its arguments, so that a caller can lay out a whole tensor in the same single ``%``.
"""

from __future__ import annotations

import math
import struct
from collections.abc import Callable

import numpy as np

from .rapidjson_numbers import POW10_ARRAY

# Up to this many values, per-value Python beats numpy's fixed cost per call.
SCALAR_LIMIT = 64
_AS_FLOAT32 = struct.Struct("<f")
# Float32 values this far from the ends of the normal range have a 6-digit decimal
# that reads back as a double inside the normal float32 range too.
_QUICK_FLOAT32_RANGE = (1e-37, 3.4e38)
# A double exactly halfway between two normal float32 values: of its 52 fraction bits,
# the 29 that float32 drops read 1000...0.
DROPPED_BITS, HALFWAY = (1 << 29) - 1, 1 << 28
_DOUBLE_STRUCT = struct.Struct("<d")
_DOUBLE_BITS = struct.Struct("<Q")
# The bulk path's range: |v| * 10**k is exact in a double for a float32 v and k <= 12,
# which covers six significant digits of every value from 1e-7 up to 1e6.
_BULK_RANGE = (1e-7, 1e6)
# Per value, by (reads back from six digits) * 2 + (whole number): its % conversion.
_FLOAT32_SPECS = np.array(["%.9g", "%.9g.0", "%g", "%g.0"], dtype=object)


def decimal_text(value: float, precision_type: type) -> str:
    """``WriteDecimal`` for one value (``value`` already rounded to ``precision_type``)."""
    return decimal_texts(np.array([value], dtype=precision_type))[0]


def decimal_texts(values: np.ndarray) -> list[str]:
    """``WriteDecimal`` for every value of a float32 or float64 array (flattened)."""
    specs, arguments = decimal_format(values)
    if isinstance(specs, str):
        specs = [specs] * values.size
    if not arguments:
        return list(specs)
    return ("\0".join(specs) % arguments).split("\0")


def decimal_format(values: np.ndarray) -> tuple[str | list[str], tuple[float, ...]]:
    """``(specs, arguments)`` for ``values`` (flattened): per value a ``%`` conversion or
    a literal text (never holding '%'), or one str when every value has the same
    conversion; the arguments fill the conversions in order."""
    flat = values.reshape(-1)
    if flat.dtype == np.float32:
        texts = _float32_texts_quick(flat)
        if texts is not None:
            return texts, ()
        codes = _float32_codes(flat)
        if codes is not None:
            first = int(codes[0])
            arguments = tuple(flat.tolist())
            if (codes == first).all():
                return str(_FLOAT32_SPECS[first]), arguments
            return _FLOAT32_SPECS[codes].tolist(), arguments
    return _careful_texts(flat), ()


def _float32_codes(flat: np.ndarray) -> np.ndarray | None:
    """Per float32 value, ``reads back from %g * 2 + whole number`` (an index into
    ``_FLOAT32_SPECS``); None unless every value is zero or in ``_BULK_RANGE``.

    The six-digit decimal of ``v`` is ``m / 10**k`` with ``m = rint(|v| * 10**k)`` in
    [1e5, 1e6] and ``k`` in [0, 12]: ``|v| * 10**k`` is exact in a double, so ``m`` is
    rounded exactly as printf rounds, and ``m / 10**k`` is the double ``strtod`` gives
    for the text. Rounding that double to float32 is absl::SimpleAtof's answer unless
    it lies exactly on a float32 midpoint (the decimal may then be on either side):
    such arrays are left to the careful path.
    """
    magnitude = np.abs(flat.astype(np.float64))
    if not magnitude.max() < _BULK_RANGE[1]:  # also NaN
        return None
    magnitude[magnitude == 0.0] = 1.0  # zero prints "0" and reads back, like 1
    if magnitude.min() < _BULK_RANGE[0]:
        return None
    k = 5 - np.floor(np.log10(magnitude)).astype(np.intp)
    scaled = magnitude * POW10_ARRAY[k]
    # log10 may be off by one next to a power of ten: move those by one digit.
    off = (scaled < 1e5).astype(np.intp) - (scaled >= 1e6)
    if off.any():
        k += off
        if k.min() < 0 or k.max() > 12:
            return None
        scaled = magnitude * POW10_ARRAY[k]
    decimal = np.rint(scaled) / POW10_ARRAY[k]
    if ((decimal.view(np.uint64) & np.uint64(DROPPED_BITS)) == HALFWAY).any():
        return None
    short = decimal.astype(np.float32) == magnitude
    whole = np.floor(magnitude) == magnitude
    if (whole & ~short).any():
        return None  # cannot happen (a whole float32 below 1e6 has six digits at most): refuse, never guess
    return short.view(np.uint8) * 2 + whole.view(np.uint8)


def _careful_texts(flat: np.ndarray) -> list[str]:
    """``decimal_texts`` for any float32 or float64 array, each value formatted once:
    which values need the long form is worked out with numpy first."""
    finite = np.isfinite(flat)
    as_double = flat.astype(np.float64)
    if flat.dtype == np.float32:
        short = _six_digits_read_back_float32(flat, finite)
        long_format = "{:.9g}".format
    else:
        short = _six_digits_read_back_float64(as_double, finite)
        long_format = "{:.17g}".format
    texts = np.empty(flat.size, dtype=object)
    chosen = np.flatnonzero(short)
    texts[chosen] = list(map("{:g}".format, as_double[chosen].tolist()))
    chosen = np.flatnonzero(finite & ~short)
    texts[chosen] = list(map(long_format, as_double[chosen].tolist()))
    for index in np.flatnonzero(~finite).tolist():
        value = as_double[index]
        texts[index] = "NaN" if value != value else ("-Infinity" if value < 0 else "Infinity")
    # Only whole numbers can come out with neither '.' nor 'e'.
    with np.errstate(invalid="ignore"):
        whole = finite & (np.floor(flat) == flat)
    for index in np.flatnonzero(whole).tolist():
        text = texts[index]
        if "." not in text and "e" not in text:
            texts[index] = text + ".0"
    return texts.tolist()


def _float32_texts_quick(flat: np.ndarray) -> list[str] | None:
    """``decimal_texts`` of a few float32 values, one by one in plain Python (numpy's
    fixed cost per call dominates for small arrays); None for a larger array, or when a
    value needs the careful path (see ``_float32_text_quick``)."""
    if flat.size > SCALAR_LIMIT:
        return None
    texts = []
    for value in flat.tolist():
        text = _float32_text_quick(value)
        if text is None:
            return None
        texts.append(text)
    return texts


def _float32_text_quick(value: float) -> str | None:
    """``WriteDecimal`` of one float32 (held in a Python float) that is zero or in the
    normal range, the ``%g`` text read back by Python itself; None for any other value,
    or when the read-back double lands exactly halfway between two float32 values, where
    rounding it again could differ from rounding the decimal (``_nearest_float32``)."""
    if value == 0.0:
        return "-0.0" if math.copysign(1.0, value) < 0 else "0.0"
    if not _QUICK_FLOAT32_RANGE[0] < abs(value) < _QUICK_FLOAT32_RANGE[1]:
        return None  # also NaN
    text = f"{value:g}"
    back = float(text)
    if _DOUBLE_BITS.unpack(_DOUBLE_STRUCT.pack(back))[0] & DROPPED_BITS == HALFWAY:
        return None
    if _AS_FLOAT32.unpack(_AS_FLOAT32.pack(back))[0] != value:
        text = f"{value:.9g}"
    if "." not in text and "e" not in text:
        text += ".0"
    return text


def _six_digits_read_back_float32(flat: np.ndarray, finite: np.ndarray) -> np.ndarray:
    """Which float32 values survive ``%g`` and ``absl::SimpleAtof`` unchanged.

    For |v| in [1e-7, 1e6) the 6-digit decimal is ``m / 10^k`` with ``m = rint(v * 10^k)``,
    ``k`` in [0, 12]: a float32 times such a power of ten is exact in a double, so ``m``
    is rounded exactly as printf rounds, and ``m / 10^k`` is the double ``strtod`` would
    give. Other magnitudes are formatted and read back.
    """
    magnitude = np.abs(flat.astype(np.float64))
    short = np.zeros(flat.size, dtype=bool)
    short[magnitude == 0.0] = True  # "0" / "-0"
    with np.errstate(divide="ignore", invalid="ignore"):
        exponent = np.floor(np.log10(magnitude))
    k = 5 - np.nan_to_num(exponent, nan=99, posinf=99, neginf=99).astype(np.int64)
    m = np.zeros(flat.size)
    for _ in range(2):  # log10 may be off by one next to a power of ten; correct it
        scale = POW10_ARRAY[np.clip(k, 0, 22)]
        m = np.rint(magnitude * scale)
        k = np.where(m < 1e5, k + 1, np.where(m >= 1e6, k - 1, k))
    scale = POW10_ARRAY[np.clip(k, 0, 22)]
    m = np.rint(magnitude * scale)
    usable = finite & (magnitude > 0.0) & (k >= 0) & (k <= 12) & (m >= 1e5) & (m <= 1e6)
    decimal = np.copysign(m / scale, flat)
    nearest = _nearest_float32(decimal, lambda i: _fraction(int(m[i]), int(k[i]), flat[i]))
    short |= usable & (nearest == flat)
    rest = np.flatnonzero(finite & ~usable & (magnitude > 0.0))
    if rest.size:
        texts = list(map("{:g}".format, flat[rest].astype(np.float64).tolist()))
        back = np.array(list(map(float, texts)))
        from fractions import Fraction

        short[rest] = _nearest_float32(back, lambda i: Fraction(texts[i])) == flat[rest]
    return short


def _six_digits_read_back_float64(as_double: np.ndarray, finite: np.ndarray) -> np.ndarray:
    """Which doubles survive ``%g`` and ``absl::SimpleAtod`` (correctly rounded) unchanged."""
    short = np.zeros(as_double.size, dtype=bool)
    chosen = np.flatnonzero(finite)
    texts = map("{:g}".format, as_double[chosen].tolist())
    short[chosen] = np.array(list(map(float, texts))) == as_double[chosen]
    return short


def _fraction(m: int, k: int, sign_of: float):
    from fractions import Fraction

    return Fraction(-m if sign_of < 0 else m, 10**k)


def _nearest_float32(doubles: np.ndarray, exact: Callable[[int], object]) -> np.ndarray:
    """The float32 nearest each decimal (absl::SimpleAtof), given the decimal's double.

    Rounding the double to float32 is right except when the double lands exactly on a
    float32 midpoint: the decimal may then lie on either side, so ``exact(i)`` (a
    Fraction) decides.
    """
    with np.errstate(over="ignore"):
        rounded = doubles.astype(np.float32)
    widened = rounded.astype(np.float64)
    off = doubles != widened
    if off.any():
        toward = np.where(doubles > widened, np.inf, -np.inf).astype(np.float32)
        with np.errstate(over="ignore", invalid="ignore"):
            neighbour = np.nextafter(rounded, toward).astype(np.float64)
            midpoint = off & ((widened + neighbour) / 2 == doubles)
        for index in np.flatnonzero(midpoint).tolist():
            rounded[index] = _exact_nearest_float32(exact(index))
    return rounded


def _exact_nearest_float32(exact) -> np.float32:
    from fractions import Fraction

    below = np.float32(float(exact))
    candidates = {below, np.nextafter(below, np.float32(np.inf)), np.nextafter(below, np.float32(-np.inf))}

    def distance(candidate: np.float32) -> tuple:
        return (abs(Fraction(float(candidate)) - exact), int(candidate.view(np.uint32)) & 1)

    return min(candidates, key=distance)
