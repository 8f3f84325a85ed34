"""RapidJSON 1.1.0 emulation: parse errors, number kinds, writer layout and number text.

Every expected string, offset and bit pattern below was produced by RapidJSON 1.1.0
itself, driven the way TF Serving drives it (``ParseStream<kParseIterativeFlag |
kParseNanAndInfFlag | kParseStopWhenDoneFlag>`` over a MemoryStream; PrettyWriter).
"""

from __future__ import annotations

import json
import math
import struct

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tfserving_emulator.json import rapidjson_document as rj_document
from tfserving_emulator.json import rapidjson_fast as rj_fast
from tfserving_emulator.json import rapidjson_numbers as rj_numbers
from tfserving_emulator.json import rapidjson_reader as rj_reader
from tfserving_emulator.json import rapidjson_writer as rj_writer


def bits(value: float) -> str:
    return struct.pack(">d", value).hex()


def parse_error(body: bytes) -> str:
    with pytest.raises(rj_document.ParseError) as caught:
        rj_reader.parse(body)
    return f"{caught.value.text} at offset: {caught.value.offset}"


# -- parse errors ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        (b"  ", "The document is empty. at offset: 2"),
        (b"instances = [1, 2]", "Invalid value. at offset: 0"),
        (b'{"instances": [1.0, 2.0', "Missing a comma or ']' after an array element. at offset: 23"),
        (b'{"a" 1}', "Missing a colon after a name of object member. at offset: 5"),
        (b'{"a": 1,}', "Missing a name for object member. at offset: 8"),
        (b'{"a": 1 "b": 2}', "Missing a comma or '}' after an object member. at offset: 8"),
        (b"[1,]", "Invalid value. at offset: 3"),
        (b"[1 2]", "Missing a comma or ']' after an array element. at offset: 3"),
        (b'{"a": tru}', "Invalid value. at offset: 9"),
        (b'{"a": nul}', "Invalid value. at offset: 9"),
        (b'{"a": "\\x"}', "Invalid escape character in string. at offset: 7"),
        (b'{"a": "\\u12G4"}', "Incorrect hex digit after \\u escape in string. at offset: 7"),
        (b'{"a": "\\ud800"}', "The surrogate pair in string is invalid. at offset: 7"),
        (b'{"a": "\\ud800\\u0041"}', "The surrogate pair in string is invalid. at offset: 7"),
        (b'{"a": "abc', "Missing a closing quotation mark in string. at offset: 10"),
        (b'{"a": "tab\there"}', "Invalid escape character in string. at offset: 10"),
        (b'{"a": 1.}', "Miss fraction part in number. at offset: 8"),
        (b'{"a": 1e}', "Miss exponent in number. at offset: 8"),
        (b'{"a": -}', "Invalid value. at offset: 7"),
        (b'{"a": Infinit}', "Invalid value. at offset: 13"),
        (b'{"a": Nan}', "Invalid value. at offset: 8"),
        (b'{"a": nan}', "Invalid value. at offset: 7"),
        (b'{"a": 1e400}', "Number too big to be stored in double. at offset: 6"),
        (b'{"a": 1' + b"0" * 400 + b"}", "Number too big to be stored in double. at offset: 6"),
        (b'{"a": [1]\x00 "b"}', "Missing a comma or '}' after an object member. at offset: 9"),
        (b'{"a": \x00}', "Invalid value. at offset: 6"),
        (b'\xef\xbb\xbf{"a": x}', "Invalid value. at offset: 9"),
        (b'{"a": 01}', "Missing a comma or '}' after an object member. at offset: 7"),
        (b"{,}", "Missing a name for object member. at offset: 1"),
        (b'{"a"}', "Missing a colon after a name of object member. at offset: 4"),
        (b'{"a": [1, 2]]', "Missing a comma or '}' after an object member. at offset: 12"),
        (b'{"a": {"b": 1}', "Missing a comma or '}' after an object member. at offset: 14"),
        (b'{"a": +1}', "Invalid value. at offset: 6"),
        (b'{"a": .5}', "Invalid value. at offset: 6"),
    ],
)
def test_parse_errors_have_rapidjson_text_and_offset(body, expected):
    assert parse_error(body) == expected


def test_trailing_bytes_after_the_document_are_ignored():
    assert rj_reader.parse(b'{"instances": [1]} junk') == {"instances": [1]}
    assert rj_reader.parse(b'{"a": 1}}]') == {"a": 1}


