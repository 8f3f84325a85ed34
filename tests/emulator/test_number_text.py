"""TF Serving's number text (WriteDecimal): every fast path against the careful one, and
the careful one against an exact, value-by-value oracle."""

from __future__ import annotations

import math
from fractions import Fraction

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tfserving_emulator.json import number_text as nt


def oracle_text(value: np.float32) -> str:
    """WriteDecimal of one float32 the slow, obvious way: %g, read back exactly
    (absl::SimpleAtof rounds the decimal to the nearest float32, ties to even)."""
    number = float(value)
    if math.isnan(number):
        return "NaN"
    if math.isinf(number):
        return "Infinity" if number > 0 else "-Infinity"
    text = f"{number:g}"
    if nt._exact_nearest_float32(Fraction(text)) != value:
        text = f"{number:.9g}"
    return text if "." in text or "e" in text else text + ".0"


@pytest.mark.parametrize("value", [67108896.0, 67108904.0, 67109104.0])
def test_a_read_back_on_a_float32_midpoint_takes_the_careful_path(value):
    # "%g" gives 6.71089e+07 = 67108900, exactly halfway between two float32 values.
    assert nt._float32_text_quick(value) is None
    array = np.array([value], dtype=np.float32)
    assert nt.decimal_texts(array) == nt._careful_texts(array) == [oracle_text(array[0])]


@settings(max_examples=300, deadline=None)
@given(st.lists(st.floats(width=32), min_size=1, max_size=70))
def test_quick_float32_texts_equal_the_careful_ones(values):
    array = np.array(values, dtype=np.float32)
    quick = nt._float32_texts_quick(array)
    if quick is not None:
        assert quick == nt._careful_texts(array)


# Values the bulk path must get right: both ends of its range, powers of ten (where
# log10 may be off by one), whole numbers, six-digit decimals that do and do not read
# back, and numbers that round up to the next power of ten at six digits.
EDGE_VALUES = [
    0.0, -0.0, 1e-7, 1.0000001e-7, 9.999999e-7, 1e-6, 1e-5, 1e-4, 0.001, 0.1, 0.2, 0.3, 0.5, 1.0, 3.0,
    9.99999, 9.999995, 9.9999995, 10.0, 99999.95, 99999.99, 100000.0, 123456.0, 123456.5, 999999.0,
    999999.44, 999999.5, 999999.94, 3.14159265, 2.7182817, 0.33333334, 16777215.0 / 32, 65504.0,
]  # fmt: skip


def test_bulk_texts_at_the_edges_equal_the_oracle():
    values = np.array(EDGE_VALUES * 3, dtype=np.float32)
    values[len(EDGE_VALUES) :] *= -1  # the same values negative, and once more
    assert nt._float32_codes(values) is not None  # all in the bulk path's range
    assert nt.decimal_texts(values) == [oracle_text(v) for v in values]


def test_bulk_texts_over_many_magnitudes_equal_the_careful_ones():
    rng = np.random.default_rng(7)
    for exponent in range(-7, 6):
        signs = rng.choice([-1.0, 1.0], 4000)
        values = (signs * 10.0 ** rng.uniform(exponent, exponent + 1, 4000)).astype(np.float32)
        values[::50] = np.round(values[::50])  # whole numbers too
        assert nt._float32_codes(values) is not None
        assert nt.decimal_texts(values) == nt._careful_texts(values)


def test_every_float32_in_a_slice_of_each_decade_matches_the_oracle():
    # 2,000 consecutive float32 values from each power of ten up: every rounding case.
    for start in (1e-7, 1e-3, 1.0, 10.0, 999.0, 1e5, 999000.0):
        bits = np.arange(2000, dtype=np.uint32) + np.array([start], dtype=np.float32).view(np.uint32)
        values = bits.view(np.float32)
        values = values[values < 1e6]
        assert nt.decimal_texts(values) == [oracle_text(v) for v in values]


@settings(max_examples=200, deadline=None)
@given(
    st.lists(
        st.one_of(
            st.floats(width=32, min_value=-1e6, max_value=1e6),
            st.sampled_from(EDGE_VALUES),
            st.integers(min_value=-999999, max_value=999999).map(float),
        ),
        min_size=nt.SCALAR_LIMIT + 1,
        max_size=400,
    )
)
def test_bulk_texts_equal_the_careful_ones(values):
    array = np.array(values, dtype=np.float32)
    assert nt.decimal_texts(array) == nt._careful_texts(array)


def test_values_outside_the_bulk_range_take_the_careful_path():
    for outlier in (1e6, 1e-8, 1e30, math.inf, math.nan):
        values = np.full(100, 0.5, dtype=np.float32)
        values[37] = outlier
        assert nt._float32_codes(values) is None
        assert nt.decimal_texts(values) == [oracle_text(v) for v in values]


def test_one_conversion_for_all_values_comes_as_one_spec():
    pi = np.float32(math.pi)  # "3.14159" reads back as another float32: "%.9g"
    assert nt.decimal_format(np.full(100, pi)) == ("%.9g", (float(pi),) * 100)
    assert nt.decimal_format(np.full(100, 0.1, dtype=np.float32)) == ("%g", (float(np.float32(0.1)),) * 100)
    assert nt.decimal_format(np.full(100, 2.0, dtype=np.float32)) == ("%g.0", (2.0,) * 100)
    specs, arguments = nt.decimal_format(np.array([0.5, pi] * 50, dtype=np.float32))
    assert specs == ["%g", "%.9g"] * 50 and len(arguments) == 100
    specs, arguments = nt.decimal_format(np.array([0.5, 3.0], dtype=np.float32))
    assert (specs, arguments) == (["0.5", "3.0"], ())  # a few values: texts, no arguments
