"""RapidJSON's ``Writer`` / ``PrettyWriter`` as TF Serving uses it for every REST answer:
the 4-space layout, the single-line-array mode, string escapes and Grisu2 number text."""

from __future__ import annotations

import math
import re
import struct

from .rapidjson_document import members

# --------------------------------------------------------------------------------------
# Writing: Writer / PrettyWriter.
# --------------------------------------------------------------------------------------
_STRING_ESCAPES = {c: f"\\u{c:04X}" for c in range(0x20)}
_STRING_ESCAPES.update(
    {0x08: "\\b", 0x09: "\\t", 0x0A: "\\n", 0x0C: "\\f", 0x0D: "\\r", 0x22: '\\"', 0x5C: "\\\\"}
)
_NEEDS_ESCAPE = re.compile(r'[\x00-\x1f"\\]')


def quote(text: str) -> str:
    """Writer::String: escape '"', '\\' and control characters (uppercase \\u00XX);
    everything else, '/' and non-ASCII included, is copied as is."""
    if _NEEDS_ESCAPE.search(text):
        text = text.translate(_STRING_ESCAPES)
    return f'"{text}"'


def _uint64_bits(value: float) -> int:
    return struct.unpack("<Q", struct.pack("<d", value))[0]


def _cached_power(index: int) -> tuple[int, int]:
    """10^(-348 + 8 * index) as a normalised 64-bit significand and binary exponent,
    rounded to nearest: Grisu's table of cached powers."""
    k = -348 + 8 * index
    num, den = (10**k, 1) if k >= 0 else (1, 10**-k)
    e = num.bit_length() - den.bit_length() - 64
    while (num << max(-e, 0)) // (den << max(e, 0)) >= 1 << 64:
        e += 1
    while (num << max(-e, 0)) // (den << max(e, 0)) < 1 << 63:
        e -= 1
    scaled_num, scaled_den = num << max(-e, 0), den << max(e, 0)
    f = (2 * scaled_num + scaled_den) // (2 * scaled_den)
    if f == 1 << 64:
        f, e = 1 << 63, e + 1
    return f, e


_CACHED_POWERS = [_cached_power(i) for i in range(87)]
_M64 = (1 << 64) - 1


def _diy_multiply(af: int, ae: int, bf: int, be: int) -> tuple[int, int]:
    product = af * bf
    high = product >> 64
    if product & (1 << 63):  # round the dropped low half
        high += 1
    return high, ae + be + 64


def _grisu2(value: float) -> tuple[str, int]:
    """Grisu2 as RapidJSON 1.1.0 runs it: digits and decimal exponent of a positive double."""
    bits = _uint64_bits(value)
    biased = (bits >> 52) & 0x7FF
    f = bits & ((1 << 52) - 1)
    if biased:
        f, e = f + (1 << 52), biased - 1075
    else:
        e = -1074
    # Boundaries m+ and m- (halfway to the neighbours), both with m+'s exponent.
    plus_f, plus_e = (f << 1) + 1, e - 1
    while not plus_f & (1 << 53):
        plus_f <<= 1
        plus_e -= 1
    plus_f <<= 10
    plus_e -= 10
    minus_f, minus_e = ((f << 2) - 1, e - 2) if f == 1 << 52 else ((f << 1) - 1, e - 1)
    minus_f <<= minus_e - plus_e
    # Normalise v.
    shift = 64 - f.bit_length()
    v_f, v_e = f << shift, e - shift
    # Cached power c_-k with the scaled exponent in Grisu's window.
    dk = (-61 - plus_e) * 0.30102999566398114 + 347
    k = int(dk)
    if dk - k > 0.0:
        k += 1
    index = (k >> 3) + 1
    big_k = -(-348 + index * 8)
    c_f, c_e = _CACHED_POWERS[index]
    w_f, _ = _diy_multiply(v_f, v_e, c_f, c_e)
    wp_f, wp_e = _diy_multiply(plus_f, plus_e, c_f, c_e)
    wm_f, _ = _diy_multiply(minus_f, plus_e, c_f, c_e)
    wm_f += 1
    wp_f -= 1
    return _digit_gen(w_f, wp_f, wp_e, wp_f - wm_f, big_k)


def _digit_gen(w_f: int, mp_f: int, mp_e: int, delta: int, big_k: int) -> tuple[str, int]:
    one_shift = -mp_e
    one_f = 1 << one_shift
    wp_w = mp_f - w_f
    p1 = mp_f >> one_shift
    p2 = mp_f & (one_f - 1)
    kappa = len(str(p1)) if p1 >= 10 else 1
    kappa = min(kappa, 9)
    digits: list[int] = []
    while kappa > 0:
        divisor = 10 ** (kappa - 1)
        d, p1 = divmod(p1, divisor)
        if d or digits:
            digits.append(d)
        kappa -= 1
        rest = (p1 << one_shift) + p2
        if rest <= delta:
            big_k += kappa
            _grisu_round(digits, delta, rest, (10**kappa) << one_shift, wp_w)
            return "".join(map(str, digits)), big_k
    while True:
        p2 = (p2 * 10) & _M64
        delta = (delta * 10) & _M64
        d = p2 >> one_shift
        if d or digits:
            digits.append(d)
        p2 &= one_f - 1
        kappa -= 1
        if p2 < delta:
            big_k += kappa
            scale = 10**-kappa if -kappa < 9 else 0
            _grisu_round(digits, delta, p2, one_f, (wp_w * scale) & _M64)
            return "".join(map(str, digits)), big_k