def test_top_level_scalars_and_arrays_parse():
    assert rj_reader.parse(b"[1,2]") == [1, 2]
    assert rj_reader.parse(b" 7 ") == 7
    assert rj_reader.parse(b'"x"') == "x"


def test_byte_order_mark_bytes_are_skipped_one_by_one():
    assert rj_reader.parse(b'\xef\xbb\xbf{"a": 1}') == {"a": 1}
    assert rj_reader.parse(b'\xbb{"a": 1}') == {"a": 1}  # RapidJSON checks each byte separately


# -- numbers -------------------------------------------------------------------------------


def test_integer_and_double_spellings_give_int_and_float():
    doc = rj_reader.parse(b'{"i": 2, "d": 2.0, "e": 1e2, "n": -0, "z": -0.0}')
    assert [type(doc[k]) for k in "idenz"] == [int, float, float, int, float]
    assert doc["n"] == 0
    assert math.copysign(1.0, doc["z"]) == -1.0


@pytest.mark.parametrize(
    ("literal", "expected"),
    [
        ("18446744073709551615", 18446744073709551615),
        ("-9223372036854775808", -9223372036854775808),
    ],
)
def test_integers_that_fit_uint64_or_int64_stay_integers(literal, expected):
    value = rj_reader.parse(b'{"v": ' + literal.encode() + b"}")["v"]
    assert type(value) is int
    assert value == expected


@pytest.mark.parametrize(
    ("literal", "expected_bits"),
    [
        ("18446744073709551616", "43f0000000000000"),
        ("-9223372036854775809", "c3e0000000000000"),
        ("10e308", "7ff0000000000000"),  # inf, not an error: the exponent check is on "308"
        ("1e-400", "0000000000000000"),
        ("NaN.5", "3fe0000000000000"),  # RapidJSON reads the fraction after NaN: 0.5
        ("Infinity.5", "3fe0000000000000"),
        ("NaNe5", "0000000000000000"),
        ("-Inf", "fff0000000000000"),
        # Normal-precision strtod is not always the correctly rounded double:
        ("0.15838287025480557", "3fc445e3cffed91f"),  # Python: ...0557 -> 3fc445e3cffed920
        ("123456789012345678901234567890", "45f8ee90ff6c373d"),
        ("2.2250738585072011e-308", "0010000000000000"),
        ("0.1234567890123456789e-300", "01752a64e34ba0d4"),
    ],
)
def test_doubles_are_rapidjsons_own(literal, expected_bits):
    value = rj_reader.parse(b'{"v": ' + literal.encode() + b"}")["v"]
    assert type(value) is float
    assert bits(value) == expected_bits


def test_nan_spellings():
    doc = rj_reader.parse(b'{"a": [NaN, -NaN, Infinity, -Infinity, Inf]}')
    assert math.isnan(doc["a"][0])
    assert math.isnan(doc["a"][1])
    assert doc["a"][2:] == [math.inf, -math.inf, math.inf]


def test_normal_precision_differs_from_correct_rounding_for_a_plain_repr():
    literal = "0.9948195629497427"
    assert float(literal) != rj_reader.parse(b'{"v": ' + literal.encode() + b"}")["v"]
    assert bits(rj_reader.parse(b'{"v": ' + literal.encode() + b"}")["v"]) == "3fefd58fd60948fb"


def test_nearly_parse_flags_long_literals_and_keeps_correct_rounding():
    body = b'{"v": [0.9948195629497427, 2.5]}'
    value, exact = rj_reader.parse_nearly(body)
    assert exact is False
    assert value["v"] == [0.9948195629497427, 2.5]
    assert rj_reader.parse_nearly(b'{"v": [0.25, 1e5]}') == ({"v": [0.25, 1e5]}, True)


# -- strings and objects -------------------------------------------------------------------


def test_strings_keep_rapidjsons_bytes():
    doc = rj_reader.parse(
        b'{"a": "\\u00e9\\ud83d\\ude00\\/", "b": "\\udc00", "c": "bad\xff", "d": "nul\\u0000"}'
    )
    assert rj_document.string_bytes(doc["a"]) == "é😀/".encode()
    assert rj_document.string_bytes(doc["b"]) == b"\xed\xb0\x80"  # a lone low surrogate, encoded as is
    assert rj_document.string_bytes(doc["c"]) == b"bad\xff"  # no UTF-8 validation
    assert rj_document.string_bytes(doc["d"]) == b"nul\x00"


