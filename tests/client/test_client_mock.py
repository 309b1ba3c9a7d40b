"""ConversionsClient against an in-process fake API (httpx.MockTransport).

Nothing here sleeps for real: ``sleep``/``clock`` are injected, ``time.monotonic`` of the client
module is replaced by the same fake time, and jitter comes from a seeded ``random.Random``.
"""

from __future__ import annotations

import itertools
import json
import logging
import math
import random
import threading
from datetime import datetime, timezone
from email.utils import format_datetime
from types import SimpleNamespace

import httpx
import orjson
import pytest

from airflow_provider_openai_ads.conversions import client as client_module
from airflow_provider_openai_ads.conversions.batching import PreparedEvent
from airflow_provider_openai_ads.conversions.client import (
    AuthenticationError,
    ConfigurationError,
    ConversionsClient,
    RetryPolicy,
    check_base_url,
)
from airflow_provider_openai_ads.conversions.report import Report

from . import (
    DAY_MS,
    KEY,
    NOW_MS,
    NOW_S,
    PIXEL,
    FakeApi,
    assert_accounted,
    error_envelope,
    event,
    ids,
    prepared,
)

BASE_URL = "https://capi.test"
SEED = 20260911
SEVEN_DAYS_MS = 7 * DAY_MS
TEN_MIN_MS = 10 * 60 * 1000


class FakeTime:
    """Monotonic and wall clocks that only move when the client sleeps (or a test advances them)."""

    def __init__(self) -> None:
        self.mono = 50_000.0
        self.wall = NOW_S
        self.sleeps: list[float] = []
        self._lock = threading.Lock()

    def monotonic(self) -> float:
        return self.mono

    def clock(self) -> float:
        return self.wall

    def advance(self, seconds: float) -> None:
        with self._lock:
            self.mono += seconds
            self.wall += seconds

    def sleep(self, seconds: float) -> None:
        with self._lock:
            self.sleeps.append(seconds)
        self.advance(seconds)


@pytest.fixture
def ft(monkeypatch):
    fake = FakeTime()
    # the client reads time.monotonic() for the retry budget; give it the fake one (module-local)
    monkeypatch.setattr(
        client_module, "time", SimpleNamespace(monotonic=fake.monotonic, time=fake.clock, sleep=fake.sleep)
    )
    return fake


def make_client(api: FakeApi, ft: FakeTime, **kwargs) -> ConversionsClient:
    options = {
        "api_key": KEY,
        "pixel_id": PIXEL,
        "base_url": BASE_URL,
        "transport": api.transport,
        "clock": ft.clock,
        "sleep": ft.sleep,
        "rng": random.Random(SEED),
    }
    options.update(kwargs)
    return ConversionsClient(**options)


def send(api: FakeApi, ft: FakeTime, events, *, validate_only: bool = False, **kwargs) -> Report:
    with make_client(api, ft, **kwargs) as client:
        return client.send(events, validate_only=validate_only)


def status_response(status: int, *, retry_after: str | None = None) -> httpx.Response:
    headers = {"Retry-After": retry_after} if retry_after is not None else {}
    return httpx.Response(
        status, headers=headers, json=error_envelope(f"HTTP {status}", error_type="server_error")
    )


def scripted(*steps):
    """Answer the first requests with ``steps`` (status, Response or httpx exception class), then 200."""
    queue = list(steps)
    lock = threading.Lock()

    def respond(request, body):
        with lock:
            step = queue.pop(0) if queue else 200
        if isinstance(step, type) and issubclass(step, Exception):
            raise step("injected transport failure", request=request)
        if isinstance(step, int):
            return httpx.Response(200, json={}) if step == 200 else status_response(step)
        return step

    return respond


def always(step):
    def respond(request, body):
        if isinstance(step, type) and issubclass(step, Exception):
            raise step("injected transport failure", request=request)
        return status_response(step)

    return respond


def invalid_events(bad: dict[str, tuple[str, str, str]], *, with_index=True, first_only=False, status=400):
    """A validating fake API: a batch holding any id of ``bad`` (id -> code, field, message) is refused."""

    def respond(request, body):
        positions = [i for i, e in enumerate(body["events"]) if e["id"] in bad]
        if not positions:
            return httpx.Response(200, json={})
        if not with_index:
            code = bad[body["events"][positions[0]]["id"]][0]
            return httpx.Response(status, json=error_envelope("One or more events are invalid.", code=code))
        shown = positions[:1] if first_only else positions
        errors = []
        for i in shown:
            code, field, message = bad[body["events"][i]["id"]]
            errors.append({"message": message, "param": f"events[{i}].{field}", "code": code})
        return httpx.Response(
            status,
            json=error_envelope(
                f"Invalid event at events[{shown[0]}]. See errors for details.",
                param=f"events[{shown[0]}]",
                code="invalid_event",
                errors=errors,
            ),
        )

    return respond


