"""The delivery report: every event handed in is counted exactly once, in one outcome.

Outcomes: ``sent`` (accepted by the API, or validated when ``validate_only``), ``rejected``
(invalid: by us before sending, or by the API), ``failed`` (transient errors that outlived the
retry budget) and ``skipped`` (not sent by the user's own policy: withheld consent, dry run).
Rows are counted alongside events, since one event may come from several rows (line items).
Rejections carry an event id, a reason code, a field and a message, never a raw identifier.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

OUTCOMES = ("sent", "rejected", "failed", "skipped")
MAX_SAMPLES = 20


@dataclass(frozen=True, slots=True)
class Rejection:
    """Why one event (or one input row that never became an event) was not sent."""

    event_id: str | None
    reason: str
    message: str
    field: str | None = None
    rows: int = 1
    outcome: str = "rejected"

    def to_dict(self) -> dict[str, Any]:
        return {
            "event_id": self.event_id,
            "outcome": self.outcome,
            "reason": self.reason,
            "field": self.field,
            "message": self.message,
            "rows": self.rows,
        }

    def describe(self) -> str:
        where = f" field {self.field}" if self.field else ""
        return f"event {self.event_id!r}{where}: {self.reason}: {self.message}"


RejectionSink = Callable[[Rejection], None]


@dataclass
class Report:
    """Counts of one delivery run; JSON-able through :meth:`to_dict`."""

    validate_only: bool = False
    dry_run: bool = False
    rows_read: int = 0
    events_built: int = 0
    events: Counter = field(default_factory=Counter)
    rows: Counter = field(default_factory=Counter)
    reasons: dict[str, Counter] = field(default_factory=lambda: {o: Counter() for o in OUTCOMES[1:]})
    dropped_fields: Counter = field(default_factory=Counter)
    #: built events by the match keys they carry, comma-joined (``"emails_sha256,oppref"``; a
    #: string, whose hash Python caches: the hot path counts one ready-made key per event);
    #: :meth:`coverage_counts` folds them per key when read
    match_key_sets: Counter = field(default_factory=Counter)
    samples: list[dict[str, Any]] = field(default_factory=list)
    requests: int = 0
    retries: int = 0
    bytes_sent: int = 0
    started_at: float = field(default_factory=time.monotonic)
    finished_at: float | None = None
    sink: RejectionSink | None = field(default=None, repr=False, compare=False)

    def add_sent(self, events: int, rows: int) -> None:
        self.events["sent"] += events
        self.rows["sent"] += rows

    def count(self, outcome: str, reason: str, events: int, rows: int) -> None:
        """Count events not sent, in bulk and without samples (e.g. a dry run's)."""
        self.events[outcome] += events
        self.rows[outcome] += rows
        self.reasons[outcome][reason] += rows

    def add_outcome(self, rejection: Rejection, events: int = 1) -> None:
        """Count a rejected, failed or skipped event (``events=0`` for a row that never became one)."""
        self.count(rejection.outcome, rejection.reason, events, rejection.rows)
        if len(self.samples) < MAX_SAMPLES:
            self.samples.append(rejection.to_dict())
        if self.sink is not None:
            self.sink(rejection)

    def merge_counts(self, other: Report) -> None:
        """Add another report's delivery counters (used to fold per-batch results in)."""
        self.events.update(other.events)
        self.rows.update(other.rows)
        for outcome, counter in other.reasons.items():
            self.reasons[outcome].update(counter)
        for sample in other.samples[: MAX_SAMPLES - len(self.samples)]:
            self.samples.append(sample)
        self.requests += other.requests
        self.retries += other.retries
        self.bytes_sent += other.bytes_sent

    def finish(self) -> Report:
        self.finished_at = time.monotonic()
        return self

    @property
    def duration_s(self) -> float:
        return (self.finished_at or time.monotonic()) - self.started_at

    @property
    def rows_accounted(self) -> int:
        return sum(self.rows[o] for o in OUTCOMES)

    @property
    def events_accounted(self) -> int:
        return sum(self.events[o] for o in OUTCOMES)

    def rejected_ratio(self) -> float:
        return self.rows["rejected"] / self.rows_read if self.rows_read else 0.0

    def coverage_counts(self) -> Counter:
        """Built events carrying each match key."""
        counts: Counter = Counter()
        for keys, events in self.match_key_sets.items():
            for key in keys.split(",") if keys else ():
                counts[key] += events
        return counts

    def to_dict(self) -> dict[str, Any]:
        duration = self.duration_s
        sent = self.events["sent"]
        built = self.events_built or 1
        return {
            "validate_only": self.validate_only,
            "dry_run": self.dry_run,
            "rows_read": self.rows_read,
            "events_built": self.events_built,
            "events": {o: self.events[o] for o in OUTCOMES},
            "rows": {o: self.rows[o] for o in OUTCOMES},
            "rejected_by_reason": dict(self.reasons["rejected"].most_common()),
            "failed_by_reason": dict(self.reasons["failed"].most_common()),
            "skipped_by_reason": dict(self.reasons["skipped"].most_common()),
            "dropped_fields": dict(self.dropped_fields.most_common()),
            "match_key_coverage": {
                key: round(count / built, 4) for key, count in sorted(self.coverage_counts().items())
            },
            "samples": list(self.samples),
            "requests": self.requests,
            "retries": self.retries,
            "bytes_sent": self.bytes_sent,
            "duration_s": round(duration, 3),
            "events_per_s": round(sent / duration, 1) if duration > 0 else None,
        }

    def summary(self) -> str:
        parts = [f"{self.rows_read} rows read", f"{self.events_built} events built"]
        parts += [f"{self.events[o]} {o}" for o in OUTCOMES]
        parts.append(f"{self.requests} requests, {self.retries} retries in {self.duration_s:.1f}s")
        return ", ".join(parts)
