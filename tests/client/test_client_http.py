"""ConversionsClient against the real emulator over loopback HTTP.

The emulator judges time windows with the real clock, so events are stamped from ``time.time``.
Retries never sleep for real: the injected ``sleep`` records the delay and, where a test needs a
fault to clear, switches it off in the emulator before the resend.
"""

from __future__ import annotations

import gc
import logging
import sys
import threading
import time
from collections.abc import Callable
from typing import Any

import httpx
import orjson
import pytest

from airflow_provider_openai_ads.conversions import client as client_module
from airflow_provider_openai_ads.conversions.client import (
    AuthenticationError,
    ConversionsClient,
    RetryPolicy,
)
from airflow_provider_openai_ads.conversions.report import Report

from . import DAY_MS, assert_accounted

pytestmark = pytest.mark.timeout(60)


def now_ms() -> int:
    return int(time.time() * 1000)


def events(n: int, *, prefix: str = "evt", ts_ms: int | None = None) -> list[dict[str, Any]]:
    stamp = now_ms() - 60_000 if ts_ms is None else ts_ms
    return [
        {
            "id": f"{prefix}-{i}",
            "type": "page_viewed",
            "timestamp_ms": stamp,
            "action_source": "other",
            "data": {"type": "contents"},
        }
        for i in range(n)
    ]


class Sleeper:
    """An injected ``sleep`` that records and returns at once, running ``on_sleep`` first."""

    def __init__(self, on_sleep: Callable[[float], None] | None = None) -> None:
        self.sleeps: list[float] = []
        self.on_sleep = on_sleep
        self._lock = threading.Lock()

    def __call__(self, seconds: float) -> None:
        with self._lock:
            self.sleeps.append(seconds)
        if self.on_sleep is not None:
            self.on_sleep(seconds)


def make_client(emulator, sleeper: Sleeper | None = None, **kwargs) -> ConversionsClient:
    options = {
        "api_key": emulator.api_key,
        "pixel_id": emulator.pixel_id,
        "base_url": emulator.url,
        "sleep": sleeper or Sleeper(),
        "timeout": 10.0,
    }
    options.update(kwargs)
    return ConversionsClient(**options)


def send(emulator, batch, *, sleeper: Sleeper | None = None, validate_only=False, **kwargs) -> Report:
    with make_client(emulator, sleeper, **kwargs) as client:
        return client.send(batch, validate_only=validate_only)


def stored_ids(emulator) -> list[str]:
    return [e["id"] for e in emulator.events()]


def test_emulator_identities(emulator):
    assert emulator.api_key == "emulator-key"
    assert emulator.pixel_id == "emulator-pixel"
    assert emulator.url.startswith("http://127.0.0.1:")


def test_2500_events_go_out_as_three_requests(emulator):
    batch = events(2500)
    report = send(emulator, batch, integration_source="Acme_Measurement")
    stats = emulator.stats()
    assert stats.requests == 3
    assert stats.requests_by_status == {"200": 3}
    assert (stats.events_received, stats.events_accepted, stats.events_rejected) == (2500, 2500, 0)
    assert sorted(r.events for r in emulator.requests()) == [500, 1000, 1000]
    assert {r.integration_source for r in emulator.requests()} == {"acme_measurement"}
    assert sorted(emulator.events(), key=lambda e: int(e["id"].split("-")[1])) == batch
    assert (report.events["sent"], report.requests, report.retries) == (2500, 3, 0)
    assert_accounted(report, 2500)


def test_validate_only_is_judged_but_not_stored(emulator):
    report = send(emulator, events(1200), validate_only=True)
    stats = emulator.stats()
    assert (stats.validate_only_requests, stats.validate_only_events) == (2, 1200)
    assert stats.stored_events == 0
    assert emulator.events() == []
    assert report.validate_only is True
    assert report.events["sent"] == 1200
    assert_accounted(report, 1200)


def test_check_credentials_against_the_emulator(emulator):
    with make_client(emulator) as client:
        assert "emulator-pixel" in client.check_credentials()
    assert emulator.events() == []
    assert emulator.stats().validate_only_requests == 1


