"""What happened to each request, and the running totals derived from it."""

from __future__ import annotations

from collections import Counter
from dataclasses import asdict, dataclass, field
from typing import Any

from airflow_provider_openai_ads.emulator.faults import FAULT_KINDS

DROPPED = "dropped"
"""The ``requests_by_status`` key of requests whose connection was closed without an answer."""


@dataclass(frozen=True, slots=True)
class RequestRecord:
    """One ``POST /v1/events``: its outcome and counts, never its body or credentials.

    ``events`` is the number of events in the body, or ``None`` when the body was not judged
    (fault, missing ``pid``, authentication, unknown pixel, body that is not a JSON object).
    """

    status: int | None
    pid: str | None = None
    events: int | None = None
    accepted: int = 0
    duplicates: int = 0
    validate_only: bool = False
    integration_source: str | None = None
    fault: str | None = None
    slow: bool = False
    code: str | None = None
    param: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True, slots=True)
class EmulatorStats:
    """A snapshot of the totals since the last reset.

    ``events_received == events_accepted + events_duplicates + events_rejected +
    validate_only_events``: every judged event is counted once, a validate-only request only when
    it passes (a failing one counts as rejected).
    """

    requests: int
    requests_by_status: dict[str, int]
    events_received: int
    events_accepted: int
    events_duplicates: int
    events_rejected: int
    validate_only_requests: int
    validate_only_events: int
    faults: dict[str, int]
    stored_events: int
    dedup_keys: int

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(slots=True)
class StatsCounter:
    """Mutable totals; :class:`~.state.EmulatorState` serialises access."""

    requests: int = 0
    by_status: Counter[str] = field(default_factory=Counter)
    received: int = 0
    accepted: int = 0
    duplicates: int = 0
    rejected: int = 0
    validate_only_requests: int = 0
    validate_only_events: int = 0
    faults: Counter[str] = field(default_factory=Counter)

    def add(self, record: RequestRecord) -> None:
        self.requests += 1
        self.by_status[DROPPED if record.status is None else str(record.status)] += 1
        if record.fault is not None:
            self.faults[record.fault] += 1
        if record.slow:
            self.faults["slow"] += 1
        if record.events is None:
            return
        self.received += record.events
        if record.status != 200:
            self.rejected += record.events
        elif record.validate_only:
            self.validate_only_requests += 1
            self.validate_only_events += record.events
        else:
            self.accepted += record.accepted
            self.duplicates += record.duplicates

    def snapshot(self, *, stored_events: int, dedup_keys: int) -> EmulatorStats:
        return EmulatorStats(
            requests=self.requests,
            requests_by_status=dict(sorted(self.by_status.items())),
            events_received=self.received,
            events_accepted=self.accepted,
            events_duplicates=self.duplicates,
            events_rejected=self.rejected,
            validate_only_requests=self.validate_only_requests,
            validate_only_events=self.validate_only_events,
            faults={kind: self.faults[kind] for kind in FAULT_KINDS},
            stored_events=stored_events,
            dedup_keys=dedup_keys,
        )
