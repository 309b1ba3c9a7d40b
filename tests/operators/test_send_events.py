"""OpenAIAdsSendEventsOperator executed directly: row-contract dicts, API-shaped dicts, JSON text."""

from __future__ import annotations

import datetime as dt
import json
from decimal import Decimal
from typing import Any

import pytest
from airflow.sdk.exceptions import AirflowFailException

from airflow_provider_openai_ads.emulator.server import EmulatorServer
from airflow_provider_openai_ads.operators.openai_ads import OpenAIAdsSendEventsOperator

from .conftest import UTC, FakeTaskInstance, assert_no_raw_identifiers, epoch_ms, sha256_hex, task_context

# SHA-256 test vectors of the API documentation and a public fixture set (see the API reference, §3.4)
ADA_EMAIL = "b5fc85e55755f9e0d030a10ab4429b6b2944855f9a0d60077fe832becbc41d72"  # ada@example.com
PHONE_14155552671 = "758fbf68945f21c416814c539ab578876c8d98fb69e6da692def92cd52417fe0"
CUST_00042 = "382211e688c29ae2dcce0b401999831aec27161d9bc0ffd092545a828a18bbc8"
MARYJANE = "f08f448a5e7a9dc3619bb7c129f6a7d5fc6af002cea17ad71dfdc1c68f4d4e0e"
OCONNOR = "7a0fbfdf40cbeb97429bdb88f512cecd27f0d44b7e57986ab578423bb61936ac"
RAW_IDENTIFIERS = {
    " Ada@Example.COM ",
    "ada@example.com",
    "+1 (415) 555-2671",
    "CUST-00042",
    "Mary Jane",
    "O'Connor",
}

WHEN = (dt.datetime.now(UTC) - dt.timedelta(hours=1)).replace(microsecond=123000)
URL = "https://shop.example.com/checkout/confirmation"


def row_contract_events() -> list[dict[str, Any]]:
    """Row-contract dicts as Python hands them over: two line items of one order, then two more events."""
    order = {
        "event_id": "web-order-1",
        "event_type": "purchase",
        "event_time": WHEN,
        "action_source": "web",
        "source_url": URL,
        "email": " Ada@Example.COM ",
        "phone": "+1 (415) 555-2671",
        "value": Decimal("42.50"),
        "currency": "usd",
    }
    return [
        {
            **order,
            "item_id": "sku-1",
            "item_name": "Thing",
            "item_quantity": 2,
            "item_price": Decimal("10.00"),
        },
        {
            **order,
            "item_id": "sku-2",
            "item_name": "Other",
            "item_quantity": 1,
            "item_price": Decimal("22.50"),
        },
        {
            "event_id": "signup-7",
            "event_type": "sign_up",
            "event_time": WHEN.isoformat().replace("+00:00", "Z"),
            "action_source": "web",
            "source_url": URL,
            "external_id": "  CUST-00042  ",
            "first_name": "Mary Jane",
            "last_name": "O'Connor",
        },
        {
            "event_id": 12345,
            "event_type": "quiz_completed",
            "event_time": int(WHEN.timestamp()),  # epoch seconds
            "action_source": "email",
            "email": [" Ada@Example.COM ", "second@example.com"],
            "amount": 1999,
            "currency": "JPY",
        },
    ]