def test_repeated_keys_keep_every_member_and_lookups_see_the_first():
    doc = rj_reader.parse(b'{"instances": [1], "x": 0, "instances": [2]}')
    assert type(doc) is rj_document.JsonObject
    assert doc["instances"] == [1]
    assert list(rj_document.members(doc)) == [("instances", [1]), ("x", 0), ("instances", [2])]
    assert rj_document.member_count(doc) == 3


# -- writer --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (0.1, "0.1"),
        (1.0, "1.0"),
        (1e21, "1e21"),
        (1e-7, "1e-7"),
        (5e-324, "5e-324"),
        (-0.0, "-0.0"),
        (1e20, "100000000000000000000.0"),
        (1e23, "9.999999999999999e22"),  # Grisu2 is not always shortest...
        (0.30000000000000004, "0.30000000000000007"),  # ...nor closest, but reads back
    ],
)
def test_format_double_is_rapidjson_dtoa(value, text):
    assert rj_writer.format_double(value) == text
    assert float(text) == value


@given(st.floats(allow_nan=False, allow_infinity=False))
def test_format_double_reads_back(value):
    assert float(rj_writer.format_double(value)) == value


def test_quote_escapes_like_writer_string():
    assert (
        rj_writer.quote('a"b\\c/d\x01\x1f\x7f\b\f\n\r\té')
        == '"a\\"b\\\\c/d\\u0001\\u001F\x7f\\b\\f\\n\\r\\té"'
    )


def test_pretty_writer_layout_with_single_line_arrays():
    doc = rj_reader.parse(b'{"a": [1, [2.5, "x"], {"b": null}], "c": {}, "d": []}')
    writer = rj_writer.PrettyWriter(single_line_arrays=True)
    assert rj_writer.write_value(writer, doc)
    assert writer.text() == (
        '{\n    "a": [1, [2.5, "x"], {\n            "b": null\n        }],\n    "c": {},\n    "d": []\n}'
    )


def test_pretty_writer_default_layout():
    writer = rj_writer.PrettyWriter()
    rj_writer.write_value(writer, {"a": [1, [True]], "b": "s"})
    assert (
        writer.text()
        == '{\n    "a": [\n        1,\n        [\n            true\n        ]\n    ],\n    "b": "s"\n}'
    )


def test_writer_stops_at_a_non_finite_double_after_its_separator():
    writer = rj_writer.PrettyWriter(single_line_arrays=True)
    assert not rj_writer.write_value(writer, rj_reader.parse(b'{"instances":[1.0],"inputs":[1.0, NaN, 3]}'))
    assert writer.text() == '{\n    "instances": [1.0],\n    "inputs": [1.0, '


# -- the fast path and the exact parser agree ---------------------------------------------


class Literal(str):
    """A number written exactly as given (e.g. a long decimal)."""


json_numbers = st.one_of(
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=False, allow_infinity=False),
    st.floats(allow_nan=False, allow_infinity=False, width=32),
    st.decimals(allow_nan=False, allow_infinity=False).map(lambda d: Literal(str(d))),
)
json_values = st.recursive(
    st.none() | st.booleans() | json_numbers | st.text(max_size=8),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=4), children, max_size=4)
    ),
    max_leaves=20,
)


def kinds(value):
    """A value with its number kinds and exact bits spelled out, for comparisons."""
    if isinstance(value, float):
        return ("double", bits(value))
    if isinstance(value, bool) or value is None:
        return value
    if isinstance(value, int):
        return ("int", value)
    if isinstance(value, str):
        return ("str", rj_document.string_bytes(value))
    if isinstance(value, list):
        return [kinds(item) for item in value]
    return [(kinds(key), kinds(member)) for key, member in rj_document.members(value)]


def dumps(value) -> str:
    if isinstance(value, Literal):
        return str(value)
    if isinstance(value, list):
        return "[" + ", ".join(map(dumps, value)) + "]"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{json.dumps(k)}: {dumps(v)}" for k, v in value.items()) + "}"
    return json.dumps(value)


@settings(max_examples=300)
@given(st.dictionaries(st.text(max_size=4), json_values, max_size=4))
def test_fast_path_equals_exact_parser(doc):
    body = dumps(doc).encode()

    def outcome(parser):
        try:
            return kinds(parser(body))
        except rj_document.ParseError as err:
            return (err.text, err.offset)

    assert outcome(rj_reader.parse) == outcome(lambda b: rj_reader._parse_exact(b, 0))


