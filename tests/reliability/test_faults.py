"""Suite 1, faults: SqlToOpenAIAdsOperator over a SQLite warehouse against a faulty emulator.

The main run sends 200,000 rows while about 15% of the requests fail transiently (429 with
``Retry-After: 0``, 500, 503, dropped connections, and slow answers that outlast the client's
timeout, so the emulator accepts a batch whose answer the client never sees and the resend is a
duplicate). Every valid event must end up accepted exactly once, every row must be in exactly
one outcome of the report, and the run may only wait what it was told to wait. A permanent
outage (503 on every request, or a closed port) must end within the retry budget with every
undelivered event reported as failed.
"""

from __future__ import annotations

import json
import math
import socket
import threading
import time
from pathlib import Path
from typing import Any

import pytest
from airflow.sdk.exceptions import AirflowException, AirflowFailException

from airflow_provider_openai_ads.conversions.client import RetryPolicy
from airflow_provider_openai_ads.emulator import EmulatorServer

from .helpers import (
    DAY_S,
    FakeTI,
    RecordingSleep,
    SqlOperator,
    accepted_ids,
    assert_report_adds_up,
    build_table,
)

pytestmark = pytest.mark.timeout(240)

COLUMNS = ("event_id", "event_time", "email", "amount", "currency", "consent")
QUERY = "SELECT event_id, event_time, email, amount, currency, consent FROM events"

#: about 15% of the requests fail: 4% 429, 3.5% 500, 3.5% 503, 3% dropped, 2% slower than the timeout
FAULTS: dict[str, Any] = {
    "rate_429": 0.04,
    "rate_500": 0.035,
    "rate_503": 0.035,
    "rate_drop": 0.03,
    "slow_rate": 0.02,
    "slow_ms": 1500.0,
    "retry_after": "0",
    "seed": 11,
}
CLIENT_TIMEOUT_S = 1.0
FAULT_POLICY = RetryPolicy(max_attempts=12, initial_backoff_s=0.02, max_backoff_s=0.1, budget_s=30.0)
#: what 200,000 small events cost without any fault, with room for a loaded 2-core machine
#: (measured: 20-25 s including the faults below)
PROCESSING_ALLOWANCE_S = 45.0


def kind(i: int) -> str:
    """The fate of row ``i``: ``bad`` (invalid currency), ``poison`` (refused by the API), ``consent``, ``ok``."""
    if i % 10_000 == 5_000:
        return "poison"
    if i % 1_000 == 7:
        return "bad"
    if i % 500 == 3:
        return "consent"
    return "ok"


def event_id(i: int) -> str:
    return f"poison-{i:07d}" if kind(i) == "poison" else f"ev-{i:07d}"


def build_warehouse(path: Path, n: int) -> dict[str, list[str]]:
    """``n`` one-row events from the last day; returns the ids of each kind."""
    start = int(time.time()) - DAY_S + 600
    rows = (
        (
            event_id(i),
            start + i % (DAY_S - 1200),
            f"Customer.{i}@Example.com",
            100 + i % 9_000,
            "XYZ" if kind(i) == "bad" else "USD",
            0 if kind(i) == "consent" else 1,
        )
        for i in range(n)
    )
    build_table(str(path), COLUMNS, rows)
    ids: dict[str, list[str]] = {"ok": [], "bad": [], "poison": [], "consent": []}
    for i in range(n):
        ids[kind(i)].append(event_id(i))
    return ids


def operator(tmp_path: Path, **hook_options: Any) -> SqlOperator:
    return SqlOperator(
        sql=QUERY,
        event_type="purchase",
        default_action_source="other",
        max_rejected_ratio=0.05,
        rejected_path=str(tmp_path / "rejected.jsonl"),
        progress_interval=5.0,
        hook_options=hook_options,
    )