def expected_row_contract_events() -> dict[str, dict[str, Any]]:
    ms = epoch_ms(WHEN)
    return {
        "web-order-1": {
            "id": "web-order-1",
            "type": "order_created",
            "timestamp_ms": ms,
            "action_source": "web",
            "source_url": URL,
            "user": {"emails_sha256": [ADA_EMAIL], "phone_numbers_sha256": [PHONE_14155552671]},
            "data": {
                "type": "contents",
                "amount": 4250,
                "currency": "USD",
                "contents": [
                    {"id": "sku-1", "name": "Thing", "quantity": 2, "amount": 1000},
                    {"id": "sku-2", "name": "Other", "quantity": 1, "amount": 2250},
                ],
            },
        },
        "signup-7": {
            "id": "signup-7",
            "type": "registration_completed",
            "timestamp_ms": ms,
            "action_source": "web",
            "source_url": URL,
            "user": {
                "external_ids_sha256": [CUST_00042],
                "first_names_sha256": [MARYJANE],
                "last_names_sha256": [OCONNOR],
            },
            "data": {"type": "customer_action"},
        },
        "12345": {
            "id": "12345",
            "type": "custom",
            "custom_event_name": "quiz_completed",
            "timestamp_ms": int(WHEN.timestamp()) * 1000,
            "action_source": "email",
            "user": {"emails_sha256": [ADA_EMAIL, sha256_hex("second@example.com")]},
            "data": {"type": "custom", "amount": 1999, "currency": "JPY"},
        },
    }


def api_events() -> list[dict[str, Any]]:
    ms = epoch_ms(WHEN)
    return [
        {
            "id": "api-lead-1",
            "type": "lead_created",
            "timestamp_ms": ms,
            "action_source": "phone_call",
            "user": {"phone_numbers_sha256": [PHONE_14155552671], "countries": ["US"]},
            "data": {"type": "customer_action"},
        },
        {
            "id": "api-sub-1",
            "type": "subscription_created",
            "timestamp_ms": ms,
            "action_source": "web",
            "source_url": URL,
            "oppref": "oppref_abc",
            "user": {"emails_sha256": [ADA_EMAIL], "ip_address": "203.0.113.7"},
            "opt_out": False,
            "data": {"type": "plan_enrollment", "plan_id": "pro", "amount": 4900, "currency": "EUR"},
        },
    ]


def send(events: Any, **kwargs: Any) -> dict[str, Any]:
    return OpenAIAdsSendEventsOperator(task_id="send_events", events=events, **kwargs).execute(task_context())


def received_by_id(emulator: EmulatorServer) -> dict[str, dict[str, Any]]:
    events = emulator.events()
    by_id = {e["id"]: e for e in events}
    assert len(by_id) == len(events), "an event was received twice"
    return by_id


def test_row_contract_dicts_are_normalized_hashed_and_grouped(ads_emulator: EmulatorServer) -> None:
    report = send(row_contract_events())
    assert received_by_id(ads_emulator) == expected_row_contract_events()
    assert report["rows_read"] == 4
    assert report["events_built"] == 3
    assert report["events"] == {"sent": 3, "rejected": 0, "failed": 0, "skipped": 0}
    assert report["rows"] == {"sent": 4, "rejected": 0, "failed": 0, "skipped": 0}
    assert report["requests"] == 1
    assert_no_raw_identifiers(json.dumps(report), RAW_IDENTIFIERS)


def test_api_shaped_dicts_are_validated_and_sent_as_given(ads_emulator: EmulatorServer) -> None:
    events = api_events()
    report = send(events)
    assert received_by_id(ads_emulator) == {e["id"]: e for e in events}
    assert report["rows_read"] == 2
    assert report["rows"] == {"sent": 2, "rejected": 0, "failed": 0, "skipped": 0}


def test_json_text_from_a_template(ads_emulator: EmulatorServer) -> None:
    """E.g. an upstream task's JSON output rendered into ``events``: rows and API events mixed."""
    rows = json.loads(json.dumps(row_contract_events(), default=str))  # datetimes and decimals as text
    rows[0]["event_time"] = rows[1]["event_time"] = WHEN.isoformat()
    text = json.dumps(rows + api_events())
    op = OpenAIAdsSendEventsOperator(task_id="send_events", events="{{ payload }}")
    context = {**task_context(), "payload": text}
    op.render_template_fields(context)
    assert op.events.value == text  # rendered, but shown only as a count in rendered-field views
    assert "@" not in str(op.events)
    report = op.execute(context)
    expected = expected_row_contract_events() | {e["id"]: e for e in api_events()}
    assert received_by_id(ads_emulator) == expected
    assert report["rows_read"] == 6
    assert report["rows"] == {"sent": 6, "rejected": 0, "failed": 0, "skipped": 0}
    assert report["events"]["sent"] == 5


