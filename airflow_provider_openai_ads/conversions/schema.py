"""Pydantic models of a Conversions API request, implementing every rule of Appendix A.

Used to validate API-shaped events handed in by users, by the emulator to judge requests,
and by tests as the reference the fast row-mapping path must agree with. The time window is
checked only when a clock is passed in the validation context (``{"now_ms": ...}``), so the
same event can be re-checked at send time. Serialization (:func:`dump_event`) omits absent
fields.
"""

from __future__ import annotations

import re
from functools import lru_cache
from typing import Annotated, Any, Literal
from urllib.parse import urlsplit

from iso4217 import Currency
from pydantic import (
    BaseModel,
    ConfigDict,
    Discriminator,
    Field,
    StrictBool,
    StrictInt,
    StrictStr,
    Tag,
    TypeAdapter,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)
from pydantic_core import CoreSchema, PydanticCustomError
from pydantic_core import core_schema as cs

from airflow_provider_openai_ads.conversions.identity import normalize_ip_address
from airflow_provider_openai_ads.conversions.money import MAX_MINOR_UNITS, minor_unit_exponent
from airflow_provider_openai_ads.conversions.taxonomy import (
    APP_EVENT_TYPES,
    DATA_TYPE_FOR_EVENT,
    EVENT_TYPES,
    MAX_EVENT_AGE_MS,
    MAX_EVENTS_PER_REQUEST,
    MAX_FUTURE_SKEW_MS,
    normalize_custom_event_name,
    normalize_integration_source,
    window_violation,
)

Sha256Hex = Annotated[StrictStr, Field(pattern=r"^[0-9a-f]{64}$")]
NonBlank = Annotated[StrictStr, Field(min_length=1, pattern=r"\S")]
MinorUnits = Annotated[StrictInt, Field(ge=0, le=MAX_MINOR_UNITS)]
EventType = Literal[
    "page_viewed",
    "contents_viewed",
    "items_added",
    "checkout_started",
    "order_created",
    "lead_created",
    "registration_completed",
    "appointment_scheduled",
    "app_installed",
    "app_opened",
    "subscription_created",
    "trial_started",
    "custom",
]
ActionSource = Literal["web", "mobile_app", "offline", "physical_store", "phone_call", "email", "other"]
UserSchema = Literal["lists", "singular"]


def _error(code: str, message: str, field: str | None = None) -> PydanticCustomError:
    """A validation error with a stable code; ``field`` names it when the location cannot."""
    return PydanticCustomError(
        code, message.replace("{", "(").replace("}", ")"), {"field": field} if field else None
    )


def _check_currency(value: str | None) -> str | None:
    if value is not None and (len(value) != 3 or not value.isupper() or minor_unit_exponent(value) is None):
        raise _error("invalid_currency", "currency must be an upper-case ISO 4217 code")
    return value


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class ContentItem(_Strict):
    id: StrictStr | None = None
    group_id: StrictStr | None = None
    name: StrictStr | None = None
    content_type: NonBlank | None = None
    quantity: StrictInt | None = None
    amount: MinorUnits | None = None
    currency: StrictStr | None = None
    variant_dict: dict[StrictStr, StrictStr] | None = None

    _currency = field_validator("currency")(_check_currency)


class _DataBase(_Strict):
    amount: MinorUnits | None = None
    currency: StrictStr | None = None

    _currency = field_validator("currency")(_check_currency)

    @model_validator(mode="after")
    def _amount_needs_currency(self) -> _DataBase:
        if self.amount is not None and self.currency is None:
            raise _error("missing_currency", "data.currency is required when data.amount is set", "currency")
        for index, item in enumerate(getattr(self, "contents", None) or ()):
            if item.amount is not None and item.currency is None and self.currency is None:
                raise _error(
                    "missing_currency",
                    f"contents[{index}].currency (or data.currency) is required with an item amount",
                    f"contents[{index}].currency",
                )
        return self


class ContentsData(_DataBase):
    type: Literal["contents"]
    contents: list[ContentItem] | None = None


class CustomerActionData(_DataBase):
    type: Literal["customer_action"]