def sink_lines(tmp_path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in (tmp_path / "rejected.jsonl").read_text().splitlines()]


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_200k_events_through_transient_faults_are_accepted_exactly_once(
    tmp_path: Path, emulator: EmulatorServer, define_conns
) -> None:
    n = 200_000
    ids = build_warehouse(tmp_path / "wh.db", n)
    define_conns(str(tmp_path / "wh.db"), emulator)
    emulator.configure(**FAULTS)
    sleep = RecordingSleep()
    op = operator(tmp_path, retry=FAULT_POLICY, timeout=CLIENT_TIMEOUT_S, sleep=sleep)

    started = time.monotonic()
    report = op.execute({"ti": FakeTI()})
    run_s = time.monotonic() - started
    stats = emulator.stats()
    delivered = accepted_ids(emulator)

    # every valid event accepted exactly once, nothing else, nothing lost
    expected = set(ids["ok"])
    assert len(delivered) == len(set(delivered)) == len(expected) == stats.events_accepted
    assert set(delivered) == expected
    assert stats.dedup_keys == len(expected)

    # the report: every row in exactly one outcome, with the right reasons
    assert_report_adds_up(report)
    assert report["rows_read"] == n
    assert report["rows"] == {
        "sent": len(ids["ok"]),
        "rejected": len(ids["bad"]) + len(ids["poison"]),
        "failed": 0,
        "skipped": len(ids["consent"]),
    }
    assert report["rejected_by_reason"] == {
        "invalid_currency": len(ids["bad"]),
        "invalid_event_rejected_by_server": len(ids["poison"]),
    }
    assert report["skipped_by_reason"] == {"consent_withheld": len(ids["consent"])}
    lines = sink_lines(tmp_path)
    assert sorted(line["event_id"] for line in lines) == sorted(ids["bad"] + ids["poison"] + ids["consent"])

    # the faults really happened, and resent batches the emulator had already taken were deduplicated
    faults = sum(stats.faults[k] for k in ("drop", "429", "500", "503"))
    failing = faults + stats.faults["slow"]
    assert 0.08 <= failing / stats.requests <= 0.25, stats
    assert min(stats.faults[k] for k in ("drop", "429", "500", "503", "slow")) >= 1, stats
    assert stats.events_duplicates >= 1, stats
    # the client also counts requests that died on a keep-alive connection before the server saw them
    assert report["requests"] >= stats.requests
    assert report["retries"] >= faults

    # it waited what it was told, and no more: Retry-After 0, else the policy's capped backoff
    assert len(sleep.delays) == report["retries"]
    assert max(sleep.delays) <= FAULT_POLICY.max_backoff_s
    told_to_wait = sum(sleep.delays)
    assert told_to_wait <= report["retries"] * FAULT_POLICY.max_backoff_s
    budget = told_to_wait + stats.faults["slow"] * CLIENT_TIMEOUT_S + PROCESSING_ALLOWANCE_S
    assert run_s <= budget, (run_s, budget)

    print(
        "\nFAULTS "
        + json.dumps(
            {
                "events": n,
                "valid_events": len(expected),
                "requests_seen_by_emulator": stats.requests,
                "requests_sent_by_client": report["requests"],
                "requests_by_status": stats.requests_by_status,
                "faults": stats.faults,
                "fault_rate": round(failing / stats.requests, 4),
                "retries": report["retries"],
                "duplicates_seen_by_emulator": stats.events_duplicates,
                "lost": len(expected - set(delivered)),
                "duplicates_accepted": len(delivered) - len(set(delivered)),
                "slept_s": round(told_to_wait, 3),
                "run_s": round(run_s, 2),
                "budget_s": round(budget, 2),
            }
        )
    )


@pytest.mark.parametrize("outage", ["503", "closed_port"])
def test_permanent_outage_fails_every_event_within_the_budget(
    tmp_path: Path, emulator: EmulatorServer, define_conns, outage: str
) -> None:
    n = 20_000
    ids = build_warehouse(tmp_path / "wh.db", n)
    if outage == "503":
        define_conns(str(tmp_path / "wh.db"), emulator)
        emulator.configure(rate_503=1.0)
    else:
        define_conns(
            str(tmp_path / "wh.db"),
            host=f"http://127.0.0.1:{closed_port()}",
            password=emulator.api_key,
            extra={"pixel_id": emulator.pixel_id},
        )
    policy = RetryPolicy(max_attempts=1_000, initial_backoff_s=0.05, max_backoff_s=0.1, budget_s=1.0)
    ti = FakeTI()
    op = operator(tmp_path, retry=policy, timeout=CLIENT_TIMEOUT_S)

    started = time.monotonic()
    with pytest.raises(AirflowException) as raised:
        op.execute({"ti": ti})
    run_s = time.monotonic() - started

    # a plain AirflowException: Airflow's task retries apply (AirflowFailException would skip them)
    assert not isinstance(raised.value, AirflowFailException)
    assert "task retry resends them safely" in str(raised.value)
    report = ti.pushed["openai_ads_report"]
    assert_report_adds_up(report)
    valid = len(ids["ok"]) + len(ids["poison"])  # the API never got to judge the poison events
    reason = "http_503" if outage == "503" else "connection_error"
    assert report["events"] == {"sent": 0, "rejected": 0, "failed": valid, "skipped": 0}
    assert report["rows"]["failed"] == valid
    assert report["failed_by_reason"] == {reason: valid}
    failed_ids = sorted(line["event_id"] for line in sink_lines(tmp_path) if line["outcome"] == "failed")
    assert failed_ids == sorted(ids["ok"] + ids["poison"])
    assert emulator.stats().events_accepted == 0

    # each batch retries for at most budget_s (plus one request's timeout); max_in_flight run at once
    batches = math.ceil(valid / 1_000)
    bound = math.ceil(batches / 4) * (policy.budget_s + CLIENT_TIMEOUT_S) + 10.0
    assert run_s <= bound, (run_s, bound)
    print(
        f"\nOUTAGE {outage}: {valid} events failed ({reason}), 0 lost, {report['requests']} requests, "
        f"{report['retries']} retries, run {run_s:.2f}s <= bound {bound:.1f}s"
    )


