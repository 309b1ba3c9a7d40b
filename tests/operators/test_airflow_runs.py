"""Real Airflow runs of the example DAGs: ``dag.test`` against a migrated metadata DB.

Both examples run once, in one child process (see ``AirflowRunner`` in conftest), against a
SQLite warehouse and the emulator; the tests then check what Airflow recorded (run and task
states, the XCom reports, rendered fields) and what the emulator received.
"""

from __future__ import annotations

import datetime as dt
import json
import sqlite3
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from airflow_provider_openai_ads.emulator.server import EmulatorServer

from .conftest import (
    EMULATOR_KEY,
    UTC,
    AirflowRunner,
    DagRunResult,
    Expectation,
    Expected,
    Warehouse,
    assert_no_raw_identifiers,
    build_sqlite_warehouse,
    epoch_ms,
    last_aligned,
    minor_units,
    normalize_email,
    openai_ads_connection,
    sha256_hex,
    sqlite_connection,
)

pytestmark = pytest.mark.airflow_db

DAILY = "example_openai_ads_daily_orders"
LEADS = "example_openai_ads_leads_and_custom"
BOUNDARY_ORDER = "order-at-interval-end"

# -- the CRM table the leads example reads ----------------------------------------------------------

#: event name -> (type, custom_event_name, data.type) after the example's event_type_map and aliases
CRM_KINDS = {
    "demo_requested": ("lead_created", None, "customer_action"),
    "account_created": ("registration_completed", None, "customer_action"),
    "trial_begun": ("trial_started", None, "plan_enrollment"),
    "plan_purchased": ("subscription_created", None, "plan_enrollment"),
    "meeting_booked": ("appointment_scheduled", None, "customer_action"),
    "sign_up": ("registration_completed", None, "customer_action"),  # built-in GA4 alias
    "webinar_attended": ("custom", "webinar_attended", "custom"),  # unknown but valid: custom
}
CRM_GOOD_ROWS = 20
CRM_BAD_NAME = "bad name!"  # neither a type, an alias nor a valid custom name


@dataclass(frozen=True)
class CrmRow:
    event_id: str
    event_name: str
    occurred_at: dt.datetime
    channel: str | None
    landing_url: str | None
    email: str
    external_id: str
    plan_code: str | None
    mrr: str | None
    currency: str | None


def crm_rows(start: dt.datetime, end: dt.datetime) -> list[CrmRow]:
    """20 good rows and one bad one in ``[start, end)``, plus rows at and outside the bounds."""
    names = list(CRM_KINDS)
    rows = []
    for k in range(CRM_GOOD_ROWS):
        name = names[k % len(names)]
        plan = name in ("trial_begun", "plan_purchased")
        phone_call = name == "meeting_booked"
        rows.append(
            CrmRow(
                event_id=f"crm-{k:04d}",
                event_name=name,
                occurred_at=start + dt.timedelta(minutes=2 * k + 1),
                channel="phone_call" if phone_call else (None if k % 2 else "web"),  # NULL: default "web"
                landing_url=None if phone_call else f"https://example.com/landing/{k}",
                email=f" Lead{k}@Example.ORG ",
                external_id=f"crm-user-{k}",
                plan_code=f"plan-{k}" if plan else None,
                mrr=("49.90" if name == "plan_purchased" else None),
                currency=("EUR" if name == "plan_purchased" else None),
            )
        )
    rows.append(
        CrmRow(
            "crm-bad",
            CRM_BAD_NAME,
            start + dt.timedelta(minutes=50),
            "web",
            "https://example.com/x",
            " bad@Example.ORG ",
            "crm-user-bad",
            None,
            None,
            None,
        )
    )
    for event_id, when in (
        ("crm-at-start", start),
        ("crm-at-end", end),
        ("crm-before", start - dt.timedelta(1)),
    ):
        rows.append(
            CrmRow(
                event_id,
                "sign_up",
                when,
                "web",
                "https://example.com/edge",
                f" {event_id}@Example.ORG ",
                event_id,
                None,
                None,
                None,
            )
        )
    return rows


