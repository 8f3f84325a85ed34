"""RapidJSON 1.1.0 as TF Serving's REST layer drives it, reproduced in Python.

TF Serving reads every REST body with RapidJSON 1.1.0 (``kParseIterativeFlag |
kParseNanAndInfFlag | kParseStopWhenDoneFlag`` over a ``MemoryStream``) and writes every
answer with its ``PrettyWriter``. Clients see RapidJSON's behaviour directly:

* parse errors are ``GetParseError_En`` text plus a byte offset that depends on exactly
  where RapidJSON's state machine gives up;
* a number is an integer or a double by its spelling (``2`` vs ``2.0``), and TF Serving's
  dtype checks depend on that; doubles come from RapidJSON's *normal precision* strtod,
  which is not always the correctly rounded value for long literals;
* ``NaN``/``Inf``/``-Infinity`` are accepted, trailing bytes after the document are not
  looked at, a NUL byte ends the input, object keys may repeat (lookups see the first);
* the writer's layout (4-space indent, the single-line-array mode) and its shortest
  number text (Grisu2) show up byte for byte in responses and error messages.

Parsing has fast paths: orjson (when installed) for plain bodies it provably reads
alike, then Python's C ``json`` decoder, used only for inputs where it is provably
equivalent, and an exact (slower) port of the iterative parser for everything else,
including every error. Number literals long enough for RapidJSON's arithmetic to
differ from correct rounding are converted with a vectorised copy of that arithmetic.

Parsed values use plain Python types: ``dict`` (or :class:`JsonObject` when a key
repeats), ``list``, ``str``, ``int`` (an integer literal that fits int64/uint64),
``float`` (a double), ``bool`` and ``None``. A string's bytes are
``s.encode("utf-8", "surrogateescape")``: RapidJSON does not validate UTF-8, so invalid
bytes survive as surrogate escapes.
"""

from __future__ import annotations

import contextlib
import gc
import json
import math
import re
import struct
import threading
from collections.abc import Iterable, Iterator

import numpy as np

try:  # a much faster first try at plain documents; the parser below does without it
    import orjson
except ImportError:  # pragma: no cover - orjson is in requirements.txt
    orjson = None

# GetParseError_En (rapidjson/error/en.h), by the ParseErrorCode names of reader.h.
DOCUMENT_EMPTY = "The document is empty."
VALUE_INVALID = "Invalid value."
OBJECT_MISS_NAME = "Missing a name for object member."
OBJECT_MISS_COLON = "Missing a colon after a name of object member."
OBJECT_MISS_COMMA_OR_CURLY = "Missing a comma or '}' after an object member."
ARRAY_MISS_COMMA_OR_BRACKET = "Missing a comma or ']' after an array element."
STRING_UNICODE_ESCAPE_INVALID_HEX = "Incorrect hex digit after \\u escape in string."
STRING_UNICODE_SURROGATE_INVALID = "The surrogate pair in string is invalid."
STRING_ESCAPE_INVALID = "Invalid escape character in string."
STRING_MISS_QUOTATION_MARK = "Missing a closing quotation mark in string."
NUMBER_TOO_BIG = "Number too big to be stored in double."
NUMBER_MISS_FRACTION = "Miss fraction part in number."
NUMBER_MISS_EXPONENT = "Miss exponent in number."


class ParseError(ValueError):
    """RapidJSON's parse error: the ``GetParseError_En`` text and the byte offset."""

    def __init__(self, text: str, offset: int):
        super().__init__(f"{text} at offset: {offset}")
        self.text = text
        self.offset = offset


class JsonObject(dict):
    """An object whose keys repeat. Lookups return the first value, as ``FindMember`` does;
    ``pairs`` keeps every member in document order (what iteration and printing see)."""

    __slots__ = ("pairs",)

    def __init__(self, pairs: list[tuple[str, object]]):
        super().__init__()
        for key, value in pairs:
            self.setdefault(key, value)
        self.pairs = pairs


def members(obj: dict) -> Iterable[tuple[str, object]]:
    """Every member of a parsed object, repeats included, in document order."""
    return obj.pairs if type(obj) is JsonObject else obj.items()


def member_count(obj: dict) -> int:
    return len(obj.pairs) if type(obj) is JsonObject else len(obj)


def string_bytes(text: str) -> bytes:
    """The exact bytes RapidJSON holds for a parsed (or written) string."""
    return text.encode("utf-8", "surrogateescape")


def _make_object(pairs: list[tuple[str, object]], _dict: type = dict, _len=len) -> dict:
    # Called for every object the C decoder builds, hence the local bindings.
    obj = _dict(pairs)
    return obj if _len(obj) == _len(pairs) else JsonObject(pairs)


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