@settings(max_examples=300)
@given(st.lists(json_numbers.map(str), min_size=1, max_size=20))
def test_vectorised_doubles_equal_the_scalar_parser(literals):
    literals = [lit for lit in literals if "." in lit or "e" in lit or "E" in lit]
    valid = []
    for lit in literals:
        try:
            rj_numbers.scan_number(lit.encode(), 0)
            valid.append(lit)
        except rj_document.ParseError:
            pass
    if valid:
        expected = [bits(rj_numbers.scan_number(lit.encode(), 0)[0]) for lit in valid]
        assert [bits(v) for v in rj_numbers._vectorised_doubles(valid)] == expected


# -- the orjson first try ------------------------------------------------------------------


needs_orjson = pytest.mark.skipif(rj_fast.orjson is None, reason="orjson is not installed")


def compact(value) -> str:
    """JSON as orjson writes it (no spaces), so that the orjson first try applies."""
    if isinstance(value, list):
        return "[" + ",".join(map(compact, value)) + "]"
    if isinstance(value, dict):
        return "{" + ",".join(f"{json.dumps(k)}:{compact(v)}" for k, v in value.items()) + "}"
    return dumps(value)


@needs_orjson
@pytest.mark.parametrize(
    "body",
    [
        b'{"a":1,"a":2}',  # a repeated key: orjson keeps the last value
        b'{"a":18446744073709551616}',  # past uint64: orjson reads a double
        b'{"a":0e999}',  # orjson reads 0.0; RapidJSON says "too big"
        b'{"a":NaN}',
        b'{"a":1e-05}',  # orjson writes 1e-5: not provably read alike, so not trusted
        b'{"a":"x y"}',  # whitespace inside a string
        b'{"a":1}x',
    ],
)
def test_orjson_is_not_trusted_where_it_could_differ(body):
    assert rj_fast._parse_canonical(body, 0) is None


@needs_orjson
def test_orjson_is_trusted_for_plain_documents():
    body = b'{"signature_name": "your_prediction", "instances": [{"x": [-1.0], "y": [0.5, 2]}]}'
    assert rj_fast._parse_canonical(body, 0) == json.loads(body)


def test_nearly_parse_refuses_a_zero_with_a_too_big_exponent():
    with pytest.raises(rj_document.ParseError) as err:
        rj_reader.parse_nearly(b'{"v": [0.9948195629497427, 0e999]}')
    assert (err.value.text, err.value.offset) == (rj_document.NUMBER_TOO_BIG, 27)


def test_repeated_keys_in_a_compact_body_keep_the_first_value():
    doc, exact = rj_reader.parse_nearly(b'{"instances":[1],"instances":[2]}')
    assert (type(doc), doc["instances"], rj_document.member_count(doc), exact) == (
        rj_document.JsonObject,
        [1],
        2,
        True,
    )


def nearly_kinds(value, doubles: list[float]):
    """``kinds`` with every double replaced by a marker and collected in ``doubles``
    (parse_nearly may be a few ulps away from RapidJSON for long literals)."""
    if isinstance(value, float):
        doubles.append(value)
        return "double"
    if isinstance(value, list):
        return [nearly_kinds(item, doubles) for item in value]
    if isinstance(value, dict):
        return [(kinds(key), nearly_kinds(member, doubles)) for key, member in rj_document.members(value)]
    return kinds(value)


def close_doubles(found: list[float], expected: list[float]) -> bool:
    return len(found) == len(expected) and all(
        a == b or math.isclose(a, b, rel_tol=1e-14) for a, b in zip(found, expected, strict=True)
    )


@settings(max_examples=300)
@given(
    st.lists(st.tuples(st.sampled_from(["a", "b", "c d"]), json_values), max_size=5),
    st.booleans(),
)
def test_nearly_parse_equals_exact_parser(members, spaced):
    write = dumps if spaced else compact
    body = ("{" + ",".join(f"{json.dumps(k)}:{write(v)}" for k, v in members) + "}").encode()

    try:
        value, exact = rj_reader.parse_nearly(body)
    except rj_document.ParseError as err:
        with pytest.raises(rj_document.ParseError) as exact_err:
            rj_reader._parse_exact(body, 0)
        assert (exact_err.value.text, exact_err.value.offset) == (err.text, err.offset)
        return
    expected = rj_reader._parse_exact(body, 0)
    if exact:
        assert kinds(value) == kinds(expected)
    else:
        found_doubles, expected_doubles = [], []
        assert nearly_kinds(value, found_doubles) == nearly_kinds(expected, expected_doubles)
        assert close_doubles(found_doubles, expected_doubles)