def crm_expectation(rows: list[CrmRow], start: dt.datetime, end: dt.datetime) -> Expectation:
    items = {}
    for row in rows:
        if not start <= row.occurred_at < end:
            continue
        raw = (row.email, normalize_email(row.email))
        if row.event_name == CRM_BAD_NAME:
            items[row.event_id] = Expected(
                row.event_id, 1, "rejected", "invalid_event_type", raw_identifiers=raw
            )
            continue
        event_type, custom_name, shape = CRM_KINDS[row.event_name]
        data: dict[str, Any] = {"type": shape}
        if row.plan_code:
            data["plan_id"] = row.plan_code
        if row.mrr:
            data.update(amount=minor_units(row.mrr, row.currency), currency=row.currency)
        event: dict[str, Any] = {
            "id": row.event_id,
            "type": event_type,
            "timestamp_ms": epoch_ms(row.occurred_at),
            "action_source": row.channel or "web",
            "user": {
                "emails_sha256": [sha256_hex(normalize_email(row.email))],
                "external_ids_sha256": [sha256_hex(row.external_id)],
            },
            "data": data,
        }
        if custom_name:
            event["custom_event_name"] = custom_name
        if row.landing_url:
            event["source_url"] = row.landing_url
        items[row.event_id] = Expected(row.event_id, 1, "sent", event=event, raw_identifiers=raw)
    return Expectation(items)


def add_crm_table(path: Path, rows: list[CrmRow]) -> None:
    with sqlite3.connect(path) as conn:
        conn.execute(
            "CREATE TABLE crm_events (event_id TEXT, event_name TEXT, occurred_at TEXT, channel TEXT, "
            "landing_url TEXT, email TEXT, external_id TEXT, plan_code TEXT, mrr TEXT, currency TEXT)"
        )
        conn.executemany(
            "INSERT INTO crm_events VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            [
                (
                    r.event_id,
                    r.event_name,
                    r.occurred_at.isoformat(),
                    r.channel,
                    r.landing_url,
                    r.email,
                    r.external_id,
                    r.plan_code,
                    r.mrr,
                    r.currency,
                )
                for r in rows
            ],
        )


def add_boundary_order(path: Path, when: dt.datetime) -> None:
    """A copy of the first order stamped exactly at the interval's end, which is excluded (``<``)."""
    with sqlite3.connect(path) as conn:
        conn.execute(
            "INSERT INTO orders SELECT ?, ?, email, phone, customer_id, first_name, last_name, city, region, "
            "postal_code, country, ip_address, user_agent, oppref, page_url, total, currency, marketing_consent "
            "FROM orders WHERE order_id = 'order-0000000'",
            (BOUNDARY_ORDER, when.isoformat()),
        )
        conn.execute(
            "INSERT INTO order_items SELECT ?, line_no, sku, product_name, quantity, unit_price "
            "FROM order_items WHERE order_id = 'order-0000000'",
            (BOUNDARY_ORDER,),
        )


# -- one child process runs both examples -------------------------------------------------------------


@dataclass
class Runs:
    daily: DagRunResult
    leads: DagRunResult
    daily_interval: tuple[dt.datetime, dt.datetime]
    leads_interval: tuple[dt.datetime, dt.datetime]
    orders: Expectation
    crm: Expectation
    xcom_events: dict[str, dict[str, Any]]
    received: list[dict[str, Any]]
    requests: list[Any]
    output: str
    rejected_dir: Path


@pytest.fixture(scope="module")
def runs(
    airflow_runner: AirflowRunner, emulator_server: EmulatorServer, tmp_path_factory: pytest.TempPathFactory
) -> Runs:
    now = dt.datetime.now(UTC)
    # the latest complete intervals: daily at 02:00 (the examples' CronDataIntervalTimetable), hourly at :15
    daily_end = last_aligned(now, hour=2, minute=0)
    daily_start = daily_end - dt.timedelta(days=1)
    leads_end = last_aligned(now, minute=15)
    leads_start = leads_end - dt.timedelta(hours=1)

    root = tmp_path_factory.mktemp("airflow-runs")
    # orders from 3 hours before the interval to its end: about 1 in 9 must stay out of the run
    warehouse: Warehouse = build_sqlite_warehouse(
        root / "warehouse.db", 1300, daily_start - dt.timedelta(hours=3), daily_end
    )
    add_boundary_order(warehouse.path, daily_end)
    rows = crm_rows(leads_start, leads_end)
    add_crm_table(warehouse.path, rows)
    rejected_dir = root / "rejected"

    emulator_server.reset(restore_config=True)
    results, output = airflow_runner.dags_test(
        [(DAILY, daily_end), (LEADS, leads_end)],
        env={
            "AIRFLOW_CONN_WAREHOUSE": sqlite_connection(warehouse.path),
            "AIRFLOW_CONN_OPENAI_ADS_DEFAULT": openai_ads_connection(emulator_server.url),
            "AIRFLOW_VAR_OPENAI_ADS_REJECTED_DIR": str(rejected_dir),
        },
    )
    daily, leads = results
    when = leads_end - dt.timedelta(minutes=5)  # how the example's webhook_backlog stamps its events
    xcom_events = {
        "quiz-0001": {
            "id": "quiz-0001",
            "type": "custom",
            "custom_event_name": "quiz_completed",
            "timestamp_ms": epoch_ms(when),
            "action_source": "web",
            "source_url": "https://example.com/quiz",
            "user": {"emails_sha256": [sha256_hex("someone@example.com")]},
            "data": {"type": "custom"},
        },
        "lead-0001": {
            "id": "lead-0001",
            "type": "lead_created",
            "timestamp_ms": epoch_ms(when),
            "action_source": "phone_call",
            # the API documentation's own example: +1 415 555 2671 -> 14155552671
            "user": {
                "phone_numbers_sha256": ["758fbf68945f21c416814c539ab578876c8d98fb69e6da692def92cd52417fe0"]
            },
            "data": {"type": "customer_action"},
        },
    }
    return Runs(
        daily=daily,
        leads=leads,
        daily_interval=(daily_start, daily_end),
        leads_interval=(leads_start, leads_end),
        orders=warehouse.expectation(window=(daily_start, daily_end)),
        crm=crm_expectation(rows, leads_start, leads_end),
        xcom_events=xcom_events,
        received=emulator_server.events(),
        requests=emulator_server.requests(),
        output=output,
        rejected_dir=rejected_dir,
    )


