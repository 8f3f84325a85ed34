"""The reader's fast path: orjson and Python's C ``json`` decoder, used only for bodies
where they provably read what RapidJSON reads; ``read_fast`` returns None for anything else."""

from __future__ import annotations

import json
import re

try:  # a much faster first try at plain documents; the parser below does without it
    import orjson
except ImportError:  # pragma: no cover - orjson is in requirements.txt
    orjson = None
from .rapidjson_document import _make_object, members
from .rapidjson_numbers import _doubles_like_rapidjson, _int_literal


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


def read_fast(body: bytes, start: int, exact_numbers: bool) -> tuple[object, bool] | None:
    """The fast path's reading of ``body`` from ``start`` (see ``_parse_fast``), or None
    when only the exact parser can tell what RapidJSON reads (or how it fails)."""
    try:
        return _parse_fast(body, start, exact_numbers)
    except (_UseExactParser, ValueError, KeyError, RecursionError):
        # ValueError covers JSONDecodeError, invalid UTF-8 and too-big literals;
        # KeyError a literal the pre-scan missed.
        return None


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
