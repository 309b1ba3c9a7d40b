"""SqlToOpenAIAdsOperator executed directly (no metadata DB) against SQLite warehouses and the emulator."""

from __future__ import annotations

import datetime as dt
import importlib.util
import json
import threading
import time
from pathlib import Path
from typing import Any

import jinja2
import pytest
from airflow.sdk import DAG
from airflow.sdk.exceptions import AirflowFailException

from airflow_provider_openai_ads.emulator.server import EmulatorServer
from airflow_provider_openai_ads.transfers import sql_to_openai_ads
from airflow_provider_openai_ads.transfers.sql_to_openai_ads import SqlToOpenAIAdsOperator
from demo.warehouse import ORDERS_QUERY

from .conftest import (
    EMULATOR_KEY,
    EXAMPLE_DAGS,
    UTC,
    Expectation,
    Expected,
    FakeTaskInstance,
    Warehouse,
    assert_no_raw_identifiers,
    openai_ads_connection,
    recent_window,
    task_context,
)

ORDERED_QUERY = ORDERS_QUERY + "ORDER BY o.order_id, i.line_no"
ALL_BAD_REASONS = {
    "invalid_currency",
    "too_many_decimals",
    "negative_amount",
    "missing_currency",
    "missing_source_url",
}


def sql_operator(**kwargs: Any) -> SqlToOpenAIAdsOperator:
    options: dict[str, Any] = {"task_id": "send_orders", "conn_id": "warehouse", "sql": ORDERED_QUERY}
    return SqlToOpenAIAdsOperator(**{**options, **kwargs})


def render_and_execute(op: SqlToOpenAIAdsOperator, context: dict[str, Any]) -> dict[str, Any]:
    """What the task runner does: render the template fields, then execute."""
    op.render_template_fields(context)
    return op.execute(context)


def check_emulator(emulator: EmulatorServer, expectation: Expectation, report: dict[str, Any]) -> None:
    expectation.check_received(emulator.events())
    stats = emulator.stats()
    sent = len(expectation.ids("sent"))
    assert stats.events_received == stats.events_accepted == sent
    assert stats.events_rejected == stats.events_duplicates == 0
    assert stats.requests == report["requests"]
    assert stats.requests_by_status == ({"200": report["requests"]} if sent else {})
    assert all(0 < r.events <= 1000 for r in emulator.requests())


def load_example_dag(name: str) -> DAG:
    """Import an example DAG file the way the DAG processor does: by path."""
    path = EXAMPLE_DAGS / f"{name}.py"
    spec = importlib.util.spec_from_file_location(f"openai_ads_test_{name}_{time.monotonic_ns()}", path)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.dag


# -- the standard warehouse, end to end ------------------------------------------------------------


@pytest.mark.parametrize("fetch_size", [1, 7, 5000])
def test_orders_sent_field_by_field_and_counts_add_up(
    orders_warehouse: Warehouse, ads_emulator: EmulatorServer, fetch_size: int
) -> None:
    """fetch_size 1 and 7 split an order's line items across fetches: grouping must not care."""
    expectation = orders_warehouse.expectation()
    report = sql_operator(max_rejected_ratio=0.01, fetch_size=fetch_size).execute(task_context())
    expectation.check_report(report)
    assert set(report["rejected_by_reason"]) == ALL_BAD_REASONS
    check_emulator(ads_emulator, expectation, report)


