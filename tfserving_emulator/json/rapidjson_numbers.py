"""RapidJSON's ``ParseNumber`` with ``kParseNanAndInfFlag`` and *normal* precision, literal by
literal (``scan_number``) and vectorised for many long literals (``_doubles_like_rapidjson``)."""

from __future__ import annotations

import math

import numpy as np

from .rapidjson_document import (
    NUMBER_MISS_EXPONENT,
    NUMBER_MISS_FRACTION,
    NUMBER_TOO_BIG,
    VALUE_INVALID,
    ParseError,
)

# --------------------------------------------------------------------------------------
# Numbers: RapidJSON's ParseNumber with kParseNanAndInfFlag and *normal* precision.
# --------------------------------------------------------------------------------------
# Pow10(n) is a table of double literals 1e0 .. 1e308, i.e. correctly rounded constants.
_POW10 = [float(f"1e{n}") for n in range(309)]
POW10_ARRAY = np.array(_POW10)
_MAX_SAFE_INT = (1 << 53) - 1  # the significand fast path stops above 2**53 - 1
_DBL_MAX_DIV_10 = 1.7976931348623157e307


def _fast_path(d: float, exp: int) -> float:
    if exp < -308:
        return 0.0
    if exp >= 0:
        return d * _POW10[exp]
    return d / _POW10[-exp]


def _strtod_normal_precision(d: float, p: int) -> float:
    if p < -308:
        # Scale twice so an intermediate power of ten never underflows to zero.
        return _fast_path(_fast_path(d, -308), p + 308)
    return _fast_path(d, p)


def _is_digit(c: int) -> bool:
    return 0x30 <= c <= 0x39


def scan_number(data: bytes, pos: int) -> tuple[int | float, int]:
    """Parse the number at ``data[pos]`` the way RapidJSON 1.1.0 does.

    Returns ``(value, end)``: an ``int`` for integer kinds (Int/Uint/Int64/Uint64), a
    ``float`` for doubles. Raises :class:`ParseError` with RapidJSON's offset. The quirks
    are RapidJSON's: ``-NaN`` is NaN, ``NaN.5`` is 0.5, integers past uint64 become
    doubles, and at most 17 significant digits feed the (not always correctly rounded)
    power-of-ten scaling.
    """
    end = len(data)

    def peek(i: int) -> int:
        return data[i] if i < end else 0

    start = pos
    minus = peek(pos) == 0x2D
    if minus:
        pos += 1
    i32 = 0
    i64 = 0
    use_64bit = False
    use_double = False
    use_nan_or_inf = False
    d = 0.0
    significand_digits = 0

    c = peek(pos)
    if c == 0x30:
        pos += 1
    elif 0x31 <= c <= 0x39:
        i32 = c - 0x30
        pos += 1
        # Accumulate in 32 bits until the next digit would overflow int32/uint32.
        limit, last_digit = (214748364, 0x38) if minus else (429496729, 0x35)
        while _is_digit(c := peek(pos)):
            if i32 >= limit and (i32 != limit or c > last_digit):
                i64 = i32
                use_64bit = True
                break
            i32 = i32 * 10 + (c - 0x30)
            pos += 1
            significand_digits += 1
    elif c in (0x49, 0x4E):  # 'I' or 'N'
        use_nan_or_inf = True

        def consume(word: bytes) -> bool:
            nonlocal pos
            for ch in word:
                if peek(pos) != ch:
                    return False
                pos += 1
            return True

        if consume(b"NaN"):
            d = math.nan
        elif consume(b"Inf"):
            d = -math.inf if minus else math.inf
            if peek(pos) == 0x69 and not consume(b"inity"):
                raise ParseError(VALUE_INVALID, pos)
        else:
            raise ParseError(VALUE_INVALID, pos)
    else:
        raise ParseError(VALUE_INVALID, pos)

    if use_64bit:
        limit, last_digit = (922337203685477580, 0x38) if minus else (1844674407370955161, 0x35)
        while _is_digit(c := peek(pos)):
            if i64 >= limit and (i64 != limit or c > last_digit):
                d = float(i64)
                use_double = True
                break
            i64 = i64 * 10 + (c - 0x30)
            pos += 1
            significand_digits += 1

    if use_double:  # an integer too big for uint64 continues as a double
        while _is_digit(c := peek(pos)):
            if d >= _DBL_MAX_DIV_10:
                raise ParseError(NUMBER_TOO_BIG, start)
            d = d * 10 + (c - 0x30)
            pos += 1

    exp_frac = 0
    if peek(pos) == 0x2E:
        pos += 1
        if not _is_digit(peek(pos)):
            raise ParseError(NUMBER_MISS_FRACTION, pos)
        if not use_double:
            if not use_64bit:
                i64 = i32
            while _is_digit(c := peek(pos)):
                if i64 > _MAX_SAFE_INT:
                    break
                i64 = i64 * 10 + (c - 0x30)
                pos += 1
                exp_frac -= 1
                if i64 != 0:
                    significand_digits += 1
            d = float(i64)
            use_double = True
        while _is_digit(c := peek(pos)):
            if significand_digits < 17:
                d = d * 10.0 + (c - 0x30)
                exp_frac -= 1
                if d > 0.0:
                    significand_digits += 1
            pos += 1

    exp = 0
    if peek(pos) in (0x65, 0x45):  # 'e' or 'E'
        pos += 1
        if not use_double:
            d = float(i64 if use_64bit else i32)
            use_double = True
        exp_minus = False
        if peek(pos) == 0x2B:
            pos += 1
        elif peek(pos) == 0x2D:
            pos += 1
            exp_minus = True
        if not _is_digit(c := peek(pos)):
            raise ParseError(NUMBER_MISS_EXPONENT, pos)
        exp = c - 0x30
        pos += 1
        if exp_minus:
            while _is_digit(c := peek(pos)):
                exp = exp * 10 + (c - 0x30)
                pos += 1
                if exp >= 214748364:  # stop accumulating, swallow the rest (no overflow)
                    while _is_digit(peek(pos)):
                        pos += 1
            exp = -exp
        else:
            max_exp = 308 - exp_frac
            while _is_digit(c := peek(pos)):
                exp = exp * 10 + (c - 0x30)
                pos += 1
                if exp > max_exp:
                    raise ParseError(NUMBER_TOO_BIG, start)

    if use_double:
        d = _strtod_normal_precision(d, exp + exp_frac)
        return (-d if minus else d), pos
    if use_nan_or_inf:
        return d, pos
    if use_64bit:
        return (-i64 if minus else i64), pos
    return (-i32 if minus else i32), pos


