"""The ``/_emulator/`` routes: events, stats, request log, reset and runtime configuration."""

from __future__ import annotations

import httpx
import pytest

from airflow_provider_openai_ads.emulator import EmulatorServer

from . import batch, make_event, post


def test_events_listing_with_pid_limit_and_offset(client: httpx.Client, emulator: EmulatorServer) -> None:
    emulator.configure(pixel_ids=["emulator-pixel", "px-2"])
    post(client, {"events": batch(5)})
    post(client, {"events": batch(3, prefix="other")}, pid="px-2")

    everything = client.get("/_emulator/events").json()
    assert (everything["total"], len(everything["events"]), everything["pid"]) == (8, 8, None)
    assert everything["events"] == emulator.events()

    page = client.get("/_emulator/events", params={"pid": "emulator-pixel", "limit": 2, "offset": 1}).json()
    assert (page["total"], page["offset"], page["limit"]) == (5, 1, 2)
    assert [event["id"] for event in page["events"]] == ["order-1", "order-2"]

    other = client.get("/_emulator/events", params={"pid": "px-2"}).json()
    assert [event["id"] for event in other["events"]] == ["other-0", "other-1", "other-2"]
    assert client.get("/_emulator/events", params={"offset": 100}).json()["events"] == []


@pytest.mark.parametrize("query", [{"limit": "-1"}, {"limit": "ten"}, {"offset": "1.5"}])
def test_events_listing_rejects_bad_paging(client: httpx.Client, query: dict[str, str]) -> None:
    answer = client.get("/_emulator/events", params=query)
    assert answer.status_code == 400
    assert answer.json()["error"]["param"] == next(iter(query))


def test_in_process_events_are_copies(client: httpx.Client, emulator: EmulatorServer) -> None:
    post(client, {"events": [make_event(id="a")]})
    emulator.events()[0]["id"] = "changed"
    assert emulator.events()[0]["id"] == "a"


def test_stats_over_http_match_in_process(client: httpx.Client, emulator: EmulatorServer) -> None:
    post(client, {"events": batch(2)})
    post(client, {"events": batch(1)}, pid="nope")
    stats = client.get("/_emulator/stats").json()
    assert stats == emulator.stats().as_dict()
    assert stats["requests"] == 2
    assert stats["requests_by_status"] == {"200": 1, "403": 1}
    assert stats["faults"] == {"drop": 0, "429": 0, "500": 0, "503": 0, "slow": 0}
    assert (stats["stored_events"], stats["dedup_keys"]) == (2, 2)


def test_request_log(client: httpx.Client, emulator: EmulatorServer) -> None:
    post(client, {"events": batch(2), "integration_source": "acme"})
    post(client, {"events": []})
    log = client.get("/_emulator/requests").json()["requests"]
    assert [(entry["status"], entry["events"], entry["param"]) for entry in log] == [
        (200, 2, None),
        (400, 0, "events"),
    ]
    assert log[0]["integration_source"] == "acme"
    assert client.get("/_emulator/requests", params={"limit": 1}).json()["requests"] == log[1:]
    assert client.get("/_emulator/requests", params={"limit": 0}).json()["requests"] == []
    assert "emulator-key" not in str(log)


def test_reset_clears_everything(client: httpx.Client, emulator: EmulatorServer) -> None:
    post(client, {"events": batch(3)})
    emulator.configure(rate_503=0.5)
    answer = client.post("/_emulator/reset")
    assert answer.json() == {"reset": True, "restore_config": False}
    assert emulator.events() == []
    assert emulator.requests() == []
    stats = emulator.stats()
    assert (stats.requests, stats.events_received, stats.dedup_keys) == (0, 0, 0)
    assert emulator.config.rate_503 == 0.5  # settings survive a plain reset
    emulator.configure(rate_503=0.0)
    assert post(client, {"events": batch(3)}).json()["accepted"] == 3  # dedup state was cleared


def test_reset_can_restore_the_start_up_settings(client: httpx.Client, emulator: EmulatorServer) -> None:
    emulator.configure(rate_429=1.0, user_schema="lists")
    assert client.post("/_emulator/reset", json={"restore_config": True}).status_code == 200
    assert (emulator.config.rate_429, emulator.config.user_schema) == (0.0, None)
    assert client.post("/_emulator/reset", json={"restore_config": "yes"}).status_code == 400
    assert client.post("/_emulator/reset", content=b"[1]").status_code == 400


def test_config_get_and_post(client: httpx.Client, emulator: EmulatorServer) -> None:
    current = client.get("/_emulator/config").json()
    assert "api_keys" not in current
    assert current["pixel_ids"] == ["emulator-pixel"]
    assert (current["rate_429"], current["retry_after"], current["poison_prefix"]) == (0.0, "1", "poison-")

    changes = {"rate_429": 0.25, "retry_after": "3", "errors_without_index": True, "user_schema": "singular"}
    updated = client.post("/_emulator/config", json=changes).json()
    assert {key: updated[key] for key in changes} == changes
    assert emulator.config.rate_429 == 0.25
    assert client.get("/_emulator/config").json() == updated


@pytest.mark.parametrize(
    ("changes", "param"),
    [
        ({"rate_429": 1.5}, "rate_429"),
        ({"rate_429": 0.6, "rate_500": 0.6}, "config"),
        ({"user_schema": "plural"}, "user_schema"),
        ({"no_such_setting": 1}, "no_such_setting"),
        ({"latency_ms": -1}, "latency_ms"),
        ({"api_keys": []}, "api_keys"),
        ({"pixel_ids": ["has space"]}, "pixel_ids.0"),
    ],
)
def test_config_rejects_bad_changes_atomically(
    client: httpx.Client, emulator: EmulatorServer, changes: dict, param: str
) -> None:
    before = emulator.config
    answer = client.post("/_emulator/config", json={"slow_rate": 0.5, **changes})
    assert answer.status_code == 400
    error = answer.json()["error"]
    assert (error["code"], error["param"]) == ("invalid_config", param)
    assert emulator.config == before


def test_config_cannot_move_the_socket(client: httpx.Client, emulator: EmulatorServer) -> None:
    answer = client.post("/_emulator/config", json={"port": 1234})
    assert answer.status_code == 400
    assert "port" in answer.json()["error"]["message"]
    assert client.post("/_emulator/config", content=b"nope").json()["error"]["code"] == "invalid_json"


def test_health(client: httpx.Client) -> None:
    assert client.get("/_emulator/health").json() == {"status": "ok"}
