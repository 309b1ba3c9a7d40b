"""The row contract (design.md, "Row contract"): one group of tests per column of the table.

Every run goes through :func:`tests.mapping.map_rows`, which validates each built event against
the pydantic reference schema and checks that the report accounts for every row.
"""

from __future__ import annotations

import datetime as dt
import time
import uuid
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest

from airflow_provider_openai_ads.conversions.mapping import (
    ROW_CONTRACT_COLUMNS,
    MappingOptions,
    prepare_api_events,
    rename_columns,
    unknown_columns,
)
from airflow_provider_openai_ads.conversions.report import Rejection, Report

from . import NOW_MS, NOW_S, RECENT_DT, RECENT_MS, RECENT_S, map_rows, sha

# §3.4 verified test vectors
EMAIL_HASH = "b4c9a289323b21a01c3e940f150eb9b8c542587f1abfd8f0e1cc1ffc5e475514"  # user@example.com
ADA_EMAIL_HASH = "b5fc85e55755f9e0d030a10ab4429b6b2944855f9a0d60077fe832becbc41d72"  # ada@example.com
PHONE_HASH = "758fbf68945f21c416814c539ab578876c8d98fb69e6da692def92cd52417fe0"  # 14155552671
RO_PHONE_HASH = "af9e136cc1c34ac87999ef8bd28b3d15c08a75b9ae1c2018b39c0f37c23296bd"  # 40746123456
INTL_PHONE_HASH = "d6736136ea896c1bfdc553e0e86e702c70d060d805696ca3e4e9e0961353860a"  # 15551234567
CUSTOMER_123_HASH = "18f69bcd2f9cc9c38195e722b2a5590429840ea5090971d2256e026926e55fa1"
CUST_00042_HASH = "382211e688c29ae2dcce0b401999831aec27161d9bc0ffd092545a828a18bbc8"
ADA_HASH = "fdee430d40bd57deeac186cd9790033d0f06f909a8806e7ce6e717ab7c7d5029"
LOVELACE_HASH = "fb1e7ec987523d2cb9e022cec1d6ae7c99dc46edfae4fe51254025fe4bea571f"
MARYJANE_HASH = "f08f448a5e7a9dc3619bb7c129f6a7d5fc6af002cea17ad71dfdc1c68f4d4e0e"
OCONNOR_HASH = "7a0fbfdf40cbeb97429bdb88f512cecd27f0d44b7e57986ab578423bb61936ac"
JOSE_HASH = "d994e1d001886fe5b45b1267bd1fa2b752ac50742579bd3dad7b2a2aa0ed6866"
STEFANESCU_HASH = "1c43886f1047ed5dfae59c0945ff61475b7df3a912312a6484ce80429df049a1"

DAY_S = 86_400
GAID = "38400000-8cf0-11bd-b23e-10b96e40000d"


def row(**overrides):
    """A minimal valid row (offline order, no URL needed); ``...`` removes a column."""
    base = {
        "event_id": "order-1",
        "event_type": "order_created",
        "event_time": RECENT_S,
        "action_source": "offline",
    }
    base.update(overrides)
    return {k: v for k, v in base.items() if v is not ...}


def one_event(**overrides):
    return map_rows(
        [row(**{k: v for k, v in overrides.items() if k != "options"})], **overrides.get("options", {})
    )


def assert_rejected(mapped, reason, field, event_id="order-1", rows=1):
    rejection = mapped.rejection
    assert mapped.events == []
    assert (rejection.reason, rejection.field, rejection.event_id) == (reason, field, event_id)
    assert rejection.outcome == "rejected"
    assert rejection.rows == rows
    assert mapped.report.rows["rejected"] == rows
    assert mapped.report.reasons["rejected"][reason] == rows


# -- the whole contract at once ----------------------------------------------------------------


def test_typical_order_row_becomes_the_exact_api_event():
    mapped = map_rows(
        [
            {
                "event_id": "order_12345",
                "event_type": "purchase",
                "event_time": RECENT_DT,
                "action_source": "web",
                "source_url": "https://shop.example.com/checkout/confirmation",
                "oppref": "oppref_abc",
                "email": " User@Example.com ",
                "phone": "+1 (415) 555-2671",
                "external_id": "customer_123",
                "first_name": "Ada",
                "last_name": "Lovelace",
                "city": "San Francisco",
                "region": "CA",
                "postal_code": "94107",
                "country": "us",
                "ip_address": "203.0.113.1",
                "user_agent": "Mozilla/5.0",
                "obref": "obref.1.abc",
                "value": Decimal("25.99"),
                "currency": "usd",
                "item_id": "sku_123",
                "item_name": "Starter bundle",
                "item_content_type": "product",
                "item_quantity": 1,
                "item_price": Decimal("25.99"),
            }
        ]
    )
    assert mapped.event == {
        "id": "order_12345",
        "type": "order_created",
        "timestamp_ms": RECENT_MS,
        "action_source": "web",
        "source_url": "https://shop.example.com/checkout/confirmation",
        "oppref": "oppref_abc",
        "user": {
            "emails_sha256": [EMAIL_HASH],
            "phone_numbers_sha256": [PHONE_HASH],
            "external_ids_sha256": [CUSTOMER_123_HASH],
            "first_names_sha256": [ADA_HASH],
            "last_names_sha256": [LOVELACE_HASH],
            "cities": ["San Francisco"],
            "regions": ["CA"],
            "postal_codes": ["94107"],
            "countries": ["US"],
            "ip_address": "203.0.113.1",
            "user_agent": "Mozilla/5.0",
            "obref": "obref.1.abc",
        },
        "data": {
            "type": "contents",
            "amount": 2599,
            "currency": "USD",
            "contents": [
                {
                    "id": "sku_123",
                    "name": "Starter bundle",
                    "content_type": "product",
                    "quantity": 1,
                    "amount": 2599,
                }
            ],
        },
    }
    assert mapped.prepared[0].rows == 1
    assert mapped.report.dropped_fields == {}


# -- event_id ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("order-1", "order-1"),
        ("  order-1\t", "order-1"),
        (12345, "12345"),
        (2**62, str(2**62)),
        (uuid.UUID("12345678-1234-5678-1234-567812345678"), "12345678-1234-5678-1234-567812345678"),
        (Decimal("1001"), "1001"),
        (Decimal("1001.000"), "1001"),
        ("x" * 512, "x" * 512),
    ],
    ids=["str", "str-padded", "int", "bigint", "uuid", "decimal", "decimal-scale", "512-chars"],
)
def test_event_id_accepts_text_integers_uuids_and_integral_decimals(value, expected):
    assert one_event(event_id=value).event["id"] == expected


@pytest.mark.parametrize("value", [None, "", "   ", ...], ids=["null", "empty", "blank", "absent"])
def test_event_id_missing_or_blank_is_rejected_never_generated(value):
    assert_rejected(one_event(event_id=value), "missing_event_id", "event_id", event_id=None)


@pytest.mark.parametrize(
    "value",
    [1001.0, Decimal("10.5"), Decimal("NaN"), True, b"order-1", ["order-1"], {"id": 1}, "x" * 513],
    ids=["float", "fractional-decimal", "nan", "bool", "bytes", "list", "dict", "too-long"],
)
def test_event_id_of_wrong_type_or_length_is_rejected(value):
    assert_rejected(one_event(event_id=value), "invalid_event_id", "event_id", event_id=None)


