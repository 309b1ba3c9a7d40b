"""Pydantic models of a request (Appendix A), validate_event / describe_errors / dump_event."""

from __future__ import annotations

import copy
import hashlib

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from airflow_provider_openai_ads.conversions.schema import (
    ContentsData,
    CustomData,
    CustomerActionData,
    Event,
    EventsRequest,
    PlanEnrollmentData,
    UserLists,
    UserSingular,
    _is_postal_code,
    describe_errors,
    dump_event,
    validate_event,
)

NOW = 1_773_892_800_000
DAY_MS = 86_400_000
EMAIL_HASH = "b4c9a289323b21a01c3e940f150eb9b8c542587f1abfd8f0e1cc1ffc5e475514"
PHONE_HASH = "758fbf68945f21c416814c539ab578876c8d98fb69e6da692def92cd52417fe0"
EXTERNAL_ID_HASH = "18f69bcd2f9cc9c38195e722b2a5590429840ea5090971d2256e026926e55fa1"
FIRST_NAME_HASH = "fdee430d40bd57deeac186cd9790033d0f06f909a8806e7ce6e717ab7c7d5029"
LAST_NAME_HASH = "fb1e7ec987523d2cb9e022cec1d6ae7c99dc46edfae4fe51254025fe4bea571f"
RAW_EMAIL = "ada.lovelace@example.com"


def _event(**overrides):
    event = {
        "id": "order_12345",
        "type": "order_created",
        "timestamp_ms": NOW,
        "action_source": "web",
        "source_url": "https://shop.example.com/checkout/confirmation",
        "data": {"type": "contents", "amount": 2599, "currency": "USD"},
    }
    for key, value in overrides.items():
        if value is ...:
            event.pop(key, None)
        else:
            event[key] = value
    return event


def _errors(event, **kwargs):
    with pytest.raises(ValidationError) as info:
        validate_event(event, **kwargs)
    return describe_errors(info.value)


def _request_errors(request, **context):
    with pytest.raises(ValidationError) as info:
        EventsRequest.model_validate(request, context=context or None)
    return describe_errors(info.value)


def _only(errors):
    assert len(errors) == 1, errors
    field, code, _message = errors[0]
    return field, code


# --------------------------------------------------------------------------------------
# One valid example of each of the 13 event types, with its data shape
# --------------------------------------------------------------------------------------

CONTENTS = [
    {
        "id": "sku_123",
        "group_id": "grp_1",
        "name": "Starter bundle",
        "content_type": "product",
        "quantity": 2,
        "amount": 1299,
        "currency": "USD",
        "variant_dict": {"size": "medium", "color": "blue"},
    },
    {"id": "sku_124", "amount": 1},
]

VALID_EVENTS = {
    "page_viewed": ("contents", {"type": "contents"}),
    "contents_viewed": (
        "contents",
        {"type": "contents", "contents": [{"id": "article-7", "content_type": "page"}]},
    ),
    "items_added": (
        "contents",
        {"type": "contents", "amount": 2598, "currency": "USD", "contents": CONTENTS},
    ),
    "checkout_started": ("contents", {"type": "contents", "amount": 2599, "currency": "EUR"}),
    "order_created": (
        "contents",
        {"type": "contents", "amount": 8900, "currency": "JPY", "contents": CONTENTS},
    ),
    "lead_created": ("customer_action", {"type": "customer_action"}),
    "registration_completed": (
        "customer_action",
        {"type": "customer_action", "amount": 0, "currency": "USD"},
    ),
    "appointment_scheduled": (
        "customer_action",
        {"type": "customer_action", "amount": 1234, "currency": "KWD"},
    ),
    "app_installed": ("customer_action", {"type": "customer_action"}),
    "app_opened": ("customer_action", {"type": "customer_action"}),
    "subscription_created": (
        "plan_enrollment",
        {
            "type": "plan_enrollment",
            "plan_id": "pro_monthly",
            "amount": 4200,
            "currency": "USD",
            "contents": [{"id": "pro", "content_type": "plan", "quantity": 1}],
        },
    ),
    "trial_started": ("plan_enrollment", {"type": "plan_enrollment", "plan_id": "pro_trial"}),
    "custom": (
        "custom",
        {
            "type": "custom",
            "amount": 500,
            "currency": "GBP",
            "plan_id": "p1",
            "contents": [{"id": "c1"}],
            "quiz_score": 9.5,
            "passed": True,
            "tags": ["a", "b"],
            "meta": {"k": "v"},
            "note": "free text",
        },
    ),
}
SHAPE_MODEL = {
    "contents": ContentsData,
    "customer_action": CustomerActionData,
    "plan_enrollment": PlanEnrollmentData,
    "custom": CustomData,
}


