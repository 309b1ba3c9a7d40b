"""The API's vocabulary: event types, data shapes, action sources, limits and name aliases."""

from __future__ import annotations

import re

DEFAULT_BASE_URL = "https://bzr.openai.com"
EVENTS_PATH = "/v1/events"

MAX_EVENTS_PER_REQUEST = 1000
MAX_EVENT_AGE_MS = 7 * 24 * 3600 * 1000
MAX_FUTURE_SKEW_MS = 10 * 60 * 1000
MAX_USER_LIST_VALUES = 3

#: event ``type`` -> the ``data.type`` shape it requires
DATA_TYPE_FOR_EVENT: dict[str, str] = {
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
EVENT_TYPES = frozenset(DATA_TYPE_FOR_EVENT)
APP_EVENT_TYPES = frozenset({"app_installed", "app_opened"})
ACTION_SOURCES = frozenset({"web", "mobile_app", "offline", "physical_store", "phone_call", "email", "other"})
SHAPES_WITH_CONTENTS = frozenset({"contents", "plan_enrollment", "custom"})
SHAPES_WITH_PLAN_ID = frozenset({"plan_enrollment", "custom"})
CONTENT_ITEM_KEYS = frozenset(
    {"id", "group_id", "name", "content_type", "quantity", "amount", "currency", "variant_dict"}
)

CUSTOM_EVENT_NAME_RE = re.compile(r"[a-z0-9](?:[a-z0-9_-]{0,62}[a-z0-9])?")
INTEGRATION_SOURCE_RE = re.compile(r"[a-z0-9][a-z0-9._-]{0,63}")


def _alias_key(name: str) -> str:
    """Fold case and separators so ``Order Completed``, ``order_completed`` and ``OrderCompleted`` meet."""
    return "".join(ch for ch in name.lower() if ch.isalnum())


_ALIASES: dict[str, tuple[str, ...]] = {
    "order_created": ("purchase", "order_completed", "Order Completed", "Purchase", "order_created"),
    "checkout_started": ("begin_checkout", "Checkout Started", "InitiateCheckout", "initiate_checkout"),
    "items_added": ("add_to_cart", "Product Added", "AddToCart", "items_added"),
    "contents_viewed": ("view_item", "Product Viewed", "ViewContent", "contents_viewed"),
    "page_viewed": ("page_view", "$pageview", "PageView", "Page Viewed", "page_viewed"),
    "lead_created": ("generate_lead", "lead", "Lead", "Lead Created", "lead_created"),
    "registration_completed": (
        "sign_up",
        "complete_registration",
        "Signed Up",
        "CompleteRegistration",
        "registration_completed",
    ),
    "subscription_created": ("subscribe", "Subscribe", "Subscription Created", "subscription_created"),
    "trial_started": ("start_trial", "StartTrial", "Trial Started", "trial_started"),
    "appointment_scheduled": ("Schedule", "appointment_scheduled", "schedule_appointment"),
    "app_installed": ("Application Installed", "app_install", "app_installed"),
    "app_opened": ("Application Opened", "app_open", "app_opened"),
}
BUILTIN_EVENT_TYPE_ALIASES: dict[str, str] = {
    _alias_key(alias): event_type for event_type, aliases in _ALIASES.items() for alias in aliases
}


def resolve_event_type(
    name: str, extra_aliases: dict[str, str] | None = None
) -> tuple[str, str | None] | None:
    """Map a warehouse event name to ``(type, custom_event_name)``.

    ``extra_aliases`` (user-supplied, exact names first, then folded) win over the built-in
    aliases. Unknown names become ``custom`` only when they are valid custom event names;
    otherwise ``None`` is returned.
    """
    if extra_aliases:
        target = extra_aliases.get(name)
        if target is None:
            folded = _alias_key(name)
            target = next((v for k, v in extra_aliases.items() if _alias_key(k) == folded), None)
        if target is not None:
            return resolve_event_type(target) if target not in EVENT_TYPES else (target, None)
    if name in EVENT_TYPES:
        return name, None  # "custom" itself: the name then comes from custom_event_name
    event_type = BUILTIN_EVENT_TYPE_ALIASES.get(_alias_key(name))
    if event_type is not None:
        return event_type, None
    custom = normalize_custom_event_name(name)
    return ("custom", custom) if custom is not None else None


def normalize_custom_event_name(name: str) -> str | None:
    """The lowercased custom event name (§2.2: ASCII only), or None when invalid."""
    name = name.strip()
    if not name.isascii():
        return None
    name = name.lower()
    return name if is_valid_custom_event_name(name) else None


def is_valid_custom_event_name(name: str) -> bool:
    """Whether an already lowercased name is a valid custom event name."""
    return name.isascii() and CUSTOM_EVENT_NAME_RE.fullmatch(name) is not None and name not in EVENT_TYPES


def window_violation(timestamp_ms: int, now_ms: int, margin_ms: int = 0) -> str | None:
    """``"too_old"`` / ``"too_far_in_future"`` when outside the API's window at ``now_ms``, else None.

    ``margin_ms`` narrows the window on the old side, for events that would age out in transit.
    """
    if timestamp_ms < now_ms - MAX_EVENT_AGE_MS + margin_ms:
        return "too_old"
    if timestamp_ms > now_ms + MAX_FUTURE_SKEW_MS:
        return "too_far_in_future"
    return None


def normalize_integration_source(value: str) -> str | None:
    """The API's own trim + lowercase, then its pattern; None when invalid."""
    folded = value.strip()
    if not folded.isascii():
        return None
    folded = folded.lower()
    return folded if INTEGRATION_SOURCE_RE.fullmatch(folded) else None
