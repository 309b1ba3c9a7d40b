"""Suite 5, input limits: one huge row or event is rejected with a reason; everything else is delivered.

10 MB cells (user agent, contents, source URL, event id), an event with 20,000 line items, and
10 MB events handed to OpenAIAdsSendEventsOperator or the hook never reach the API: they are
rejected (``event_too_large``, ``invalid_event_id``) and counted, and the batch they were read
with goes out without them. Requests stay under the byte cap however large the events are.
"""

from __future__ import annotations

import json
import time
import tracemalloc
from pathlib import Path
from typing import Any

import pytest

from airflow_provider_openai_ads.conversions.batching import (
    DEFAULT_MAX_EVENT_BYTES,
    DEFAULT_MAX_REQUEST_BYTES,
)
from airflow_provider_openai_ads.emulator import EmulatorServer
from airflow_provider_openai_ads.hooks.openai_ads import OpenAIAdsHook

from .conftest import OPENAI_ADS_CONN_ID
from .helpers import EventsOperator, FakeTI, SqlOperator, accepted_ids, assert_report_adds_up, build_table

pytestmark = pytest.mark.timeout(120)

MB10 = 10 * 1024 * 1024
COLUMNS = ("event_id", "event_time", "user_agent", "contents", "source_url")
QUERY = f"SELECT {', '.join(COLUMNS)} FROM events"


def normal_rows(n: int, now: float) -> list[tuple[Any, ...]]:
    return [(f"ok-{i:03d}", now - 60, "Mozilla/5.0", None, None) for i in range(n)]


def huge_rows(now: float) -> list[tuple[Any, ...]]:
    return [
        ("big-user-agent", now - 60, "M" * MB10, None, None),
        ("big-contents", now - 60, None, json.dumps([{"id": "sku-" + "9" * MB10, "quantity": 1}]), None),
        ("big-source-url", now - 60, None, None, "https://shop.example.com/?q=" + "a" * MB10),
        ("E" * MB10, now - 60, None, None, None),
    ]


def sql_operator(tmp_path: Path, **kwargs: Any) -> SqlOperator:
    kwargs.setdefault("sql", QUERY)
    kwargs.setdefault("max_rejected_ratio", 0.5)
    return SqlOperator(
        event_type="purchase",
        default_action_source="other",
        rejected_path=str(tmp_path / "rejected.jsonl"),
        **kwargs,
    )


def test_10mb_cells_are_rejected_and_the_rest_is_delivered(
    tmp_path: Path, emulator: EmulatorServer, define_conns
) -> None:
    now = time.time()
    rows = normal_rows(40, now)
    for offset, row in enumerate(huge_rows(now)):
        rows.insert(5 + 10 * offset, row)  # in the middle of what becomes one batch
    build_table(str(tmp_path / "wh.db"), COLUMNS, rows)
    del rows
    define_conns(str(tmp_path / "wh.db"), emulator)

    report = sql_operator(tmp_path).execute({"ti": FakeTI()})

    assert_report_adds_up(report)
    assert report["rows"] == {"sent": 40, "rejected": 4, "failed": 0, "skipped": 0}
    assert report["rejected_by_reason"] == {"event_too_large": 3, "invalid_event_id": 1}
    assert sorted(accepted_ids(emulator)) == [f"ok-{i:03d}" for i in range(40)]
    assert report["requests"] == 1
    assert report["bytes_sent"] < 50_000
    lines = [json.loads(line) for line in (tmp_path / "rejected.jsonl").read_text().splitlines()]
    by_id = {line["event_id"]: line for line in lines}
    assert set(by_id) == {"big-user-agent", "big-contents", "big-source-url", None}
    for event_id in ("big-user-agent", "big-contents", "big-source-url"):
        assert by_id[event_id]["reason"] == "event_too_large"
        assert f"over the {DEFAULT_MAX_EVENT_BYTES}-byte limit" in by_id[event_id]["message"]
    assert by_id[None] == {
        "event_id": None,
        "outcome": "rejected",
        "reason": "invalid_event_id",
        "field": "event_id",
        "message": "event_id is longer than 512 characters",
        "rows": 1,
    }
    # nothing of the 10 MB values is copied into the report or the rejected-rows file
    assert len(json.dumps(report)) < 20_000
    assert (tmp_path / "rejected.jsonl").stat().st_size < 5_000


def test_an_event_of_20000_line_items_is_rejected_as_one_event(
    tmp_path: Path, emulator: EmulatorServer, define_conns
) -> None:
    now = time.time()
    rows = [("before", now - 60, "sku-0", 1)]
    rows += [("huge-order", now - 60, f"sku-{i:05d}-{'x' * 20}", 1) for i in range(20_000)]
    rows += [("after", now - 60, "sku-1", 1)]
    build_table(str(tmp_path / "wh.db"), ("event_id", "event_time", "item_id", "item_quantity"), rows)
    define_conns(str(tmp_path / "wh.db"), emulator)

    report = sql_operator(
        tmp_path,
        sql="SELECT event_id, event_time, item_id, item_quantity FROM events",
        max_rejected_ratio=1.0,
    ).execute({"ti": FakeTI()})

    assert_report_adds_up(report)
    assert report["rows"] == {"sent": 2, "rejected": 20_000, "failed": 0, "skipped": 0}
    assert report["events"]["rejected"] == 1
    assert report["rejected_by_reason"] == {"event_too_large": 20_000}
    assert sorted(accepted_ids(emulator)) == ["after", "before"]