class PlanEnrollmentData(_DataBase):
    type: Literal["plan_enrollment"]
    contents: list[ContentItem] | None = None
    plan_id: StrictStr | None = None


class CustomData(_DataBase):
    """The only shape that accepts extra keys (``<custom_field>``)."""

    model_config = ConfigDict(extra="allow", frozen=True)
    type: Literal["custom"]
    contents: list[ContentItem] | None = None
    plan_id: StrictStr | None = None


EventData = Annotated[
    ContentsData | CustomerActionData | PlanEnrollmentData | CustomData, Field(discriminator="type")
]

_UserList = Annotated[list[StrictStr], Field(min_length=1)]


def _is_ip(value: str) -> bool:
    return value == value.strip() and normalize_ip_address(value) is not None


#: ASCII letters, digits, spaces and hyphens only (so stripping can only remove spaces)
_POSTAL_CODE_CHARS = re.compile(r"[A-Za-z0-9 -]+")


# The geo checks are pure and their values repeat on nearly every event: memoized per text.
@lru_cache(maxsize=4096)
def _is_postal_code(value: str) -> bool:
    return _POSTAL_CODE_CHARS.fullmatch(value) is not None and 0 < len(value.strip()) <= 32


@lru_cache(maxsize=4096)
def _is_country(value: str) -> bool:
    return len(value) == 2 and value.isascii() and value.isalpha()


@lru_cache(maxsize=4096)
def _is_geo(value: str) -> bool:
    return 0 < len(value.strip()) <= 128


class _UserCommon(_Strict):
    ip_address: StrictStr | None = None
    user_agent: NonBlank | None = None
    obref: NonBlank | None = None

    @field_validator("ip_address")
    @classmethod
    def _ip(cls, value: str | None) -> str | None:
        if value is not None and not _is_ip(value):
            raise _error("invalid_ip_address", "ip_address must be a valid IPv4 or IPv6 address")
        return value


class UserLists(_UserCommon):
    """The ``user`` object in the newest documented shape (plural lists, §3.1)."""

    emails_sha256: list[Sha256Hex] | None = None
    phone_numbers_sha256: list[Sha256Hex] | None = None
    external_ids_sha256: list[Sha256Hex] | None = None
    first_names_sha256: list[Sha256Hex] | None = None
    last_names_sha256: list[Sha256Hex] | None = None
    regions: list[StrictStr] | None = None
    postal_codes: list[StrictStr] | None = None
    cities: list[StrictStr] | None = None
    countries: list[StrictStr] | None = None
    android_advertising_id: StrictStr | None = Field(
        default=None, pattern=r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$"
    )

    @field_validator("regions", "cities")
    @classmethod
    def _geo(cls, value: list[str] | None) -> list[str] | None:
        for text in value or ():
            if not _is_geo(text):
                raise _error("invalid_geo", "every value of regions/cities must be geo")
        return value

    @field_validator("postal_codes")
    @classmethod
    def _postal(cls, value: list[str] | None) -> list[str] | None:
        for text in value or ():
            if not _is_postal_code(text):
                raise _error("invalid_postal_code", "every value of postal_codes must be postal_code")
        return value

    @field_validator("countries")
    @classmethod
    def _countries(cls, value: list[str] | None) -> list[str] | None:
        for text in value or ():
            if not _is_country(text):
                raise _error("invalid_country", "every value of countries must be country")
        return value


class UserSingular(_UserCommon):
    """The older ``user`` shape (singular fields, §3.2); no phone numbers or names."""

    email_sha256: Sha256Hex | None = None
    external_id_sha256: Sha256Hex | None = None
    country: StrictStr | None = None
    city: StrictStr | None = None
    zip_code: StrictStr | None = None

    @model_validator(mode="after")
    def _geo(self) -> UserSingular:
        if self.country is not None and not _is_country(self.country):
            raise _error("invalid_country", "country must be a two-letter code", "country")
        if self.city is not None and not _is_geo(self.city):
            raise _error("invalid_geo", "city must be 1-128 characters", "city")
        if self.zip_code is not None and not _is_postal_code(self.zip_code):
            raise _error(
                "invalid_postal_code",
                "zip_code must be letters, digits, spaces or hyphens, <= 32",
                "zip_code",
            )
        return self