def test_poison_event_isolated_by_index(emulator):
    batch = events(1000)
    batch[7]["id"] = "poison-7"
    report = send(emulator, batch)
    records = emulator.requests()
    assert [(r.status, r.events) for r in records] == [(400, 1000), (200, 999)]
    assert records[0].param == "events[7]"
    assert "poison-7" not in stored_ids(emulator)
    assert len(stored_ids(emulator)) == 999
    (sample,) = report.samples
    assert sample["event_id"] == "poison-7"
    assert sample["reason"] == "invalid_event_rejected_by_server"
    assert sample["field"] == "id"
    assert sample["message"] == "The event was rejected by the server."
    assert_accounted(report, 1000)


def test_invalid_event_isolated_with_nested_code_and_field(emulator):
    batch = events(300)
    batch[42]["data"] = {"type": "customer_action"}  # page_viewed requires contents
    batch[250].pop("action_source")
    batch[250]["type"] = "app_opened"  # app events require action_source mobile_app
    batch[250]["data"] = {"type": "customer_action"}
    report = send(emulator, batch)
    assert report.events["rejected"] == 2
    assert report.events["sent"] == 298
    got = {s["event_id"]: (s["reason"], s["field"], s["message"]) for s in report.samples}
    assert got == {
        "evt-42": (
            "invalid_event_data_type",
            "data.type",
            "data.type must be 'contents' for a page_viewed event",
        ),
        "evt-250": (
            "invalid_action_source",
            "action_source",
            "app_opened events require action_source 'mobile_app'",
        ),
    }
    assert sorted(stored_ids(emulator)) == sorted({e["id"] for e in batch} - {"evt-42", "evt-250"})
    # the emulator names the lowest failing index each time: one request per culprit, plus one
    assert [(r.status, r.events, r.param) for r in emulator.requests()] == [
        (400, 300, "events[42]"),
        (400, 299, "events[249]"),
        (200, 298, None),
    ]
    assert_accounted(report, 300)


def test_poison_event_isolated_by_bisection_without_index(emulator):
    emulator.configure(errors_without_index=True)
    batch = events(1000)
    batch[999]["id"] = "poison-999"
    report = send(emulator, batch)
    records = emulator.requests()
    assert len(records) == 11  # 1 + 10 halvings: each left half passes, so each right half is split unsent
    assert "poison-999" not in stored_ids(emulator)
    assert len(stored_ids(emulator)) == 999
    assert emulator.stats().events_accepted == 999
    (sample,) = report.samples
    assert (sample["event_id"], sample["reason"]) == ("poison-999", "rejected_by_api")  # no code given
    assert sample["message"] == "One or more events are invalid. (isolated by bisection)"
    assert_accounted(report, 1000)


def test_two_poison_events_isolated_by_bisection(emulator):
    emulator.configure(errors_without_index=True)
    batch = events(1000)
    batch[10]["id"] = "poison-10"
    batch[900]["id"] = "poison-900"
    report = send(emulator, batch)
    assert len(emulator.requests()) == 31
    assert {s["event_id"] for s in report.samples} == {"poison-10", "poison-900"}
    assert emulator.stats().events_accepted == 998
    assert_accounted(report, 1000)


def test_event_too_old_at_the_api_is_rejected_too_old(emulator):
    # the emulator's clock runs two minutes ahead: an event the client still deems fresh is stale there
    emulator.configure(clock_offset_ms=120_000)
    batch = events(20)
    batch[3]["timestamp_ms"] = now_ms() - 7 * DAY_MS + 60_000
    report = send(emulator, batch)
    assert [r.status for r in emulator.requests()] == [422, 200]
    assert dict(report.reasons["rejected"]) == {"too_old": 1}
    assert report.samples[0]["event_id"] == "evt-3"
    assert report.samples[0]["field"] == "timestamp_ms"
    assert len(stored_ids(emulator)) == 19
    assert_accounted(report, 20)