def test_column_map_renames_row_keys(ads_emulator: EmulatorServer) -> None:
    rows = [
        {
            "ref": "r-1",
            "kind": "generate_lead",
            "at": WHEN,
            "channel": "web",
            "page": URL,
            "mail": " Ada@Example.COM ",
        },
        {"ref": "r-2", "kind": "lead", "at": WHEN, "channel": "web", "page": URL},
    ]
    column_map = {
        "ref": "event_id",
        "kind": "event_type",
        "at": "event_time",
        "channel": "action_source",
        "page": "source_url",
        "mail": "email",
    }
    report = send(rows, column_map=column_map)
    base = {
        "type": "lead_created",
        "timestamp_ms": epoch_ms(WHEN),
        "action_source": "web",
        "source_url": URL,
        "data": {"type": "customer_action"},
    }
    assert received_by_id(ads_emulator) == {
        "r-1": {"id": "r-1", **base, "user": {"emails_sha256": [ADA_EMAIL]}},
        "r-2": {"id": "r-2", **base},
    }
    assert report["rows"]["sent"] == 2


def test_naive_timestamps_need_a_source_timezone(ads_emulator: EmulatorServer) -> None:
    naive = WHEN.replace(tzinfo=None)  # the UTC wall-clock time, without a zone
    row = {
        "event_id": "naive-1",
        "event_type": "page_view",
        "event_time": naive,
        "action_source": "web",
        "source_url": URL,
    }
    report = send([row], max_rejected_ratio=1.0)
    assert report["rows"]["rejected"] == 1
    (sample,) = report["samples"]
    assert sample["event_id"] == "naive-1"
    assert sample["field"] == "event_time"
    assert "source_timezone" in sample["message"]
    assert ads_emulator.events() == []

    report = send([row], source_timezone="Asia/Tokyo")  # the same wall-clock time, 9 hours earlier in UTC
    (event,) = ads_emulator.events()
    assert event["timestamp_ms"] == epoch_ms(WHEN) - 9 * 3600 * 1000
    assert event["type"] == "page_viewed"
    assert event["data"] == {"type": "contents"}


INVALID_API_EVENTS = {
    # id: (change to a valid event, expected field path, expected reason or None for any)
    "no-data-type": ({"data": {"amount": 100, "currency": "USD"}}, "data", None),
    "float-amount": ({"data": {"type": "contents", "amount": 1.5, "currency": "USD"}}, "data.amount", None),
    "bad-hash": ({"user": {"emails_sha256": ["x@y.example"]}}, "user.emails_sha256[0]", None),
    "bad-item": (
        {"data": {"type": "contents", "contents": [{"id": "a", "quantity": "2"}]}},
        "data.contents[0].quantity",
        None,
    ),
    "wrong-shape": ({"type": "lead_created"}, "data.type", "invalid_event_data_type"),
    "custom-no-name": (
        {"type": "custom", "data": {"type": "custom"}},
        "custom_event_name",
        "invalid_custom_event_name",
    ),
    "no-url": ({"source_url": None}, "source_url", "missing_source_url"),
    "too-old": ({"timestamp_ms": epoch_ms(WHEN - dt.timedelta(days=8))}, "timestamp_ms", "too_old"),
}


def invalid_api_events() -> list[dict[str, Any]]:
    valid = api_events()[1]
    events = [valid]
    for event_id, (change, _, _) in INVALID_API_EVENTS.items():
        events.append({k: v for k, v in {**valid, **change, "id": event_id}.items() if v is not None})
    return events


