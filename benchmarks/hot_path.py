"""Benchmark 1, the hot path on one core: row-contract dicts -> request bodies of 1,000 events.

Three contenders turn the same rows into the same kind of output, interleaved, several rounds.
Every run gets the rows as new objects (``data.as_fetched``, made before the clock starts), as
a database driver returns them, so no hash computed in an earlier run is found again:

* ``ours``: :class:`RowMapper` (validated, normalized, hashed, serialized), then
  ``iter_batches`` / ``request_body``.
* ``peer``: Meta's ``facebook-business`` SDK building the equivalent server events
  (``UserData``, ``CustomData``, ``Content``, ``Event``), ``Event.normalize()`` and ``json``,
  joined into request bodies the way ``EventRequest`` does.
* ``floor``: a minimal hand-written loop that only normalizes, hashes with hashlib and
  serializes dicts with orjson, without any validation.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from hashlib import sha256

import orjson

from airflow_provider_openai_ads.conversions.batching import iter_batches, request_body
from airflow_provider_openai_ads.conversions.mapping import MappingOptions, RowMapper
from airflow_provider_openai_ads.conversions.report import Report
from airflow_provider_openai_ads.conversions.schema import validate_event
from benchmarks.data import as_fetched, group_rows, order_rows
from benchmarks.timing import interleaved, median

BATCH = 1000
#: the calibration taken around every end-to-end run: orders per run, runs (the median is kept)
CALIBRATION_ORDERS = 5_000
CALIBRATION_ROUNDS = 5


def ours(rows: list[dict]) -> list[bytes]:
    report = Report()
    events = RowMapper(MappingOptions(), report).map_rows(rows)
    batches = iter_batches(events, max_events=BATCH, on_oversized=report.add_outcome)
    return [request_body(batch, validate_only=False, integration_source=None) for batch in batches]


def peer(rows: list[dict]) -> list[bytes]:
    from facebook_business.adobjects.serverside.action_source import ActionSource
    from facebook_business.adobjects.serverside.content import Content
    from facebook_business.adobjects.serverside.custom_data import CustomData
    from facebook_business.adobjects.serverside.event import Event
    from facebook_business.adobjects.serverside.user_data import UserData

    bodies, batch = [], []
    for group in group_rows(rows):
        row = group[0]
        user = UserData(
            emails=[row["email"]],
            phones=[row["phone"]],
            external_ids=[row["external_id"]],
            cities=[row["city"]],
            states=[row["region"]],
            zip_codes=[row["postal_code"]],
            country_codes=[row["country"]],
            client_ip_address=row["ip_address"],
            client_user_agent=row["user_agent"],
            fbc=row["oppref"],
        )
        contents = [
            Content(
                product_id=item["item_id"],
                title=item["item_name"],
                quantity=item["item_quantity"],
                item_price=float(item["item_price"]),
            )
            for item in group
        ]
        custom = CustomData(value=float(row["value"]), currency=row["currency"].lower(), contents=contents)
        event = Event(
            event_name="Purchase",
            event_time=int(row["event_time"].timestamp()),
            event_id=row["event_id"],
            event_source_url=row["source_url"],
            action_source=ActionSource.WEBSITE,
            user_data=user,
            custom_data=custom,
        )
        batch.append(json.dumps(event.normalize()))  # what EventRequest.normalize() does per event
        if len(batch) == BATCH:
            bodies.append(('{"data":[' + ",".join(batch) + "]}").encode())
            batch = []
    if batch:
        bodies.append(('{"data":[' + ",".join(batch) + "]}").encode())
    return bodies


_EXPONENTS = {"USD": 2, "JPY": 0, "EUR": 2}


def floor(rows: list[dict]) -> list[bytes]:
    bodies, batch = [], []
    for group in group_rows(rows):
        row = group[0]
        email = row["email"].strip().lower()
        phone = "".join(row["phone"].split())
        phone = (
            phone.replace("(", "").replace(")", "").replace(".", "").replace("-", "").lstrip("+").lstrip("0")
        )
        user = {
            "emails_sha256": [sha256(email.encode()).hexdigest()],
            "phone_numbers_sha256": [sha256(phone.encode()).hexdigest()],
            "external_ids_sha256": [sha256(row["external_id"].strip().encode()).hexdigest()],
            "cities": [row["city"].strip()],
            "regions": [row["region"].strip()],
            "postal_codes": [row["postal_code"].strip()],
            "countries": [row["country"].strip().upper()],
            "ip_address": row["ip_address"].strip(),
            "user_agent": row["user_agent"].strip(),
        }
        currency = row["currency"]
        exponent = _EXPONENTS[currency]
        event = {
            "id": row["event_id"],
            "type": "order_created",
            "timestamp_ms": int(row["event_time"].timestamp() * 1000),
            "action_source": "web",
            "source_url": row["source_url"],
        }
        if row["oppref"]:
            event["oppref"] = row["oppref"]
        event["user"] = user
        event["data"] = {
            "type": "contents",
            "amount": int(row["value"].scaleb(exponent)),
            "currency": currency,
            "contents": [
                {
                    "id": item["item_id"],
                    "name": item["item_name"],
                    "quantity": item["item_quantity"],
                    "amount": int(item["item_price"].scaleb(exponent)),
                }
                for item in group
            ],
        }
        batch.append(orjson.dumps(event))
        if len(batch) == BATCH:
            bodies.append(b'{"events":[' + b",".join(batch) + b'],"validate_only":false}')
            batch = []
    if batch:
        bodies.append(b'{"events":[' + b",".join(batch) + b'],"validate_only":false}')
    return bodies


@dataclass
class HotPathResult:
    events: int
    rows: int
    rounds: int
    median_s: dict[str, float]

    def events_per_s(self, name: str) -> float:
        return self.events / self.median_s[name]

    def us_per_event(self, name: str) -> float:
        return self.median_s[name] / self.events * 1e6

    @property
    def ratio_peer(self) -> float:
        return self.events_per_s("ours") / self.events_per_s("peer")

    @property
    def ratio_floor(self) -> float:
        return self.events_per_s("ours") / self.events_per_s("floor")

    def to_dict(self) -> dict:
        return {
            "events": self.events,
            "rows": self.rows,
            "rounds": self.rounds,
            "us_per_event": {name: round(self.us_per_event(name), 2) for name in self.median_s},
            "events_per_s": {name: round(self.events_per_s(name)) for name in self.median_s},
            "ours_over_peer": round(self.ratio_peer, 2),
            "ours_over_floor": round(self.ratio_floor, 2),
        }


def check_equivalent(rows: list[dict]) -> None:
    """Our bodies and the floor's carry the same events (same ids, same values), in the same batches."""
    mine, theirs = ours(rows), floor(rows)
    if len(mine) != len(theirs) or any(
        orjson.loads(a)["events"] != orjson.loads(b)["events"] for a, b in zip(mine, theirs, strict=True)
    ):
        raise RuntimeError("the floor's bodies differ from ours: the comparison would not be fair")


