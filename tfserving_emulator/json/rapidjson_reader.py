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
"

This module holds the exact parser and the entry points ``parse`` and ``parse_nearly``;
the number arithmetic is in ``rapidjson_numbers``, the fast path in ``rapidjson_fast``,
the writer in ``rapidjson_writer``."""

from __future__ import annotations

import contextlib
import gc
import re
import threading
from collections.abc import Iterator

from .rapidjson_document import (
    ARRAY_MISS_COMMA_OR_BRACKET,
    DOCUMENT_EMPTY,
    OBJECT_MISS_COLON,
    OBJECT_MISS_COMMA_OR_CURLY,
    OBJECT_MISS_NAME,
    STRING_ESCAPE_INVALID,
    STRING_MISS_QUOTATION_MARK,
    STRING_UNICODE_ESCAPE_INVALID_HEX,
    STRING_UNICODE_SURROGATE_INVALID,
    VALUE_INVALID,
    ParseError,
    _make_object,
)
from .rapidjson_fast import read_fast
from .rapidjson_numbers import scan_number

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
        # The one fallback: the exact parser decides (and words the error) whenever the
        # fast path cannot vouch for its reading.
        fast = read_fast(body, start, exact_numbers)
        return fast if fast is not None else (_parse_exact(body, start), True)