def test_invalid_api_shaped_events_rejected_with_field_paths(ads_emulator: EmulatorServer) -> None:
    report = send(invalid_api_events(), max_rejected_ratio=1.0)
    samples = {s["event_id"]: s for s in report["samples"]}
    assert set(samples) == set(INVALID_API_EVENTS)
    for event_id, (_, path, reason) in INVALID_API_EVENTS.items():
        sample = samples[event_id]
        assert sample["outcome"] == "rejected"
        assert sample["field"] == path, event_id
        assert sample["reason"] if reason is None else sample["reason"] == reason, event_id
        assert "x@y.example" not in sample["message"]  # messages never quote the input
    assert report["rows_read"] == 1 + len(INVALID_API_EVENTS)
    assert report["rows"] == {"sent": 1, "rejected": len(INVALID_API_EVENTS), "failed": 0, "skipped": 0}
    assert sum(report["rejected_by_reason"].values()) == len(INVALID_API_EVENTS)
    assert received_by_id(ads_emulator) == {"api-sub-1": api_events()[1]}  # the valid one still went out


def test_invalid_api_event_fails_the_task_by_default_naming_the_field(ads_emulator: EmulatorServer) -> None:
    events = invalid_api_events()[:3]  # the valid one, no-data-type, float-amount
    ti = FakeTaskInstance()
    with pytest.raises(AirflowFailException) as failure:
        OpenAIAdsSendEventsOperator(task_id="send_events", events=events).execute(task_context(ti=ti))
    message = str(failure.value)
    assert "2 of 3 rows rejected" in message
    assert "'float-amount' data.amount" in message
    assert "'no-data-type' data" in message
    assert ti.pushed["openai_ads_report"]["rows"] == {"sent": 1, "rejected": 2, "failed": 0, "skipped": 0}
    assert set(received_by_id(ads_emulator)) == {"api-sub-1"}


def test_rejected_row_contract_dicts_reported_by_event_id(ads_emulator: EmulatorServer, tmp_path) -> None:
    rows = row_contract_events()
    rows.append(
        {
            "event_id": "no-time",
            "event_type": "purchase",
            "action_source": "web",
            "source_url": URL,
            "email": " Ada@Example.COM ",
        }
    )
    rows.append(
        {
            "event_id": "bad-money",
            "event_type": "purchase",
            "event_time": WHEN,
            "action_source": "web",
            "source_url": URL,
            "value": "12.345",
            "currency": "USD",
        }
    )
    path = tmp_path / "rejected.jsonl"
    report = send(rows, max_rejected_ratio=0.5, rejected_path=str(path))
    assert report["rejected_by_reason"] == {"missing_event_time": 1, "too_many_decimals": 1}
    assert report["rows"] == {"sent": 4, "rejected": 2, "failed": 0, "skipped": 0}
    lines = [json.loads(line) for line in path.read_text().splitlines()]
    assert {(line["event_id"], line["reason"], line["field"]) for line in lines} == {
        ("no-time", "missing_event_time", "event_time"),
        ("bad-money", "too_many_decimals", "value"),
    }
    assert_no_raw_identifiers(path.read_text() + json.dumps(report), RAW_IDENTIFIERS)
    assert set(received_by_id(ads_emulator)) == set(expected_row_contract_events())


@pytest.mark.parametrize("events", [{"not": "api shaped"}.keys(), "[1, 2]", 42, [{"event_id": "x"}, "text"]])
def test_events_must_be_a_list_of_dicts(ads_emulator: EmulatorServer, events: Any) -> None:
    with pytest.raises(AirflowFailException, match="events must be a list of dicts"):
        send(events)
    assert ads_emulator.stats().requests == 0


def test_single_dict_is_one_event(ads_emulator: EmulatorServer) -> None:
    report = send(api_events()[0])
    assert received_by_id(ads_emulator) == {"api-lead-1": api_events()[0]}
    assert report["rows"]["sent"] == 1
