"""First-wins deduplication, ``validate_only`` and the ``store_events`` switch."""

from __future__ import annotations

import httpx

from airflow_provider_openai_ads.emulator import EmulatorServer

from . import batch, make_event, post


def test_validate_only_is_validated_but_not_stored(client: httpx.Client, emulator: EmulatorServer) -> None:
    answer = post(client, {"events": batch(4), "validate_only": True})
    assert answer.status_code == 200
    assert answer.json() == {"received": 4, "accepted": 0, "duplicates": 0, "validate_only": True}
    assert emulator.events() == []
    stats = emulator.stats()
    assert (stats.validate_only_requests, stats.validate_only_events) == (1, 4)
    assert (stats.events_received, stats.events_accepted, stats.dedup_keys) == (4, 0, 0)
    # nothing was registered for deduplication either
    assert post(client, {"events": batch(4)}).json()["accepted"] == 4


def test_invalid_validate_only_request_is_rejected_and_counted_as_rejected(
    client: httpx.Client, emulator: EmulatorServer
) -> None:
    events = batch(3)
    events[2]["type"] = "nope"
    answer = post(client, {"events": events, "validate_only": True})
    assert answer.status_code == 400
    assert answer.json()["error"]["param"] == "events[2]"
    stats = emulator.stats()
    assert (stats.validate_only_requests, stats.events_rejected) == (0, 3)
    assert emulator.requests()[-1].validate_only is True


def test_first_event_wins(client: httpx.Client, emulator: EmulatorServer) -> None:
    first = make_event(id="order-1", data={"type": "contents", "amount": 100, "currency": "USD"})
    second = make_event(id="order-1", data={"type": "contents", "amount": 999, "currency": "USD"})
    assert post(client, {"events": [first]}).json() == {"received": 1, "accepted": 1, "duplicates": 0}
    assert post(client, {"events": [second, make_event(id="order-2")]}).json() == {
        "received": 2,
        "accepted": 1,
        "duplicates": 1,
    }
    stored = emulator.events()
    assert [event["id"] for event in stored] == ["order-1", "order-2"]
    assert stored[0]["data"]["amount"] == 100
    stats = emulator.stats()
    assert (stats.events_accepted, stats.events_duplicates, stats.dedup_keys) == (2, 1, 2)


def test_duplicates_inside_one_batch(client: httpx.Client, emulator: EmulatorServer) -> None:
    events = [
        make_event(id="same", data={"type": "contents", "amount": n, "currency": "USD"}) for n in (1, 2, 3)
    ]
    assert post(client, {"events": events}).json() == {"received": 3, "accepted": 1, "duplicates": 2}
    assert emulator.events()[0]["data"]["amount"] == 1


def test_key_is_pixel_type_and_id(client: httpx.Client, emulator: EmulatorServer) -> None:
    emulator.configure(pixel_ids=["emulator-pixel", "other-pixel"])
    order = make_event(id="x-1")
    checkout = make_event(id="x-1", type="checkout_started")
    assert post(client, {"events": [order, checkout]}).json()["accepted"] == 2
    assert post(client, {"events": [order]}, pid="other-pixel").json()["accepted"] == 1
    assert post(client, {"events": [order, checkout]}).json()["duplicates"] == 2
    assert len(emulator.events("emulator-pixel")) == 2
    assert len(emulator.events("other-pixel")) == 1


def test_custom_events_are_keyed_by_their_lower_cased_name(
    client: httpx.Client, emulator: EmulatorServer
) -> None:
    def custom(name: str) -> dict:
        return make_event(id="c-1", type="custom", custom_event_name=name, data={"type": "custom"})

    assert (
        post(client, {"events": [custom("quote_requested"), custom("demo_booked")]}).json()["accepted"] == 2
    )
    assert post(client, {"events": [custom("Quote_Requested")]}).json()["duplicates"] == 1


def test_without_storage_only_dedup_keys_are_kept(client: httpx.Client, emulator: EmulatorServer) -> None:
    emulator.configure(store_events=False)
    assert post(client, {"events": batch(5)}).json()["accepted"] == 5
    assert post(client, {"events": batch(6)}).json() == {"received": 6, "accepted": 1, "duplicates": 5}
    assert emulator.events() == []
    stats = emulator.stats()
    assert (stats.events_accepted, stats.events_duplicates, stats.stored_events, stats.dedup_keys) == (
        6,
        5,
        0,
        6,
    )
    listing = client.get("/_emulator/events").json()
    assert (listing["store_events"], listing["total"], listing["events"]) == (False, 0, [])


def test_received_adds_up(client: httpx.Client, emulator: EmulatorServer) -> None:
    post(client, {"events": batch(3)})
    post(client, {"events": batch(4)})
    post(client, {"events": batch(2), "validate_only": True})
    bad = batch(5)
    bad[0]["id"] = ""
    post(client, {"events": bad})
    stats = emulator.stats()
    assert stats.events_received == 14
    assert (
        stats.events_accepted + stats.events_duplicates + stats.events_rejected + stats.validate_only_events
        == stats.events_received
    )
    assert (stats.events_accepted, stats.events_duplicates, stats.events_rejected) == (4, 3, 5)


def test_json_that_orjson_refuses_is_stored_faithfully(
    client: httpx.Client, emulator: EmulatorServer
) -> None:
    body = (
        b'{"events": [{"id": "c-1", "type": "custom", "custom_event_name": "big", "timestamp_ms": %d,'
        b' "data": {"type": "custom", "huge": 123456789012345678901234567890, "ratio": NaN}}]}'
    ) % (make_event()["timestamp_ms"])
    assert post(client, body).json()["accepted"] == 1
    [stored] = emulator.events()
    assert stored["data"]["huge"] == 123456789012345678901234567890
    assert stored["data"]["ratio"] != stored["data"]["ratio"]  # NaN
    assert (
        client.get("/_emulator/events").json()["events"][0]["data"]["huge"] == 123456789012345678901234567890
    )


def test_paging_across_batches_with_duplicates(client: httpx.Client, emulator: EmulatorServer) -> None:
    post(client, {"events": batch(5)})
    post(client, {"events": [make_event(id=f"order-{i}") for i in range(3, 9)]})  # 3 and 4 are duplicates
    post(client, {"events": batch(2, prefix="last")})
    ids = [event["id"] for event in emulator.events()]
    assert ids == [*(f"order-{i}" for i in range(9)), "last-0", "last-1"]
    for offset, limit in [(0, None), (4, 3), (5, 4), (8, 10), (11, 1), (3, 0)]:
        expected = ids[offset:] if limit is None else ids[offset : offset + limit]
        assert [event["id"] for event in emulator.state.events(offset=offset, limit=limit)] == expected
        params = {"offset": offset} if limit is None else {"offset": offset, "limit": limit}
        listing = client.get("/_emulator/events", params=params).json()
        assert [event["id"] for event in listing["events"]] == expected
        assert listing["total"] == 11
