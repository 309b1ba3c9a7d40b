"""Event taxonomy, aliases, custom names, the time window and integration_source (§1.2, §2, §4.1, §7.2)."""

from __future__ import annotations

import pytest

from airflow_provider_openai_ads.conversions import taxonomy
from airflow_provider_openai_ads.conversions.taxonomy import (
    ACTION_SOURCES,
    APP_EVENT_TYPES,
    BUILTIN_EVENT_TYPE_ALIASES,
    CONTENT_ITEM_KEYS,
    DATA_TYPE_FOR_EVENT,
    DEFAULT_BASE_URL,
    EVENT_TYPES,
    EVENTS_PATH,
    MAX_EVENT_AGE_MS,
    MAX_EVENTS_PER_REQUEST,
    MAX_FUTURE_SKEW_MS,
    MAX_USER_LIST_VALUES,
    SHAPES_WITH_CONTENTS,
    SHAPES_WITH_PLAN_ID,
    is_valid_custom_event_name,
    normalize_integration_source,
    resolve_event_type,
    window_violation,
)

NOW = 1_773_892_800_000


def test_constants():
    assert DEFAULT_BASE_URL == "https://bzr.openai.com"
    assert EVENTS_PATH == "/v1/events"
    assert MAX_EVENTS_PER_REQUEST == 1000
    assert MAX_EVENT_AGE_MS == 604_800_000
    assert MAX_FUTURE_SKEW_MS == 600_000
    assert MAX_USER_LIST_VALUES == 3


def test_data_type_for_every_event_type():
    assert DATA_TYPE_FOR_EVENT == {
        "page_viewed": "contents",
        "contents_viewed": "contents",
        "items_added": "contents",
        "checkout_started": "contents",
        "order_created": "contents",
        "lead_created": "customer_action",
        "registration_completed": "customer_action",
        "appointment_scheduled": "customer_action",
        "app_installed": "customer_action",
        "app_opened": "customer_action",
        "subscription_created": "plan_enrollment",
        "trial_started": "plan_enrollment",
        "custom": "custom",
    }
    assert len(EVENT_TYPES) == 13
    assert frozenset(DATA_TYPE_FOR_EVENT) == EVENT_TYPES


def test_vocabularies():
    assert set(APP_EVENT_TYPES) == {"app_installed", "app_opened"}
    assert set(ACTION_SOURCES) == {
        "web",
        "mobile_app",
        "offline",
        "physical_store",
        "phone_call",
        "email",
        "other",
    }
    assert set(SHAPES_WITH_CONTENTS) == {"contents", "plan_enrollment", "custom"}
    assert set(SHAPES_WITH_PLAN_ID) == {"plan_enrollment", "custom"}
    assert set(CONTENT_ITEM_KEYS) == {
        "id",
        "group_id",
        "name",
        "content_type",
        "quantity",
        "amount",
        "currency",
        "variant_dict",
    }


# -- resolve_event_type ---------------------------------------------------------------

# §7.2 suggested default mapping (GA4 / Segment / Meta / PostHog names)
SUGGESTED = {
    "purchase": "order_created",
    "order_completed": "order_created",
    "Order Completed": "order_created",
    "Purchase": "order_created",
    "begin_checkout": "checkout_started",
    "checkout_started": "checkout_started",
    "Checkout Started": "checkout_started",
    "InitiateCheckout": "checkout_started",
    "add_to_cart": "items_added",
    "Product Added": "items_added",
    "AddToCart": "items_added",
    "view_item": "contents_viewed",
    "Product Viewed": "contents_viewed",
    "ViewContent": "contents_viewed",
    "page_view": "page_viewed",
    "$pageview": "page_viewed",
    "generate_lead": "lead_created",
    "lead": "lead_created",
    "Lead": "lead_created",
    "sign_up": "registration_completed",
    "complete_registration": "registration_completed",
    "Signed Up": "registration_completed",
    "CompleteRegistration": "registration_completed",
    "subscribe": "subscription_created",
    "Subscribe": "subscription_created",
    "start_trial": "trial_started",
    "StartTrial": "trial_started",
    "Schedule": "appointment_scheduled",
    "Application Installed": "app_installed",
    "Application Opened": "app_opened",
}


@pytest.mark.parametrize(("name", "expected"), sorted(SUGGESTED.items()))
def test_suggested_aliases(name, expected):
    assert resolve_event_type(name) == (expected, None)


@pytest.mark.parametrize("event_type", sorted(EVENT_TYPES - {"custom"}))
def test_standard_names_resolve_to_themselves(event_type):
    assert resolve_event_type(event_type) == (event_type, None)


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("PURCHASE", "order_created"),
        ("ORDER COMPLETED", "order_created"),
        ("order-completed", "order_created"),
        ("orderCompleted", "order_created"),
        ("Order_Created", "order_created"),
        ("PageView", "page_viewed"),
        ("Page Viewed", "page_viewed"),
        ("pageview", "page_viewed"),
        ("add to cart", "items_added"),
        ("initiate_checkout", "checkout_started"),
        ("schedule_appointment", "appointment_scheduled"),
        ("app_install", "app_installed"),
        ("app_open", "app_opened"),
        ("Trial Started", "trial_started"),
        ("Subscription Created", "subscription_created"),
        ("Lead Created", "lead_created"),
    ],
)
def test_aliases_fold_case_and_separators(name, expected):
    assert resolve_event_type(name) == (expected, None)


