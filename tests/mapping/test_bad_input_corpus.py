"""Bad-input corpus: malformed rows, and values as real database drivers return them.

Each case patches a complete, valid row (:data:`BASE`, which carries raw PII in every identifier
column) and names the one expected outcome: a rejection (reason, field, event id), a skip, or
an event built with specific values and fields dropped and counted. Every case runs between a
valid row before and a valid row after it, which must still be built, and through
:func:`tests.mapping.map_rows`, which also checks that built events validate against the schema,
that every row is counted, and that no raw identifier reaches a payload or the report.

To add a case, append a :class:`Case` to :data:`CASES` (or a column to a sweep). A case for a
known bug carries ``bug="..."`` and runs as a strict xfail.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

import pytest

from airflow_provider_openai_ads.conversions.mapping import ITEM_COLUMNS, ROW_CONTRACT_COLUMNS

from . import NOW_S, RECENT_MS, Mapped, map_rows, sha

GAID = "38400000-8cf0-11bd-b23e-10b96e40000d"
DAY_S = 86_400

#: a complete valid row: a web order with one line item and every identifier
BASE: dict[str, Any] = {
    "event_id": "bad-1",
    "event_type": "purchase",
    "event_time": "2026-03-19T03:00:00Z",
    "action_source": "web",
    "source_url": "https://shop.example.com/checkout",
    "oppref": "oppref_abc",
    "opt_out": False,
    "consent": True,
    "email": "Augusta.Lovelace@Example.com",
    "phone": "+44 20 7946 0958",
    "external_id": "CUST-00042",
    "first_name": "Augusta",
    "last_name": "Lovelace-Byron",
    "city": "London",
    "region": "England",
    "postal_code": "SW1A 1AA",
    "country": "gb",
    "ip_address": "203.0.113.7",
    "user_agent": "Mozilla/5.0 (X11; Linux x86_64)",
    "obref": "obref.1.abc",
    "android_advertising_id": GAID,
    "value": "25.99",
    "currency": "USD",
    "item_id": "sku-1",
    "item_name": "Starter bundle",
    "item_content_type": "product",
    "item_quantity": 1,
    "item_price": "25.99",
    "item_currency": "USD",
    "item_group_id": "grp-1",
    "item_variant": '{"size": "M"}',
}
BEFORE = {**BASE, "event_id": "ok-before"}
AFTER = {**BASE, "event_id": "ok-after"}
VALID_IDS = ("ok-before", "ok-after")


# -- expected outcomes -------------------------------------------------------------------------


@dataclass(frozen=True)
class Rejected:
    """The bad row(s) are rejected with this reason, naming this field and event id."""

    reason: str
    field: str
    event_id: str | None = "bad-1"
    rows: int = 1
    outcome: str = "rejected"


def Skipped(reason: str, field: str) -> Rejected:
    return Rejected(reason, field, outcome="skipped")


@dataclass(frozen=True)
class Built:
    """An event is built; ``paths`` (``"user.cities"``, ``"data.contents.0.id"``) hold these values,
    ``absent`` paths are missing, and exactly ``dropped`` fields are counted."""

    paths: dict[str, Any] = field(default_factory=dict)
    absent: tuple[str, ...] = ()
    dropped: dict[str, int] = field(default_factory=dict)
    event_id: str = "bad-1"
    rows: int = 1
    check: Callable[[dict[str, Any], Mapped], bool] | None = None


def Dropped(key: str, *absent: str, count: int = 1) -> Built:
    """Built, with the unusable value dropped (never sent) and counted under ``key``."""
    return Built(absent=absent, dropped={key: count})


@dataclass(frozen=True)
class Handled:
    """Any outcome (built, rejected or skipped) as long as the mapper does not raise.

    For known crashes whose right outcome is open."""


@dataclass(frozen=True)
class Case:
    name: str
    patch: dict[str, Any] | tuple[dict[str, Any], ...]  # one bad row, or consecutive rows
    expect: Rejected | Built | Handled
    options: dict[str, Any] = field(default_factory=dict)
    bug: str | None = None

    @property
    def rows(self) -> list[dict[str, Any]]:
        patches = self.patch if isinstance(self.patch, tuple) else (self.patch,)
        return [{k: v for k, v in {**BASE, **patch}.items() if v is not ...} for patch in patches]


# -- the hand-written corpus -------------------------------------------------------------------

MB = 1_000_000
BIG_UA = "Mozilla/5.0 " + "x" * MB

CASES: list[Case] = [
    # event_id
    Case("event_id blank", {"event_id": "   "}, Rejected("missing_event_id", "event_id", event_id=None)),
    Case(
        "event_id 10k chars",
        {"event_id": "x" * 10_000},
        Rejected("invalid_event_id", "event_id", event_id=None),
    ),
    Case(
        "event_id float from driver",
        {"event_id": 1001.0},
        Rejected("invalid_event_id", "event_id", event_id=None),
    ),
    Case(
        "event_id fractional decimal",
        {"event_id": Decimal("1001.5")},
        Rejected("invalid_event_id", "event_id", event_id=None),
    ),
    Case(
        "event_id bytes (varbinary)",
        {"event_id": b"bad-1"},
        Rejected("invalid_event_id", "event_id", event_id=None),
    ),
    Case("event_id array", {"event_id": ["bad-1"]}, Rejected("invalid_event_id", "event_id", event_id=None)),
    Case("event_id NUMERIC decimal", {"event_id": Decimal("1001")}, Built({"id": "1001"}, event_id="1001")),
    Case("event_id bigint", {"event_id": 9_007_199_254_740_993}, Built(event_id="9007199254740993")),
    Case(
        "event_id uuid column",
        {"event_id": uuid.UUID("9f1c7a52-3b7e-4d2a-9c1e-2f1d8e6b5a40")},
        Built(event_id="9f1c7a52-3b7e-4d2a-9c1e-2f1d8e6b5a40"),
    ),
    Case("event_id right-to-left text", {"event_id": "طلب-١٠٠١"}, Built(event_id="طلب-١٠٠١")),
    Case(
        "event_id integer beyond 4300 digits",
        {"event_id": 10**5000},
        Rejected("invalid_event_id", "event_id", event_id=None),
    ),
    Case(
        "event_id lone surrogate",
        {"event_id": "bad-\udcff"},
        Handled(),
    ),
    # event_type / custom_event_name
    Case(
        "event_type with spaces",
        {"event_type": "add payment info"},
        Rejected("invalid_event_type", "event_type"),
    ),
    Case("event_type unicode", {"event_type": "Kauf ✓"}, Rejected("invalid_event_type", "event_type")),
    Case("event_type right-to-left", {"event_type": "شراء"}, Rejected("invalid_event_type", "event_type")),
    Case("event_type 10k chars", {"event_type": "a" * 10_000}, Rejected("invalid_event_type", "event_type")),
    Case(
        "event_type unknown valid name",
        {"event_type": "Add_Payment_Info"},
        Built({"type": "custom", "custom_event_name": "add_payment_info", "data.type": "custom"}),
    ),
    Case(
        "custom_event_name is a standard name",
        {"event_type": "partner_signup", "custom_event_name": "order_created"},
        Rejected("invalid_custom_event_name", "custom_event_name"),
    ),
    Case(
        "custom_event_name 65 chars",
        {"event_type": "partner_signup", "custom_event_name": "a" * 65},
        Rejected("invalid_custom_event_name", "custom_event_name"),
    ),
    Case(
        "custom_event_name non-ascii",
        {"event_type": "partner_signup", "custom_event_name": "ínscripción"},
        Rejected("invalid_custom_event_name", "custom_event_name"),
    ),
    Case(
        "custom_event_name on a standard event",
        {"custom_event_name": "big_order"},
        Rejected("unexpected_custom_event_name", "custom_event_name"),
    ),
    Case(
        "event_type 'custom' with custom_event_name",
        {"event_type": "custom", "custom_event_name": "webinar_joined"},
        Built({"type": "custom", "custom_event_name": "webinar_joined"}),
    ),
    # event_time
    Case(
        "impossible date",
        {"event_time": "2026-02-30T10:00:00Z"},
        Rejected("invalid_event_time", "event_time"),
    ),
    Case(
        "impossible hour",
        {"event_time": "2026-03-19T24:30:00Z"},
        Rejected("invalid_event_time", "event_time"),
    ),
    Case(
        "naive ISO timestamp",
        {"event_time": "2026-03-19T03:00:00"},
        Rejected("naive_event_time", "event_time"),
    ),
    Case(
        "naive datetime (timestamp without time zone)",
        {"event_time": dt.datetime(2026, 3, 19, 3, 0)},
        Rejected("naive_event_time", "event_time"),
    ),
    Case(
        "naive datetime with source_timezone",
        {"event_time": dt.datetime(2026, 3, 19, 4, 0)},
        Built({"timestamp_ms": RECENT_MS}),
        options={"source_timezone": "Europe/Paris"},
    ),
    Case("date column", {"event_time": dt.date(2026, 3, 19)}, Rejected("invalid_event_time", "event_time")),
    Case("time column", {"event_time": dt.time(3, 0)}, Rejected("invalid_event_time", "event_time")),
    Case(
        "date-only string",
        {"event_time": "2026-03-19"},
        Rejected("invalid_event_time", "event_time"),
    ),
    Case("epoch NaN", {"event_time": float("nan")}, Rejected("invalid_event_time", "event_time")),
    Case("epoch infinity", {"event_time": Decimal("Infinity")}, Rejected("invalid_event_time", "event_time")),
    Case("epoch bool", {"event_time": True}, Rejected("invalid_event_time", "event_time")),
    Case("8 days old", {"event_time": NOW_S - 8 * DAY_S}, Rejected("too_old", "event_time")),
    Case("1 hour ahead", {"event_time": NOW_S + 3600}, Rejected("too_far_in_future", "event_time")),
    Case(
        "epoch in microseconds", {"event_time": RECENT_MS * 1000}, Rejected("too_far_in_future", "event_time")
    ),
    Case(
        "epoch with superscript digit",
        {"event_time": "1773889200²"},
        Rejected("invalid_event_time", "event_time"),
    ),
    # action_source / source_url / flags
    Case(
        "action_source unknown",
        {"action_source": "store"},
        Rejected("invalid_action_source", "action_source"),
    ),
    Case(
        "app event from the web",
        {"event_type": "Application Installed"},
        Rejected("invalid_action_source", "action_source"),
    ),
    Case("web without source_url", {"source_url": ""}, Rejected("missing_source_url", "source_url")),
    Case(
        "source_url without scheme",
        {"source_url": "shop.example.com/x"},
        Rejected("invalid_source_url", "source_url"),
    ),
    Case(
        "source_url javascript",
        {"source_url": "javascript:alert(1)"},
        Rejected("invalid_source_url", "source_url"),
    ),
    Case(
        "source_url unparsable",
        {"source_url": "http://[shop.example.com/checkout"},
        Rejected("invalid_source_url", "source_url"),
    ),
    Case(
        "oppref with control characters",
        {"oppref": "opp\x00ref\u202e"},
        Built({"oppref": "opp\x00ref\u202e"}),
    ),
    Case("opt_out garbage", {"opt_out": "maybe"}, Rejected("invalid_opt_out", "opt_out")),
    Case("consent withheld", {"consent": "false"}, Skipped("consent_withheld", "consent")),
    Case(
        "consent withheld, opt_out policy",
        {"consent": 0},
        Built({"opt_out": True}),
        options={"consent_policy": "opt_out"},
    ),
    Case("consent garbage", {"consent": "unknown"}, Rejected("invalid_consent", "consent")),
    # identifiers
    Case(
        "email without @",
        {"email": "augusta.lovelace.example.com"},
        Dropped("email:invalid", "user.emails_sha256"),
    ),
    Case(
        "email without domain dot",
        {"email": "augusta@localhost"},
        Dropped("email:invalid", "user.emails_sha256"),
    ),
    Case(
        "email with inner space",
        {"email": "augusta lovelace@example.com"},
        Dropped("email:invalid", "user.emails_sha256"),
    ),
    Case(
        "email two @",
        {"email": "augusta@lovelace@example.com"},
        Dropped("email:invalid", "user.emails_sha256"),
    ),
    Case(
        "email bytes", {"email": b"augusta@example.com"}, Dropped("email:invalid_type", "user.emails_sha256")
    ),
    Case(
        "email lone surrogate",
        {"email": "augusta\udcff@example.com"},
        Dropped("email:invalid", "user.emails_sha256"),
    ),
    Case(
        "email unicode",
        {"email": "Ünïcode@例子.广告"},
        Built({"user.emails_sha256": [sha("ünïcode@例子.广告")]}),
    ),
    Case(
        "email text[] array",
        {"email": ["augusta@example.com", " AUGUSTA@example.com", "ada@example.com", None]},
        Built({"user.emails_sha256": [sha("augusta@example.com"), sha("ada@example.com")]}),
    ),
    Case(
        "email array of 5",
        {"email": [f"user{i}@example.com" for i in range(5)]},
        Built(
            {"user.emails_sha256": [sha(f"user{i}@example.com") for i in range(3)]},
            dropped={"email:over_3_values": 1},
        ),
    ),
    Case("phone too short", {"phone": "555-2671"}, Dropped("phone:invalid", "user.phone_numbers_sha256")),
    Case(
        "phone too long",
        {"phone": "+1234567890123456"},
        Dropped("phone:invalid", "user.phone_numbers_sha256"),
    ),
    Case(
        "phone with extension",
        {"phone": "+1 415 555 2671 ext. 89"},
        Dropped("phone:invalid", "user.phone_numbers_sha256"),
    ),
    Case(
        "phone with letters",
        {"phone": "+1-800-FLOWERS"},
        Dropped("phone:invalid", "user.phone_numbers_sha256"),
    ),
    Case(
        "phone arabic-indic digits",
        {"phone": "+٤٤ ٢٠ ٧٩٤٦ ٠٩٥٨"},
        Dropped("phone:invalid", "user.phone_numbers_sha256"),
    ),
    Case(
        "phone float", {"phone": 442079460958.0}, Dropped("phone:invalid_type", "user.phone_numbers_sha256")
    ),
    Case(
        "phone BIGINT column",
        {"phone": 442079460958},
        Built({"user.phone_numbers_sha256": [sha("442079460958")]}),
    ),
    Case(
        "first_name only punctuation",
        {"first_name": "''"},
        Dropped("first_name:invalid", "user.first_names_sha256"),
    ),
    Case(
        "names right-to-left",
        {"first_name": "محمد", "last_name": " כהן "},
        Built({"user.first_names_sha256": [sha("محمد")], "user.last_names_sha256": [sha("כהן")]}),
    ),
    Case(
        "external_id blank", {"external_id": "  "}, Dropped("external_id:invalid", "user.external_ids_sha256")
    ),
    Case("city right-to-left", {"city": "תל אביב"}, Built({"user.cities": ["תל אביב"]})),
    Case("city 10k chars", {"city": "a" * 10_000}, Built({"user.cities": ["a" * 128]})),
    Case("country alpha-3", {"country": "GBR"}, Dropped("country:invalid", "user.countries")),
    Case("country numeric", {"country": 826}, Dropped("country:invalid_type", "user.countries")),
    Case(
        "postal code symbols",
        {"postal_code": "SW1A@1AA"},
        Dropped("postal_code:invalid", "user.postal_codes"),
    ),
    Case("ip out of range", {"ip_address": "256.1.1.1"}, Dropped("ip_address:invalid", "user.ip_address")),
    Case(
        "ip inet column as int", {"ip_address": 3405803783}, Dropped("ip_address:invalid", "user.ip_address")
    ),
    Case("user agent 1 MB", {"user_agent": BIG_UA}, Rejected("event_too_large", "user_agent")),
    Case(
        "user agent lone surrogate",
        {"user_agent": "Mozilla/5.0 \udcff"},
        Handled(),
    ),
    Case(
        "advertising id all zeros",
        {"android_advertising_id": "00000000-0000-0000-0000-000000000000"},
        Dropped("android_advertising_id:invalid", "user.android_advertising_id"),
    ),
    Case(
        "advertising id uuid object",
        {"android_advertising_id": uuid.UUID(GAID)},
        Dropped("android_advertising_id:invalid", "user.android_advertising_id"),
    ),
    # money
    Case("value negative", {"value": "-25.99"}, Rejected("negative_amount", "value")),
    Case("amount negative", {"amount": -2599, "value": None}, Rejected("negative_amount", "amount")),
    Case("amount and value", {"amount": 2599}, Rejected("ambiguous_amount", "amount")),
    Case(
        "amount fractional",
        {"amount": Decimal("2599.5"), "value": None},
        Rejected("invalid_amount", "amount"),
    ),
    Case("amount beyond 2**53", {"amount": 2**53, "value": None}, Rejected("invalid_amount", "amount")),
    Case("value too many decimals", {"value": "25.999"}, Rejected("too_many_decimals", "value")),
    Case("value float artefact", {"value": 0.1 + 0.2}, Rejected("too_many_decimals", "value")),
    Case(
        "value JPY with decimals",
        {"value": "100.5", "currency": "JPY", "item_currency": "JPY", "item_price": "100"},
        Rejected("too_many_decimals", "value"),
    ),
    Case("value text", {"value": "twenty"}, Rejected("invalid_amount", "value")),
    Case("value exponent overflow", {"value": "1e999999"}, Rejected("invalid_amount", "value")),
    Case(
        "value NUMERIC float-like decimal",
        {"value": Decimal("25.990000"), "item_price": Decimal("25.99")},
        Built({"data.amount": 2599}),
    ),
    Case("currency unknown", {"currency": "XYZ"}, Rejected("invalid_currency", "currency")),
    Case("currency numeric code", {"currency": 840}, Rejected("invalid_currency", "currency")),
    Case("currency name", {"currency": "dollars"}, Rejected("invalid_currency", "currency")),
    Case(
        "no currency anywhere",
        {"currency": None, "item_currency": None},
        Rejected("missing_currency", "currency"),
    ),
    # items and contents
    Case("item quantity zero", {"item_quantity": 0}, Rejected("invalid_quantity", "item_quantity")),
    Case("item quantity fractional", {"item_quantity": "1.5"}, Rejected("invalid_quantity", "item_quantity")),
    Case(
        "item quantity NaN",
        {"item_quantity": Decimal("NaN")},
        Rejected("invalid_quantity", "item_quantity"),
    ),
    Case(
        "item quantity beyond 64 bits",
        {"item_quantity": 10**20},
        Rejected("invalid_quantity", "item_quantity"),
    ),
    Case(
        "item quantity superscript digit",
        {"item_quantity": "²"},
        Rejected("invalid_quantity", "item_quantity"),
    ),
    Case("item amount and price", {"item_amount": 2599}, Rejected("ambiguous_amount", "item_amount")),
    Case("item price too precise", {"item_price": "25.991"}, Rejected("too_many_decimals", "item_price")),
    Case("item currency unknown", {"item_currency": "ABC"}, Rejected("invalid_currency", "item_currency")),
    Case(
        "item variant not JSON", {"item_variant": "size=M"}, Rejected("invalid_item_variant", "item_variant")
    ),
    Case(
        "item variant non-text",
        {"item_variant": '{"size": 10}'},
        Rejected("invalid_item_variant", "item_variant"),
    ),
    Case(
        "item without id or name",
        {"item_id": None, "item_name": None},
        Built(absent=("data.contents",), dropped={"contents:item_without_id_or_name": 1}),
    ),
    Case("contents invalid JSON", {"contents": "[{"}, Rejected("invalid_contents", "contents")),
    Case("contents JSON object", {"contents": '{"id": "a"}'}, Rejected("invalid_contents", "contents")),
    Case("contents unknown key", {"contents": '[{"sku": "a"}]'}, Rejected("invalid_contents", "contents[0]")),
    Case(
        "contents item id of wrong type",
        {"contents": '[{"id": 1.5}]'},
        Rejected("invalid_contents", "contents[0].id"),
    ),
    Case(
        "contents variant_dict of wrong type",
        {"contents": '[{"id": "a", "variant_dict": {"size": 1}}]'},
        Rejected("invalid_item_variant", "contents[0].variant_dict"),
    ),
    Case(
        "contents with non-text keys",
        {"contents": [{1: "a", "sku": "b"}]},
        Rejected("invalid_contents", "contents[0]"),
    ),
    Case(
        "items on a customer_action event",
        {"event_type": "generate_lead"},
        Built(
            {"data.type": "customer_action"},
            absent=("data.contents",),
            dropped={"contents:not_allowed_for_customer_action": 1},
        ),
    ),
    Case(
        "plan_id on an order",
        {"plan_id": "pro"},
        Built(absent=("data.plan_id",), dropped={"plan_id:not_allowed_for_contents": 1}),
    ),
    Case(
        "plan_id blank",
        {"event_type": "subscribe", "plan_id": "  "},
        Built(absent=("data.plan_id",)),
    ),
    # duplicate event ids
    Case(
        "duplicate id, conflicting value",
        ({"value": "25.99"}, {"value": "30.00", "item_id": "sku-2"}),
        Rejected("conflicting_duplicate", "value", rows=2),
    ),
    Case(
        "duplicate id, conflicting email",
        ({"email": "augusta@example.com"}, {"email": "ada@example.com", "item_id": "sku-2"}),
        Rejected("conflicting_duplicate", "email", rows=2),
    ),
    Case(
        "duplicate id, conflicting time",
        ({}, {"event_time": "2026-03-19T03:00:01Z", "item_id": "sku-2"}),
        Rejected("conflicting_duplicate", "event_time", rows=2),
    ),
    Case(
        "duplicate id, line items",
        ({}, {"item_id": "sku-2", "item_quantity": 2, "item_price": "5.00"}),
        Built(
            {"data.contents.1.id": "sku-2", "data.contents.1.quantity": 2, "data.contents.1.amount": 500},
            rows=2,
        ),
    ),
    Case(
        "duplicate id, per-line column outside the contract",
        ({"line_number": 1}, {"line_number": 2, "item_id": "sku-2"}),
        Built({"data.contents.1.id": "sku-2"}, rows=2),
    ),
    Case(
        "duplicate id, signaling NaN",
        ({"consent": Decimal("sNaN")}, {"consent": Decimal("sNaN"), "item_id": "sku-2"}),
        Handled(),
    ),
    Case(
        "signaling NaN event_id after an integer id",
        ({"event_id": 7}, {"event_id": Decimal("sNaN")}),
        Handled(),
    ),
    Case(
        "exact duplicate rows",
        ({}, {}, {}),
        Built({"data.contents.2.id": "sku-1"}, rows=3),
    ),
]


# -- sweeps: NULL in every column, wrong types in every column ---------------------------------

NULL_OUTCOMES: dict[str, Rejected | Built] = {
    "event_id": Rejected("missing_event_id", "event_id", event_id=None),
    "event_type": Rejected("missing_event_type", "event_type"),
    "event_time": Rejected("missing_event_time", "event_time"),
    "source_url": Rejected("missing_source_url", "source_url"),
    "currency": Rejected("missing_currency", "currency"),
}
#: the output path each column fills, absent when the column is NULL
NULL_ABSENT = {
    "oppref": "oppref",
    "opt_out": "opt_out",
    "value": "data.amount",
    "email": "user.emails_sha256",
    "phone": "user.phone_numbers_sha256",
    "external_id": "user.external_ids_sha256",
    "first_name": "user.first_names_sha256",
    "last_name": "user.last_names_sha256",
    "city": "user.cities",
    "region": "user.regions",
    "postal_code": "user.postal_codes",
    "country": "user.countries",
    "ip_address": "user.ip_address",
    "user_agent": "user.user_agent",
    "obref": "user.obref",
    "android_advertising_id": "user.android_advertising_id",
    "item_name": "data.contents.0.name",
    "item_content_type": "data.contents.0.content_type",
    "item_quantity": "data.contents.0.quantity",
    "item_price": "data.contents.0.amount",
    "item_currency": "data.contents.0.currency",
    "item_group_id": "data.contents.0.group_id",
    "item_variant": "data.contents.0.variant_dict",
}
NULL_CASES = [
    Case(
        f"NULL {column}",
        {column: None},
        NULL_OUTCOMES.get(column) or Built(absent=(NULL_ABSENT[column],) if column in NULL_ABSENT else ()),
    )
    for column in sorted(ROW_CONTRACT_COLUMNS)
]

WRONG_TYPES = {"dict": {"k": "v"}, "array": [b"x"], "bytes": b"\x00\xff", "bool": True}
USER_LIST_COLUMNS = (
    "email",
    "phone",
    "external_id",
    "first_name",
    "last_name",
    "city",
    "region",
    "postal_code",
    "country",
)
USER_SCALAR_COLUMNS = ("ip_address", "user_agent", "obref", "android_advertising_id")
USER_KEYS = {
    "email": "emails_sha256",
    "phone": "phone_numbers_sha256",
    "external_id": "external_ids_sha256",
    "first_name": "first_names_sha256",
    "last_name": "last_names_sha256",
    "city": "cities",
    "region": "regions",
    "postal_code": "postal_codes",
    "country": "countries",
}


def wrong_type_case(column: str, kind: str, value: Any) -> Case:
    """The expected outcome of a value of the wrong type (dict, array, bytes, bool) in ``column``."""
    patch: dict[str, Any] = {column: value}
    expect: Rejected | Built
    if column in USER_LIST_COLUMNS:
        expect = Dropped(f"{column}:invalid_type", f"user.{USER_KEYS[column]}")
    elif column in USER_SCALAR_COLUMNS:
        expect = Dropped(f"{column}:invalid", f"user.{column}")
    elif column == "event_id":
        expect = Rejected("invalid_event_id", column, event_id=None)
    elif column in ("opt_out", "consent") and kind == "bool":
        expect = Built({"opt_out": column == "opt_out"})  # BASE has opt_out false
    elif column == "event_time":
        expect = Rejected("invalid_event_time", column)
    elif column in ("amount", "value", "item_amount", "item_price"):
        if column == "amount":
            patch["value"] = None
        if column == "item_amount":
            patch["item_price"] = None
        expect = Rejected("invalid_amount", column)
    elif column in ("currency", "item_currency"):
        expect = Rejected("invalid_currency", column)
    elif column == "item_quantity":
        expect = Rejected("invalid_quantity", column)
    elif column == "item_variant":
        expect = (
            Built({"data.contents.0.variant_dict": value})
            if kind == "dict"
            else Rejected("invalid_item_variant", column)
        )
    elif column == "plan_id":
        patch["event_type"] = "subscribe"
        expect = Rejected("invalid_plan_id", column)
    elif column == "contents":
        expect = Rejected("invalid_contents", column)
    else:  # text columns: event_type, custom_event_name, action_source, source_url, oppref, item_*
        expect = Rejected(f"invalid_{column}", column)
    return Case(f"{kind} in {column}", patch, expect)


WRONG_TYPE_CASES = [
    wrong_type_case(column, kind, value)
    for column in sorted(ROW_CONTRACT_COLUMNS)
    for kind, value in WRONG_TYPES.items()
]
assert set(ITEM_COLUMNS) <= ROW_CONTRACT_COLUMNS


# -- the test ----------------------------------------------------------------------------------


def _get(event: dict[str, Any], path: str) -> Any:
    value: Any = event
    for part in path.split("."):
        value = value[int(part)] if isinstance(value, list) else value[part]
    return value


def _has(event: dict[str, Any], path: str) -> bool:
    try:
        _get(event, path)
    except (KeyError, IndexError):
        return False
    return True


def _params(cases: list[Case]) -> list[Any]:
    names = [case.name for case in cases]
    assert len(names) == len(set(names)), "case names must be unique"
    return [
        pytest.param(
            case,
            id=case.name,
            marks=[pytest.mark.xfail(strict=True, reason=f"BUG: {case.bug}")] if case.bug else [],
        )
        for case in cases
    ]


def check_case(case: Case) -> None:
    mapped = map_rows([BEFORE, *case.rows, AFTER], **case.options)
    for valid_id in VALID_IDS:
        assert valid_id in mapped.ids, f"the valid row {valid_id} was not built: {mapped.rejections}"
        assert mapped.rejections_for(valid_id) == []
    others = [e for e in mapped.events if e["id"] not in VALID_IDS]
    expect = case.expect

    if isinstance(expect, Handled):
        return
    if isinstance(expect, Rejected):
        assert others == [], f"expected a rejection, got events {others}"
        rejection = mapped.rejection
        assert (rejection.reason, rejection.field, rejection.event_id, rejection.rows, rejection.outcome) == (
            expect.reason,
            expect.field,
            expect.event_id,
            expect.rows,
            expect.outcome,
        ), rejection
        assert mapped.report.reasons[expect.outcome][expect.reason] == expect.rows
        return

    assert mapped.rejections == [], mapped.rejections
    assert len(others) == 1, f"expected one event besides the valid rows, got {others}"
    event = others[0]
    assert event["id"] == expect.event_id
    assert [p.rows for p in mapped.prepared if p.event_id == expect.event_id] == [expect.rows]
    for path, expected in expect.paths.items():
        assert _get(event, path) == expected, path
    for path in expect.absent:
        assert not _has(event, path), f"{path} should be absent"
    assert mapped.dropped == expect.dropped
    if expect.check is not None:
        assert expect.check(event, mapped)


@pytest.mark.parametrize("case", _params(CASES))
def test_bad_input(case: Case) -> None:
    check_case(case)


@pytest.mark.parametrize("case", _params(NULL_CASES))
def test_null_in_every_column(case: Case) -> None:
    check_case(case)


@pytest.mark.parametrize("case", _params(WRONG_TYPE_CASES))
def test_wrong_type_in_every_column(case: Case) -> None:
    check_case(case)


def test_corpus_has_at_least_30_classes():
    assert len(CASES) >= 30
    assert len(NULL_CASES) == len(ROW_CONTRACT_COLUMNS)


def test_whole_corpus_in_one_input_keeps_every_valid_row_and_counts_every_row():
    """All bad rows of the corpus (known crashes excluded) in one stream, valid rows in between."""
    rows: list[dict[str, Any]] = []
    for index, case in enumerate(
        c for c in [*CASES, *NULL_CASES, *WRONG_TYPE_CASES] if not c.bug and not c.options
    ):
        group = case.rows
        event_id = group[0].get("event_id")
        if event_id == "bad-1":
            event_id = f"bad-{index}"
            group = [{**r, "event_id": event_id} for r in group]
        rows += [{**BASE, "event_id": f"ok-{index}"}, *group]
    rows.append({**BASE, "event_id": "ok-last"})
    mapped = map_rows(rows)
    valid = {
        r["event_id"] for r in rows if isinstance(r.get("event_id"), str) and r["event_id"].startswith("ok-")
    }
    assert valid <= set(mapped.ids)
