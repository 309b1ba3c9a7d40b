"""``POST /v1/events``: statuses, error envelopes and all-or-nothing batches, over real HTTP."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from airflow_provider_openai_ads.emulator import EmulatorServer

from . import DAY_MS, batch, make_event, now_ms, post

MISSING_PID = {
    "error": {
        "message": "[{'type': 'missing', 'loc': ('query', 'pid'), 'msg': 'Field required', 'input': None}]",
        "type": "invalid_request_error",
        "param": "pid",
        "code": None,
    }
}
UNAUTHORIZED = {
    "error": {"message": "Unauthorized", "type": "invalid_request_error", "param": None, "code": None}
}
UNKNOWN_PID = {"error": {"message": "403: unknown pid", "type": "server_error", "param": None, "code": None}}


def test_valid_batch_is_accepted_and_stored_as_sent(client: httpx.Client, emulator: EmulatorServer) -> None:
    events = batch(3)
    answer = post(client, {"events": events, "integration_source": "Acme.Airflow", "validate_only": False})
    assert answer.status_code == 200
    assert answer.headers["content-type"] == "application/json"
    assert answer.json() == {"received": 3, "accepted": 3, "duplicates": 0}
    assert emulator.events() == events
    assert emulator.events("emulator-pixel") == events
    stats = emulator.stats()
    assert (stats.requests, stats.events_received, stats.events_accepted) == (1, 3, 3)
    assert stats.requests_by_status == {"200": 1}
    [record] = emulator.requests()
    assert (record.status, record.pid, record.events, record.integration_source) == (
        200,
        "emulator-pixel",
        3,
        "Acme.Airflow",
    )


@pytest.mark.parametrize("query", [{}, {"pid": ""}, {"pid": "   "}, {"other": "x"}])
def test_missing_or_blank_pid_is_400(
    client: httpx.Client, emulator: EmulatorServer, query: dict[str, str]
) -> None:
    answer = client.post("/v1/events", params=query, json={"events": batch(1)})
    assert answer.status_code == 400
    assert answer.json() == MISSING_PID
    assert emulator.events() == []


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"Authorization": "Bearer wrong-key"},
        {"Authorization": "Basic emulator-key"},
        {"Authorization": "Bearer"},
        {"Authorization": "emulator-key"},
    ],
)
def test_missing_or_unknown_key_is_401(emulator: EmulatorServer, headers: dict[str, str]) -> None:
    answer = httpx.post(
        f"{emulator.url}/v1/events?pid=emulator-pixel", json={"events": batch(1)}, headers=headers
    )
    assert answer.status_code == 401
    assert answer.json() == UNAUTHORIZED
    assert emulator.events() == []


def test_bearer_scheme_is_case_insensitive(emulator: EmulatorServer) -> None:
    headers = {"Authorization": "bearer emulator-key"}
    answer = httpx.post(
        f"{emulator.url}/v1/events?pid=emulator-pixel", json={"events": batch(1)}, headers=headers
    )
    assert answer.status_code == 200


def test_unknown_pid_is_403(client: httpx.Client, emulator: EmulatorServer) -> None:
    answer = post(client, {"events": batch(1)}, pid="someone-elses-pixel")
    assert answer.status_code == 403
    assert answer.json() == UNKNOWN_PID
    assert emulator.events() == []


def test_pid_is_checked_before_the_key_and_the_key_before_the_pixel(emulator: EmulatorServer) -> None:
    body = {"events": batch(1)}
    assert httpx.post(f"{emulator.url}/v1/events", json=body).status_code == 400
    assert httpx.post(f"{emulator.url}/v1/events?pid=unknown", json=body).status_code == 401


def test_several_keys_and_pixels(emulator: EmulatorServer) -> None:
    emulator.configure(api_keys=["key-a", "key-b"], pixel_ids=["px-1", "px-2"])
    for key, pid in [("key-a", "px-1"), ("key-b", "px-2"), ("key-a", "px-2")]:
        answer = httpx.post(
            f"{emulator.url}/v1/events",
            params={"pid": pid},
            json={"events": [make_event(id=f"{key}-{pid}")]},
            headers={"Authorization": f"Bearer {key}"},
        )
        assert answer.status_code == 200, answer.text
    assert [event["id"] for event in emulator.events("px-2")] == ["key-b-px-2", "key-a-px-2"]
    old = httpx.post(
        f"{emulator.url}/v1/events?pid=px-1",
        json={"events": batch(1)},
        headers={"Authorization": "Bearer emulator-key"},
    )
    assert old.status_code == 401


@pytest.mark.parametrize(
    "body", [b"", b"not json", b'{"events": [', b"[]", b'[{"events": []}]', b"42", b"null"]
)
def test_body_that_is_not_a_json_object_is_400_invalid_json(
    client: httpx.Client, emulator: EmulatorServer, body: bytes
) -> None:
    answer = post(client, body)
    assert answer.status_code == 400
    error = answer.json()["error"]
    assert (error["type"], error["code"], error["param"]) == ("invalid_request_error", "invalid_json", None)
    assert emulator.stats().events_received == 0


def test_bad_event_7_is_named_and_nothing_is_stored(client: httpx.Client, emulator: EmulatorServer) -> None:
    events = batch(10)
    events[7]["data"] = {"type": "customer_action"}  # order_created needs the contents shape
    answer = post(client, {"events": events})
    assert answer.status_code == 400
    assert answer.json() == {
        "error": {
            "message": "Invalid event at events[7]. See errors for details.",
            "type": "invalid_request_error",
            "param": "events[7]",
            "code": "invalid_event",
            "errors": [
                {
                    "message": "data.type must be 'contents' for a order_created event",
                    "param": "events[7].data.type",
                    "code": "invalid_event_data_type",
                }
            ],
        }
    }
    assert emulator.events() == []
    stats = emulator.stats()
    assert (stats.events_received, stats.events_rejected, stats.events_accepted, stats.dedup_keys) == (
        10,
        10,
        0,
        0,
    )
    # all-or-nothing: the good events were not registered either, so they are accepted later
    assert post(client, {"events": events[:7]}).json()["accepted"] == 7


def test_lowest_failing_index_wins_and_carries_all_its_errors(client: httpx.Client) -> None:
    events = batch(12)
    events[9]["type"] = "not_a_type"
    events[4].pop("data")
    events[4]["user"] = {"emails_sha256": ["not-a-hash"]}
    error = post(client, {"events": events}).json()["error"]
    assert error["param"] == "events[4]"
    assert error["message"] == "Invalid event at events[4]. See errors for details."
    assert {entry["param"] for entry in error["errors"]} == {
        "events[4].user.emails_sha256[0]",
        "events[4].data",
    }
    assert all(entry["param"].startswith("events[4].") for entry in error["errors"])
    data_error = next(entry for entry in error["errors"] if entry["param"] == "events[4].data")
    assert data_error["code"] == "missing"


def test_event_that_is_not_an_object(client: httpx.Client) -> None:
    error = post(client, {"events": [make_event(), "order-1"]}).json()["error"]
    assert error["param"] == "events[1]"
    assert error["errors"] == [
        {"message": "Input should be an object", "param": "events[1]", "code": "model_type"}
    ]


def test_stale_timestamp_is_422(client: httpx.Client, emulator: EmulatorServer) -> None:
    events = batch(5)
    events[3]["timestamp_ms"] = now_ms() - 8 * DAY_MS
    answer = post(client, {"events": events})
    assert answer.status_code == 422
    assert answer.json() == {
        "error": {
            "message": "event_timestamp_ms must be within the last 7 days.",
            "type": "invalid_request_error",
            "param": "events[3]",
            "code": "event_timestamp_too_old",
            "errors": [
                {
                    "message": "event_timestamp_ms must be within the last 7 days.",
                    "param": "events[3].timestamp_ms",
                    "code": "event_timestamp_too_old",
                }
            ],
        }
    }
    assert emulator.events() == []


def test_stale_timestamp_after_an_earlier_bad_event_is_400(client: httpx.Client) -> None:
    events = batch(5)
    events[3]["timestamp_ms"] = now_ms() - 8 * DAY_MS
    events[1]["action_source"] = "telepathy"
    answer = post(client, {"events": events})
    assert answer.status_code == 400
    assert answer.json()["error"]["param"] == "events[1]"


def test_future_timestamp_is_400(client: httpx.Client) -> None:
    answer = post(client, {"events": [make_event(timestamp_ms=now_ms() + 3_600_000)]})
    assert answer.status_code == 400
    assert answer.json()["error"]["errors"][0]["code"] == "event_timestamp_in_future"


def test_clock_offset_moves_the_window(client: httpx.Client, emulator: EmulatorServer) -> None:
    emulator.configure(clock_offset_ms=8 * DAY_MS)
    assert post(client, {"events": batch(1)}).status_code == 422


@pytest.mark.parametrize(
    ("body", "param", "message"),
    [
        ({}, "events", "Missing required field: events"),
        ({"events": []}, "events", None),
        ({"events": batch(1001)}, "events", None),
        ({"events": "many"}, "events", None),
        ({"events": batch(2), "integration_source": "-bad start"}, "integration_source", None),
        ({"events": batch(2), "integration_source": "x" * 65}, "integration_source", None),
        ({"events": batch(2), "validate_only": "yes"}, "validate_only", None),
        ({"events": batch(2), "surprise": 1}, "surprise", None),
    ],
)
def test_request_level_errors_are_400_naming_the_field(
    client: httpx.Client, emulator: EmulatorServer, body: dict[str, Any], param: str, message: str | None
) -> None:
    answer = post(client, body)
    assert answer.status_code == 400
    error = answer.json()["error"]
    assert (error["param"], error["code"], error["type"]) == (
        param,
        "invalid_request",
        "invalid_request_error",
    )
    if message is not None:
        assert error["message"] == message
    assert error["errors"]
    assert all(entry["param"].startswith(param) for entry in error["errors"])
    assert emulator.events() == []


def test_request_level_error_wins_over_event_errors(client: httpx.Client) -> None:
    events = batch(3)
    events[0]["type"] = "nope"
    error = post(client, {"events": events, "integration_source": "!!"}).json()["error"]
    assert error["param"] == "integration_source"


def test_a_1000_event_batch_is_accepted(client: httpx.Client) -> None:
    assert post(client, {"events": batch(1000)}).json() == {
        "received": 1000,
        "accepted": 1000,
        "duplicates": 0,
    }


def test_user_schema_switch(client: httpx.Client, emulator: EmulatorServer) -> None:
    singular = make_event(id="singular", user={"email_sha256": "b" * 64, "country": "US"})
    lists = make_event(id="lists")
    assert post(client, {"events": [singular, lists]}).status_code == 200  # default: both shapes

    emulator.configure(user_schema="lists")
    error = post(client, {"events": [make_event(id="s2", user=singular["user"])]}).json()["error"]
    assert error["errors"][0]["code"] == "invalid_user"
    assert post(client, {"events": [make_event(id="l2")]}).status_code == 200

    emulator.configure(user_schema="singular")
    assert post(client, {"events": [make_event(id="l3")]}).status_code == 400
    assert post(client, {"events": [make_event(id="s3", user=singular["user"])]}).status_code == 200


class TestPoison:
    def test_poison_event_is_rejected_by_the_server(
        self, client: httpx.Client, emulator: EmulatorServer
    ) -> None:
        events = batch(6)
        events[4]["id"] = "poison-4"
        answer = post(client, {"events": events})
        assert answer.status_code == 400
        error = answer.json()["error"]
        assert (error["param"], error["code"]) == ("events[4]", "invalid_event")
        assert error["errors"] == [
            {
                "message": "The event was rejected by the server.",
                "param": "events[4].id",
                "code": "invalid_event_rejected_by_server",
            }
        ]
        assert emulator.events() == []

    def test_an_earlier_invalid_event_comes_first(self, client: httpx.Client) -> None:
        events = batch(6)
        events[4]["id"] = "poison-4"
        events[2]["type"] = "nope"
        assert post(client, {"events": events}).json()["error"]["param"] == "events[2]"

    def test_an_earlier_poison_event_comes_first(self, client: httpx.Client) -> None:
        events = batch(6)
        events[1]["id"] = "poison-1"
        events[5]["type"] = "nope"
        error = post(client, {"events": events}).json()["error"]
        assert error["param"] == "events[1]"
        assert error["errors"][0]["code"] == "invalid_event_rejected_by_server"

    def test_invalid_and_poisoned_event_lists_both(self, client: httpx.Client) -> None:
        events = batch(2)
        events[1]["id"] = "poison-1"
        events[1]["type"] = "nope"
        codes = [entry["code"] for entry in post(client, {"events": events}).json()["error"]["errors"]]
        assert codes == ["literal_error", "invalid_event_rejected_by_server"]

    def test_prefix_is_configurable_and_can_be_disabled(
        self, client: httpx.Client, emulator: EmulatorServer
    ) -> None:
        emulator.configure(poison_prefix="bad_")
        assert post(client, {"events": [make_event(id="poison-1")]}).status_code == 200
        assert post(client, {"events": [make_event(id="bad_1")]}).status_code == 400
        emulator.configure(poison_prefix=None)
        assert post(client, {"events": [make_event(id="bad_1")]}).status_code == 200


class TestErrorsWithoutIndex:
    @pytest.fixture(autouse=True)
    def _without_index(self, emulator: EmulatorServer) -> None:
        emulator.configure(errors_without_index=True)

    def test_invalid_event(self, client: httpx.Client, emulator: EmulatorServer) -> None:
        events = batch(10)
        events[7]["type"] = "nope"
        answer = post(client, {"events": events})
        assert answer.status_code == 400
        assert answer.json() == {
            "error": {
                "message": "One or more events are invalid.",
                "type": "invalid_request_error",
                "param": None,
                "code": None,
            }
        }
        # the request log still knows, for the tests that measure a client's bisection
        assert emulator.requests()[-1].param == "events[7]"

    def test_poison_and_stale_keep_their_status(self, client: httpx.Client) -> None:
        poisoned = post(client, {"events": [make_event(), make_event(id="poison-9")]})
        assert poisoned.status_code == 400
        assert "errors" not in poisoned.json()["error"]
        stale = post(client, {"events": [make_event(timestamp_ms=now_ms() - 8 * DAY_MS)]})
        assert stale.status_code == 422
        assert stale.json()["error"] == {
            "message": "event_timestamp_ms must be within the last 7 days.",
            "type": "invalid_request_error",
            "param": None,
            "code": None,
        }

    def test_request_level_error(self, client: httpx.Client) -> None:
        error = post(client, {"events": []}).json()["error"]
        assert (error["param"], error["code"]) == (None, None)
        assert "errors" not in error
        assert "[" not in error["message"]


def test_unknown_route_is_404_and_wrong_method_405(client: httpx.Client) -> None:
    assert client.get("/v1/other").status_code == 404
    wrong = client.get("/v1/events?pid=emulator-pixel")
    assert wrong.status_code == 405
    assert wrong.headers["allow"] == "POST"
    assert wrong.json()["error"]["message"] == "Method Not Allowed"
