"""The fast path (``conversions.fast_path``) against the general path, which is its reference.

Every mapping test already maps its rows three ways through :func:`tests.mapping.map_rows`
(fast path on dicts, general path alone, fast path on records) and requires identical output.
Here hypothesis adds rows that mix typical values with every odd value a warehouse can hold,
in groups of line items that sometimes disagree; and typical rows must actually take the fast
path, or the speed it exists for would be lost without any test failing.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from airflow_provider_openai_ads.conversions.mapping import MappingOptions, RowMapper
from airflow_provider_openai_ads.conversions.report import Report
from airflow_provider_openai_ads.conversions.values import MAX_VALUE_CHARS

from . import NOW_S, RECENT_DT, map_rows

TYPICAL: dict[str, Any] = {
    "event_id": "order-1",
    "event_type": "purchase",
    "event_time": RECENT_DT,
    "action_source": "web",
    "source_url": "https://shop.example.com/checkout",
    "oppref": "oppref_abc",
    "opt_out": None,
    "consent": True,
    "email": " Ada.Lovelace@Example.com ",
    "phone": "+44 20 7946 0958",
    "external_id": "CUST-1",
    "first_name": "Ada",
    "last_name": "Lovelace",
    "city": "London",
    "region": "England",
    "postal_code": "SW1A 1AA",
    "country": "gb",
    "ip_address": "203.0.113.7",
    "user_agent": "Mozilla/5.0 (X11; Linux x86_64)",
    "obref": None,
    "android_advertising_id": None,
    "amount": None,
    "value": Decimal("25.99"),
    "currency": "USD",
    "plan_id": None,
    "contents": None,
    "item_id": "sku-1",
    "item_name": "Starter bundle",
    "item_content_type": None,
    "item_quantity": 1,
    "item_amount": None,
    "item_price": Decimal("25.99"),
    "item_currency": None,
    "item_group_id": None,
    "item_variant": None,
}

#: values of the wrong kind, or on the edge, for any column
ODD_VALUES = [None, "", "  ", 0, 1, -1, 2**70, True, False, 1.5, float("nan"), Decimal("NaN")]
ODD_VALUES += [Decimal("1.50"), b"x", ["a", "b"], {"k": "v"}, "x" * 513, "\ud800", "ÿ", dt.date(2026, 3, 19)]
ODD_VALUES += [" " * MAX_VALUE_CHARS + " x ", " " * (MAX_VALUE_CHARS + 1)]  # over the limit, blank or not
_TEXT = st.text(max_size=12)
#: per column, values worth trying besides the odd ones
CANDIDATES: dict[str, list[Any]] = {
    "event_id": ["order-2", " order-3 ", 42, Decimal("7"), "x" * 600, "é-1"],
    "event_type": [
        "purchase",
        "Purchase",
        "order_created",
        "lead",
        "custom_thing",
        "app_installed",
        "page_view",
    ],
    "event_time": [
        RECENT_DT,
        RECENT_DT.replace(tzinfo=None),
        RECENT_DT.astimezone(dt.timezone(dt.timedelta(hours=5))),
        "2026-03-19T03:00:00Z",
        "2026-03-19 03:00:00+01:00",
        "2026-03-19",
        (NOW_S - 3600) * 1000,
        NOW_S - 3600,
        Decimal(NOW_S - 60),
        RECENT_DT - dt.timedelta(days=8),
        RECENT_DT + dt.timedelta(hours=2),
    ],
    "action_source": ["web", " WEB ", "app", "mobile_app", "email", "bogus"],
    "source_url": ["https://shop.example.com/checkout", " https://a.example/x ", "ftp://x", "nope"],
    "opt_out": [True, False, "yes", "0", 1, 2],
    "consent": [True, False, "no", "y", 0],
    "email": ["a@b.co", "bad", "A" * 64, "a" * 64],
    "phone": ["+1 (415) 555-0100", "123", 14155550100],
    "external_id": ["CUST-2", 7],
    "country": ["us", "USA", "u1"],
    "postal_code": ["94107", "9410#", 94107],
    "ip_address": ["2001:DB8::1", "300.1.1.1", "10.0.0.1 "],
    "android_advertising_id": ["38400000-8cf0-11bd-b23e-10b96e40000d", "nope"],
    "amount": [2599, "2599", Decimal("2599"), -5, 1.0],
    "value": ["25.99", 25, Decimal("0.001"), Decimal("1E+30"), "abc", 25.5],
    "currency": ["USD", "usd", " jpy ", "XXX", "EU"],
    "plan_id": ["plan-1", 12],
    "contents": ['[{"id": "a", "quantity": 2}]', "[1]", "{", [{"id": "b"}]],
    "item_quantity": [2, 0, 2**31, "3", 2.0, Decimal("2")],
    "item_price": ["9.99", 10, Decimal("9.999"), "x"],
    "item_amount": [999, "999"],
    "item_currency": ["EUR", "eur", "ZZZ"],
    "item_variant": ['{"size": "M"}', "[]", {"color": "red"}, {"n": 1}],
    "item_content_type": ["product", 5],
}


@st.composite
def value_for(draw: st.DrawFn, column: str) -> Any:
    kind = draw(st.sampled_from(["odd", "text", "candidate", "candidate"]))
    if kind == "odd":
        return draw(st.sampled_from(ODD_VALUES))
    if kind == "candidate" and column in CANDIDATES:
        return draw(st.sampled_from(CANDIDATES[column]))
    return draw(_TEXT)


def perturbed(draw: st.DrawFn, row: dict[str, Any], max_columns: int) -> dict[str, Any]:
    """``row`` with up to ``max_columns`` columns set to other values (most rows stay typical)."""
    row = dict(row)
    for column in draw(st.lists(st.sampled_from(sorted(TYPICAL)), max_size=max_columns)):
        row[column] = draw(value_for(column))
    return row


@st.composite
def row_groups(draw: st.DrawFn) -> list[dict[str, Any]]:
    """A few events, each of one to three rows; later rows vary the line item, sometimes more."""
    rows: list[dict[str, Any]] = []
    for number in range(draw(st.integers(1, 4))):
        first = perturbed(draw, {**TYPICAL, "event_id": f"order-{number}"}, 2)
        rows.append(first)
        for _ in range(draw(st.integers(0, 2))):
            rows.append(perturbed(draw, first, 2))
    return rows


OPTIONS = st.fixed_dictionaries(
    {},
    optional={
        "default_event_type": st.sampled_from(["purchase", "lead"]),
        "default_action_source": st.sampled_from(["web", "mobile_app", "email"]),
        "default_currency": st.just("EUR"),
        "source_timezone": st.just("Europe/Paris"),
        "consent_policy": st.sampled_from(["drop", "opt_out"]),
    },
)


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(rows=row_groups(), options=OPTIONS, warm=st.booleans())
def test_fast_path_output_is_the_general_paths(rows: list[dict[str, Any]], options: dict, warm: bool):
    """``map_rows`` compares the three ways byte for byte (see tests/mapping/__init__.py)."""
    if warm:  # a typical event first fills the memos (types, currencies, URLs, geo), as in a real run
        rows = [{**TYPICAL, "event_id": "warm-up"}, *rows]
    map_rows(rows, check_pii=False, **options)


NO_ITEMS = {"item_id": None, "item_name": None, "item_quantity": None, "item_price": None}
#: values of several columns that only matter together
COMBINATIONS = [
    {"item_id": None, "item_name": None},
    NO_ITEMS,
    {"event_type": "app_installed", "action_source": "email", **NO_ITEMS},
    {"event_type": "app_installed", "action_source": None, **NO_ITEMS},
    {"event_type": "app_installed", "action_source": "mobile_app", "source_url": None, **NO_ITEMS},
    {"event_type": "lead", **NO_ITEMS},
    {"event_type": "subscription_created", "plan_id": "plan-1"},
    {"event_type": "lead", "plan_id": "plan-1"},
    {"amount": 2599, "value": None},
    {"currency": None, "item_currency": "EUR"},
    {"currency": None, "value": None},
    {"consent": False, "opt_out": False},
    {"action_source": "email", "source_url": None},
    {"city": None, "region": None, "postal_code": None, "country": None},
]


def _sweep(patch: dict[str, Any]) -> None:
    """``patch`` on two lone events and on two second line items, after a typical event.

    Twice each: the first occurrence of a value fills the mapper's memos (event types,
    currencies, URLs, geo) on the general path, the second meets them on the fast path.
    """
    warm = {**TYPICAL, "event_id": "warm-up"}
    lone = [{**TYPICAL, **patch, "event_id": f"odd-{n}"} for n in range(2)]
    map_rows([warm, *lone, {**TYPICAL, "event_id": "after"}], check_pii=False)
    lines = [
        row
        for n in range(2)
        for row in ({**TYPICAL, "event_id": f"multi-{n}"}, {**TYPICAL, **patch, "event_id": f"multi-{n}"})
    ]
    map_rows([warm, *lines], check_pii=False)


@pytest.mark.parametrize("column", sorted(TYPICAL))
def test_every_odd_value_of_every_column_gives_the_general_paths_output(column: str):
    for value in [*CANDIDATES.get(column, []), *ODD_VALUES]:
        _sweep({column: value})


@pytest.mark.parametrize("patch", COMBINATIONS, ids=lambda patch: ",".join(patch))
def test_combinations_give_the_general_paths_output(patch: dict[str, Any]):
    _sweep(patch)


def typical_rows(n_events: int) -> list[dict[str, Any]]:
    rows = []
    for n in range(n_events):
        for line in range(1 + n % 3):
            rows.append(
                {
                    **TYPICAL,
                    "event_id": f"order-{n}",
                    "email": f"customer{n}@example.com",
                    "item_id": f"sku-{line}",
                    "item_price": Decimal(f"{line + 1}.99"),
                }
            )
    return rows


@pytest.mark.parametrize("how", ["rows", "records"])
def test_typical_rows_take_the_fast_path(how: str):
    rows = typical_rows(300)
    mapper = RowMapper(MappingOptions(), Report(), clock=lambda: NOW_S)
    if how == "rows":
        prepared = list(mapper.map_rows(rows))
    else:
        prepared = list(mapper.map_records(tuple(TYPICAL), [tuple(r.values()) for r in rows]))
    assert len(prepared) == 300
    # the first event meets every value for the first time (URL, geo, currency): general path;
    # new item prices after it are looked up through the money cache, on the fast path
    assert mapper.fast_path_declined == 1


def test_rows_it_cannot_build_are_left_to_the_general_path_and_counted_once():
    rows = [{**row, "consent": "no"} for row in typical_rows(10)]  # skipped by the consent policy
    report = Report()
    mapper = RowMapper(MappingOptions(), report, clock=lambda: NOW_S)
    assert list(mapper.map_rows(rows)) == []
    assert mapper.fast_path_declined == 10
    assert report.rows["skipped"] == len(rows)
    assert dict(report.reasons["skipped"]) == {"consent_withheld": len(rows)}


def test_records_with_duplicate_column_names_are_refused():
    mapper = RowMapper(MappingOptions(), Report())
    with pytest.raises(ValueError, match="duplicate column names"):
        list(mapper.map_records(("event_id", "email", "email"), [("a", "x@y.z", "x@y.z")]))


def test_match_key_coverage_counts_each_key_of_each_built_event():
    rows = [
        {**TYPICAL, "event_id": "a"},
        {**TYPICAL, "event_id": "b", "oppref": None, "phone": None},
        {**TYPICAL, "event_id": "c", "oppref": None},
    ]
    coverage = map_rows(rows).report.to_dict()["match_key_coverage"]
    assert coverage["oppref"] == round(1 / 3, 4)
    assert coverage["phone_numbers_sha256"] == round(2 / 3, 4)
    assert coverage["emails_sha256"] == coverage["cities"] == coverage["user_agent"] == 1.0
    assert "opt_out" not in coverage
