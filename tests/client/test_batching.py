"""Packing of prepared events into request bodies: counts, byte caps, oversized events, laziness."""

from __future__ import annotations

import itertools

import orjson
import pytest

from airflow_provider_openai_ads.conversions.batching import (
    DEFAULT_MAX_REQUEST_BYTES,
    PreparedEvent,
    iter_batches,
    request_body,
)
from airflow_provider_openai_ads.conversions.report import Rejection

from . import NOW_MS, event, prepared


def _batches(events, **kwargs):
    rejected: list[Rejection] = []
    batches = list(iter_batches(events, on_oversized=rejected.append, **kwargs))
    return batches, rejected


def test_prepared_event_serializes_once_and_keeps_id_and_timestamp():
    raw = event(1)
    pe = PreparedEvent.from_event(raw, rows=3)
    assert pe.event_id == "evt-1"
    assert pe.timestamp_ms == raw["timestamp_ms"]
    assert pe.rows == 3
    assert orjson.loads(pe.payload) == raw
    assert (
        repr(pe) == f"PreparedEvent(id='evt-1', timestamp_ms={raw['timestamp_ms']}, bytes={len(pe.payload)})"
    )


def test_2500_events_make_1000_1000_500_in_order():
    events = prepared(2500)
    batches, rejected = _batches(events)
    assert [len(b) for b in batches] == [1000, 1000, 500]
    assert [e for b in batches for e in b] == events
    assert rejected == []


@pytest.mark.parametrize(
    ("n", "max_events", "sizes"), [(1, 1000, [1]), (1000, 1000, [1000]), (7, 3, [3, 3, 1])]
)
def test_batch_sizes(n, max_events, sizes):
    batches, _ = _batches(prepared(n), max_events=max_events)
    assert [len(b) for b in batches] == sizes


def test_no_events_no_batches():
    assert _batches([]) == ([], [])


@pytest.mark.parametrize("max_events", [0, 1001, -1])
def test_max_events_outside_api_limit_is_refused(max_events):
    with pytest.raises(ValueError, match="max_events"):
        list(iter_batches(prepared(2), max_events=max_events, on_oversized=lambda r: None))


@pytest.mark.parametrize("integration_source", [None, "acme_measurement", "x" * 64])
@pytest.mark.parametrize("validate_only", [True, False])
def test_byte_cap_splits_batches_and_every_body_fits(integration_source, validate_only):
    events = [PreparedEvent.from_event(event(i)) for i in range(1000, 1200)]  # equal sizes
    size = len(events[0].payload)
    cap = 128 + 10 * (size + 1)  # room for exactly ten events
    batches, rejected = _batches(events, max_bytes=cap)
    assert rejected == []
    assert [len(b) for b in batches] == [10] * 20
    for batch in batches:
        body = request_body(batch, validate_only=validate_only, integration_source=integration_source)
        assert len(body) <= cap
    assert [e for b in batches for e in b] == events


def test_event_count_cap_applies_before_byte_cap():
    batches, _ = _batches(prepared(25), max_events=10, max_bytes=DEFAULT_MAX_REQUEST_BYTES)
    assert [len(b) for b in batches] == [10, 10, 5]


def test_oversized_event_is_rejected_and_the_others_batched():
    events = prepared(5)
    big = dict(event("big"), data={"type": "custom", "note": "x" * 5000})
    big_event = PreparedEvent.from_event(big, rows=2)
    stream = [*events[:2], big_event, *events[2:]]
    batches, rejected = _batches(stream, max_event_bytes=1000)
    assert [e for b in batches for e in b] == events
    assert len(rejected) == 1
    rejection = rejected[0]
    assert (rejection.event_id, rejection.reason, rejection.outcome, rejection.rows) == (
        "evt-big",
        "event_too_large",
        "rejected",
        2,
    )
    assert "1000-byte limit" in rejection.message


def test_event_cap_is_bounded_by_the_request_cap():
    """An event that cannot fit in any request body is rejected even under a generous per-event cap."""
    events = prepared(3)
    cap = 128 + len(events[0].payload)  # one byte short of the room one event needs
    batches, rejected = _batches(events, max_bytes=cap, max_event_bytes=10**9)
    assert batches == []
    assert [r.reason for r in rejected] == ["event_too_large"] * 3


def test_batches_are_yielded_lazily():
    consumed = itertools.count()

    def endless():
        for i in itertools.count():
            next(consumed)
            yield PreparedEvent.from_event(event(i))

    batches = iter_batches(endless(), max_events=10, on_oversized=lambda r: None)
    first = next(batches)
    assert len(first) == 10
    assert next(consumed) <= 12  # the eleventh event closes the first batch; nothing more is read


@pytest.mark.parametrize(
    ("validate_only", "integration_source", "expected_keys"),
    [
        (False, None, {"events", "validate_only"}),
        (True, None, {"events", "validate_only"}),
        (True, "acme_measurement", {"events", "validate_only", "integration_source"}),
    ],
)
def test_request_body_is_a_valid_envelope(validate_only, integration_source, expected_keys):
    events = [event(1), event(2, ts_ms=NOW_MS - 1)]
    body = orjson.loads(
        request_body(
            [PreparedEvent.from_event(e) for e in events],
            validate_only=validate_only,
            integration_source=integration_source,
        )
    )
    assert set(body) == expected_keys
    assert body["events"] == events
    assert body["validate_only"] is validate_only
    assert body.get("integration_source") == integration_source


def test_request_body_escapes_integration_source():
    body = request_body(prepared(1), validate_only=False, integration_source='a"b')
    assert orjson.loads(body)["integration_source"] == 'a"b'


@pytest.mark.parametrize("count", [0, 1, 2, 7])
@pytest.mark.parametrize("integration_source", [None, "acme_measurement"])
def test_request_body_is_the_envelope_around_the_joined_payloads(count, integration_source):
    events = prepared(count)
    payloads = [e.payload for e in events]
    body = request_body(events, validate_only=True, integration_source=integration_source)
    tail = b',"integration_source":"acme_measurement"' if integration_source else b""
    assert body == b'{"events":[' + b",".join(payloads) + b'],"validate_only":true' + tail + b"}"
    assert [e.payload for e in events] == payloads  # the events are untouched: a resend rebuilds the body
    assert request_body(events[1:], validate_only=True, integration_source=integration_source).startswith(
        b'{"events":[' + (payloads[1] if count > 1 else b"]")
    )
