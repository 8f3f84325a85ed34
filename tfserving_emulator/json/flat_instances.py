"""The row-format ``:predict`` body most clients send, read in a few whole-body passes.

A request like the tutorial's ::

    {"signature_name": "your_prediction",
     "instances": [{"tensor_info_input_x": [0.5], "tensor_info_input_y": [0.7]}, ...]}

is one row layout repeated with different numbers. Reading it as a general JSON document
builds a dict, a list and a float object per value and then walks them again to build the
tensors: most of the emulator's cost per request. Here the layout is taken from the first
row and checked against all rows at once with C-level operations on the bytes (``split``,
``translate``, numpy comparisons), and the numbers are read by one ``orjson`` call on the
numbers alone.

What is accepted: a top-level object holding ``"instances"`` and optionally a plain
``"signature_name"`` string (before or after it) and nothing else, whose rows are objects
with the first row's keys in the first row's order, each value a number or a flat,
non-empty list of numbers as long as the first row's; whitespace anywhere JSON allows it.
Anything else (escapes, other members, nesting, strings, ``true``, ``NaN``, a row that
does not fit) gets ``None`` and goes to the general parser, which also words every error.
So this path never decides an error and never answers differently: when it answers, the
body is valid JSON and the rows are what the general path reads, number literals aside.
For those it reports ``long_literals``: whether any literal is one RapidJSON may read a
few ulps differently from a correctly rounded parser (see ``rapidjson_reader.parse_nearly``);
the caller decides what that allows.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np

try:
    import orjson
except ImportError:  # pragma: no cover - orjson is in requirements.txt
    orjson = None

# Below about this size (a dozen rows) the general path is as fast: its per-value Python
# costs less than the fixed cost of these whole-body passes.
WORTH_IT_BYTES = 1024

_WS = rb"[ \t\n\r]*"
# A plain string: printable ASCII without '"' or '\'. Anything else is the general path's.
_PLAIN_STRING = rb'"([ !#-\[\]-~]*)"'
_HEAD = re.compile(
    _WS + rb"\{" + _WS
    + rb'(?:"signature_name"' + _WS + rb":" + _WS + _PLAIN_STRING + _WS + rb"," + _WS + rb")?"
    + rb'"instances"' + _WS + rb":" + _WS + rb"\[" + _WS
)  # fmt: skip
_TAIL = re.compile(
    _WS + rb"\]" + _WS
    + rb"(?:," + _WS + rb'"signature_name"' + _WS + rb":" + _WS + _PLAIN_STRING + _WS + rb")?"
    + rb"\}" + _WS
)  # fmt: skip
_WHITESPACE = b" \t\n\r"
_NUMBER_CHARS = b"0123456789.eE+-"
# Every number character -> "n": a row then reads like {:[n],:[nnn]} once its keys and
# whitespace are gone.
_NUMBERS_AS_N = bytes.maketrans(_NUMBER_CHARS, b"n" * len(_NUMBER_CHARS))
# What may stand right before and right after a number: a number anywhere else is out of
# place (before a key, between ':' and '[', after ']' ...).
_BEFORE_A_NUMBER = np.zeros(256, dtype=bool)
_BEFORE_A_NUMBER[list(b"[,:")] = True
_AFTER_A_NUMBER = np.zeros(256, dtype=bool)
_AFTER_A_NUMBER[list(b"],}")] = True
# Brackets, braces and colons -> spaces: what is left is the numbers, one ',' between two.
_STRUCTURE_AS_SPACES = bytes.maketrans(b"[]{}:", b"     ")
_IS_DIGIT = np.zeros(256, dtype=bool)
_IS_DIGIT[list(b"0123456789")] = True
# A literal with this many characters among digits and '.' may be "long" (see long_literals).
_LONG_SIGNIFICAND = re.compile(rb"[0-9.]{14}")


@dataclass
class FlatInstances:
    """A row-format body's rows, as numbers."""

    signature_name: str  # "" when the body has none
    keys: list[str]  # in the rows' order
    widths: list[int]  # per key: the list length, or 0 for a plain number
    values: np.ndarray  # (rows, sum of max(width, 1)): int64 if every literal is an integer, else float64
    numbers: bytes  # the literals, one ',' between two

    @property
    def long_literals(self) -> bool:
        """Whether a literal may be read differently by RapidJSON's normal-precision strtod:
        14 or more digits (counting '.'), or an exponent of two digits or more."""
        return _LONG_SIGNIFICAND.search(self.numbers) is not None or _exponent_digits(self.numbers) >= 2

    def columns(self, values: np.ndarray) -> list[np.ndarray]:
        """``values`` (``self.values`` or a converted copy) cut into one array per key:
        shape (rows,) for plain numbers, (rows, width) for lists."""
        columns, start = [], 0
        for width in self.widths:
            columns.append(values[:, start] if width == 0 else values[:, start : start + width])
            start += max(width, 1)
        return columns


