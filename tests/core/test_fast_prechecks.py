"""FAST_PRECHECKS: each accepts only what its Python field check accepts, and the common values."""

from __future__ import annotations

import sys

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic_core import SchemaValidator, ValidationError

from airflow_provider_openai_ads.conversions.schema import (
    FAST_PRECHECKS,
    PYTHON_WHITESPACE,
    UserLists,
    _check_currency,
)

GEO, POSTAL, COUNTRY, IP = (
    UserLists._geo.__func__,
    UserLists._postal.__func__,
    UserLists._countries.__func__,
    UserLists._ip.__func__,
)
PRECHECK = {check: SchemaValidator(schema) for check, schema in FAST_PRECHECKS.items()}
CHECK = {
    GEO: UserLists._geo,
    POSTAL: UserLists._postal,
    COUNTRY: UserLists._countries,
    IP: UserLists._ip,
    _check_currency: _check_currency,
}
LIST_CHECKS = (GEO, POSTAL, COUNTRY)

#: near misses: every kind of whitespace, non-ASCII letters and digits, dots, hyphens
TRICKY = PYTHON_WHITESPACE + "aZ09.-_:\u00e9\u0661\uff11\u200b\ufeff"
texts = st.one_of(
    st.text(), st.text(alphabet=TRICKY, max_size=140), st.text(alphabet="0123456789.", max_size=20)
)


def _prechecked(check, value) -> bool:
    try:
        PRECHECK[check].validate_python(value)
    except ValidationError:
        return False
    return True


def _checked(check, value) -> bool:
    try:
        returned = CHECK[check](value)
    except ValueError:
        return False
    assert returned == value  # what the lean validator relies on: the value passes unchanged
    return True


def test_the_whitespace_list_is_what_str_strip_removes():
    assert "".join(c for c in map(chr, range(sys.maxunicode + 1)) if c.isspace()) == PYTHON_WHITESPACE


def test_every_per_event_field_check_has_a_precheck():
    assert set(FAST_PRECHECKS) == set(CHECK)


@settings(max_examples=400, deadline=None)
@given(value=texts)
@pytest.mark.parametrize("check", list(CHECK), ids=["geo", "postal", "country", "ip", "currency"])
def test_a_precheck_accepts_nothing_its_check_refuses(check, value):
    candidate = [value] if check in LIST_CHECKS else value
    if _prechecked(check, candidate):
        assert _checked(check, candidate), candidate


@pytest.mark.parametrize(
    ("check", "common"),
    [
        (GEO, ["San Francisco", "CA", "São Paulo", "Île-de-France", "x" * 128, None]),
        (POSTAL, ["94107", "SW1A 1AA", "75008", "01310-100", None]),
        (COUNTRY, ["US", "gb", "FR", None]),
        (IP, ["203.0.113.1", "0.0.0.0", "255.255.255.255", None]),
        (_check_currency, ["USD", "EUR", "JPY", "KWD", None]),
    ],
)
def test_a_precheck_accepts_the_common_values(check, common):
    for value in common:
        candidate = [value] if check in LIST_CHECKS and value is not None else value
        assert _prechecked(check, candidate), value
        assert _checked(check, candidate), value


@pytest.mark.parametrize(
    ("check", "left_to_the_check"),
    [
        (GEO, [" padded", "x" * 129, "tab\t"]),
        (POSTAL, [" 94107", "94107 "]),
        (IP, ["2001:db8::1", "::ffff:203.0.113.1", "010.0.0.1", " 203.0.113.1"]),
    ],
)
def test_other_forms_are_left_to_the_python_check(check, left_to_the_check):
    for value in left_to_the_check:
        candidate = [value] if check in LIST_CHECKS else value
        assert not _prechecked(check, candidate), value
