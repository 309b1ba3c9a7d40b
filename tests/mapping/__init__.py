"""Shared helpers for the row-mapping tests (row contract, bad-input corpus, properties).

Every test maps its rows through :func:`map_rows`, which holds each run to the invariants that
must hold for *any* input, so no test can forget them:

- every built event validates against the pydantic reference schema (``schema.validate_event``,
  with the same clock and user schema) and carries no ``null`` value (Appendix A, rule 11);
- every input row is accounted for exactly once: once the built events are counted as sent,
  ``rows_read`` equals the sum of rows over the outcomes (sent / rejected / skipped);
- every rejection names a reason and a field, and no report content (rejections, dropped-field
  keys, samples) quotes a raw email, phone, name or external id from the input;
- no payload contains a raw email or phone number;
- the fast path changes nothing: the same rows mapped on the general path alone
  (``fast_path=False``), and as database records (``map_records``) where the rows share their
  columns, give byte-identical payloads, the same rejections and the same report.

Only the public surface of ``conversions.mapping`` is used (``RowMapper``, ``MappingOptions``,
``rename_columns``...), so the tests hold whatever the implementation does internally.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

import orjson

from airflow_provider_openai_ads.conversions import identity, schema
from airflow_provider_openai_ads.conversions.batching import PreparedEvent
from airflow_provider_openai_ads.conversions.mapping import MappingOptions, RowMapper
from airflow_provider_openai_ads.conversions.report import Rejection, Report

#: the fixed clock of every test: 2026-03-19T04:00:00Z
NOW_S = 1_773_892_800
NOW_MS = NOW_S * 1000
#: a valid event time: one hour before NOW (2026-03-19T03:00:00Z)
RECENT_S = NOW_S - 3600
RECENT_MS = RECENT_S * 1000
RECENT_DT = dt.datetime(2026, 3, 19, 3, 0, tzinfo=dt.timezone.utc)
assert int(RECENT_DT.timestamp()) == RECENT_S

#: columns holding identifiers that must never leave the mapper unhashed
PII_COLUMNS = ("email", "phone", "external_id", "first_name", "last_name")
#: shorter raw values are not searched for (they occur in ordinary words by chance)
_MIN_PII_LENGTH = 3


def sha(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


@dataclass
class Mapped:
    """The outcome of one mapping run."""

    prepared: list[PreparedEvent]
    events: list[dict[str, Any]]
    report: Report
    rejections: list[Rejection]

    @property
    def event(self) -> dict[str, Any]:
        """The only event built (fails when there is not exactly one)."""
        assert len(self.events) == 1, f"expected one event, got {len(self.events)}: {self.rejections}"
        return self.events[0]

    @property
    def rejection(self) -> Rejection:
        """The only rejection / skip (fails when there is not exactly one)."""
        assert len(self.rejections) == 1, f"expected one rejection, got {self.rejections}"
        return self.rejections[0]

    def event_by_id(self, event_id: str) -> dict[str, Any]:
        matches = [e for e in self.events if e["id"] == event_id]
        assert len(matches) == 1, f"expected one event {event_id!r}, got {len(matches)}"
        return matches[0]

    def rejections_for(self, event_id: str | None) -> list[Rejection]:
        return [r for r in self.rejections if r.event_id == event_id]

    @property
    def dropped(self) -> dict[str, int]:
        return dict(self.report.dropped_fields)

    @property
    def ids(self) -> list[str]:
        return [e["id"] for e in self.events]


def map_rows(
    rows: Iterable[Mapping[str, Any]],
    *,
    now_s: float = NOW_S,
    check_pii: bool = True,
    **options: Any,
) -> Mapped:
    """Map ``rows`` with ``MappingOptions(**options)`` at a fixed clock and check every invariant."""
    rows = list(rows)
    mapping_options = MappingOptions(**options)
    prepared, rejections, report = _run(rows, mapping_options, now_s, "rows")
    reference = _run(rows, mapping_options, now_s, "general path")
    assert _outcome(prepared, rejections, report) == _outcome(*reference), "the fast path changed the outcome"
    columns = tuple(rows[0]) if rows else ()
    if all(tuple(row) == columns for row in rows):
        as_records = _run(rows, mapping_options, now_s, "records")
        assert _outcome(*as_records) == _outcome(*reference), "map_records differs from map_rows"
    events = [orjson.loads(p.payload) for p in prepared]
    now_ms = int(now_s * 1000)

    for p, event in zip(prepared, events, strict=True):
        schema.validate_event(event, now_ms=now_ms, user_schema=mapping_options.user_schema)
        assert_no_nulls(event)
        assert p.event_id == event["id"]
        assert p.timestamp_ms == event["timestamp_ms"]
        assert p.rows >= 1

    # every row accounted for exactly once: rows of built events count as sent (as a delivery
    # would count them), every other row under its outcome
    assert report.rows_read == len(rows)
    assert report.events_built == len(prepared)
    assert sum(r.rows for r in rejections) == report.rows_accounted
    assert report.events_accounted == 0  # not built means: never became an event
    report.add_sent(len(prepared), sum(p.rows for p in prepared))
    assert report.rows_read == report.rows_accounted, (report.rows_read, dict(report.rows))
    assert report.events_accounted == len(prepared)

    for rejection in rejections:
        assert isinstance(rejection.reason, str)
        assert rejection.reason
        assert rejection.field, rejection
        assert rejection.message
        assert rejection.outcome in ("rejected", "skipped")

    if check_pii:
        raw = set(raw_pii(rows))
        report_text = json.dumps(report.to_dict(), default=str) + repr(rejections)
        for value in raw:
            assert value not in report_text, f"raw identifier {value!r} in the report"
        contact = set(raw_pii(rows, columns=("email", "phone")))
        for event in events:
            for text in payload_strings(event):
                for value in contact:
                    assert value not in text, f"raw identifier {value!r} in a payload"
    return Mapped(prepared, events, report, rejections)


def _run(
    rows: list[Mapping[str, Any]], options: MappingOptions, now_s: float, how: str
) -> tuple[list[PreparedEvent], list[Rejection], Report]:
    rejections: list[Rejection] = []
    report = Report(sink=rejections.append)
    mapper = RowMapper(options, report, clock=lambda: now_s, fast_path=how != "general path")
    if how == "records":
        columns = tuple(rows[0]) if rows else ()
        prepared = list(mapper.map_records(columns, [tuple(row.values()) for row in rows]))
    else:
        prepared = list(mapper.map_rows(rows))
    return prepared, rejections, report


def _outcome(prepared: list[PreparedEvent], rejections: list[Rejection], report: Report) -> tuple:
    """What a mapping run produced, comparable across runs (the report without its timings)."""
    counts = {k: v for k, v in report.to_dict().items() if k not in ("duration_s", "events_per_s")}
    return [(p.event_id, p.timestamp_ms, p.payload, p.rows) for p in prepared], rejections, counts


def assert_no_nulls(value: Any, path: str = "event") -> None:
    """Appendix A, rule 11: keys with ``None`` values are omitted, never sent as ``null``."""
    if isinstance(value, dict):
        for key, item in value.items():
            assert item is not None, f"{path}.{key} is null"
            assert_no_nulls(item, f"{path}.{key}")
    elif isinstance(value, list):
        for index, item in enumerate(value):
            assert_no_nulls(item, f"{path}[{index}]")


def payload_strings(value: Any) -> Iterator[str]:
    """Every string (keys and values) of a parsed payload."""
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for key, item in value.items():
            yield key
            yield from payload_strings(item)
    elif isinstance(value, list):
        for item in value:
            yield from payload_strings(item)


def raw_pii(rows: Iterable[Mapping[str, Any]], columns: Iterable[str] = PII_COLUMNS) -> Iterator[str]:
    """The raw identifier strings of ``rows`` (and their trimmed / normalized forms) worth searching for.

    A value that other (non-identifier) columns of the input also hold is skipped: finding it
    elsewhere proves nothing. Pre-hashed values (64-hex) are meant to be sent and are skipped.
    """
    columns = tuple(columns)
    rows = list(rows)
    others = {
        str(v)
        for row in rows
        for k, v in row.items()
        if k not in PII_COLUMNS and not (isinstance(v, int) and v.bit_length() > 10_000)
    }
    others |= {v.strip().lower() for v in others}
    for row in rows:
        for column in columns:
            value = row.get(column)
            values = value if isinstance(value, list | tuple) else (value,)
            for item in values:
                if column == "phone" and isinstance(item, int) and not isinstance(item, bool):
                    item = str(item)
                if not isinstance(item, str):
                    continue
                candidates = {item, item.strip(), item.strip().lower()}
                if column == "phone":
                    candidates.add(identity.normalize_phone(item) or "")
                if column in ("first_name", "last_name"):
                    candidates.add(identity.normalize_name(item) or "")
                for candidate in candidates:
                    if (
                        len(candidate) >= _MIN_PII_LENGTH
                        and not identity.is_sha256_hex(candidate)
                        and candidate not in others
                    ):
                        yield candidate