def _grisu_round(digits: list[int], delta: int, rest: int, ten_kappa: int, wp_w: int) -> None:
    while (
        rest < wp_w
        and delta - rest >= ten_kappa
        and (rest + ten_kappa < wp_w or wp_w - rest > rest + ten_kappa - wp_w)
    ):
        digits[-1] -= 1
        rest += ten_kappa


def _exponent_text(k: int) -> str:
    return f"-{-k}" if k < 0 else str(k)


def format_double(value: float) -> str:
    """Writer::Double text of a finite double (internal::dtoa + Prettify, 324 places)."""
    if value == 0.0:
        return "-0.0" if math.copysign(1.0, value) < 0 else "0.0"
    sign = "-" if value < 0 else ""
    digits, k = _grisu2(abs(value))
    length = len(digits)
    kk = length + k  # 10^(kk-1) <= v < 10^kk
    if k >= 0 and kk <= 21:
        text = digits + "0" * k + ".0"
    elif 0 < kk <= 21:
        text = f"{digits[:kk]}.{digits[kk:]}"
    elif -6 < kk <= 0:
        text = "0." + "0" * -kk + digits
    elif kk < -324:
        text = "0.0"
    elif length == 1:
        text = f"{digits}e{_exponent_text(kk - 1)}"
    else:
        text = f"{digits[0]}.{digits[1:]}e{_exponent_text(kk - 1)}"
    return sign + text


class WriterFull(Exception):
    """Raised by a :class:`PrettyWriter` with a ``limit`` once that much is written."""


class PrettyWriter:
    """rapidjson::PrettyWriter<StringBuffer> (4-space indent, default write flags).

    Handler methods return ``False`` where RapidJSON's do (a non-finite double, which
    the default flags refuse to write after its separator has been written).
    """

    def __init__(self, single_line_arrays: bool = False, limit: int | None = None):
        self.single_line_arrays = single_line_arrays
        self._parts: list[str] = []
        self._levels: list[list] = []  # [value count, in array]
        self._limit = limit
        self._size = 0

    def text(self) -> str:
        return "".join(self._parts)

    def _put(self, text: str) -> None:
        self._parts.append(text)
        if self._limit is not None:
            self._size += len(text)
            if self._size >= self._limit:
                raise WriterFull

    def _prefix(self) -> None:
        if not self._levels:
            return
        level = self._levels[-1]
        indent = "    " * len(self._levels)
        if level[1]:
            if level[0] > 0:
                self._put(", " if self.single_line_arrays else ",")
            if not self.single_line_arrays:
                self._put("\n" + indent)
        else:
            if level[0] > 0:
                self._put(",\n" if level[0] % 2 == 0 else ": ")
            else:
                self._put("\n")
            if level[0] % 2 == 0:
                self._put(indent)
        level[0] += 1

    def null(self) -> bool:
        self._prefix()
        self._put("null")
        return True

    def bool(self, value: bool) -> bool:
        self._prefix()
        self._put("true" if value else "false")
        return True

    def int(self, value: int) -> bool:
        self._prefix()
        self._put(str(value))
        return True

    def double(self, value: float) -> bool:
        self._prefix()
        if not math.isfinite(value):
            return False
        self._put(format_double(value))
        return True

    def string(self, text: str) -> bool:
        self._prefix()
        self._put(quote(text))
        return True

    key = string

    def raw_value(self, text: str) -> bool:
        self._prefix()
        self._put(text)
        return True

    def start_object(self) -> bool:
        self._prefix()
        self._levels.append([0, False])
        self._put("{")
        return True

    def end_object(self) -> bool:
        empty = self._levels.pop()[0] == 0
        if not empty:
            self._put("\n" + "    " * len(self._levels))
        self._put("}")
        return True

    def start_array(self) -> bool:
        self._prefix()
        self._levels.append([0, True])
        self._put("[")
        return True

    def end_array(self) -> bool:
        empty = self._levels.pop()[0] == 0
        if not empty and not self.single_line_arrays:
            self._put("\n" + "    " * len(self._levels))
        self._put("]")
        return True


def write_value(writer: PrettyWriter, value: object) -> bool:
    """GenericValue::Accept: write a parsed value; stop (False) where RapidJSON stops."""
    if value is None:
        return writer.null()
    if value is True or value is False:
        return writer.bool(value)
    if isinstance(value, str):
        return writer.string(value)
    if isinstance(value, int):
        return writer.int(value)
    if isinstance(value, float):
        return writer.double(value)
    if isinstance(value, list):
        writer.start_array()
        for item in value:
            if not write_value(writer, item):
                return False
        return writer.end_array()
    writer.start_object()
    for key, member in members(value):
        writer.key(key)
        if not write_value(writer, member):
            return False
    return writer.end_object()
