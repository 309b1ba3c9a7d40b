"""Row contract -> API event: the hot path from a warehouse row to a validated, serialized event.

Rows are mappings keyed by row-contract column names (see the README's table). Consecutive
rows with the same ``event_id`` form one event with one ``contents`` item per row, so an
orders x line-items join needs no pre-aggregation. Each group of rows becomes either a
:class:`PreparedEvent` or a :class:`Rejection` counted in the report; nothing is dropped
silently. Identifiers are normalized and hashed here, before anything else sees them, and a
value that cannot be used is dropped from the event and counted in ``report.dropped_fields``.

This path builds plain dicts with its own checks (faster than validating through nested
pydantic models, and the checks give precise reasons); tests hold it to the pydantic schema.
"""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from functools import lru_cache
from operator import itemgetter, ne
from typing import Any, Literal
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import orjson
from pydantic import ValidationError

from airflow_provider_openai_ads.conversions import identity
from airflow_provider_openai_ads.conversions.batching import PreparedEvent
from airflow_provider_openai_ads.conversions.fast_path import FastBuilder, fast_builder
from airflow_provider_openai_ads.conversions.money import (
    normalize_currency,
)
from airflow_provider_openai_ads.conversions.report import Rejection, Report
from airflow_provider_openai_ads.conversions.schema import describe_errors, dump_event, validate_event
from airflow_provider_openai_ads.conversions.taxonomy import (
    ACTION_SOURCES,
    APP_EVENT_TYPES,
    DATA_TYPE_FOR_EVENT,
    EVENT_TYPES,
    MAX_EVENT_AGE_MS,
    MAX_FUTURE_SKEW_MS,
    MAX_USER_LIST_VALUES,
    SHAPES_WITH_CONTENTS,
    SHAPES_WITH_PLAN_ID,
    normalize_custom_event_name,
    resolve_event_type,
    window_violation,
)
from airflow_provider_openai_ads.conversions.values import (
    MAX_QUANTITY,
    MAX_VALUE_CHARS,
    RowRejected,
    is_number_text,
    minor_units,
    parse_contents,
    parse_currency,
    parse_event_id,
    parse_flag,
    parse_quantity,
    parse_variant,
    text_or_none,
    too_large,
)

_EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.timezone.utc)
_ONE_MS = dt.timedelta(milliseconds=1)
_FAR_FUTURE_MS = 10**16  # stands in for absurd epoch values, which the window check then rejects
_EPOCH_MS_THRESHOLD = 100_000_000_000  # numbers above this are epoch milliseconds, below are seconds

ITEM_COLUMNS = (
    "item_id",
    "item_name",
    "item_content_type",
    "item_quantity",
    "item_amount",
    "item_price",
    "item_currency",
    "item_group_id",
    "item_variant",
)
#: row-contract column -> (user list key, normalizer or hasher)
USER_COLUMNS: tuple[tuple[str, str, Callable[[str], str | None]], ...] = (
    ("email", "emails_sha256", identity.hash_email),
    ("phone", "phone_numbers_sha256", identity.hash_phone),
    ("external_id", "external_ids_sha256", identity.hash_external_id),
    ("first_name", "first_names_sha256", identity.hash_name),
    ("last_name", "last_names_sha256", identity.hash_name),
    ("city", "cities", identity.normalize_city),
    ("region", "regions", identity.normalize_city),
    ("postal_code", "postal_codes", identity.normalize_postal_code),
    ("country", "countries", identity.normalize_country),
)
USER_SCALAR_COLUMNS: tuple[tuple[str, Callable[[str], str | None]], ...] = (
    ("ip_address", identity.normalize_ip_address),
    ("user_agent", identity.normalize_user_agent),
    ("obref", identity.normalize_opaque),
    ("android_advertising_id", identity.normalize_advertising_id),
)
EVENT_COLUMNS = (
    "event_id",
    "event_type",
    "custom_event_name",
    "event_time",
    "action_source",
    "source_url",
    "oppref",
    "opt_out",
    "consent",
    "amount",
    "value",
    "currency",
    "plan_id",
    "contents",
    *(c for c, *_ in USER_COLUMNS),
    *(c for c, _ in USER_SCALAR_COLUMNS),
)
ROW_CONTRACT_COLUMNS = frozenset(EVENT_COLUMNS) | frozenset(ITEM_COLUMNS)
#: the plain geo user columns; they come last in USER_COLUMNS (the mapper relies on that order)
GEO_COLUMNS = frozenset({"city", "region", "postal_code", "country"})
assert {c for c, *_ in USER_COLUMNS[-len(GEO_COLUMNS) :]} == GEO_COLUMNS
#: list key -> singular key of the older user schema; other list keys do not exist there
_SINGULAR_USER_KEYS = {
    "emails_sha256": "email_sha256",
    "external_ids_sha256": "external_id_sha256",
    "countries": "country",
    "cities": "city",
    "postal_codes": "zip_code",
}