def _valid_event(event_type):
    shape, data = VALID_EVENTS[event_type]
    event = {
        "id": f"evt_{event_type}",
        "type": event_type,
        "timestamp_ms": NOW - 1000,
        "data": copy.deepcopy(data),
        "user": {"emails_sha256": [EMAIL_HASH], "ip_address": "203.0.113.1"},
        "opt_out": False,
    }
    if event_type in ("app_installed", "app_opened"):
        event["action_source"] = "mobile_app"
        event["user"]["android_advertising_id"] = "38400000-8cf0-11bd-b23e-10b96e40000d"
    else:
        event["action_source"] = "web"
        event["source_url"] = "https://shop.example.com/p"
        event["oppref"] = "oppref_abc"
    if event_type == "custom":
        event["custom_event_name"] = "quiz_completed"
    return shape, event


def test_every_event_type_has_an_example():
    assert len(VALID_EVENTS) == 13


@pytest.mark.parametrize("event_type", sorted(VALID_EVENTS))
def test_valid_example_of_each_event_type(event_type):
    shape, event = _valid_event(event_type)
    validated = validate_event(event, now_ms=NOW, user_schema="lists")
    assert isinstance(validated, Event)
    assert validated.type == event_type
    assert isinstance(validated.data, SHAPE_MODEL[shape])
    assert validated.data.type == shape
    assert isinstance(validated.user, UserLists)
    assert dump_event(validated) == event


@pytest.mark.parametrize("event_type", sorted(VALID_EVENTS))
def test_valid_examples_in_one_request(event_type):
    _, event = _valid_event(event_type)
    request = EventsRequest.model_validate(
        {"events": [event, event], "validate_only": True, "integration_source": "acme_measurement"},
        context={"now_ms": NOW},
    )
    assert len(request.events) == 2
    assert request.validate_only is True
    assert request.integration_source == "acme_measurement"


def test_minimal_event_without_action_source():
    event = {"id": "e", "type": "page_viewed", "timestamp_ms": NOW, "data": {"type": "contents"}}
    assert dump_event(validate_event(event)) == event


def test_full_lists_user_and_optional_event_fields():
    user = {
        "emails_sha256": [EMAIL_HASH, hashlib.sha256(b"ada@example.com").hexdigest()],
        "phone_numbers_sha256": [PHONE_HASH],
        "external_ids_sha256": [EXTERNAL_ID_HASH],
        "first_names_sha256": [FIRST_NAME_HASH],
        "last_names_sha256": [LAST_NAME_HASH],
        "regions": ["California"],
        "postal_codes": ["94107", "SW1A 1AA", "94107-1234"],
        "cities": ["San Francisco"],
        "countries": ["US", "gb"],
        "android_advertising_id": "38400000-8CF0-11BD-B23E-10B96E40000D",
        "obref": "obref_123",
        "ip_address": "2001:db8::1",
        "user_agent": "Mozilla/5.0",
    }
    event = _event(user=user, oppref="oppref_x", oppcref="0b2f4c3e-1d2a-4b7c-9e8f-0a1b2c3d4e5f", opt_out=True)
    assert dump_event(validate_event(event, now_ms=NOW, user_schema="lists")) == event


def test_more_than_three_list_values_are_accepted():
    # the API uses the first three valid values and ignores the rest without rejecting the event
    hashes = [hashlib.sha256(str(i).encode()).hexdigest() for i in range(5)]
    event = _event(user={"emails_sha256": hashes, "countries": ["US", "US", "DE", "FR"]})
    assert dump_event(validate_event(event))["user"]["emails_sha256"] == hashes


def test_validate_event_returns_frozen_model():
    validated = validate_event(_event())
    with pytest.raises(ValidationError):
        validated.id = "other"


# --------------------------------------------------------------------------------------
# Appendix A rules: each failing case with its error code and field path
# --------------------------------------------------------------------------------------