def parse(body: bytes) -> FlatInstances | None:
    """The rows of a body of the common shape, or None (see the module doc)."""
    if orjson is None or b"\\" in body:
        return None  # without escapes, every '"' opens or closes a string
    head = _HEAD.match(body)
    if head is None:
        return None
    tail_start = body.rfind(b"]")
    tail = _TAIL.fullmatch(body, tail_start) if tail_start > head.end() else None
    if tail is None or (head.group(1) is not None and tail.group(1) is not None):
        return None  # not this shape, or two signature names
    signature = head.group(1) if head.group(1) is not None else tail.group(1)
    rows = body[head.end() : tail_start]
    layout = _first_row_layout(rows)
    if layout is None:
        return None
    keys, widths = layout

    # Strings are the odd pieces between quotes: they must be the keys, in order, row by row.
    pieces = rows.split(b'"')
    quoted = pieces[1::2]
    count = len(quoted) // len(keys)
    if quoted != [key.encode() for key in keys] * count:
        return None
    # The rest, keys taken out, whitespace dropped, numbers as "n": every row's brackets,
    # braces, colons and commas must be the first row's, and every number must sit in a
    # value's place. Then each ','-separated piece holds exactly one number or orjson fails.
    structure = b"".join(pieces[0::2])
    classes = structure.translate(_NUMBERS_AS_N, _WHITESPACE)
    row_skeleton = b"{" + b",".join(b":[" + b"," * (w - 1) + b"]" if w else b":" for w in widths) + b"}"
    if classes.translate(None, b"n") != (row_skeleton + b",") * (count - 1) + row_skeleton:
        return None
    if not _numbers_in_place(classes):
        return None
    numbers = structure.translate(_STRUCTURE_AS_SPACES)
    if _exponent_digits(numbers) >= 3:
        return None  # a three-digit exponent may be "too big" for RapidJSON even on a zero
    try:
        parsed = orjson.loads(b"[" + numbers + b"]")
    except orjson.JSONDecodeError:
        return None  # a malformed literal: the general parser words it
    values = np.array(parsed)
    if values.dtype.kind != "i" and (values.dtype.kind != "f" or not _has_fraction_or_exponent(numbers)):
        return None  # integers past int64 (RapidJSON's Uint64 or doubles): the general path's
    return FlatInstances(
        signature_name=signature.decode("ascii") if signature is not None else "",
        keys=keys,
        widths=widths,
        values=values.reshape(count, -1),
        numbers=numbers,
    )


def _first_row_layout(rows: bytes) -> tuple[list[str], list[int]] | None:
    """The first row's keys and value widths (list length, 0 for a number), or None."""
    try:
        row = orjson.loads(rows[: rows.find(b"}") + 1])
    except orjson.JSONDecodeError:
        return None
    if type(row) is not dict or not row:
        return None
    widths = []
    for value in row.values():
        if type(value) is list:
            if not value or not all(type(v) in (int, float) for v in value):
                return None
            widths.append(len(value))
        elif type(value) in (int, float):
            widths.append(0)
        else:
            return None
    return list(row), widths


def _numbers_in_place(classes: bytes) -> bool:
    """Whether every run of "n" follows one of '[,:' and precedes one of '],}'."""
    chars = np.frombuffer(classes, dtype=np.uint8)
    is_number = chars == ord("n")
    if is_number[0] or is_number[-1]:
        return False
    changes = is_number[1:] != is_number[:-1]
    before = chars[:-1][changes & is_number[1:]]
    after = chars[1:][changes & is_number[:-1]]
    return bool(_BEFORE_A_NUMBER[before].all() and _AFTER_A_NUMBER[after].all())


def _has_fraction_or_exponent(numbers: bytes) -> bool:
    return b"." in numbers or b"e" in numbers or b"E" in numbers


def _exponent_digits(numbers: bytes) -> int:
    """The most digits any exponent in ``numbers`` has (0 without exponents; at most 3)."""
    if b"e" not in numbers and b"E" not in numbers:
        return 0
    # Padded so that looking three characters past any 'e' stays inside the array.
    chars = np.frombuffer(numbers + b"   ", dtype=np.uint8)
    start = np.flatnonzero((chars == ord("e")) | (chars == ord("E"))) + 1
    start += (chars[start] == ord("+")) | (chars[start] == ord("-"))
    run = _IS_DIGIT[chars[start]]
    most = 0
    for offset in range(3):
        run &= _IS_DIGIT[chars[start + offset]]
        if not run.any():
            break
        most = offset + 1
    return most