def received_with_ids(runs: Runs, ids: set[str]) -> list[dict[str, Any]]:
    return [e for e in runs.received if e["id"] in ids]


# -- the daily orders example -------------------------------------------------------------------------


def test_daily_run_succeeds_over_its_data_interval(runs: Runs) -> None:
    assert runs.daily.dag_id == DAILY
    assert runs.daily.state == "success"
    assert runs.daily.tasks == {"send_orders": "success"}
    assert runs.daily.data_interval == runs.daily_interval
    start, end = runs.daily_interval
    assert end - start == dt.timedelta(days=1)
    # the query ran over exactly that interval, rendered from the .sql file
    sql = runs.daily.rendered["send_orders"]["sql"]
    assert f"o.created_at >= '{start.isoformat()}'" in sql
    assert f"o.created_at < '{end.isoformat()}'" in sql
    assert "{{" not in sql


def test_daily_xcom_report_counts_add_up(runs: Runs) -> None:
    report = runs.daily.report("send_orders")
    runs.orders.check_report(report)
    assert report["validate_only"] is False
    assert report["dry_run"] is False
    # the 5 bad kinds, 1 order each, and some orders without consent are in the interval
    assert set(report["rejected_by_reason"]) == {
        "invalid_currency",
        "too_many_decimals",
        "negative_amount",
        "missing_currency",
        "missing_source_url",
    }
    assert report["skipped_by_reason"]["consent_withheld"] > 0
    sent = report["events"]["sent"]
    assert report["requests"] == -(-sent // 1000)  # 1,000 events per request, no retries
    assert report["retries"] == 0
    assert report["bytes_sent"] > 0
    # the failure-only XCom is not pushed on success
    assert set(runs.daily.xcoms["send_orders"]) == {"return_value"}


def test_daily_emulator_received_exactly_the_expected_events(runs: Runs) -> None:
    orders = runs.orders
    received = [e for e in runs.received if not e["id"].startswith(("crm-", "quiz-", "lead-"))]
    orders.check_received(received)
    ids = {e["id"] for e in received}
    assert BOUNDARY_ORDER not in ids
    assert len(orders.items) < 1300  # orders before the interval exist in the warehouse and were not read
    # every request was accepted whole: bad rows never reached a batch, so no batch failed for them
    assert {r.events for r in runs.requests if r.pid == "emulator-pixel"} <= set(range(1, 1001))
    assert all(r.status == 200 and r.accepted == r.events for r in runs.requests)


def test_daily_money_time_and_contents_field_by_field(runs: Runs) -> None:
    by_id = {e["id"]: e for e in runs.received}
    usd = next(e for e in by_id.values() if e.get("data", {}).get("currency") == "USD")
    jpy = next(e for e in by_id.values() if e.get("data", {}).get("currency") == "JPY")
    expected_usd = runs.orders.items[usd["id"]].event
    expected_jpy = runs.orders.items[jpy["id"]].event
    assert usd["data"] == expected_usd["data"]
    assert jpy["data"] == expected_jpy["data"]
    # e.g. sku-starter: 25.99 USD -> 2599 cents; 2,599 JPY -> 2599 yen (JPY has no minor unit)
    starter_usd = next(
        (
            c
            for e in by_id.values()
            if e["data"].get("currency") == "USD"
            for c in e["data"]["contents"]
            if c["id"] == "sku-starter"
        ),
        None,
    )
    starter_jpy = next(
        (
            c
            for e in by_id.values()
            if e["data"].get("currency") == "JPY"
            for c in e["data"]["contents"]
            if c["id"] == "sku-starter"
        ),
        None,
    )
    assert starter_usd is not None
    assert starter_usd["amount"] == 2599
    assert starter_jpy is not None
    assert starter_jpy["amount"] == 2599
    start, end = runs.daily_interval
    for event in by_id.values():
        if event["id"].startswith("order-"):
            assert isinstance(event["timestamp_ms"], int)
            assert epoch_ms(start) <= event["timestamp_ms"] < epoch_ms(end)
            assert isinstance(event["data"]["amount"], int)
            assert event["data"]["amount"] == sum(
                c["amount"] * c["quantity"] for c in event["data"]["contents"]
            )


def test_daily_bad_orders_rejected_by_reason_and_written_to_the_jsonl_file(runs: Runs) -> None:
    path = Path(runs.daily.rendered["send_orders"]["rejected_path"])
    assert path == runs.rejected_dir / DAILY / f"{runs.daily.run_id}.jsonl"
    lines = runs.orders.check_jsonl(path)
    rejected = {line["event_id"]: line["reason"] for line in lines if line["outcome"] == "rejected"}
    assert rejected == {
        "bad-currency-0001000": "invalid_currency",
        "bad-decimals-0001001": "too_many_decimals",
        "bad-negative-0001002": "negative_amount",
        "bad-nocurrency-0001003": "missing_currency",
        "bad-nourl-0001004": "missing_source_url",
    }
    received = {e["id"] for e in runs.received}
    assert not set(rejected) & received


def test_no_raw_identifier_or_api_key_in_logs_or_xcom(runs: Runs) -> None:
    raw = runs.orders.raw_identifiers | runs.crm.raw_identifiers
    xcom_raw = {"someone@example.com", "+1 415 555 2671"}
    for run in (runs.daily, runs.leads):
        reports = {t: x for t, x in run.xcoms.items() if t != "webhook_backlog"}  # the user's own task
        assert_no_raw_identifiers(json.dumps(reports), raw | xcom_raw)
        assert EMULATOR_KEY not in json.dumps(run.xcoms)
    # Airflow itself logs what the user's TaskFlow task returns ("Done. Returned value was: ...")
    logs = "".join(line for line in runs.output.splitlines(keepends=True) if "Returned value was" not in line)
    assert "Streaming rows from 'warehouse'" in logs  # the task logs are there
    assert_no_raw_identifiers(logs, raw | xcom_raw)
    assert EMULATOR_KEY not in runs.output


def test_no_raw_identifier_or_api_key_in_rendered_sql_fields(runs: Runs) -> None:
    raw = runs.orders.raw_identifiers | runs.crm.raw_identifiers
    for rendered in (runs.daily.rendered["send_orders"], runs.leads.rendered["send_crm_events"]):
        assert_no_raw_identifiers(json.dumps(rendered), raw)
        assert EMULATOR_KEY not in json.dumps(rendered)


def test_send_events_rendered_fields_hold_no_raw_identifiers(runs: Runs) -> None:
    rendered = json.dumps(runs.leads.rendered["send_from_xcom"])
    assert_no_raw_identifiers(rendered, {"someone@example.com", "+1 415 555 2671"})


# -- the leads and custom events example ------------------------------------------------------------


def test_leads_run_succeeds_with_both_senders(runs: Runs) -> None:
    assert runs.leads.dag_id == LEADS
    assert runs.leads.state == "success"
    assert runs.leads.tasks == {
        "send_crm_events": "success",
        "webhook_backlog": "success",
        "send_from_xcom": "success",
    }
    assert runs.leads.data_interval == runs.leads_interval


def test_leads_crm_events_mapped_sent_and_rejected(runs: Runs) -> None:
    report = runs.leads.report("send_crm_events")
    runs.crm.check_report(report)
    assert report["rejected_by_reason"] == {"invalid_event_type": 1}  # 1 of 21 rows, under the 5% allowed
    runs.crm.check_received(received_with_ids(runs, set(runs.crm.items) | {"crm-at-end", "crm-before"}))
    assert "crm-at-start" in runs.crm.ids("sent")  # bounds: [start, end)


def test_leads_xcom_events_sent_by_the_send_events_operator(runs: Runs) -> None:
    backlog = runs.leads.xcoms["webhook_backlog"]["return_value"]
    assert [e["event_id"] for e in backlog] == ["quiz-0001", "lead-0001"]
    report = runs.leads.report("send_from_xcom")
    assert report["rows_read"] == 2
    assert report["events_built"] == 2
    assert report["events"] == {"sent": 2, "rejected": 0, "failed": 0, "skipped": 0}
    assert report["rows"] == {"sent": 2, "rejected": 0, "failed": 0, "skipped": 0}
    assert report["requests"] == 1
    received = {e["id"]: e for e in received_with_ids(runs, set(runs.xcom_events))}
    assert received == runs.xcom_events
