"""The fast path of the row mapping: straight-line code for the rows nearly every query yields.

``RowMapper._build`` (the general path) takes every type and every rule and names the column
of the first problem. Almost all rows of a real query are the common case: text, integers,
``Decimal`` money, tz-aware datetimes (or ISO text), and values the mapper has already seen
and checked (event types, currencies, page URLs, geo combinations, user agents).

:func:`fast_builder` specializes, once per column set, a function ``build(group, now_ms)``
that builds the event of such a row group with no per-column dispatch, reading the row by key
(name for dicts, position for tuples, so database rows need no dict at all). It *declines*,
returning ``None`` or raising, on anything else: a NULL where a value matters, another type,
a value never seen, anything the general path would reject, drop or count. The mapper then
runs the general path, which decides and reports exactly as if the fast path did not exist.
The fast path records nothing in the report, so declining costs time only; the value parsers
it calls are the general path's own (``values``, ``identity``), and tests hold both paths to
byte-identical output.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Hashable
from typing import TYPE_CHECKING, Any

from airflow_provider_openai_ads.conversions.taxonomy import (
    ACTION_SOURCES,
    APP_EVENT_TYPES,
    DATA_TYPE_FOR_EVENT,
    MAX_EVENT_AGE_MS,
    MAX_FUTURE_SKEW_MS,
    SHAPES_WITH_CONTENTS,
    SHAPES_WITH_PLAN_ID,
)
from airflow_provider_openai_ads.conversions.values import (
    MAX_EVENT_ID_LENGTH,
    MAX_QUANTITY,
    MAX_VALUE_CHARS,
    minor_units,
    parse_contents,
    parse_flag,
    parse_quantity,
    parse_variant,
    text_or_none,
)

if TYPE_CHECKING:
    from airflow_provider_openai_ads.conversions.mapping import RowMapper, _ColumnPlan

FastBuilder = Callable[[list[Any], int], "tuple[dict[str, Any], str | None] | None"]

_EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.timezone.utc)
_ONE_MS = dt.timedelta(milliseconds=1)
_DATETIME = dt.datetime
_FIXED_OFFSET = dt.timezone
_from_iso = dt.datetime.fromisoformat
#: integer event ids up to this are always short enough (the general path checks larger ones)
_SHORT_INT_ID = 10**300


def fast_builder(
    mapper: RowMapper, plan: _ColumnPlan, key: Callable[[int, str], Hashable]
) -> FastBuilder | None:
    """The fast ``build(group, now_ms)`` for rows of ``plan.columns``, or None where none applies.

    ``key(position, column)`` is how a row is read: ``lambda i, c: c`` for dicts, ``lambda i, c: i``
    for tuples. ``group`` is a list of consecutive rows with one event id; ``build`` returns the
    API event as a dict with its match keys (``mapping.match_keys_of``, or None to leave them to
    it), or declines (None or any exception) and leaves the group to the general path.
    """
    columns = plan.columns
    at = {column: key(position, column) for position, column in enumerate(columns)}
    if mapper._singular or "event_id" not in at or "event_time" not in at:
        return None  # rare shapes: the general path alone

    from airflow_provider_openai_ads.conversions.mapping import (  # here: mapping imports this module
        _ITEM_TEXT_COLUMNS,
        ITEM_COLUMNS,
        _values_getter,
    )

    # the container annotations type these closure variables in the compiled build
    options = mapper.options
    resolved_types: dict = mapper._resolved_types
    default_type = mapper._default_type
    timestamp_ms = mapper._timestamp_ms
    currencies: dict = mapper._currencies
    item_currency_of = mapper._currency
    valid_urls: set = mapper._valid_urls
    default_action_source = options.default_action_source
    default_currency = options.default_currency
    drop_without_consent = options.consent_policy == "drop"

    n_columns = len(columns)
    k_id, k_time = at["event_id"], at["event_time"]
    k_type = at.get("event_type")
    k_custom = at.get("custom_event_name")
    k_action = at.get("action_source")
    k_url = at.get("source_url")
    k_oppref = at.get("oppref")
    k_opt_out = at.get("opt_out")
    k_consent = at.get("consent")
    k_amount, k_value, k_currency = at.get("amount"), at.get("value"), at.get("currency")
    k_plan_id, k_contents = at.get("plan_id"), at.get("contents")
    hashed: tuple = tuple((at[c], user_key, hasher) for c, user_key, hasher in plan.user_columns)
    geo_values = _values_getter(tuple(at[c] for c, *_ in plan.geo_columns)) if plan.geo_columns else None
    geo_memo: dict = plan.geo_memo
    scalars: tuple = tuple((at[c], c, normalize) for c, normalize in plan.scalar_columns)
    event_values = _values_getter(tuple(at[c] for c in plan.event_columns))
    k_item_id, k_item_name = at.get("item_id"), at.get("item_name")
    item_keys: tuple = tuple(at[c] for c in ITEM_COLUMNS if c in at)
    item_texts: tuple = tuple(
        (at[c], c, item_key, numbers) for c, item_key, numbers in _ITEM_TEXT_COLUMNS if c in at
    )
    k_quantity, k_item_currency = at.get("item_quantity"), at.get("item_currency")
    k_item_amount, k_item_price = at.get("item_amount"), at.get("item_price")
    k_variant = at.get("item_variant")
    #: the user keys of an event holding every user column of the plan, in insertion order, and
    #: its match keys as ``mapping.match_keys_of`` writes them
    user_keys = (
        *(user_key for _, user_key, _ in plan.user_columns),
        *(user_key for _, user_key, _ in plan.geo_columns),
        *(column for column, _ in plan.scalar_columns),
    )
    n_user_keys = len(user_keys)
    every_user_key = ",".join(user_keys)
    every_user_key_and_oppref = ",".join((*user_keys, "oppref"))

    def build(group: list[Any], now_ms: int) -> tuple[dict[str, Any], str | None] | None:
        # Text is handled through locals annotated str: compiled, their methods are direct calls
        # (no attribute lookup). They are only assigned exact str (checked first) or None.
        text: str
        event_id: str
        action_source: str
        row = group[0]
        raw = row[k_id]
        if type(raw) is str:
            text = raw
            event_id = text.strip()
            if not event_id or len(event_id) > MAX_EVENT_ID_LENGTH or not event_id.isascii():
                return None
        elif type(raw) is int and -_SHORT_INT_ID < raw < _SHORT_INT_ID:
            event_id = str(raw)
        else:
            return None
        if len(group) > 1:  # line items: every row must agree on the event-level columns
            first = event_values(row)
            for other in group[1:]:
                if len(other) != n_columns or event_values(other) != first:
                    return None

        resolved = resolved_types.get(row[k_type]) if k_type is not None else default_type
        if resolved is None:
            return None
        event_type, custom_name = resolved
        if (k_custom is not None and row[k_custom] is not None) or (
            custom_name is None and event_type == "custom"
        ):
            return None

        raw = row[k_time]
        if type(raw) is str and len(raw) > 19 and raw[10] == "T":  # ISO text, as SQLite and CSVs hold it
            raw = _from_iso(raw)  # raises on anything else: the general path then decides
        if type(raw) is _DATETIME and type(raw.tzinfo) is _FIXED_OFFSET:
            timestamp = (raw - _EPOCH) // _ONE_MS
        else:
            timestamp = timestamp_ms(raw)
        if not now_ms - MAX_EVENT_AGE_MS <= timestamp <= now_ms + MAX_FUTURE_SKEW_MS:
            return None
        event: dict[str, Any] = {"id": event_id, "type": event_type, "timestamp_ms": timestamp}
        if custom_name is not None:
            event["custom_event_name"] = custom_name

        raw = row[k_action] if k_action is not None else None
        if raw is None:
            action_source = "mobile_app" if event_type in APP_EVENT_TYPES else default_action_source
        elif type(raw) is str:
            text = raw
            action_source = text.strip().lower()
            if action_source not in ACTION_SOURCES or (
                event_type in APP_EVENT_TYPES and action_source != "mobile_app"
            ):
                return None
        else:
            return None
        if action_source is not None:
            event["action_source"] = action_source

        raw = row[k_url] if k_url is not None else None
        if raw is not None:
            if type(raw) is not str:
                return None
            text = raw
            if len(text) > MAX_VALUE_CHARS:
                return None
            text = text.strip()
            if text:
                if text not in valid_urls:  # the general path checks new URLs and remembers them
                    return None
                event["source_url"] = text
        if "source_url" not in event and action_source == "web":
            return None

        raw = row[k_oppref] if k_oppref is not None else None
        if raw is not None:
            if type(raw) is not str:
                return None
            text = raw
            if len(text) > MAX_VALUE_CHARS:
                return None
            text = text.strip()
            if text:
                event["oppref"] = text

        opt_out = None
        if k_opt_out is not None and (raw := row[k_opt_out]) is not None:
            opt_out = parse_flag(raw, "opt_out")
        if k_consent is not None and (raw := row[k_consent]) is not None and not parse_flag(raw, "consent"):
            if drop_without_consent:
                return None  # skipped and counted by the general path
            opt_out = True
        if opt_out is not None:
            event["opt_out"] = opt_out

        user: dict[str, Any] = {}
        for k, user_key, hasher in hashed:
            raw = row[k]
            if raw is None:
                continue
            if type(raw) is not str or (value := hasher(raw)) is None:
                return None
            user[user_key] = [value]
        if geo_values is not None:
            entry = geo_memo.get(geo_values(row))
            if entry is None or entry[1]:  # unseen, or holding a value the general path drops
                return None
            user.update(entry[0])
        for k, _column, normalize in scalars:
            raw = row[k]
            if raw is None:
                continue
            if type(raw) is not str:
                return None
            text = raw
            if len(text) > MAX_VALUE_CHARS or (value := normalize(text)) is None:
                return None
            user[_column] = value
        if user:
            event["user"] = user

        shape = DATA_TYPE_FOR_EVENT[event_type]
        data: dict[str, Any] = {"type": shape}
        raw = row[k_currency] if k_currency is not None else None
        if raw is None:
            currency = default_currency
        elif (currency := currencies.get(raw)) is None:  # the general path checks new spellings
            return None
        amount = row[k_amount] if k_amount is not None else None
        value = row[k_value] if k_value is not None else None
        if amount is not None or value is not None:
            if currency is None or (amount is not None and value is not None):
                return None
            data["amount"] = minor_units(amount, value, currency, "amount" if amount is not None else "value")
            data["currency"] = currency
        elif currency is not None:
            data["currency"] = currency

        items: list[dict[str, Any]] | None = None
        if k_contents is not None and (raw := row[k_contents]) is not None:
            items = parse_contents(raw, currency)
        elif item_keys:  # any line-item column
            items = []
            for line in group:
                if (k_item_id is None or line[k_item_id] is None) and (
                    k_item_name is None or line[k_item_name] is None
                ):
                    if any(line[k] is not None for k in item_keys):
                        return None  # an item without id or name: dropped and counted
                    continue
                item: dict[str, Any] = {}
                for k, column, item_key, numbers in item_texts:
                    raw = line[k]
                    if raw is None:
                        continue
                    if type(raw) is str:
                        text = raw
                        if len(text) > MAX_VALUE_CHARS:
                            return None
                        text = text.strip()
                    else:
                        text = text_or_none(raw, column, allow_numbers=numbers)
                    if text:
                        item[item_key] = text
                if k_quantity is not None and (raw := line[k_quantity]) is not None:
                    item["quantity"] = (
                        raw
                        if type(raw) is int and 1 <= raw <= MAX_QUANTITY
                        else parse_quantity(raw, "item_quantity")
                    )
                raw = line[k_item_currency] if k_item_currency is not None else None
                line_currency = item_currency_of(raw, "item_currency") if raw is not None else None
                amount = line[k_item_amount] if k_item_amount is not None else None
                price = line[k_item_price] if k_item_price is not None else None
                if amount is not None or price is not None:
                    effective = line_currency or currency
                    if effective is None or (amount is not None and price is not None):
                        return None
                    column = "item_amount" if amount is not None else "item_price"
                    item["amount"] = minor_units(amount, price, effective, column)
                if line_currency is not None:
                    item["currency"] = line_currency
                if k_variant is not None and (raw := line[k_variant]) is not None:
                    item["variant_dict"] = parse_variant(raw)
                items.append(item)
        if items:
            if shape not in SHAPES_WITH_CONTENTS:
                return None  # dropped and counted by the general path
            data["contents"] = items
        if k_plan_id is not None and (raw := row[k_plan_id]) is not None:
            plan_id = text_or_none(raw, "plan_id", allow_numbers=True)
            if plan_id is not None:
                if shape not in SHAPES_WITH_PLAN_ID:
                    return None
                data["plan_id"] = plan_id
        event["data"] = data
        if len(user) != n_user_keys:
            return event, None
        keys = every_user_key_and_oppref if "oppref" in event else every_user_key
        return event, keys + ",opt_out" if opt_out else keys

    return build
