"""Shared pieces of the reliability suites: a SQLite warehouse, operators with test hooks, a fake TI."""

from __future__ import annotations

import sqlite3
import threading
import time
from collections.abc import Iterable, Mapping, Sequence
from functools import cached_property
from typing import Any

from airflow_provider_openai_ads.emulator import EmulatorServer
from airflow_provider_openai_ads.hooks.openai_ads import OpenAIAdsHook
from airflow_provider_openai_ads.operators.openai_ads import OpenAIAdsSendEventsOperator
from airflow_provider_openai_ads.transfers.sql_to_openai_ads import SqlToOpenAIAdsOperator

from .conftest import OPENAI_ADS_CONN_ID, WAREHOUSE_CONN_ID

DAY_S = 24 * 3600


def build_table(
    path: str, columns: Sequence[str], rows: Iterable[Sequence[Any]], table: str = "events"
) -> None:
    """A SQLite table ``table`` of untyped columns, filled with ``executemany`` (200k rows in ~1 s)."""
    with sqlite3.connect(path) as conn:
        conn.execute(f"DROP TABLE IF EXISTS {table}")
        conn.execute(f"CREATE TABLE {table} ({', '.join(columns)})")
        conn.executemany(f"INSERT INTO {table} VALUES ({', '.join('?' * len(columns))})", rows)


class FakeTI:
    """Records ``xcom_push`` calls; enough of a task instance for ``op.execute({"ti": ...})``."""

    def __init__(self) -> None:
        self.pushed: dict[str, Any] = {}

    def xcom_push(self, key: str, value: Any) -> None:
        self.pushed[key] = value


class RecordingSleep:
    """An injected ``sleep`` that really sleeps and records every delay it was asked for."""

    def __init__(self) -> None:
        self.delays: list[float] = []
        self._lock = threading.Lock()

    def __call__(self, seconds: float) -> None:
        with self._lock:
            self.delays.append(seconds)
        time.sleep(seconds)


class _HookOptions:
    """Builds the operator's hook with extra :class:`OpenAIAdsHook` options (retry, timeout, sleep...).

    The operators take no retry/timeout options themselves; the hook does, so tests (and users who
    need them) pass them by overriding ``hook``.
    """

    hook_options: Mapping[str, Any]

    @cached_property
    def hook(self) -> OpenAIAdsHook:
        options = dict(self.hook_options)
        if self.max_in_flight:  # type: ignore[attr-defined]
            options.setdefault("max_in_flight", self.max_in_flight)  # type: ignore[attr-defined]
        return OpenAIAdsHook(self.openai_ads_conn_id, pixel_id=self.pixel_id or None, **options)  # type: ignore[attr-defined]


class SqlOperator(_HookOptions, SqlToOpenAIAdsOperator):
    def __init__(self, *, hook_options: Mapping[str, Any] | None = None, **kwargs: Any) -> None:
        kwargs.setdefault("task_id", "send")
        kwargs.setdefault("conn_id", WAREHOUSE_CONN_ID)
        kwargs.setdefault("openai_ads_conn_id", OPENAI_ADS_CONN_ID)
        super().__init__(**kwargs)
        self.hook_options = dict(hook_options or {})


class EventsOperator(_HookOptions, OpenAIAdsSendEventsOperator):
    def __init__(self, *, hook_options: Mapping[str, Any] | None = None, **kwargs: Any) -> None:
        kwargs.setdefault("task_id", "send")
        kwargs.setdefault("openai_ads_conn_id", OPENAI_ADS_CONN_ID)
        super().__init__(**kwargs)
        self.hook_options = dict(hook_options or {})


def accepted_ids(emulator: EmulatorServer) -> list[str]:
    """Ids of the events the emulator accepted (stored), in acceptance order."""
    return [event["id"] for event in emulator.events()]


def assert_report_adds_up(report: Mapping[str, Any]) -> None:
    """Every row read is in exactly one outcome, and so is every event built (rule 1)."""
    counts = {k: v for k, v in report.items() if k != "samples"}
    assert sum(report["rows"].values()) == report["rows_read"], counts
    assert sum(report["events"].values()) == report["events_built"], counts