@dataclass(frozen=True)
class MappingOptions:
    """How rows become events.

    :param default_event_type: type for rows without an ``event_type`` column or value.
    :param event_type_map: warehouse event names -> OpenAI types (on top of the built-in aliases).
    :param default_action_source: ``action_source`` for rows without one.
    :param default_currency: currency for amounts of rows without one.
    :param source_timezone: IANA zone of naive timestamps; without it naive timestamps are rejected.
    :param consent_policy: for rows whose ``consent`` is false: ``drop`` (skip, counted) or
        ``opt_out`` (send with ``opt_out: true``).
    :param user_schema: ``lists`` (newest documented shape) or ``singular`` (older shape).
    """

    default_event_type: str | None = None
    event_type_map: Mapping[str, str] = field(default_factory=dict)
    default_action_source: str | None = None
    default_currency: str | None = None
    source_timezone: str | None = None
    consent_policy: Literal["drop", "opt_out"] = "drop"
    user_schema: Literal["lists", "singular"] = "lists"

    def __post_init__(self) -> None:
        if self.consent_policy not in ("drop", "opt_out"):
            raise ValueError("consent_policy must be 'drop' or 'opt_out'")
        if self.user_schema not in ("lists", "singular"):
            raise ValueError("user_schema must be 'lists' or 'singular'")
        if self.default_action_source is not None and self.default_action_source not in ACTION_SOURCES:
            raise ValueError(f"default_action_source must be one of {sorted(ACTION_SOURCES)}")
        if self.default_event_type is not None and resolve_event_type(self.default_event_type) is None:
            raise ValueError(
                f"default_event_type {self.default_event_type!r} is not a known or custom event name"
            )
        if self.default_currency is not None:
            object.__setattr__(self, "default_currency", normalize_currency(self.default_currency))
        if self.source_timezone is not None:
            try:
                ZoneInfo(self.source_timezone)
            except (ZoneInfoNotFoundError, ValueError):
                raise ValueError(f"unknown source_timezone {self.source_timezone!r}") from None


def rename_columns(columns: Sequence[str], column_map: Mapping[str, str] | None = None) -> list[str]:
    """Row-contract names for a result's columns: ``column_map`` applied, then lower-cased."""
    column_map = {k.lower(): v for k, v in (column_map or {}).items()}
    return [column_map.get(c.lower(), c.lower()) for c in columns]


def unknown_columns(columns: Iterable[str]) -> list[str]:
    return [c for c in columns if c not in ROW_CONTRACT_COLUMNS]


def duplicate_columns(columns: Sequence[str]) -> list[str]:
    """Names that occur more than once in ``columns``, sorted."""
    return sorted({c for c in columns if columns.count(c) > 1})


class _ColumnPlan:
    """What a row with one exact tuple of column names holds, worked out once per column set.

    Rows of one query share their columns, so the mapper probes only the user columns present
    instead of every contract column, and compares the event-level values of merged rows
    (line items) with one C-level pass instead of a Python loop per column. Columns with few
    distinct values are normalized once per value: the geo columns per combination
    (``geo_memo``), the user agent through an LRU cache. The memos belong to the plan, so to
    one mapper (one task run).
    """

    __slots__ = (
        "columns",
        "event_columns",
        "event_values",
        "fast_builders",
        "geo_columns",
        "geo_memo",
        "geo_values",
        "scalar_columns",
        "user_columns",
        "user_values",
    )

    def __init__(self, columns: tuple[str, ...]) -> None:
        present = frozenset(columns)
        self.columns = columns
        self.user_columns = tuple(s for s in USER_COLUMNS if s[0] in present and s[0] not in GEO_COLUMNS)
        self.user_values = _values_getter(tuple(s[0] for s in self.user_columns))
        #: city, region, postal code, country: few distinct combinations, normalized once per combination
        self.geo_columns = tuple(s for s in USER_COLUMNS if s[0] in present and s[0] in GEO_COLUMNS)
        self.geo_values = _values_getter(tuple(s[0] for s in self.geo_columns))
        self.geo_memo: dict[tuple, tuple[dict[str, list[str]], tuple[str, ...]]] = {}
        self.scalar_columns = tuple(_memoized(spec) for spec in USER_SCALAR_COLUMNS if spec[0] in present)
        #: the columns merged rows must agree on, in row order (as _check_consistent reports them)
        self.event_columns = tuple(c for c in columns if c in _EVENT_LEVEL_COLUMNS)
        self.event_values = _values_getter(self.event_columns)
        #: the fast path's builders for these columns, by how rows are read ("name" or "position")
        self.fast_builders: dict[str, FastBuilder | None] = {}