def _doubles_like_rapidjson(literals: list[str]) -> list[float]:
    """Vectorised :func:`scan_number` for many valid literals with a '.' or an exponent.

    The same digit-by-digit arithmetic, run position by position over all literals at
    once. Literals whose integer part has 19+ digits go through :func:`scan_number`.
    Raises :class:`ParseError` (offset 0) if a literal is too big, like the scalar version.
    """
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


# --------------------------------------------------------------------------------------
# The exact parser: RapidJSON's iterative state machine (reader.h IterativeParse).
# --------------------------------------------------------------------------------------
(
    _START,
    _FINISH,
    _ERROR,
    _OBJECT_INITIAL,
    _MEMBER_KEY,
    _KEY_VALUE_DELIMITER,
    _MEMBER_VALUE,
    _MEMBER_DELIMITER,
    _OBJECT_FINISH,
    _ARRAY_INITIAL,
    _ELEMENT,
    _ELEMENT_DELIMITER,
    _ARRAY_FINISH,
    _VALUE,
) = range(14)
(
    _LEFT_BRACKET,
    _RIGHT_BRACKET,
    _LEFT_CURLY,
    _RIGHT_CURLY,
    _COMMA,
    _COLON,
    _STRING,
    _FALSE,
    _TRUE,
    _NULL,
    _NUMBER,
) = range(11)

# Any byte that is not structural or a literal's first letter tokenizes as a number.
_TOKEN = [_NUMBER] * 256
for _char, _token in {
    "[": _LEFT_BRACKET,
    "]": _RIGHT_BRACKET,
    "{": _LEFT_CURLY,
    "}": _RIGHT_CURLY,
    ",": _COMMA,
    ":": _COLON,
    '"': _STRING,
    "f": _FALSE,
    "t": _TRUE,
    "n": _NULL,
}.items():
    _TOKEN[ord(_char)] = _token

_VALUE_TOKENS = (_STRING, _FALSE, _TRUE, _NULL, _NUMBER)


def _transitions() -> dict[int, dict[int, int]]:
    """Predict(): state x token -> next state; anything missing is the error state."""
    value_start = {_LEFT_BRACKET: _ARRAY_INITIAL, _LEFT_CURLY: _OBJECT_INITIAL}
    table = {
        _START: {**value_start, **dict.fromkeys(_VALUE_TOKENS, _VALUE)},
        _OBJECT_INITIAL: {_RIGHT_CURLY: _OBJECT_FINISH, _STRING: _MEMBER_KEY},
        _MEMBER_KEY: {_COLON: _KEY_VALUE_DELIMITER},
        _KEY_VALUE_DELIMITER: {**value_start, **dict.fromkeys(_VALUE_TOKENS, _MEMBER_VALUE)},
        _MEMBER_VALUE: {_RIGHT_CURLY: _OBJECT_FINISH, _COMMA: _MEMBER_DELIMITER},
        _MEMBER_DELIMITER: {_RIGHT_CURLY: _OBJECT_FINISH, _STRING: _MEMBER_KEY},
        _ARRAY_INITIAL: {
            **value_start,
            _RIGHT_BRACKET: _ARRAY_FINISH,
            **dict.fromkeys(_VALUE_TOKENS, _ELEMENT),
        },
        _ELEMENT: {_RIGHT_BRACKET: _ARRAY_FINISH, _COMMA: _ELEMENT_DELIMITER},
        _ELEMENT_DELIMITER: {
            **value_start,
            _RIGHT_BRACKET: _ARRAY_FINISH,
            **dict.fromkeys(_VALUE_TOKENS, _ELEMENT),
        },
    }
    return table


_PREDICT = _transitions()
# HandleError(): which error a state reports when the next token does not fit.
_STATE_ERROR = {
    _START: DOCUMENT_EMPTY,
    _OBJECT_INITIAL: OBJECT_MISS_NAME,
    _MEMBER_DELIMITER: OBJECT_MISS_NAME,
    _MEMBER_KEY: OBJECT_MISS_COLON,
    _MEMBER_VALUE: OBJECT_MISS_COMMA_OR_CURLY,
    _KEY_VALUE_DELIMITER: VALUE_INVALID,
    _ARRAY_INITIAL: VALUE_INVALID,
    _ELEMENT_DELIMITER: VALUE_INVALID,
    _ELEMENT: ARRAY_MISS_COMMA_OR_BRACKET,
}