def backoff_bounds(policy: RetryPolicy, attempt: int) -> tuple[float, float]:
    base = min(policy.max_backoff_s, policy.initial_backoff_s * policy.multiplier ** (attempt - 1))
    return base / 2, base


# -- envelope, batching ------------------------------------------------------------------------


@pytest.mark.parametrize("validate_only", [True, False])
def test_2500_events_go_out_as_1000_1000_500(ft, validate_only):
    api = FakeApi()
    events = prepared(2500)
    report = send(api, ft, events, validate_only=validate_only, integration_source="  Acme_Measurement ")
    assert sorted(len(b) for b in api.batch_ids()) == [500, 1000, 1000]
    assert len(api.requests) == 3
    for body in api.bodies:
        assert set(body) == {"events", "validate_only", "integration_source"}
        assert body["validate_only"] is validate_only
        assert body["integration_source"] == "acme_measurement"
    by_first_id = {body["events"][0]["id"]: body["events"] for body in api.bodies}
    assert [e for first in ("evt-0", "evt-1000", "evt-2000") for e in by_first_id[first]] == [
        orjson.loads(e.payload) for e in events
    ]
    assert report.events["sent"] == 2500
    assert report.validate_only is validate_only
    assert (report.requests, report.retries) == (3, 0)
    assert report.bytes_sent == sum(len(r.content) for r in api.requests)
    assert ft.sleeps == []
    assert_accounted(report, 2500)


def test_without_integration_source_the_key_is_absent(ft):
    api = FakeApi()
    report = send(api, ft, prepared(3))
    assert api.bodies == [{"events": [event(0), event(1), event(2)], "validate_only": False}]
    assert_accounted(report, 3)


def test_api_shaped_dicts_are_accepted(ft):
    api = FakeApi()
    report = send(api, ft, [event(i) for i in range(5)])
    assert api.batch_ids() == [ids(5)]
    assert report.events["sent"] == 5
    assert_accounted(report, 5)


def test_byte_cap_splits_requests(ft):
    api = FakeApi()
    events = [PreparedEvent.from_event(event(i)) for i in range(100, 400)]  # equal sizes
    cap = 128 + 25 * (len(events[0].payload) + 1)
    report = send(api, ft, events, max_request_bytes=cap, integration_source="x" * 64, max_in_flight=1)
    assert [len(b) for b in api.batch_ids()] == [25] * 12
    assert all(len(r.content) <= cap for r in api.requests)
    assert api.all_sent_ids() == [e.event_id for e in events]
    assert_accounted(report, 300)


def test_oversized_event_rejected_and_the_others_delivered(ft):
    api = FakeApi()
    big = PreparedEvent.from_event(dict(event("big"), data={"type": "custom", "blob": "x" * 3000}))
    events = [*prepared(10), big, *prepared(10, prefix="tail")]
    report = send(api, ft, events, max_event_bytes=2000)
    sent = api.all_sent_ids()
    assert "evt-big" not in sent
    assert sorted(sent) == sorted(ids(10) + ids(10, "tail"))
    assert report.events["rejected"] == 1
    assert dict(report.reasons["rejected"]) == {"event_too_large": 1}
    assert report.samples[0]["event_id"] == "evt-big"
    assert_accounted(report, 21)


def test_413_is_bisected_down_to_the_event_the_api_finds_too_large(ft):
    def respond(request, body):
        if any(e["id"] == "evt-5" for e in body["events"]):
            return httpx.Response(413, json=error_envelope("Request Entity Too Large"))
        return httpx.Response(200, json={})

    api = FakeApi(respond)
    report = send(api, ft, prepared(16))
    assert dict(report.reasons["rejected"]) == {"event_too_large": 1}
    assert report.samples[0]["event_id"] == "evt-5"
    assert sorted(api.delivered_ids()) == sorted(set(ids(16)) - {"evt-5"})
    assert report.events["sent"] == 15
    assert_accounted(report, 16)


# -- credentials, URL, secrets -----------------------------------------------------------------


def test_request_shape_auth_header_and_pid(ft):
    api = FakeApi()
    send(api, ft, prepared(1), api_key=f"  {KEY}\n")
    (request,) = api.requests
    assert request.method == "POST"
    assert request.headers["Authorization"] == f"Bearer {KEY}"
    assert request.headers["Content-Type"] == "application/json"
    assert request.url.scheme == "https"
    assert request.url.host == "capi.test"
    assert request.url.path == "/v1/events"
    assert dict(request.url.params) == {"pid": PIXEL}
    assert KEY not in str(request.url)


def test_pixel_id_is_url_encoded(ft):
    api = FakeApi()
    pixel = "px/1 &x=y?é#"
    send(api, ft, prepared(1), pixel_id=pixel)
    (request,) = api.requests
    assert request.url.params["pid"] == pixel
    assert list(request.url.params.keys()) == ["pid"]
    assert request.url.query == b"pid=px%2F1+%26x%3Dy%3F%C3%A9%23"
    assert request.url.path == "/v1/events"