RULE_CASES = {
    # 1. id: non-empty string
    "1 id missing": (_event(id=...), "id", "missing"),
    "1 id empty": (_event(id=""), "id", "string_too_short"),
    "1 id blank": (_event(id="   "), "id", "string_pattern_mismatch"),
    "1 id int": (_event(id=12345), "id", "string_type"),
    # 2. type in the 13 allowed values
    "2 type missing": (_event(type=...), "type", "missing"),
    "2 type unknown": (_event(type="purchase"), "type", "literal_error"),
    "2 type payment_info": (_event(type="payment_info"), "type", "literal_error"),
    "2 type upper": (_event(type="ORDER_CREATED"), "type", "literal_error"),
    # 3. timestamp_ms: int, not bool/float/str
    "3 ts missing": (_event(timestamp_ms=...), "timestamp_ms", "missing"),
    "3 ts float": (_event(timestamp_ms=float(NOW)), "timestamp_ms", "int_type"),
    "3 ts bool": (_event(timestamp_ms=True), "timestamp_ms", "int_type"),
    "3 ts str": (_event(timestamp_ms=str(NOW)), "timestamp_ms", "int_type"),
    "3 ts too old": (_event(timestamp_ms=NOW - 7 * DAY_MS - 1), "timestamp_ms", "event_timestamp_too_old"),
    "3 ts future": (_event(timestamp_ms=NOW + 600_001), "timestamp_ms", "event_timestamp_in_future"),
    # 4. custom <=> valid custom_event_name
    "4 custom without name": (
        _event(type="custom", data={"type": "custom"}),
        "custom_event_name",
        "invalid_custom_event_name",
    ),
    "4 custom bad name": (
        _event(type="custom", custom_event_name="quiz completed", data={"type": "custom"}),
        "custom_event_name",
        "invalid_custom_event_name",
    ),
    "4 custom name too long": (
        _event(type="custom", custom_event_name="a" * 65, data={"type": "custom"}),
        "custom_event_name",
        "invalid_custom_event_name",
    ),
    "4 custom name ends with _": (
        _event(type="custom", custom_event_name="quiz_", data={"type": "custom"}),
        "custom_event_name",
        "invalid_custom_event_name",
    ),
    "4 custom name standard": (
        _event(type="custom", custom_event_name="Order_Created", data={"type": "custom"}),
        "custom_event_name",
        "invalid_custom_event_name",
    ),
    "4 custom name custom": (
        _event(type="custom", custom_event_name="custom", data={"type": "custom"}),
        "custom_event_name",
        "invalid_custom_event_name",
    ),
    "4 name on standard event": (
        _event(custom_event_name="quiz"),
        "custom_event_name",
        "unexpected_custom_event_name",
    ),
    # 5. action_source enum; app events need mobile_app
    "5 action_source unknown": (_event(action_source="website"), "action_source", "literal_error"),
    "5 app_installed web": (
        _event(type="app_installed", data={"type": "customer_action"}),
        "action_source",
        "invalid_action_source",
    ),
    "5 app_opened absent": (
        _event(type="app_opened", action_source=..., source_url=..., data={"type": "customer_action"}),
        "action_source",
        "invalid_action_source",
    ),
    "5 app_opened offline": (
        _event(type="app_opened", action_source="offline", data={"type": "customer_action"}),
        "action_source",
        "invalid_action_source",
    ),
    # 6. web => source_url with scheme + host
    "6 web without url": (_event(source_url=...), "source_url", "missing_source_url"),
    "6 web url without scheme": (_event(source_url="shop.example.com/p"), "source_url", "missing_source_url"),
    "6 web url without host": (_event(source_url="https:///p"), "source_url", "missing_source_url"),
    "6 web url relative": (_event(source_url="/checkout"), "source_url", "missing_source_url"),
    # 7. data.type == shape of type; contents not for customer_action; plan_id; extra keys only for custom
    "7 data missing": (_event(data=...), "data", "missing"),
    "7 data.type missing": (_event(data={"amount": 1, "currency": "USD"}), "data", "union_tag_not_found"),
    "7 data.type unknown": (_event(data={"type": "order"}), "data", "union_tag_invalid"),
    "7 data.type mismatch": (
        _event(data={"type": "customer_action"}),
        "data.type",
        "invalid_event_data_type",
    ),
    "7 plan shape for order": (
        _event(data={"type": "plan_enrollment"}),
        "data.type",
        "invalid_event_data_type",
    ),
    "7 custom shape for standard": (_event(data={"type": "custom"}), "data.type", "invalid_event_data_type"),
    "7 contents on customer_action": (
        _event(type="lead_created", data={"type": "customer_action", "contents": [{"id": "x"}]}),
        "data.contents",
        "extra_forbidden",
    ),
    "7 plan_id on contents": (
        _event(data={"type": "contents", "plan_id": "p"}),
        "data.plan_id",
        "extra_forbidden",
    ),
    "7 plan_id on customer_action": (
        _event(type="lead_created", data={"type": "customer_action", "plan_id": "p"}),
        "data.plan_id",
        "extra_forbidden",
    ),
    "7 extra key on contents": (
        _event(data={"type": "contents", "score": 1}),
        "data.score",
        "extra_forbidden",
    ),
    "7 extra key on plan": (
        _event(type="trial_started", data={"type": "plan_enrollment", "score": 1}),
        "data.score",
        "extra_forbidden",
    ),
    # 8. money and items
    "8 amount float": (
        _event(data={"type": "contents", "amount": 25.99, "currency": "USD"}),
        "data.amount",
        "int_type",
    ),
    "8 amount str": (
        _event(data={"type": "contents", "amount": "2599", "currency": "USD"}),
        "data.amount",
        "int_type",
    ),
    "8 amount bool": (
        _event(data={"type": "contents", "amount": True, "currency": "USD"}),
        "data.amount",
        "int_type",
    ),
    "8 amount negative": (
        _event(data={"type": "contents", "amount": -1, "currency": "USD"}),
        "data.amount",
        "greater_than_equal",
    ),
    "8 amount too large": (
        _event(data={"type": "contents", "amount": 2**53, "currency": "USD"}),
        "data.amount",
        "less_than_equal",
    ),
    "8 amount without currency": (
        _event(data={"type": "contents", "amount": 1}),
        "data.currency",
        "missing_currency",
    ),
    "8 currency lowercase": (
        _event(data={"type": "contents", "amount": 1, "currency": "usd"}),
        "data.currency",
        "invalid_currency",
    ),
    "8 currency unknown": (
        _event(data={"type": "contents", "amount": 1, "currency": "ABC"}),
        "data.currency",
        "invalid_currency",
    ),
    "8 currency no minor unit": (
        _event(data={"type": "contents", "amount": 1, "currency": "XAU"}),
        "data.currency",
        "invalid_currency",
    ),
    "8 currency two letters": (
        _event(data={"type": "contents", "amount": 1, "currency": "US"}),
        "data.currency",
        "invalid_currency",
    ),
    "8 item amount without any currency": (
        _event(data={"type": "contents", "contents": [{"id": "a"}, {"id": "b", "amount": 100}]}),
        "data.contents[1].currency",
        "missing_currency",
    ),
    "8 item currency invalid": (
        _event(data={"type": "contents", "contents": [{"amount": 1, "currency": "eur"}]}),
        "data.contents[0].currency",
        "invalid_currency",
    ),
    "8 item amount float": (
        _event(data={"type": "contents", "currency": "USD", "contents": [{"amount": 1.0}]}),
        "data.contents[0].amount",
        "int_type",
    ),
    "8 item quantity str": (
        _event(data={"type": "contents", "contents": [{"quantity": "1"}]}),
        "data.contents[0].quantity",
        "int_type",
    ),
    "8 item quantity float": (
        _event(data={"type": "contents", "contents": [{"quantity": 1.5}]}),
        "data.contents[0].quantity",
        "int_type",
    ),
    "8 item content_type empty": (
        _event(data={"type": "contents", "contents": [{"content_type": ""}]}),
        "data.contents[0].content_type",
        "string_too_short",
    ),
    "8 item content_type blank": (
        _event(data={"type": "contents", "contents": [{"content_type": "  "}]}),
        "data.contents[0].content_type",
        "string_pattern_mismatch",
    ),
    "8 item variant_dict value": (
        _event(data={"type": "contents", "contents": [{"variant_dict": {"size": 42}}]}),
        "data.contents[0].variant_dict.size",
        "string_type",
    ),
    "8 item unknown key": (
        _event(data={"type": "contents", "contents": [{"id": "a", "price": 1}]}),
        "data.contents[0].price",
        "extra_forbidden",
    ),
    "8 item in plan_enrollment": (
        _event(type="trial_started", data={"type": "plan_enrollment", "contents": [{"sku": "a"}]}),
        "data.contents[0].sku",
        "extra_forbidden",
    ),
    "8 item in custom": (
        _event(
            type="custom",
            custom_event_name="quiz",
            data={"type": "custom", "contents": [{"id": "a", "amount": 5}]},
        ),
        "data.contents[0].currency",
        "missing_currency",
    ),
    "8 custom amount without currency": (
        _event(type="custom", custom_event_name="quiz", data={"type": "custom", "amount": 5}),
        "data.currency",
        "missing_currency",
    ),
    # 9. user
    "9 raw email in hash list": (
        _event(user={"emails_sha256": [EMAIL_HASH, RAW_EMAIL]}),
        "user.emails_sha256[1]",
        "string_pattern_mismatch",
    ),
    "9 uppercase hash": (
        _event(user={"phone_numbers_sha256": [PHONE_HASH.upper()]}),
        "user.phone_numbers_sha256[0]",
        "string_pattern_mismatch",
    ),
    "9 short hash": (
        _event(user={"external_ids_sha256": [EXTERNAL_ID_HASH[:-1]]}),
        "user.external_ids_sha256[0]",
        "string_pattern_mismatch",
    ),
    "9 raw first name": (
        _event(user={"first_names_sha256": ["ada"]}),
        "user.first_names_sha256[0]",
        "string_pattern_mismatch",
    ),
    "9 raw last name": (
        _event(user={"last_names_sha256": ["lovelace"]}),
        "user.last_names_sha256[0]",
        "string_pattern_mismatch",
    ),
    "9 hash list not a list": (_event(user={"emails_sha256": EMAIL_HASH}), "user.emails_sha256", "list_type"),
    "9 raw email key": (_event(user={"email": RAW_EMAIL}), "user.email", "extra_forbidden"),
    "9 raw phone key": (
        _event(user={"phone_numbers": ["14155552671"]}),
        "user.phone_numbers",
        "extra_forbidden",
    ),
    "9 country three letters": (
        _event(user={"countries": ["US", "USA"]}),
        "user.countries",
        "invalid_country",
    ),
    "9 country digits": (_event(user={"countries": ["1A"]}), "user.countries", "invalid_country"),
    "9 postal code underscore": (
        _event(user={"postal_codes": ["941_07"]}),
        "user.postal_codes",
        "invalid_postal_code",
    ),
    "9 postal code too long": (
        _event(user={"postal_codes": ["1" * 33]}),
        "user.postal_codes",
        "invalid_postal_code",
    ),
    "9 postal code blank": (
        _event(user={"postal_codes": ["  "]}),
        "user.postal_codes",
        "invalid_postal_code",
    ),
    "9 city too long": (_event(user={"cities": ["x" * 129]}), "user.cities", "invalid_geo"),
    "9 region blank": (_event(user={"regions": [" "]}), "user.regions", "invalid_geo"),
    "9 ip invalid": (_event(user={"ip_address": "203.0.113"}), "user.ip_address", "invalid_ip_address"),
    "9 ip hostname": (_event(user={"ip_address": "example.com"}), "user.ip_address", "invalid_ip_address"),
    "9 user_agent empty": (_event(user={"user_agent": ""}), "user.user_agent", "string_too_short"),
    "9 user_agent blank": (_event(user={"user_agent": " \t"}), "user.user_agent", "string_pattern_mismatch"),
    "9 obref blank": (_event(user={"obref": "   "}), "user.obref", "string_pattern_mismatch"),
    "9 gaid not uuid": (
        _event(user={"android_advertising_id": "38400000-8cf0-11bd-b23e"}),
        "user.android_advertising_id",
        "string_pattern_mismatch",
    ),
    "9 user not an object": (_event(user=RAW_EMAIL), "user", "model_type"),
    "9 singular raw email": (
        _event(user={"email_sha256": RAW_EMAIL}),
        "user.email_sha256",
        "string_pattern_mismatch",
    ),
    "9 singular country": (_event(user={"country": "USA"}), "user.country", "invalid_country"),
    "9 singular city": (_event(user={"city": "x" * 129}), "user.city", "invalid_geo"),
    "9 singular zip": (_event(user={"zip_code": "94107/1"}), "user.zip_code", "invalid_postal_code"),
    "9 singular phone hash": (
        _event(user={"email_sha256": EMAIL_HASH, "phone_number_sha256": PHONE_HASH}),
        "user.phone_number_sha256",
        "extra_forbidden",
    ),
    # 10. opt_out bool
    "10 opt_out str": (_event(opt_out="false"), "opt_out", "bool_type"),
    "10 opt_out int": (_event(opt_out=0), "opt_out", "bool_type"),
    # other event-level fields
    "oppref blank": (_event(oppref=""), "oppref", "string_too_short"),
    "unknown event key": (_event(event_name="purchase"), "event_name", "extra_forbidden"),
    "pid is not an event field": (_event(pid="px_1"), "pid", "extra_forbidden"),
}