def test_stale_event_never_reaches_the_emulator(emulator):
    batch = events(10)
    batch[5]["timestamp_ms"] = now_ms() - 8 * DAY_MS
    report = send(emulator, batch)
    assert [(r.status, r.events) for r in emulator.requests()] == [(200, 9)]
    assert dict(report.reasons["rejected"]) == {"too_old": 1}
    assert_accounted(report, 10)


def test_429_fault_retry_after_is_honoured(emulator):
    emulator.configure(rate_429=1.0, retry_after="1")
    sleeper = Sleeper(lambda seconds: emulator.configure(rate_429=0.0))
    report = send(emulator, events(50), sleeper=sleeper)
    assert sleeper.sleeps == [1.0]
    assert [r.status for r in emulator.requests()] == [429, 200]
    assert emulator.stats().faults["429"] == 1
    assert len(stored_ids(emulator)) == 50
    assert (report.events["sent"], report.retries) == (50, 1)
    assert_accounted(report, 50)


def test_429_retry_after_of_three_seconds(emulator):
    emulator.configure(rate_429=1.0, retry_after="3")
    sleeper = Sleeper(lambda seconds: emulator.configure(rate_429=0.0))
    report = send(emulator, events(5), sleeper=sleeper)
    assert sleeper.sleeps == [3.0]
    assert report.events["sent"] == 5


@pytest.mark.parametrize("fault", ["rate_500", "rate_503", "rate_drop"])
def test_server_errors_and_dropped_connections_are_retried(emulator, fault):
    emulator.configure(**{fault: 1.0})
    calls = []

    def clear(seconds):
        calls.append(seconds)
        if len(calls) == 2:
            emulator.configure(**{fault: 0.0})

    sleeper = Sleeper(clear)
    report = send(emulator, events(30), sleeper=sleeper)
    policy = RetryPolicy()
    assert len(sleeper.sleeps) == 2
    assert policy.initial_backoff_s / 2 <= sleeper.sleeps[0] <= policy.initial_backoff_s
    assert policy.initial_backoff_s <= sleeper.sleeps[1] <= 2 * policy.initial_backoff_s
    assert len(emulator.requests()) == 3
    assert len(stored_ids(emulator)) == 30
    assert (report.events["sent"], report.retries) == (30, 2)
    assert_accounted(report, 30)


def test_timeout_is_retried_and_the_late_first_attempt_is_deduplicated(emulator):
    emulator.configure(latency_ms=400.0)
    sleeper = Sleeper(lambda seconds: emulator.configure(latency_ms=0.0))
    report = send(emulator, events(4), sleeper=sleeper, timeout=0.1)
    assert len(sleeper.sleeps) == 1
    assert report.events["sent"] == 4
    assert report.retries == 1
    assert sorted(stored_ids(emulator)) == sorted(e["id"] for e in events(4))
    # the timed-out attempt is still processed by the server; wait for it so it cannot leak into
    # the next test, and check the API deduplicates it against the resend
    deadline = time.monotonic() + 5
    while emulator.stats().requests < 2 and time.monotonic() < deadline:
        time.sleep(0.02)
    stats = emulator.stats()
    assert (stats.requests, stats.events_accepted, stats.events_duplicates) == (2, 4, 4)


def test_permanent_outage_reports_every_event_failed(emulator):
    emulator.configure(rate_503=1.0)
    sleeper = Sleeper()
    report = send(emulator, events(2500), sleeper=sleeper, retry=RetryPolicy(max_attempts=2), max_in_flight=1)
    # the first batch uses its 2 attempts; the API then counts as down: one attempt each for the rest
    assert emulator.stats().requests == 2 + 1 + 1
    assert len(sleeper.sleeps) == 1
    assert dict(report.reasons["failed"]) == {"http_503": 2500}
    assert emulator.events() == []
    assert_accounted(report, 2500)