def test_base_url_path_prefix_is_kept(ft):
    api = FakeApi()
    send(api, ft, prepared(1), base_url="https://proxy.test/capi/")
    assert str(api.requests[0].url) == f"https://proxy.test/capi/v1/events?pid={PIXEL}"


def _secret_scenarios(ft) -> tuple[list[str], list[Report]]:
    """Run successes, retries, rejections and refusals; return the error texts and reports."""
    texts: list[str] = []
    reports = []
    reports.append(send(FakeApi(scripted(429, 503, httpx.ReadTimeout, httpx.ConnectError)), ft, prepared(3)))
    bad = {"evt-1": ("missing_event_data_type", "data.type", "events[1].data.type must be a supported type.")}
    reports.append(send(FakeApi(invalid_events(bad)), ft, prepared(3)))
    reports.append(send(FakeApi(invalid_events(bad, with_index=False)), ft, prepared(3)))
    reports.append(send(FakeApi(always(503)), ft, prepared(2), retry=RetryPolicy(max_attempts=2)))
    for status in (401, 403, 404):
        with pytest.raises(ConfigurationError) as info:
            send(FakeApi(always(status)), ft, prepared(2))
        texts += [str(info.value), repr(info.value)]
    with make_client(FakeApi(), ft) as client:
        texts += [repr(client), str(client), client.check_credentials()]
    return texts, reports


def test_api_key_never_in_url_repr_logs_messages_or_reports(ft, caplog):
    caplog.set_level(logging.DEBUG)
    for name in ("httpx", "httpcore", client_module.__name__):
        caplog.set_level(logging.DEBUG, logger=name)
    texts, reports = _secret_scenarios(ft)
    assert any(r.name == client_module.__name__ for r in caplog.records)  # the retries were logged
    for record in caplog.records:
        assert KEY not in record.getMessage()
        assert KEY not in repr(record.args)
        assert KEY not in (record.exc_text or "")
    for text in texts:
        assert KEY not in text
    for report in reports:
        assert KEY not in json.dumps(report.to_dict())
        assert KEY not in report.summary()


def test_api_key_echoed_by_the_server_is_not_repeated(ft):
    def respond(request, body):
        return httpx.Response(401, json=error_envelope(f"Incorrect API key provided: {KEY}"))

    with pytest.raises(AuthenticationError) as info:
        send(FakeApi(respond), ft, prepared(1))
    assert KEY not in str(info.value)


# -- retries -----------------------------------------------------------------------------------


def test_429_retry_after_seconds_is_honoured_exactly(ft):
    api = FakeApi(scripted(status_response(429, retry_after="1")))
    report = send(api, ft, prepared(10))
    assert ft.sleeps == [1.0]
    assert len(api.requests) == 2
    assert api.requests[0].content == api.requests[1].content  # same ids, same timestamps
    assert (report.events["sent"], report.requests, report.retries) == (10, 2, 1)
    assert_accounted(report, 10)


def test_retry_after_http_date_is_honoured(ft):
    when = format_datetime(datetime.fromtimestamp(NOW_S + 7, tz=timezone.utc), usegmt=True)
    api = FakeApi(scripted(status_response(503, retry_after=when)))
    report = send(api, ft, prepared(2))
    assert ft.sleeps == [7.0]
    assert report.events["sent"] == 2
    assert_accounted(report, 2)


def test_retry_after_date_in_the_past_retries_at_once(ft):
    when = format_datetime(datetime.fromtimestamp(NOW_S - 30, tz=timezone.utc), usegmt=True)
    api = FakeApi(scripted(status_response(429, retry_after=when)))
    report = send(api, ft, prepared(2))
    assert ft.sleeps == [0.0]
    assert_accounted(report, 2)


@pytest.mark.parametrize("header", [None, "soon", "", "nan"])
def test_missing_or_unparsable_retry_after_falls_back_to_backoff(ft, header):
    api = FakeApi(scripted(status_response(429, retry_after=header)))
    report = send(api, ft, prepared(2))
    low, high = backoff_bounds(RetryPolicy(), 1)
    assert len(ft.sleeps) == 1
    assert low <= ft.sleeps[0] <= high
    assert report.events["sent"] == 2


@pytest.mark.parametrize("failure", [500, 502, 503, 429, httpx.ReadTimeout, httpx.ConnectError])
def test_transient_failures_retried_with_growing_jittered_backoff(ft, failure):
    policy = RetryPolicy()
    api = FakeApi(scripted(*[failure] * 5))
    report = send(api, ft, prepared(20), retry=policy)
    assert len(api.requests) == 6
    assert len({r.content for r in api.requests}) == 1  # identical resends
    assert len(ft.sleeps) == 5
    for attempt, delay in enumerate(ft.sleeps, start=1):
        low, high = backoff_bounds(policy, attempt)
        assert low <= delay <= high, (attempt, delay)
    assert ft.sleeps == sorted(ft.sleeps)
    assert ft.sleeps[-1] > ft.sleeps[0] * 4
    assert any(delay not in backoff_bounds(policy, a) for a, delay in enumerate(ft.sleeps, start=1))
    assert (report.events["sent"], report.requests, report.retries) == (20, 6, 5)
    assert_accounted(report, 20)