# -- event_type --------------------------------------------------------------------------------

ALIASES = {
    # GA4
    "purchase": "order_created",
    "begin_checkout": "checkout_started",
    "add_to_cart": "items_added",
    "view_item": "contents_viewed",
    "page_view": "page_viewed",
    "generate_lead": "lead_created",
    "sign_up": "registration_completed",
    # Segment / RudderStack / PostHog
    "Order Completed": "order_created",
    "order_completed": "order_created",
    "Checkout Started": "checkout_started",
    "Product Added": "items_added",
    "Product Viewed": "contents_viewed",
    "$pageview": "page_viewed",
    "Signed Up": "registration_completed",
    # Meta
    "Purchase": "order_created",
    "InitiateCheckout": "checkout_started",
    "AddToCart": "items_added",
    "ViewContent": "contents_viewed",
    "Lead": "lead_created",
    "CompleteRegistration": "registration_completed",
    "Subscribe": "subscription_created",
    "StartTrial": "trial_started",
    "Schedule": "appointment_scheduled",
    # Datalyr and others
    "lead": "lead_created",
    "complete_registration": "registration_completed",
    "subscribe": "subscription_created",
    "start_trial": "trial_started",
}
STANDARD_TYPES = [
    "page_viewed",
    "contents_viewed",
    "items_added",
    "checkout_started",
    "order_created",
    "lead_created",
    "registration_completed",
    "appointment_scheduled",
    "subscription_created",
    "trial_started",
]


@pytest.mark.parametrize(("name", "expected"), sorted(ALIASES.items()))
def test_event_type_aliases_map_to_openai_types(name, expected):
    event = one_event(event_type=name).event
    assert event["type"] == expected
    assert "custom_event_name" not in event


@pytest.mark.parametrize("name", STANDARD_TYPES)
def test_openai_event_types_pass_through(name):
    event = one_event(event_type=name).event
    assert event["type"] == name
    assert "custom_event_name" not in event


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("Application Installed", "app_installed"),
        ("Application Opened", "app_opened"),
        ("app_installed", "app_installed"),
    ],
)
def test_app_event_aliases_are_app_events_sent_as_mobile_app(name, expected):
    event = one_event(event_type=name, action_source=...).event
    assert (event["type"], event["action_source"], event["data"]) == (
        expected,
        "mobile_app",
        {"type": "customer_action"},
    )


@pytest.mark.parametrize(
    ("event_type_map", "name", "expected_type", "expected_custom"),
    [
        ({"Checkout Complete": "order_created"}, "Checkout Complete", "order_created", None),
        ({"Checkout Complete": "order_created"}, "checkout-complete", "order_created", None),  # folded match
        ({"MQL": "generate_lead"}, "MQL", "lead_created", None),  # target is itself an alias
        ({"refund_req": "refund_requested"}, "refund_req", "custom", "refund_requested"),  # target custom
        # overrides a built-in alias
        ({"purchase": "checkout_started"}, "purchase", "checkout_started", None),
    ],
)
def test_event_type_map(event_type_map, name, expected_type, expected_custom):
    event = one_event(event_type=name, options={"event_type_map": event_type_map}).event
    assert event["type"] == expected_type
    assert event.get("custom_event_name") == expected_custom


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("add_payment_info", "add_payment_info"),
        ("Add_Payment_Info", "add_payment_info"),
        ("  Newsletter-Optin ", "newsletter-optin"),
        ("x", "x"),
        ("a" * 64, "a" * 64),
    ],
)
def test_unknown_valid_name_becomes_custom_with_lowercased_name(name, expected):
    event = one_event(event_type=name).event
    assert (event["type"], event["custom_event_name"], event["data"]) == (
        "custom",
        expected,
        {"type": "custom"},
    )


@pytest.mark.parametrize(
    "name",
    ["add payment info", "-start", "end_", "a" * 65, "naïve", "événement", "a.b", "payment/info"],
)
def test_unknown_invalid_name_is_rejected(name):
    mapped = one_event(event_type=name)
    assert_rejected(mapped, "invalid_event_type", "event_type")


@pytest.mark.parametrize("value", [None, "", "  ", ...], ids=["null", "empty", "blank", "absent"])
def test_default_event_type_applies_when_the_row_has_none(value):
    assert (
        one_event(event_type=value, options={"default_event_type": "purchase"}).event["type"]
        == "order_created"
    )
    custom = one_event(event_type=value, options={"default_event_type": "my_event"}).event
    assert custom["custom_event_name"] == "my_event"


def test_row_event_type_wins_over_the_default():
    assert (
        one_event(event_type="lead", options={"default_event_type": "purchase"}).event["type"]
        == "lead_created"
    )


def test_no_event_type_and_no_default_is_rejected():
    assert_rejected(one_event(event_type=...), "missing_event_type", "event_type")


@pytest.mark.parametrize("value", ["not a name", "bad/name", "-x-"])
def test_invalid_default_event_type_is_a_configuration_error(value):
    with pytest.raises(ValueError):
        MappingOptions(default_event_type=value)


# -- custom_event_name -------------------------------------------------------------------------


def test_custom_event_name_column_names_a_custom_event_mapped_by_event_type_map():
    mapped = one_event(
        event_type="partner_event",
        custom_event_name="Partner-Signup",
        options={"event_type_map": {"partner_event": "custom"}},
    )
    assert (mapped.event["type"], mapped.event["custom_event_name"]) == ("custom", "partner-signup")


def test_custom_event_name_column_overrides_the_name_derived_from_event_type():
    event = one_event(event_type="partner_event", custom_event_name="webinar_joined").event
    assert (event["type"], event["custom_event_name"]) == ("custom", "webinar_joined")


def test_event_type_custom_with_custom_event_name_column():
    event = one_event(event_type="custom", custom_event_name="webinar_joined").event
    assert (event["type"], event["custom_event_name"]) == ("custom", "webinar_joined")


@pytest.mark.parametrize("name", ["bad name", "order_created", "Custom", "-x", "x" * 65, "näme"], ids=str)
def test_invalid_custom_event_name_is_rejected(name):
    mapped = one_event(event_type="partner_event", custom_event_name=name)
    assert_rejected(mapped, "invalid_custom_event_name", "custom_event_name")


def test_custom_event_name_on_a_standard_event_is_rejected():
    mapped = one_event(event_type="purchase", custom_event_name="big_order")
    assert_rejected(mapped, "unexpected_custom_event_name", "custom_event_name")


@pytest.mark.parametrize("value", [None, "", "   "])
def test_blank_custom_event_name_is_ignored(value):
    event = one_event(event_type="purchase", custom_event_name=value).event
    assert "custom_event_name" not in event


# -- event_time --------------------------------------------------------------------------------

NY = ZoneInfo("America/New_York")