def test_sqlite_is_fetched_in_the_task_thread_and_refuses_a_reader_thread(
    orders_warehouse: Warehouse, ads_emulator: EmulatorServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """SQLite connections belong to the thread that opened them: no prefetch unless asked, and
    asked for, the task fails with a message saying why, before the query runs or anything is sent."""
    threads: set[str] = set()
    streaming_cursor = sql_to_openai_ads._streaming_cursor

    def spy(conn: Any) -> Any:
        cursor = streaming_cursor(conn)

        class Probe:
            def __getattr__(self, name: str) -> Any:
                return getattr(cursor, name)

            def fetchmany(self, size: int) -> list[Any]:
                threads.add(threading.current_thread().name)
                return cursor.fetchmany(size)

        return Probe()

    monkeypatch.setattr(sql_to_openai_ads, "_streaming_cursor", spy)
    expectation = orders_warehouse.expectation()
    report = sql_operator(max_rejected_ratio=0.01).execute(task_context())
    expectation.check_report(report)
    assert threads == {threading.current_thread().name}

    ads_emulator.reset()
    threads.clear()
    with pytest.raises(
        AirflowFailException, match=r"prefetch=True cannot work .* sqlite3 connections can only"
    ):
        sql_operator(max_rejected_ratio=0.01, prefetch=True).execute(task_context())
    assert threads == set()
    assert ads_emulator.stats().requests == 0


def test_sql_file_with_templated_window(
    orders_warehouse: Warehouse, ads_emulator: EmulatorServer, tmp_path: Path
) -> None:
    """A .sql file is read from the DAG's template_searchpath and rendered with the run's interval."""
    (tmp_path / "orders.sql").write_text(
        ORDERS_QUERY + "WHERE o.created_at >= '{{ data_interval_start | ts }}'\n"
        "  AND o.created_at < '{{ data_interval_end | ts }}'\nORDER BY o.order_id, i.line_no\n"
    )
    start = orders_warehouse.start + dt.timedelta(hours=16)  # the last 8 hours hold the bad orders
    end = orders_warehouse.end
    with DAG("sql_file_test", schedule=None, template_searchpath=[str(tmp_path)]):
        op = sql_operator(sql="orders.sql", max_rejected_ratio=0.02)
    report = render_and_execute(op, task_context(start=start, end=end))
    assert f">= '{start.isoformat()}'" in op.sql
    assert f"< '{end.isoformat()}'" in op.sql
    expectation = orders_warehouse.expectation(window=(start, end))
    assert 0 < len(expectation.items) < len(orders_warehouse.expectation().items)
    assert expectation.ids("rejected")
    expectation.check_report(report)
    check_emulator(ads_emulator, expectation, report)


def test_templated_parameters_bind_the_window(
    orders_warehouse: Warehouse, ads_emulator: EmulatorServer
) -> None:
    start = orders_warehouse.start + dt.timedelta(hours=2)
    end = start + dt.timedelta(hours=3)
    op = sql_operator(
        sql=ORDERS_QUERY
        + "WHERE o.created_at >= :start AND o.created_at < :end ORDER BY o.order_id, i.line_no",
        parameters={"start": "{{ data_interval_start | ts }}", "end": "{{ data_interval_end | ts }}"},
    )
    report = render_and_execute(op, task_context(start=start, end=end))
    assert op.parameters == {"start": start.isoformat(), "end": end.isoformat()}
    expectation = orders_warehouse.expectation(window=(start, end))
    assert 0 < len(expectation.items) < 200
    expectation.check_report(report)
    check_emulator(ads_emulator, expectation, report)


def test_templated_parameters_refuse_a_zero_width_window(
    orders_warehouse: Warehouse, ads_emulator: EmulatorServer
) -> None:
    when = orders_warehouse.end
    op = sql_operator(
        sql=ORDERS_QUERY + "WHERE o.created_at >= :start AND o.created_at < :end",
        parameters={"start": "{{ data_interval_start | ts }}", "end": "{{ data_interval_end | ts }}"},
    )
    with pytest.raises(AirflowFailException, match="data interval is empty"):
        render_and_execute(op, task_context(start=when, end=when))
    assert ads_emulator.stats().requests == 0


def test_literal_query_without_templates_runs_without_an_interval(
    orders_warehouse: Warehouse, ads_emulator: EmulatorServer
) -> None:
    report = render_and_execute(sql_operator(max_rejected_ratio=0.01), task_context())
    orders_warehouse.expectation().check_report(report)


# -- the daily example on a window it cannot use -------------------------------------------------------


@pytest.fixture
def daily_example(orders_warehouse: Warehouse, ads_emulator: EmulatorServer, tmp_path: Path):
    """The example's task, and a context factory for it (rejected rows go below ``tmp_path``)."""
    dag = load_example_dag("example_openai_ads_daily_orders")
    task = dag.get_task("send_orders")
    assert isinstance(task, SqlToOpenAIAdsOperator)

    def context(**kwargs: Any) -> dict[str, Any]:
        return task_context(dag=dag, variables={"openai_ads_rejected_dir": str(tmp_path)}, **kwargs)

    return task, context


def test_daily_example_refuses_a_zero_width_interval(daily_example, ads_emulator: EmulatorServer) -> None:
    """A CronTriggerTimetable run: data_interval_start == data_interval_end."""
    task, context = daily_example
    when = dt.datetime.now(UTC).replace(minute=0, second=0, microsecond=0)
    with pytest.raises(AirflowFailException) as failure:
        render_and_execute(task, context(start=when, end=when))
    message = str(failure.value)
    assert "data interval is empty" in message
    assert "CronDataIntervalTimetable" in message
    assert "allow_empty_window=True" in message
    assert ads_emulator.stats().requests == 0


def test_daily_example_runs_a_zero_width_interval_when_allowed(
    daily_example, ads_emulator: EmulatorServer, tmp_path: Path
) -> None:
    task, context = daily_example
    when = dt.datetime.now(UTC).replace(minute=0, second=0, microsecond=0)
    task.allow_empty_window = True
    report = render_and_execute(task, context(start=when, end=when, run_id="scheduled__x"))
    assert report["rows_read"] == 0
    assert report["requests"] == 0
    assert ads_emulator.stats().requests == 0
    assert (tmp_path / "example_openai_ads_daily_orders" / "scheduled__x.jsonl").read_text() == ""


def test_daily_example_refuses_a_run_without_data_interval(
    daily_example, ads_emulator: EmulatorServer
) -> None:
    """A manual or asset-triggered run: the task runner's context has no interval keys at all."""
    task, context = daily_example
    with pytest.raises(Exception):  # noqa: B017 - it refuses; the next test says how it should
        render_and_execute(task, context())
    assert ads_emulator.stats().requests == 0


def _render_and_execute_expecting_the_interval_error(task: SqlToOpenAIAdsOperator, context: dict[str, Any]):
    try:
        return render_and_execute(task, context)
    except jinja2.exceptions.UndefinedError as exc:
        if "'data_interval_start' is undefined" not in str(exc):
            pytest.fail(f"an unexpected template error (a broken test context?): {exc}")
        raise


def test_daily_example_explains_a_run_without_data_interval(daily_example) -> None:
    task, context = daily_example
    with pytest.raises(AirflowFailException, match="no data interval"):
        _render_and_execute_expecting_the_interval_error(task, context())


def test_daily_example_explains_a_none_interval(daily_example, ads_emulator: EmulatorServer) -> None:
    """The keys present but None (as some callers build contexts): the operator's own message."""
    task, context = daily_example
    with pytest.raises(AirflowFailException, match="has no data interval"):
        render_and_execute(task, {**context(), "data_interval_start": None, "data_interval_end": None})
    assert ads_emulator.stats().requests == 0


# -- mapping options -----------------------------------------------------------------------------------------


def test_column_map_renames_warehouse_columns(
    orders_warehouse: Warehouse, ads_emulator: EmulatorServer
) -> None:
    sql = """
        SELECT o.order_id, 'purchase' AS kind, o.created_at, 'web' AS channel, o.page_url, o.oppref,
               o.email AS EMAIL_ADDRESS, o.phone, o.customer_id, o.first_name, o.last_name, o.city, o.region,
               o.postal_code, o.country, o.ip_address, o.user_agent, o.total, o.currency, o.marketing_consent,
               i.sku, i.product_name, i.quantity, i.unit_price
        FROM orders o JOIN order_items i ON i.order_id = o.order_id
        ORDER BY o.order_id, i.line_no
    """
    column_map = {
        "order_id": "event_id",
        "kind": "event_type",
        "created_at": "event_time",
        "channel": "action_source",
        "page_url": "source_url",
        "Email_Address": "email",  # matched case-insensitively
        "customer_id": "external_id",
        "total": "value",
        "marketing_consent": "consent",
        "sku": "item_id",
        "product_name": "item_name",
        "quantity": "item_quantity",
        "unit_price": "item_price",
    }
    report = sql_operator(sql=sql, column_map=column_map, max_rejected_ratio=0.01).execute(task_context())
    expectation = orders_warehouse.expectation()
    expectation.check_report(report)
    check_emulator(ads_emulator, expectation, report)


def test_two_columns_mapped_to_one_name_are_refused_before_anything_is_sent(
    orders_warehouse: Warehouse, ads_emulator: EmulatorServer
) -> None:
    sql = "SELECT order_id AS event_id, email, phone FROM orders"
    operator = sql_operator(sql=sql, column_map={"phone": "email"})
    with pytest.raises(AirflowFailException, match="more than one column named email"):
        operator.execute(task_context())
    assert ads_emulator.stats().requests == 0


def test_event_type_map_and_default_event_type(
    orders_warehouse: Warehouse, ads_emulator: EmulatorServer
) -> None:
    sql = ORDERED_QUERY.replace(
        "'purchase' AS event_type",
        "CASE o.country WHEN 'JP' THEN 'checkout_done' WHEN 'DE' THEN NULL ELSE 'bought' END AS event_type",
    )
    op = sql_operator(
        sql=sql,
        event_type="purchase",  # rows whose event_type is NULL (the DE orders)
        event_type_map={"bought": "order_created", "checkout_done": "checkout_started"},
        max_rejected_ratio=0.01,
    )
    report = op.execute(task_context())
    base = orders_warehouse.expectation()
    items = {}
    for event_id, expected in base.items.items():
        if expected.event is not None and expected.event["user"]["countries"] == ["JP"]:
            expected = Expected(
                **{**expected.__dict__, "event": {**expected.event, "type": "checkout_started"}}
            )
        items[event_id] = expected
    expectation = Expectation(items)
    expectation.check_report(report)
    check_emulator(ads_emulator, expectation, report)
    types = {e["type"] for e in ads_emulator.events()}
    assert types == {"order_created", "checkout_started"}


def test_consent_opt_out_policy_sends_withheld_rows_with_opt_out(
    make_sqlite_warehouse, ads_emulator: EmulatorServer
) -> None:
    start, end = recent_window()
    warehouse = make_sqlite_warehouse(200, start, end, bad_rows=False)
    report = sql_operator(consent_policy="opt_out").execute(task_context())
    base = warehouse.expectation()
    withheld = base.ids("skipped")
    assert len(withheld) == 4  # orders 49, 99, 149, 199
    received = {e["id"]: e for e in ads_emulator.events()}
    assert set(received) == set(base.items)
    for event_id, event in received.items():
        if event_id in withheld:
            assert event["opt_out"] is True
        else:
            assert event == base.items[event_id].event
    assert report["rows"] == {"sent": base.rows(), "rejected": 0, "failed": 0, "skipped": 0}
    assert report["skipped_by_reason"] == {}


# -- dry run and validate_only -------------------------------------------------------------------------------


def test_dry_run_sends_nothing_and_logs_redacted_payloads(
    orders_warehouse: Warehouse, ads_emulator: EmulatorServer, capsys: pytest.CaptureFixture[str]
) -> None:
    """Task logs go to stdout through Airflow's structlog set-up (not the logging module's records)."""
    expectation = orders_warehouse.expectation()
    capsys.readouterr()
    report = sql_operator(dry_run=True, max_rejected_ratio=0.01).execute(task_context())
    logs = "".join(capsys.readouterr())
    assert ads_emulator.stats().requests == 0
    assert ads_emulator.events() == []
    assert report["dry_run"] is True
    assert report["requests"] == 0
    sent = expectation.rows("sent")
    assert report["rows"] == {
        "sent": 0,
        "rejected": expectation.rows("rejected"),
        "failed": 0,
        "skipped": sent + expectation.rows("skipped"),
    }
    assert report["skipped_by_reason"] == {"dry_run": sent, **expectation.reasons("skipped")}
    assert report["rejected_by_reason"] == expectation.reasons("rejected")
    payload_lines = [line for line in logs.splitlines() if "Dry run, payload" in line]
    assert len(payload_lines) == 3
    for line in payload_lines:
        payload = json.loads(line.split("(identifiers redacted): ", 1)[1].rsplit(" [airflow.", 1)[0])
        assert payload["type"] == "order_created"
        assert set(payload["user"].values()) == {"<redacted>"}
        assert payload["id"] in expectation.ids("sent")
        assert payload["data"] == expectation.items[payload["id"]].event["data"]
    assert_no_raw_identifiers(logs, expectation.raw_identifiers)
    hashes = {h for e in expectation.items.values() if e.event for h in e.event["user"]["emails_sha256"]}
    assert_no_raw_identifiers(logs, hashes)


def test_validate_only_stores_nothing(orders_warehouse: Warehouse, ads_emulator: EmulatorServer) -> None:
    expectation = orders_warehouse.expectation()
    report = sql_operator(validate_only=True, max_rejected_ratio=0.01).execute(task_context())
    sent = len(expectation.ids("sent"))
    stats = ads_emulator.stats()
    assert ads_emulator.events() == []
    assert stats.stored_events == 0
    assert stats.events_accepted == 0
    assert stats.validate_only_events == sent
    assert stats.validate_only_requests == report["requests"] == -(-sent // 1000)
    assert all(r.validate_only for r in ads_emulator.requests())
    assert report["validate_only"] is True
    expectation.check_report(report)


# -- rejections: threshold, messages, the JSONL sink -------------------------------------------------------


def test_default_max_rejected_ratio_fails_after_sending_the_valid_rows(
    orders_warehouse: Warehouse, ads_emulator: EmulatorServer
) -> None:
    expectation = orders_warehouse.expectation()
    ti = FakeTaskInstance()
    with pytest.raises(AirflowFailException) as failure:
        sql_operator().execute(task_context(ti=ti))
    message = str(failure.value)
    rejected, read = expectation.rows("rejected"), expectation.rows()
    assert f"{rejected} of {read} rows rejected" in message
    assert "max_rejected_ratio 0.00%" in message
    for reason, rows in expectation.reasons("rejected").items():
        assert f"{reason} ({rows})" in message
    assert "bad-currency-0001000" in message  # examples name event ids
    assert_no_raw_identifiers(message, expectation.raw_identifiers)
    assert EMULATOR_KEY not in message
    # the valid rows were delivered before failing, and the report was pushed for the UI
    expectation.check_received(ads_emulator.events())
    expectation.check_report(ti.pushed["openai_ads_report"])


def test_max_rejected_ratio_threshold_is_inclusive(
    orders_warehouse: Warehouse, ads_emulator: EmulatorServer
) -> None:
    expectation = orders_warehouse.expectation()
    ratio = expectation.rows("rejected") / expectation.rows()
    ti = FakeTaskInstance()
    report = sql_operator(max_rejected_ratio=ratio).execute(task_context(ti=ti))
    expectation.check_report(report)
    assert ti.pushed == {}  # the failure-only push did not happen
    ads_emulator.reset()
    with pytest.raises(AirflowFailException, match="max_rejected_ratio"):
        sql_operator(max_rejected_ratio=ratio * 0.99).execute(task_context())


def test_too_old_rows_rejected_with_the_7_day_reason(
    make_sqlite_warehouse, ads_emulator: EmulatorServer
) -> None:
    now = dt.datetime.now(UTC).replace(second=0, microsecond=0)
    # 40 orders 4.8 hours apart over 8 days: the 5 oldest are more than 7 days old (by an hour or more)
    warehouse = make_sqlite_warehouse(
        40, now - dt.timedelta(days=8, hours=1), now - dt.timedelta(hours=1), bad_rows=False
    )
    base = warehouse.expectation()
    cutoff = now - dt.timedelta(days=7)
    too_old = {
        i for i, e in base.items.items() if e.event and e.event["timestamp_ms"] < cutoff.timestamp() * 1000
    }
    assert len(too_old) == 5
    expectation = Expectation(
        {
            i: Expected(i, e.rows, "rejected", "too_old", raw_identifiers=e.raw_identifiers)
            if i in too_old
            else e
            for i, e in base.items.items()
        }
    )
    ti = FakeTaskInstance()
    with pytest.raises(AirflowFailException) as failure:
        sql_operator().execute(task_context(ti=ti))
    message = str(failure.value)
    assert "too_old" in message
    assert "7 days" in message
    assert_no_raw_identifiers(message, expectation.raw_identifiers)
    report = ti.pushed["openai_ads_report"]
    expectation.check_report(report)
    assert {s["field"] for s in report["samples"] if s["reason"] == "too_old"} == {"event_time"}
    expectation.check_received(ads_emulator.events())


def test_rejected_path_jsonl_lists_rejected_and_skipped_rows(
    orders_warehouse: Warehouse, ads_emulator: EmulatorServer, tmp_path: Path
) -> None:
    op = sql_operator(
        max_rejected_ratio=0.01, rejected_path=str(tmp_path / "{{ run_id }}" / "rejected.jsonl")
    )
    report = render_and_execute(op, task_context(run_id="manual__2026"))
    path = tmp_path / "manual__2026" / "rejected.jsonl"
    assert op.rejected_path == str(path)
    expectation = orders_warehouse.expectation()
    lines = expectation.check_jsonl(path)
    by_id = {line["event_id"]: line for line in lines}
    assert by_id["bad-currency-0001000"]["field"] == "currency"
    assert by_id["bad-nourl-0001004"]["field"] == "source_url"
    assert {line["outcome"] for line in lines} == {"rejected", "skipped"}
    assert len(lines) == len(expectation.ids("rejected")) + len(expectation.ids("skipped"))
    expectation.check_report(report)


# -- the API refuses the key ----------------------------------------------------------------------------------


def test_wrong_key_fails_fast_naming_the_conversions_key(
    orders_warehouse: Warehouse, ads_emulator: EmulatorServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    wrong_key = "sk-ads-advertiser-key-0123456789"
    monkeypatch.setenv(
        "AIRFLOW_CONN_OPENAI_ADS_DEFAULT", openai_ads_connection(ads_emulator.url, password=wrong_key)
    )
    started = time.monotonic()
    with pytest.raises(AirflowFailException) as failure:
        sql_operator(max_rejected_ratio=0.01).execute(task_context())
    elapsed = time.monotonic() - started
    message = str(failure.value)
    assert "HTTP 401" in message
    assert "Conversions API key" in message
    assert "Advertiser" in message
    assert "openai_ads_default" in message
    assert wrong_key not in message
    stats = ads_emulator.stats()
    assert stats.requests_by_status == {"401": 1}  # no retry, no second batch
    assert stats.events_received == 0
    assert elapsed < 10


def test_unknown_pixel_fails_fast_naming_the_pixel_id(
    orders_warehouse: Warehouse, ads_emulator: EmulatorServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(
        "AIRFLOW_CONN_OPENAI_ADS_DEFAULT", openai_ads_connection(ads_emulator.url, pixel_id="not-my-pixel")
    )
    with pytest.raises(AirflowFailException) as failure:
        sql_operator(max_rejected_ratio=0.01).execute(task_context())
    message = str(failure.value)
    assert "HTTP 403" in message
    assert "Pixel ID 'not-my-pixel'" in message
    assert EMULATOR_KEY not in message
    assert ads_emulator.stats().requests_by_status == {"403": 1}