def test_backoff_is_capped(ft):
    policy = RetryPolicy(initial_backoff_s=1.0, multiplier=10.0, max_backoff_s=3.0)
    send(FakeApi(scripted(*[503] * 4)), ft, prepared(1), retry=policy)
    assert 0.5 <= ft.sleeps[0] <= 1.0
    assert all(1.5 <= delay <= 3.0 for delay in ft.sleeps[1:])
    assert len(ft.sleeps) == 4


def test_backoff_sequence_is_reproducible_from_the_seed(ft):
    policy = RetryPolicy()
    send(FakeApi(scripted(*[500] * 4)), ft, prepared(1), retry=policy)
    rng = random.Random(SEED)
    assert ft.sleeps == [policy.backoff(a, rng) for a in range(1, 5)]


@pytest.mark.parametrize(
    ("failure", "reason", "what"),
    [
        (503, "http_503", "HTTP 503"),
        (500, "http_500", "HTTP 500"),
        (429, "rate_limited", "HTTP 429"),
        (httpx.ReadTimeout, "timeout", "timeout (ReadTimeout)"),
        (httpx.ConnectError, "connection_error", "connection error (ConnectError)"),
    ],
)
def test_permanent_outage_fails_every_event_after_max_attempts(ft, failure, reason, what):
    # the first batch uses up its attempts; the API then counts as down and the two other
    # batches get one attempt each instead of a full retry budget of their own
    api = FakeApi(always(failure))
    report = send(api, ft, prepared(2500), retry=RetryPolicy(max_attempts=3), max_in_flight=1)
    assert len(api.requests) == 3 + 1 + 1
    assert len(ft.sleeps) == 2
    assert report.events["failed"] == 2500
    assert report.events["sent"] == 0
    assert dict(report.reasons["failed"]) == {reason: 2500}
    assert all(s["outcome"] == "failed" and s["reason"] == reason for s in report.samples)
    assert report.samples[0]["message"] == f"gave up after 3 attempts: {what}"
    assert (report.requests, report.retries) == (5, 2)
    assert_accounted(report, 2500)


def test_max_attempts_one_means_no_retry(ft):
    api = FakeApi(always(503))
    report = send(api, ft, prepared(4), retry=RetryPolicy(max_attempts=1))
    assert len(api.requests) == 1
    assert ft.sleeps == []
    assert report.samples[0]["message"] == "gave up after 1 attempt: HTTP 503"
    assert_accounted(report, 4)


def test_total_budget_bounds_the_retries(ft):
    policy = RetryPolicy(
        max_attempts=1000, initial_backoff_s=1.0, multiplier=2.0, max_backoff_s=8.0, budget_s=40.0
    )
    request_times: list[float] = []

    def respond(request, body):
        request_times.append(ft.monotonic())
        ft.advance(1.5)  # each request takes 1.5 s
        return status_response(503)

    start = ft.monotonic()
    api = FakeApi(respond)
    report = send(api, ft, prepared(7), retry=policy, max_in_flight=1)
    assert report.events["failed"] == 7
    assert dict(report.reasons["failed"]) == {"http_503": 7}
    assert_accounted(report, 7)
    # every (re)send started within the budget, and the run ended at most one request after it
    assert all(t - start <= policy.budget_s for t in request_times)
    assert ft.monotonic() - start <= policy.budget_s + 1.5
    # the sleeps are the seeded backoffs; the next one would have overrun the budget
    rng = random.Random(SEED)
    expected = [policy.backoff(a, rng) for a in range(1, len(ft.sleeps) + 2)]
    assert ft.sleeps == expected[:-1]
    assert request_times[-1] + 1.5 - start + expected[-1] > policy.budget_s
    assert len(api.requests) == len(ft.sleeps) + 1
    assert len(api.requests) < policy.max_attempts


def test_retry_after_beyond_the_budget_is_not_waited_for(ft):
    api = FakeApi(lambda request, body: status_response(429, retry_after="1000"))
    report = send(api, ft, prepared(5), retry=RetryPolicy(budget_s=300.0))
    assert len(api.requests) == 1
    assert ft.sleeps == []
    assert dict(report.reasons["failed"]) == {"rate_limited": 5}
    assert_accounted(report, 5)


def test_retry_after_longer_than_max_retry_after_fails_the_batch(ft):
    api = FakeApi(scripted(status_response(429, retry_after="60")))
    report = send(api, ft, prepared(3), retry=RetryPolicy(max_retry_after_s=10.0, budget_s=300.0))
    assert ft.sleeps == []
    assert len(api.requests) == 1
    assert dict(report.reasons["failed"]) == {"rate_limited": 3}


# -- culprits named by index -------------------------------------------------------------------


