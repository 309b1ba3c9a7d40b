"""Pure parsers of single row-contract values: text, flags, ids, money, quantities, line items.

Each returns the value the API takes, or raises :class:`RowRejected` naming the column and the
reason; none of them records anything, so both the general mapping (``mapping``) and its fast
path (``fast_path``) can call them, and a value's verdict is the same on either path.
"""

from __future__ import annotations

import math
from decimal import Decimal
from functools import lru_cache
from typing import Any
from uuid import UUID

import orjson

from airflow_provider_openai_ads.conversions.batching import DEFAULT_MAX_EVENT_BYTES
from airflow_provider_openai_ads.conversions.money import (
    MoneyError,
    check_minor_units,
    major_to_minor,
    normalize_currency,
)
from airflow_provider_openai_ads.conversions.taxonomy import CONTENT_ITEM_KEYS

MAX_EVENT_ID_LENGTH = 512
#: text that reaches the payload unhashed is refused above this, before the event is built, so a
#: huge cell never costs more than a few copies of itself (the event as a whole is capped likewise)
MAX_VALUE_CHARS = DEFAULT_MAX_EVENT_BYTES
_MAX_EVENT_ID_BITS = int(MAX_EVENT_ID_LENGTH * 3.33)  # about 512 decimal digits

_TRUE = frozenset({"true", "t", "yes", "y", "1"})
_FALSE = frozenset({"false", "f", "no", "n", "0"})


class RowRejected(Exception):
    """Raised inside the mapping for a row group that cannot become an event."""

    def __init__(self, reason: str, field: str | None, message: str) -> None:
        super().__init__(message)
        self.reason = reason
        self.field = field
        self.message = message


def parse_event_id(value: object) -> str:
    if isinstance(value, str):
        text = value.strip()
    elif isinstance(value, int) and not isinstance(value, bool):
        if value.bit_length() > _MAX_EVENT_ID_BITS:
            raise RowRejected(
                "invalid_event_id", "event_id", f"event_id is longer than {MAX_EVENT_ID_LENGTH} characters"
            )
        text = str(value)
    elif isinstance(value, UUID):
        text = str(value)
    elif isinstance(value, Decimal) and value.is_finite() and value == value.to_integral_value():
        if value.adjusted() >= MAX_EVENT_ID_LENGTH:
            raise RowRejected(
                "invalid_event_id", "event_id", f"event_id is longer than {MAX_EVENT_ID_LENGTH} characters"
            )
        text = str(int(value))
    elif value is None:
        raise RowRejected("missing_event_id", "event_id", "event_id is required (a stable business id)")
    else:
        raise RowRejected(
            "invalid_event_id", "event_id", f"event_id must be text or an integer, not {kind_of(value)}"
        )
    if not text:
        raise RowRejected("missing_event_id", "event_id", "event_id is blank")
    if not text.isascii():
        try:
            text.encode()
        except UnicodeEncodeError:
            raise RowRejected("invalid_event_id", "event_id", "event_id is not valid Unicode text") from None
    if len(text) > MAX_EVENT_ID_LENGTH:
        raise RowRejected(
            "invalid_event_id", "event_id", f"event_id is longer than {MAX_EVENT_ID_LENGTH} characters"
        )
    return text


def text_or_none(
    value: object, column: str, *, allow_numbers: bool = False, reason: str | None = None
) -> str | None:
    """A stripped string, None for NULL or blank; other types are rejected (numbers if allowed)."""
    if value is None:
        return None
    if isinstance(value, str):
        if len(value) > MAX_VALUE_CHARS:
            raise too_large(column, value)
        return value.strip() or None
    if allow_numbers and isinstance(value, int | Decimal) and not isinstance(value, bool):
        return str(value)
    raise RowRejected(reason or f"invalid_{column}", column, f"{column} must be text, not {kind_of(value)}")


def parse_flag(value: object, column: str) -> bool | None:
    if value is None or isinstance(value, bool):
        return value
    if isinstance(value, int) and value in (0, 1):
        return bool(value)
    if isinstance(value, str):
        folded = value.strip().lower()
        if folded in _TRUE:
            return True
        if folded in _FALSE:
            return False
    raise RowRejected(f"invalid_{column}", column, f"{column} must be a boolean")


def is_number_text(text: str) -> bool:
    if not text.isascii():  # str.isdigit() also accepts digits such as '²' that Decimal refuses
        return False
    head, _, tail = text.partition(".")
    return bool(head) and head.lstrip("-").isdigit() and (not tail or tail.isdigit())