# Up to this many literals, scan_number one by one (~3 us each) beats the vectorised steps.
_FEW_LITERALS = 32


def _doubles_like_rapidjson(literals: list[str]) -> list[float]:
    """:func:`scan_number` for many valid literals with a '.' or an exponent.

    A few go one by one; many take the same digit-by-digit arithmetic vectorised.
    Literals whose integer part has 19+ digits go through :func:`scan_number`.
    Raises :class:`ParseError` (offset 0) if a literal is too big, like the scalar version.
    """
    if len(literals) <= _FEW_LITERALS:
        # numpy's fixed cost (~0.4 ms in _vectorised_doubles) is worth it only for many.
        return [scan_number(literal.encode(), 0)[0] for literal in literals]
    return _vectorised_doubles(literals)


def _vectorised_doubles(literals: list[str]) -> list[float]:
    """:func:`scan_number`'s arithmetic run position by position over all literals at once."""
    count = len(literals)
    # One character matrix (a row per literal, NUL-padded), cut out of a joined buffer.
    joined = np.frombuffer("\n".join(literals).encode("ascii"), dtype=np.uint8)
    starts = np.concatenate(([0], np.flatnonzero(joined == 0x0A) + 1))
    length = np.diff(np.concatenate((starts, [joined.size + 1]))) - 1
    width = int(length.max())
    offsets = np.arange(width)
    chars = joined[np.minimum(starts[:, None] + offsets, joined.size - 1)]
    chars[offsets >= length[:, None]] = 0
    lanes = np.arange(count)
    minus = chars[:, 0] == 0x2D
    is_dot = chars == 0x2E
    is_exp = (chars | 0x20) == 0x65  # 'e' or 'E'
    has_dot = is_dot.any(axis=1)
    has_exp = is_exp.any(axis=1)
    dot_pos = np.where(has_dot, is_dot.argmax(axis=1), length)
    exp_pos = np.where(has_exp, is_exp.argmax(axis=1), length)
    int_start = minus.astype(np.int64)
    int_len = np.minimum(dot_pos, exp_pos) - int_start
    frac_start = dot_pos + 1
    frac_len = np.where(has_dot, exp_pos - frac_start, 0)

    def digits(first: np.ndarray, lengths: np.ndarray) -> np.ndarray:
        """Digit k of every literal's run at row k (0 past its end): one gather."""
        rows = np.arange(int(lengths.max(initial=0)))[:, None]
        found = chars[lanes, np.minimum(first + rows, width - 1)].astype(np.int64) - 0x30
        return np.where(rows < lengths, found, 0)

    # Integer part: exact in uint64 for up to 18 digits (longer ones take the scalar path).
    scalar = int_len >= 19
    int_digits = digits(int_start, np.where(scalar, 0, int_len))
    int_value = np.zeros(count, dtype=np.uint64)
    for k, row in enumerate(int_digits):
        int_value = np.where(k < int_len, int_value * 10 + row.astype(np.uint64), int_value)
    significand_digits = np.where(int_digits[0] == 0, 0, int_len - 1) if len(int_digits) else int_len * 0

    # Fraction, phase 1: digits go into the 64-bit significand while it is <= 2**53 - 1.
    frac_digits = digits(frac_start, frac_len)
    wide_digits = frac_digits.astype(np.uint64)
    significand = int_value
    exp_frac = np.zeros(count, dtype=np.int64)
    absorbed = np.zeros(count, dtype=np.int64)
    active = has_dot
    for k in range(len(frac_digits)):
        active = active & (k < frac_len) & (significand <= _MAX_SAFE_INT)
        if not active.any():
            break
        significand = np.where(active, significand * 10 + wide_digits[k], significand)
        exp_frac -= active
        absorbed += active
        significand_digits += active & (significand != 0)
    d = significand.astype(np.float64)
    # Fraction, phase 2: further digits are added in double arithmetic, 17 at most.
    for k in range(int(absorbed.min(initial=0)), len(frac_digits)):
        take = (k >= absorbed) & (k < frac_len) & (significand_digits < 17)
        if not take.any():
            continue
        d = np.where(take, d * 10.0 + frac_digits[k], d)
        exp_frac -= take
        significand_digits += take & (d > 0.0)

    # Exponent: capped accumulation gives the same result (overflow -> error, underflow -> 0).
    sign = chars[lanes, np.minimum(exp_pos + 1, width - 1)]
    exp_minus = has_exp & (sign == 0x2D)
    exp_start = exp_pos + 1 + ((sign == 0x2D) | (sign == 0x2B))
    exp_len = np.where(has_exp, length - exp_start, 0)
    exp_value = np.zeros(count, dtype=np.int64)
    for k, row in enumerate(digits(exp_start, exp_len)):
        exp_value = np.where(k < exp_len, np.minimum(exp_value * 10 + row, 1 << 40), exp_value)
    too_big = has_exp & ~exp_minus & (exp_value > 308 - exp_frac) & ~scalar
    if too_big.any():
        raise ParseError(NUMBER_TOO_BIG, 0)
    p = np.where(exp_minus, -exp_value, exp_value) + exp_frac

    def fast(values: np.ndarray, e: np.ndarray) -> np.ndarray:
        scale = POW10_ARRAY[np.clip(np.abs(e), 0, 308)]
        with np.errstate(over="ignore", under="ignore"):
            return np.where(e < -308, 0.0, np.where(e >= 0, values * scale, values / scale))

    low = p < -308
    d = fast(d, np.where(low, -308, p))
    d = np.where(low, fast(d, p + 308), d)
    result = np.where(minus, -d, d).tolist()
    for index in np.flatnonzero(scalar).tolist():
        result[index] = scan_number(literals[index].encode(), 0)[0]
    return result


def _int_literal(text: str) -> int | float:
    value = int(text)
    if -(1 << 63) <= value < (1 << 64):
        return value
    return scan_number(text.encode(), 0)[0]  # RapidJSON keeps it as a double (or errors)