def test_400_naming_one_event_rejects_exactly_it_and_resends_the_rest(ft):
    message = "events[7].data.type must be a supported data type."
    api = FakeApi(invalid_events({"evt-7": ("missing_event_data_type", "data.type", message)}))
    report = send(api, ft, prepared(1000))
    assert len(api.requests) == 2
    assert api.batch_ids()[1] == [i for i in ids(1000) if i != "evt-7"]
    assert report.events["sent"] == 999
    assert report.events["rejected"] == 1
    assert report.samples == [
        {
            "event_id": "evt-7",
            "outcome": "rejected",
            "reason": "missing_event_data_type",
            "field": "data.type",
            "message": message,
            "rows": 1,
        }
    ]
    assert ft.sleeps == []
    assert_accounted(report, 1000)


def test_several_indexed_culprits_rejected_in_one_go(ft):
    bad = {
        "evt-3": ("invalid_currency", "data.currency", "events[3].data.currency must be ISO 4217."),
        "evt-7": ("missing_event_data_type", "data.type", "events[7].data.type must be supported."),
        "evt-500": ("invalid_source_url", "source_url", "events[500].source_url needs a host."),
    }
    api = FakeApi(invalid_events(bad))
    report = send(api, ft, prepared(1000))
    assert len(api.requests) == 2
    assert api.batch_ids()[1] == [i for i in ids(1000) if i not in bad]
    assert report.events["rejected"] == 3
    got = {s["event_id"]: (s["reason"], s["field"], s["message"]) for s in report.samples}
    assert got == bad
    assert_accounted(report, 1000)


def test_culprits_reported_one_at_a_time_use_indexes_of_the_resent_batch(ft):
    bad = {
        "evt-3": ("invalid_event_a", "data.type", "first"),
        "evt-7": ("invalid_event_b", "source_url", "second"),
    }
    api = FakeApi(invalid_events(bad, first_only=True))
    report = send(api, ft, prepared(1000))
    assert len(api.requests) == 3
    assert [len(b) for b in api.batch_ids()] == [1000, 999, 998]
    got = {s["event_id"]: (s["reason"], s["field"], s["message"]) for s in report.samples}
    assert got == bad
    assert report.events["sent"] == 998
    assert_accounted(report, 1000)


def test_422_timestamp_too_old_is_reason_too_old(ft):
    bad = {
        "evt-0": (
            "event_timestamp_too_old",
            "timestamp_ms",
            "event_timestamp_ms must be within the last 7 days.",
        )
    }
    api = FakeApi(invalid_events(bad, status=422))
    report = send(api, ft, prepared(50))
    assert len(api.requests) == 2
    assert dict(report.reasons["rejected"]) == {"too_old": 1}
    sample = report.samples[0]
    assert (sample["event_id"], sample["field"], sample["message"]) == (
        "evt-0",
        "timestamp_ms",
        "event_timestamp_ms must be within the last 7 days.",
    )
    assert_accounted(report, 50)


def test_single_event_400_without_index_is_rejected_with_the_api_code(ft):
    bad = {"evt-0": ("invalid_event", "data.type", "unused")}
    api = FakeApi(invalid_events(bad, with_index=False))
    report = send(api, ft, prepared(1))
    assert len(api.requests) == 1
    assert report.samples[0]["reason"] == "invalid_event"
    assert report.samples[0]["message"] == "One or more events are invalid."
    assert_accounted(report, 1)


def test_api_message_is_redacted_of_email_addresses(ft):
    bad = {"evt-1": ("invalid_event", "user.emails_sha256", "events[1] has jane.doe@example.com unhashed")}
    report = send(FakeApi(invalid_events(bad)), ft, prepared(3))
    assert "jane.doe@example.com" not in json.dumps(report.to_dict())
    assert report.samples[0]["message"] == "events[1] has [redacted] unhashed"


# -- culprits found by bisection ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("positions", "requests"),
    [
        ([0], 19),
        ([7], 20),
        ([500], 18),
        ([999], 11),
        ([123], 15),
        ([10, 900], 31),
        ([3, 7], 26),
        ([998, 999], 12),
    ],
)
def test_bisection_isolates_culprits_without_index(ft, positions, requests):
    bad = {f"evt-{p}": ("invalid_event", "data.type", "unused") for p in positions}
    api = FakeApi(invalid_events(bad, with_index=False))
    report = send(api, ft, prepared(1000))
    assert len(api.requests) == requests
    assert len(api.requests) - 1 <= len(positions) * (2 * math.log2(1000) + 1)
    assert sorted(api.delivered_ids()) == sorted(set(ids(1000)) - set(bad))  # each good event once
    assert {s["event_id"] for s in report.samples} == set(bad)
    assert all(s["reason"] == "invalid_event" for s in report.samples)
    assert report.events["sent"] == 1000 - len(positions)
    assert report.events["rejected"] == len(positions)
    assert_accounted(report, 1000)


