"""Suite 3, time-window edges: an event valid when read that crosses the 7-day limit while it waits.

The client's wall clock is injected (``clock``) and its ``sleep`` advances that clock instead of
waiting, so a 60-second ``Retry-After`` ages the events by 60 seconds at no cost. The emulator
judges with the real clock (shifted by ``clock_offset_ms`` where a test needs it), so anything the
client wrongly sent would be accepted and show up in ``emulator.events()``.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest
from airflow.sdk.exceptions import AirflowFailException

from airflow_provider_openai_ads.conversions.batching import PreparedEvent
from airflow_provider_openai_ads.conversions.client import ConversionsClient, RetryPolicy
from airflow_provider_openai_ads.conversions.report import Report
from airflow_provider_openai_ads.emulator import EmulatorServer
from airflow_provider_openai_ads.hooks.openai_ads import OpenAIAdsHook

from .conftest import OPENAI_ADS_CONN_ID
from .helpers import FakeTI, SqlOperator, accepted_ids, assert_report_adds_up, build_table

pytestmark = pytest.mark.timeout(60)

SEVEN_DAYS_S = 7 * 24 * 3600
#: the budget is real (monotonic) time; the fake sleeps cost none of it
POLICY = RetryPolicy(max_attempts=5, initial_backoff_s=60.0, max_backoff_s=60.0, budget_s=600.0)


class FakeTime:
    """A wall clock starting at the real time; ``sleep`` advances it and runs ``on_sleep`` once."""

    def __init__(self, on_sleep=None) -> None:
        self.now = time.time()
        self.sleeps: list[float] = []
        self.on_sleep = on_sleep

    def clock(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds
        if self.on_sleep is not None:
            self.on_sleep()
            self.on_sleep = None


def api_event(event_id: str, timestamp_s: float) -> dict[str, Any]:
    return {
        "id": event_id,
        "type": "page_viewed",
        "timestamp_ms": int(timestamp_s * 1000),
        "action_source": "other",
        "data": {"type": "contents"},
    }


def client_for(emulator: EmulatorServer, fake: FakeTime, **kwargs: Any) -> ConversionsClient:
    options: dict[str, Any] = {"retry": POLICY, "clock": fake.clock, "sleep": fake.sleep, **kwargs}
    return ConversionsClient(
        api_key=emulator.api_key, pixel_id=emulator.pixel_id, base_url=emulator.url, **options
    )


def answered(emulator: EmulatorServer) -> list[tuple[int | None, int | None]]:
    return [(r.status, r.events) for r in emulator.requests()]


def test_event_crossing_the_limit_during_retry_after_is_rejected_too_old_not_sent(
    emulator: EmulatorServer,
) -> None:
    """429 with Retry-After: 60 for an event 30 s from the limit: the resend leaves it out."""
    emulator.configure(rate_429=1.0, retry_after="60")
    fake = FakeTime(on_sleep=lambda: emulator.configure(rate_429=0.0))
    aging = api_event("aging", fake.now - SEVEN_DAYS_S + 30)
    fresh = [api_event(f"fresh-{i}", fake.now - 3600) for i in range(9)]
    with client_for(emulator, fake) as client:
        report = client.send([*fresh[:4], aging, *fresh[4:]])

    assert fake.sleeps == [60.0]
    assert answered(emulator) == [(429, None), (200, 9)]  # the second request carried only the fresh events
    assert sorted(accepted_ids(emulator)) == sorted(e["id"] for e in fresh)
    assert dict(report.reasons["rejected"]) == {"too_old": 1}
    (sample,) = report.samples
    assert (sample["event_id"], sample["reason"], sample["field"]) == ("aging", "too_old", "timestamp_ms")
    assert "7 days" in sample["message"]
    assert report.events_accounted == 10


def test_when_every_event_crosses_the_limit_nothing_is_resent(emulator: EmulatorServer) -> None:
    emulator.configure(rate_503=1.0)  # no Retry-After: the policy's 30-60 s backoff
    fake = FakeTime(on_sleep=lambda: emulator.configure(rate_503=0.0))
    events = [api_event(f"aging-{i}", fake.now - SEVEN_DAYS_S + 20) for i in range(5)]
    with client_for(emulator, fake) as client:
        report = client.send(events)
    assert len(fake.sleeps) == 1
    assert fake.sleeps[0] >= 30.0
    assert answered(emulator) == [(503, None)]
    assert report.events["rejected"] == 5
    assert dict(report.reasons["rejected"]) == {"too_old": 5}
    assert accepted_ids(emulator) == []


def test_window_is_rechecked_before_the_resend_that_follows_a_rejected_culprit(
    emulator: EmulatorServer,
) -> None:
    """Not only retries: the resend after culprit isolation checks the window again."""
    start = time.time()
    ticks = iter([start, start + 40.0])

    def clock() -> float:  # 40 s pass between the first send and the resend of the rest
        return next(ticks, start + 40.0)

    events = [
        api_event("poison-1", start - 60),  # refused by the emulator by index
        api_event("aging", start - SEVEN_DAYS_S + 30),
        api_event("fresh", start - 60),
    ]
    with ConversionsClient(
        api_key=emulator.api_key, pixel_id=emulator.pixel_id, base_url=emulator.url, clock=clock
    ) as client:
        report = client.send(events)
    assert answered(emulator) == [(400, 3), (200, 1)]
    assert accepted_ids(emulator) == ["fresh"]
    assert dict(report.reasons["rejected"]) == {"invalid_event_rejected_by_server": 1, "too_old": 1}


@pytest.mark.parametrize(
    ("seconds_inside", "sent"),
    [
        (4.0, False),  # inside the 5 s margin: could age out in transit
        (6.0, True),
    ],
)
def test_the_safety_margin_at_the_old_edge(
    emulator: EmulatorServer, seconds_inside: float, sent: bool
) -> None:
    fake = FakeTime()
    event = api_event("edge", fake.now - SEVEN_DAYS_S + seconds_inside)
    with client_for(emulator, fake) as client:
        report = client.send([event])
    assert accepted_ids(emulator) == (["edge"] if sent else [])
    assert report.events["sent" if sent else "rejected"] == 1
    assert len(emulator.requests()) == (1 if sent else 0)


@pytest.mark.parametrize(("seconds_ahead", "sent"), [(599.0, True), (601.0, False)])
def test_the_future_edge(emulator: EmulatorServer, seconds_ahead: float, sent: bool) -> None:
    fake = FakeTime()
    with client_for(emulator, fake) as client:
        report = client.send([api_event("ahead", fake.now + seconds_ahead)])
    assert accepted_ids(emulator) == (["ahead"] if sent else [])
    assert dict(report.reasons["rejected"]) == ({} if sent else {"too_far_in_future": 1})


def test_api_clock_ahead_of_ours_rejects_too_old_by_index_and_keeps_the_rest(
    emulator: EmulatorServer,
) -> None:
    """Our clock says 30 s to spare, the API's (60 s ahead) says too old: its 422 becomes too_old."""
    emulator.configure(clock_offset_ms=60_000)
    now = time.time()
    events = [
        api_event("fresh-0", now - 60),
        api_event("aging", now - SEVEN_DAYS_S + 30),
        api_event("fresh-1", now),
    ]
    with ConversionsClient(
        api_key=emulator.api_key, pixel_id=emulator.pixel_id, base_url=emulator.url
    ) as client:
        report = client.send(events)
    assert answered(emulator) == [(422, 3), (200, 2)]
    assert sorted(accepted_ids(emulator)) == ["fresh-0", "fresh-1"]
    assert dict(report.reasons["rejected"]) == {"too_old": 1}
    assert report.events["sent"] == 2


