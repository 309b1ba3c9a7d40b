"""SqlToOpenAIAdsOperator against PostgreSQL: driver types, a server-side cursor, flat memory, a real run.

The sample warehouse is built in a schema of its own (dropped afterwards) and reached through a
``postgres`` connection whose ``options`` set the ``search_path``, so the example DAG's
unqualified table names work unchanged. Without a reachable server the tests skip, except
under CI (``CI=true``), where they fail.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import subprocess
import sys
import threading
import uuid
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from airflow_provider_openai_ads.emulator.server import EmulatorServer
from airflow_provider_openai_ads.transfers import sql_to_openai_ads
from airflow_provider_openai_ads.transfers.sql_to_openai_ads import SqlToOpenAIAdsOperator
from demo.warehouse import ORDERS_QUERY, create_postgres_warehouse

from .conftest import (
    UTC,
    AirflowRunner,
    Expectation,
    airflow_environment,
    last_aligned,
    openai_ads_connection,
    order_expectations,
    task_context,
)

pytestmark = pytest.mark.postgres

PG = {"host": "127.0.0.1", "port": 5432, "user": "postgres", "dbname": "test"}
DSN = " ".join(f"{k}={v}" for k, v in PG.items())
DAILY = "example_openai_ads_daily_orders"
ORDERED_QUERY = ORDERS_QUERY + "ORDER BY o.order_id, i.line_no"
N_ORDERS = 1300


def postgres_connection(schema: str, time_zone: str | None = None) -> str:
    options = f"-c search_path={schema}" + (f" -c TimeZone={time_zone}" if time_zone else "")
    return json.dumps(
        {
            "conn_type": "postgres",
            "host": PG["host"],
            "port": PG["port"],
            "login": PG["user"],
            "schema": PG["dbname"],
            "extra": {"options": options},
        }
    )


def _require_postgres() -> None:
    import psycopg2

    try:
        psycopg2.connect(DSN, connect_timeout=3).close()
    except psycopg2.OperationalError as exc:
        message = f"PostgreSQL at {PG['host']}:{PG['port']} (database {PG['dbname']}) is unreachable: {exc}"
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(message)
        pytest.skip(message)


def _execute(sql: str, params: tuple[Any, ...] = ()) -> None:
    import psycopg2

    with psycopg2.connect(DSN) as conn, conn.cursor() as cur:
        cur.execute(sql, params)
    conn.close()


class PgWarehouse:
    """The sample warehouse in schema ``schema``; orders from 3 hours before the daily interval to its end."""

    def __init__(self, schema: str) -> None:
        self.schema = schema
        self.end = last_aligned(dt.datetime.now(UTC), hour=2, minute=0)
        self.interval = (self.end - dt.timedelta(days=1), self.end)
        self.start = self.interval[0] - dt.timedelta(hours=3)
        create_postgres_warehouse(f"{DSN} options='-c search_path={schema}'", N_ORDERS, self.start, self.end)

    def expectation(self, window: tuple[dt.datetime, dt.datetime] | None = None) -> Expectation:
        return Expectation(order_expectations(N_ORDERS, self.start, self.end, window=window))


@pytest.fixture(scope="module")
def pg_warehouse() -> Iterator[PgWarehouse]:
    _require_postgres()
    schema = f"openai_ads_ops_{uuid.uuid4().hex[:12]}"
    _execute(f"CREATE SCHEMA {schema}")
    try:
        yield PgWarehouse(schema)
    finally:
        _execute(f"DROP SCHEMA {schema} CASCADE")


@pytest.fixture
def pg_conn(pg_warehouse: PgWarehouse, monkeypatch: pytest.MonkeyPatch) -> PgWarehouse:
    monkeypatch.setenv("AIRFLOW_CONN_WAREHOUSE", postgres_connection(pg_warehouse.schema))
    return pg_warehouse


class CursorProbe:
    """Wraps the operator's cursor: records fetch sizes, the first row, and the server's open cursors."""

    def __init__(self, cursor: Any, conn: Any, record: dict[str, Any]) -> None:
        self._cursor, self._conn, self._record = cursor, conn, record

    def __getattr__(self, name: str) -> Any:
        return getattr(self._cursor, name)

    def fetchmany(self, size: int) -> list[Any]:
        if "pg_cursors" not in self._record:
            with self._conn.cursor() as probe:  # a client cursor, in the same transaction
                probe.execute("SELECT name, is_holdable, is_scrollable FROM pg_cursors")
                self._record["pg_cursors"] = probe.fetchall()
        rows = self._cursor.fetchmany(size)
        self._record["fetches"].append(len(rows))
        self._record.setdefault("threads", set()).add(threading.current_thread().name)
        if rows and "first_row" not in self._record:
            self._record["first_row"] = dict(
                zip([d[0] for d in self._cursor.description], rows[0], strict=True)
            )
        return rows

    def close(self) -> None:
        self._record["closed"] = True
        self._cursor.close()


@pytest.fixture
def cursor_record(monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
    """What the operator's streaming cursors did (``CursorProbe``), and the last cursor itself."""
    record: dict[str, Any] = {"fetches": []}
    streaming_cursor = sql_to_openai_ads._streaming_cursor

    def probe(conn: Any) -> CursorProbe:
        record["cursor"] = cursor = streaming_cursor(conn)
        return CursorProbe(cursor, conn, record)

    monkeypatch.setattr(sql_to_openai_ads, "_streaming_cursor", probe)
    return record