def _values_getter(keys: tuple) -> Callable[[Any], tuple]:
    """``row -> tuple of row[k] for k in keys`` (an itemgetter, which returns a bare value for one)."""
    if len(keys) > 1:
        return itemgetter(*keys)
    return lambda row: tuple(row[k] for k in keys)


def _geo_entry(specs: tuple, values: tuple) -> tuple[dict[str, list[str]], tuple[str, ...]] | None:
    """The user entries and the invalid columns of str (or NULL) geo values; None for other types."""
    entries: dict[str, list[str]] = {}
    invalid = []
    for (column, key, normalize), raw in zip(specs, values, strict=True):
        if raw is None:
            continue
        if type(raw) is not str:
            return None
        value = normalize(raw)
        if value is None:
            invalid.append(column)
        else:
            entries[key] = [value]
    return entries, tuple(invalid)


_UNSEEN = object()
_MAX_CACHED = 1024  # bound of each per-mapper cache (column sets, event type and currency spellings)
#: user columns with few distinct values, whose (pure) normalization is memoized per column set
_REPEATING_USER_COLUMNS = frozenset({"user_agent"})


def _memoized(spec: tuple) -> tuple:
    """A (column, ..., normalize) spec, its normalizer wrapped in an LRU cache for repeating columns."""
    column, *rest, normalize = spec
    if column not in _REPEATING_USER_COLUMNS:
        return spec
    return (column, *rest, lru_cache(maxsize=_MAX_CACHED)(normalize))