@pytest.mark.parametrize(("event", "field", "code"), list(RULE_CASES.values()), ids=list(RULE_CASES))
def test_appendix_a_rule_violation(event, field, code):
    assert _only(_errors(event, now_ms=NOW)) == (field, code)


def test_item_amount_may_rely_on_event_currency():
    event = _event(data={"type": "contents", "currency": "USD", "contents": [{"id": "a", "amount": 100}]})
    assert validate_event(event).data.contents[0].currency is None


def test_every_error_of_an_event_is_reported():
    event = _event(id="", opt_out="no", user={"emails_sha256": [RAW_EMAIL]})
    assert sorted(_errors(event)) == sorted(
        [
            ("id", "string_too_short", "String should have at least 1 character"),
            ("opt_out", "bool_type", "Input should be a valid boolean"),
            (
                "user.emails_sha256[0]",
                "string_pattern_mismatch",
                "String should match pattern '^[0-9a-f]{64}$'",
            ),
        ]
    )


def test_custom_event_name_is_checked_case_insensitively():
    event = _event(type="custom", custom_event_name="Quiz-Completed", data={"type": "custom"})
    assert validate_event(event).custom_event_name == "Quiz-Completed"


def test_custom_event_name_must_be_ascii():
    event = _event(type="custom", custom_event_name="\u212aelvin", data={"type": "custom"})
    assert _only(_errors(event)) == ("custom_event_name", "invalid_custom_event_name")