def test_every_builtin_alias_resolves_to_its_own_type():
    for event_type, aliases in taxonomy._ALIASES.items():
        assert event_type in EVENT_TYPES
        for alias in aliases:
            assert resolve_event_type(alias) == (event_type, None), alias
    assert set(BUILTIN_EVENT_TYPE_ALIASES.values()) == EVENT_TYPES - {"custom"}
    assert all(key == key.lower() and key.isalnum() for key in BUILTIN_EVENT_TYPE_ALIASES)


@pytest.mark.parametrize(
    ("name", "custom_name"),
    [
        ("newsletter_signup", "newsletter_signup"),
        ("  Newsletter_Signup ", "newsletter_signup"),
        ("Quote-Requested", "quote-requested"),
        ("add_payment_info", "add_payment_info"),  # GA4 name without a mapping: custom, not "payment_info"
        ("payment_info", "payment_info"),
        ("x", "x"),
        ("0", "0"),
        ("a" * 64, "a" * 64),
        ("a_-b", "a_-b"),
    ],
)
def test_unknown_names_become_custom(name, custom_name):
    assert resolve_event_type(name) == ("custom", custom_name)


@pytest.mark.parametrize(
    "name",
    [
        "",
        "   ",
        "Custom",
        "a" * 65,
        "-leading",
        "trailing_",
        "_x",
        "has space",
        "Add Payment Info",
        "dotted.name",
        "ünïcode",
        "emoji🎉",
        "a/b",
    ],
)
def test_unusable_names_are_rejected(name):
    assert resolve_event_type(name) is None


def test_extra_aliases_exact_then_folded_and_win_over_builtins():
    aliases = {"Checkout Step 1": "checkout_started", "purchase": "lead_created", "Renewal": "subscribe"}
    assert resolve_event_type("Checkout Step 1", aliases) == ("checkout_started", None)
    assert resolve_event_type("checkout_step_1", aliases) == ("checkout_started", None)
    assert resolve_event_type("purchase", aliases) == ("lead_created", None)
    assert resolve_event_type("PURCHASE", aliases) == ("lead_created", None)
    # the target may itself be an alias or a custom name
    assert resolve_event_type("renewal", aliases) == ("subscription_created", None)
    assert resolve_event_type("x", {"x": "My_Custom"}) == ("custom", "my_custom")
    assert resolve_event_type("x", {"x": "not a valid name"}) is None
    # names without an extra alias fall back to the built-ins
    assert resolve_event_type("add_to_cart", aliases) == ("items_added", None)
    assert resolve_event_type("quiz_done", aliases) == ("custom", "quiz_done")


def test_extra_alias_exact_match_beats_folded_match():
    aliases = {"order completed": "lead_created", "Order Completed": "trial_started"}
    assert resolve_event_type("Order Completed", aliases) == ("trial_started", None)
    assert resolve_event_type("order completed", aliases) == ("lead_created", None)


def test_extra_alias_to_custom_leaves_the_name_to_the_caller():
    assert resolve_event_type("quiz", {"quiz": "custom"}) == ("custom", None)


def test_empty_extra_aliases_is_like_none():
    assert resolve_event_type("purchase", {}) == ("order_created", None)


# -- custom event names ----------------------------------------------------------------


@pytest.mark.parametrize("name", ["a", "9", "a1", "quote_requested", "quote-requested", "a" * 64, "a--_b"])
def test_valid_custom_event_names(name):
    assert is_valid_custom_event_name(name)


@pytest.mark.parametrize(
    "name",
    [
        "",
        "a" * 65,
        "_a",
        "a_",
        "-a",
        "a-",
        "a b",
        "a.b",
        "MyEvent",  # expects the lower-cased name
        "é",
        "custom",
        *sorted(EVENT_TYPES),
    ],
)
def test_invalid_custom_event_names(name):
    assert not is_valid_custom_event_name(name)


# -- time window ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("timestamp_ms", "expected"),
    [
        (NOW, None),
        (NOW - 604_800_000, None),  # exactly 7 days old
        (NOW - 604_800_001, "too_old"),
        (NOW + 600_000, None),  # exactly 10 minutes ahead
        (NOW + 600_001, "too_far_in_future"),
        (0, "too_old"),
        (NOW * 1000, "too_far_in_future"),  # microseconds by mistake
        (NOW // 1000, "too_old"),  # seconds by mistake
    ],
)
def test_window_violation(timestamp_ms, expected):
    assert window_violation(timestamp_ms, NOW) == expected


def test_window_violation_margin_narrows_only_the_old_side():
    margin = 60_000
    assert window_violation(NOW - 604_800_000 + margin, NOW, margin) is None
    assert window_violation(NOW - 604_800_000 + margin - 1, NOW, margin) == "too_old"
    assert window_violation(NOW + 600_000, NOW, margin) is None
    assert window_violation(NOW + 600_001, NOW, margin) == "too_far_in_future"


# -- integration_source ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("acme_measurement", "acme_measurement"),
        ("  Acme.Measurement-2 \n", "acme.measurement-2"),
        ("a", "a"),
        ("9lives", "9lives"),
        ("a" * 64, "a" * 64),
        ("A" + "_" * 63, "a" + "_" * 63),
    ],
)
def test_normalize_integration_source_valid(raw, expected):
    assert normalize_integration_source(raw) == expected


@pytest.mark.parametrize(
    "raw", ["", "   ", "a" * 65, "-acme", "_acme", ".acme", "acme measurement", "acme/1", "acmé", "acme!"]
)
def test_normalize_integration_source_invalid(raw):
    assert normalize_integration_source(raw) is None


def test_the_custom_type_itself_resolves_without_a_name():
    """``event_type='custom'``: the custom event name then comes from the custom_event_name column."""
    assert resolve_event_type("custom") == ("custom", None)