class RowMapper:
    """Turns row-contract rows into prepared events, counting everything in ``report``.

    ``fast_path=False`` builds every event on the general path (the reference the fast path is
    tested against; the output is the same either way, only slower).
    """

    def __init__(
        self,
        options: MappingOptions,
        report: Report,
        *,
        clock: Callable[[], float] = time.time,
        fast_path: bool = True,
    ):
        self.options = options
        self._use_fast_path = fast_path
        self.report = report
        self._clock = clock
        self._tz = ZoneInfo(options.source_timezone) if options.source_timezone else None
        self._singular = options.user_schema == "singular"
        self._default_type = (
            resolve_event_type(options.default_event_type) if options.default_event_type else None
        )
        self._type_cache: dict[str, tuple[str, str | None] | None] = {}
        #: raw event_type value -> its resolution, for values that resolved (the hot path's lookup)
        self._resolved_types: dict[str, tuple[str, str | None]] = {}
        #: raw currency value -> normalized code, for values that were valid
        self._currencies: dict[str, str] = {}
        self._plans: dict[tuple[str, ...], _ColumnPlan] = {}
        self._last_plan: _ColumnPlan | None = None
        self._valid_urls: set[str] = set()
        #: row groups the fast path left to the general path (the rest took the fast path)
        self.fast_path_declined = 0

    def map_rows(self, rows: Iterable[Mapping[str, Any]]) -> Iterator[PreparedEvent]:
        """Events of row-contract dicts (rows may differ in their columns)."""
        plan: _ColumnPlan | None = None
        fast: FastBuilder | None = None
        for group in _groups(rows, self.report, lambda row: row.get("event_id")):
            columns = tuple(group[0])
            if plan is None or plan.columns != columns:
                plan = self._plan_for(columns)
                fast = self._fast_builder(plan, "name")
            prepared = self._prepare(group, fast, None)
            if prepared is not None:
                yield prepared

    def map_records(
        self, columns: Sequence[str], records: Iterable[Sequence[Any]]
    ) -> Iterator[PreparedEvent]:
        """Events of database records: sequences of values in the order of ``columns``.

        The same as ``map_rows`` over ``dict(zip(columns, record))``, without building the dicts
        for the rows the fast path takes.
        """
        columns = tuple(columns)
        duplicates = duplicate_columns(columns)
        if duplicates:
            raise ValueError(f"duplicate column names: {duplicates}")
        if "event_id" not in columns:  # the general path rejects every row, by name
            yield from self.map_rows(dict(zip(columns, record, strict=True)) for record in records)
            return
        fast = self._fast_builder(self._plan_for(columns), "position")
        id_at = columns.index("event_id")
        for group in _groups(records, self.report, itemgetter(id_at)):
            prepared = self._prepare(group, fast, columns)
            if prepared is not None:
                yield prepared

    def _fast_builder(self, plan: _ColumnPlan, read_by: Literal["name", "position"]) -> FastBuilder | None:
        if not self._use_fast_path:
            return None
        builders = plan.fast_builders
        if read_by not in builders:
            key = (
                (lambda position, column: column)
                if read_by == "name"
                else (lambda position, column: position)
            )
            builders[read_by] = fast_builder(self, plan, key)
        return builders[read_by]

    def _prepare(
        self, group: list[Any], fast: FastBuilder | None, columns: tuple[str, ...] | None
    ) -> PreparedEvent | None:
        """The prepared event of one row group, or None after counting why there is none.

        ``group`` holds dicts, or records in the order of ``columns``. The fast path builds
        the event if it can; otherwise the general path decides, on dicts.
        """
        now_ms = int(self._clock() * 1000)
        built = None
        if fast is not None:
            try:
                built = fast(group, now_ms)
            except Exception:  # any surprise: the general path decides, and reports it precisely
                built = None
        if built is not None:
            event, match_keys = built
            event_id = event["id"]
        else:
            self.fast_path_declined += 1
            if columns is not None:
                group, columns = _as_dicts(columns, group), None
            event, event_id = self._build_general(group, now_ms)
            if event is None:
                return None
            match_keys = None
        try:
            payload = orjson.dumps(event)
        except TypeError:  # a lone surrogate in some text, or an integer beyond 64 bits
            self.report.add_outcome(
                Rejection(
                    event_id,
                    "invalid_text",
                    "a value cannot be encoded as JSON (invalid Unicode or an out-of-range integer)",
                    _unencodable_column(group if columns is None else _as_dicts(columns, group)),
                    rows=len(group),
                ),
                events=0,
            )
            return None
        report = self.report
        report.events_built += 1
        report.match_key_sets[match_keys if match_keys is not None else match_keys_of(event)] += 1
        return PreparedEvent(event_id, event["timestamp_ms"], payload, len(group))

    def _build_general(
        self, group: list[Mapping[str, Any]], now_ms: int
    ) -> tuple[dict[str, Any] | None, str | None]:
        """The general path: the event, or None after counting the rejection or skip."""
        event_id = None
        try:
            event_id = parse_event_id(group[0].get("event_id"))
            return self._build(group, event_id, now_ms), event_id
        except RowRejected as rejected:
            self.report.add_outcome(
                Rejection(event_id, rejected.reason, rejected.message, rejected.field, rows=len(group)),
                events=0,
            )
            return None, event_id

    def _plan(self, row: Mapping[str, Any]) -> _ColumnPlan:
        return self._plan_for(tuple(row))

    def _plan_for(self, columns: tuple[str, ...]) -> _ColumnPlan:
        plan = self._last_plan
        if plan is not None and plan.columns == columns:  # rows of one query: the same names, in order
            return plan
        plan = self._plans.get(columns)
        if plan is None:
            if len(self._plans) >= _MAX_CACHED:
                self._plans.clear()
            plan = self._plans[columns] = _ColumnPlan(columns)
        self._last_plan = plan
        return plan

    def _build(self, group: list[Mapping[str, Any]], event_id: str, now_ms: int) -> dict[str, Any] | None:
        row = group[0]
        plan = self._plan(row)
        if len(group) > 1:
            _check_consistent(group, plan)
        event_type, custom_name = self._event_type(row)
        timestamp_ms = self._timestamp_ms(row.get("event_time"))
        if not now_ms - MAX_EVENT_AGE_MS <= timestamp_ms <= now_ms + MAX_FUTURE_SKEW_MS:
            if window_violation(timestamp_ms, now_ms) == "too_old":
                raise RowRejected(
                    "too_old",
                    "event_time",
                    "event_time is more than 7 days ago; the Conversions API only accepts events from the last "
                    "7 days, so older conversions cannot be sent (not even by a backfill)",
                )
            raise RowRejected(
                "too_far_in_future", "event_time", "event_time is more than 10 minutes in the future"
            )

        event: dict[str, Any] = {"id": event_id, "type": event_type, "timestamp_ms": timestamp_ms}
        if custom_name is not None:
            event["custom_event_name"] = custom_name

        get = row.get
        action_source = text_or_none(get("action_source"), "action_source")
        if action_source:
            action_source = action_source.lower()
        elif event_type in APP_EVENT_TYPES:
            action_source = "mobile_app"  # required for app events; a general default does not apply
        else:
            action_source = self.options.default_action_source
        if event_type in APP_EVENT_TYPES:
            if action_source is None:
                action_source = "mobile_app"
            elif action_source != "mobile_app":
                raise RowRejected(
                    "invalid_action_source", "action_source", f"{event_type} requires 'mobile_app'"
                )
        if action_source is not None:
            if action_source not in ACTION_SOURCES:
                raise RowRejected(
                    "invalid_action_source",
                    "action_source",
                    f"must be one of {', '.join(sorted(ACTION_SOURCES))}",
                )
            event["action_source"] = action_source

        source_url = text_or_none(get("source_url"), "source_url")
        if source_url:
            if source_url not in self._valid_urls:  # a query's URLs repeat
                try:
                    parts = urlsplit(source_url)
                except ValueError:
                    parts = None
                if parts is None or parts.scheme not in ("http", "https") or not parts.netloc:
                    raise RowRejected(
                        "invalid_source_url", "source_url", "must be an http(s) URL with a host"
                    )
                if len(self._valid_urls) < _MAX_CACHED:
                    self._valid_urls.add(source_url)
            event["source_url"] = source_url
        elif action_source == "web":
            raise RowRejected("missing_source_url", "source_url", "source_url is required for web events")

        oppref = text_or_none(get("oppref"), "oppref")
        if oppref:
            event["oppref"] = oppref

        opt_out, consent = get("opt_out"), get("consent")
        if opt_out is not None:
            opt_out = parse_flag(opt_out, "opt_out")
        if consent is not None:
            consent = parse_flag(consent, "consent")
        if consent is False:
            if self.options.consent_policy == "drop":
                self.report.add_outcome(
                    Rejection(
                        event_id, "consent_withheld", "consent is false", "consent", len(group), "skipped"
                    ),
                    events=0,
                )
                return None
            opt_out = True
        if opt_out is not None:
            event["opt_out"] = opt_out

        user = self._user(row, plan)
        if user:
            event["user"] = user
        event["data"] = self._data(group, DATA_TYPE_FOR_EVENT[event_type])
        return event

    # -- event type and time -------------------------------------------------------------

    def _event_type(self, row: Mapping[str, Any]) -> tuple[str, str | None]:
        raw = row.get("event_type")
        resolved = self._resolved_types.get(raw) if type(raw) is str else None
        if resolved is None:
            resolved = self._resolve_event_type(raw)
        event_type, custom_name = resolved
        explicit_custom = row.get("custom_event_name")
        if explicit_custom is not None:
            explicit_custom = text_or_none(explicit_custom, "custom_event_name")
        if explicit_custom is not None:
            if event_type != "custom":
                raise RowRejected(
                    "unexpected_custom_event_name",
                    "custom_event_name",
                    f"only custom events take one, not {event_type}",
                )
            custom_name = normalize_custom_event_name(explicit_custom)
        if event_type == "custom" and custom_name is None:
            raise RowRejected(
                "invalid_custom_event_name",
                "custom_event_name",
                "must be 1-64 letters, digits, '_' or '-', start and end with a letter or digit, "
                "and not be a standard event name",
            )
        return event_type, custom_name

    def _resolve_event_type(self, raw: object) -> tuple[str, str | None]:
        name = text_or_none(raw, "event_type")
        if name is None:
            if self._default_type is None:
                raise RowRejected(
                    "missing_event_type", "event_type", "no event_type and no default event type"
                )
            return self._default_type
        resolved = self._type_cache.get(name, _UNSEEN)
        if resolved is _UNSEEN:
            resolved = resolve_event_type(name, self.options.event_type_map)
            if len(self._type_cache) < _MAX_CACHED:
                self._type_cache[name] = resolved
        if resolved is None:
            raise RowRejected(
                "invalid_event_type",
                "event_type",
                "neither an OpenAI event type, a known alias (GA4, Segment, Meta), nor a valid custom event "
                "name; map it with event_type_map",
            )
        if type(raw) is str and len(self._resolved_types) < _MAX_CACHED:
            self._resolved_types[raw] = resolved
        return resolved

    def _timestamp_ms(self, value: object) -> int:
        if type(value) is dt.datetime and type(value.tzinfo) is dt.timezone:  # fixed offset: the common case
            return (value - _EPOCH) // _ONE_MS
        if value is None:
            raise RowRejected("missing_event_time", "event_time", "event_time is required")
        if isinstance(value, str):
            text = value.strip()
            if is_number_text(text):
                value = Decimal(text)
            elif "T" not in text.upper() and " " not in text and ":" not in text:
                raise RowRejected(
                    "invalid_event_time", "event_time", "a date without a time of day is not a timestamp"
                )
            else:
                try:
                    value = dt.datetime.fromisoformat(
                        text[:-1] + "+00:00" if text.endswith(("Z", "z")) else text
                    )
                except ValueError:
                    raise RowRejected(
                        "invalid_event_time", "event_time", "not an ISO-8601 timestamp or epoch number"
                    ) from None
        if isinstance(value, dt.datetime):
            if value.tzinfo is None or value.utcoffset() is None:
                if self._tz is None:
                    raise RowRejected(
                        "naive_event_time",
                        "event_time",
                        "timestamp has no time zone; use a tz-aware column or set source_timezone",
                    )
                value = value.replace(tzinfo=self._tz)
            return (value - _EPOCH) // _ONE_MS
        if isinstance(value, dt.date):
            raise RowRejected(
                "invalid_event_time", "event_time", "a date without a time of day is not a timestamp"
            )
        if isinstance(value, int | float | Decimal) and not isinstance(value, bool):
            number = Decimal(repr(value)) if isinstance(value, float) else Decimal(value)
            if not number.is_finite():
                raise RowRejected("invalid_event_time", "event_time", "timestamp is not a finite number")
            if number.adjusted() > 15:  # far outside the window; never build a huge integer for it
                return _FAR_FUTURE_MS if number > 0 else 0
            return int(number if abs(number) >= _EPOCH_MS_THRESHOLD else number * 1000)
        raise RowRejected("invalid_event_time", "event_time", f"unsupported type {type(value).__name__}")

    # -- user --------------------------------------------------------------------------------

    def _user(self, row: Mapping[str, Any], plan: _ColumnPlan) -> dict[str, Any]:
        user: dict[str, Any] = {}
        self._add_user_lists(user, plan.user_columns, plan.user_values(row))
        if plan.geo_columns:  # after the identifiers, as in USER_COLUMNS
            raw = plan.geo_values(row)
            try:
                entry = plan.geo_memo.get(raw)
            except TypeError:  # an unhashable value (a list of cities)
                entry = None
            if entry is None:
                entry = _geo_entry(plan.geo_columns, raw)
                if entry is not None and len(plan.geo_memo) < _MAX_CACHED:
                    plan.geo_memo[raw] = entry
            if entry is None:  # values of other types: column by column
                self._add_user_lists(user, plan.geo_columns, raw)
            else:
                user.update(entry[0])  # shared lists: events are serialized at once, never modified
                for column in entry[1]:
                    self.report.dropped_fields[f"{column}:invalid"] += 1
        for column, normalize in plan.scalar_columns:
            raw = row[column]
            if raw is None:
                continue
            if type(raw) is str:
                if len(raw) > MAX_VALUE_CHARS:
                    raise too_large(column, raw)
                value = normalize(raw)
            else:
                value = None
            if value is not None:
                user[column] = value
            else:
                self.report.dropped_fields[f"{column}:invalid"] += 1
        if self._singular and user:
            user = _to_singular(user, self.report)
        return user

    def _add_user_lists(self, user: dict[str, Any], specs: tuple, raws: Iterable[object]) -> None:
        """Normalize (or hash) list-valued user columns into ``user``, counting what is dropped."""
        for (column, key, normalize), raw in zip(specs, raws, strict=True):
            if type(raw) is str:  # the common case, kept off the generic path
                value = normalize(raw)
                if value is not None:
                    user[key] = [value]
                else:
                    self.report.dropped_fields[f"{column}:invalid"] += 1
            elif raw is not None:
                values = _user_values(raw, column, normalize, self.report)
                if values:
                    user[key] = values

    # -- data ----------------------------------------------------------------------------------

    def _currency(self, value: object, column: str) -> str:
        code = self._currencies.get(value) if type(value) is str else None
        if code is None:
            code = parse_currency(value, column)
            if type(value) is str and len(self._currencies) < _MAX_CACHED:
                self._currencies[value] = code
        return code

    def _data(self, group: list[Mapping[str, Any]], shape: str) -> dict[str, Any]:
        row = group[0]
        data: dict[str, Any] = {"type": shape}
        currency = row.get("currency")
        currency = (
            self._currency(currency, "currency") if currency is not None else self.options.default_currency
        )
        amount, value = row.get("amount"), row.get("value")
        if amount is not None and value is not None:
            raise RowRejected(
                "ambiguous_amount", "amount", "give either amount (minor units) or value, not both"
            )
        if amount is not None or value is not None:
            column = "amount" if amount is not None else "value"
            if currency is None:
                raise RowRejected("missing_currency", "currency", f"a currency is required with {column}")
            data["amount"] = minor_units(amount, value, currency, column)
            data["currency"] = currency
        elif currency is not None:
            data["currency"] = currency

        items = _items(group, currency, self.report)
        if items:
            if shape in SHAPES_WITH_CONTENTS:
                data["contents"] = items
            else:
                self.report.dropped_fields[f"contents:not_allowed_for_{shape}"] += 1
        plan_id = row.get("plan_id")
        if plan_id is not None:
            plan_id = text_or_none(plan_id, "plan_id", allow_numbers=True)
            if plan_id is None:
                pass
            elif shape in SHAPES_WITH_PLAN_ID:
                data["plan_id"] = plan_id
            else:
                self.report.dropped_fields[f"plan_id:not_allowed_for_{shape}"] += 1
        return data


