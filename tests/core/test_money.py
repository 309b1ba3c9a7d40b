"""Exact ISO 4217 minor-unit conversion (conversions-api.md §4.4)."""

from __future__ import annotations

from decimal import Decimal
from fractions import Fraction

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from airflow_provider_openai_ads.conversions.money import (
    MAX_MINOR_UNITS,
    MoneyError,
    _checked_minor,
    _scaled,
    check_minor_units,
    major_to_minor,
    minor_unit_exponent,
    normalize_currency,
    to_decimal,
)

PROPERTY = settings(max_examples=100, deadline=None)


def _outcome(value, currency) -> int | str:
    """The converted amount, or the MoneyError code."""
    try:
        return major_to_minor(value, currency)
    except MoneyError as exc:
        return exc.code


def _code(call, *args) -> str:
    with pytest.raises(MoneyError) as info:
        call(*args)
    return info.value.code


# -- exponent table ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("currency", "exponent"),
    [
        ("USD", 2),
        ("EUR", 2),
        ("GBP", 2),
        ("JPY", 0),
        ("KRW", 0),
        ("ISK", 0),
        ("VND", 0),
        ("XAF", 0),
        ("CLP", 0),
        ("IDR", 2),  # ISO, not the payment-processor 0
        ("MGA", 2),
        ("KWD", 3),
        ("BHD", 3),
        ("JOD", 3),
        ("TND", 3),
        ("CLF", 4),
        ("UYW", 4),
    ],
)
def test_minor_unit_exponent(currency, exponent):
    assert minor_unit_exponent(currency) == exponent


@pytest.mark.parametrize("currency", ["XAU", "XXX", "XDR", "ABC", "US", "USDX", "", "usd"])
def test_minor_unit_exponent_unknown_or_without_minor_unit(currency):
    assert minor_unit_exponent(currency) is None


# -- currency ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "expected"), [("USD", "USD"), ("usd", "USD"), (" jpy\n", "JPY"), ("Kwd", "KWD"), ("clf", "CLF")]
)
def test_normalize_currency(raw, expected):
    assert normalize_currency(raw) == expected


@pytest.mark.parametrize("raw", ["", "US", "USDX", "ABC", "XAU", "XXX", "U$D", 840, None, b"USD", ["USD"]])
def test_normalize_currency_invalid(raw):
    assert _code(normalize_currency, raw) == "invalid_currency"


def test_lowercase_currency_normalized_then_converted():
    assert major_to_minor("19.99", normalize_currency("usd")) == 1999
    assert major_to_minor(8900, normalize_currency(" jpy ")) == 8900


# -- major_to_minor examples -----------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "currency", "expected"),
    [
        (42, "USD", 4200),
        ("42.00", "USD", 4200),
        (Decimal("129.99"), "USD", 12999),
        (25.99, "USD", 2599),
        (19.99, "USD", 1999),  # 19.99 * 100 == 1998.9999999999998 in float arithmetic
        (0.29, "USD", 29),  # 0.29 * 100 == 28.999999999999996
        ("0.01", "USD", 1),
        (" 12.5 ", "USD", 1250),
        ("1e2", "USD", 10000),
        (0, "USD", 0),
        ("-0", "USD", 0),
        (8900, "JPY", 8900),
        ("8900.000", "JPY", 8900),
        (8900.0, "JPY", 8900),
        ("1.234", "KWD", 1234),
        (Decimal("0.001"), "KWD", 1),
        ("1.2345", "CLF", 12345),
        ("1", "CLF", 10000),
        ("90071992547409.91", "USD", MAX_MINOR_UNITS),
        (MAX_MINOR_UNITS, "JPY", MAX_MINOR_UNITS),
    ],
)
def test_major_to_minor(value, currency, expected):
    result = major_to_minor(value, currency)
    assert result == expected
    assert type(result) is int


@pytest.mark.parametrize(
    ("value", "currency"),
    [
        (1.5, "JPY"),
        ("1.5", "JPY"),
        (Decimal("8900.1"), "JPY"),
        ("1.234", "USD"),
        ("0.001", "USD"),
        (0.1 + 0.2, "USD"),  # repr 0.30000000000000004: exact, hence over-precise
        (1e-7, "USD"),
        ("1.2345", "KWD"),
        ("1.23456", "CLF"),
        ("-0.001", "USD"),
    ],
)
def test_major_to_minor_never_rounds(value, currency):
    assert _code(major_to_minor, value, currency) == "too_many_decimals"


@pytest.mark.parametrize("value", [-1, "-0.01", Decimal("-42"), -25.99])
def test_major_to_minor_negative(value):
    assert _code(major_to_minor, value, "USD") == "negative_amount"