_WHITESPACE = re.compile(rb"[ \t\n\r]*")
_PLAIN_STRING = re.compile(rb'([^"\\\x00-\x1f]*)"')
_PLAIN_RUN = re.compile(rb'[^"\\\x00-\x1f]+')
_SIMPLE_ESCAPES = {
    ord('"'): b'"',
    ord("\\"): b"\\",
    ord("/"): b"/",
    ord("b"): b"\b",
    ord("f"): b"\f",
    ord("n"): b"\n",
    ord("r"): b"\r",
    ord("t"): b"\t",
}
_HEX_DIGITS = b"0123456789abcdefABCDEF"


def _scan_string(data: bytes, pos: int) -> tuple[str, int]:
    """ParseString at the opening quote; returns the string and the offset after it."""
    pos += 1
    match = _PLAIN_STRING.match(data, pos)
    if match:  # no escapes: the common case
        return match.group(1).decode("utf-8", "surrogateescape"), match.end()
    end = len(data)
    out = bytearray()
    while True:
        run = _PLAIN_RUN.match(data, pos)
        if run:
            out += run.group()
            pos = run.end()
        c = data[pos] if pos < end else 0
        if c == 0x5C:  # backslash
            escape_offset = pos
            pos += 1
            e = data[pos] if pos < end else 0
            if e in _SIMPLE_ESCAPES:
                out += _SIMPLE_ESCAPES[e]
                pos += 1
            elif e == 0x75:  # \u
                pos += 1
                codepoint, pos = _hex4(data, pos, escape_offset)
                if 0xD800 <= codepoint <= 0xDBFF:
                    # A high surrogate must be followed by "\u" and a low surrogate.
                    if data[pos : pos + 1] != b"\\":
                        raise ParseError(STRING_UNICODE_SURROGATE_INVALID, escape_offset)
                    pos += 1
                    if data[pos : pos + 1] != b"u":
                        raise ParseError(STRING_UNICODE_SURROGATE_INVALID, escape_offset)
                    pos += 1
                    low, pos = _hex4(data, pos, escape_offset)
                    if not 0xDC00 <= low <= 0xDFFF:
                        raise ParseError(STRING_UNICODE_SURROGATE_INVALID, escape_offset)
                    codepoint = (((codepoint - 0xD800) << 10) | (low - 0xDC00)) + 0x10000
                # A lone low surrogate is encoded as its 3 (invalid UTF-8) bytes.
                out += chr(codepoint).encode("utf-8", "surrogatepass")
            else:
                raise ParseError(STRING_ESCAPE_INVALID, escape_offset)
        elif c == 0x22:
            return out.decode("utf-8", "surrogateescape"), pos + 1
        elif c == 0:
            raise ParseError(STRING_MISS_QUOTATION_MARK, pos)
        else:  # a control character
            raise ParseError(STRING_ESCAPE_INVALID, pos)


def _hex4(data: bytes, pos: int, escape_offset: int) -> tuple[int, int]:
    digits = data[pos : pos + 4]
    if len(digits) < 4 or any(c not in _HEX_DIGITS for c in digits):
        raise ParseError(STRING_UNICODE_ESCAPE_INVALID_HEX, escape_offset)
    return int(digits, 16), pos + 4


def _scan_value(data: bytes, pos: int) -> tuple[object, int]:
    """ParseValue for a non-container value."""
    c = data[pos]
    if c == 0x22:
        return _scan_string(data, pos)
    for word, value in ((b"null", None), (b"true", True), (b"false", False)):
        if c == word[0]:
            pos += 1
            for ch in word[1:]:
                if pos >= len(data) or data[pos] != ch:
                    raise ParseError(VALUE_INVALID, pos)
                pos += 1
            return value, pos
    return scan_number(data, pos)