# -- API-shaped events (handed in by users, e.g. through XCom) --------------------------------


def is_api_shaped(event: Mapping[str, Any]) -> bool:
    return "timestamp_ms" in event and "data" in event


def prepare_api_events(
    events: Iterable[Mapping[str, Any]],
    report: Report,
    *,
    user_schema: str = "lists",
    clock: Callable[[], float] = time.time,
) -> Iterator[PreparedEvent]:
    """Validate API-shaped event dicts through the pydantic schema and prepare them."""
    for event in events:
        report.rows_read += 1
        event_id = event.get("id")
        event_id = (
            str(event_id) if isinstance(event_id, str | int) and not isinstance(event_id, bool) else None
        )
        try:
            model = validate_event(dict(event), now_ms=int(clock() * 1000), user_schema=user_schema)
        except ValidationError as exc:
            path, code, message = describe_errors(exc)[0]
            reason = {"event_timestamp_too_old": "too_old", "event_timestamp_in_future": "too_far_in_future"}
            report.add_outcome(Rejection(event_id, reason.get(code, code), message, path or None), events=0)
            continue
        event = dump_event(model)
        report.events_built += 1
        report.match_key_sets[match_keys_of(event)] += 1
        yield PreparedEvent.from_event(event)


# -- value helpers -----------------------------------------------------------------------------