@pytest.mark.parametrize(
    ("value", "expected_ms"),
    [
        (RECENT_DT, RECENT_MS),
        (RECENT_DT.astimezone(dt.timezone(dt.timedelta(hours=5, minutes=30))), RECENT_MS),
        (RECENT_DT.astimezone(NY), RECENT_MS),
        (RECENT_DT.replace(microsecond=123_999), RECENT_MS + 123),
        ("2026-03-19T03:00:00+00:00", RECENT_MS),
        ("2026-03-19T03:00:00Z", RECENT_MS),
        ("2026-03-19T03:00:00z", RECENT_MS),
        ("2026-03-19 03:00:00Z", RECENT_MS),
        ("2026-03-19T05:00:00+02:00", RECENT_MS),
        ("2026-03-18T23:00:00-04:00", RECENT_MS),
        ("2026-03-19T03:00:00.250Z", RECENT_MS + 250),
        ("  2026-03-19T03:00:00+00:00 ", RECENT_MS),
        (RECENT_S, RECENT_MS),
        (float(RECENT_S), RECENT_MS),
        (RECENT_S + 0.5, RECENT_MS + 500),
        (Decimal(RECENT_S), RECENT_MS),
        (Decimal(f"{RECENT_S}.123"), RECENT_MS + 123),
        (str(RECENT_S), RECENT_MS),
        (f" {RECENT_S}.75 ", RECENT_MS + 750),
        (RECENT_MS, RECENT_MS),
        (float(RECENT_MS), RECENT_MS),
        (Decimal(RECENT_MS), RECENT_MS),
        (str(RECENT_MS), RECENT_MS),
    ],
    ids=[
        "datetime-utc",
        "datetime-+0530",
        "datetime-zoneinfo",
        "datetime-micros-truncated",
        "iso-offset",
        "iso-Z",
        "iso-z",
        "iso-space-Z",
        "iso-+02",
        "iso--04",
        "iso-millis",
        "iso-padded",
        "epoch-s-int",
        "epoch-s-float",
        "epoch-s-float-fraction",
        "epoch-s-decimal",
        "epoch-s-decimal-fraction",
        "epoch-s-str",
        "epoch-s-str-fraction",
        "epoch-ms-int",
        "epoch-ms-float",
        "epoch-ms-decimal",
        "epoch-ms-str",
    ],
)
def test_event_time_forms(value, expected_ms):
    assert one_event(event_time=value).event["timestamp_ms"] == expected_ms


@pytest.mark.parametrize(
    "value",
    [dt.datetime(2026, 3, 19, 3, 0), "2026-03-19T03:00:00", "2026-03-19 03:00:00.5"],
    ids=["naive-datetime", "naive-iso", "naive-iso-space"],
)
def test_naive_event_time_is_rejected_without_source_timezone(value):
    assert_rejected(one_event(event_time=value), "naive_event_time", "event_time")


@pytest.mark.parametrize(
    ("zone", "local", "expected_utc"),
    [
        ("UTC", "2026-03-19T03:00:00", "2026-03-19T03:00:00"),
        ("Europe/Paris", "2026-03-19T04:00:00", "2026-03-19T03:00:00"),  # CET, +01:00
        ("Asia/Kolkata", "2026-03-19T08:30:00", "2026-03-19T03:00:00"),  # +05:30
        ("America/New_York", "2026-03-08T01:30:00", "2026-03-08T06:30:00"),  # EST, just before the jump
        ("America/New_York", "2026-03-08T03:30:00", "2026-03-08T07:30:00"),  # EDT, just after
        ("America/New_York", "2026-11-01T00:30:00", "2026-11-01T04:30:00"),  # EDT
        ("America/New_York", "2026-11-01T01:30:00", "2026-11-01T05:30:00"),  # ambiguous: first (EDT)
        ("America/New_York", "2026-11-01T02:30:00", "2026-11-01T07:30:00"),  # EST again
        ("Europe/London", "2026-03-29T00:30:00", "2026-03-29T00:30:00"),  # GMT
        ("Europe/London", "2026-03-29T02:30:00", "2026-03-29T01:30:00"),  # BST
    ],
)
@pytest.mark.parametrize("as_datetime", [False, True], ids=["iso", "datetime"])
def test_naive_event_time_in_source_timezone_converts_with_dst(zone, local, expected_utc, as_datetime):
    expected_ms = (
        int(dt.datetime.fromisoformat(expected_utc).replace(tzinfo=dt.timezone.utc).timestamp()) * 1000
    )
    value = dt.datetime.fromisoformat(local) if as_datetime else local
    mapped = map_rows([row(event_time=value)], now_s=expected_ms // 1000 + 3600, source_timezone=zone)
    assert mapped.event["timestamp_ms"] == expected_ms


@pytest.mark.parametrize(
    "value", ["2026-03-19T03:00:00Z", RECENT_DT, RECENT_S], ids=["iso-Z", "aware-datetime", "epoch"]
)
def test_source_timezone_does_not_shift_values_that_carry_their_zone(value):
    assert (
        one_event(event_time=value, options={"source_timezone": "Asia/Tokyo"}).event["timestamp_ms"]
        == RECENT_MS
    )


def test_unknown_source_timezone_is_a_configuration_error():
    with pytest.raises(ValueError):
        MappingOptions(source_timezone="Mars/Olympus_Mons")


def test_date_object_is_rejected():
    assert_rejected(one_event(event_time=dt.date(2026, 3, 19)), "invalid_event_time", "event_time")


def test_date_object_is_rejected_even_with_source_timezone():
    mapped = one_event(event_time=dt.date(2026, 3, 19), options={"source_timezone": "UTC"})
    assert_rejected(mapped, "invalid_event_time", "event_time")


def test_date_only_string_is_rejected_even_with_source_timezone():
    mapped = one_event(event_time="2026-03-19", options={"source_timezone": "UTC"})
    assert_rejected(mapped, "invalid_event_time", "event_time")


@pytest.mark.parametrize(
    "value",
    ["yesterday", "2026-02-30T10:00:00Z", "2026-13-01T00:00:00Z", "19/03/2026 03:00", "1.7e9", "", "  "],
    ids=["word", "feb-30", "month-13", "dmy", "exponent", "empty", "blank"],
)
def test_unparsable_event_time_is_rejected(value):
    assert_rejected(one_event(event_time=value), "invalid_event_time", "event_time")


def test_absurd_epoch_magnitude_is_rejected_quickly():
    started = time.perf_counter()
    mapped = one_event(event_time=Decimal("1E+100000"))
    elapsed = time.perf_counter() - started
    assert_rejected(mapped, "too_far_in_future", "event_time")
    assert elapsed < 0.05


def test_missing_event_time_is_rejected():
    assert_rejected(one_event(event_time=None), "missing_event_time", "event_time")
    assert_rejected(one_event(event_time=...), "missing_event_time", "event_time")


@pytest.mark.parametrize(
    ("offset_ms", "reason"),
    [
        (-7 * DAY_S * 1000, None),
        (-7 * DAY_S * 1000 - 1, "too_old"),
        (-30 * DAY_S * 1000, "too_old"),
        (600_000, None),
        (600_001, "too_far_in_future"),
        (DAY_S * 1000, "too_far_in_future"),
    ],
)
def test_event_time_window(offset_ms, reason):
    mapped = one_event(event_time=NOW_MS + offset_ms)
    if reason is None:
        assert mapped.event["timestamp_ms"] == NOW_MS + offset_ms
    else:
        assert_rejected(mapped, reason, "event_time")


# -- action_source -----------------------------------------------------------------------------


def test_action_source_is_omitted_without_value_or_default():
    assert "action_source" not in one_event(action_source=...).event


def test_default_action_source_applies_to_rows_without_one():
    mapped = map_rows(
        [row(event_id="a", action_source=...), row(event_id="b", action_source="phone_call")],
        default_action_source="offline",
    )
    assert [e["action_source"] for e in mapped.events] == ["offline", "phone_call"]


@pytest.mark.parametrize(
    ("value", "expected"),
    [("OFFLINE", "offline"), (" physical_store ", "physical_store"), ("email", "email")],
)
def test_action_source_is_normalized(value, expected):
    assert one_event(action_source=value).event["action_source"] == expected


@pytest.mark.parametrize("value", ["store", "app", "Web site", 1])
def test_invalid_action_source_is_rejected(value):
    assert_rejected(one_event(action_source=value), "invalid_action_source", "action_source")


def test_invalid_default_action_source_is_a_configuration_error():
    with pytest.raises(ValueError):
        MappingOptions(default_action_source="store")


@pytest.mark.parametrize("event_type", ["app_installed", "app_opened"])
def test_app_events_are_forced_to_mobile_app_when_no_action_source_is_given(event_type):
    event = one_event(event_type=event_type, action_source=None).event
    assert event["action_source"] == "mobile_app"


@pytest.mark.parametrize("event_type", ["app_installed", "app_opened"])
def test_app_events_keep_an_explicit_mobile_app(event_type):
    assert one_event(event_type=event_type, action_source="Mobile_App").event["action_source"] == "mobile_app"


@pytest.mark.parametrize("action_source", ["web", "offline", "other"])
def test_app_events_with_another_action_source_are_rejected(action_source):
    mapped = one_event(event_type="app_opened", action_source=action_source, source_url="https://x.example/")
    assert_rejected(mapped, "invalid_action_source", "action_source")


def test_app_events_without_action_source_ignore_a_web_default():
    mapped = one_event(
        event_type="app_installed", action_source=..., options={"default_action_source": "web"}
    )
    assert mapped.event["action_source"] == "mobile_app"


# -- source_url --------------------------------------------------------------------------------


def test_web_event_requires_source_url():
    assert_rejected(one_event(action_source="web"), "missing_source_url", "source_url")
    assert_rejected(one_event(action_source="web", source_url="  "), "missing_source_url", "source_url")
    mapped = one_event(action_source=..., options={"default_action_source": "web"})
    assert_rejected(mapped, "missing_source_url", "source_url")


def test_web_event_with_source_url_passes_it_unchanged():
    url = "https://shop.example.com/checkout/confirmation?utm_source=chatgpt&oppref=abc#done"
    event = one_event(action_source="web", source_url=url).event
    assert (event["action_source"], event["source_url"]) == ("web", url)


def test_source_url_is_optional_but_kept_for_other_action_sources():
    assert "source_url" not in one_event(action_source="offline").event
    assert (
        one_event(action_source="offline", source_url="http://x.example").event["source_url"]
        == "http://x.example"
    )


@pytest.mark.parametrize(
    "value",
    [
        "shop.example.com/checkout",
        "ftp://shop.example.com/x",
        "https://",
        "javascript:alert(1)",
        "/checkout",
        42,
    ],
)
@pytest.mark.parametrize("action_source", ["web", "offline"])
def test_invalid_source_url_is_rejected(value, action_source):
    assert_rejected(
        one_event(action_source=action_source, source_url=value), "invalid_source_url", "source_url"
    )


# -- oppref, opt_out, consent ------------------------------------------------------------------


def test_oppref_is_passed_and_blank_is_omitted():
    assert one_event(oppref="oppref_AbC.123-x~y").event["oppref"] == "oppref_AbC.123-x~y"
    assert "oppref" not in one_event(oppref="   ").event
    assert "oppref" not in one_event(oppref=None).event
    assert_rejected(one_event(oppref=123), "invalid_oppref", "oppref")


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (True, True),
        (False, False),
        (1, True),
        (0, False),
        ("true", True),
        ("FALSE", False),
        (" yes ", True),
        ("n", False),
        ("1", True),
        ("0", False),
        ("t", True),
        ("f", False),
    ],
)
def test_opt_out_flag_forms(value, expected):
    assert one_event(opt_out=value).event["opt_out"] is expected