def test_sending_twice_accepts_each_event_once(emulator):
    batch = events(1500)
    first = send(emulator, batch)
    second = send(emulator, batch)
    stats = emulator.stats()
    assert (stats.events_received, stats.events_accepted, stats.events_duplicates) == (3000, 1500, 1500)
    assert stats.dedup_keys == 1500
    assert len(stored_ids(emulator)) == 1500
    assert first.events["sent"] == second.events["sent"] == 1500
    assert_accounted(first, 1500)
    assert_accounted(second, 1500)


def test_retry_after_a_lost_answer_does_not_duplicate(emulator):
    """A resend of the same events (same ids) is deduplicated by the API."""
    batch = events(10)
    send(emulator, batch[:6])
    report = send(emulator, batch)
    stats = emulator.stats()
    assert (stats.events_accepted, stats.events_duplicates) == (10, 6)
    assert report.events["sent"] == 10


def test_wrong_key_raises_authentication_error(emulator):
    with pytest.raises(AuthenticationError) as info:
        send(emulator, events(2500), api_key="an-advertiser-key", max_in_flight=1)
    assert "HTTP 401" in str(info.value)
    assert "Conversions API key" in str(info.value)
    assert "an-advertiser-key" not in str(info.value)
    assert [r.status for r in emulator.requests()] == [401]
    assert isinstance(info.value.report, Report)


def test_unknown_pixel_raises_authentication_error(emulator):
    with pytest.raises(AuthenticationError) as info:
        send(emulator, events(2500), pixel_id="cds_not_a_pixel", max_in_flight=1)
    assert "HTTP 403" in str(info.value)
    assert "'cds_not_a_pixel'" in str(info.value)
    assert "Pixel ID" in str(info.value)
    assert [r.status for r in emulator.requests()] == [403]
    assert isinstance(info.value.report, Report)


def test_parallel_requests_over_loopback(emulator):
    emulator.configure(latency_ms=50.0)
    report = send(emulator, events(4000), max_in_flight=4, max_batch_events=250)
    assert emulator.stats().requests == 16
    assert len(stored_ids(emulator)) == 4000
    assert_accounted(report, 4000)


def test_a_request_body_is_sent_whole_and_not_kept_after_the_request(emulator):
    # httpx keeps each request in reference cycles until the garbage collector runs; the body
    # (up to megabytes) must not be kept with it, or memory grows with the collector's threshold
    batch = events(200)
    body = b'{"events":[' + b",".join(orjson.dumps(e) for e in batch) + b"]}"
    with make_client(emulator) as client:
        gc.disable()
        try:
            references = sys.getrefcount(body)
            response = client._post(body)
            assert sys.getrefcount(body) == references
        finally:
            gc.enable()
    assert response.status == 200
    assert emulator.stats().requests == 1
    assert sorted(stored_ids(emulator)) == sorted(e["id"] for e in batch)


def test_a_request_carries_its_content_length_unchunked():
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, json={"received": 1})

    body = b'{"events":[]}'
    client = ConversionsClient(api_key="k", pixel_id="p", transport=httpx.MockTransport(handler))
    assert client._post(body).status == 200
    (request,) = seen
    assert request.headers["content-length"] == str(len(body))
    assert "transfer-encoding" not in request.headers
    assert request.content == body


def test_api_key_never_logged_over_real_http(emulator, caplog):
    caplog.set_level(logging.DEBUG)
    for name in ("httpx", "httpcore", client_module.__name__):
        caplog.set_level(logging.DEBUG, logger=name)
    emulator.configure(rate_429=1.0, retry_after="0")
    sleeper = Sleeper(lambda seconds: emulator.configure(rate_429=0.0))
    batch = events(5)
    batch[1]["id"] = "poison-1"
    send(emulator, batch, sleeper=sleeper)
    with pytest.raises(AuthenticationError):
        send(emulator, events(1), pixel_id="other-pixel")
    assert any(r.name.startswith("httpcore") for r in caplog.records)  # the transport was really logging
    key = emulator.api_key
    for record in caplog.records:
        assert key not in record.getMessage()
        assert key not in repr(record.args)