@pytest.mark.parametrize(
    "value",
    [
        float("nan"),
        float("inf"),
        float("-inf"),
        Decimal("NaN"),
        Decimal("sNaN"),
        Decimal("Infinity"),
        "nan",
        "inf",
        "-Infinity",
        True,
        False,
        None,
        "",
        "12,50",
        "$12",
        "twelve",
        [12],
        b"12",
        object(),
    ],
)
def test_major_to_minor_invalid_amount(value):
    assert _code(major_to_minor, value, "USD") == "invalid_amount"


def test_major_to_minor_too_large():
    assert _code(major_to_minor, "90071992547409.92", "USD") == "invalid_amount"
    assert _code(major_to_minor, MAX_MINOR_UNITS + 1, "JPY") == "invalid_amount"
    assert _code(major_to_minor, "1e30", "USD") == "invalid_amount"


@pytest.mark.parametrize("currency", ["ABC", "XAU", "XXX", "usd", "", "US"])
def test_major_to_minor_unknown_currency(currency):
    assert _code(major_to_minor, 1, currency) == "invalid_currency"


def test_money_error_is_value_error_with_code_and_message():
    with pytest.raises(ValueError, match="JPY has 0 decimal places") as info:
        major_to_minor("1.5", "JPY")
    assert isinstance(info.value, MoneyError)
    assert info.value.code == "too_many_decimals"
    with pytest.raises(MoneyError, match="KWD has 3 decimal places"):
        major_to_minor("0.0001", "KWD")


def test_to_decimal_reads_floats_through_repr():
    assert to_decimal(19.99) == Decimal("19.99")
    assert to_decimal(0.1 + 0.2) == Decimal("0.30000000000000004")
    assert to_decimal(1e-7) == Decimal("1E-7")
    assert to_decimal(7) == Decimal(7)
    assert to_decimal(" 1.50 ") == Decimal("1.50")
    assert to_decimal(Decimal("2.5")) == Decimal("2.5")


# -- check_minor_units ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (0, 0),
        (2599, 2599),
        ("2599", 2599),
        (" 2599 ", 2599),
        (Decimal("2599"), 2599),
        (Decimal("2599.00"), 2599),
        (2599.0, 2599),
        ("12.0", 12),
        (MAX_MINOR_UNITS, MAX_MINOR_UNITS),
    ],
)
def test_check_minor_units_valid(value, expected):
    result = check_minor_units(value)
    assert result == expected
    assert type(result) is int


@pytest.mark.parametrize(
    ("value", "code"),
    [
        (12.5, "invalid_amount"),
        ("0.5", "invalid_amount"),
        (-1, "negative_amount"),
        ("-2599", "negative_amount"),
        (MAX_MINOR_UNITS + 1, "invalid_amount"),
        (float(2**60), "invalid_amount"),
        (True, "invalid_amount"),
        (False, "invalid_amount"),
        (None, "invalid_amount"),
        ([1], "invalid_amount"),
        ("abc", "invalid_amount"),
        (float("nan"), "invalid_amount"),
        (float("inf"), "invalid_amount"),
        (Decimal("-Infinity"), "invalid_amount"),
    ],
)
def test_check_minor_units_invalid(value, code):
    assert _code(check_minor_units, value) == code


# -- bugs -------------------------------------------------------------------------------


def test_major_to_minor_does_not_round_beyond_28_significant_digits():
    assert _code(major_to_minor, Decimal("1.0000000000000000000000000001"), "USD") == "too_many_decimals"


def test_major_to_minor_does_not_underflow_to_zero():
    assert _code(major_to_minor, Decimal("1E-2000000"), "USD") == "too_many_decimals"


def test_major_to_minor_huge_exponent_is_a_money_error():
    assert _code(major_to_minor, "1E+999999", "USD") == "invalid_amount"


class _TrackingDecimal(Decimal):
    """A Decimal that refuses to be turned into an int with more than 100 digits."""

    def __int__(self):
        if self.adjusted() > 100:
            raise AssertionError(f"int() of a {self.adjusted() + 1}-digit number")
        return super().__int__()


def test_tracking_decimal_converts_ordinary_values():
    assert check_minor_units(_TrackingDecimal("2599")) == 2599
    assert _code(check_minor_units, _TrackingDecimal("1E+50")) == "invalid_amount"


def test_check_minor_units_rejects_huge_exponent_without_building_the_int():
    assert _code(check_minor_units, _TrackingDecimal("1E+999999")) == "invalid_amount"


