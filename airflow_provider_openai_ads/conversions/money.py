"""Exact money conversion to integer ISO 4217 minor units.

Floats never take part in arithmetic: a float from a database driver is read through its
shortest round-trip decimal form (``19.99`` stays ``Decimal("19.99")``), then converted with
``Decimal``. A value with more decimals than its currency allows is an error, never rounded.
"""

from __future__ import annotations

from decimal import MAX_EMAX, MIN_EMIN, Context, Decimal, Inexact, InvalidOperation
from functools import cache

from iso4217 import Currency

#: JSON consumers (and the API's peers) treat integers above 2**53 as unsafe
MAX_MINOR_UNITS = 2**53 - 1
_MAX_ADJUSTED = len(str(MAX_MINOR_UNITS))  # exponent of the leading digit, with room for the scaling
#: scaling to minor units must be exact: a precision loss signals instead of rounding
_EXACT = Context(prec=200, Emax=MAX_EMAX, Emin=MIN_EMIN, traps=[Inexact, InvalidOperation])


class MoneyError(ValueError):
    """A money value that cannot be converted; ``code`` is a stable reason code."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


@cache
def minor_unit_exponent(currency: str) -> int | None:
    """Number of decimals of an ISO 4217 currency (JPY 0, USD 2, KWD 3, CLF 4); None if unknown."""
    try:
        exponent = Currency(currency).exponent
    except ValueError:
        return None
    return exponent


def normalize_currency(value: object) -> str:
    """Upper-cased ISO 4217 code with a defined minor unit, or :class:`MoneyError`."""
    if not isinstance(value, str):
        raise MoneyError("invalid_currency", f"currency must be a 3-letter ISO 4217 code, got {_kind(value)}")
    code = value.strip().upper()
    if len(code) != 3 or minor_unit_exponent(code) is None:
        raise MoneyError("invalid_currency", "not an ISO 4217 currency code with a minor unit")
    return code


def to_decimal(value: object) -> Decimal:
    if isinstance(value, Decimal):
        number = value
    elif isinstance(value, bool):
        raise MoneyError("invalid_amount", "amount must be a number, got a boolean")
    elif isinstance(value, int):
        return Decimal(value)
    elif isinstance(value, float):
        number = Decimal(repr(value))
    elif isinstance(value, str):
        try:
            number = Decimal(value.strip())
        except InvalidOperation:
            raise MoneyError("invalid_amount", "amount is not a number") from None
    else:
        raise MoneyError("invalid_amount", f"amount must be a number, got {_kind(value)}")
    if not number.is_finite():
        raise MoneyError("invalid_amount", "amount must be a finite number")
    return number


def major_to_minor(value: object, currency: str) -> int:
    """Convert a decimal amount in major units (``12.34`` USD) to minor units (``1234``) exactly."""
    exponent = minor_unit_exponent(currency)
    if exponent is None:
        raise MoneyError("invalid_currency", "not an ISO 4217 currency code with a minor unit")
    number = value if type(value) is Decimal and value.is_finite() else to_decimal(value)
    scaled = _scaled(number, exponent)
    # the common case: a modest magnitude (so no huge integer is built, and zeros with a large
    # exponent stay refused as _check_magnitude refuses them), and a whole, in-range number
    if scaled is not None and -_MAX_ADJUSTED <= scaled.adjusted() <= _MAX_ADJUSTED:
        minor, denominator = scaled.as_integer_ratio()
        if denominator == 1 and 0 <= minor <= MAX_MINOR_UNITS:
            return minor
    return _checked_minor(scaled, currency, exponent)


def _scaled(number: Decimal, exponent: int) -> Decimal | None:
    """``number`` times ``10**exponent`` exactly; None when that needs more than 200 digits."""
    try:
        return number.scaleb(exponent, _EXACT)
    except Inexact:
        return None


def _checked_minor(scaled: Decimal | None, currency: str, exponent: int) -> int:
    """The checks in full on a scaled amount, raising the first that fails (the common case
    above declined it)."""
    if scaled is None or scaled != scaled.to_integral_value():
        raise MoneyError(
            "too_many_decimals",
            f"{currency} has {exponent} decimal place{'s' if exponent != 1 else ''}; "
            "the value has more and is not rounded",
        )
    _check_magnitude(scaled)
    minor = int(scaled)
    return minor if 0 <= minor <= MAX_MINOR_UNITS else _check_range(minor)


def check_minor_units(value: object) -> int:
    """Validate an amount already given in minor units."""
    if isinstance(value, bool) or not isinstance(value, int | Decimal | str | float):
        raise MoneyError("invalid_amount", f"amount must be an integer, got {_kind(value)}")
    if type(value) is int:
        return _check_range(value)
    number = to_decimal(value)
    if number != number.to_integral_value():
        raise MoneyError("invalid_amount", "amount in minor units must be a whole number")
    _check_magnitude(number)
    minor = int(number)
    return _check_range(minor)


def _check_magnitude(number: Decimal) -> None:
    """Refuse absurd magnitudes before any int() conversion could build a huge integer."""
    if number < 0:
        raise MoneyError("negative_amount", "amount must not be negative")
    if number.adjusted() > _MAX_ADJUSTED:
        raise MoneyError("invalid_amount", "amount is too large")


def _check_range(minor: int) -> int:
    if minor < 0:
        raise MoneyError("negative_amount", "amount must not be negative")
    if minor > MAX_MINOR_UNITS:
        raise MoneyError("invalid_amount", "amount is too large")
    return minor


def _kind(value: object) -> str:
    return type(value).__name__