def test_bisection_bound_for_1000_events_over_many_positions(ft):
    for position in range(0, 1000, 41):
        bad = {f"evt-{position}": ("invalid_event", "data.type", "unused")}
        api = FakeApi(invalid_events(bad, with_index=False))
        report = send(api, ft, prepared(1000))
        assert len(api.requests) - 1 <= 2 * math.log2(1000) + 1, position
        assert report.events["sent"] == 999
        assert_accounted(report, 1000)


@pytest.mark.parametrize(("n", "position"), [(2, 1), (3, 0), (5, 4), (17, 0), (600, 599), (600, 0)])
def test_bisection_bound_holds_for_any_batch_size(ft, n, position):
    bad = {f"evt-{position}": ("invalid_event", "data.type", "unused")}
    api = FakeApi(invalid_events(bad, with_index=False))
    report = send(api, ft, prepared(n))
    assert_accounted(report, n)
    assert len(api.requests) - 1 <= 2 * math.log2(n) + 1


def test_bisection_with_nested_errors_lacking_an_index(ft):
    def respond(request, body):
        if any(e["id"] == "evt-42" for e in body["events"]):
            errors = [{"message": "data.type must be supported.", "param": "data.type", "code": "bad_type"}]
            return httpx.Response(
                400, json=error_envelope("Invalid event.", code="invalid_event", errors=errors)
            )
        return httpx.Response(200, json={})

    report = send(FakeApi(respond), ft, prepared(100))
    assert report.events["sent"] == 99
    assert [s["event_id"] for s in report.samples] == ["evt-42"]
    assert_accounted(report, 100)


def test_transient_error_during_bisection_is_retried(ft):
    state = {"failed_once": False}

    def respond(request, body):
        batch = [e["id"] for e in body["events"]]
        if len(batch) == 500 and not state["failed_once"]:
            state["failed_once"] = True
            return status_response(503, retry_after="2")
        if "evt-600" in batch:
            return httpx.Response(400, json=error_envelope("Invalid.", code="invalid_event"))
        return httpx.Response(200, json={})

    report = send(FakeApi(respond), ft, prepared(1000))
    assert ft.sleeps == [2.0]
    assert report.events["sent"] == 999
    assert report.retries == 1
    assert_accounted(report, 1000)


# -- time window -------------------------------------------------------------------------------


def test_stale_event_rejected_before_sending_and_never_sent(ft):
    events = prepared(1000)
    events[123] = PreparedEvent.from_event(event("stale", ts_ms=NOW_MS - SEVEN_DAYS_MS - 1000))
    api = FakeApi()
    report = send(api, ft, events)
    assert len(api.requests) == 1
    assert "evt-stale" not in api.all_sent_ids()
    assert len(api.all_sent_ids()) == 999
    assert report.samples == [
        {
            "event_id": "evt-stale",
            "outcome": "rejected",
            "reason": "too_old",
            "field": "timestamp_ms",
            "message": report.samples[0]["message"],
            "rows": 1,
        }
    ]
    assert "7 days" in report.samples[0]["message"]
    assert_accounted(report, 1000)


@pytest.mark.parametrize(
    ("offset_ms", "sent"),
    [
        (-SEVEN_DAYS_MS + 60_000, True),  # a minute inside the window
        (-SEVEN_DAYS_MS + 2_000, False),  # inside, but within the 5 s safety margin
        (-SEVEN_DAYS_MS - 1, False),
        (TEN_MIN_MS, True),
        (TEN_MIN_MS + 1, False),
        (0, True),
    ],
)
def test_time_window_edges(ft, offset_ms, sent):
    api = FakeApi()
    report = send(api, ft, [*prepared(2), PreparedEvent.from_event(event("edge", ts_ms=NOW_MS + offset_ms))])
    assert ("evt-edge" in api.all_sent_ids()) is sent
    assert report.events["sent"] == (3 if sent else 2)
    assert_accounted(report, 3)


def test_event_too_far_in_future_rejected(ft):
    api = FakeApi()
    report = send(
        api, ft, [*prepared(3), PreparedEvent.from_event(event("future", ts_ms=NOW_MS + 11 * 60_000))]
    )
    assert api.all_sent_ids() == ids(3)
    assert dict(report.reasons["rejected"]) == {"too_far_in_future": 1}
    assert report.samples[0]["event_id"] == "evt-future"
    assert report.samples[0]["field"] == "timestamp_ms"
    assert_accounted(report, 4)


def test_event_going_stale_while_retries_wait_is_rejected_not_sent(ft):
    events = prepared(10)
    events.insert(4, PreparedEvent.from_event(event("aging", ts_ms=NOW_MS - SEVEN_DAYS_MS + 30_000)))
    api = FakeApi(scripted(status_response(503, retry_after="60")))
    report = send(api, ft, events)
    assert ft.sleeps == [60.0]
    first, second = api.batch_ids()
    assert "evt-aging" in first  # still valid at the first attempt
    assert second == ids(10)  # stale by the retry
    assert dict(report.reasons["rejected"]) == {"too_old": 1}
    assert report.events["sent"] == 10
    assert_accounted(report, 11)