def test_major_to_minor_rejects_huge_exponent_without_building_the_int():
    assert _code(major_to_minor, _TrackingDecimal("1E+999999"), "USD") == "invalid_amount"
    assert _code(major_to_minor, _TrackingDecimal("0E+999999"), "USD") == "invalid_amount"


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (Decimal("-0.00"), 0),  # a negative zero is zero
        (Decimal("0E-20"), 0),  # beyond the fast route's magnitudes, still a valid zero
        (Decimal("0E+50"), "invalid_amount"),  # equal to zero, but refused as too large
        (Decimal("0E+15"), "invalid_amount"),  # likewise once scaled (0E+17)
        (Decimal("1E-17"), "too_many_decimals"),
        (Decimal("90071992547409.91"), MAX_MINOR_UNITS),
        (Decimal("90071992547409.92"), "invalid_amount"),
        (Decimal("1" + "0" * 249 + "1E-250"), "too_many_decimals"),  # 251 digits: not rounded
        (Decimal("1" + "0" * 250 + "E-250"), 100),  # 251 digits, all trailing zeros: exactly 1
        (Decimal("19.990000000000000000000000000000"), 1999),
    ],
)
def test_major_to_minor_edges_of_the_fast_route(value, expected):
    assert _outcome(value, "USD") == expected


# -- properties -------------------------------------------------------------------------

EXPONENT_CURRENCIES = st.sampled_from([("JPY", 0), ("USD", 2), ("KWD", 3)])
# at most 20 significant digits: inside the default decimal context (see the xfail above)
DECIMALS = st.builds(
    lambda digits, exponent: Decimal(f"{digits}E{exponent}"),
    st.integers(min_value=0, max_value=10**20),
    st.integers(min_value=-10, max_value=6),
)


@PROPERTY
@given(DECIMALS, EXPONENT_CURRENCIES)
def test_conversion_is_exact_or_too_many_decimals(value, currency_exponent):
    currency, exponent = currency_exponent
    scaled = Fraction(value) * 10**exponent
    outcome = _outcome(value, currency)
    if scaled.denominator != 1:
        assert outcome == "too_many_decimals"
    elif scaled > MAX_MINOR_UNITS:
        assert outcome == "invalid_amount"
    else:
        minor = outcome
        assert type(minor) is int
        assert minor == scaled
        assert Decimal(minor).scaleb(-exponent) == value
        assert Fraction(minor, 10**exponent) == Fraction(value)
        assert 0 <= minor <= MAX_MINOR_UNITS


@PROPERTY
@given(DECIMALS, EXPONENT_CURRENCIES)
def test_string_and_decimal_inputs_agree(value, currency_exponent):
    currency, _ = currency_exponent

    assert _outcome(value, currency) == _outcome(str(value), currency) == _outcome(f" {value} ", currency)


@PROPERTY
@given(DECIMALS.filter(lambda d: d > 0), EXPONENT_CURRENCIES)
def test_negative_amounts_are_never_converted(value, currency_exponent):
    currency, exponent = currency_exponent
    expected = "negative_amount" if (Fraction(value) * 10**exponent).denominator == 1 else "too_many_decimals"
    assert _code(major_to_minor, -value, currency) == expected


@PROPERTY
@given(st.floats(min_value=0, max_value=1e13, allow_nan=False, allow_infinity=False), EXPONENT_CURRENCIES)
def test_floats_go_through_repr(value, currency_exponent):
    currency, exponent = currency_exponent

    result = _outcome(value, currency)
    assert result == _outcome(Decimal(repr(value)), currency)
    if isinstance(result, int):
        assert Fraction(result, 10**exponent) == Fraction(Decimal(repr(value)))


@PROPERTY
@given(st.integers(min_value=-(2**64), max_value=2**64))
def test_check_minor_units_integers(value):
    if value < 0:
        assert _code(check_minor_units, value) == "negative_amount"
    elif value > MAX_MINOR_UNITS:
        assert _code(check_minor_units, value) == "invalid_amount"
    else:
        assert check_minor_units(value) == value
        assert check_minor_units(str(value)) == value


# signs, zeros, up to 40 digits and exponents far beyond any currency's: both sides of every guard
WIDE_DECIMALS = st.builds(
    lambda sign, digits, exponent: Decimal(f"{sign}{digits}E{exponent}"),
    st.sampled_from(["", "-"]),
    st.one_of(st.just(0), st.integers(0, 10**6), st.integers(0, 10**40)),  # zeros: any exponent is valid
    st.integers(min_value=-40, max_value=40),
)


@settings(max_examples=500, deadline=None)
@given(WIDE_DECIMALS, EXPONENT_CURRENCIES)
def test_fast_route_agrees_with_the_full_checks(value, currency_exponent):
    currency, exponent = currency_exponent
    try:
        expected = _checked_minor(_scaled(value, exponent), currency, exponent)
    except MoneyError as exc:
        expected = exc.code
    assert _outcome(value, currency) == expected