def test_large_events_under_the_cap_are_split_across_requests_under_the_byte_cap(
    tmp_path: Path, emulator: EmulatorServer, define_conns
) -> None:
    now = time.time()
    agent = "A" * 400_000  # under the 512,000-byte event cap; ten of them exceed the 4 MB request cap
    build_table(
        str(tmp_path / "wh.db"), COLUMNS, [(f"wide-{i:02d}", now - 60, agent, None, None) for i in range(30)]
    )
    define_conns(str(tmp_path / "wh.db"), emulator)

    report = sql_operator(tmp_path).execute({"ti": FakeTI()})

    assert report["rows"]["sent"] == 30
    assert len(accepted_ids(emulator)) == 30
    per_request = [r.events for r in emulator.requests()]
    assert sum(per_request) == 30
    assert max(per_request) <= DEFAULT_MAX_REQUEST_BYTES // 400_000
    assert report["bytes_sent"] / report["requests"] <= DEFAULT_MAX_REQUEST_BYTES


def test_send_events_operator_rejects_10mb_events_of_both_shapes(
    tmp_path: Path, emulator: EmulatorServer, define_conns
) -> None:
    define_conns(str(tmp_path / "unused.db"), emulator)
    now_ms = int(time.time() * 1000)
    api_shaped = [
        {
            "id": f"api-{i}",
            "type": "page_viewed",
            "timestamp_ms": now_ms - 60_000,
            "action_source": "other",
            "data": {"type": "contents"},
        }
        for i in range(5)
    ]
    api_shaped[2] = {**api_shaped[2], "id": "api-huge", "user": {"user_agent": "U" * MB10}}
    rows = [{"event_id": f"row-{i}", "event_time": now_ms - 60_000} for i in range(5)]
    rows[3] = {**rows[3], "event_id": "row-huge", "user_agent": "U" * MB10}

    report = EventsOperator(
        events=rows + api_shaped,
        event_type="page_view",
        default_action_source="other",
        max_rejected_ratio=0.5,
    ).execute({"ti": FakeTI()})

    assert_report_adds_up(report)
    assert report["rejected_by_reason"] == {"event_too_large": 2}
    assert {s["event_id"] for s in report["samples"]} == {"row-huge", "api-huge"}
    assert sorted(accepted_ids(emulator)) == sorted(
        [f"row-{i}" for i in (0, 1, 2, 4)] + [f"api-{i}" for i in (0, 1, 3, 4)]
    )


def test_hook_rejects_a_10mb_api_shaped_event(tmp_path: Path, emulator: EmulatorServer, define_conns) -> None:
    define_conns(str(tmp_path / "unused.db"), emulator)
    now_ms = int(time.time() * 1000)
    events = [
        {
            "id": f"h-{i}",
            "type": "page_viewed",
            "timestamp_ms": now_ms,
            "action_source": "other",
            "data": {"type": "contents"},
        }
        for i in range(3)
    ]
    events[1]["source_url"] = "https://example.com/" + "p" * MB10
    hook = OpenAIAdsHook(OPENAI_ADS_CONN_ID)
    try:
        report = hook.send_events(iter(events))
    finally:
        hook.close()
    assert dict(report.reasons["rejected"]) == {"event_too_large": 1}
    assert sorted(accepted_ids(emulator)) == ["h-0", "h-2"]


@pytest.mark.parametrize("column", ["user_agent", "contents"])
def test_an_oversized_cell_costs_memory_of_the_order_of_its_own_size(
    tmp_path: Path, emulator: EmulatorServer, define_conns, column: str
) -> None:
    now = time.time()
    if column == "user_agent":
        huge = ("huge", now - 60, "M" * MB10, None, None)
    else:  # 2 MB of small items (10 MB would take 10 s under tracemalloc)
        huge = (
            "huge",
            now - 60,
            None,
            json.dumps([{"id": f"sku-{i:07d}", "quantity": 1} for i in range(65_536)]),
            None,
        )
    size = len(huge[2] or huge[3])
    build_table(str(tmp_path / "wh.db"), COLUMNS, [*normal_rows(5, now), huge])
    del huge
    define_conns(str(tmp_path / "wh.db"), emulator)
    op = sql_operator(tmp_path)
    tracemalloc.start()
    try:
        report = op.execute({"ti": FakeTI()})
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert report["rejected_by_reason"] == {"event_too_large": 1}
    assert peak <= 4 * size, f"peak {peak / 1e6:.0f} MB for a {size / 1e6:.1f} MB cell"