_COMMON_USER_KEYS = frozenset(_UserCommon.model_fields)
_SINGULAR_ONLY_KEYS = frozenset(UserSingular.model_fields) - _COMMON_USER_KEYS


@lru_cache(maxsize=1024)
def _has_scheme_and_host(url: str) -> bool:
    parts = urlsplit(url)
    return bool(parts.scheme and parts.netloc)


def _user_schema_of(user: Any) -> str:
    if isinstance(user, BaseModel):
        return "singular" if isinstance(user, UserSingular) else "lists"
    return "singular" if isinstance(user, dict) and _SINGULAR_ONLY_KEYS.intersection(user) else "lists"


class Event(_Strict):
    id: NonBlank
    type: EventType
    timestamp_ms: StrictInt
    custom_event_name: StrictStr | None = None
    oppref: NonBlank | None = None
    oppcref: StrictStr | None = None
    source_url: StrictStr | None = None
    action_source: ActionSource | None = None
    user: (
        Annotated[
            Annotated[UserLists, Tag("lists")] | Annotated[UserSingular, Tag("singular")],
            Discriminator(_user_schema_of),
        ]
        | None
    ) = None
    opt_out: StrictBool | None = None
    data: EventData

    @model_validator(mode="after")
    def _cross_field_rules(self, info: ValidationInfo) -> Event:
        context = info.context or {}
        now_ms = context.get("now_ms")
        if (
            now_ms is not None
            and not now_ms - MAX_EVENT_AGE_MS <= self.timestamp_ms <= now_ms + MAX_FUTURE_SKEW_MS
        ):
            violation = window_violation(self.timestamp_ms, now_ms)
            if violation == "too_old":
                raise _error(
                    "event_timestamp_too_old",
                    "event_timestamp_ms must be within the last 7 days.",
                    "timestamp_ms",
                )
            if violation:
                raise _error(
                    "event_timestamp_in_future",
                    "event_timestamp_ms must not be more than 10 minutes in the future.",
                    "timestamp_ms",
                )
        if self.data.type != DATA_TYPE_FOR_EVENT[self.type]:
            raise _error(
                "invalid_event_data_type",
                f"data.type must be {DATA_TYPE_FOR_EVENT[self.type]!r} for a {self.type} event",
                "data.type",
            )
        if self.type == "custom":
            if self.custom_event_name is None or normalize_custom_event_name(self.custom_event_name) is None:
                raise _error(
                    "invalid_custom_event_name",
                    "custom_event_name must be 1-64 letters, digits, '_' or '-', start and end with a "
                    "letter or digit, and not be a standard event name",
                    "custom_event_name",
                )
        elif self.custom_event_name is not None:
            raise _error(
                "unexpected_custom_event_name",
                "custom_event_name is only allowed on custom events",
                "custom_event_name",
            )
        if self.type in APP_EVENT_TYPES and self.action_source != "mobile_app":
            raise _error(
                "invalid_action_source",
                f"{self.type} events require action_source 'mobile_app'",
                "action_source",
            )
        if self.action_source == "web" and not _has_scheme_and_host(self.source_url or ""):
            raise _error(
                "missing_source_url",
                "source_url with scheme and host is required for web events",
                "source_url",
            )
        expected_schema = context.get("user_schema")
        if self.user is not None and expected_schema is not None:
            actual = "singular" if isinstance(self.user, UserSingular) else "lists"
            if actual != expected_schema and self.user.model_fields_set - _COMMON_USER_KEYS:
                raise _error("invalid_user", f"user fields must use the {expected_schema!r} schema", "user")
        return self


class EventsRequest(_Strict):
    events: list[Event] = Field(min_length=1, max_length=MAX_EVENTS_PER_REQUEST)
    validate_only: StrictBool | None = None
    integration_source: StrictStr | None = None

    @field_validator("integration_source")
    @classmethod
    def _integration_source(cls, value: str | None) -> str | None:
        if value is not None and normalize_integration_source(value) is None:
            raise _error(
                "invalid_integration_source",
                "integration_source must be 1-64 letters, digits, '.', '_' or '-', starting with a letter or digit",
            )
        return value