def check_valid(rows: list[dict]) -> int:
    """Every event in our bodies passes the API schema (``schema.validate_event``); returns the count."""
    now_ms = int(time.time() * 1000)
    count = 0
    for body in ours(rows):
        for event in orjson.loads(body)["events"]:
            validate_event(event, now_ms=now_ms, user_schema="lists")
            count += 1
    return count


def run(n_orders: int = 20_000, rounds: int = 9) -> HotPathResult:
    rows = order_rows(n_orders)
    check_equivalent(rows[:2000])
    check_valid(rows[:2000])
    contenders = {"ours": ours, "peer": peer, "floor": floor}
    times = interleaved(contenders, lambda: as_fetched(rows), rounds=rounds)
    return HotPathResult(n_orders, len(rows), rounds, {name: median(t) for name, t in times.items()})


def calibrator(n_orders: int = CALIBRATION_ORDERS, rounds: int = CALIBRATION_ROUNDS) -> Callable[[], float]:
    """A quick measure of our hot path's events/s *now*: the median of ``rounds`` runs on
    ``n_orders`` orders. The end-to-end benchmark takes it just before and just after each run,
    since this kind of machine's speed drifts by up to 2x within minutes."""
    rows = order_rows(n_orders)

    def events_per_s() -> float:
        times = interleaved({"ours": ours}, lambda: as_fetched(rows), rounds=rounds)["ours"]
        return n_orders / median(times)

    return events_per_s


def run_pure_python(n_orders: int = 20_000, rounds: int = 9) -> HotPathResult:
    """The same benchmark in a fresh process that imports the hot path from its ``.py`` source."""
    result = subprocess.run(
        [sys.executable, "-m", "benchmarks.hot_path", str(n_orders), str(rounds)],
        capture_output=True,
        text=True,
        check=True,
        env={**os.environ, "OPENAI_ADS_PURE_PYTHON": "1"},
    )
    data = json.loads(result.stdout)
    return HotPathResult(data["events"], data["rows"], data["rounds"], data["median_s"])


if __name__ == "__main__":  # python -m benchmarks.hot_path [orders] [rounds]: one run, as JSON
    result = run(*(int(arg) for arg in sys.argv[1:3]))
    print(json.dumps({**result.to_dict(), "median_s": result.median_s}))