def test_postgres_rows_sent_field_by_field_through_a_server_side_cursor(
    pg_conn: PgWarehouse, ads_emulator: EmulatorServer, cursor_record: dict[str, Any]
) -> None:
    op = SqlToOpenAIAdsOperator(
        task_id="send_orders", conn_id="warehouse", sql=ORDERED_QUERY, max_rejected_ratio=0.01
    )
    report = op.execute(task_context())

    expectation = pg_conn.expectation()
    expectation.check_report(report)
    expectation.check_received(ads_emulator.events())
    stats = ads_emulator.stats()
    assert stats.events_accepted == len(expectation.ids("sent"))
    assert stats.requests_by_status == {"200": report["requests"]}

    # a named (server-side) cursor, declared on the server and read in chunks of the default size
    fetch_size = sql_to_openai_ads.DEFAULT_FETCH_SIZE
    cursor = cursor_record["cursor"]
    assert type(cursor).__name__ == "ServerCursor"
    assert cursor.name == "openai_ads_stream"
    assert ("openai_ads_stream", False, False) in cursor_record["pg_cursors"]
    rows = expectation.rows()
    assert rows > 2 * fetch_size
    assert cursor_record["fetches"] == [fetch_size] * (rows // fetch_size) + [rows % fetch_size] + [0]
    assert cursor_record["threads"] == {"openai-ads-fetch"}  # fetched ahead, by default on PostgreSQL
    assert cursor_record["closed"]

    # what the driver hands over: numeric -> Decimal, timestamptz -> aware datetime, boolean -> bool
    first = cursor_record["first_row"]
    assert isinstance(first["value"], Decimal)
    assert isinstance(first["item_price"], Decimal)
    assert first["value"].as_tuple().exponent == -4  # NUMERIC(14, 4): 25.9900
    assert isinstance(first["event_time"], dt.datetime)
    assert first["event_time"].utcoffset() is not None
    assert isinstance(first["consent"], bool)


@pytest.mark.parametrize(
    ("session_zone", "loaded_zone"),
    [
        ("Etc/UTC", dt.timezone.utc),  # renamed: the same zone, loaded as a fixed offset
        ("Zulu", dt.timezone.utc),
        ("UTC", dt.timezone.utc),
        ("Europe/Paris", ZoneInfo("Europe/Paris")),  # another zone: left alone
    ],
)
def test_postgres_session_in_a_utc_alias_loads_timestamps_in_fixed_utc(
    session_zone: str,
    loaded_zone: dt.tzinfo,
    pg_warehouse: PgWarehouse,
    ads_emulator: EmulatorServer,
    cursor_record: dict[str, Any],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("AIRFLOW_CONN_WAREHOUSE", postgres_connection(pg_warehouse.schema, session_zone))
    op = SqlToOpenAIAdsOperator(
        task_id="send_orders", conn_id="warehouse", sql=ORDERED_QUERY, max_rejected_ratio=0.01
    )
    report = op.execute(task_context())

    assert cursor_record["first_row"]["event_time"].tzinfo == loaded_zone
    expectation = pg_warehouse.expectation()  # the same instants, whatever the zone
    expectation.check_report(report)
    expectation.check_received(ads_emulator.events())


def test_postgres_without_prefetch_fetches_in_the_task_thread(
    pg_conn: PgWarehouse, ads_emulator: EmulatorServer, cursor_record: dict[str, Any]
) -> None:
    op = SqlToOpenAIAdsOperator(
        task_id="send_orders", conn_id="warehouse", sql=ORDERED_QUERY, max_rejected_ratio=0.01, prefetch=False
    )
    report = op.execute(task_context())
    expectation = pg_conn.expectation()
    expectation.check_report(report)
    expectation.check_received(ads_emulator.events())
    assert cursor_record["threads"] == {threading.current_thread().name}


@pytest.mark.airflow_db
def test_postgres_real_airflow_run_of_the_daily_example(
    pg_warehouse: PgWarehouse, airflow_runner: AirflowRunner, emulator_server: EmulatorServer, tmp_path: Path
) -> None:
    emulator_server.reset(restore_config=True)
    (run,), output = airflow_runner.dags_test(
        [(DAILY, pg_warehouse.end)],
        env={
            "AIRFLOW_CONN_WAREHOUSE": postgres_connection(pg_warehouse.schema),
            "AIRFLOW_CONN_OPENAI_ADS_DEFAULT": openai_ads_connection(emulator_server.url),
            "AIRFLOW_VAR_OPENAI_ADS_REJECTED_DIR": str(tmp_path),
        },
    )
    assert run.state == "success"
    assert run.tasks == {"send_orders": "success"}
    assert run.data_interval == pg_warehouse.interval
    assert "Streaming rows from 'warehouse' (PostgresHook)" in output

    expectation = pg_warehouse.expectation(window=pg_warehouse.interval)
    assert len(expectation.items) < N_ORDERS  # the orders before the interval were not read
    report = run.report("send_orders")
    expectation.check_report(report)
    expectation.check_received(emulator_server.events())
    expectation.check_jsonl(tmp_path / DAILY / f"{run.run_id}.jsonl")


# -- memory stays flat ----------------------------------------------------------------------------------

#: Runs in a child process: a small warm-up run (imports, driver, HTTP client), then one measured
#: run per query, each under a fresh tracemalloc; prints each run's peak of Python allocations.
_MEMORY_PROBE = r"""
import json, sys, time, tracemalloc
from airflow_provider_openai_ads.transfers.sql_to_openai_ads import SqlToOpenAIAdsOperator

class TaskInstance:
    def xcom_push(self, key, value):
        pass

def run(sql):
    op = SqlToOpenAIAdsOperator(
        task_id="memory", conn_id="warehouse", sql=sql, fetch_size=1000, max_rejected_ratio=1.0,
        progress_interval=3600,
    )
    return op.execute({"ti": TaskInstance()})

warm_up, *queries = sys.argv[1:]
run(warm_up)
results = []
for sql in queries:
    tracemalloc.start()
    started = time.perf_counter()
    report = run(sql)
    elapsed = time.perf_counter() - started
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    results.append({"peak": peak, "elapsed": round(elapsed, 1), "rows_read": report["rows_read"],
                    "rows": report["rows"], "events": report["events"]})
print("MEMORY " + json.dumps(results))
"""
#: orders copied per measured run: 10,400 and 52,000 orders, about 20,800 and 104,000 rows
COPIES = (8, 40)


def big_query(table: str) -> str:
    return (
        ORDERED_QUERY.replace("o.order_id AS event_id", "o.big_id AS event_id")
        .replace("FROM orders o", f"FROM {table} o")
        .replace("ORDER BY o.order_id", "ORDER BY o.big_id")
    )


def test_postgres_memory_stays_flat_as_rows_grow(
    pg_warehouse: PgWarehouse, emulator_server: EmulatorServer, tmp_path: Path
) -> None:
    """About 20,800 then 104,000 rows, streamed and sent: the peak must not follow the row count."""
    schema = pg_warehouse.schema
    for copies in COPIES:
        _execute(
            f"CREATE TABLE {schema}.big_orders_{copies} AS SELECT o.order_id || '-' || g AS big_id, o.* "
            f"FROM {schema}.orders o CROSS JOIN generate_series(1, %s) AS g",
            (copies,),
        )
    env = {
        **airflow_environment(tmp_path),
        "AIRFLOW_CONN_WAREHOUSE": postgres_connection(schema),
        "AIRFLOW_CONN_OPENAI_ADS_DEFAULT": openai_ads_connection(emulator_server.url),
    }
    queries = [ORDERED_QUERY + " LIMIT 300", *(big_query(f"big_orders_{c}") for c in COPIES)]
    emulator_server.reset(restore_config=True)
    emulator_server.configure(store_events=False)
    try:
        process = subprocess.run(
            [sys.executable, "-c", _MEMORY_PROBE, *queries],
            env=env,
            capture_output=True,
            text=True,
            timeout=240,
            check=False,
        )
        received = emulator_server.stats().events_received
    finally:
        emulator_server.reset(restore_config=True)
    lines = [line for line in process.stdout.splitlines() if line.startswith("MEMORY ")]
    assert process.returncode == 0, (process.stdout + process.stderr)[-4000:]
    assert lines, process.stdout[-4000:]
    small, large = json.loads(lines[-1][len("MEMORY ") :])

    base = pg_warehouse.expectation()
    for copies, result in zip(COPIES, (small, large), strict=True):
        assert result["rows_read"] == copies * base.rows()
        assert result["rows"] == {
            "sent": copies * base.rows("sent"),
            "rejected": copies * base.rows("rejected"),
            "failed": 0,
            "skipped": copies * base.rows("skipped"),
        }
        assert result["events"]["sent"] == copies * len(base.ids("sent"))
    assert large["rows_read"] > 100_000
    measured = small["events"]["sent"] + large["events"]["sent"]
    assert measured < received <= measured + 300  # plus the warm-up's events
    assert large["peak"] < 1.5 * small["peak"], (
        f"peak traced memory grew from {small['peak']:,} to {large['peak']:,} bytes "
        f"({small['rows_read']:,} -> {large['rows_read']:,} rows)"
    )