_EVENT_ADAPTER = TypeAdapter(Event)


def describe_errors(exc: ValidationError) -> list[tuple[str, str, str]]:
    """``(field, code, message)`` for each error, the field a dotted path such as ``events[3].data.type``.

    Messages never quote the offending input, so they are safe to log and report.
    """
    described = []
    for error in exc.errors(include_url=False):
        path = ""
        previous = None
        for part in error["loc"]:
            if isinstance(part, int):
                path += f"[{part}]"
            elif not (previous in ("data", "user") and part in _UNION_TAGS):
                path += f".{part}" if path else str(part)
            previous = part
        extra_field = (error.get("ctx") or {}).get("field")
        if extra_field:
            path = f"{path}.{extra_field}" if path else extra_field
        message = error["msg"]
        for value in (error.get("input"), (error.get("ctx") or {}).get("tag")):
            if isinstance(value, str) and value and value in message:  # e.g. union_tag_invalid quotes it
                message = message.replace(value, "<value>")
        described.append((path, error["type"], message))
    return described


def validate_event(
    event: dict[str, Any], *, now_ms: int | None = None, user_schema: str | None = None
) -> Event:
    """Validate one API-shaped event dict; raises :class:`pydantic.ValidationError`."""
    return _EVENT_ADAPTER.validate_python(event, context={"now_ms": now_ms, "user_schema": user_schema})


def dump_event(event: Event) -> dict[str, Any]:
    """The JSON-ready dict of a validated event, absent fields omitted."""
    return event.model_dump(mode="json", exclude_none=True)


_UNION_TAGS = {"contents", "customer_action", "plan_enrollment", "custom", "lists", "singular"}


# -- pre-checks in pydantic-core terms, for the emulator's fast pass ---------------------------

#: the characters ``str.strip()`` removes (``str.isspace()``); a test checks the list is complete
PYTHON_WHITESPACE = (
    "\t\n\x0b\x0c\r\x1c\x1d\x1e\x1f \x85\xa0\u1680\u2000\u2001\u2002\u2003\u2004\u2005"
    "\u2006\u2007\u2008\u2009\u200a\u2028\u2029\u202f\u205f\u3000"
)
_NOT_SPACE = "[^" + "".join(f"\\x{{{ord(c):x}}}" for c in PYTHON_WHITESPACE) + "]"
_OCTET = "(?:25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])"


def _strings(pattern: str) -> CoreSchema:
    return cs.str_schema(pattern=pattern, strict=True)


def _accepts(check, value: object) -> bool:
    try:
        check(value)
    except ValueError:  # PydanticCustomError is one
        return False
    return True


#: For the Python field checks above that run on every event, the same field in pydantic-core
#: terms, accepting a subset of what the check accepts: the values in their common form (no
#: surrounding spaces, a dotted IPv4 address). The emulator's lean validator
#: (``emulator.lean_schema``) tries the pre-check first and runs the Python check only on a
#: value it refuses, so the verdicts are the check's own; each check returns its input unchanged.
#: Tests check that nothing a pre-check accepts is refused by its check.
FAST_PRECHECKS: dict[Any, CoreSchema] = {
    UserLists._geo.__func__: cs.nullable_schema(
        cs.list_schema(_strings(f"(?s)^{_NOT_SPACE}(?:.{{0,126}}{_NOT_SPACE})?$"))
    ),
    UserLists._postal.__func__: cs.nullable_schema(
        cs.list_schema(_strings(r"^[A-Za-z0-9-](?:[A-Za-z0-9 -]{0,30}[A-Za-z0-9-])?$"))
    ),
    UserLists._countries.__func__: cs.nullable_schema(cs.list_schema(_strings(r"^[A-Za-z]{2}$"))),
    UserLists._ip.__func__: cs.nullable_schema(_strings(rf"^{_OCTET}(?:\.{_OCTET}){{3}}$")),
    _check_currency: cs.nullable_schema(
        cs.literal_schema(sorted(c.code for c in Currency if _accepts(_check_currency, c.code)))
    ),
}

assert set(EventType.__args__) == EVENT_TYPES  # the Literal and the taxonomy must not drift