def test_opt_out_null_is_omitted():
    assert "opt_out" not in one_event(opt_out=None).event


@pytest.mark.parametrize("value", ["maybe", 2, 1.0, "", [True]])
def test_invalid_opt_out_is_rejected(value):
    assert_rejected(one_event(opt_out=value), "invalid_opt_out", "opt_out")


@pytest.mark.parametrize("value", [False, 0, "false", "no", "N"])
def test_consent_false_with_drop_policy_skips_the_row_and_counts_it(value):
    mapped = map_rows(
        [
            row(event_id="before"),
            row(event_id="c-1", consent=value, item_id="a"),
            row(event_id="c-1", consent=value, item_id="b"),
            row(event_id="after"),
        ],
        consent_policy="drop",
    )
    assert mapped.ids == ["before", "after"]
    skipped = mapped.rejection
    assert (skipped.event_id, skipped.outcome, skipped.reason, skipped.field, skipped.rows) == (
        "c-1",
        "skipped",
        "consent_withheld",
        "consent",
        2,
    )
    assert mapped.report.rows["skipped"] == 2
    assert mapped.report.rows["rejected"] == 0
    assert mapped.report.reasons["skipped"]["consent_withheld"] == 2


def test_drop_is_the_default_consent_policy():
    assert MappingOptions().consent_policy == "drop"
    mapped = one_event(consent=False)
    assert mapped.events == []
    assert mapped.rejection.outcome == "skipped"


@pytest.mark.parametrize("opt_out", [None, False, "false"])
def test_consent_false_with_opt_out_policy_sends_the_event_with_opt_out_true(opt_out):
    mapped = one_event(consent=False, opt_out=opt_out, options={"consent_policy": "opt_out"})
    assert mapped.event["opt_out"] is True
    assert mapped.rejections == []


@pytest.mark.parametrize("value", [True, 1, "yes", None])
def test_consent_given_or_unknown_sends_the_event_normally(value):
    mapped = one_event(consent=value)
    assert "opt_out" not in mapped.event
    assert mapped.rejections == []


def test_invalid_consent_is_rejected():
    assert_rejected(one_event(consent="unsure"), "invalid_consent", "consent")


def test_invalid_consent_policy_is_a_configuration_error():
    with pytest.raises(ValueError):
        MappingOptions(consent_policy="ignore")


