"""Shared helpers of the delivery-client tests: events, a recording fake API, report accounting."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

import httpx
import orjson

from airflow_provider_openai_ads.conversions.batching import PreparedEvent
from airflow_provider_openai_ads.conversions.report import OUTCOMES, Report

#: a fixed wall clock (seconds since the epoch) for every time-window computation
NOW_S = 1_780_000_000.0
NOW_MS = int(NOW_S * 1000)
DAY_MS = 24 * 3600 * 1000
KEY = "sk-conv-TEST-7f3a9c1e5b2d4f60"
PIXEL = "px_Test123"


def event(i: int | str, *, ts_ms: int | None = None, prefix: str = "evt") -> dict[str, Any]:
    """A valid API-shaped event (accepted by the schema and the emulator)."""
    return {
        "id": f"{prefix}-{i}",
        "type": "page_viewed",
        "timestamp_ms": NOW_MS - 60_000 if ts_ms is None else ts_ms,
        "action_source": "other",
        "data": {"type": "contents"},
    }


def prepared(n: int, *, ts_ms: int | None = None, prefix: str = "evt") -> list[PreparedEvent]:
    return [PreparedEvent.from_event(event(i, ts_ms=ts_ms, prefix=prefix)) for i in range(n)]


def ids(n: int, prefix: str = "evt") -> list[str]:
    return [f"{prefix}-{i}" for i in range(n)]


def assert_accounted(report: Report, handed_in: int, *, rows: int | None = None) -> None:
    """Every event handed in is counted exactly once: sent + rejected + failed + skipped."""
    counts = {o: report.events[o] for o in OUTCOMES}
    assert all(v >= 0 for v in counts.values()), counts
    assert sum(counts.values()) == handed_in, f"{counts} do not add up to {handed_in}"
    assert report.events_accounted == handed_in
    assert report.rows_accounted == (handed_in if rows is None else rows)
    for outcome in OUTCOMES[1:]:
        assert sum(report.reasons[outcome].values()) == report.rows[outcome], outcome


def error_envelope(
    message: str,
    *,
    param: str | None = None,
    code: str | None = None,
    errors: list[dict[str, Any]] | None = None,
    error_type: str = "invalid_request_error",
) -> dict[str, Any]:
    """The OpenAI-style error envelope (reference §5.2)."""
    error: dict[str, Any] = {"message": message, "type": error_type, "param": param, "code": code}
    if errors is not None:
        error["errors"] = errors
    return {"error": error}


Responder = Callable[[httpx.Request, dict[str, Any]], httpx.Response]


class FakeApi:
    """An ``httpx.MockTransport`` handler recording every request (parsed body included).

    ``respond(request, body)`` answers; by default every request is accepted with 200.
    Thread-safe: the client sends from several worker threads.
    """

    def __init__(self, respond: Responder | None = None) -> None:
        self.respond = respond or (lambda request, body: httpx.Response(200, json={}))
        self.requests: list[httpx.Request] = []
        self.bodies: list[dict[str, Any]] = []
        self.statuses: dict[int, int | None] = {}
        self._lock = threading.Lock()

    def __call__(self, request: httpx.Request) -> httpx.Response:
        body = orjson.loads(request.content)
        with self._lock:
            index = len(self.requests)
            self.requests.append(request)
            self.bodies.append(body)
            self.statuses[index] = None  # a transport exception leaves it None
        response = self.respond(request, body)
        with self._lock:
            self.statuses[index] = response.status_code
        return response

    @property
    def transport(self) -> httpx.MockTransport:
        return httpx.MockTransport(self)

    def batch_ids(self) -> list[list[str]]:
        """The event ids of each request, in the order the requests were made."""
        with self._lock:
            return [[e["id"] for e in body["events"]] for body in self.bodies]

    def all_sent_ids(self) -> list[str]:
        """Every event id put on the wire, whatever the answer."""
        return [i for batch in self.batch_ids() for i in batch]

    def delivered_ids(self) -> list[str]:
        """Event ids of the requests answered 2xx."""
        batches = self.batch_ids()
        with self._lock:
            ok = [i for i, s in self.statuses.items() if s is not None and 200 <= s < 300]
        return [event_id for i in sorted(ok) for event_id in batches[i]]