# --------------------------------------------------------------------------------------
# Time window (checked only with a now_ms context)
# --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "timestamp_ms", [NOW - 7 * DAY_MS, NOW - 7 * DAY_MS + 1, NOW, NOW + 600_000, NOW + 599_999]
)
def test_time_window_inside(timestamp_ms):
    assert validate_event(_event(timestamp_ms=timestamp_ms), now_ms=NOW).timestamp_ms == timestamp_ms


@pytest.mark.parametrize(
    ("timestamp_ms", "code", "message"),
    [
        (
            NOW - 7 * DAY_MS - 1,
            "event_timestamp_too_old",
            "event_timestamp_ms must be within the last 7 days.",
        ),
        (0, "event_timestamp_too_old", "event_timestamp_ms must be within the last 7 days."),
        (
            NOW + 600_001,
            "event_timestamp_in_future",
            "event_timestamp_ms must not be more than 10 minutes in the future.",
        ),
        (
            NOW * 1000,
            "event_timestamp_in_future",
            "event_timestamp_ms must not be more than 10 minutes in the future.",
        ),
    ],
)
def test_time_window_outside(timestamp_ms, code, message):
    assert _errors(_event(timestamp_ms=timestamp_ms), now_ms=NOW) == [("timestamp_ms", code, message)]