# -- user: hashed identifiers ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("column", "value", "key", "expected"),
    [
        ("email", "user@example.com", "emails_sha256", EMAIL_HASH),
        ("email", " Ada@Example.COM ", "emails_sha256", ADA_EMAIL_HASH),
        ("phone", "+1 (415) 555-2671", "phone_numbers_sha256", PHONE_HASH),
        ("phone", "14155552671", "phone_numbers_sha256", PHONE_HASH),
        ("phone", "1.415.555.2671", "phone_numbers_sha256", PHONE_HASH),
        ("phone", 14155552671, "phone_numbers_sha256", PHONE_HASH),
        ("phone", "+40 746 123 456", "phone_numbers_sha256", RO_PHONE_HASH),
        ("phone", "001 (555) 123-4567", "phone_numbers_sha256", INTL_PHONE_HASH),
        ("external_id", "customer_123", "external_ids_sha256", CUSTOMER_123_HASH),
        ("external_id", "  CUST-00042  ", "external_ids_sha256", CUST_00042_HASH),
        ("external_id", 42, "external_ids_sha256", sha("42")),
        ("first_name", "Ada", "first_names_sha256", ADA_HASH),
        ("first_name", "Mary Jane", "first_names_sha256", MARYJANE_HASH),
        ("first_name", "José", "first_names_sha256", JOSE_HASH),
        ("first_name", "Jose\u0301", "first_names_sha256", JOSE_HASH),  # decomposed accent
        ("last_name", "Lovelace", "last_names_sha256", LOVELACE_HASH),
        ("last_name", "O'Connor", "last_names_sha256", OCONNOR_HASH),
        ("last_name", "Ștefănescu", "last_names_sha256", STEFANESCU_HASH),
        ("last_name", " O' Connor ", "last_names_sha256", OCONNOR_HASH),
    ],
)
def test_identifiers_are_normalized_and_hashed(column, value, key, expected):
    mapped = one_event(**{column: value})
    assert mapped.event["user"] == {key: [expected]}
    assert mapped.report.dropped_fields == {}


@pytest.mark.parametrize(
    ("column", "key"),
    [
        ("email", "emails_sha256"),
        ("phone", "phone_numbers_sha256"),
        ("external_id", "external_ids_sha256"),
        ("first_name", "first_names_sha256"),
        ("last_name", "last_names_sha256"),
    ],
)
@pytest.mark.parametrize("digest", [EMAIL_HASH, EMAIL_HASH.upper()], ids=["lower", "upper"])
def test_prehashed_values_pass_through_lowercased_never_rehashed(column, key, digest):
    assert one_event(**{column: digest}).event["user"] == {key: [EMAIL_HASH]}


@pytest.mark.parametrize(
    ("column", "key"),
    [
        ("email", "emails_sha256"),
        ("phone", "phone_numbers_sha256"),
        ("external_id", "external_ids_sha256"),
        ("first_name", "first_names_sha256"),
        ("last_name", "last_names_sha256"),
    ],
)
def test_padded_prehashed_values_pass_through_never_rehashed(column, key):
    assert one_event(**{column: f" {EMAIL_HASH.upper()}\n"}).event["user"] == {key: [EMAIL_HASH]}


def test_list_values_are_hashed_deduplicated_and_capped_at_three():
    emails = ["A@x.com", "a@x.com ", "b@x.com", "c@x.com", "d@x.com"]
    mapped = one_event(email=emails)
    assert mapped.event["user"]["emails_sha256"] == [sha("a@x.com"), sha("b@x.com"), sha("c@x.com")]
    assert mapped.report.dropped_fields["email:over_3_values"] == 1


@pytest.mark.parametrize("container", [list, tuple])
def test_list_values_skip_nulls_and_drop_invalid_entries(container):
    mapped = one_event(phone=container([None, "12", "+1 (415) 555-2671", "14155552671", "+40 746 123 456"]))
    assert mapped.event["user"]["phone_numbers_sha256"] == [PHONE_HASH, RO_PHONE_HASH]
    assert mapped.dropped == {"phone:invalid": 1}


def test_three_valid_values_are_kept_after_invalid_ones():
    mapped = one_event(email=["bad", "a@x.com", "", "b@x.com", "c@x.com"])
    assert mapped.event["user"]["emails_sha256"] == [sha("a@x.com"), sha("b@x.com"), sha("c@x.com")]
    assert mapped.dropped == {"email:invalid": 2}


def test_list_of_prehashed_and_raw_values_deduplicates_by_hash():
    mapped = one_event(email=[EMAIL_HASH.upper(), "user@example.com"])
    assert mapped.event["user"]["emails_sha256"] == [EMAIL_HASH]


@pytest.mark.parametrize(
    ("column", "value", "dropped_key"),
    [
        ("email", "not-an-email", "email:invalid"),
        ("email", "ada@localhost", "email:invalid"),
        ("email", "a b@example.com", "email:invalid"),
        ("email", "", "email:invalid"),
        ("email", 42, "email:invalid_type"),
        ("email", b"ada@example.com", "email:invalid_type"),
        ("phone", "12345", "phone:invalid"),
        ("phone", "+1 415 555 2671 ext. 89", "phone:invalid"),
        ("phone", "1234567890123456", "phone:invalid"),
        ("phone", "+١٤١٥٥٥٥٢٦٧١", "phone:invalid"),
        ("phone", 12.5, "phone:invalid_type"),
        ("external_id", "   ", "external_id:invalid"),
        ("first_name", "!!!", "first_name:invalid"),
        ("last_name", " - ", "last_name:invalid"),
        ("country", "USA", "country:invalid"),
        ("country", "U1", "country:invalid"),
        ("postal_code", "941@07", "postal_code:invalid"),
        ("postal_code", "1" * 33, "postal_code:invalid"),
        ("city", "   ", "city:invalid"),
        ("ip_address", "999.1.1.1", "ip_address:invalid"),
        ("ip_address", "192.168.001.001", "ip_address:invalid"),
        ("ip_address", "localhost", "ip_address:invalid"),
        ("user_agent", "   ", "user_agent:invalid"),
        ("obref", " ", "obref:invalid"),
        ("android_advertising_id", "not-a-uuid", "android_advertising_id:invalid"),
        ("android_advertising_id", "00000000-0000-0000-0000-000000000000", "android_advertising_id:invalid"),
        ("ip_address", 3232235777, "ip_address:invalid"),
    ],
)
def test_unusable_user_values_are_dropped_counted_and_never_sent(column, value, dropped_key):
    mapped = one_event(**{column: value})
    assert "user" not in mapped.event
    assert mapped.dropped == {dropped_key: 1}
    assert mapped.rejections == []


def test_invalid_user_values_drop_only_themselves():
    mapped = one_event(email="nope", phone="+1 (415) 555-2671", country="USA", city="Paris")
    assert mapped.event["user"] == {"phone_numbers_sha256": [PHONE_HASH], "cities": ["Paris"]}
    assert mapped.dropped == {"email:invalid": 1, "country:invalid": 1}


# -- user: raw fields --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("column", "value", "key", "expected"),
    [
        ("city", " San Francisco ", "cities", ["San Francisco"]),
        ("city", "x" * 200, "cities", ["x" * 128]),
        ("region", "CA", "regions", ["CA"]),
        ("region", "Île-de-France", "regions", ["Île-de-France"]),
        ("postal_code", "94107", "postal_codes", ["94107"]),
        ("postal_code", " SW1A 1AA ", "postal_codes", ["SW1A 1AA"]),
        ("postal_code", 94107, "postal_codes", ["94107"]),
        ("country", "us", "countries", ["US"]),
        ("country", " gb ", "countries", ["GB"]),
        ("country", ["us", "US", "ca"], "countries", ["US", "CA"]),
        ("ip_address", "203.0.113.1", "ip_address", "203.0.113.1"),
        ("ip_address", " 203.0.113.1 ", "ip_address", "203.0.113.1"),
        ("ip_address", "2001:DB8:0:0:0:0:0:1", "ip_address", "2001:db8::1"),
        ("user_agent", "Mozilla/5.0 (X11; Linux x86_64)", "user_agent", "Mozilla/5.0 (X11; Linux x86_64)"),
        ("obref", "obref.1.AbC_xyz", "obref", "obref.1.AbC_xyz"),
        ("android_advertising_id", GAID.upper(), "android_advertising_id", GAID),
    ],
)
def test_raw_user_fields(column, value, key, expected):
    mapped = one_event(**{column: value})
    assert mapped.event["user"] == {key: expected}
    assert mapped.dropped == {}