def _user_values(
    raw: object, column: str, normalize: Callable[[str], str | None], report: Report
) -> list[str]:
    items = raw if isinstance(raw, list | tuple) else (raw,)
    values: list[str] = []
    for item in items:
        if item is None:
            continue
        if (
            isinstance(item, int)
            and not isinstance(item, bool)
            and column in ("phone", "external_id", "postal_code")
        ):
            item = str(item)
        if not isinstance(item, str):
            report.dropped_fields[f"{column}:invalid_type"] += 1
            continue
        value = normalize(item)
        if value is None:
            report.dropped_fields[f"{column}:invalid"] += 1
        elif value not in values:
            if len(values) == MAX_USER_LIST_VALUES:
                report.dropped_fields[f"{column}:over_{MAX_USER_LIST_VALUES}_values"] += 1
                break
            values.append(value)
    return values


def _to_singular(user: dict[str, Any], report: Report) -> dict[str, Any]:
    singular: dict[str, Any] = {}
    for key, value in user.items():
        if not isinstance(value, list):
            if key == "android_advertising_id":
                report.dropped_fields[f"{key}:not_in_user_schema"] += 1
            else:
                singular[key] = value
        elif key in _SINGULAR_USER_KEYS:
            singular[_SINGULAR_USER_KEYS[key]] = value[0]
        else:
            report.dropped_fields[f"{key}:not_in_user_schema"] += 1
    return singular


