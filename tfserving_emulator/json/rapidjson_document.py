"""What RapidJSON's reader produces besides numbers: its error texts (``GetParseError_En``),
:class:`ParseError`, and objects whose keys may repeat (:class:`JsonObject`)."""

from __future__ import annotations

from collections.abc import Iterable

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