def test_all_events_stale_means_no_request(ft):
    api = FakeApi()
    report = send(api, ft, prepared(5, ts_ms=NOW_MS - 8 * DAY_MS))
    assert api.requests == []
    assert report.requests == 0
    assert dict(report.reasons["rejected"]) == {"too_old": 5}
    assert_accounted(report, 5)


def test_window_uses_the_injected_clock_at_send_time(ft):
    api = FakeApi()
    ft.advance(2 * DAY_MS / 1000)  # two days pass between preparing and sending
    report = send(api, ft, [*prepared(2), PreparedEvent.from_event(event("old", ts_ms=NOW_MS - 6 * DAY_MS))])
    assert api.all_sent_ids() == ids(2)
    assert dict(report.reasons["rejected"]) == {"too_old": 1}


# -- refusals that are configuration errors ----------------------------------------------------


def test_401_raises_authentication_error_naming_the_key_kind(ft):
    api = FakeApi(lambda request, body: httpx.Response(401, json=error_envelope("Unauthorized")))
    with pytest.raises(AuthenticationError) as info:
        send(api, ft, prepared(2500), max_in_flight=1)
    message = str(info.value)
    assert "HTTP 401" in message
    assert "Unauthorized" in message
    assert "Conversions API key" in message
    assert "Advertiser" in message
    assert len(api.requests) == 1
    assert ft.sleeps == []
    assert isinstance(info.value.report, Report)
    assert info.value.report.events["sent"] == 0


def test_403_raises_authentication_error_naming_the_pixel(ft):
    api = FakeApi(
        lambda request, body: httpx.Response(
            403, json=error_envelope("403: unknown pid", error_type="server_error")
        )
    )
    with pytest.raises(AuthenticationError) as info:
        send(api, ft, prepared(2500), max_in_flight=1)
    message = str(info.value)
    assert "HTTP 403" in message
    assert "Pixel ID" in message
    assert repr(PIXEL) in message
    assert "403: unknown pid" in message
    assert len(api.requests) == 1
    assert isinstance(info.value.report, Report)


def test_401_fails_fast_with_several_batches_in_flight(ft):
    api = FakeApi(lambda request, body: httpx.Response(401, json=error_envelope("Unauthorized")))
    with pytest.raises(AuthenticationError) as info:
        send(api, ft, prepared(10_000), max_in_flight=4)
    assert len(api.requests) <= 4
    assert isinstance(info.value.report, Report)


def test_request_level_400_raises_configuration_error(ft):
    def respond(request, body):
        return httpx.Response(
            400,
            json=error_envelope("integration_source must be 1-64 characters.", param="integration_source"),
        )

    api = FakeApi(respond)
    with pytest.raises(ConfigurationError) as info:
        send(api, ft, prepared(2500), max_in_flight=1, integration_source="acme")
    assert not isinstance(info.value, AuthenticationError)
    assert "integration_source" in str(info.value)
    assert "1-64 characters" in str(info.value)
    assert len(api.requests) == 1
    assert isinstance(info.value.report, Report)


@pytest.mark.parametrize("status", [404, 405, 301])
def test_unexpected_status_raises_configuration_error_naming_the_base_url(ft, status):
    api = FakeApi(lambda request, body: httpx.Response(status, json=error_envelope("Not Found")))
    with pytest.raises(ConfigurationError) as info:
        send(api, ft, prepared(3))
    assert not isinstance(info.value, AuthenticationError)
    assert BASE_URL in str(info.value)
    assert f"HTTP {status}" in str(info.value)
    assert len(api.requests) == 1


def test_check_credentials(ft):
    api = FakeApi()
    with make_client(api, ft) as client:
        assert PIXEL in client.check_credentials()
    (body,) = api.bodies
    assert body["validate_only"] is True
    assert len(body["events"]) == 1
    with make_client(FakeApi(always(401)), ft) as client, pytest.raises(AuthenticationError):
        client.check_credentials()


@pytest.mark.parametrize(
    "kwargs",
    [
        {"api_key": ""},
        {"api_key": "   "},
        {"pixel_id": ""},
        {"max_in_flight": 0},
        {"max_batch_events": 0},
        {"max_batch_events": 1001},
        {"integration_source": "-bad"},
        {"integration_source": "x" * 65},
        {"base_url": "http://capi.example.com"},
    ],
)
def test_constructor_refuses_bad_configuration(ft, kwargs):
    with pytest.raises(ConfigurationError):
        make_client(FakeApi(), ft, **kwargs)


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("https://bzr.openai.com", "https://bzr.openai.com"),
        ("https://bzr.openai.com/", "https://bzr.openai.com"),
        ("  https://proxy.example.com/capi/ ", "https://proxy.example.com/capi"),
        ("https://10.1.2.3:8443", "https://10.1.2.3:8443"),
        ("http://127.0.0.1:8080", "http://127.0.0.1:8080"),
        ("http://127.9.9.9", "http://127.9.9.9"),
        ("http://localhost:5000", "http://localhost:5000"),
        ("http://[::1]:9000", "http://[::1]:9000"),
        ("", "https://bzr.openai.com"),
    ],
)
def test_check_base_url_accepts(url, expected):
    assert check_base_url(url) == expected