#: item text column -> content item key, and whether numbers are accepted as text
_ITEM_TEXT_COLUMNS = (
    ("item_id", "id", True),
    ("item_group_id", "group_id", True),
    ("item_name", "name", True),
    ("item_content_type", "content_type", False),
)


def _items(group: list[Mapping[str, Any]], currency: str | None, report: Report) -> list[dict[str, Any]]:
    contents = group[0].get("contents")
    if contents is not None:
        return parse_contents(contents, currency)
    items = []
    for row in group:
        get = row.get
        item_id, name = get("item_id"), get("item_name")
        if item_id is None and name is None:
            if any(get(column) is not None for column in ITEM_COLUMNS):
                report.dropped_fields["contents:item_without_id_or_name"] += 1
            continue
        item: dict[str, Any] = {}
        for column, key, allow_numbers in _ITEM_TEXT_COLUMNS:
            value = get(column)
            if value is not None:
                value = text_or_none(value, column, allow_numbers=allow_numbers)
                if value:  # blank is left out like NULL
                    item[key] = value
        quantity = get("item_quantity")
        if quantity is not None:
            item["quantity"] = (
                quantity
                if type(quantity) is int and 1 <= quantity <= MAX_QUANTITY
                else parse_quantity(quantity, "item_quantity")
            )
        item_currency = get("item_currency")
        item_currency = parse_currency(item_currency, "item_currency") if item_currency is not None else None
        amount, price = get("item_amount"), get("item_price")
        if amount is not None or price is not None:
            column = "item_amount" if amount is not None else "item_price"
            if amount is not None and price is not None:
                raise RowRejected(
                    "ambiguous_amount", column, "give either item_amount or item_price, not both"
                )
            effective = item_currency or currency
            if effective is None:
                raise RowRejected(
                    "missing_currency", "item_currency", f"a currency is required with {column}"
                )
            item["amount"] = minor_units(amount, price, effective, column)
        if item_currency is not None:
            item["currency"] = item_currency
        variant = get("item_variant")
        if variant is not None:
            item["variant_dict"] = parse_variant(variant)
        items.append(item)
    return items