def test_no_user_object_without_user_columns():
    assert "user" not in one_event().event


def test_singular_user_schema_output_keys():
    mapped = one_event(
        email="user@example.com",
        phone="+1 (415) 555-2671",
        external_id="customer_123",
        first_name="Ada",
        last_name="Lovelace",
        city="San Francisco",
        region="CA",
        postal_code="94107",
        country="us",
        ip_address="203.0.113.1",
        user_agent="Mozilla/5.0",
        obref="obref.1",
        android_advertising_id=GAID,
        options={"user_schema": "singular"},
    )
    assert mapped.event["user"] == {
        "email_sha256": EMAIL_HASH,
        "external_id_sha256": CUSTOMER_123_HASH,
        "city": "San Francisco",
        "zip_code": "94107",
        "country": "US",
        "ip_address": "203.0.113.1",
        "user_agent": "Mozilla/5.0",
        "obref": "obref.1",
    }
    assert mapped.dropped == {
        "phone_numbers_sha256:not_in_user_schema": 1,
        "first_names_sha256:not_in_user_schema": 1,
        "last_names_sha256:not_in_user_schema": 1,
        "regions:not_in_user_schema": 1,
        "android_advertising_id:not_in_user_schema": 1,
    }


def test_singular_user_schema_sends_the_first_value_of_a_list():
    mapped = one_event(email=["a@x.com", "b@x.com"], options={"user_schema": "singular"})
    assert mapped.event["user"] == {"email_sha256": sha("a@x.com")}


def test_invalid_user_schema_is_a_configuration_error():
    with pytest.raises(ValueError):
        MappingOptions(user_schema="plural")


# -- amount / value / currency -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("amount", "currency", "expected"),
    [
        (2599, "USD", 2599),
        ("2599", "USD", 2599),
        (Decimal("2599"), "usd", 2599),
        (2599.0, "USD", 2599),
        (0, "USD", 0),
        (8900, "JPY", 8900),
        (2**53 - 1, "USD", 2**53 - 1),
    ],
)
def test_amount_is_integer_minor_units(amount, currency, expected):
    assert one_event(amount=amount, currency=currency).event["data"] == {
        "type": "contents",
        "amount": expected,
        "currency": currency.upper(),
    }


@pytest.mark.parametrize(
    ("value", "currency", "expected"),
    [
        (Decimal("25.99"), "USD", 2599),
        ("129.99", "USD", 12999),
        (42, "USD", 4200),
        (19.99, "USD", 1999),
        (1.1, "USD", 110),
        (0.29, "EUR", 29),  # 0.29 * 100 is 28.999999999999996 in binary floating point
        (8900, "JPY", 8900),
        ("8900", "jpy", 8900),
        (Decimal("1.234"), "KWD", 1234),
        ("0.5", "BHD", 500),
        ("1.2345", "CLF", 12345),
        ("25.990", "USD", 2599),  # trailing zeros are not extra precision
    ],
)
def test_value_in_major_units_is_converted_exactly(value, currency, expected):
    data = one_event(value=value, currency=currency).event["data"]
    assert (data["amount"], data["currency"]) == (expected, currency.upper())


@pytest.mark.parametrize(
    ("value", "currency"),
    [("1.005", "USD"), (19.999, "USD"), ("8900.5", "JPY"), ("1.2345", "KWD"), (Decimal("0.001"), "EUR")],
)
def test_value_with_more_decimals_than_the_currency_is_rejected_not_rounded(value, currency):
    assert_rejected(one_event(value=value, currency=currency), "too_many_decimals", "value")


@pytest.mark.parametrize(
    ("column", "value", "reason"),
    [
        ("amount", -1, "negative_amount"),
        ("amount", 12.5, "invalid_amount"),
        ("amount", "12.5", "invalid_amount"),
        ("amount", 2**53, "invalid_amount"),
        ("amount", True, "invalid_amount"),
        ("amount", "lots", "invalid_amount"),
        ("value", "-5.00", "negative_amount"),
        ("value", "abc", "invalid_amount"),
        ("value", float("nan"), "invalid_amount"),
        ("value", Decimal("Infinity"), "invalid_amount"),
        ("value", [1], "invalid_amount"),
    ],
)
def test_invalid_amounts_are_rejected(column, value, reason):
    assert_rejected(one_event(**{column: value, "currency": "USD"}), reason, column)


def test_amount_and_value_together_are_rejected():
    assert_rejected(one_event(amount=2599, value="25.99", currency="USD"), "ambiguous_amount", "amount")


def test_missing_currency_is_rejected():
    assert_rejected(one_event(amount=2599), "missing_currency", "currency")
    assert_rejected(one_event(value="25.99", currency=None), "missing_currency", "currency")


@pytest.mark.parametrize(
    "default_currency",
    [
        "EUR",
        pytest.param(
            "eur",
        ),
    ],
)
def test_default_currency_applies_and_the_row_currency_wins(default_currency):
    mapped = map_rows(
        [row(event_id="a", value="10"), row(event_id="b", value="10", currency="JPY")],
        default_currency=default_currency,
    )
    assert [e["data"] for e in mapped.events] == [
        {"type": "contents", "amount": 1000, "currency": "EUR"},
        {"type": "contents", "amount": 10, "currency": "JPY"},
    ]


def test_lowercase_default_currency_is_sent_upper_case():
    assert one_event(options={"default_currency": "eur"}).event["data"] == {
        "type": "contents",
        "currency": "EUR",
    }


def test_currency_without_amount_is_sent_alone():
    assert one_event(currency="usd").event["data"] == {"type": "contents", "currency": "USD"}


@pytest.mark.parametrize("currency", ["XYZ", "US", "dollars", "", 840, b"USD", "XXX"])
def test_invalid_currency_is_rejected(currency):
    assert_rejected(one_event(amount=100, currency=currency), "invalid_currency", "currency")


@pytest.mark.parametrize("currency", ["XYZ", "US"])
def test_invalid_default_currency_is_a_configuration_error(currency):
    with pytest.raises(ValueError):
        MappingOptions(default_currency=currency)


# -- contents ----------------------------------------------------------------------------------

CONTENTS = [
    {"id": "sku_1", "name": "Bundle", "content_type": "product", "quantity": 2, "amount": 1299},
    {
        "id": "sku_2",
        "group_id": "g1",
        "quantity": 1,
        "amount": 500,
        "currency": "EUR",
        "variant_dict": {"size": "M"},
    },
]