@pytest.mark.parametrize("timestamp_ms", [0, NOW - 30 * DAY_MS, NOW + DAY_MS])
def test_time_window_not_checked_without_clock(timestamp_ms):
    assert validate_event(_event(timestamp_ms=timestamp_ms)).timestamp_ms == timestamp_ms


def test_time_window_in_request_context():
    request = {"events": [_event(), _event(id="late", timestamp_ms=NOW - 7 * DAY_MS - 1)]}
    assert _request_errors(request, now_ms=NOW) == [
        (
            "events[1].timestamp_ms",
            "event_timestamp_too_old",
            "event_timestamp_ms must be within the last 7 days.",
        )
    ]
    assert len(EventsRequest.model_validate(request).events) == 2


# --------------------------------------------------------------------------------------
# User schemas: lists (current) and singular (legacy)
# --------------------------------------------------------------------------------------

SINGULAR_USER = {
    "email_sha256": EMAIL_HASH,
    "external_id_sha256": EXTERNAL_ID_HASH,
    "country": "US",
    "city": "San Francisco",
    "zip_code": "94107",
    "ip_address": "203.0.113.1",
    "user_agent": "Mozilla/5.0",
    "obref": "obref_1",
}


@pytest.mark.parametrize("user_schema", [None, "singular"])
def test_legacy_singular_user_accepted(user_schema):
    event = _event(user=SINGULAR_USER)
    validated = validate_event(event, now_ms=NOW, user_schema=user_schema)
    assert isinstance(validated.user, UserSingular)
    assert dump_event(validated) == event


def test_singular_user_rejected_when_lists_expected():
    assert _errors(_event(user=SINGULAR_USER), user_schema="lists") == [
        ("user", "invalid_user", "user fields must use the 'lists' schema")
    ]


def test_lists_user_rejected_when_singular_expected():
    event = _event(user={"emails_sha256": [EMAIL_HASH]})
    assert _errors(event, user_schema="singular") == [
        ("user", "invalid_user", "user fields must use the 'singular' schema")
    ]


@pytest.mark.parametrize("user_schema", [None, "lists", "singular"])
def test_mixed_user_schemas_rejected(user_schema):
    event = _event(user={"email_sha256": EMAIL_HASH, "emails_sha256": [EMAIL_HASH], "countries": ["US"]})
    errors = _errors(event, user_schema=user_schema)
    assert sorted((field, code) for field, code, _ in errors) == [
        ("user.countries", "extra_forbidden"),
        ("user.emails_sha256", "extra_forbidden"),
    ]