#: the columns merged rows must agree on: row-contract columns that are not per line item
_EVENT_LEVEL_COLUMNS = frozenset(EVENT_COLUMNS) - {"contents"}


def _as_dicts(columns: tuple[str, ...], records: list[Sequence[Any]]) -> list[dict[str, Any]]:
    return [dict(zip(columns, record, strict=True)) for record in records]


def _groups(rows: Iterable[Any], report: Report, event_id_of: Callable[[Any], object]) -> Iterator[list[Any]]:
    """Runs of consecutive rows with the same (non-NULL) event id, counting every row read.

    Rows are counted in a local and added to ``report.rows_read`` whenever control leaves the
    generator (a yield, an error, the end), so the report is exact wherever it can be read.
    """
    group: list[Any] = []
    group_id: object = None
    unreported = 0
    try:
        for row in rows:
            unreported += 1
            row_id = event_id_of(row)
            try:
                same = group and row_id is not None and row_id == group_id
            except ArithmeticError:  # Decimal('sNaN') refuses comparisons
                same = False
            if same:
                group.append(row)
                continue
            if group:
                report.rows_read += unreported
                unreported = 0
                yield group
            group = [row]
            group_id = row_id
        if group:
            report.rows_read += unreported
            unreported = 0
            yield group
    finally:
        report.rows_read += unreported


def _same_value(a: object, b: object) -> bool:
    try:
        return bool(a == b)
    except ArithmeticError:  # Decimal('sNaN')
        return a is b


def _unencodable_column(group: list[Mapping[str, Any]]) -> str | None:
    """The first column holding text JSON cannot carry (a lone surrogate) or a too-large integer."""
    for row in group:
        for column, value in row.items():
            if isinstance(value, str):
                try:
                    value.encode()
                except UnicodeEncodeError:
                    return column
            elif isinstance(value, int) and not -(2**63) <= value < 2**64:
                return column
    return None


def _check_consistent(group: list[Mapping[str, Any]], plan: _ColumnPlan) -> None:
    """Rows merged into one event must agree on every event-level column."""
    first = group[0]
    first_values = plan.event_values(first)
    for row in group[1:]:
        # a row with the first row's columns is compared in one pass; any difference, or other
        # columns, takes the column-by-column loop, which names the first differing column
        try:
            if tuple(row) == plan.columns and not any(map(ne, first_values, plan.event_values(row))):
                continue
        except ArithmeticError:  # Decimal('sNaN') refuses comparisons: compare column by column
            pass
        for column, value in row.items():
            if column in _EVENT_LEVEL_COLUMNS and not _same_value(first.get(column), value):
                raise RowRejected(
                    "conflicting_duplicate",
                    column,
                    f"{len(group)} consecutive rows share this event_id but disagree on {column}",
                )


def match_keys_of(event: dict[str, Any]) -> str:
    """The match keys a built event carries, comma-joined (the key of ``Report.match_key_sets``):
    each ``user`` key, then ``oppref`` and ``opt_out``."""
    keys = list(event.get("user") or ())
    if "oppref" in event:
        keys.append("oppref")
    if event.get("opt_out"):
        keys.append("opt_out")
    return ",".join(keys)


assert set(DATA_TYPE_FOR_EVENT) == EVENT_TYPES