def _parse_exact(data: bytes, pos: int) -> object:
    """RapidJSON's iterative parser with kParseStopWhenDoneFlag, value for value."""
    end = len(data)
    pos = _WHITESPACE.match(data, pos).end()
    state = _START
    root = None
    # One frame per open container: [state to return to, items, is_object, pending key].
    stack: list[list] = []
    while pos < end and data[pos] != 0:
        token = _TOKEN[data[pos]]
        nxt = _PREDICT.get(state, {}).get(token, _ERROR)
        if nxt == _ERROR:
            raise ParseError(_STATE_ERROR[state], pos)
        if nxt in (_OBJECT_INITIAL, _ARRAY_INITIAL):
            if state in (_ARRAY_INITIAL, _ELEMENT_DELIMITER):
                back = _ELEMENT
            elif state == _KEY_VALUE_DELIMITER:
                back = _MEMBER_VALUE
            else:
                back = state
            stack.append([back, [], nxt == _OBJECT_INITIAL, None])
            pos += 1
            state = nxt
        elif nxt == _MEMBER_KEY:
            stack[-1][3], pos = _scan_string(data, pos)
            state = nxt
        elif nxt in (_MEMBER_VALUE, _ELEMENT):
            value, pos = _scan_value(data, pos)
            frame = stack[-1]
            frame[1].append((frame[3], value) if frame[2] else value)
            state = nxt
        elif nxt in (_KEY_VALUE_DELIMITER, _MEMBER_DELIMITER, _ELEMENT_DELIMITER):
            pos += 1
            state = nxt
        elif nxt in (_OBJECT_FINISH, _ARRAY_FINISH):
            if state == _MEMBER_DELIMITER:  # trailing comma
                raise ParseError(OBJECT_MISS_NAME, pos)
            if state == _ELEMENT_DELIMITER:
                raise ParseError(VALUE_INVALID, pos)
            back, items, is_object, _ = stack.pop()
            value = _make_object(items) if is_object else items
            pos += 1
            if stack:
                frame = stack[-1]
                frame[1].append((frame[3], value) if frame[2] else value)
                state = back
            else:
                root = value
                state = _FINISH
        else:  # a single value at the root
            root, pos = _scan_value(data, pos)
            state = _FINISH
        if state == _FINISH:
            return root
        pos = _WHITESPACE.match(data, pos).end()
    raise ParseError(_STATE_ERROR[state], pos)


# --------------------------------------------------------------------------------------
# The fast path: Python's C decoder where it is provably the same as RapidJSON.
# --------------------------------------------------------------------------------------
class _UseExactParser(Exception):
    pass


_PLAIN_DECODER = json.JSONDecoder(object_pairs_hook=_make_object)
# Digits and '.' -> '0', exponent letters -> 'e', signs -> '+': finds "long" literals.
_NUMBER_SHAPE = bytearray(b" " * 256)
for _chars, _shape in ((b"0123456789.", b"0"), (b"eE", b"e"), (b"+-", b"+")):
    for _char in _chars:
        _NUMBER_SHAPE[_char] = _shape[0]
_NUMBER_SHAPE = bytes(_NUMBER_SHAPE)
# Literals that reach parse_float: with a fraction and/or an exponent.
_FLOAT_LITERAL = re.compile(r"-?(?:0|[1-9][0-9]*)(?:\.[0-9]+(?:[eE][-+]?[0-9]+)?|[eE][-+]?[0-9]+)")
_SURROGATE_ESCAPE = re.compile(r"\\u[dD][89a-fA-F]")


def _has_surrogate(value: object) -> bool:
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, str):
            try:
                item.encode("utf-8")
            except UnicodeEncodeError:
                return True
        elif isinstance(item, list):
            stack.extend(item)
        elif isinstance(item, dict):
            for key, member in members(item):
                stack.append(key)
                stack.append(member)
    return False


def _parse_fast(body: bytes, start: int, exact_numbers: bool) -> tuple[object, bool]:
    """The C decoder's result, if it is RapidJSON's; second item: whether every double
    is exactly RapidJSON's (False only when ``exact_numbers`` is off and it matters)."""
    if body[start:].lstrip(b" \t\n\r")[:1] != b"{":
        # Top-level scalars and arrays are errors for TF Serving anyway; also, at the
        # root Python accepts "1." or "1e" (trailing junk) where RapidJSON fails.
        raise _UseExactParser
    shape = body.translate(_NUMBER_SHAPE)
    # A literal with fewer than 14 digits and a one-digit exponent converts exactly
    # (one IEEE operation on exact operands), so the C decoder's value is RapidJSON's.
    long_literals = b"0" * 14 in shape or b"e00" in shape or b"e+00" in shape
    if not (long_literals and exact_numbers) and orjson is not None and b"\\" not in body:
        value = _parse_canonical(body, start)
        if value is not None:
            return value, exact_numbers or not long_literals
    if b"e000" in shape or b"e+000" in shape:
        # A three-digit exponent may be "too big" for RapidJSON even on a zero ("0e999"),
        # where correct rounding quietly gives 0.0: only the exact numbers can tell.
        exact_numbers = True
    parse_int = _int_literal if b"0" * 19 in shape else None  # integers past uint64
    text = body[start:].decode("utf-8")
    first = len(text) - len(text.lstrip(" \t\n\r"))
    if long_literals and exact_numbers:
        literals = list(set(_FLOAT_LITERAL.findall(text)))
        table = dict(zip(literals, _doubles_like_rapidjson(literals), strict=True)) if literals else {}
        decoder = json.JSONDecoder(
            object_pairs_hook=_make_object, parse_float=table.__getitem__, parse_int=parse_int
        )
    elif parse_int:
        decoder = json.JSONDecoder(object_pairs_hook=_make_object, parse_int=parse_int)
    else:
        decoder = _PLAIN_DECODER
    value, _ = decoder.raw_decode(text, first)
    # Python decodes an unpaired "\ud800" into a lone surrogate; RapidJSON rejects a
    # lone high surrogate and stores a lone low one as raw bytes. Leave those to it.
    if "\\u" in text and _SURROGATE_ESCAPE.search(text) and _has_surrogate(value):
        raise _UseExactParser
    return value, exact_numbers or not long_literals


