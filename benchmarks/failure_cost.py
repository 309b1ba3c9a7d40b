"""Benchmark 3, failure cost: requests needed to deliver batches that each hide one bad event.

Every batch of 1,000 events carries one event the client cannot pre-validate: its id starts
with the emulator's poison prefix (``poison-``), which only the server refuses. The client
sends each batch, is refused, isolates the culprit (by the error's ``events[i]`` index, or by
bisection when the emulator runs with ``errors_without_index``), rejects only it and resends
the rest. Counted: requests per bad event, and that every good event was delivered.
"""

from __future__ import annotations

import math
import random
from dataclasses import asdict, dataclass

from airflow_provider_openai_ads.conversions.batching import PreparedEvent
from airflow_provider_openai_ads.conversions.client import ConversionsClient
from airflow_provider_openai_ads.conversions.mapping import MappingOptions, RowMapper
from airflow_provider_openai_ads.conversions.report import Report
from benchmarks.data import order_rows

BATCH = 1000
POISON_PREFIX = "poison-"


@dataclass
class FailureCostRun:
    mode: str
    batches: int
    bad_events: int
    requests: int
    requests_per_bad_event: float
    max_requests_per_batch: int
    target: float
    sent: int
    rejected: int
    rejected_ids_ok: bool

    @property
    def ok(self) -> bool:
        return self.max_requests_per_batch <= self.target and self.rejected_ids_ok


def poisoned_events(batches: int, *, seed: int = 11) -> tuple[list[PreparedEvent], set[str]]:
    """``batches`` x 1,000 prepared events; one per batch, at a random position, is poisoned."""
    rng = random.Random(seed)
    rows = order_rows(batches * BATCH)
    bad_positions = {b * BATCH + rng.randrange(BATCH) for b in range(batches)}
    order_ids = list(dict.fromkeys(row["event_id"] for row in rows))
    renamed = {order_ids[i]: POISON_PREFIX + order_ids[i] for i in bad_positions}
    for row in rows:
        row["event_id"] = renamed.get(row["event_id"], row["event_id"])
    events = list(RowMapper(MappingOptions(), Report()).map_rows(rows))
    if len(events) != batches * BATCH:
        raise RuntimeError(f"expected {batches * BATCH} events, built {len(events)}")
    return events, set(renamed.values())


def _send(
    emulator, events: list[PreparedEvent], expected_bad: set[str], mode: str, target: float
) -> FailureCostRun:
    batches = len(events) // BATCH
    per_batch = []
    report = Report()
    with ConversionsClient(
        api_key=emulator.api_key, pixel_id=emulator.pixel_id, base_url=emulator.url, max_in_flight=1
    ) as client:
        for b in range(batches):
            before = report.requests
            client.send(events[b * BATCH : (b + 1) * BATCH], report=report)
            per_batch.append(report.requests - before)
    rejected_ids = {sample["event_id"] for sample in report.samples if sample["outcome"] == "rejected"}
    return FailureCostRun(
        mode=mode,
        batches=batches,
        bad_events=len(expected_bad),
        requests=report.requests,
        requests_per_bad_event=round(report.requests / len(expected_bad), 2),
        max_requests_per_batch=max(per_batch),
        target=target,
        sent=report.events["sent"],
        rejected=report.events["rejected"],
        rejected_ids_ok=report.events["sent"] == len(events) - len(expected_bad)
        and report.events["rejected"] == len(expected_bad)
        and rejected_ids <= expected_bad,
    )


@dataclass
class FailureCostResult:
    runs: list[FailureCostRun]

    def to_dict(self) -> dict:
        return {"runs": [asdict(r) for r in self.runs]}


def run(batches: int = 10) -> FailureCostResult:
    from airflow_provider_openai_ads.emulator.process import EmulatorProcess

    events, bad = poisoned_events(batches)
    runs = []
    with EmulatorProcess(store_events=False, poison_prefix=POISON_PREFIX) as emulator:
        runs.append(_send(emulator, events, bad, "indexed error", 2))
        emulator.reset()
        emulator.configure(errors_without_index=True)
        runs.append(_send(emulator, events, bad, "index-less error", 2 * math.log2(BATCH) + 2))
    return FailureCostResult(runs)