@pytest.mark.parametrize(
    "contents",
    [
        CONTENTS,
        '[{"id":"sku_1","name":"Bundle","content_type":"product","quantity":2,"amount":1299},'
        '{"id":"sku_2","group_id":"g1","quantity":1,"amount":500,"currency":"eur","variant_dict":{"size":"M"}}]',
        b'[{"id":"sku_1","name":"Bundle","content_type":"product","quantity":"2","amount":"1299"},'
        b'{"id":"sku_2","group_id":"g1","quantity":1,"amount":500,"currency":"EUR","variant_dict":"{\\"size\\":\\"M\\"}"}]',
    ],
    ids=["list", "json-str", "json-bytes"],
)
def test_contents_json_column(contents):
    data = one_event(contents=contents, currency="USD").event["data"]
    assert data == {"type": "contents", "currency": "USD", "contents": CONTENTS}


def test_contents_items_drop_null_keys_and_stringify_numeric_ids():
    data = one_event(contents=[{"id": 123, "name": None, "quantity": None}]).event["data"]
    assert data == {"type": "contents", "contents": [{"id": "123"}]}


@pytest.mark.parametrize(
    ("contents", "field", "reason"),
    [
        ("not json", "contents", "invalid_contents"),
        ('{"id": "a"}', "contents", "invalid_contents"),
        ('["a"]', "contents", "invalid_contents"),
        ([{"sku": "a"}], "contents[0]", "invalid_contents"),
        ([{"id": "a"}, {"id": "b", "price": 3}], "contents[1]", "invalid_contents"),
        ([{"id": "a", "quantity": 0}], "contents[0].quantity", "invalid_quantity"),
        ([{"id": "a", "amount": 100}], "contents[0].currency", "missing_currency"),
        ([{"id": "a", "amount": 1.5, "currency": "USD"}], "contents[0].amount", "invalid_amount"),
        ([{"id": "a", "currency": "ZZZ"}], "contents[0].currency", "invalid_currency"),
        ([{"id": "a", "quantity": "two"}], "contents[0].quantity", "invalid_quantity"),
        pytest.param(
            [{"id": "a", "variant_dict": {"size": 1}}],
            "contents[0].variant_dict",
            "invalid_item_variant",
        ),
    ],
)
def test_invalid_contents_are_rejected_with_the_item_named(contents, field, reason):
    assert_rejected(one_event(contents=contents), reason, field)


def test_item_columns_build_one_item():
    data = one_event(
        currency="USD",
        item_id="sku_1",
        item_name="Bundle",
        item_content_type="product",
        item_quantity="3",
        item_price="12.99",
        item_currency="usd",
        item_group_id="grp",
        item_variant='{"color": "blue"}',
    ).event["data"]
    assert data == {
        "type": "contents",
        "currency": "USD",
        "contents": [
            {
                "id": "sku_1",
                "group_id": "grp",
                "name": "Bundle",
                "content_type": "product",
                "quantity": 3,
                "amount": 1299,
                "currency": "USD",
                "variant_dict": {"color": "blue"},
            }
        ],
    }


@pytest.mark.parametrize(
    ("columns", "expected"),
    [
        ({"item_id": 42, "item_amount": 1299}, {"id": "42", "amount": 1299}),
        ({"item_name": "Only a name", "item_price": Decimal("1.5")}, {"name": "Only a name", "amount": 150}),
        ({"item_id": "a", "item_quantity": Decimal("2")}, {"id": "a", "quantity": 2}),
        ({"item_id": "a", "item_quantity": 2.0}, {"id": "a", "quantity": 2}),
        (
            {"item_id": "a", "item_price": "100", "item_currency": "JPY"},
            {"id": "a", "amount": 100, "currency": "JPY"},
        ),
        ({"item_id": "a", "item_variant": {"size": "S"}}, {"id": "a", "variant_dict": {"size": "S"}}),
    ],
)
def test_item_column_forms(columns, expected):
    assert one_event(currency="USD", **columns).event["data"]["contents"] == [expected]


@pytest.mark.parametrize(
    ("columns", "reason", "field"),
    [
        ({"item_amount": 100, "item_price": "1.00"}, "ambiguous_amount", "item_amount"),
        ({"item_quantity": 0}, "invalid_quantity", "item_quantity"),
        ({"item_quantity": -1}, "invalid_quantity", "item_quantity"),
        ({"item_quantity": 1.5}, "invalid_quantity", "item_quantity"),
        ({"item_quantity": "two"}, "invalid_quantity", "item_quantity"),
        ({"item_price": "1.001"}, "too_many_decimals", "item_price"),
        ({"item_amount": -5}, "negative_amount", "item_amount"),
        ({"item_currency": "ZZZ"}, "invalid_currency", "item_currency"),
        ({"item_variant": "not json"}, "invalid_item_variant", "item_variant"),
        ({"item_variant": '["S"]'}, "invalid_item_variant", "item_variant"),
        ({"item_content_type": 5}, "invalid_item_content_type", "item_content_type"),
    ],
)
def test_invalid_item_columns_are_rejected(columns, reason, field):
    assert_rejected(one_event(currency="USD", item_id="sku", **columns), reason, field)


def test_item_amount_without_any_currency_is_rejected():
    assert_rejected(one_event(item_id="sku", item_amount=100), "missing_currency", "item_currency")


def test_item_amount_uses_the_event_currency():
    data = one_event(item_id="sku", item_amount=100, options={"default_currency": "GBP"}).event["data"]
    assert data == {"type": "contents", "currency": "GBP", "contents": [{"id": "sku", "amount": 100}]}


def test_contents_column_wins_over_item_columns():
    data = one_event(contents='[{"id": "from-json"}]', item_id="from-columns").event["data"]
    assert data["contents"] == [{"id": "from-json"}]


def test_consecutive_rows_with_the_same_event_id_are_one_event_with_n_items():
    order = {"event_id": 1001, "value": "30.00", "currency": "USD", "email": "user@example.com"}
    rows = [
        row(event_id="before"),
        row(**order, item_id="a", item_quantity=1, item_price="10.00"),
        row(**order, item_id="b", item_quantity=2, item_price="5.00"),
        row(**order, item_id="c", item_quantity=1, item_price="10.00"),
        row(event_id="after"),
    ]
    mapped = map_rows(rows)
    assert mapped.ids == ["before", "1001", "after"]
    event = mapped.event_by_id("1001")
    assert event["data"] == {
        "type": "contents",
        "amount": 3000,
        "currency": "USD",
        "contents": [
            {"id": "a", "quantity": 1, "amount": 1000},
            {"id": "b", "quantity": 2, "amount": 500},
            {"id": "c", "quantity": 1, "amount": 1000},
        ],
    }
    assert event["user"] == {"emails_sha256": [EMAIL_HASH]}
    assert [p.rows for p in mapped.prepared] == [1, 3, 1]
    assert mapped.report.events_built == 3


def test_columns_outside_the_contract_do_not_split_line_items():
    rows = [
        row(event_id="o-7", item_id="a", line_number=1, line_margin=Decimal("0.5")),
        row(event_id="o-7", item_id="b", line_number=2, line_margin=Decimal("0.7")),
    ]
    mapped = map_rows(rows)
    assert mapped.event["data"]["contents"] == [{"id": "a"}, {"id": "b"}]


def test_identical_duplicate_rows_are_one_event():
    mapped = map_rows([row(), row(), row()])
    assert mapped.ids == ["order-1"]
    assert mapped.prepared[0].rows == 3