@pytest.mark.parametrize(
    "url",
    [
        "http://bzr.openai.com",
        "http://10.0.0.5:8080",
        "http://localhost.evil.example",
        "http://[::2]:80",
    ],
)
def test_check_base_url_refuses_remote_plain_http_unless_allowed(url):
    with pytest.raises(ConfigurationError, match="plain http"):
        check_base_url(url)
    assert check_base_url(url, allow_insecure_http=True) == url


@pytest.mark.parametrize(
    "url",
    [
        "https://user:secret@bzr.openai.com",
        "https://:secret@bzr.openai.com",
        "https://user@bzr.openai.com",
        "https://bzr.openai.com/?pid=x",
        "https://bzr.openai.com?api_key=k",
        "http://user:pw@127.0.0.1:8080",
    ],
)
@pytest.mark.parametrize("allow_insecure_http", [False, True])
def test_check_base_url_refuses_credentials_and_query(url, allow_insecure_http):
    with pytest.raises(ConfigurationError, match="credentials or a query"):
        check_base_url(url, allow_insecure_http=allow_insecure_http)


@pytest.mark.parametrize("url", ["ftp://bzr.openai.com", "bzr.openai.com", "https://", "https:///v1"])
def test_check_base_url_refuses_non_http_urls(url):
    with pytest.raises(ConfigurationError):
        check_base_url(url, allow_insecure_http=True)


# -- concurrency, streaming --------------------------------------------------------------------


def test_requests_really_run_in_parallel(ft):
    barrier = threading.Barrier(4, timeout=5)
    lock = threading.Lock()
    in_flight = {"now": 0, "max": 0}

    def respond(request, body):
        with lock:
            in_flight["now"] += 1
            in_flight["max"] = max(in_flight["max"], in_flight["now"])
        try:
            barrier.wait()  # only returns once 4 requests are in flight at the same time
        finally:
            with lock:
                in_flight["now"] -= 1
        return httpx.Response(200, json={})

    api = FakeApi(respond)
    report = send(api, ft, prepared(80), max_in_flight=4, max_batch_events=10)
    assert len(api.requests) == 8
    assert in_flight["max"] == 4
    assert not barrier.broken
    assert report.events["sent"] == 80
    assert_accounted(report, 80)


def test_events_are_consumed_lazily(ft):
    consumed = itertools.count()
    seen_at_request: list[int] = []
    counter = {"n": 0}

    def events():
        for i in range(200):
            counter["n"] = next(consumed) + 1
            yield PreparedEvent.from_event(event(i))

    def respond(request, body):
        seen_at_request.append(counter["n"])
        return httpx.Response(200, json={})

    report = send(FakeApi(respond), ft, events(), max_in_flight=1, max_batch_events=10)
    assert len(seen_at_request) == 20
    for k, seen in enumerate(seen_at_request, start=1):
        assert seen <= (k + 1) * 10 + 1, (k, seen)  # at most the batch in flight and the next one
    assert_accounted(report, 200)


def test_progress_callback_sees_growing_counts(ft):
    seen: list[int] = []
    with make_client(FakeApi(), ft, max_in_flight=1) as client:
        report = client.send(prepared(2500), on_progress=lambda r: seen.append(r.events["sent"]))
    assert seen == [1000, 2000, 2500]
    assert_accounted(report, 2500)


def test_counts_add_up_under_a_mix_of_outcomes(ft):
    rng = random.Random(5)
    bad = {f"evt-{i}": ("invalid_event", "data.type", "bad") for i in rng.sample(range(100, 2900), 6)}
    lock = threading.Lock()
    calls = itertools.count()
    validate = invalid_events(bad)

    def respond(request, body):
        with lock:
            n = next(calls)
        if n % 3 == 0:
            return status_response(503, retry_after="0")
        return validate(request, body)

    events = prepared(3000)
    events[10] = PreparedEvent.from_event(event("stale", ts_ms=NOW_MS - 9 * DAY_MS))
    events[2999] = PreparedEvent.from_event(dict(event("big"), data={"type": "custom", "b": "x" * 5000}))
    api = FakeApi(respond)
    report = send(api, ft, events, max_event_bytes=4000)
    assert report.events["rejected"] == 8
    assert {s["event_id"] for s in report.samples} == {*bad, "evt-stale", "evt-big"}
    assert report.events["sent"] == 2992
    assert sorted(api.delivered_ids()) == sorted(set(ids(3000)) - set(bad) - {"evt-10", "evt-2999"})
    assert report.retries > 0
    assert_accounted(report, 3000)