def test_permanent_outage_ends_within_one_run_level_budget(
    tmp_path: Path, emulator: EmulatorServer, define_conns
) -> None:
    ids = build_warehouse(tmp_path / "wh.db", 40_000)
    define_conns(str(tmp_path / "wh.db"), emulator)
    emulator.configure(rate_503=1.0)
    policy = RetryPolicy(max_attempts=1_000, initial_backoff_s=0.05, max_backoff_s=0.1, budget_s=0.5)
    ti = FakeTI()
    started = time.monotonic()
    with pytest.raises(AirflowException):
        operator(tmp_path, retry=policy, timeout=CLIENT_TIMEOUT_S).execute({"ti": ti})
    run_s = time.monotonic() - started
    assert ti.pushed["openai_ads_report"]["events"]["failed"] == len(ids["ok"]) + len(ids["poison"])
    # 40 batches, 4 in flight: one budget per round would be 10 rounds of 0.5 s plus the ~1-2 s it
    # takes to read and map 40,000 rows (over 6 s); one budget for the run keeps it well under 4 s
    assert run_s <= 2 * policy.budget_s + 3.0, run_s


def test_outage_shorter_than_the_budget_is_absorbed(
    tmp_path: Path, emulator: EmulatorServer, define_conns
) -> None:
    ids = build_warehouse(tmp_path / "wh.db", 5_000)
    define_conns(str(tmp_path / "wh.db"), emulator)
    emulator.configure(rate_503=1.0)
    timer = threading.Timer(1.0, emulator.configure, kwargs={"rate_503": 0.0})
    timer.start()
    policy = RetryPolicy(max_attempts=1_000, initial_backoff_s=0.05, max_backoff_s=0.2, budget_s=15.0)
    try:
        report = operator(tmp_path, retry=policy, timeout=CLIENT_TIMEOUT_S).execute({"ti": FakeTI()})
    finally:
        timer.cancel()
    assert_report_adds_up(report)
    assert report["events"]["failed"] == 0
    assert report["retries"] >= 5
    delivered = accepted_ids(emulator)
    assert len(delivered) == len(set(delivered))
    assert set(delivered) == set(ids["ok"])


@pytest.mark.parametrize(
    ("retry_after", "budget_s", "expected_sleeps"),
    [
        ("0.3", 10.0, [0.3] * 6),  # two batches, three retries each, exactly as told
        ("30", 2.0, []),  # longer than the budget: not waited for, the batch fails at once
    ],
)
def test_429_waits_exactly_what_retry_after_says(
    tmp_path: Path,
    emulator: EmulatorServer,
    define_conns,
    retry_after: str,
    budget_s: float,
    expected_sleeps: list[float],
) -> None:
    ids = build_warehouse(tmp_path / "wh.db", 2_000)
    define_conns(str(tmp_path / "wh.db"), emulator)
    emulator.configure(rate_429=1.0, retry_after=retry_after)
    sleep = RecordingSleep()
    policy = RetryPolicy(max_attempts=4, initial_backoff_s=5.0, max_backoff_s=5.0, budget_s=budget_s)
    ti = FakeTI()
    started = time.monotonic()
    with pytest.raises(AirflowException):
        operator(tmp_path, retry=policy, timeout=CLIENT_TIMEOUT_S, sleep=sleep).execute({"ti": ti})
    run_s = time.monotonic() - started
    assert sorted(sleep.delays) == expected_sleeps
    assert run_s <= sum(expected_sleeps) / 2 + 5.0, run_s  # two batches wait side by side
    report = ti.pushed["openai_ads_report"]
    assert report["failed_by_reason"] == {"rate_limited": len(ids["ok"]) + len(ids["poison"])}