_JSON_WHITESPACE = b" \t\n\r"


def _parse_canonical(body: bytes, start: int) -> dict | None:
    """orjson's reading of a body without escapes, when it provably equals the C decoder's;
    else None.

    orjson is fast but differs at the edges: a repeated key keeps its last value, and an
    integer past 64 bits becomes a double. So it is trusted only when writing its result
    back gives the body itself, whitespace aside: then every member is there (none was
    dropped as a repeat) and every number literal is exactly how orjson writes the value
    it read (an integer as an integer, "0.5" not "5e-1", no "0e999" read as 0.0), which
    the C decoder reads the same way. Without escapes, orjson writes strings back as they
    came; one holding whitespace never matches and takes the slower path.
    """
    try:
        value = orjson.loads(memoryview(body)[start:])
    except orjson.JSONDecodeError:
        return None
    try:
        canonical = orjson.dumps(value)
    except orjson.JSONEncodeError:
        return None  # nested deeper than orjson writes (254 levels): the other readers decide
    if canonical != body.translate(None, _JSON_WHITESPACE)[start:]:
        return None
    return value


def _skip_byte_order_mark(body: bytes) -> int:
    # EncodedInputStream<UTF8> skips 0xEF, 0xBB and 0xBF each only if present, in order.
    pos = 0
    for mark in (0xEF, 0xBB, 0xBF):
        if pos < len(body) and body[pos] == mark:
            pos += 1
    return pos


_gc_lock = threading.Lock()
_gc_pausers = 0
_gc_was_enabled = False


@contextlib.contextmanager
def gc_paused() -> Iterator[None]:
    """Hold off the cyclic garbage collector while building a large parsed document.

    Decoding 100,000 rows allocates 100,000 lists; each burst of allocations triggers
    collections that walk every object in the process (a TensorFlow process has
    hundreds of thousands), multiplying the parse time. Parsed documents have no
    cycles, so pausing loses nothing. Nested and concurrent users share one pause.
    """
    global _gc_pausers, _gc_was_enabled
    with _gc_lock:
        if _gc_pausers == 0:
            _gc_was_enabled = gc.isenabled()
            gc.disable()
        _gc_pausers += 1
    try:
        yield
    finally:
        with _gc_lock:
            _gc_pausers -= 1
            if _gc_pausers == 0 and _gc_was_enabled:
                gc.enable()


def parse(body: bytes) -> object:
    """Parse like ``Document::ParseStream<kParseIterativeFlag | kParseNanAndInfFlag |
    kParseStopWhenDoneFlag>`` over the body; raise :class:`ParseError` as it fails."""
    return _parse(body, exact_numbers=True)[0]


def parse_nearly(body: bytes) -> tuple[object, bool]:
    """:func:`parse`, except that long number literals may get the correctly rounded
    double instead of RapidJSON's (at most a few ulps away), which is much faster.

    Returns ``(value, exact)``; ``exact`` is False when some double may differ. Errors,
    structure, strings and integers are always exactly RapidJSON's.
    """
    return _parse(body, exact_numbers=False)


def _parse(body: bytes, exact_numbers: bool) -> tuple[object, bool]:
    start = _skip_byte_order_mark(body)
    with gc_paused():
        try:
            return _parse_fast(body, start, exact_numbers)
        except (_UseExactParser, ValueError, KeyError, RecursionError):
            # ValueError covers JSONDecodeError, invalid UTF-8 and too-big literals;
            # KeyError a literal the pre-scan missed. The exact parser decides (and
            # words the error) in every case.
            return _parse_exact(body, start), True


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


__all__ = [
    "JsonObject",
    "ParseError",
    "PrettyWriter",
    "WriterFull",
    "format_double",
    "gc_paused",
    "member_count",
    "members",
    "parse",
    "parse_nearly",
    "quote",
    "scan_number",
    "string_bytes",
    "write_value",
]