def parse_currency(value: object, column: str) -> str:
    try:
        return normalize_currency(value)
    except MoneyError as exc:
        raise RowRejected(exc.code, column, str(exc)) from None


def minor_units(amount: object, value: object, currency: str, column: str) -> int:
    try:
        if amount is not None:
            return check_minor_units(amount)
        if type(value) is str:
            return _text_to_minor(value, currency)
        if type(value) is Decimal:  # its text is exact (Decimal(str(d)) is d again) and cheap to make
            return _text_to_minor(str(value), currency)
        return major_to_minor(value, currency)
    except MoneyError as exc:
        raise RowRejected(exc.code, column, str(exc)) from None


@lru_cache(maxsize=4096)
def _text_to_minor(value: str, currency: str) -> int:
    """:func:`major_to_minor` once per distinct text. Prices repeat (a catalog's, on every order),
    and a lookup by text costs less than hashing a fresh ``Decimal`` or scaling it. Errors are
    not cached."""
    return major_to_minor(value, currency)


def parse_quantity(value: object, column: str) -> int:
    if isinstance(value, str):
        text = value.strip()
        value = int(text) if text.isascii() and text.isdigit() and len(text) <= 10 else None
    elif isinstance(value, float | Decimal):
        finite = value.is_finite() if isinstance(value, Decimal) else math.isfinite(value)
        value = int(value) if finite and abs(value) <= MAX_QUANTITY and value == int(value) else None
    if not isinstance(value, int) or isinstance(value, bool) or not 1 <= value <= MAX_QUANTITY:
        raise RowRejected(
            "invalid_quantity", column, f"quantity must be a whole number between 1 and {MAX_QUANTITY}"
        )
    return value


MAX_QUANTITY = 2**31 - 1


def parse_variant(value: object, column: str = "item_variant") -> dict[str, str]:
    if isinstance(value, str):
        if len(value) > MAX_VALUE_CHARS:
            raise too_large(column, value)
        try:
            value = orjson.loads(value)
        except orjson.JSONDecodeError:
            raise RowRejected("invalid_item_variant", column, "not a JSON object") from None
    if not isinstance(value, dict) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in value.items()
    ):
        raise RowRejected("invalid_item_variant", column, "must be an object of text values")
    return value


def parse_contents(value: object, currency: str | None) -> list[dict[str, Any]]:
    if isinstance(value, str | bytes):
        if len(value) > MAX_VALUE_CHARS:
            raise too_large("contents", value)
        try:
            value = orjson.loads(value)
        except orjson.JSONDecodeError:
            raise RowRejected("invalid_contents", "contents", "contents is not valid JSON") from None
    if not isinstance(value, list) or not all(isinstance(item, dict) for item in value):
        raise RowRejected("invalid_contents", "contents", "contents must be a JSON array of objects")
    items = []
    for index, raw in enumerate(value):
        field_name = f"contents[{index}]"
        unknown = set(raw) - CONTENT_ITEM_KEYS
        if unknown:
            raise RowRejected(
                "invalid_contents",
                field_name,
                f"unknown item keys {sorted(map(str, unknown))[:5]}; allowed: {sorted(CONTENT_ITEM_KEYS)}",
            )
        item = {k: v for k, v in raw.items() if v is not None}
        for key in ("id", "group_id", "name", "content_type"):
            if key in item:
                text = text_or_none(
                    item[key],
                    f"{field_name}.{key}",
                    allow_numbers=key != "content_type",
                    reason="invalid_contents",
                )
                if text is None:
                    del item[key]
                else:
                    item[key] = text
        if "quantity" in item:
            item["quantity"] = parse_quantity(item["quantity"], f"{field_name}.quantity")
        if "currency" in item:
            item["currency"] = parse_currency(item["currency"], f"{field_name}.currency")
        if "amount" in item:
            if item.get("currency", currency) is None:
                raise RowRejected(
                    "missing_currency", f"{field_name}.currency", "a currency is required with an amount"
                )
            item["amount"] = minor_units(item["amount"], None, "", f"{field_name}.amount")
        if "variant_dict" in item:
            item["variant_dict"] = parse_variant(item["variant_dict"], f"{field_name}.variant_dict")
        items.append(item)
    return items


def too_large(column: str, value: str | bytes) -> RowRejected:
    return RowRejected(
        "event_too_large",
        column,
        f"the {column} value has {len(value)} characters, over the {MAX_VALUE_CHARS}-byte limit per event",
    )


def kind_of(value: object) -> str:
    return type(value).__name__