def test_through_the_hook_the_clock_and_sleep_are_injectable(
    emulator: EmulatorServer, define_conns, tmp_path: Path
) -> None:
    define_conns(str(tmp_path / "unused.db"), emulator)
    emulator.configure(rate_429=1.0, retry_after="60")
    fake = FakeTime(on_sleep=lambda: emulator.configure(rate_429=0.0))
    hook = OpenAIAdsHook(OPENAI_ADS_CONN_ID, retry=POLICY, clock=fake.clock, sleep=fake.sleep)
    events = [
        PreparedEvent.from_event(api_event("aging", fake.now - SEVEN_DAYS_S + 30)),
        PreparedEvent.from_event(api_event("fresh", fake.now - 60)),
    ]
    report = hook.send_events(events, report=Report())
    hook.close()
    assert accepted_ids(emulator) == ["fresh"]
    assert dict(report.reasons["rejected"]) == {"too_old": 1}


def test_operator_row_valid_when_read_is_rejected_too_old_after_the_wait(
    emulator: EmulatorServer, define_conns, tmp_path: Path
) -> None:
    """SQL path: the mapper (real clock) accepts the row; by the retry it is too old; the task says why."""
    now = time.time()
    rows = [("aging", now - SEVEN_DAYS_S + 30), *[(f"fresh-{i}", now - 3600) for i in range(3)]]
    build_table(str(tmp_path / "wh.db"), ("event_id", "event_time"), rows)
    define_conns(str(tmp_path / "wh.db"), emulator)
    emulator.configure(rate_429=1.0, retry_after="60")
    fake = FakeTime(on_sleep=lambda: emulator.configure(rate_429=0.0))
    ti = FakeTI()
    op = SqlOperator(
        sql="SELECT event_id, event_time FROM events",
        event_type="page_view",
        default_action_source="other",
        rejected_path=str(tmp_path / "rejected.jsonl"),
        hook_options={"retry": POLICY, "clock": fake.clock, "sleep": fake.sleep},
    )
    with pytest.raises(AirflowFailException) as raised:  # max_rejected_ratio 0: any rejection fails the task
        op.execute({"ti": ti})
    assert "too_old" in str(raised.value)
    assert "last 7 days" in str(raised.value)
    report = ti.pushed["openai_ads_report"]
    assert_report_adds_up(report)
    assert report["rejected_by_reason"] == {"too_old": 1}
    assert report["rows"]["sent"] == 3
    assert sorted(accepted_ids(emulator)) == ["fresh-0", "fresh-1", "fresh-2"]
    assert (
        '"event_id":"aging","outcome":"rejected","reason":"too_old"'
        in (tmp_path / "rejected.jsonl").read_text()
    )