@pytest.mark.parametrize("user_schema", [None, "lists", "singular"])
def test_common_user_fields_fit_either_schema(user_schema):
    event = _event(user={"ip_address": "203.0.113.1", "user_agent": "UA", "obref": "o"})
    assert dump_event(validate_event(event, user_schema=user_schema)) == event


# --------------------------------------------------------------------------------------
# Request level
# --------------------------------------------------------------------------------------


def test_request_accepts_1_and_1000_events():
    assert len(EventsRequest.model_validate({"events": [_event()]}).events) == 1
    assert len(EventsRequest.model_validate({"events": [_event()] * 1000}).events) == 1000


@pytest.mark.parametrize(
    ("request_body", "field", "code"),
    [
        ({}, "events", "missing"),
        ({"events": []}, "events", "too_short"),
        ({"events": [_event()] * 1001}, "events", "too_long"),
        ({"events": _event()}, "events", "list_type"),
        ({"events": [_event()], "validate_only": "true"}, "validate_only", "bool_type"),
        ({"events": [_event()], "validate_only": 1}, "validate_only", "bool_type"),
        (
            {"events": [_event()], "integration_source": ""},
            "integration_source",
            "invalid_integration_source",
        ),
        (
            {"events": [_event()], "integration_source": "-acme"},
            "integration_source",
            "invalid_integration_source",
        ),
        (
            {"events": [_event()], "integration_source": "a" * 65},
            "integration_source",
            "invalid_integration_source",
        ),
        (
            {"events": [_event()], "integration_source": "acme measurement"},
            "integration_source",
            "invalid_integration_source",
        ),
        ({"events": [_event()], "integration_source": 7}, "integration_source", "string_type"),
        ({"events": [_event()], "pid": "px"}, "pid", "extra_forbidden"),
        ({"events": [_event(), _event(type="purchase")]}, "events[1].type", "literal_error"),
        (
            {"events": [_event(), _event(), _event(data={"type": "contents", "amount": 1})]},
            "events[2].data.currency",
            "missing_currency",
        ),
        (
            {"events": [_event(data={"type": "contents", "contents": [{"id": "a"}, {"quantity": "2"}]})]},
            "events[0].data.contents[1].quantity",
            "int_type",
        ),
        (
            {"events": [_event(user={"emails_sha256": [EMAIL_HASH, RAW_EMAIL]})]},
            "events[0].user.emails_sha256[1]",
            "string_pattern_mismatch",
        ),
        (
            {"events": [_event(source_url=...)]},
            "events[0].source_url",
            "missing_source_url",
        ),
        (
            {"events": [_event(type="custom", data={"type": "custom"})]},
            "events[0].custom_event_name",
            "invalid_custom_event_name",
        ),
    ],
)
def test_request_level_errors(request_body, field, code):
    assert _only(_request_errors(request_body)) == (field, code)


@pytest.mark.parametrize("source", ["acme_measurement", "  Acme.Measurement-2 ", "a", "9" * 64, "A" * 64])
def test_integration_source_valid(source):
    request = EventsRequest.model_validate({"events": [_event()], "integration_source": source})
    assert request.integration_source == source


def test_integration_source_must_be_ascii():
    errors = _request_errors({"events": [_event()], "integration_source": "\u212acme"})
    assert _only(errors) == ("integration_source", "invalid_integration_source")


def test_request_dump_with_events():
    request = EventsRequest.model_validate({"events": [_event()], "validate_only": False})
    assert request.model_dump(mode="json", exclude_none=True) == {
        "events": [_event()],
        "validate_only": False,
    }


# --------------------------------------------------------------------------------------
# dump_event omits None (Appendix A 11)
# --------------------------------------------------------------------------------------


def test_dump_event_omits_none_values():
    event = _event(
        oppref=None,
        oppcref=None,
        opt_out=None,
        custom_event_name=None,
        user={"emails_sha256": None, "ip_address": "203.0.113.1", "user_agent": None},
        data={"type": "contents", "amount": None, "currency": None, "contents": [{"id": "a", "name": None}]},
    )
    assert dump_event(validate_event(event)) == {
        "id": "order_12345",
        "type": "order_created",
        "timestamp_ms": NOW,
        "action_source": "web",
        "source_url": "https://shop.example.com/checkout/confirmation",
        "user": {"ip_address": "203.0.113.1"},
        "data": {"type": "contents", "contents": [{"id": "a"}]},
    }


def test_dump_event_omits_none_custom_fields():
    event = _event(type="custom", custom_event_name="quiz", data={"type": "custom", "score": 3, "gone": None})
    assert dump_event(validate_event(event))["data"] == {"type": "custom", "score": 3}


