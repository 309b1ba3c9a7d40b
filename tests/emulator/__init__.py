"""Helpers of the emulator tests: valid events and a ``POST /v1/events`` shortcut."""

from __future__ import annotations

import time
from typing import Any

import httpx

DAY_MS = 24 * 3600 * 1000


def now_ms() -> int:
    return time.time_ns() // 1_000_000


def make_event(i: int | str = 0, **overrides: Any) -> dict[str, Any]:
    """A valid ``order_created`` event with a lists-shaped ``user``; ``overrides`` replace top-level keys."""
    event = {
        "id": f"order-{i}",
        "type": "order_created",
        "timestamp_ms": now_ms() - 60_000,
        "action_source": "web",
        "source_url": "https://shop.example.com/checkout",
        "user": {"emails_sha256": ["a" * 64], "countries": ["US"], "ip_address": "203.0.113.1"},
        "data": {"type": "contents", "amount": 2599, "currency": "USD"},
    }
    event.update(overrides)
    return event


def batch(n: int, prefix: str = "order") -> list[dict[str, Any]]:
    """``n`` valid events with ids ``{prefix}-0`` ... ``{prefix}-{n-1}``."""
    return [make_event(id=f"{prefix}-{i}") for i in range(n)]


def post(
    client: httpx.Client, body: Any, *, pid: str | None = "emulator-pixel", **kwargs: Any
) -> httpx.Response:
    """``POST /v1/events`` with ``body`` (JSON data, or raw bytes)."""
    params = {} if pid is None else {"pid": pid}
    if isinstance(body, bytes):
        return client.post("/v1/events", params=params, content=body, **kwargs)
    return client.post("/v1/events", params=params, json=body, **kwargs)