@pytest.mark.parametrize(
    ("column", "first", "second"),
    [
        ("event_time", RECENT_S, RECENT_S + 1),
        ("value", "10.00", "12.00"),
        ("email", "a@x.com", "b@x.com"),
        ("event_type", "purchase", "lead"),
        ("currency", "USD", "EUR"),
    ],
)
def test_conflicting_duplicate_rows_are_rejected_together(column, first, second):
    rows = [
        row(event_id="before"),
        row(event_id="dup", **{"currency": "USD", column: first}, item_id="a"),
        row(event_id="dup", **{"currency": "USD", column: second}, item_id="b"),
        row(event_id="after"),
    ]
    mapped = map_rows(rows)
    assert mapped.ids == ["before", "after"]
    rejection = mapped.rejection
    assert (rejection.event_id, rejection.reason, rejection.field, rejection.rows) == (
        "dup",
        "conflicting_duplicate",
        column,
        2,
    )
    assert "a@x.com" not in rejection.message
    assert "b@x.com" not in rejection.message


@pytest.mark.parametrize("event_type", ["lead", "sign_up", "Schedule", "app_opened"])
@pytest.mark.parametrize(
    "items", [{"item_id": "sku"}, {"contents": '[{"id": "sku"}]'}], ids=["item-columns", "contents-column"]
)
def test_items_on_customer_action_events_are_dropped_and_counted(event_type, items):
    mapped = one_event(event_type=event_type, action_source="mobile_app", **items)
    assert mapped.event["data"] == {"type": "customer_action"}
    assert mapped.dropped == {"contents:not_allowed_for_customer_action": 1}


def test_items_on_plan_and_custom_events_are_kept():
    for event_type, shape in (
        ("subscribe", "plan_enrollment"),
        ("trial_started", "plan_enrollment"),
        ("x1", "custom"),
    ):
        data = one_event(event_type=event_type, item_id="plan-item").event["data"]
        assert data == {"type": shape, "contents": [{"id": "plan-item"}]}


# -- plan_id -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("event_type", "shape"),
    [("subscribe", "plan_enrollment"), ("start_trial", "plan_enrollment"), ("partner_plan", "custom")],
)
@pytest.mark.parametrize(
    ("plan_id", "expected"), [("pro-annual", "pro-annual"), (42, "42"), (" basic ", "basic")]
)
def test_plan_id_on_plan_and_custom_events(event_type, shape, plan_id, expected):
    assert one_event(event_type=event_type, plan_id=plan_id).event["data"] == {
        "type": shape,
        "plan_id": expected,
    }


@pytest.mark.parametrize(
    ("event_type", "shape"),
    [("purchase", "contents"), ("lead", "customer_action"), ("page_view", "contents")],
)
def test_plan_id_on_other_events_is_dropped_and_counted(event_type, shape):
    mapped = one_event(event_type=event_type, plan_id="pro")
    assert mapped.event["data"] == {"type": shape}
    assert mapped.dropped == {f"plan_id:not_allowed_for_{shape}": 1}


def test_invalid_plan_id_is_rejected():
    assert_rejected(one_event(event_type="subscribe", plan_id={"id": 1}), "invalid_plan_id", "plan_id")


def test_blank_plan_id_is_omitted():
    assert one_event(event_type="subscribe", plan_id="  ").event["data"] == {"type": "plan_enrollment"}


# -- column renaming ---------------------------------------------------------------------------


def test_rename_columns_applies_the_map_case_insensitively_then_lowercases():
    columns = ["ORDER_ID", "Email", "created_at", "Event_Type", "sku"]
    renamed = rename_columns(columns, {"order_id": "event_id", "CREATED_AT": "event_time", "sku": "item_id"})
    assert renamed == ["event_id", "email", "event_time", "event_type", "item_id"]
    assert rename_columns(["A", "b"]) == ["a", "b"]
    assert unknown_columns([*renamed, "margin"]) == ["margin"]
    assert set(renamed) <= ROW_CONTRACT_COLUMNS


def test_renamed_rows_map():
    columns = rename_columns(
        ["ORDER_ID", "KIND", "TS", "MAIL"],
        {"order_id": "event_id", "kind": "event_type", "ts": "event_time", "mail": "email"},
    )
    mapped = map_rows([dict(zip(columns, ("o-9", "purchase", RECENT_DT, "user@example.com"), strict=True))])
    assert mapped.event["user"] == {"emails_sha256": [EMAIL_HASH]}


def test_unknown_columns_are_ignored():
    assert one_event(margin=Decimal("3.5"), internal_note="vip").event == {
        "id": "order-1",
        "type": "order_created",
        "timestamp_ms": RECENT_MS,
        "action_source": "offline",
        "data": {"type": "contents"},
    }


# -- API-shaped events (prepare_api_events) ----------------------------------------------------


def _api_event(**overrides):
    event = {
        "id": "evt-1",
        "type": "order_created",
        "timestamp_ms": RECENT_MS,
        "action_source": "offline",
        "user": {"emails_sha256": [EMAIL_HASH]},
        "data": {"type": "contents", "amount": 2599, "currency": "USD"},
    }
    event.update(overrides)
    return event


def _prepare(events, **kwargs):
    rejections: list[Rejection] = []
    report = Report(sink=rejections.append)
    prepared = list(prepare_api_events(events, report, clock=lambda: NOW_S, **kwargs))
    assert report.rows_read == len(events) == report.rows_accounted + len(prepared)
    return prepared, rejections


def test_prepare_api_events_passes_valid_events_and_rejects_invalid_ones_by_id():
    prepared, rejections = _prepare(
        [
            _api_event(id="ok-1"),
            _api_event(id="bad-type", type="purchase"),
            _api_event(id="old", timestamp_ms=NOW_MS - 8 * DAY_S * 1000),
            _api_event(id="future", timestamp_ms=NOW_MS + 3_600_000),
            _api_event(id="no-currency", data={"type": "contents", "amount": 5}),
            _api_event(id="ok-2"),
        ]
    )
    assert [p.event_id for p in prepared] == ["ok-1", "ok-2"]
    assert [(r.event_id, r.reason) for r in rejections] == [
        ("bad-type", "literal_error"),
        ("old", "too_old"),
        ("future", "too_far_in_future"),
        ("no-currency", "missing_currency"),
    ]
    assert all(r.field for r in rejections)


def test_prepare_api_events_count_their_match_keys():
    report = Report()
    events = [
        _api_event(id="a", oppref="oppref_1"),
        _api_event(id="b", user={"emails_sha256": [EMAIL_HASH], "ip_address": "203.0.113.9"}, opt_out=True),
        _api_event(id="c"),
        _api_event(id="bad", type="purchase"),
    ]
    events[2].pop("user")
    assert len(list(prepare_api_events(events, report, clock=lambda: NOW_S))) == 3
    assert report.to_dict()["match_key_coverage"] == {
        "emails_sha256": 0.6667,
        "ip_address": 0.3333,
        "oppref": 0.3333,
        "opt_out": 0.3333,
    }


def test_prepare_api_events_rejects_raw_identifiers_without_quoting_them():
    prepared, rejections = _prepare([_api_event(user={"emails_sha256": ["ada@example.com"]})])
    assert prepared == []
    assert "ada@example.com" not in repr(rejections)


def test_prepare_api_events_checks_the_user_schema():
    prepared, rejections = _prepare([_api_event()], user_schema="singular")
    assert prepared == []
    assert rejections[0].reason == "invalid_user"