def test_dump_event_omits_absent_optional_fields():
    event = {"id": "e", "type": "lead_created", "timestamp_ms": NOW, "data": {"type": "customer_action"}}
    dumped = dump_event(validate_event(event))
    assert dumped == event
    assert None not in dumped.values()


# --------------------------------------------------------------------------------------
# describe_errors never quotes the offending input
# --------------------------------------------------------------------------------------

LEAK_CASES = {
    "emails_sha256": _event(user={"emails_sha256": [RAW_EMAIL]}),
    "emails_sha256 scalar": _event(user={"emails_sha256": RAW_EMAIL}),
    "email_sha256": _event(user={"email_sha256": RAW_EMAIL}),
    "external_ids_sha256": _event(user={"external_ids_sha256": [RAW_EMAIL]}),
    "external_id_sha256": _event(user={"external_id_sha256": RAW_EMAIL}),
    "first_names_sha256": _event(user={"first_names_sha256": [RAW_EMAIL]}),
    "phone_numbers_sha256": _event(user={"phone_numbers_sha256": [RAW_EMAIL]}),
    "countries": _event(user={"countries": [RAW_EMAIL]}),
    "country": _event(user={"country": RAW_EMAIL}),
    "postal_codes": _event(user={"postal_codes": [RAW_EMAIL]}),
    "zip_code": _event(user={"zip_code": RAW_EMAIL}),
    "cities": _event(user={"cities": [RAW_EMAIL * 10]}),
    "ip_address": _event(user={"ip_address": RAW_EMAIL}),
    "android_advertising_id": _event(user={"android_advertising_id": RAW_EMAIL}),
    "user": _event(user=RAW_EMAIL),
    "id": _event(id=[RAW_EMAIL]),
    "type": _event(type=RAW_EMAIL),
    "timestamp_ms": _event(timestamp_ms=RAW_EMAIL),
    "action_source": _event(action_source=RAW_EMAIL),
    "source_url": _event(source_url=RAW_EMAIL),
    "custom_event_name": _event(type="custom", custom_event_name=RAW_EMAIL, data={"type": "custom"}),
    "currency": _event(data={"type": "contents", "amount": 1, "currency": RAW_EMAIL}),
    "amount": _event(data={"type": "contents", "amount": RAW_EMAIL, "currency": "USD"}),
    "quantity": _event(data={"type": "contents", "contents": [{"quantity": RAW_EMAIL}]}),
    "variant_dict": _event(data={"type": "contents", "contents": [{"variant_dict": {"k": [RAW_EMAIL]}}]}),
    "opt_out": _event(opt_out=RAW_EMAIL),
    "data": _event(data=RAW_EMAIL),
}


@pytest.mark.parametrize("event", list(LEAK_CASES.values()), ids=list(LEAK_CASES))
def test_error_messages_never_contain_the_input(event):
    errors = _errors(event, now_ms=NOW)
    assert errors
    for _field, _code, message in errors:
        assert RAW_EMAIL not in message
        assert "ada.lovelace" not in message


def test_error_messages_in_a_request_never_contain_the_input():
    request = {
        "events": [
            _event(user={"emails_sha256": [RAW_EMAIL], "ip_address": RAW_EMAIL, "countries": [RAW_EMAIL]})
        ],
        "integration_source": RAW_EMAIL,
    }
    errors = _request_errors(request)
    assert sorted((f, c) for f, c, _ in errors) == [
        ("events[0].user.countries", "invalid_country"),
        ("events[0].user.emails_sha256[0]", "string_pattern_mismatch"),
        ("events[0].user.ip_address", "invalid_ip_address"),
        ("integration_source", "invalid_integration_source"),
    ]
    assert not any(RAW_EMAIL in message for _, _, message in errors)


def test_unknown_data_type_message_does_not_quote_the_input():
    errors = _errors(_event(data={"type": RAW_EMAIL}))
    assert _only(errors) == ("data", "union_tag_invalid")
    assert RAW_EMAIL not in errors[0][2]


def _postal_code_by_definition(value: str) -> bool:
    """1-32 characters once trimmed, each an ASCII letter or digit, a space or a hyphen."""
    return 0 < len(value.strip()) <= 32 and all(ch.isascii() and (ch.isalnum() or ch in " -") for ch in value)


@settings(max_examples=500, deadline=None)
@given(
    st.one_of(
        st.text(),
        st.text(alphabet="aZ09 -\t\n_\u00e9\u0661\uff11", max_size=40),  # near misses: tabs, non-ASCII digits
    )
)
def test_postal_code_check_is_its_definition(value):
    assert _is_postal_code(value) is _postal_code_by_definition(value)
